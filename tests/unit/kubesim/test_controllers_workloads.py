"""kubesim's StatefulSets, HPA, PodDisruptionBudgets and evictions, metrics, and OpenShift DeploymentConfigs."""

from __future__ import annotations

import json

import pytest

from tests.sandbox.kubesim.controllers import defaults
from tests.sandbox.kubesim.controllers.disruption import evict
from tests.sandbox.kubesim.controllers.metrics import node_metrics, pod_metrics
from tests.sandbox.kubesim.controllers.testing import (create, deployment, events_of, get, items, new_sim, pod_template, pods, ready, run_until,
                                                       tick, update)
from tests.sandbox.kubesim.errors import ApiError


@pytest.fixture(name='env')
def env_fixture():
    return new_sim()


def stateful_set(name='db', replicas=3, image='db:v1', **spec):
    return {'apiVersion': 'apps/v1', 'kind': 'StatefulSet', 'metadata': {'name': name, 'namespace': 'default'},
            'spec': {'replicas': replicas, 'serviceName': name, 'selector': {'matchLabels': {'app': name}},
                     'template': pod_template(name, image), **spec}}


def ready_count(sim, app):
    return len([p for p in pods(sim, app) if ready(p) and p['status']['phase'] == 'Running'])


# -- StatefulSets ----------------------------------------------------------------------------------------------


