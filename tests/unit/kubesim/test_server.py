"""kubesim's HTTP API, in process: discovery, verbs, selectors, watches, subresources, faults and the admin endpoints."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.sandbox.kubesim import handlers, server
from tests.sandbox.kubesim.config import Config
from tests.sandbox.kubesim.discovery import AGGREGATED_CONTENT_TYPE
from tests.sandbox.kubesim.server import make_app
from tests.sandbox.kubesim.sim import Simulator

Body = Callable[[TestClient, Simulator], Awaitable[None]]
DEPLOYS = '/apis/apps/v1/namespaces/default/deployments'
PODS = '/api/v1/namespaces/default/pods'
AGGREGATED_ACCEPT = ('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,'
                     'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json')
TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'


def serve(body: Body, sim: Simulator | None = None) -> None:
    """Run `body` against a fresh simulator (no controllers) behind aiohttp's test server."""
    async def main() -> None:
        simulator = sim or Simulator(run_controllers=False)
        async with TestClient(TestServer(make_app(simulator, seed=7))) as client:
            await body(client, simulator)
    asyncio.run(main())


async def call(client: TestClient, method: str, path: str, body: Any = None, status: int = 200,
               content_type: str = 'application/json', headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
               **params: Any) -> Any:
    """One request (query parameters as keywords, or in `query`); asserts the status and returns the decoded JSON (or the text)."""
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    response = await client.request(method, path, data=data, params={**params, **(query or {})} or None,
                                    headers={'Content-Type': content_type, **(headers or {})})
    text = await response.text()
    assert response.status == status, f'{method} {path}: {response.status} {text}'
    return json.loads(text) if response.content_type.startswith('application/json') else text


def deployment(name: str = 'web', replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {'app': name}
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'labels': labels},
        'spec': {'replicas': replicas, 'selector': {'matchLabels': labels},
                 'template': {'metadata': {'labels': labels}, 'spec': {'containers': [{'name': 'app', 'image': 'nginx:1.27'}]}}},
    }


def pod(name: str, node: str = 'node-1', labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'labels': labels or {}},
            'spec': {'nodeName': node, 'containers': [{'name': 'app', 'image': 'nginx'}]}}


# -- discovery ------------------------------------------------------------------------------


def test_version_health_and_legacy_discovery() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        version = await call(client, 'GET', '/version')
        assert (version['major'], version['minor'], version['gitVersion'], version['platform']) == ('1', '32', 'v1.32.0', 'linux/amd64')
        for path in ('/healthz', '/livez', '/readyz'):
            assert await call(client, 'GET', path) == 'ok'
        api = await call(client, 'GET', '/api')
        assert api['kind'] == 'APIVersions' and api['versions'] == ['v1'] and api['serverAddressByClientCIDRs']
        groups = {g['name']: g for g in (await call(client, 'GET', '/apis'))['groups']}
        assert groups['apps']['preferredVersion'] == {'groupVersion': 'apps/v1', 'version': 'v1'}
        assert 'apps.openshift.io' not in groups
        assert (await call(client, 'GET', '/apis/policy'))['kind'] == 'APIGroup'
        core = await call(client, 'GET', '/api/v1')
        assert core['groupVersion'] == 'v1'
        pods = next(r for r in core['resources'] if r['name'] == 'pods')
        assert pods['shortNames'] == ['po'] and pods['namespaced'] is True
        eviction = next(r for r in core['resources'] if r['name'] == 'pods/eviction')
        assert (eviction['group'], eviction['version'], eviction['kind']) == ('policy', 'v1', 'Eviction')
        apps = await call(client, 'GET', '/apis/apps/v1')
        scale = next(r for r in apps['resources'] if r['name'] == 'deployments/scale')
        assert (scale['group'], scale['version'], scale['kind']) == ('autoscaling', 'v1', 'Scale')
        missing = await call(client, 'GET', '/apis/nope.example.com/v1', status=404)
        assert missing['message'] == 'the server could not find the requested resource' and missing['kind'] == 'Status'
        await call(client, 'GET', '/apis/apps/v1/widgets', status=404)
        await call(client, 'GET', '/nothing/here', status=404)
    serve(body)


def test_aggregated_discovery() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        response = await client.get('/apis', headers={'Accept': AGGREGATED_ACCEPT})
        assert response.headers['Content-Type'] == AGGREGATED_CONTENT_TYPE
        doc = await response.json(content_type=None)
        assert doc['kind'] == 'APIGroupDiscoveryList' and doc['apiVersion'] == 'apidiscovery.k8s.io/v2'
        apps = next(item for item in doc['items'] if item['metadata']['name'] == 'apps')
        deploys = next(r for r in apps['versions'][0]['resources'] if r['resource'] == 'deployments')
        assert deploys['scope'] == 'Namespaced' and deploys['shortNames'] == ['deploy']
        assert deploys['responseKind'] == {'group': 'apps', 'version': 'v1', 'kind': 'Deployment'}
        scale = next(s for s in deploys['subresources'] if s['subresource'] == 'scale')
        assert scale['responseKind'] == {'group': 'autoscaling', 'version': 'v1', 'kind': 'Scale'}
        core = await (await client.get('/api', headers={'Accept': AGGREGATED_ACCEPT})).json(content_type=None)
        nodes = next(r for r in core['items'][0]['versions'][0]['resources'] if r['resource'] == 'nodes')
        assert nodes['scope'] == 'Cluster'
        assert (await call(client, 'GET', '/apis', headers={'Accept': 'application/json'}))['kind'] == 'APIGroupList'
    serve(body)


