"""API discovery documents as kube-apiserver 1.32 serves them: /version, /api, /apis and per group version.

Two forms: the legacy one (APIVersions, APIGroupList, APIResourceList) that the
Python kubernetes client reads, and aggregated discovery (apidiscovery.k8s.io/v2
APIGroupDiscoveryList) that kubectl 1.32 asks for first, getting every group's
resources in two requests instead of one per group version.
"""

from __future__ import annotations

from typing import Any

from .resources import Registry, ResourceType

VERSION_INFO = {
    'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0', 'gitCommit': '70d3cc986aa8221cd1dfb1121852688902d3bf53',
    'gitTreeState': 'clean', 'buildDate': '2024-12-11T17:59:15Z', 'goVersion': 'go1.23.3', 'compiler': 'gc', 'platform': 'linux/amd64',
}
AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'


def wants_aggregated(accept: str) -> bool:
    """Whether an Accept header asks for apidiscovery.k8s.io/v2 APIGroupDiscoveryList.

    kubectl lists that first and plain application/json after it; the first
    acceptable entry wins, as in the apiserver's content negotiation.
    """
    for entry in accept.split(','):
        params = dict(_media_params(entry))
        media = entry.split(';', 1)[0].strip()
        if media in ('application/json', '*/*', 'application/*') and 'as' not in params:
            return False
        if params.get('g') == 'apidiscovery.k8s.io' and params.get('v') == 'v2' and params.get('as') == 'APIGroupDiscoveryList':
            return True
    return False


def _media_params(entry: str) -> list[tuple[str, str]]:
    pairs = []
    for part in entry.split(';')[1:]:
        key, _sep, value = part.partition('=')
        pairs.append((key.strip(), value.strip()))
    return pairs


def _group_version(group: str, version: str) -> dict[str, str]:
    return {'groupVersion': f'{group}/{version}' if group else version, 'version': version}


def api_versions(server_address: str) -> dict[str, Any]:
    """GET /api."""
    return {'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0', 'serverAddress': server_address}]}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    """GET /apis/<group>: an APIGroup, or None when the group is not served."""
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    entries = [_group_version(group, version) for version in versions]
    return {'kind': 'APIGroup', 'apiVersion': 'v1', 'name': group, 'versions': entries, 'preferredVersion': entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    """GET /apis."""
    groups = [api_group(registry, group) for group in registry.group_versions() if group]
    return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': [{k: v for k, v in g.items() if k not in ('kind', 'apiVersion')} for g in groups if g]}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """GET /api/v1 or /apis/<group>/<version>: an APIResourceList, or None when not served."""
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    entries = [entry for res in resources for entry in res.discovery()]
    return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': _group_version(group, version)['groupVersion'], 'resources': entries}


def _aggregated_resource(res: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        'resource': res.plural,
        'responseKind': {'group': res.group, 'version': res.version, 'kind': res.kind},
        'scope': 'Namespaced' if res.namespaced else 'Cluster',
        'singularResource': res.singular,
        'verbs': list(res.verbs),
    }
    if res.short_names:
        entry['shortNames'] = list(res.short_names)
    if res.categories:
        entry['categories'] = list(res.categories)
    subresources = []
    for sub in res.subresources:
        kind = {'group': res.group if sub.group is None else sub.group, 'version': sub.version or res.version, 'kind': sub.kind}
        subresources.append({'subresource': sub.name, 'responseKind': kind, 'verbs': list(sub.verbs)})
    if subresources:
        entry['subresources'] = subresources
    return entry


def aggregated(registry: Registry, core: bool) -> dict[str, Any]:
    """GET /api (core=True) or /apis with Accept asking for apidiscovery.k8s.io/v2 APIGroupDiscoveryList."""
    items = []
    for group, versions in registry.group_versions().items():
        if (group == '') != core:
            continue
        items.append({
            'metadata': {'name': group, 'creationTimestamp': None} if group else {'creationTimestamp': None},
            'versions': [
                {'version': version, 'resources': [_aggregated_resource(res) for res in registry.in_group_version(group, version)], 'freshness': 'Current'}
                for version in versions],
        })
    return {'kind': 'APIGroupDiscoveryList', 'apiVersion': 'apidiscovery.k8s.io/v2', 'metadata': {}, 'items': items}