def test_stateful_set_creates_pods_in_order_with_a_controller_revision(env):
    sim, clock = env
    claim = {'metadata': {'name': 'data'}, 'spec': {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': '1Gi'}}}}
    create(sim, stateful_set(volumeClaimTemplates=[claim]))
    created_order = []
    for _step in range(300):
        tick(sim, clock, 0.05)
        names = sorted(p['metadata']['name'] for p in pods(sim, 'db'))
        for name in names:
            if name not in created_order:
                # OrderedReady: a pod appears only when every lower ordinal is Running and Ready
                lower = [f'db-{i}' for i in range(int(name.rsplit('-', 1)[1]))]
                assert all(ready(get(sim, 'v1', 'Pod', n)) for n in lower)
                created_order.append(name)
        if ready_count(sim, 'db') == 3:
            break
    assert created_order == ['db-0', 'db-1', 'db-2']
    (revision,) = items(sim, 'apps/v1', 'ControllerRevision')
    assert revision['revision'] == 1 and revision['metadata']['name'].startswith('db-')
    assert revision['data']['spec']['template']['$patch'] == 'replace'
    assert revision['data']['spec']['template']['spec']['containers'][0]['image'] == 'db:v1'
    first = get(sim, 'v1', 'Pod', 'db-0')
    labels = first['metadata']['labels']
    assert labels['controller-revision-hash'] == revision['metadata']['name'] and labels['statefulset.kubernetes.io/pod-name'] == 'db-0'
    assert labels['apps.kubernetes.io/pod-index'] == '0' and first['spec']['hostname'] == 'db-0' and first['spec']['subdomain'] == 'db'
    assert {'name': 'data', 'persistentVolumeClaim': {'claimName': 'data-db-0'}} in first['spec']['volumes']
    assert get(sim, 'v1', 'PersistentVolumeClaim', 'data-db-0')['status']['phase'] == 'Bound'
    tick(sim, clock)
    status = get(sim, 'apps/v1', 'StatefulSet', 'db')['status']
    assert (status['replicas'], status['readyReplicas'], status['currentReplicas'], status['updatedReplicas'], status['availableReplicas']) == \
        (3, 3, 3, 3, 3)
    assert status['currentRevision'] == status['updateRevision'] == revision['metadata']['name']
    assert status['observedGeneration'] == 1 and status['collisionCount'] == 0
    messages = [e['message'] for e in events_of(sim, 'db', 'SuccessfulCreate')]
    assert 'create Pod db-0 in StatefulSet db successful' in messages and 'create Claim data-db-0 Pod db-0 in StatefulSet db success' in messages


def test_stateful_set_rolls_from_the_highest_ordinal_and_honours_the_partition(env):
    sim, clock = env
    create(sim, stateful_set(updateStrategy={'type': 'RollingUpdate', 'rollingUpdate': {'partition': 1}}))
    run_until(sim, clock, lambda: ready_count(sim, 'db') == 3)
    update(sim, get(sim, 'apps/v1', 'StatefulSet', 'db'), lambda s: s['spec']['template']['spec']['containers'][0].__setitem__('image', 'db:v2'))
    deleted = []
    known = {p['metadata']['uid']: p['metadata']['name'] for p in pods(sim, 'db')}
    for _step in range(300):
        tick(sim, clock, 0.05)
        now = {p['metadata']['uid'] for p in pods(sim, 'db')}
        deleted += [known.pop(uid) for uid in list(known) if uid not in now]
        known.update({p['metadata']['uid']: p['metadata']['name'] for p in pods(sim, 'db')})
        images = {p['metadata']['name']: p['spec']['containers'][0]['image'] for p in pods(sim, 'db')}
        if images.get('db-2') == 'db:v2' and images.get('db-1') == 'db:v2' and ready_count(sim, 'db') == 3:
            break
    tick(sim, clock, 0.05, 5)
    assert deleted == ['db-2', 'db-1']
    images = {p['metadata']['name']: p['spec']['containers'][0]['image'] for p in pods(sim, 'db')}
    assert images == {'db-0': 'db:v1', 'db-1': 'db:v2', 'db-2': 'db:v2'}
    status = get(sim, 'apps/v1', 'StatefulSet', 'db')['status']
    assert status['currentRevision'] != status['updateRevision'] and status['updatedReplicas'] == 2 and status['currentReplicas'] == 1
    assert sorted(r['revision'] for r in items(sim, 'apps/v1', 'ControllerRevision')) == [1, 2]


def test_stateful_set_scales_down_from_the_highest_ordinal_and_parallel_starts_all(env):
    sim, clock = env
    create(sim, stateful_set(replicas=4))
    run_until(sim, clock, lambda: ready_count(sim, 'db') == 4)
    update(sim, get(sim, 'apps/v1', 'StatefulSet', 'db'), lambda s: s['spec'].__setitem__('replicas', 1))
    gone = []
    for _step in range(100):
        tick(sim, clock, 0.05)
        names = {p['metadata']['name'] for p in pods(sim, 'db')}
        gone += [n for n in ('db-3', 'db-2', 'db-1') if n not in names and n not in gone]
        if names == {'db-0'}:
            break
    assert gone == ['db-3', 'db-2', 'db-1']
    messages = [e['message'] for e in events_of(sim, 'db', 'SuccessfulDelete')]
    assert messages == ['delete Pod db-3 in StatefulSet db successful', 'delete Pod db-2 in StatefulSet db successful',
                        'delete Pod db-1 in StatefulSet db successful']
    create(sim, stateful_set('cache', replicas=3, podManagementPolicy='Parallel'))
    tick(sim, clock, 0.05)
    assert sorted(p['metadata']['name'] for p in pods(sim, 'cache')) == ['cache-0', 'cache-1', 'cache-2']


# -- HPA -----------------------------------------------------------------------------------------------------------


def hpa(target='web', minimum=2, maximum=6, **spec):
    return {'apiVersion': 'autoscaling/v2', 'kind': 'HorizontalPodAutoscaler', 'metadata': {'name': target, 'namespace': 'default'},
            'spec': {'scaleTargetRef': {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': target}, 'minReplicas': minimum,
                     'maxReplicas': maximum, 'metrics': [{'type': 'Resource', 'resource': {'name': 'cpu', 'target': {
                         'type': 'Utilization', 'averageUtilization': 50}}}], **spec}}


def test_hpa_scales_up_and_overrides_a_manual_scale(env):
    sim, clock = env
    create(sim, deployment(replicas=2))
    create(sim, hpa())
    tick(sim, clock, 0.1, 3)
    status = get(sim, 'autoscaling/v2', 'HorizontalPodAutoscaler', 'web')['status']
    active = next(c for c in status['conditions'] if c['type'] == 'ScalingActive')
    assert (active['status'], active['reason']) == ('False', 'FailedGetResourceMetric')
    assert get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] == 2
    sim.config.hpa_metrics = {'default/web': 150}
    run_until(sim, clock, lambda: get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] == 6)
    status = get(sim, 'autoscaling/v2', 'HorizontalPodAutoscaler', 'web')['status']
    assert status['desiredReplicas'] == 6 and status['lastScaleTime']
    assert status['currentMetrics'][0]['resource']['current']['averageUtilization'] == 75
    conditions = {c['type']: c for c in status['conditions']}
    assert conditions['ScalingActive']['reason'] == 'ValidMetricFound'
    rescale = [e['message'] for e in events_of(sim, 'web', 'SuccessfulRescale')]
    assert rescale[0] == 'New size: 3; reason: cpu resource utilization (percentage of request) above target'
    # within the 10% tolerance nothing changes; a manual scale below minReplicas is undone
    sim.config.hpa_metrics = {'default/web': 105}
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec'].__setitem__('replicas', 1))
    run_until(sim, clock, lambda: get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] == 2)
    tick(sim, clock, 0.1, 3)
    assert get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] == 2
    # low utilisation scales down to the minimum (no default stabilization window in the simulator)
    sim.config.hpa_metrics = {'default/web': 20}
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec'].__setitem__('replicas', 5))
    run_until(sim, clock, lambda: get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] == 2)
    limited = next(c for c in get(sim, 'autoscaling/v2', 'HorizontalPodAutoscaler', 'web')['status']['conditions']
                   if c['type'] == 'ScalingLimited')
    assert limited['reason'] in ('TooFewReplicas', 'DesiredWithinRange')