def test_openapi_v3_index_and_documents() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        index = await call(client, 'GET', '/openapi/v3')
        url = index['paths']['apis/apps/v1']['serverRelativeURL']
        assert url.startswith('/openapi/v3/apis/apps/v1?hash=') and 'api/v1' in index['paths']
        doc = await call(client, 'GET', url)
        schema = doc['components']['schemas']['io.k8s.api.apps.v1.Deployment']
        assert schema['type'] == 'object' and schema['x-kubernetes-preserve-unknown-fields'] is True
        assert schema['x-kubernetes-group-version-kind'] == [{'group': 'apps', 'version': 'v1', 'kind': 'Deployment'}]
        patch = doc['paths']['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']['patch']
        assert {'name': 'fieldValidation', 'in': 'query'}.items() <= next(p for p in patch['parameters'] if p['name'] == 'fieldValidation').items()
        await call(client, 'GET', '/openapi/v3/apis/nope/v1', status=404)
        await call(client, 'GET', '/openapi/v2', status=404)
    serve(body)


# -- create, read, replace, delete ---------------------------------------------------------------


def test_create_get_conflicts_and_delete() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        created = await call(client, 'POST', DEPLOYS, deployment(), status=201, fieldValidation='Strict', fieldManager='kubectl')
        assert created['metadata']['namespace'] == 'default' and created['metadata']['uid']
        exists = await call(client, 'POST', DEPLOYS, deployment(), status=409)
        assert exists['reason'] == 'AlreadyExists' and exists['message'] == 'deployments.apps "web" already exists'
        wrong_ns = dict(deployment('other'), metadata={'name': 'other', 'namespace': 'kube-system'})
        assert (await call(client, 'POST', DEPLOYS, wrong_ns, status=400))['reason'] == 'BadRequest'
        await call(client, 'POST', '/apis/apps/v1/namespaces/nope/deployments', deployment(), status=404)
        await call(client, 'POST', DEPLOYS, dict(deployment(), kind='StatefulSet'), status=400)
        got = await call(client, 'GET', f'{DEPLOYS}/web')
        assert got == created
        missing = await call(client, 'GET', f'{DEPLOYS}/nope', status=404)
        assert missing['message'] == 'deployments.apps "nope" not found' and missing['details']['name'] == 'nope'

        stale = json.loads(json.dumps(got))
        got['spec']['replicas'] = 2
        replaced = await call(client, 'PUT', f'{DEPLOYS}/web', got)
        assert replaced['metadata']['generation'] == 2
        stale['spec']['replicas'] = 5
        conflict = await call(client, 'PUT', f'{DEPLOYS}/web', stale, status=409)
        assert conflict['reason'] == 'Conflict' and 'the object has been modified' in conflict['message']
        await call(client, 'PUT', f'{DEPLOYS}/nope', deployment('nope'), status=404)
        await call(client, 'PUT', f'{DEPLOYS}/web', deployment('other'), status=400)

        precondition = {'kind': 'DeleteOptions', 'apiVersion': 'v1', 'preconditions': {'uid': 'not-the-uid'}}
        await call(client, 'DELETE', f'{DEPLOYS}/web', precondition, status=409)
        deleted = await call(client, 'DELETE', f'{DEPLOYS}/web', {'propagationPolicy': 'Foreground', 'gracePeriodSeconds': 0})
        assert deleted['metadata']['name'] == 'web'
        assert sim.store.find(sim.registry.get('apps/v1', 'Deployment'), 'default', 'web') is None
        await call(client, 'DELETE', f'{DEPLOYS}/web', status=404)
    serve(body)


def test_cluster_scoped_resources_and_namespaces() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        node = await call(client, 'POST', '/api/v1/nodes', {'apiVersion': 'v1', 'kind': 'Node', 'metadata': {'name': 'n1'}}, status=201)
        assert 'namespace' not in node['metadata']
        await call(client, 'GET', '/api/v1/nodes/n1')
        await call(client, 'POST', '/api/v1/namespaces', {'metadata': {'name': 'team'}}, status=201)
        assert (await call(client, 'GET', '/api/v1/namespaces/team'))['status']['phase'] == 'Active'
        await call(client, 'POST', '/api/v1/namespaces/team/configmaps', {'metadata': {'name': 'c'}, 'data': {'a': '1'}}, status=201)
        assert (await call(client, 'GET', '/api/v1/namespaces/team/configmaps/c'))['data'] == {'a': '1'}
        await call(client, 'GET', '/apis/apps/v1/deployments/web', status=404)
    serve(body)


