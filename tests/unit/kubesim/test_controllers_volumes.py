"""kubesim's volumes: claims provisioned and bound, expansion through Resizing and FileSystemResizePending, the resize admission."""

from __future__ import annotations

import pytest

from tests.sandbox.kubesim import errors
from tests.sandbox.kubesim.controllers import volumes
from tests.sandbox.kubesim.controllers.testing import create, events_of, get, new_sim, run_until, tick


@pytest.fixture(name='env')
def env_fixture():
    return new_sim()


def storage_class(sim, name, expandable, default=False):
    meta = {'name': name}
    if default:
        meta['annotations'] = {volumes.DEFAULT_CLASS_ANNOTATION: 'true'}
    body = {'apiVersion': 'storage.k8s.io/v1', 'kind': 'StorageClass', 'metadata': meta, 'provisioner': 'rancher.io/local-path',
            'reclaimPolicy': 'Delete', 'volumeBindingMode': 'Immediate'}
    if expandable is not None:
        body['allowVolumeExpansion'] = expandable
    return create(sim, body)


def claim(sim, name, size='1Gi', class_name=None):
    spec = {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': size}}}
    if class_name:
        spec['storageClassName'] = class_name
    return create(sim, {'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim', 'metadata': {'name': name, 'namespace': 'default'}, 'spec': spec})


def pvc(sim, name):
    return get(sim, 'v1', 'PersistentVolumeClaim', name)


def request_update(sim, name, size):
    """What the HTTP layer does for a patch: admission, then the store."""
    current = pvc(sim, name)
    current['spec']['resources']['requests']['storage'] = size
    current['metadata'].pop('resourceVersion', None)
    volumes.admit(sim, 'PersistentVolumeClaim', current)
    return sim.store.update(sim.registry.get('v1', 'PersistentVolumeClaim'), current)


def mounting_pod(sim, claim_name):
    return create(sim, {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'user', 'namespace': 'default'},
                        'spec': {'containers': [{'name': 'app', 'image': 'app:v1'}],
                                 'volumes': [{'name': 'data', 'persistentVolumeClaim': {'claimName': claim_name}}]}})


def test_claims_are_provisioned_and_bound(env):
    sim, clock = env
    storage_class(sim, 'standard', True, default=True)
    claim(sim, 'data', '5Gi')
    run_until(sim, clock, lambda: pvc(sim, 'data').get('status', {}).get('phase') == 'Bound')
    bound = pvc(sim, 'data')
    assert bound['spec']['storageClassName'] == 'standard'
    assert bound['status']['capacity'] == {'storage': '5Gi'} and bound['status']['accessModes'] == ['ReadWriteOnce']
    pv = get(sim, 'v1', 'PersistentVolume', bound['spec']['volumeName'], None)
    assert pv['spec']['claimRef']['name'] == 'data' and pv['spec']['capacity'] == {'storage': '5Gi'} and pv['status']['phase'] == 'Bound'
    assert events_of(sim, 'data', 'ProvisioningSucceeded')


def test_a_claim_of_a_missing_class_stays_pending(env):
    sim, clock = env
    claim(sim, 'data', class_name='fast')
    tick(sim, clock, 0.1, 3)
    assert pvc(sim, 'data')['status']['phase'] == 'Pending'
    assert events_of(sim, 'data', 'ProvisioningFailed')[0]['message'] == 'storageclass.storage.k8s.io "fast" not found'


def test_expansion_goes_through_resizing_and_file_system_resize_pending(env):
    sim, clock = env
    storage_class(sim, 'expandable', True)
    claim(sim, 'data', '1Gi', 'expandable')
    run_until(sim, clock, lambda: pvc(sim, 'data').get('status', {}).get('phase') == 'Bound')
    request_update(sim, 'data', '2Gi')
    seen = []

    def conditions():
        types = [c['type'] for c in pvc(sim, 'data')['status'].get('conditions') or ()]
        if types and types not in seen:
            seen.append(types)
        return 'FileSystemResizePending' in types
    run_until(sim, clock, conditions)
    assert seen == [['Resizing'], ['FileSystemResizePending']]
    pending = pvc(sim, 'data')
    assert pending['status']['capacity'] == {'storage': '1Gi'}
    assert pending['status']['allocatedResourceStatuses'] == {'storage': 'NodeResizePending'}
    assert get(sim, 'v1', 'PersistentVolume', pending['spec']['volumeName'], None)['spec']['capacity'] == {'storage': '2Gi'}
    tick(sim, clock, 0.5, 4)  # no pod mounts it: the file system waits
    assert pvc(sim, 'data')['status']['capacity'] == {'storage': '1Gi'}
    mounting_pod(sim, 'data')
    run_until(sim, clock, lambda: pvc(sim, 'data')['status']['capacity'] == {'storage': '2Gi'})
    done = pvc(sim, 'data')
    assert not done['status'].get('conditions') and 'allocatedResourceStatuses' not in done['status']
    assert [e['reason'] for e in events_of(sim, 'data') if e['reason'] in ('Resizing', 'FileSystemResizeRequired', 'FileSystemResizeSuccessful')] == [
        'Resizing', 'FileSystemResizeRequired', 'FileSystemResizeSuccessful']


@pytest.mark.parametrize('expandable', [False, None])
def test_expansion_of_a_non_expandable_class_is_forbidden(env, expandable):
    sim, clock = env
    storage_class(sim, 'fixed', expandable)
    claim(sim, 'data', '1Gi', 'fixed')
    run_until(sim, clock, lambda: pvc(sim, 'data').get('status', {}).get('phase') == 'Bound')
    with pytest.raises(errors.ApiError) as error:
        request_update(sim, 'data', '2Gi')
    assert error.value.code == 403 and error.value.reason == 'Forbidden'
    assert error.value.message == ('persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can be resized and the '
                                   'storageclass that provisions the pvc must support resize')
    assert pvc(sim, 'data')['spec']['resources']['requests']['storage'] == '1Gi'


def test_shrinking_is_invalid(env):
    sim, clock = env
    storage_class(sim, 'expandable', True)
    claim(sim, 'data', '2Gi', 'expandable')
    run_until(sim, clock, lambda: pvc(sim, 'data').get('status', {}).get('phase') == 'Bound')
    with pytest.raises(errors.ApiError) as error:
        request_update(sim, 'data', '1Gi')
    assert error.value.code == 422 and 'field can not be less than previous value' in error.value.message


def test_an_unbound_claim_cannot_be_resized(env):
    sim, _clock = env
    claim(sim, 'data', '1Gi', 'missing')
    with pytest.raises(errors.ApiError) as error:
        request_update(sim, 'data', '2Gi')
    assert error.value.code == 422 and 'for bound claims' in error.value.message


def test_statefulset_style_claims_without_volume_still_expand(env):
    """Claims created Bound by the StatefulSet controller (no PersistentVolume) resize on the claim alone."""
    sim, clock = env
    storage_class(sim, 'standard', True)
    made = claim(sim, 'data-db-0', '1Gi', 'standard')
    sim.store.update(sim.registry.get('v1', 'PersistentVolumeClaim'), {**made, 'status': {'phase': 'Bound', 'capacity': {'storage': '1Gi'}}},
                     subresource='status')
    request_update(sim, 'data-db-0', '3Gi')
    mounting_pod(sim, 'data-db-0')
    run_until(sim, clock, lambda: pvc(sim, 'data-db-0')['status']['capacity'] == {'storage': '3Gi'})