def test_hpa_behavior_stabilization_window_holds_a_scale_down(env):
    sim, clock = env
    create(sim, deployment(replicas=4))
    create(sim, hpa(minimum=1, maximum=8, behavior={'scaleDown': {'stabilizationWindowSeconds': 60}}))
    sim.config.hpa_metrics = {'default/web': 25}
    tick(sim, clock, 1, 30)
    assert get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] == 4
    able = next(c for c in get(sim, 'autoscaling/v2', 'HorizontalPodAutoscaler', 'web')['status']['conditions'] if c['type'] == 'AbleToScale')
    assert able['reason'] == 'ScaleDownStabilized'
    tick(sim, clock, 1, 40)
    assert get(sim, 'apps/v1', 'Deployment', 'web')['spec']['replicas'] < 4


# -- PodDisruptionBudgets and evictions -------------------------------------------------------------------------


def pdb(**spec):
    return {'apiVersion': 'policy/v1', 'kind': 'PodDisruptionBudget', 'metadata': {'name': 'web', 'namespace': 'default'},
            'spec': {'selector': {'matchLabels': {'app': 'web'}}, **spec}}


def test_eviction_blocked_by_the_budget_until_more_replicas_are_ready(env):
    sim, clock = env
    create(sim, deployment(replicas=2))
    create(sim, pdb(minAvailable=2))
    run_until(sim, clock, lambda: ready_count(sim, 'web') == 2)
    tick(sim, clock)
    status = get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status']
    assert (status['currentHealthy'], status['desiredHealthy'], status['disruptionsAllowed'], status['expectedPods']) == (2, 2, 0, 2)
    assert status['conditions'][0]['reason'] == 'InsufficientPods' and status['conditions'][0]['status'] == 'False'
    victim = pods(sim, 'web')[0]['metadata']['name']
    with pytest.raises(ApiError) as info:
        evict(sim, 'default', victim, {})
    error = info.value
    assert error.code == 429 and error.reason == 'TooManyRequests'
    assert error.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert error.details == {'causes': [{'reason': 'DisruptionBudget', 'message': 'The disruption budget web needs 2 healthy pods and has 2 currently'}]}
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec'].__setitem__('replicas', 3))
    run_until(sim, clock, lambda: get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status']['disruptionsAllowed'] == 1)
    assert get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status']['conditions'][0]['reason'] == 'SufficientPods'
    evict(sim, 'default', victim, {})
    assert sim.store.find(sim.registry.get('v1', 'Pod'), 'default', victim) is None
    status = get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status']
    assert status['disruptionsAllowed'] == 0 and victim in status['disruptedPods']
    with pytest.raises(ApiError) as info:
        evict(sim, 'default', pods(sim, 'web')[0]['metadata']['name'], {})
    assert info.value.code == 429


def test_percentages_round_up_from_the_controllers_scale(env):
    sim, clock = env
    create(sim, deployment(replicas=3))
    create(sim, pdb(maxUnavailable='50%'))
    run_until(sim, clock, lambda: ready_count(sim, 'web') == 3)
    run_until(sim, clock, lambda: get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status'].get('currentHealthy') == 3)
    status = get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status']
    assert (status['expectedPods'], status['desiredHealthy'], status['disruptionsAllowed']) == (3, 1, 2)
    update(sim, get(sim, 'policy/v1', 'PodDisruptionBudget', 'web'), lambda p: p['spec'].update({'maxUnavailable': None, 'minAvailable': '50%'}))
    tick(sim, clock)
    status = get(sim, 'policy/v1', 'PodDisruptionBudget', 'web')['status']
    assert (status['desiredHealthy'], status['disruptionsAllowed']) == (2, 1)


def test_eviction_errors_as_the_apiserver(env):
    sim, clock = env
    create(sim, deployment(replicas=1))
    create(sim, pdb(minAvailable=0))
    second = pdb(maxUnavailable=1)
    second['metadata']['name'] = 'other'
    create(sim, second)
    run_until(sim, clock, lambda: ready_count(sim, 'web') == 1)
    with pytest.raises(ApiError) as info:
        evict(sim, 'default', 'missing', {})
    assert info.value.code == 404 and info.value.message == 'pods "missing" not found'
    name = pods(sim, 'web')[0]['metadata']['name']
    with pytest.raises(ApiError) as info:
        evict(sim, 'default', name, {})
    assert info.value.code == 500
    assert 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.' in info.value.message


def test_pending_pods_are_evicted_regardless_of_the_budget(env):
    sim, clock = env
    blocked = deployment(replicas=1)
    blocked['spec']['template']['spec']['nodeSelector'] = {'disk': 'none'}
    create(sim, blocked)
    create(sim, pdb(minAvailable=5))
    run_until(sim, clock, lambda: len(pods(sim, 'web')) == 1)
    tick(sim, clock)
    evict(sim, 'default', pods(sim, 'web')[0]['metadata']['name'], {})


# -- metrics -------------------------------------------------------------------------------------------------------


def test_metrics_from_usage_annotations(env):
    sim, clock = env
    d = deployment(replicas=1)
    d['spec']['template']['metadata']['annotations'] = {'kubesim.io/cpu-usage': '250m', 'kubesim.io/memory-usage': '300Mi'}
    create(sim, d)
    run_until(sim, clock, lambda: ready_count(sim, 'web') == 1)
    (metric,) = pod_metrics(sim, 'default', None)
    assert metric['kind'] == 'PodMetrics' and metric['apiVersion'] == 'metrics.k8s.io/v1beta1' and metric['window'] == '30s'
    assert metric['metadata']['labels']['app'] == 'web'
    assert metric['containers'] == [{'name': 'web', 'usage': {'cpu': '250m', 'memory': '300Mi'}}]
    assert pod_metrics(sim, 'default', 'nope') == []
    node = pods(sim, 'web')[0]['spec']['nodeName']
    (usage,) = node_metrics(sim, node)
    assert usage['kind'] == 'NodeMetrics' and usage['usage']['cpu'] == '370m'
    assert len(node_metrics(sim, None)) == 3


# -- defaults ----------------------------------------------------------------------------------------------------------


def test_defaults_of_other_kinds():
    sts = defaults.apply_defaults('StatefulSet', stateful_set())
    assert sts['spec']['podManagementPolicy'] == 'OrderedReady'
    assert sts['spec']['updateStrategy'] == {'type': 'RollingUpdate', 'rollingUpdate': {'partition': 0}}
    assert sts['spec']['persistentVolumeClaimRetentionPolicy'] == {'whenDeleted': 'Retain', 'whenScaled': 'Retain'}
    ds = defaults.apply_defaults('DaemonSet', {'spec': {'template': {'spec': {'containers': [{'name': 'a', 'image': 'a'}]}}}})
    assert ds['spec']['updateStrategy'] == {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': 1, 'maxSurge': 0}}
    assert ds['spec']['template']['spec']['containers'][0]['imagePullPolicy'] == 'Always'  # no tag: latest
    autoscaler = defaults.apply_defaults('HorizontalPodAutoscaler', {'spec': {'maxReplicas': 3}})
    assert autoscaler['spec']['minReplicas'] == 1
    assert autoscaler['spec']['metrics'][0]['resource']['target'] == {'type': 'Utilization', 'averageUtilization': 80}
    pod = defaults.apply_defaults('Pod', {'spec': {'containers': [{'name': 'a', 'image': 'a:1', 'resources': {'limits': {'cpu': '1'}},
                                                                   'ports': [{'containerPort': 80}]}]}})
    container = pod['spec']['containers'][0]
    assert container['resources']['requests'] == {'cpu': '1'} and container['ports'][0]['protocol'] == 'TCP'
    assert pod['spec']['serviceAccountName'] == 'default' and pod['spec']['enableServiceLinks'] is True
    original = {'spec': {}}
    defaults.apply_defaults('Deployment', original)
    assert original == {'spec': {}}  # pure


# -- OpenShift -----------------------------------------------------------------------------------------------------------


def deployment_config(name='front', replicas=2, image='front:v1'):
    return {'apiVersion': 'apps.openshift.io/v1', 'kind': 'DeploymentConfig', 'metadata': {'name': name, 'namespace': 'default'},
            'spec': {'replicas': replicas, 'selector': {'app': name}, 'template': pod_template(name, image)}}


def test_deployment_config_versions_and_rollback():
    sim, clock = new_sim(flavour='openshift')
    create(sim, deployment_config())

    def complete(version):
        rc = sim.store.find(sim.registry.get('v1', 'ReplicationController'), 'default', f'front-{version}')
        return rc is not None and rc['metadata']['annotations']['openshift.io/deployment.phase'] == 'Complete'
    run_until(sim, clock, lambda: complete(1))
    rc = get(sim, 'v1', 'ReplicationController', 'front-1')
    annotations = rc['metadata']['annotations']
    assert annotations['openshift.io/deployment-config.name'] == 'front' and annotations['openshift.io/deployment-config.latest-version'] == '1'
    assert json.loads(annotations['openshift.io/encoded-deployment-config'])['spec']['template']['spec']['containers'][0]['image'] == 'front:v1'
    assert rc['metadata']['labels']['openshift.io/deployment-config.name'] == 'front'
    running = pods(sim, 'front')
    assert len(running) == 2 and all(p['metadata']['labels']['deploymentconfig'] == 'front' for p in running)
    assert all(p['metadata']['labels']['deployment'] == 'front-1' and p['metadata']['name'].startswith('front-1-') for p in running)
    dc = get(sim, 'apps.openshift.io/v1', 'DeploymentConfig', 'front')
    assert dc['status']['latestVersion'] == 1 and dc['status']['availableReplicas'] == 2
    update(sim, dc, lambda d: d['spec']['template']['spec']['containers'][0].__setitem__('image', 'front:v2'))
    run_until(sim, clock, lambda: complete(2) and len(pods(sim, 'front')) == 2)
    assert get(sim, 'v1', 'ReplicationController', 'front-1')['spec']['replicas'] == 0
    # oc rollout undo: the template of version 1 again makes version 3
    old = json.loads(get(sim, 'v1', 'ReplicationController', 'front-1')['metadata']['annotations']['openshift.io/encoded-deployment-config'])
    update(sim, get(sim, 'apps.openshift.io/v1', 'DeploymentConfig', 'front'), lambda d: d['spec'].__setitem__('template', old['spec']['template']))
    run_until(sim, clock, lambda: complete(3) and len(pods(sim, 'front')) == 2)
    assert {p['spec']['containers'][0]['image'] for p in pods(sim, 'front')} == {'front:v1'}
    status = get(sim, 'apps.openshift.io/v1', 'DeploymentConfig', 'front')['status']
    assert status['latestVersion'] == 3
    progressing = next(c for c in status['conditions'] if c['type'] == 'Progressing')
    assert progressing['reason'] == 'NewReplicationControllerAvailable'
    # scaling the DC scales its latest RC
    update(sim, get(sim, 'apps.openshift.io/v1', 'DeploymentConfig', 'front'), lambda d: d['spec'].__setitem__('replicas', 4))
    run_until(sim, clock, lambda: ready_count(sim, 'front') == 4)
    assert get(sim, 'v1', 'ReplicationController', 'front-3')['spec']['replicas'] == 4
