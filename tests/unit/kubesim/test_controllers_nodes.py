"""kubesim's nodes, scheduler and DaemonSets: seeding, cordon, requests, taints, pressure evictions, one daemon pod per node."""

from __future__ import annotations

import pytest

from tests.sandbox.kubesim.controllers.testing import create, deployment, events_of, get, items, new_sim, pods, ready, run_until, tick, update


@pytest.fixture(name='env')
def env_fixture():
    return new_sim()


def node(sim, name):
    return get(sim, 'v1', 'Node', name, None)


def cordon(sim, name, on=True):
    update(sim, node(sim, name), lambda n: n['spec'].__setitem__('unschedulable', on))


def test_seeded_nodes_look_like_kubelet_registrations(env):
    sim, _clock = env
    nodes = items(sim, 'v1', 'Node')
    assert [n['metadata']['name'] for n in nodes] == ['node-1', 'node-2', 'node-3']
    first = nodes[0]
    assert first['metadata']['labels']['kubernetes.io/hostname'] == 'node-1' and first['metadata']['labels']['kubernetes.io/os'] == 'linux'
    assert first['status']['capacity']['cpu'] == '4' and first['status']['allocatable']['memory'] == '8Gi'
    assert first['status']['allocatable']['pods'] == '110'
    assert first['status']['nodeInfo']['kubeletVersion'] == 'v1.32.0'
    conditions = {c['type']: c for c in first['status']['conditions']}
    assert conditions['Ready']['status'] == 'True' and conditions['Ready']['reason'] == 'KubeletReady'
    assert all(conditions[t]['status'] == 'False' for t in ('MemoryPressure', 'DiskPressure', 'PIDPressure'))
    assert all('lastHeartbeatTime' in c and 'lastTransitionTime' in c for c in conditions.values())
    assert {'type': 'InternalIP', 'address': '172.18.0.2'} in first['status']['addresses']


def test_a_changed_kubelet_version_is_kept(env):
    sim, clock = env
    status = node(sim, 'node-2')['status']
    status['nodeInfo']['kubeletVersion'] = 'v1.33.1'
    sim.store.update(sim.registry.get('v1', 'Node'), {**node(sim, 'node-2'), 'status': status}, subresource='status')
    tick(sim, clock, 30, 4)
    assert node(sim, 'node-2')['status']['nodeInfo']['kubeletVersion'] == 'v1.33.1'


def test_cordoned_node_gets_no_new_pods(env):
    sim, clock = env
    cordon(sim, 'node-2')
    tick(sim, clock)
    assert {'key': 'node.kubernetes.io/unschedulable', 'effect': 'NoSchedule'} in node(sim, 'node-2')['spec']['taints']
    create(sim, deployment(replicas=6))
    run_until(sim, clock, lambda: len([p for p in pods(sim, 'web') if ready(p)]) == 6)
    assert {p['spec']['nodeName'] for p in pods(sim, 'web')} == {'node-1', 'node-3'}
    cordon(sim, 'node-2', False)
    tick(sim, clock)
    assert not node(sim, 'node-2')['spec'].get('taints')


def test_unschedulable_pod_says_why(env):
    sim, clock = env
    cordon(sim, 'node-1')
    filler = deployment('filler', replicas=2)
    filler['spec']['template']['spec']['containers'][0]['resources'] = {'requests': {'cpu': '2'}}
    create(sim, filler)
    run_until(sim, clock, lambda: len([p for p in pods(sim, 'filler') if ready(p)]) == 2)
    big = deployment('big', replicas=1)
    big['spec']['template']['spec']['containers'][0]['resources'] = {'requests': {'cpu': '3'}}
    create(sim, big)
    run_until(sim, clock, lambda: len(pods(sim, 'big')) == 1)
    tick(sim, clock, 0.1, 3)
    waiting = [p for p in pods(sim) if not p['spec'].get('nodeName')]
    assert len(waiting) == 1 and waiting[0]['metadata']['labels']['app'] == 'big'
    scheduled = next(c for c in waiting[0]['status']['conditions'] if c['type'] == 'PodScheduled')
    expected = ('0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/3 nodes are available: '
                '1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..')
    assert (scheduled['status'], scheduled['reason'], scheduled['message']) == ('False', 'Unschedulable', expected)
    failed = events_of(sim, waiting[0]['metadata']['name'], 'FailedScheduling')
    assert len(failed) == 1 and failed[0]['type'] == 'Warning' and failed[0]['message'] == expected
    assert failed[0]['source'] == {'component': 'default-scheduler'}