def test_secret_string_data_is_stored_as_data() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        secrets = '/api/v1/namespaces/default/secrets'
        created = await call(client, 'POST', secrets, {'metadata': {'name': 's'}, 'stringData': {'token': 'one'}, 'data': {'a': 'YQ=='}}, status=201)
        assert created['data'] == {'a': 'YQ==', 'token': 'b25l'} and created['type'] == 'Opaque' and 'stringData' not in created
        patched = await call(client, 'PATCH', f'{secrets}/s', {'stringData': {'token': 'two'}}, content_type='application/merge-patch+json')
        assert patched['data'] == {'a': 'YQ==', 'token': 'dHdv'} and 'stringData' not in patched
    serve(body)


def test_protobuf_bodies_are_refused_with_a_hint() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        status = await call(client, 'POST', DEPLOYS, b'k8s\x00\n\x0e', status=415, content_type='application/vnd.kubernetes.protobuf')
        assert status['reason'] == 'UnsupportedMediaType'
        assert 'only accepts JSON bodies' in status['message'] and 'kubectl apply -f' in status['message']
        await call(client, 'POST', DEPLOYS, b'{not json', status=400)
        yaml_body = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: from-yaml}\nspec: {replicas: 1}\n'
        assert (await call(client, 'POST', DEPLOYS, yaml_body, status=201, content_type='application/yaml'))['metadata']['name'] == 'from-yaml'
    serve(body)


def test_patch_types() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        await call(client, 'POST', DEPLOYS, deployment(), status=201)
        merged = await call(client, 'PATCH', f'{DEPLOYS}/web', {'metadata': {'labels': {'tier': 'front'}}}, content_type='application/merge-patch+json')
        assert merged['metadata']['labels'] == {'app': 'web', 'tier': 'front'}
        ops = [{'op': 'replace', 'path': '/spec/replicas', 'value': 3}]
        assert (await call(client, 'PATCH', f'{DEPLOYS}/web', ops, content_type='application/json-patch+json'))['spec']['replicas'] == 3
        strategic = {'spec': {'template': {'spec': {'containers': [{'name': 'app', 'image': 'nginx:1.28'}]}}}}
        result = await call(client, 'PATCH', f'{DEPLOYS}/web', strategic, content_type='application/strategic-merge-patch+json')
        assert [(c['name'], c['image']) for c in result['spec']['template']['spec']['containers']] == [('app', 'nginx:1.28')]

        stale = {'metadata': {'resourceVersion': '1'}, 'spec': {'replicas': 9}}
        assert (await call(client, 'PATCH', f'{DEPLOYS}/web', stale, status=409, content_type='application/merge-patch+json'))['reason'] == 'Conflict'
        fresh = {'metadata': {'resourceVersion': result['metadata']['resourceVersion']}, 'spec': {'replicas': 4}}
        assert (await call(client, 'PATCH', f'{DEPLOYS}/web', fresh, content_type='application/merge-patch+json'))['spec']['replicas'] == 4

        apply = await call(client, 'PATCH', f'{DEPLOYS}/web', 'spec: {}', status=415, content_type='application/apply-patch+yaml', fieldManager='x')
        assert 'server-side apply' in apply['message']
        # Also for a missing object: kubectl apply --server-side creates with a PATCH.
        await call(client, 'PATCH', f'{DEPLOYS}/missing', 'spec: {}', status=415, content_type='application/apply-patch+yaml')
        await call(client, 'PATCH', f'{DEPLOYS}/web/scale', 'spec: {}', status=415, content_type='application/apply-patch+yaml')
        failed = await call(client, 'PATCH', f'{DEPLOYS}/web', [{'op': 'test', 'path': '/spec/replicas', 'value': 1}], status=422,
                            content_type='application/json-patch+json')
        assert failed['reason'] == 'Invalid' and failed['details']['causes'][0]['field'] == 'patch'
        await call(client, 'PATCH', f'{DEPLOYS}/web', b'{oops', status=400, content_type='application/merge-patch+json')
        await call(client, 'PATCH', f'{DEPLOYS}/nope', {}, status=404, content_type='application/merge-patch+json')
        renamed = {'metadata': {'name': 'other'}}
        await call(client, 'PATCH', f'{DEPLOYS}/web', renamed, status=400, content_type='application/merge-patch+json')
    serve(body)


