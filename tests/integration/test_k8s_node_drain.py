"""sre.runbooks.k8s_node_drain and playbooks/node_drain.yml through ansible-playbook against the API under test.

Check mode, the real drain and a second run reporting changed=false; a disruption budget that
blocks the drain first (the eviction is retried until the replacement is Ready elsewhere);
DaemonSet pods left in place; emptyDir and bare pods refused by name; a drain that cannot
finish refused before the cordon, and, when forced, uncordoned at its timeout with the
remaining pods named. What the module did is checked with kubectl, never only from its result.

The tests that rely on where kubesim's scheduler puts pods (spread by owner, so six replicas
give two per node) or on a pod bound with spec.nodeName are simulator-only.
"""

import threading
from pathlib import Path

import pytest

from tests.integration.conftest import apply_object, deploy, live_pods, pod_ready, rollout_status, simulator_only, wait_for
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / 'playbooks'
DRAIN = 'Drain the node'
FAILED_TASK = 2  # ansible-playbook's exit status when a task failed


def drain(kube, tmp_path, node, check=False, diff=False, expect_rc=0, **options):
    """Run playbooks/node_drain.yml (the test one) with the node, the kubeconfig and the module's options as extra vars."""
    extra_vars = dict(node=node, kubeconfig=str(kube.kubeconfig), **options)
    return run_playbook(PLAYBOOKS / 'node_drain.yml', tmp_path, extra_vars=extra_vars, check=check, diff=diff, env=kube.env, expect_rc=expect_rc)


def pdb(name, **spec):
    return {'apiVersion': 'policy/v1', 'kind': 'PodDisruptionBudget', 'metadata': {'name': name},
            'spec': dict(spec, selector={'matchLabels': {'app': name}})}


def bare_pod(name, node, emptydir=False):
    """A pod bound to `node` by spec.nodeName, with no controller."""
    spec = {'nodeName': node, 'terminationGracePeriodSeconds': 5,
            'containers': [{'name': 'app', 'image': 'registry.k8s.io/pause:3.9', 'resources': {'requests': {'cpu': '5m', 'memory': '8Mi'}}}]}
    if emptydir:
        spec['volumes'] = [{'name': 'scratch', 'emptyDir': {}}]
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'labels': {'app': name}}, 'spec': spec}


def pods_by_node(kube, namespace, selector):
    found = {}
    for pod in live_pods(kube, namespace, selector):
        found.setdefault(pod['spec']['nodeName'], []).append('%s/%s' % (namespace, pod['metadata']['name']))
    return dict((node, sorted(names)) for node, names in found.items())


def unschedulable(kube, node):
    return bool(kube.json('node', node)['spec'].get('unschedulable'))


def budget_settled(kube, namespace, name, allowed):
    kube.kubectl('wait', 'pdb/%s' % name, '-n', namespace, '--for=jsonpath={.status.disruptionsAllowed}=%d' % allowed, '--timeout=60s')


# ---------------------------------------------------------------- the budget blocks, the drain retries

