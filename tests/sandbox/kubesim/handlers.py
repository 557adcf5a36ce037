"""The resource API: /api/v1/... and /apis/<group>/<version>/... requests against the store.

Paths resolve to a Target (resource type, namespace, name, subresource); the
HTTP method and the `watch` parameter pick the verb, as in the apiserver's
request info resolver.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import importlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from . import errors
from .errors import ApiError
from .patch import PATCH_TYPES, PatchError, UnsupportedPatchType, apply_patch
from .resources import ResourceType, Subresource
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .tables import to_table, wants_table
from .watch import serve_watch

if TYPE_CHECKING:
    from .sim import Simulator

JSON_TYPE = 'application/json'
PROTOBUF_MESSAGE = (
    'the simulator only accepts JSON bodies; kubectl create <kind> sends protobuf — use kubectl apply -f '
    '(kubectl 1.32 does this for create deployment/secret)')
NOT_FOUND_MESSAGE = 'the server could not find the requested resource'
EXEC_MESSAGE = 'pods/{name} is not supported by kubesim (no container runtime)'

Matcher = Callable[[dict[str, Any]], bool]


@dataclasses.dataclass(frozen=True)
class Target:
    """What a resource path names."""

    res: ResourceType
    namespace: str | None  # None: all namespaces (lists and watches) or a cluster-scoped resource
    name: str | None
    subresource: str | None = None

    @property
    def sub(self) -> Subresource | None:
        """The subresource's discovery entry."""
        return self.res.subresource(self.subresource) if self.subresource else None


def not_found() -> ApiError:
    """404 for a path that names no resource."""
    return ApiError(404, 'NotFound', NOT_FOUND_MESSAGE, {})


def method_not_allowed() -> ApiError:
    """405, as the apiserver answers a verb a resource does not support."""
    return ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {})


def resolve(sim: Simulator, group: str, version: str, segments: list[str]) -> Target:
    """Map the path segments after the group version to a Target (404 when nothing matches)."""
    registry = sim.registry
    namespace = None
    if len(segments) >= 3 and segments[0] == 'namespaces':
        res = registry.lookup(group, version, segments[2])
        if res is not None and res.namespaced:
            namespace, segments = segments[1], segments[2:]
    if not segments or len(segments) > 3:
        raise not_found()
    res = registry.lookup(group, version, segments[0])
    if res is None or (namespace is not None and not res.namespaced):
        raise not_found()
    name = segments[1] if len(segments) > 1 else None
    subresource = segments[2] if len(segments) > 2 else None
    if subresource is not None and res.subresource(subresource) is None:
        raise not_found()
    if name is not None and res.namespaced and namespace is None:
        raise not_found()  # /apis/apps/v1/deployments/web names nothing
    return Target(res, namespace, name, subresource)


