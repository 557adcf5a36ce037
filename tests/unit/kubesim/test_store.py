"""kubesim's store: versions, generation, conflicts, garbage collection and watch history."""

import asyncio

import pytest

from tests.sandbox.kubesim import store as store_module
from tests.sandbox.kubesim.errors import ApiError
from tests.sandbox.kubesim.resources import Registry
from tests.sandbox.kubesim.store import Store

REGISTRY = Registry()
DEPLOY = REGISTRY.get('apps/v1', 'Deployment')
RS = REGISTRY.get('apps/v1', 'ReplicaSet')
POD = REGISTRY.get('v1', 'Pod')
NODE = REGISTRY.get('v1', 'Node')


@pytest.fixture(name='store')
def store_fixture():
    return Store(REGISTRY, clock=lambda: 1_700_000_000.0)


def deployment(name='web', replicas=1):
    return {'metadata': {'name': name, 'namespace': 'default'}, 'spec': {'replicas': replicas}}


def owned(name, owner, kind='ReplicaSet'):
    return {'metadata': {'name': name, 'namespace': 'default',
                         'ownerReferences': [{'apiVersion': 'apps/v1', 'kind': kind, 'name': owner['metadata']['name'],
                                              'uid': owner['metadata']['uid'], 'controller': True}]}}


def test_create_sets_identity_and_versions(store):
    before = store.resource_version
    obj = store.create(DEPLOY, deployment())
    meta = obj['metadata']
    assert obj['apiVersion'] == 'apps/v1' and obj['kind'] == 'Deployment'
    assert meta['resourceVersion'] == str(before + 1)
    assert meta['generation'] == 1
    assert meta['creationTimestamp'] == '2023-11-14T22:13:20Z'
    assert len(meta['uid']) == 36
    with pytest.raises(ApiError) as err:
        store.create(DEPLOY, deployment())
    assert err.value.code == 409 and err.value.reason == 'AlreadyExists'
    assert err.value.message == 'deployments.apps "web" already exists'


def test_generate_name_and_missing_namespace(store):
    obj = store.create(POD, {'metadata': {'generateName': 'web-', 'namespace': 'default'}})
    assert obj['metadata']['name'].startswith('web-') and len(obj['metadata']['name']) == 9
    with pytest.raises(ApiError) as err:
        store.create(POD, {'metadata': {'name': 'x', 'namespace': 'nope'}})
    assert err.value.code == 404 and err.value.message == 'namespaces "nope" not found'


def test_update_bumps_generation_only_for_spec_and_keeps_status(store):
    obj = store.create(DEPLOY, dict(deployment(), status={'replicas': 1}))
    assert obj['status'] == {}  # status is not the client's to set
    obj['metadata']['labels'] = {'a': 'b'}
    labelled = store.update(DEPLOY, obj)
    assert labelled['metadata']['generation'] == 1
    labelled['spec']['replicas'] = 3
    scaled = store.update(DEPLOY, labelled)
    assert scaled['metadata']['generation'] == 2
    with_status = store.update(DEPLOY, dict(scaled, status={'replicas': 3}), subresource='status')
    assert with_status['status'] == {'replicas': 3} and with_status['metadata']['generation'] == 2
    assert store.update(DEPLOY, with_status)['metadata']['resourceVersion'] == with_status['metadata']['resourceVersion']


def test_stale_resource_version_conflicts(store):
    first = store.create(DEPLOY, deployment())
    store.update(DEPLOY, dict(first, spec={'replicas': 2}))
    with pytest.raises(ApiError) as err:
        store.update(DEPLOY, dict(first, spec={'replicas': 5}))
    assert err.value.code == 409 and err.value.reason == 'Conflict'
    assert 'the object has been modified' in err.value.message


def test_dry_run_stores_nothing(store):
    version = store.resource_version
    assert store.create(DEPLOY, deployment(), dry_run=True)['metadata']['name'] == 'web'
    assert store.find(DEPLOY, 'default', 'web') is None and store.resource_version == version