@simulator_only
def test_check_then_drain_through_a_blocking_budget_then_unchanged(kube, namespace, uncordon, tmp_path):
    deploy(kube, namespace, name='web', replicas=6)
    apply_object(kube, namespace, pdb('web', maxUnavailable=1))
    budget_settled(kube, namespace, 'web', 1)
    kube.apply(namespace, 'daemonset.yaml', name='agent', image='registry.k8s.io/pause:3.9')
    rollout_status(kube, namespace, 'daemonset/agent')
    placed = pods_by_node(kube, namespace, 'app=web')
    node = max(placed, key=lambda name: len(placed[name]))
    assert len(placed[node]) == 2, placed
    uncordon.append(node)
    agents = pods_by_node(kube, namespace, 'app=agent')

    planned = drain(kube, tmp_path, node, check=True, diff=True).task(DRAIN)
    assert planned['changed'] is True
    plan = planned['plan']
    assert plan['can_finish'] is True and plan['reasons'] == []
    assert [e['pod'] for e in plan['evict']] == placed[node]
    assert [e['pod'] for e in plan['skip']] == agents[node]
    (budget,) = plan['pdbs']
    assert (budget['name'], budget['disruptions_allowed'], budget['covers'], budget['blocks_by'], budget['permanent']) == (
        '%s/web' % namespace, 1, placed[node], 1, False)
    assert plan['capacity']['fits'] is True and node not in plan['capacity']['placement'].values()
    assert planned['actions'] == ['cordon node %s' % node] + ['evict pod %s' % p for p in placed[node]]
    assert planned['diff']['before'] == {'unschedulable': False, 'pods': placed[node]}
    assert planned['evicted'] == []
    assert unschedulable(kube, node) is False
    assert pods_by_node(kube, namespace, 'app=web') == placed

    drained = drain(kube, tmp_path, node).task(DRAIN)
    assert drained['changed'] is True
    assert sorted(drained['evicted']) == placed[node] and drained['remaining'] == []
    # Two evictions in parallel under a budget of one: one was refused (429) and retried until the first replacement was Ready.
    assert sum(drained['budget_refusals'].values()) >= 1 and set(drained['budget_refusals']) <= set(placed[node])
    assert drained['node'] == {'name': node, 'unschedulable_before': False, 'unschedulable_after': True}
    assert unschedulable(kube, node) is True
    after = pods_by_node(kube, namespace, 'app=web')
    assert node not in after and sum(len(names) for names in after.values()) == 6
    assert all(pod_ready(p) for p in live_pods(kube, namespace, 'app=web'))
    assert pods_by_node(kube, namespace, 'app=agent')[node] == agents[node]
    rollout_status(kube, namespace, 'deployment/web')

    again = drain(kube, tmp_path, node).task(DRAIN)
    assert again['changed'] is False and again['actions'] == [] and again['evicted'] == []
    assert unschedulable(kube, node) is True

    uncordoned = drain(kube, tmp_path, node, drain_state='uncordon').task(DRAIN)
    assert uncordoned['changed'] is True and uncordoned['actions'] == ['uncordon node %s' % node]
    assert unschedulable(kube, node) is False
    assert drain(kube, tmp_path, node, drain_state='uncordon').task(DRAIN)['changed'] is False


@simulator_only
def test_a_budget_that_can_never_allow_is_refused_then_forced_through_while_it_is_relaxed(kube, namespace, uncordon, tmp_path):
    deploy(kube, namespace, name='guarded', replicas=3)
    apply_object(kube, namespace, pdb('guarded', minAvailable=3))
    kube.kubectl('wait', 'pdb/guarded', '-n', namespace, '--for=jsonpath={.status.currentHealthy}=3', '--timeout=60s')
    placed = pods_by_node(kube, namespace, 'app=guarded')
    node = sorted(placed)[0]
    uncordon.append(node)

    refused = drain(kube, tmp_path, node, expect_rc=FAILED_TASK).task(DRAIN)
    assert refused['msg'].startswith('Failed to drain node %s: the preflight plan shows it cannot finish: PodDisruptionBudget %s/guarded allows '
                                     '0 disruptions now (needs 3 healthy pods, has 3)' % (node, namespace))
    assert 'can never allow them' in refused['msg'] and refused['msg'].endswith('(force_unfinishable=true starts it anyway)')
    assert unschedulable(kube, node) is False and pods_by_node(kube, namespace, 'app=guarded') == placed

    # Forced: the drain cordons and retries the refused eviction; the budget is relaxed meanwhile, as an operator would.
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(run=drain(kube, tmp_path, node, force_unfinishable=True, expect_rc=None)))
    worker.start()
    try:
        wait_for(lambda: unschedulable(kube, node), 60, 'the drain to cordon %s' % node)
        kube.kubectl('patch', 'pdb', 'guarded', '-n', namespace, '--type', 'merge', '-p', '{"spec":{"minAvailable":2}}')
    finally:
        worker.join(timeout=300)
    run = outcome['run']
    assert run.returncode == 0, run.output[-4000:]
    drained = run.task(DRAIN)
    assert drained['changed'] is True and drained['evicted'] == placed[node]
    assert unschedulable(kube, node) is True
    rollout_status(kube, namespace, 'deployment/guarded')
    pods = live_pods(kube, namespace, 'app=guarded')
    assert len(pods) == 3 and all(pod_ready(p) and p['spec']['nodeName'] != node for p in pods)