def test_dry_run_stores_nothing() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        version = sim.store.resource_version
        would_be = await call(client, 'POST', DEPLOYS, deployment(), status=201, dryRun='All')
        assert would_be['metadata']['name'] == 'web' and sim.store.resource_version == version
        await call(client, 'GET', f'{DEPLOYS}/web', status=404)
        await call(client, 'POST', DEPLOYS, deployment(), status=201)
        version = sim.store.resource_version
        patched = await call(client, 'PATCH', f'{DEPLOYS}/web', {'spec': {'replicas': 7}}, content_type='application/merge-patch+json', dryRun='All')
        assert patched['spec']['replicas'] == 7
        await call(client, 'DELETE', f'{DEPLOYS}/web', {'dryRun': ['All']})
        await call(client, 'PUT', f'{DEPLOYS}/web/scale', {'spec': {'replicas': 5}}, dryRun='All')
        assert sim.store.resource_version == version
        assert (await call(client, 'GET', f'{DEPLOYS}/web'))['spec']['replicas'] == 1
        await call(client, 'POST', DEPLOYS, deployment('x'), status=400, dryRun='Some')
    serve(body)


# -- lists ---------------------------------------------------------------------------------------


def test_list_selectors_and_pages() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        for index in range(5):
            await call(client, 'POST', PODS, pod(f'p{index}', node=f'node-{index % 2}', labels={'app': 'shop', 'slot': str(index)}), status=201)
        await call(client, 'POST', '/api/v1/namespaces/kube-system/pods', pod('dns', labels={'app': 'dns'}), status=201)
        listing = await call(client, 'GET', PODS)
        assert listing['kind'] == 'PodList' and listing['apiVersion'] == 'v1'
        assert listing['metadata']['resourceVersion'] == str(sim.store.resource_version)
        assert [p['metadata']['name'] for p in listing['items']] == ['p0', 'p1', 'p2', 'p3', 'p4']
        assert all(p['kind'] == 'Pod' and p['apiVersion'] == 'v1' for p in listing['items'])
        everywhere = await call(client, 'GET', '/api/v1/pods')
        assert len(everywhere['items']) == 6
        selected = await call(client, 'GET', PODS, labelSelector='slot in (1,3)')
        assert [p['metadata']['name'] for p in selected['items']] == ['p1', 'p3']
        on_node = await call(client, 'GET', '/api/v1/pods', fieldSelector='spec.nodeName=node-1,metadata.namespace=default')
        assert [p['metadata']['name'] for p in on_node['items']] == ['p1', 'p3']
        unsupported = await call(client, 'GET', PODS, status=400, fieldSelector='spec.foo=bar')
        assert unsupported['message'] == 'field label not supported: spec.foo'
        await call(client, 'GET', PODS, status=400, labelSelector='app in (')

        names, token, pages = [], None, 0
        while True:
            page = await call(client, 'GET', PODS, limit=2, query={'continue': token} if token else None)
            names += [p['metadata']['name'] for p in page['items']]
            pages += 1
            token = page['metadata'].get('continue')
            if not token:
                break
            assert page['metadata']['remainingItemCount'] == 5 - len(names)
        assert names == ['p0', 'p1', 'p2', 'p3', 'p4'] and pages == 3
        await call(client, 'GET', PODS, status=400, query={'continue': 'garbage!'})
    serve(body)


def test_delete_collection_by_label() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        for name, app in (('a', 'x'), ('b', 'x'), ('c', 'y')):
            await call(client, 'POST', PODS, pod(name, labels={'app': app}), status=201)
        deleted = await call(client, 'DELETE', PODS, labelSelector='app=x')
        assert [p['metadata']['name'] for p in deleted['items']] == ['a', 'b']
        assert [p['metadata']['name'] for p in sim.store.items(sim.registry.get('v1', 'Pod'))] == ['c']
    serve(body)


def test_table_rendering() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        await call(client, 'POST', DEPLOYS, deployment(replicas=3), status=201)
        table = await call(client, 'GET', DEPLOYS, headers={'Accept': TABLE_ACCEPT})
        assert table['kind'] == 'Table' and table['apiVersion'] == 'meta.k8s.io/v1'
        assert [c['name'] for c in table['columnDefinitions'] if c['priority'] == 0] == ['Name', 'Ready', 'Up-to-date', 'Available', 'Age']
        row = table['rows'][0]
        assert row['cells'][:4] == ['web', '0/3', 0, 0] and row['object']['kind'] == 'PartialObjectMetadata'
        full = await call(client, 'GET', f'{DEPLOYS}/web', headers={'Accept': TABLE_ACCEPT}, includeObject='Object')
        assert full['rows'][0]['object']['kind'] == 'Deployment'
        generic = await call(client, 'GET', '/apis/apps/v1/namespaces/default/controllerrevisions', headers={'Accept': TABLE_ACCEPT})
        assert [c['name'] for c in generic['columnDefinitions']] == ['Name', 'Age']
    serve(body)


# -- watches ----------------------------------------------------------------------------------------


async def read_events(client: TestClient, path: str, on_start: Callable[[], Awaitable[None]] | None = None, **params: Any) -> list[dict[str, Any]]:
    """The events of a watch until the server ends it."""
    response = await client.get(path, params={'watch': 'true', **params})
    assert response.status == 200, await response.text()
    if on_start is not None:
        await on_start()
    events = []
    async for line in response.content:
        if line.strip():
            events.append(json.loads(line))
    return events