def test_node_selector_and_taints(env):
    sim, clock = env
    update(sim, node(sim, 'node-3'), lambda n: n['metadata']['labels'].__setitem__('disk', 'ssd'))
    update(sim, node(sim, 'node-1'), lambda n: n['spec'].__setitem__('taints', [{'key': 'dedicated', 'value': 'db', 'effect': 'NoSchedule'}]))
    picky = deployment('picky', replicas=2)
    picky['spec']['template']['spec']['nodeSelector'] = {'disk': 'ssd'}
    create(sim, picky)
    create(sim, deployment('plain', replicas=4))
    run_until(sim, clock, lambda: len([p for p in pods(sim) if ready(p)]) == 6)
    assert {p['spec']['nodeName'] for p in pods(sim, 'picky')} == {'node-3'}
    assert 'node-1' not in {p['spec']['nodeName'] for p in pods(sim, 'plain')}


def test_disk_pressure_taints_the_node_and_evicts_its_pods(env):
    sim, clock = env
    create(sim, deployment(replicas=3))
    run_until(sim, clock, lambda: len([p for p in pods(sim, 'web') if ready(p)]) == 3)
    victim_node = 'node-2'
    on_node = [p['metadata']['name'] for p in pods(sim, 'web') if p['spec']['nodeName'] == victim_node]
    sim.config.node_pressure = {victim_node: ['DiskPressure']}
    tick(sim, clock)
    n = node(sim, victim_node)
    disk = next(c for c in n['status']['conditions'] if c['type'] == 'DiskPressure')
    assert (disk['status'], disk['reason']) == ('True', 'KubeletHasDiskPressure')
    assert {'key': 'node.kubernetes.io/disk-pressure', 'effect': 'NoSchedule'} in n['spec']['taints']
    run_until(sim, clock, lambda: len([p for p in pods(sim, 'web') if ready(p)]) == 3
              and all(get(sim, 'v1', 'Pod', name)['status']['phase'] == 'Failed' for name in on_node))
    evicted = get(sim, 'v1', 'Pod', on_node[0])['status']
    assert evicted['reason'] == 'Evicted'
    assert evicted['message'].startswith('The node was low on resource: ephemeral-storage. ')
    assert any(c['type'] == 'DisruptionTarget' and c['reason'] == 'TerminationByKubelet' for c in evicted['conditions'])
    event = events_of(sim, on_node[0], 'Evicted')[0]
    assert event['type'] == 'Warning' and event['message'] == evicted['message']
    live = [p for p in pods(sim, 'web') if p['status']['phase'] == 'Running']
    assert len(live) == 3 and victim_node not in {p['spec']['nodeName'] for p in live}
    sim.config.node_pressure = {}
    tick(sim, clock)
    assert not node(sim, victim_node)['spec'].get('taints')


def test_daemon_set_runs_one_pod_per_node_including_cordoned_ones(env):
    sim, clock = env
    cordon(sim, 'node-3')
    ds = {'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'metadata': {'name': 'agent', 'namespace': 'default'},
          'spec': {'selector': {'matchLabels': {'app': 'agent'}},
                   'template': {'metadata': {'labels': {'app': 'agent'}}, 'spec': {'containers': [{'name': 'agent', 'image': 'agent:v1'}]}}}}
    create(sim, ds)

    def settled():
        status = get(sim, 'apps/v1', 'DaemonSet', 'agent').get('status') or {}
        return status.get('numberReady') == 3 and status.get('updatedNumberScheduled') == 3
    run_until(sim, clock, settled)
    agents = pods(sim, 'agent')
    assert sorted(p['spec']['nodeName'] for p in agents) == ['node-1', 'node-2', 'node-3']
    status = get(sim, 'apps/v1', 'DaemonSet', 'agent')['status']
    assert (status['desiredNumberScheduled'], status['currentNumberScheduled'], status['numberAvailable']) == (3, 3, 3)
    assert status['numberMisscheduled'] == 0 and status['observedGeneration'] == 1
    revisions = items(sim, 'apps/v1', 'ControllerRevision')
    assert len(revisions) == 1 and revisions[0]['revision'] == 1
    assert revisions[0]['data']['spec']['template']['$patch'] == 'replace'
    hash_ = revisions[0]['metadata']['labels']['controller-revision-hash']
    assert revisions[0]['metadata']['name'] == f'agent-{hash_}'
    assert all(p['metadata']['labels']['controller-revision-hash'] == hash_ for p in agents)
    assert any(t['key'] == 'node.kubernetes.io/unschedulable' for t in agents[0]['spec']['tolerations'])
    # a rolling update replaces one node's pod at a time (maxUnavailable 1)
    update(sim, get(sim, 'apps/v1', 'DaemonSet', 'agent'),
           lambda d: d['spec']['template']['spec']['containers'][0].__setitem__('image', 'agent:v2'))
    for _step in range(200):
        tick(sim, clock, 0.05)
        live = [p for p in pods(sim, 'agent') if p['status'].get('phase') == 'Running' and ready(p)]
        assert len(live) >= 2
        status = get(sim, 'apps/v1', 'DaemonSet', 'agent')['status']
        if status.get('updatedNumberScheduled') == 3 and status.get('numberAvailable') == 3:
            break
    assert {p['spec']['containers'][0]['image'] for p in pods(sim, 'agent')} == {'agent:v2'}
    assert sorted(r['revision'] for r in items(sim, 'apps/v1', 'ControllerRevision')) == [1, 2]