# -- request parts --------------------------------------------------------------------


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: true/1 (kubectl) or True (the Python client)."""
    return request.query.get(name, '').lower() in ('true', '1')


def int_param(request: web.Request, name: str) -> int | None:
    """An integer query parameter, or None; 400 when it is not a number."""
    value = request.query.get(name)
    if value in (None, ''):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None


def dry_run(request: web.Request, options: dict[str, Any] | None = None) -> bool:
    """Whether the request asks for dryRun=All (query or DeleteOptions); 400 for other values."""
    values = request.query.getall('dryRun', []) + list((options or {}).get('dryRun') or [])
    for value in values:
        if value != 'All':
            raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


async def raw_body(request: web.Request) -> bytes:
    """The request body; 415 for protobuf, which kubesim does not decode."""
    if request.content_type.startswith('application/vnd.kubernetes.protobuf'):
        raise errors.unsupported_media_type(PROTOBUF_MESSAGE)
    return await request.read()


async def json_body(request: web.Request, required: bool = True) -> dict[str, Any]:
    """The request body as an object: JSON, or YAML (application/yaml)."""
    raw = await raw_body(request)
    if not raw.strip():
        if required:
            raise errors.bad_request('the request body is empty; an object was expected')
        return {}
    try:
        if request.content_type in ('application/yaml', 'application/x-yaml'):
            body = yaml.safe_load(raw)
        else:
            body = json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"couldn't decode the request body as {request.content_type or JSON_TYPE}: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request(f'the request body must be an object, not {type(body).__name__}')
    return body


def selector_matcher(request: web.Request, res: ResourceType, name: str | None = None) -> tuple[Matcher, bool]:
    """A predicate for labelSelector/fieldSelector (400 for a bad or unsupported one), and whether any was given."""
    try:
        labels = parse_label_selector(request.query.get('labelSelector', ''))
        fields = parse_field_selector(request.query.get('fieldSelector', ''), set(res.field_selectors))
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from None

    def matches(obj: dict[str, Any]) -> bool:
        meta = obj.get('metadata') or {}
        if name is not None and meta.get('name') != name:
            return False
        return labels.matches(meta.get('labels') or {}) and fields.matches(obj)

    filtered = bool(request.query.get('labelSelector') or request.query.get('fieldSelector') or name)
    return matches, filtered


def respond(obj: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.json_response(obj, status=status)


def _check_identity(target: Target, body: dict[str, Any]) -> dict[str, Any]:
    """Fill in the namespace from the URL and refuse a body of another kind, name or namespace."""
    res = target.res
    api_version, kind = body.get('apiVersion'), body.get('kind')
    if api_version and api_version != res.api_version:
        raise errors.bad_request(f'the API version in the data ({api_version}) does not match the expected API version ({res.api_version})')
    if kind and kind != res.kind:
        raise errors.bad_request(f'the kind in the data ({kind}) does not match the expected kind ({res.kind})')
    meta = body.get('metadata')
    if meta is None:
        meta = body['metadata'] = {}
    if not isinstance(meta, dict):
        raise errors.bad_request('metadata must be an object')
    if res.namespaced:
        if meta.get('namespace') and meta['namespace'] != target.namespace:
            raise errors.bad_request('the namespace of the provided object does not match the namespace sent on the request')
        meta['namespace'] = target.namespace
    if target.name is not None and meta.get('name') != target.name:
        raise errors.bad_request(f'the name of the object ({meta.get("name")}) does not match the name on the URL ({target.name})')
    return body


def controllers_module(name: str) -> Any:
    """A controllers submodule, or None while the controllers package does not exist."""
    full = f'{__package__}.controllers.{name}'
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name not in (full, f'{__package__}.controllers'):
            raise
        return None


def prepare_write(res: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the apiserver stores it on create, replace and patch: converted, then defaulted (controllers.defaults).

    The conversion: a Secret's stringData is merged into its data, base64-encoded, and
    is never stored (v1 conversion); its type defaults to Opaque.
    """
    if res.kind == 'Secret' and not res.group:
        string_data = obj.pop('stringData', None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get('data') or {}
            data.update({key: base64.b64encode(str(value).encode()).decode() for key, value in string_data.items()})
            obj['data'] = data
        obj.setdefault('type', 'Opaque')
    defaults = controllers_module('defaults')
    return defaults.apply_defaults(res.kind, obj) if defaults is not None else obj


# -- dispatch -----------------------------------------------------------------------------


async def handle(request: web.Request, sim: Simulator, group: str, version: str, segments: list[str]) -> web.StreamResponse:
    """Serve one resource request."""
    target = resolve(sim, group, version, segments)
    if target.res.group == 'metrics.k8s.io':
        return await _metrics(request, sim, target)
    if target.subresource is not None:
        return await _subresource(request, sim, target)
    method = request.method
    if target.name is None:
        if method == 'GET':
            if flag(request, 'watch'):
                return await _watch(request, sim, target)
            return _list(request, sim, target)
        if method == 'POST' and (target.namespace is not None or not target.res.namespaced):
            return await _create(request, sim, target)
        if method == 'DELETE':
            return await _delete_collection(request, sim, target)
        raise method_not_allowed()
    if method == 'GET':
        if flag(request, 'watch'):
            return await _watch(request, sim, target)
        _require(target.res, 'get')
        return respond(_maybe_table(request, sim, target, sim.store.get(target.res, target.namespace, target.name)))
    if method == 'PUT':
        return await _update(request, sim, target)
    if method == 'PATCH':
        return await _patch(request, sim, target)
    if method == 'DELETE':
        return await _delete(request, sim, target)
    raise method_not_allowed()


def _require(res: ResourceType, verb: str) -> None:
    if verb not in res.verbs:
        raise method_not_allowed()


def _maybe_table(request: web.Request, sim: Simulator, target: Target, obj: dict[str, Any]) -> dict[str, Any]:
    if wants_table(request.headers.get('Accept', '')):
        return to_table(target.res, [obj], None, request.query.get('includeObject', 'Metadata'), sim.clock())
    return obj


# -- collection verbs --------------------------------------------------------------------


def _encode_continue(resource_version: int, key: tuple[str, str]) -> str:
    token = {'v': 'meta.k8s.io/v1', 'rv': resource_version, 'start': f'{key[0]}/{key[1]}\x00'}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        start = json.loads(base64.urlsafe_b64decode(token.encode()))['start']
        namespace, _sep, name = start.rstrip('\x00').partition('/')
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request(f'continue key is not valid: {token}') from None
    return namespace, name


def select(request: web.Request, sim: Simulator, target: Target) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The objects a list request asks for (selectors, limit, continue) and the list metadata."""
    matches, filtered = selector_matcher(request, target.res)
    limit = int_param(request, 'limit') or 0
    token = request.query.get('continue')
    after = _decode_continue(token) if token else None
    items: list[dict[str, Any]] = []
    meta: dict[str, Any] = {'resourceVersion': str(sim.store.resource_version)}
    remaining = 0
    for obj in sim.store.items(target.res, target.namespace):
        key = (obj['metadata'].get('namespace', ''), obj['metadata']['name'])
        if after is not None and key <= after or not matches(obj):
            continue
        if limit and len(items) >= limit:
            remaining += 1
            continue
        items.append(obj)
    if remaining:
        last = items[-1]['metadata']
        meta['continue'] = _encode_continue(sim.store.resource_version, (last.get('namespace', ''), last['name']))
        if not filtered:
            meta['remainingItemCount'] = remaining
    return items, meta


def _list(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    _require(target.res, 'list')
    items, meta = select(request, sim, target)
    if wants_table(request.headers.get('Accept', '')):
        return respond(to_table(target.res, items, meta, request.query.get('includeObject', 'Metadata'), sim.clock()))
    return respond({'kind': target.res.list_kind, 'apiVersion': target.res.api_version, 'metadata': meta, 'items': items})


async def _watch(request: web.Request, sim: Simulator, target: Target) -> web.StreamResponse:
    _require(target.res, 'watch')
    matches, _filtered = selector_matcher(request, target.res, target.name)
    return await serve_watch(request, sim, target.res, target.namespace, matches)


async def _create(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    _require(target.res, 'create')
    body = prepare_write(target.res, _check_identity(target, await json_body(request)))
    return respond(sim.store.create(target.res, body, dry_run=dry_run(request)), 201)


async def _delete_collection(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    _require(target.res, 'deletecollection')
    options = await _delete_options(request)
    items, _meta = select(request, sim, target)
    deleted = []
    for obj in items:
        meta = obj['metadata']
        if sim.store.find(target.res, meta.get('namespace'), meta['name']) is not None:  # gone with an owner deleted before it
            deleted.append(sim.store.delete(target.res, meta.get('namespace'), meta['name'], options['propagation'], dry_run=options['dry_run']))
    meta = {'resourceVersion': str(sim.store.resource_version)}
    return respond({'kind': target.res.list_kind, 'apiVersion': target.res.api_version, 'metadata': meta, 'items': deleted})


# -- object verbs --------------------------------------------------------------------------


def admit(sim: Simulator, res: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """Admission of an update (controllers.volumes: PersistentVolumeClaim resize); returns obj or raises the ApiError."""
    volumes = controllers_module('volumes')
    if volumes is not None:
        volumes.admit(sim, res.kind, obj)
    return obj


async def _update(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    _require(target.res, 'update')
    body = admit(sim, target.res, prepare_write(target.res, _check_identity(target, await json_body(request))))
    return respond(sim.store.update(target.res, body, dry_run=dry_run(request)))


async def patched(request: web.Request, target: Target, load: Callable[[], dict[str, Any]], kind: str) -> dict[str, Any]:
    """The object `load` returns with the request's patch applied.

    415 for a patch type kubesim does not apply (checked before the object is
    looked up, so server-side apply of a missing object says why it fails), 400
    for a body that is not JSON, 422 for a patch that does not apply.
    """
    raw = await raw_body(request)
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    try:
        if request.content_type not in PATCH_TYPES:
            apply_patch({}, {}, request.content_type, kind)  # raises UnsupportedPatchType, worded by patch.py
        result = apply_patch(load(), raw if body is None else body, request.content_type, kind)
    except UnsupportedPatchType as exc:
        raise errors.unsupported_media_type(str(exc)) from None
    except PatchError as exc:
        if body is None:
            raise errors.bad_request(str(exc)) from None
        # kubectl shows an Invalid error's causes, not its message.
        name = target.name or ''
        raise ApiError(422, 'Invalid', f'{kind} "{name}" is invalid: patch: {exc}',
                       {'name': name, 'group': target.res.group, 'kind': kind,
                        'causes': [{'reason': 'FieldValueInvalid', 'message': str(exc), 'field': 'patch'}]}) from None
    return result


def _loader(sim: Simulator, target: Target) -> Callable[[], dict[str, Any]]:
    return lambda: sim.store.get(target.res, target.namespace, target.name or '')


async def _patch(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    _require(target.res, 'patch')
    new = admit(sim, target.res, prepare_write(target.res, _check_identity(target, await patched(request, target, _loader(sim, target), target.res.kind))))
    # A resourceVersion in the patch stays in `new` and makes store.update a compare-and-swap.
    return respond(sim.store.update(target.res, new, dry_run=dry_run(request)))


async def _delete_options(request: web.Request) -> dict[str, Any]:
    body = await json_body(request, required=False)
    propagation = body.get('propagationPolicy') or request.query.get('propagationPolicy')
    orphan = body.get('orphanDependents', request.query.get('orphanDependents', '').lower() == 'true')
    preconditions = body.get('preconditions') or {}
    return {
        'propagation': propagation or ('Orphan' if orphan else 'Background'),
        'dry_run': dry_run(request, body),
        'uid': preconditions.get('uid'),
        'resource_version': preconditions.get('resourceVersion'),
    }


async def _delete(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    _require(target.res, 'delete')
    options = await _delete_options(request)
    name = target.name or ''
    if options['resource_version']:
        current = sim.store.get(target.res, target.namespace, name)
        if current['metadata']['resourceVersion'] != options['resource_version']:
            raise errors.conflict(target.res.group, target.res.plural, name)
    obj = sim.store.delete(target.res, target.namespace, name, options['propagation'], dry_run=options['dry_run'], uid=options['uid'])
    # 202 while the object waits for its finalizers, as the apiserver answers.
    still_there = not options['dry_run'] and sim.store.find(target.res, target.namespace, name) is not None
    return respond(obj, 202 if still_there else 200)


# -- subresources ------------------------------------------------------------------------------


async def _subresource(request: web.Request, sim: Simulator, target: Target) -> web.StreamResponse:
    sub = target.sub
    assert sub is not None and target.name is not None
    verb = {'GET': 'get', 'PUT': 'update', 'PATCH': 'patch', 'POST': 'create'}.get(request.method)
    if verb is None or verb not in sub.verbs:
        raise method_not_allowed()
    name = sub.name
    if name == 'status':
        return await _status(request, sim, target, verb)
    if name == 'scale':
        return await _scale(request, sim, target, verb)
    if name == 'eviction':
        return await _eviction(request, sim, target)
    if name == 'log':
        return _log(request, sim, target)
    if name in ('exec', 'attach', 'portforward'):
        raise errors.bad_request(EXEC_MESSAGE.format(name=name))
    raise errors.bad_request(f'{target.res.plural}/{name} is not supported by kubesim')


async def _status(request: web.Request, sim: Simulator, target: Target, verb: str) -> web.Response:
    res, name = target.res, target.name or ''
    if verb == 'get':
        return respond(sim.store.get(res, target.namespace, name))
    if verb == 'update':
        body = _check_identity(target, await json_body(request))
    else:
        body = _check_identity(target, await patched(request, target, _loader(sim, target), res.kind))
    return respond(sim.store.update(res, body, subresource='status', dry_run=dry_run(request)))


def selector_string(selector: Any) -> str:
    """A label selector (LabelSelector or a plain map, as ReplicationControllers have) in its string form."""
    if not isinstance(selector, dict):
        return ''
    if 'matchLabels' not in selector and 'matchExpressions' not in selector:
        selector = {'matchLabels': selector}
    parts = [f'{key}={value}' for key, value in sorted((selector.get('matchLabels') or {}).items())]
    for expr in selector.get('matchExpressions') or ():
        key, operator, values = expr.get('key'), expr.get('operator'), ','.join(sorted(expr.get('values') or ()))
        parts.append({'In': f'{key} in ({values})', 'NotIn': f'{key} notin ({values})', 'Exists': key, 'DoesNotExist': f'!{key}'}.get(operator, ''))
    return ','.join(part for part in parts if part)


def _scale_of(target: Target, obj: dict[str, Any]) -> dict[str, Any]:
    sub = target.sub
    assert sub is not None
    meta = obj['metadata']
    spec, status = obj.get('spec') or {}, obj.get('status') or {}
    scale: dict[str, Any] = {
        'kind': 'Scale', 'apiVersion': f'{sub.group}/{sub.version}',
        'metadata': {key: meta[key] for key in ('name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp') if key in meta},
        'spec': {'replicas': spec.get('replicas', 1)},
        'status': {'replicas': status.get('replicas', 0), 'selector': selector_string(spec.get('selector'))},
    }
    if sub.group == 'extensions':
        # extensions/v1beta1 Scale (OpenShift's DeploymentConfigs): a map selector plus the string form.
        selector = spec.get('selector') or {}
        scale['status'] = {'replicas': status.get('replicas', 0), 'selector': selector.get('matchLabels', selector),
                           'targetSelector': selector_string(selector)}
    return scale


async def _scale(request: web.Request, sim: Simulator, target: Target, verb: str) -> web.Response:
    res, name = target.res, target.name or ''
    if verb == 'get':
        return respond(_scale_of(target, sim.store.get(res, target.namespace, name)))
    if verb == 'update':
        scale = await json_body(request)
    else:
        scale = await patched(request, target, lambda: _scale_of(target, sim.store.get(res, target.namespace, name)), 'Scale')
    current = sim.store.get(res, target.namespace, name)
    replicas = (scale.get('spec') or {}).get('replicas', 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError(422, 'Invalid', f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: '
                       'must be greater than or equal to 0',
                       {'name': name, 'group': 'autoscaling', 'kind': 'Scale',
                        'causes': [{'reason': 'FieldValueInvalid', 'message': 'must be greater than or equal to 0', 'field': 'spec.replicas'}]})
    sent_version = (scale.get('metadata') or {}).get('resourceVersion')
    if sent_version:
        current['metadata']['resourceVersion'] = sent_version
    current.setdefault('spec', {})['replicas'] = replicas
    return respond(_scale_of(target, sim.store.update(res, current, dry_run=dry_run(request))))


async def _eviction(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    name = target.name or ''
    eviction = await json_body(request)
    kind, api_version = eviction.get('kind'), eviction.get('apiVersion')
    if kind not in (None, 'Eviction') or api_version not in (None, 'policy/v1', 'policy/v1beta1'):
        raise errors.bad_request(f'the body must be a policy/v1 Eviction, not {api_version} {kind}')
    if (eviction.get('metadata') or {}).get('name', name) != name:
        raise errors.bad_request('name in URL does not match name in Eviction object')
    sim.store.get(target.res, target.namespace, name)  # 404 for a missing pod
    if not dry_run(request, eviction.get('deleteOptions')):
        disruption = controllers_module('disruption')
        if disruption is None:
            sim.store.delete(target.res, target.namespace, name)  # no PodDisruptionBudget logic without the controllers
        else:
            disruption.evict(sim, target.namespace or '', name, eviction)
    return respond({'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Success', 'code': 201}, 201)


def _log(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    name = target.name or ''
    kubelet = controllers_module('kubelet')
    if kubelet is None:
        sim.store.get(target.res, target.namespace, name)
        raise errors.bad_request(f'container logs of pod "{name}" are not available: kubesim runs without its kubelet controller')
    text = kubelet.pod_log(sim, target.namespace or '', name, request.query.get('container') or None, flag(request, 'previous'),
                           int_param(request, 'tailLines'), since_seconds=int_param(request, 'sinceSeconds'),
                           since_time=request.query.get('sinceTime') or None, timestamps=flag(request, 'timestamps'))
    return web.Response(text=text, content_type='text/plain')


# -- metrics.k8s.io ---------------------------------------------------------------------------------


async def _metrics(request: web.Request, sim: Simulator, target: Target) -> web.Response:
    if request.method != 'GET' or flag(request, 'watch') or target.subresource is not None:
        raise method_not_allowed()
    metrics = controllers_module('metrics')
    if metrics is None:
        raise ApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', {})
    if target.res.kind == 'PodMetrics':
        items = metrics.pod_metrics(sim, target.namespace, target.name)
    else:
        items = metrics.node_metrics(sim, target.name)
    if target.name is not None:
        if not items:
            key = f'{target.namespace}/{target.name}' if target.namespace else target.name
            raise ApiError(404, 'NotFound', f'{target.res.kind.lower()}.metrics.k8s.io "{key}" not found',
                           {'name': target.name, 'group': 'metrics.k8s.io', 'kind': target.res.plural})
        return respond(items[0])
    matches, _filtered = selector_matcher(request, target.res)
    meta = {'resourceVersion': ''}
    return respond({'kind': target.res.list_kind, 'apiVersion': target.res.api_version, 'metadata': meta, 'items': [i for i in items if matches(i)]})
