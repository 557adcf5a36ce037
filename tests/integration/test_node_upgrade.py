"""The sre.runbooks.node_upgrade role through playbooks/node_drain_upgrade.yml, against kubesim.

A cluster of three nodes with a Deployment under a PodDisruptionBudget, a StatefulSet and a
DaemonSet. The upgrade step is tests/integration/playbooks/files/kubesim_node_upgrade.yml: it
restarts the simulated kubelet at the target version (NotReady, then Ready at the new
kubeletVersion). "At most one node out at any moment" is asserted from a watch on the nodes
running in a thread during the playbook (every state the API reported), not from the playbook.
"""

import threading
from pathlib import Path

import pytest

from tests.integration.conftest import FAILED_TASK, apply_object, deploy, live_pods, pod_ready, rollout_status, simulator_only, wait_for
from tests.integration.runner import run_playbook

pytestmark = [pytest.mark.kubernetes, simulator_only]

PLAYBOOK = 'sre.runbooks.node_drain_upgrade'
UPGRADE_TASKS = Path(__file__).parent / 'playbooks' / 'files' / 'kubesim_node_upgrade.yml'
SEED_VERSION = 'v1.32.0'
NODES = ['node-1', 'node-2', 'node-3']


def upgrade(kube, tmp_path, version, check=False, expect_rc=0, **extra):
    extra_vars = dict(kubeconfig=str(kube.kubeconfig), node_upgrade_version=version, node_upgrade_tasks_file=str(UPGRADE_TASKS),
                      kubesim_url=kube.admin.url, kubesim_restart_seconds=0.5, node_upgrade_ready_sleep=1, **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def node_state(node):
    ready = next((c['status'] for c in node['status'].get('conditions', []) if c['type'] == 'Ready'), 'Unknown')
    return {'version': node['status']['nodeInfo']['kubeletVersion'], 'unschedulable': bool(node['spec'].get('unschedulable')),
            'ready': ready == 'True'}


def nodes_now(kube):
    return dict((n['metadata']['name'], node_state(n)) for n in kube.json('nodes')['items'])


class NodeWatch(threading.Thread):
    """Watches the nodes (kubernetes client, watch from the list's resourceVersion) and records the whole cluster's
    state after every event, so a moment with two nodes out cannot slip between two polls."""

    def __init__(self, kube):
        super().__init__(daemon=True)
        from kubernetes import client, config, watch  # pylint: disable=import-outside-toplevel
        self.api = client.CoreV1Api(config.new_client_from_config(str(kube.kubeconfig)))
        self.watch = watch.Watch()
        listed = self.api.list_node()
        self.states = dict((n.metadata.name, self._state(n)) for n in listed.items)
        self.resource_version = listed.metadata.resource_version
        self.history = [dict(self.states)]
        self.stopped = threading.Event()
        self.error = None

    @staticmethod
    def _state(node):
        ready = next((c.status for c in node.status.conditions or [] if c.type == 'Ready'), 'Unknown')
        return {'version': node.status.node_info.kubelet_version, 'unschedulable': bool(node.spec.unschedulable), 'ready': ready == 'True'}

    def run(self):
        try:
            while not self.stopped.is_set():
                for event in self.watch.stream(self.api.list_node, resource_version=self.resource_version, timeout_seconds=2):
                    node = event['object']
                    self.resource_version = node.metadata.resource_version
                    self.states[node.metadata.name] = self._state(node)
                    self.history.append(dict(self.states))
                    if self.stopped.is_set():
                        break
        except Exception as error:  # pylint: disable=broad-exception-caught  # reported by stop()
            self.error = error

    def stop(self):
        self.stopped.set()
        self.watch.stop()
        self.join(timeout=10)
        assert self.error is None, 'the node watch failed: %r' % self.error
        return self.history


def out_nodes(states):
    """Nodes that are out of service in one observed state: cordoned or not Ready."""
    return sorted(name for name, state in states.items() if state['unschedulable'] or not state['ready'])


@pytest.fixture(name='seed_versions')
def seed_versions_fixture(kube, uncordon):
    """Every node back at the seed kubelet version and schedulable afterwards (the simulator is shared)."""
    uncordon.extend(NODES)
    yield
    for node in NODES:
        kube.admin.restart_kubelet(node, SEED_VERSION, seconds=0)
    wait_for(lambda: all(s['version'] == SEED_VERSION and s['ready'] for s in nodes_now(kube).values()), 60, 'the nodes back at ' + SEED_VERSION)


def workloads(kube, namespace):
    deploy(kube, namespace, name='web', replicas=6)
    apply_object(kube, namespace, {'apiVersion': 'policy/v1', 'kind': 'PodDisruptionBudget', 'metadata': {'name': 'web'},
                                   'spec': {'maxUnavailable': 1, 'selector': {'matchLabels': {'app': 'web'}}}})
    kube.apply(namespace, 'headless-service.yaml', name='db')
    kube.apply(namespace, 'statefulset.yaml', name='db', image='nginx:1.25')
    kube.apply(namespace, 'daemonset.yaml', name='agent', image='registry.k8s.io/pause:3.9')
    for ref in ('statefulset/db', 'daemonset/agent'):
        rollout_status(kube, namespace, ref)
    kube.kubectl('wait', 'pdb/web', '-n', namespace, '--for=jsonpath={.status.disruptionsAllowed}=1', '--timeout=60s')


def test_check_then_rolling_upgrade_one_node_at_a_time_then_unchanged(kube, namespace, seed_versions, tmp_path):
    workloads(kube, namespace)
    before = nodes_now(kube)
    assert all(s['version'] == SEED_VERSION and s['ready'] and not s['unschedulable'] for s in before.values()), before
    pods_before = sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web'))

    planned = upgrade(kube, tmp_path, 'v1.33.0', check=True)
    assert nodes_now(kube) == before
    assert sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')) == pods_before
    plan = planned.task('Record the plan of the rolling upgrade')['ansible_facts']['node_upgrade_result']
    assert plan['nodes'] == NODES and plan['already'] == []
    shown = [r['result']['__node_upgrade_node_plan'] for r in planned.results if r['task'].startswith('Show the plan of ')]
    assert [p['node'] for p in shown] == NODES and all(p['can_finish'] for p in shown)
    assert any(pod.startswith(namespace + '/web-') for p in shown for pod in p['evict'])
    assert all(any(pod.startswith(namespace + '/agent-') for pod in p['skip']) for p in shown)
    assert 'Would upgrade to v1.33.0: node-1, node-2, node-3' in planned.output

    watch = NodeWatch(kube)
    watch.start()
    try:
        run = upgrade(kube, tmp_path, 'v1.33.0')
    finally:
        history = watch.stop()
    assert run.changed
    after = nodes_now(kube)
    assert all(s == {'version': 'v1.33.0', 'unschedulable': False, 'ready': True} for s in after.values()), after
    # What the watch saw: never two nodes out at once, and each node out (cordoned, then NotReady while its kubelet restarted) in turn.
    assert all(len(out_nodes(states)) <= 1 for states in history), [out_nodes(s) for s in history if len(out_nodes(s)) > 1][:3]
    order = []
    for states in history:
        for name in out_nodes(states):
            if name not in order:
                order.append(name)
    assert order == NODES
    for name in NODES:
        assert any(states[name]['unschedulable'] for states in history)
        assert any(not states[name]['ready'] for states in history)
    # A node is back at the new version before the next one goes out.
    first_out = dict((name, next(i for i, s in enumerate(history) if name in out_nodes(s))) for name in NODES)
    assert history[first_out['node-2']]['node-1']['version'] == 'v1.33.0' and history[first_out['node-3']]['node-2']['version'] == 'v1.33.0'
    for ref in ('deployment/web', 'statefulset/db', 'daemonset/agent'):
        rollout_status(kube, namespace, ref)
    assert all(pod_ready(p) for p in live_pods(kube, namespace, 'app=web')) and len(live_pods(kube, namespace, 'app=web')) == 6

    again = upgrade(kube, tmp_path, 'v1.33.0')
    assert again.changed is False
    assert again.task('Record the plan of the rolling upgrade')['ansible_facts']['node_upgrade_result']['already'] == NODES
    assert nodes_now(kube) == after


def test_a_failure_on_node_2_stops_the_rollout_and_node_3_is_untouched(kube, namespace, seed_versions, tmp_path):
    workloads(kube, namespace)
    watch = NodeWatch(kube)
    watch.start()
    try:
        run = upgrade(kube, tmp_path, 'v1.33.1', expect_rc=FAILED_TASK, kubesim_fail_nodes=['node-2'])
    finally:
        history = watch.stop()
    failure = run.task('Stop the rolling upgrade')
    assert failure['msg'].startswith("Upgrade to v1.33.1 stopped: node node-2 failed at step 'upgrade': simulated upgrade failure on node-2")
    assert 'Node node-2 was uncordoned' in failure['msg']
    assert 'Upgraded: node-1.' in failure['msg'] and 'Not started (untouched): node-3.' in failure['msg']
    after = nodes_now(kube)
    assert after['node-1'] == {'version': 'v1.33.1', 'unschedulable': False, 'ready': True}
    assert after['node-2'] == {'version': SEED_VERSION, 'unschedulable': False, 'ready': True}
    assert after['node-3'] == {'version': SEED_VERSION, 'unschedulable': False, 'ready': True}
    # node-3 was never cordoned nor restarted; node-2 was drained (cordoned), then uncordoned.
    assert all(states['node-3'] == {'version': SEED_VERSION, 'unschedulable': False, 'ready': True} for states in history)
    assert any(states['node-2']['unschedulable'] for states in history)
    assert all(len(out_nodes(states)) <= 1 for states in history)
    rollout_status(kube, namespace, 'deployment/web')