@simulator_only
def test_a_drain_that_cannot_finish_in_time_uncordons_and_names_the_remaining_pods(kube, namespace, uncordon, tmp_path):
    deploy(kube, namespace, name='guarded', replicas=3)
    apply_object(kube, namespace, pdb('guarded', minAvailable=3))
    kube.kubectl('wait', 'pdb/guarded', '-n', namespace, '--for=jsonpath={.status.currentHealthy}=3', '--timeout=60s')
    placed = pods_by_node(kube, namespace, 'app=guarded')
    node = sorted(placed)[0]
    (stuck,) = placed[node]
    uncordon.append(node)

    failed = drain(kube, tmp_path, node, force_unfinishable=True, wait_timeout=3, expect_rc=FAILED_TASK).task(DRAIN)
    reason = 'PodDisruptionBudget %s/guarded allows 0 disruptions (needs 3 healthy pods, has 3)' % namespace
    assert failed['msg'] == ('Failed to drain node %s: 1 pod is still on the node at the end of wait_timeout (3 s): %s: %s; node %s was uncordoned'
                             % (node, stuck, reason, node))
    assert failed['remaining'] == [{'pod': stuck, 'reason': reason}]
    assert failed['actions'] == ['cordon node %s' % node, 'uncordon node %s' % node]
    assert failed['budget_refusals'][stuck] >= 1
    assert unschedulable(kube, node) is False
    assert pods_by_node(kube, namespace, 'app=guarded') == placed


# ---------------------------------------------------------------- pods the drain may not remove

@simulator_only
def test_emptydir_and_bare_pods_are_refused_by_name_unless_allowed(kube, namespace, uncordon, tmp_path):
    deploy(kube, namespace, name='web', replicas=3)
    node = sorted(pods_by_node(kube, namespace, 'app=web'))[0]
    uncordon.append(node)
    apply_object(kube, namespace, bare_pod('debug', node))
    apply_object(kube, namespace, bare_pod('scratch', node, emptydir=True))
    wait_for(lambda: all(pod_ready(p) for p in live_pods(kube, namespace, 'app in (debug,scratch)')), 30, 'the bare pods to be Ready')

    refused = drain(kube, tmp_path, node, expect_rc=FAILED_TASK).task(DRAIN)
    assert refused['msg'] == ('Failed to drain node {n}: cannot delete Pods that declare no controller (use force=true): {ns}/debug, {ns}/scratch; '
                              'cannot delete Pods with local storage (use delete_emptydir_data=true): {ns}/scratch; nothing was changed'
                              .format(n=node, ns=namespace))
    assert refused['plan']['lost'] == ['%s/debug' % namespace, '%s/scratch' % namespace]
    assert unschedulable(kube, node) is False
    assert len(live_pods(kube, namespace, 'app in (debug,scratch)')) == 2

    only_data = drain(kube, tmp_path, node, delete_emptydir_data=True, expect_rc=FAILED_TASK).task(DRAIN)
    assert 'use force=true): {0}/debug, {0}/scratch; nothing was changed'.format(namespace) in only_data['msg']
    assert 'local storage' not in only_data['msg']

    forced = drain(kube, tmp_path, node, delete_emptydir_data=True, force=True).task(DRAIN)
    assert forced['changed'] is True
    assert {'%s/debug' % namespace, '%s/scratch' % namespace} <= set(forced['evicted'])
    assert live_pods(kube, namespace, 'app in (debug,scratch)') == []  # lost: nothing recreates them
    assert node not in pods_by_node(kube, namespace, 'app=web')


# ---------------------------------------------------------------- playbooks/node_drain.yml

@simulator_only
def test_node_drain_playbook_checks_drains_and_uncordons(kube, namespace, uncordon, tmp_path):
    deploy(kube, namespace, name='web', replicas=3)
    placed = pods_by_node(kube, namespace, 'app=web')
    node = sorted(placed)[0]
    uncordon.append(node)
    playbook = REPO / 'playbooks' / 'node_drain.yml'
    extra_vars = {'node_drain_name': node, 'kubeconfig': str(kube.kubeconfig), 'node_drain_wait_timeout': 120}

    checked = run_playbook(playbook, tmp_path, extra_vars=dict(extra_vars, node_drain_uncordon=True), check=True, env=kube.env)
    assert checked.task(DRAIN)['changed'] is True
    assert checked.task(DRAIN)['plan']['evict'][0]['pod'] in placed[node]
    assert 'would be drained (check mode)' in checked.output
    assert unschedulable(kube, node) is False and pods_by_node(kube, namespace, 'app=web') == placed

    drained = run_playbook(playbook, tmp_path, extra_vars=extra_vars, env=kube.env)
    assert drained.task(DRAIN)['evicted'] == placed[node]
    assert unschedulable(kube, node) is True and node not in pods_by_node(kube, namespace, 'app=web')

    again = run_playbook(playbook, tmp_path, extra_vars=dict(extra_vars, node_drain_uncordon=True), env=kube.env)
    assert again.task(DRAIN)['changed'] is False
    assert again.task('Uncordon the node')['changed'] is True
    assert unschedulable(kube, node) is False
    rollout_status(kube, namespace, 'deployment/web')
