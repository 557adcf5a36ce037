"""kubesim's kubelet: pod lifecycle, faults (crashloop, oom, image-pull, never-ready), logs and events."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.sandbox.kubesim.controllers import events as events_module
from tests.sandbox.kubesim.controllers.kubelet import pod_log
from tests.sandbox.kubesim.controllers.testing import create, events_of, get, items, new_sim, run_until, tick, update
from tests.sandbox.kubesim.errors import ApiError


def pod(name='p', image='shop:v1', annotations=None, containers=None, **spec):
    body = {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': 'default', 'labels': {'app': name}},
            'spec': {'containers': containers or [{'name': 'web', 'image': image}], **spec}}
    if annotations:
        body['metadata']['annotations'] = annotations
    return body


def status_of(sim, name='p'):
    return get(sim, 'v1', 'Pod', name)['status']


def container(sim, name='p', index=0):
    statuses = status_of(sim, name).get('containerStatuses')
    return statuses[index] if statuses else {'restartCount': 0, 'ready': False, 'state': {}}


def condition(sim, type_, name='p'):
    return next(c for c in status_of(sim, name)['conditions'] if c['type'] == type_)


@pytest.fixture(name='env')
def env_fixture():
    return new_sim(pod_start_seconds=1, pod_ready_seconds=1, crashloop_backoff_seconds=2)


def test_lifecycle_pending_running_ready(env):
    sim, clock = env
    create(sim, pod(containers=[{'name': 'web', 'image': 'shop:v1', 'resources': {'requests': {'cpu': '100m'}}}]))
    tick(sim, clock, 0.1)
    status = status_of(sim)
    assert status['phase'] == 'Pending' and status['qosClass'] == 'Burstable'
    assert status['containerStatuses'][0]['state'] == {'waiting': {'reason': 'ContainerCreating'}}
    assert condition(sim, 'PodReadyToStartContainers')['status'] == 'False'
    assert condition(sim, 'Ready')['message'] == 'containers with unready status: [web]'
    run_until(sim, clock, lambda: status_of(sim)['phase'] == 'Running')
    cs = container(sim)
    assert cs['started'] is True and cs['ready'] is False and 'startedAt' in cs['state']['running']
    assert cs['image'] == 'docker.io/library/shop:v1' and cs['imageID'].startswith('docker.io/library/shop@sha256:')
    assert cs['containerID'].startswith('containerd://')
    status = status_of(sim)
    assert status['podIP'].startswith('10.244.') and status['hostIP'].startswith('172.18.0.') and status['startTime']
    run_until(sim, clock, lambda: container(sim)['ready'])
    assert [c['type'] for c in status_of(sim)['conditions']] == ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady',
                                                                 'PodScheduled']
    assert all(c['status'] == 'True' for c in status_of(sim)['conditions'])
    reasons = [e['reason'] for e in sorted(events_of(sim, 'p'), key=lambda e: e['metadata']['resourceVersion'])]
    assert reasons == ['Scheduled', 'Pulling', 'Pulled', 'Created', 'Started']
    started = events_of(sim, 'p', 'Started')[0]
    assert started['source'] == {'component': 'kubelet', 'host': get(sim, 'v1', 'Pod', 'p')['spec']['nodeName']}
    assert started['involvedObject']['fieldPath'] == 'spec.containers{web}' and started['message'] == 'Started container web'


def test_crashloop_restarts_with_back_off_and_previous_logs(env):
    sim, clock = env
    create(sim, pod(image='shop:v2-crashloop'))
    run_until(sim, clock, lambda: container(sim)['restartCount'] >= 2 and 'waiting' in container(sim)['state'])
    cs = container(sim)
    uid = get(sim, 'v1', 'Pod', 'p')['metadata']['uid']
    assert cs['state']['waiting']['reason'] == 'CrashLoopBackOff'
    assert cs['state']['waiting']['message'] == f'back-off 40s restarting failed container=web pod=p_default({uid})'
    last = cs['lastState']['terminated']
    assert last['exitCode'] == 1 and last['reason'] == 'Error' and last['containerID']
    assert status_of(sim)['phase'] == 'Running' and condition(sim, 'Ready')['status'] == 'False'
    back_off = events_of(sim, 'p', 'BackOff')
    assert len(back_off) == 1 and back_off[0]['count'] == 3 and back_off[0]['type'] == 'Warning'
    assert back_off[0]['message'] == f'Back-off restarting failed container web in pod p_default({uid})'
    previous = pod_log(sim, 'default', 'p', None, True, None)
    assert 'FATAL' in previous and 'shop:v2-crashloop' in previous and last['startedAt'] in previous
    assert pod_log(sim, 'default', 'p', 'web', True, 1).count('\n') == 1
    # restartCount keeps rising, one restart per back-off period
    before = container(sim)['restartCount']
    tick(sim, clock, 0.5, 12)
    assert container(sim)['restartCount'] > before


def test_previous_logs_without_a_restart_are_a_bad_request(env):
    sim, clock = env
    create(sim, pod())
    run_until(sim, clock, lambda: container(sim)['ready'])
    with pytest.raises(ApiError) as info:
        pod_log(sim, 'default', 'p', 'web', True, None)
    assert info.value.code == 400 and info.value.message == 'previous terminated container "web" in pod "p" not found'
    text = pod_log(sim, 'default', 'p', None, False, None)
    assert 'shop:v1' in text and container(sim)['state']['running']['startedAt'] in text
    assert pod_log(sim, 'default', 'p', None, False, 2).count('\n') == 2
    assert pod_log(sim, 'default', 'p', None, False, 0) == ''


def test_logs_need_a_container_name_when_there_are_several(env):
    sim, clock = env
    create(sim, pod(containers=[{'name': 'a', 'image': 'shop:v1'}, {'name': 'b', 'image': 'side:v1'}]))
    run_until(sim, clock, lambda: status_of(sim)['phase'] == 'Running')
    with pytest.raises(ApiError) as info:
        pod_log(sim, 'default', 'p', None, False, None)
    assert info.value.code == 400 and info.value.message == 'a container name must be specified for pod p, choose one of: [a b]'
    with pytest.raises(ApiError) as info:
        pod_log(sim, 'default', 'p', 'c', False, None)
    assert info.value.code == 400 and info.value.message == 'container c is not valid for pod p'
    with pytest.raises(ApiError) as info:
        pod_log(sim, 'default', 'nope', None, False, None)
    assert info.value.code == 404 and info.value.message == 'pods "nope" not found'
    assert 'side:v1' in pod_log(sim, 'default', 'p', 'b', False, None)


def test_oom_killed_by_fault_and_by_memory_usage_over_the_limit(env):
    sim, clock = env
    create(sim, pod('a', annotations={'kubesim.io/fault': 'oom'}))
    limited = {'name': 'web', 'image': 'shop:v1', 'resources': {'limits': {'memory': '256Mi'}}}
    create(sim, pod('b', annotations={'kubesim.io/memory-usage': '300Mi'}, containers=[limited]))
    create(sim, pod('c', annotations={'kubesim.io/memory-usage': '100Mi'}, containers=[dict(limited)]))
    run_until(sim, clock, lambda: all(container(sim, n)['restartCount'] >= 1 for n in ('a', 'b')))
    for name in ('a', 'b'):
        last = container(sim, name)['lastState']['terminated']
        assert (last['reason'], last['exitCode']) == ('OOMKilled', 137)
    assert container(sim, 'c')['restartCount'] == 0 and container(sim, 'c')['ready']
    oom = [e for e in items(sim, 'v1', 'Event') if e['reason'] == 'OOMKilling']
    assert oom and oom[0]['involvedObject']['kind'] == 'Node' and oom[0]['type'] == 'Warning'


def test_image_pull_failure_alternates_err_image_pull_and_back_off(env):
    sim, clock = env
    create(sim, pod(image='registry.example.com/shop:v3-image-pull'))
    run_until(sim, clock, lambda: 'waiting' in container(sim)['state'] and container(sim)['state']['waiting']['reason'] == 'ErrImagePull')
    assert status_of(sim)['phase'] == 'Pending'
    assert 'not found' in container(sim)['state']['waiting']['message']
    with pytest.raises(ApiError) as info:
        pod_log(sim, 'default', 'p', None, False, None)
    assert info.value.message == 'container "web" in pod "p" is waiting to start: image can\'t be pulled'
    run_until(sim, clock, lambda: container(sim)['state']['waiting']['reason'] == 'ImagePullBackOff')
    assert container(sim)['state']['waiting']['message'] == 'Back-off pulling image "registry.example.com/shop:v3-image-pull"'
    run_until(sim, clock, lambda: container(sim)['state']['waiting']['reason'] == 'ErrImagePull')
    failed = [e['message'] for e in events_of(sim, 'p', 'Failed')]
    assert 'Error: ErrImagePull' in failed and 'Error: ImagePullBackOff' in failed
    assert events_of(sim, 'p', 'Pulling')[0]['count'] == 2


def test_never_ready_runs_without_becoming_ready(env):
    sim, clock = env
    probe = {'httpGet': {'path': '/healthz', 'port': 8080}}
    create(sim, pod(annotations={'kubesim.io/fault': 'never-ready'}, containers=[{'name': 'web', 'image': 'shop:v1', 'readinessProbe': probe}]))
    run_until(sim, clock, lambda: len(events_of(sim, 'p', 'Unhealthy')) == 1 and events_of(sim, 'p', 'Unhealthy')[0]['count'] >= 2)
    cs = container(sim)
    assert 'running' in cs['state'] and cs['ready'] is False and cs['restartCount'] == 0
    assert status_of(sim)['phase'] == 'Running' and condition(sim, 'Ready')['status'] == 'False'
    unhealthy = events_of(sim, 'p', 'Unhealthy')[0]
    assert unhealthy['type'] == 'Warning' and unhealthy['message'] == 'Readiness probe failed: HTTP probe failed with statuscode: 503'


def test_deleted_pod_gets_a_killing_event(env):
    sim, clock = env
    create(sim, pod())
    run_until(sim, clock, lambda: status_of(sim)['phase'] == 'Running')
    sim.store.delete(sim.registry.get('v1', 'Pod'), 'default', 'p')
    tick(sim, clock)
    killing = events_of(sim, 'p', 'Killing')
    assert len(killing) == 1 and killing[0]['message'] == 'Stopping container web'


def test_identical_events_are_counted_not_repeated(env):
    sim, _clock = env
    created = create(sim, pod())
    for _index in range(3):
        events_module.record(sim, created, 'Warning', 'BackOff', 'same message', 'kubelet', host='node-1')
    events_module.record(sim, created, 'Warning', 'BackOff', 'another message', 'kubelet', host='node-1')
    found = sorted(events_of(sim, 'p', 'BackOff'), key=lambda e: e['message'])
    assert [(e['message'], e['count']) for e in found] == [('another message', 1), ('same message', 3)]
    event = found[1]
    assert event['metadata']['name'].startswith('p.') and len(event['metadata']['name']) == len('p.') + 16
    assert event['involvedObject'] == {'kind': 'Pod', 'namespace': 'default', 'name': 'p', 'uid': created['metadata']['uid'],
                                       'apiVersion': 'v1', 'resourceVersion': created['metadata']['resourceVersion']}
    assert event['firstTimestamp'] and event['lastTimestamp'] and event['source'] == {'component': 'kubelet', 'host': 'node-1'}


def _secret(name, **data):
    return {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': name, 'namespace': 'default'},
            'data': {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_container_records_the_secret_values_it_read_at_its_start(env):
    sim, clock = env
    create(sim, _secret('api', API_KEY='k1', OTHER='o1'))
    create(sim, _secret('tls', cert='c1'))
    spec = {'volumes': [{'name': 'certs', 'secret': {'secretName': 'tls'}},
                        {'name': 'proj', 'projected': {'sources': [{'secret': {'name': 'api', 'items': [{'key': 'OTHER', 'path': 'o'}]}}]}},
                        {'name': 'unmounted', 'secret': {'secretName': 'api'}}]}
    create(sim, pod(containers=[{'name': 'web', 'image': 'shop:v1',
                                 'env': [{'name': 'KEY', 'valueFrom': {'secretKeyRef': {'name': 'api', 'key': 'API_KEY'}}},
                                         {'name': 'GONE', 'valueFrom': {'secretKeyRef': {'name': 'missing', 'key': 'x', 'optional': True}}},
                                         {'name': 'PLAIN', 'value': 'v'}],
                                 'envFrom': [{'secretRef': {'name': 'api'}, 'prefix': 'API_'}],
                                 'volumeMounts': [{'name': 'certs', 'mountPath': '/certs'}, {'name': 'proj', 'mountPath': '/p'}]}], **spec))
    run_until(sim, clock, lambda: 'running' in container(sim)['state'])
    kubelet = next(c for c in sim.controllers if hasattr(c, 'secrets_seen'))
    assert kubelet.secrets_seen('default', 'p') == {'web': [
        {'via': 'env KEY', 'secret': 'api', 'key': 'API_KEY', 'sha256': _sha('k1')},
        {'via': 'env GONE', 'secret': 'missing', 'key': 'x', 'sha256': None},
        {'via': 'envFrom API_API_KEY', 'secret': 'api', 'key': 'API_KEY', 'sha256': _sha('k1')},
        {'via': 'envFrom API_OTHER', 'secret': 'api', 'key': 'OTHER', 'sha256': _sha('o1')},
        {'via': 'volume /certs/cert', 'secret': 'tls', 'key': 'cert', 'sha256': _sha('c1')},
        {'via': 'volume /p/OTHER', 'secret': 'api', 'key': 'OTHER', 'sha256': _sha('o1')},
    ]}
    # A later change of the Secret is not seen by the running container, only by its next start.
    update(sim, get(sim, 'v1', 'Secret', 'api'), lambda s: s['data'].update(_secret('api', API_KEY='k2')['data']))
    tick(sim, clock, 1, times=3)
    assert kubelet.secrets_seen('default', 'p')['web'][0]['sha256'] == _sha('k1')
    assert kubelet.secrets_seen('default', 'nope') is None
