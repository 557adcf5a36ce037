"""Minimal, permissive OpenAPI v3 documents: enough for kubectl 1.32's apply and validation.

kubectl apply asks /openapi/v3 for the index, then the group version's document,
and looks for the PATCH operation of the object's kind (by its
x-kubernetes-group-version-kind): when that operation lists the fieldValidation
query parameter, kubectl leaves validation to the server (which ignores it here)
instead of validating client-side against /openapi/v2, which it reads only as
protobuf. The PATCH operations declare no request body on purpose: kubectl then
builds strategic merge patches from its compiled-in Go types (accurate for every
built-in kind) rather than from these schemas, which describe no fields.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import Registry, ResourceType

_COMMON_QUERY = ('dryRun', 'fieldManager', 'fieldValidation', 'pretty')


def _gv_path(group: str, version: str) -> str:
    return f'apis/{group}/{version}' if group else f'api/{version}'


def _schema_name(group: str, version: str, kind: str) -> str:
    """The definition name the apiserver uses: io.k8s.api.apps.v1.Deployment."""
    if group.endswith('.openshift.io'):
        return f'com.github.openshift.api.{group.split(".")[0]}.{version}.{kind}'
    if group == 'metrics.k8s.io':
        return f'io.k8s.metrics.pkg.apis.metrics.{version}.{kind}'
    return f'io.k8s.api.{group.split(".")[0] if group else "core"}.{version}.{kind}'


def _gvk(group: str, version: str, kind: str) -> list[dict[str, str]]:
    return [{'group': group, 'version': version, 'kind': kind}]


def _operation(res: ResourceType, action: str, kind: str) -> dict[str, Any]:
    params = [{'name': name, 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}} for name in _COMMON_QUERY]
    return {
        'operationId': f'{action}{res.kind}', 'parameters': params, 'responses': {'200': {'description': 'OK'}},
        'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': {'group': res.group, 'version': res.version, 'kind': kind},
    }


def _paths(res: ResourceType) -> dict[str, Any]:
    base = '/' + _gv_path(res.group, res.version)
    collection = f'{base}/namespaces/{{namespace}}/{res.plural}' if res.namespaced else f'{base}/{res.plural}'
    item: dict[str, Any] = {'get': _operation(res, 'get', res.kind)}
    listing: dict[str, Any] = {'get': _operation(res, 'list', res.kind)}
    if 'update' in res.verbs:
        item['put'] = _operation(res, 'put', res.kind)
    if 'patch' in res.verbs:
        item['patch'] = _operation(res, 'patch', res.kind)
    if 'delete' in res.verbs:
        item['delete'] = _operation(res, 'delete', res.kind)
    if 'create' in res.verbs:
        listing['post'] = _operation(res, 'post', res.kind)
    return {collection: listing, f'{collection}/{{name}}': item}


def _schema(group: str, version: str, kind: str) -> dict[str, Any]:
    return {
        'type': 'object', 'description': f'{kind} (kubesim: fields are not described; anything is accepted)',
        'properties': {'apiVersion': {'type': 'string'}, 'kind': {'type': 'string'},
                       'metadata': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}},
        'x-kubernetes-preserve-unknown-fields': True,
        'x-kubernetes-group-version-kind': _gvk(group, version, kind),
    }


def document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group version, or None when it is not served."""
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for res in resources:
        paths.update(_paths(res))
        for kind in (res.kind, res.list_kind):
            schemas[_schema_name(group, version, kind)] = _schema(group, version, kind)
    return {
        'openapi': '3.0.0', 'info': {'title': 'Kubernetes', 'version': 'v1.32.0'},
        'paths': paths, 'components': {'schemas': schemas},
    }


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


def index(registry: Registry) -> dict[str, Any]:
    """GET /openapi/v3: the group versions, each with the URL of its document."""
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            doc = document(registry, group, version)
            if doc is not None:
                path = _gv_path(group, version)
                paths[path] = {'serverRelativeURL': f'/openapi/v3/{path}?hash={_hash(doc)}'}
    return {'paths': paths}