def test_watch_replays_current_objects_and_follows_changes() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        await call(client, 'POST', DEPLOYS, deployment('a'), status=201)

        async def changes() -> None:
            await call(client, 'POST', DEPLOYS, deployment('b'), status=201)
            await call(client, 'PATCH', f'{DEPLOYS}/a', {'spec': {'replicas': 2}}, content_type='application/merge-patch+json')
            await call(client, 'DELETE', f'{DEPLOYS}/b')

        started = time.monotonic()
        events = await read_events(client, DEPLOYS, changes, timeoutSeconds='1')
        assert 0.9 < time.monotonic() - started < 5
        assert [(e['type'], e['object']['metadata']['name']) for e in events] == [('ADDED', 'a'), ('ADDED', 'b'), ('MODIFIED', 'a'), ('DELETED', 'b')]
    serve(body)


def test_watch_resumes_from_a_resource_version() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        first = await call(client, 'POST', DEPLOYS, deployment('a'), status=201)
        await call(client, 'POST', DEPLOYS, deployment('b'), status=201)
        await call(client, 'DELETE', f'{DEPLOYS}/a')
        events = await read_events(client, DEPLOYS, resourceVersion=first['metadata']['resourceVersion'], timeoutSeconds='0.3')
        assert [(e['type'], e['object']['metadata']['name']) for e in events] == [('ADDED', 'b'), ('DELETED', 'a')]
    serve(body)


def test_watch_with_selectors_reports_objects_leaving_the_selection() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        await call(client, 'POST', PODS, pod('a', labels={'role': 'db'}), status=201)
        await call(client, 'POST', PODS, pod('b', labels={'role': 'web'}), status=201)

        async def relabel() -> None:
            await call(client, 'PATCH', f'{PODS}/a', {'metadata': {'labels': {'role': 'old'}}}, content_type='application/merge-patch+json')
            await call(client, 'PATCH', f'{PODS}/b', {'metadata': {'labels': {'role': 'db'}}}, content_type='application/merge-patch+json')

        events = await read_events(client, PODS, relabel, labelSelector='role=db', timeoutSeconds='0.5')
        assert [(e['type'], e['object']['metadata']['name']) for e in events] == [('ADDED', 'a'), ('DELETED', 'a'), ('ADDED', 'b')]
        named = await read_events(client, PODS, fieldSelector='metadata.name=b', timeoutSeconds='0.2')
        assert [e['object']['metadata']['name'] for e in named] == ['b']
        await call(client, 'GET', PODS, status=400, watch='true', fieldSelector='spec.nope=1')
    serve(body)


def test_watch_too_old_resource_version_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr('tests.sandbox.kubesim.store.HISTORY', 3)

    async def body(client: TestClient, _sim: Simulator) -> None:
        for index in range(6):
            await call(client, 'POST', DEPLOYS, deployment(f'd{index}'), status=201)
        events = await read_events(client, DEPLOYS, resourceVersion='2', timeoutSeconds='5')
        assert len(events) == 1 and events[0]['type'] == 'ERROR'
        assert events[0]['object']['code'] == 410 and events[0]['object']['reason'] == 'Expired'
    serve(body)


def test_watch_initial_events_end_with_a_bookmark() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        await call(client, 'POST', DEPLOYS, deployment('a'), status=201)
        events = await read_events(client, DEPLOYS, sendInitialEvents='true', resourceVersionMatch='NotOlderThan',
                                   allowWatchBookmarks='true', timeoutSeconds='0.2')
        assert [e['type'] for e in events] == ['ADDED', 'BOOKMARK']
        bookmark = events[1]['object']
        assert bookmark['metadata']['annotations'] == {'k8s.io/initial-events-end': 'true'}
        assert bookmark['metadata']['resourceVersion'] == str(sim.store.resource_version) and bookmark['kind'] == 'Deployment'
    serve(body)


def test_watch_failure_after_the_start_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any) -> None:
        raise KeyError('bug')
    monkeypatch.setattr('tests.sandbox.kubesim.watch.translate', broken)

    async def body(client: TestClient, _sim: Simulator) -> None:
        async def change() -> None:
            await call(client, 'POST', DEPLOYS, deployment('a'), status=201)
        events = await read_events(client, DEPLOYS, change, timeoutSeconds='5')
        assert [e['type'] for e in events] == ['ERROR'] and events[0]['object']['code'] == 500
    serve(body)


def test_watch_as_table_rows() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        await call(client, 'POST', DEPLOYS, deployment('a'), status=201)
        await call(client, 'POST', DEPLOYS, deployment('b'), status=201)
        response = await client.get(DEPLOYS, params={'watch': '1', 'timeoutSeconds': '0.2'}, headers={'Accept': TABLE_ACCEPT})
        events = [json.loads(line) async for line in response.content if line.strip()]
        assert [e['object']['kind'] for e in events] == ['Table', 'Table']
        assert events[0]['object']['columnDefinitions'] and events[1]['object']['columnDefinitions'] is None
        assert events[1]['object']['rows'][0]['cells'][0] == 'b'
    serve(body)