def test_background_delete_collects_dependents_and_orphan_keeps_them(store):
    owner = store.create(DEPLOY, deployment())
    rs = store.create(RS, owned('web-1', owner, 'Deployment'))
    store.create(POD, owned('web-1-a', rs))
    store.delete(DEPLOY, 'default', 'web')
    assert store.find(RS, 'default', 'web-1') is None and store.find(POD, 'default', 'web-1-a') is None

    owner = store.create(DEPLOY, deployment())
    store.create(RS, owned('web-2', owner, 'Deployment'))
    store.delete(DEPLOY, 'default', 'web', propagation='Orphan')
    assert store.find(RS, 'default', 'web-2')['metadata']['ownerReferences'] == []


def test_finalizers_hold_deletion_until_removed(store):
    obj = store.create(DEPLOY, dict(deployment(), metadata={'name': 'web', 'namespace': 'default', 'finalizers': ['example.com/keep']}))
    deleting = store.delete(DEPLOY, 'default', 'web')
    assert deleting['metadata']['deletionTimestamp'] == '2023-11-14T22:13:20Z'
    assert store.find(DEPLOY, 'default', 'web') is not None
    deleting['metadata']['finalizers'] = []
    store.update(DEPLOY, deleting)
    assert store.find(DEPLOY, 'default', 'web') is None
    assert obj['metadata']['uid'] == deleting['metadata']['uid']


def test_delete_precondition_uid(store):
    store.create(DEPLOY, deployment())
    with pytest.raises(ApiError) as err:
        store.delete(DEPLOY, 'default', 'web', uid='another-uid')
    assert err.value.code == 409


def test_watch_replays_history_and_streams_new_events(store):
    async def scenario():
        start = store.resource_version
        created = store.create(DEPLOY, deployment())
        watch, replay = store.watch(DEPLOY, 'default', start)
        assert [(e.type, e.object['metadata']['name']) for e in replay] == [('ADDED', 'web')]
        store.update(DEPLOY, dict(created, spec={'replicas': 2}))
        store.create(NODE, {'metadata': {'name': 'node-9'}})  # another resource: not delivered
        store.delete(DEPLOY, 'default', 'web')
        events = [watch.queue.get_nowait().type for _index in range(watch.queue.qsize())]
        watch.close()
        return events

    assert asyncio.run(scenario()) == ['MODIFIED', 'DELETED']


def test_watch_from_a_forgotten_version_is_gone(store, monkeypatch):
    monkeypatch.setattr(store_module, 'HISTORY', 3)
    small = Store(REGISTRY)
    for index in range(5):
        small.create(DEPLOY, deployment('web-%d' % index))

    async def scenario():
        small.watch(DEPLOY, None, 1)

    with pytest.raises(ApiError) as err:
        asyncio.run(scenario())
    assert err.value.code == 410 and 'too old resource version' in err.value.message


def test_reset_keeps_system_namespaces_only(store):
    store.create(DEPLOY, deployment())
    store.reset()
    assert store.find(DEPLOY, 'default', 'web') is None
    names = [ns['metadata']['name'] for ns in store.items(REGISTRY.get('v1', 'Namespace'))]
    assert names == sorted(store_module.SYSTEM_NAMESPACES)


def test_deleting_a_namespace_deletes_what_is_in_it(store):
    namespaces = REGISTRY.get('v1', 'Namespace')
    store.create(namespaces, {'metadata': {'name': 'team'}})
    store.create(DEPLOY, {'metadata': {'name': 'web', 'namespace': 'team'}, 'spec': {}})
    store.create(DEPLOY, deployment())
    store.delete(namespaces, None, 'team')
    assert store.find(DEPLOY, 'team', 'web') is None
    assert store.find(DEPLOY, 'default', 'web') is not None


def test_config_float_fields_take_json_integers_twice():
    from tests.sandbox.kubesim.config import Config  # pylint: disable=import-outside-toplevel

    config = Config()
    config.update({'crashloop_backoff_seconds': 60})
    config.update({'crashloop_backoff_seconds': 0.5})
    assert config.crashloop_backoff_seconds == 0.5 and isinstance(config.crashloop_backoff_seconds, float)