def test_a_node_made_not_ready_stays_so_and_is_tainted(env):
    sim, clock = env
    status = node(sim, 'node-1')['status']
    for cond in status['conditions']:
        if cond['type'] == 'Ready':
            cond.update({'status': 'False', 'reason': 'KubeletStopped'})
    sim.store.update(sim.registry.get('v1', 'Node'), {**node(sim, 'node-1'), 'status': status}, subresource='status')
    tick(sim, clock, 30, 4)
    ready_cond = next(c for c in node(sim, 'node-1')['status']['conditions'] if c['type'] == 'Ready')
    assert (ready_cond['status'], ready_cond['reason']) == ('False', 'KubeletStopped')
    taints = {(t['key'], t['effect']) for t in node(sim, 'node-1')['spec']['taints']}
    assert taints == {('node.kubernetes.io/not-ready', 'NoSchedule'), ('node.kubernetes.io/not-ready', 'NoExecute')}
    create(sim, deployment(replicas=4))
    run_until(sim, clock, lambda: len([p for p in pods(sim, 'web') if ready(p)]) == 4)
    assert 'node-1' not in {p['spec']['nodeName'] for p in pods(sim, 'web')}
    # the simulator's own switch: config.node_pressure NotReady, and back
    sim.config.node_pressure = {'node-2': ['NotReady']}
    tick(sim, clock)
    assert next(c for c in node(sim, 'node-2')['status']['conditions'] if c['type'] == 'Ready')['status'] == 'False'
    assert events_of(sim, 'node-2', 'NodeNotReady')
    sim.config.node_pressure = {}
    tick(sim, clock)
    assert next(c for c in node(sim, 'node-2')['status']['conditions'] if c['type'] == 'Ready')['status'] == 'True'
    assert not node(sim, 'node-2')['spec'].get('taints')


def test_a_kubelet_restart_goes_not_ready_then_ready_at_the_new_version(env):
    sim, clock = env
    assert sim.restart_kubelet('node-2', 'v1.33.0', seconds=1.0) == {'node': 'node-2', 'version': 'v1.33.0', 'seconds': 1.0}
    tick(sim, clock)
    restarting = node(sim, 'node-2')
    assert next(c for c in restarting['status']['conditions'] if c['type'] == 'Ready')['status'] == 'False'
    assert restarting['status']['nodeInfo']['kubeletVersion'] == 'v1.32.0'  # the old kubelet until the new one starts
    assert ('node.kubernetes.io/not-ready', 'NoSchedule') in {(t['key'], t['effect']) for t in restarting['spec']['taints']}
    assert events_of(sim, 'node-2', 'NodeNotReady')
    tick(sim, clock, 0.5, 3)
    upgraded = node(sim, 'node-2')
    assert next(c for c in upgraded['status']['conditions'] if c['type'] == 'Ready')['status'] == 'True'
    assert (upgraded['status']['nodeInfo']['kubeletVersion'], upgraded['status']['nodeInfo']['kubeProxyVersion']) == ('v1.33.0', 'v1.33.0')
    assert not upgraded['spec'].get('taints')
    assert events_of(sim, 'node-2', 'Starting') and events_of(sim, 'node-2', 'NodeReady')
    assert sim.kubelet_restarts == {}
    # the other nodes never noticed; a restart without a version keeps the version
    assert node(sim, 'node-1')['status']['nodeInfo']['kubeletVersion'] == 'v1.32.0'
    assert sim.restart_kubelet('node-2', seconds=0)['version'] == 'v1.33.0'
    tick(sim, clock, 0.1, 2)
    assert node(sim, 'node-2')['status']['nodeInfo']['kubeletVersion'] == 'v1.33.0'
    with pytest.raises(KeyError):
        sim.restart_kubelet('node-9', 'v1.33.0')