# -- subresources ------------------------------------------------------------------------------------


def test_scale_subresource() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        await call(client, 'POST', DEPLOYS, deployment(replicas=2), status=201)
        scale = await call(client, 'GET', f'{DEPLOYS}/web/scale')
        assert scale['kind'] == 'Scale' and scale['apiVersion'] == 'autoscaling/v1'
        assert scale['spec'] == {'replicas': 2} and scale['status'] == {'replicas': 0, 'selector': 'app=web'}
        patched = await call(client, 'PATCH', f'{DEPLOYS}/web/scale', {'spec': {'replicas': 4}}, content_type='application/merge-patch+json')
        assert patched['spec']['replicas'] == 4
        assert (await call(client, 'GET', f'{DEPLOYS}/web'))['spec']['replicas'] == 4
        scale = await call(client, 'GET', f'{DEPLOYS}/web/scale')
        scale['spec']['replicas'] = 1
        assert (await call(client, 'PUT', f'{DEPLOYS}/web/scale', scale))['spec']['replicas'] == 1
        await call(client, 'PUT', f'{DEPLOYS}/web/scale', scale, status=409)  # its resourceVersion is stale now
        invalid = await call(client, 'PUT', f'{DEPLOYS}/web/scale', {'spec': {'replicas': -1}}, status=422)
        assert invalid['details']['causes'][0]['field'] == 'spec.replicas'
        await call(client, 'GET', f'{DEPLOYS}/nope/scale', status=404)
        await call(client, 'GET', '/apis/apps/v1/namespaces/default/daemonsets/x/scale', status=404)
    serve(body)


def test_openshift_deploymentconfig_scale_is_extensions_v1beta1() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        dcs = '/apis/apps.openshift.io/v1/namespaces/default/deploymentconfigs'
        dc = {'apiVersion': 'apps.openshift.io/v1', 'kind': 'DeploymentConfig', 'metadata': {'name': 'dc'},
              'spec': {'replicas': 1, 'selector': {'app': 'dc'}, 'template': {'metadata': {'labels': {'app': 'dc'}}}}}
        await call(client, 'POST', dcs, dc, status=201)
        scale = await call(client, 'GET', f'{dcs}/dc/scale')
        assert scale['apiVersion'] == 'extensions/v1beta1'
        assert scale['status'] == {'replicas': 0, 'selector': {'app': 'dc'}, 'targetSelector': 'app=dc'}
        await call(client, 'POST', f'{dcs}/dc/instantiate', {}, status=400)
    serve(body, Simulator(Config(flavour='openshift'), run_controllers=False))


def test_status_subresource_updates_only_status() -> None:
    async def body(client: TestClient, _sim: Simulator) -> None:
        created = await call(client, 'POST', DEPLOYS, deployment(), status=201)
        created['status'] = {'replicas': 1, 'readyReplicas': 1}
        created['spec']['replicas'] = 9
        updated = await call(client, 'PUT', f'{DEPLOYS}/web/status', created)
        assert updated['status'] == {'replicas': 1, 'readyReplicas': 1} and updated['spec']['replicas'] == 1
        patched = await call(client, 'PATCH', f'{DEPLOYS}/web/status', {'status': {'availableReplicas': 1}}, content_type='application/merge-patch+json')
        assert patched['status']['availableReplicas'] == 1
        # The main resource keeps the stored status.
        replaced = await call(client, 'PUT', f'{DEPLOYS}/web', dict(patched, status={}))
        assert replaced['status']['availableReplicas'] == 1
        assert (await call(client, 'GET', f'{DEPLOYS}/web/status'))['status']['readyReplicas'] == 1
    serve(body)


def test_eviction_exec_and_log_without_controllers() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        await call(client, 'POST', PODS, pod('p'), status=201)
        eviction = {'apiVersion': 'policy/v1', 'kind': 'Eviction', 'metadata': {'name': 'p', 'namespace': 'default'}}
        await call(client, 'POST', f'{PODS}/p/eviction', dict(eviction, deleteOptions={'dryRun': ['All']}), status=201)
        assert sim.store.find(sim.registry.get('v1', 'Pod'), 'default', 'p') is not None
        answer = await call(client, 'POST', f'{PODS}/p/eviction', eviction, status=201)
        assert answer == {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Success', 'code': 201}
        assert sim.store.find(sim.registry.get('v1', 'Pod'), 'default', 'p') is None
        await call(client, 'POST', f'{PODS}/p/eviction', eviction, status=404)

        await call(client, 'POST', PODS, pod('q'), status=201)
        await call(client, 'POST', f'{PODS}/q/eviction', dict(eviction, apiVersion='policy/v1beta1', metadata={'name': 'q'}), status=201)
        await call(client, 'POST', PODS, pod('r'), status=201)
        refused = await call(client, 'POST', f'{PODS}/r/exec', status=400, command='ls')
        assert refused['message'] == 'pods/exec is not supported by kubesim (no container runtime)'
        await call(client, 'GET', f'{PODS}/r/log', status=400)
    serve(body, Simulator(run_controllers=False))


def test_subresources_use_the_controllers_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    class Kubelet:
        @staticmethod
        def pod_log(_sim: Simulator, namespace: str, name: str, container: str | None, previous: bool, tail_lines: int | None,
                    **options: Any) -> str:
            calls.append(('log', namespace, name, container, previous, tail_lines, options))
            return 'line 1\nline 2\n'

    class Disruption:
        @staticmethod
        def evict(_sim: Simulator, namespace: str, name: str, eviction: dict[str, Any]) -> None:
            calls.append(('evict', namespace, name, eviction['kind']))
            raise handlers.ApiError(429, 'TooManyRequests', 'Cannot evict pod as it would violate the pod\'s disruption budget.')

    class Metrics:
        @staticmethod
        def pod_metrics(_sim: Simulator, namespace: str | None, name: str | None) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = [{'kind': 'PodMetrics', 'apiVersion': 'metrics.k8s.io/v1beta1', 'metadata': {'name': 'p', 'namespace': 'default'}}]
            return [i for i in items if name in (None, i['metadata']['name']) and namespace in (None, 'default')]

        @staticmethod
        def node_metrics(_sim: Simulator, name: str | None) -> list[dict[str, Any]]:
            return [{'kind': 'NodeMetrics', 'apiVersion': 'metrics.k8s.io/v1beta1', 'metadata': {'name': 'node-1'}}][:1 if name in (None, 'node-1') else 0]

    class Defaults:
        @staticmethod
        def apply_defaults(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
            return dict(obj, spec=dict(obj.get('spec') or {}, defaulted=kind))

    modules = {'kubelet': Kubelet, 'disruption': Disruption, 'metrics': Metrics, 'defaults': Defaults}
    monkeypatch.setattr(handlers, 'controllers_module', modules.get)

    async def body(client: TestClient, _sim: Simulator) -> None:
        assert (await call(client, 'POST', PODS, pod('p'), status=201))['spec']['defaulted'] == 'Pod'
        patched = await call(client, 'PATCH', f'{PODS}/p', {'spec': {'defaulted': None}}, content_type='application/merge-patch+json')
        assert patched['spec']['defaulted'] == 'Pod'
        assert await call(client, 'GET', f'{PODS}/p/log', container='app', previous='true', tailLines='5') == 'line 1\nline 2\n'
        blocked = await call(client, 'POST', f'{PODS}/p/eviction', {'apiVersion': 'policy/v1', 'kind': 'Eviction', 'metadata': {'name': 'p'}}, status=429)
        assert 'disruption budget' in blocked['message']
        assert calls == [('log', 'default', 'p', 'app', True, 5, {'since_seconds': None, 'since_time': None, 'timestamps': False}),
                         ('evict', 'default', 'p', 'Eviction')]
        pods = await call(client, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods')
        assert pods['kind'] == 'PodMetricsList' and [i['metadata']['name'] for i in pods['items']] == ['p']
        assert (await call(client, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/p'))['kind'] == 'PodMetrics'
        missing = await call(client, 'GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/q', status=404)
        assert missing['message'] == 'podmetrics.metrics.k8s.io "default/q" not found'
        nodes = await call(client, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes')
        assert nodes['kind'] == 'NodeMetricsList' and len(nodes['items']) == 1
        await call(client, 'DELETE', '/apis/metrics.k8s.io/v1beta1/nodes/node-1', status=405)
    serve(body)


# -- errors and faults ------------------------------------------------------------------------------------


def test_unexpected_errors_are_internal_error_statuses(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError('disk on fire')
        monkeypatch.setattr(sim.store, 'get', broken)
        with caplog.at_level(logging.ERROR, logger='kubesim.server'):
            status = await call(client, 'GET', f'{DEPLOYS}/web', status=500)
        assert status['reason'] == 'InternalError' and 'disk on fire' in status['message']
        assert 'Traceback' in caplog.text or 'disk on fire' in caplog.text
        await call(client, 'PUT', DEPLOYS, deployment(), status=405)
        await call(client, 'POST', '/apis/apps/v1/deployments', deployment(), status=405)
    serve(body)


def test_fault_injection() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        sim.config.update({'api_fault_rate': 1.0, 'api_fault_codes': [429], 'api_fault_path_prefix': '/apis/apps'})
        response = await client.get(DEPLOYS)
        assert response.status == 429 and response.headers['Retry-After'] == '1'
        assert (await response.json())['reason'] == 'TooManyRequests'
        await call(client, 'GET', PODS)  # outside the prefix
        assert (await call(client, 'GET', '/kubesim/config'))['api_fault_rate'] == 1.0  # never the admin endpoints
        for code, reason in ((500, 'InternalError'), (503, 'ServiceUnavailable')):
            sim.config.update({'api_fault_codes': [code]})
            assert (await call(client, 'GET', DEPLOYS, status=code))['reason'] == reason
        sim.config.update({'api_fault_codes': [500, 503], 'api_fault_rate': 0.5, 'api_fault_path_prefix': '/'})
        statuses = [(await client.get('/version')).status for _index in range(200)]
        assert {500, 503, 200} == set(statuses) and 60 < statuses.count(200) < 140
        sim.config.update({'api_fault_rate': 0.0, 'api_latency_seconds': 0.2})
        started = time.monotonic()
        await call(client, 'GET', '/version')
        assert time.monotonic() - started >= 0.2
    serve(body)


def test_fault_injection_is_reproducible_with_a_seed() -> None:
    def sample(seed: int) -> list[int]:
        results: list[int] = []

        async def main() -> None:
            sim = Simulator(Config(api_fault_rate=0.5), run_controllers=False)
            async with TestClient(TestServer(make_app(sim, seed=seed))) as client:
                results.extend([(await client.get('/version')).status for _index in range(20)])
        asyncio.run(main())
        return results
    assert sample(3) == sample(3) != sample(4)


# -- admin endpoints ------------------------------------------------------------------------------------------


def test_admin_endpoints() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        config = await call(client, 'GET', '/kubesim/config')
        assert config['api_fault_rate'] == 0.0 and config['flavour'] == ''
        changed = await call(client, 'PATCH', '/kubesim/config', {'api_latency_seconds': 0, 'nodes': 5})
        assert changed['nodes'] == 5 and sim.config.nodes == 5
        unknown = await call(client, 'PATCH', '/kubesim/config', {'bogus': 1, 'nodes': 2}, status=400)
        assert 'bogus' in unknown['message'] and sim.config.nodes == 5
        await call(client, 'PATCH', '/kubesim/config', {'api_fault_rate': 'lots'}, status=400)

        await call(client, 'POST', DEPLOYS, deployment(), status=201)
        dump = await call(client, 'GET', '/kubesim/dump')
        assert [d['metadata']['name'] for d in dump['objects']['deployments.apps']] == ['web']
        ticked = []
        sim.controllers = [type('Counter', (), {'reconcile': lambda self: ticked.append(1)})()]
        assert (await call(client, 'POST', '/kubesim/tick'))['controllers'] == ['Counter'] and ticked == [1]
        await call(client, 'POST', '/kubesim/reset')
        assert 'deployments.apps' not in (await call(client, 'GET', '/kubesim/dump'))['objects']

        await call(client, 'GET', '/apis/apps.openshift.io/v1', status=404)
        await call(client, 'PATCH', '/kubesim/config', {'flavour': 'openshift'})
        assert (await call(client, 'GET', '/apis/apps.openshift.io/v1'))['resources'][0]['name'] == 'deploymentconfigs'
        await call(client, 'GET', '/kubesim/nothing', status=404)
    serve(body)


def test_admin_kubelet_restart() -> None:
    async def body(client: TestClient, sim: Simulator) -> None:
        restarted = await call(client, 'POST', '/kubesim/nodes/node-1/kubelet-restart', {'version': 'v1.33.0', 'seconds': 0.5})
        assert restarted == {'node': 'node-1', 'version': 'v1.33.0', 'seconds': 0.5}
        assert sim.kubelet_restarts['node-1']['version'] == 'v1.33.0'
        assert (await call(client, 'POST', '/kubesim/nodes/node-2/kubelet-restart'))['version'] == 'v1.32.0'
        await call(client, 'POST', '/kubesim/nodes/node-9/kubelet-restart', {'version': 'v1.33.0'}, status=404)
        await call(client, 'POST', '/kubesim/nodes/node-1/kubelet-restart', {'version': 1.33}, status=400)
        await call(client, 'POST', '/kubesim/nodes/node-1/kubelet-restart', {'seconds': -1}, status=400)
        await call(client, 'POST', '/kubesim/nodes/node-1/kubelet-restart', {'bogus': 1}, status=400)
        await call(client, 'POST', '/kubesim/reset')
        assert sim.kubelet_restarts == {}
    serve(body, Simulator())


def test_tick_survives_a_failing_controller(caplog: pytest.LogCaptureFixture) -> None:
    sim = Simulator(run_controllers=False)
    ran = []

    class Broken:
        def reconcile(self) -> None:
            raise ValueError('bug')

    class Fine:
        def reconcile(self) -> None:
            ran.append(True)

    sim.controllers = [Broken(), Fine()]
    with caplog.at_level(logging.ERROR, logger='kubesim'):
        sim.tick()
    assert ran == [True] and 'controller Broken failed' in caplog.text and 'ValueError: bug' in caplog.text


def test_injected_fault_statuses() -> None:
    assert server.injected_fault(429).details == {'causes': [{'reason': 'KubesimFault', 'message': 'injected by api_fault_rate'}], 'retryAfterSeconds': 1}
    assert server.injected_fault(504).reason == 'Timeout'
    assert server.injected_fault(502).reason == 'BadGateway'
