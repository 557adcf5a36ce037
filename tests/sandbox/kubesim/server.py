"""kubesim's HTTP API: the aiohttp application kubectl and the kubernetes client talk to.

make_app(sim) serves discovery, OpenAPI v3, the resource API (handlers.py),
metrics.k8s.io, health checks, and kubesim's own admin endpoints under /kubesim/:

    POST  /kubesim/reset    forget every object (a fresh simulator: system namespaces, nodes)
    GET   /kubesim/dump     every object, grouped by resource
    GET   /kubesim/config   the settings (config.Config)
    PATCH /kubesim/config   change some settings (JSON object); a new flavour also resets
    POST  /kubesim/tick     run every controller once, for deterministic tests
    POST  /kubesim/nodes/{name}/kubelet-restart  restart a node's kubelet: NotReady, then Ready at a new version
    POST  /kubesim/namespaces/{namespace}/pods/{name}/log  append lines to a container's log (access logs for the tests)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import json
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from . import discovery, errors, handlers, openapi
from .config import Config
from .errors import ApiError
from .sim import Simulator

LOG = logging.getLogger('kubesim.server')
SIM_KEY = web.AppKey('sim', Simulator)
RANDOM_KEY = web.AppKey('random', random.Random)
ADMIN_PREFIX = '/kubesim/'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FAULTS = {
    429: ('TooManyRequests', 'Too many requests, please try again later. (kubesim injected fault)'),
    500: ('InternalError', 'Internal error occurred: kubesim injected fault'),
    503: ('ServiceUnavailable', 'the server is currently unable to handle the request (kubesim injected fault)'),
    504: ('Timeout', 'Timeout: request did not complete within the allowed duration (kubesim injected fault)'),
}


def _sim(request: web.Request) -> Simulator:
    return request.app[SIM_KEY]


def status_response(error: ApiError) -> web.Response:
    """An ApiError as the apiserver sends it: a Status body with the HTTP code (and Retry-After for 429)."""
    headers = {}
    retry_after = (error.details or {}).get('retryAfterSeconds')
    if retry_after is not None:
        headers['Retry-After'] = str(retry_after)
    return web.json_response(error.status(), status=error.code, headers=headers)


def injected_fault(code: int) -> ApiError:
    """The error answered for an injected fault with HTTP status `code`."""
    try:
        phrase = http.HTTPStatus(code).phrase.replace(' ', '')
    except ValueError:
        phrase = 'InternalError'
    reason, message = _FAULTS.get(code, (phrase, f'kubesim injected fault {code}'))
    details: dict[str, Any] = {'causes': [{'reason': 'KubesimFault', 'message': 'injected by api_fault_rate'}]}
    if code == 429:
        details['retryAfterSeconds'] = 1
    return ApiError(code, reason, message, details)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ApiError becomes its Status; anything unexpected a 500 InternalError (traceback in the log)."""
    try:
        return await handler(request)
    except ApiError as exc:
        return status_response(exc)
    except web.HTTPException:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught  # the client gets a Status, the log the traceback
        LOG.exception('%s %s failed', request.method, request.path_qs)
        return status_response(ApiError(500, 'InternalError', f'Internal error occurred: {type(exc).__name__}: {exc}', {}))


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Added latency and random failures (config.api_*), never for /kubesim/."""
    config = _sim(request).config
    if request.path.startswith(ADMIN_PREFIX) or not request.path.startswith(config.api_fault_path_prefix):
        return await handler(request)
    if config.api_latency_seconds > 0:
        await asyncio.sleep(config.api_latency_seconds)
    rng = request.app[RANDOM_KEY]
    if config.api_fault_rate > 0 and config.api_fault_codes and rng.random() < config.api_fault_rate:
        raise injected_fault(int(rng.choice(config.api_fault_codes)))
    return await handler(request)


# -- discovery, OpenAPI, health -----------------------------------------------------------


def _discovery_response(request: web.Request, legacy: dict[str, Any], core: bool) -> web.Response:
    if discovery.wants_aggregated(request.headers.get('Accept', '')):
        body = discovery.aggregated(_sim(request).registry, core=core)
        # body= rather than text=: aiohttp would append "; charset=utf-8" to the media type parameters.
        return web.Response(body=json.dumps(body).encode(), headers={'Content-Type': discovery.AGGREGATED_CONTENT_TYPE, 'Vary': 'Accept'})
    return web.json_response(legacy, headers={'Vary': 'Accept'})


async def get_version(_request: web.Request) -> web.Response:
    """GET /version."""
    return web.json_response(discovery.VERSION_INFO)


async def health(_request: web.Request) -> web.Response:
    """GET /healthz, /livez, /readyz."""
    return web.Response(text='ok', content_type='text/plain')


async def openapi_index(request: web.Request) -> web.Response:
    """GET /openapi/v3."""
    return web.json_response(openapi.index(_sim(request).registry))


async def openapi_document(request: web.Request) -> web.Response:
    """GET /openapi/v3/api/v1, /openapi/v3/apis/<group>/<version>."""
    parts = request.match_info['path'].strip('/').split('/')
    doc = None
    if parts[0] == 'api' and len(parts) == 2:
        doc = openapi.document(_sim(request).registry, '', parts[1])
    elif parts[0] == 'apis' and len(parts) == 3:
        doc = openapi.document(_sim(request).registry, parts[1], parts[2])
    if doc is None:
        raise handlers.not_found()
    # With ?hash= the document is immutable, which kubectl's cache relies on.
    cache = 'public, immutable' if 'hash' in request.query else 'no-cache, private'
    return web.json_response(doc, headers={'Cache-Control': cache})


async def api(request: web.Request) -> web.StreamResponse:
    """Everything under /api and /apis: discovery documents and the resource API."""
    sim = _sim(request)
    segments = [part for part in request.path.split('/') if part]
    root, rest = segments[0], segments[1:]
    if root == 'api':
        if not rest:
            address = f'{request.host}' if ':' in request.host else f'{request.host}:80'
            return _discovery_response(request, discovery.api_versions(address), core=True)
        group, version, rest = '', rest[0], rest[1:]
    elif root == 'apis':
        if not rest:
            return _discovery_response(request, discovery.api_group_list(sim.registry), core=False)
        if len(rest) == 1:
            return _found(discovery.api_group(sim.registry, rest[0]))
        group, version, rest = rest[0], rest[1], rest[2:]
    else:
        raise handlers.not_found()
    if not rest:
        return _found(discovery.api_resource_list(sim.registry, group, version))
    if not sim.registry.in_group_version(group, version):
        raise handlers.not_found()
    return await handlers.handle(request, sim, group, version, rest)


def _found(body: dict[str, Any] | None) -> web.Response:
    if body is None:
        raise handlers.not_found()
    return web.json_response(body)


async def unknown(_request: web.Request) -> web.Response:
    """Any other path."""
    raise handlers.not_found()


# -- admin -------------------------------------------------------------------------------------


async def admin_reset(request: web.Request) -> web.Response:
    """POST /kubesim/reset."""
    sim = _sim(request)
    sim.reset()
    return web.json_response({'reset': True, 'resourceVersion': str(sim.store.resource_version)})


async def admin_dump(request: web.Request) -> web.Response:
    """GET /kubesim/dump."""
    sim = _sim(request)
    return web.json_response({'resourceVersion': str(sim.store.resource_version), 'objects': sim.store.dump()})


async def admin_get_config(request: web.Request) -> web.Response:
    """GET /kubesim/config."""
    return web.json_response(_sim(request).config.as_dict())


def _check_config_types(config: Config, changes: dict[str, Any]) -> None:
    """400 for a value of the wrong JSON type (an int is a valid float)."""
    for field in dataclasses.fields(config):
        if field.name not in changes:
            continue
        current, value = getattr(config, field.name), changes[field.name]
        if field.default is not dataclasses.MISSING:
            current = field.default  # the declared type, whatever an earlier update stored
        expected: tuple[type, ...] = (list,) if isinstance(current, tuple) else (type(current),)
        if isinstance(current, float):
            expected = (int, float)
        if not isinstance(value, expected) or isinstance(value, bool) != isinstance(current, bool):
            raise errors.bad_request(f'config field {field.name} must be {expected[-1].__name__}, not {json.dumps(value)}')


async def admin_patch_config(request: web.Request) -> web.Response:
    """PATCH /kubesim/config: a partial update; 400 naming unknown fields."""
    sim = _sim(request)
    changes = await handlers.json_body(request)
    _check_config_types(sim.config, changes)
    try:
        sim.config.update(changes)
    except KeyError as exc:
        raise errors.bad_request(f'unknown config fields: {exc.args[0]}') from None
    if sim.registry.flavour != sim.config.flavour:
        sim.reset()  # another flavour serves other resources: a new registry and store
    return web.json_response(sim.config.as_dict())


async def admin_tick(request: web.Request) -> web.Response:
    """POST /kubesim/tick: one synchronous controller pass."""
    sim = _sim(request)
    sim.tick()
    return web.json_response({'resourceVersion': str(sim.store.resource_version), 'controllers': [type(c).__name__ for c in sim.controllers]})


async def admin_kubelet_restart(request: web.Request) -> web.Response:
    """POST /kubesim/nodes/{name}/kubelet-restart {"version": "v1.33.0", "seconds": 1.0}: both optional."""
    sim = _sim(request)
    body = await handlers.json_body(request, required=False)
    if not isinstance(body, dict) or set(body) - {'version', 'seconds'}:
        raise errors.bad_request('kubelet-restart takes a JSON object with "version" (str) and "seconds" (number), both optional')
    version, seconds = body.get('version'), body.get('seconds', 1.0)
    if version is not None and not (isinstance(version, str) and version.startswith('v')):
        raise errors.bad_request(f'version must be a kubelet version such as "v1.33.0", not {json.dumps(version)}')
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise errors.bad_request(f'seconds must be a number of 0 or more, not {json.dumps(seconds)}')
    try:
        return web.json_response(sim.restart_kubelet(request.match_info['name'], version, float(seconds)))
    except KeyError:
        raise errors.not_found('', 'nodes', request.match_info['name']) from None


async def admin_pod_secrets(request: web.Request) -> web.Response:
    """GET /kubesim/pods/{namespace}/{name}/secrets: per container, the Secret values it read at its start (sha256 only)."""
    sim = _sim(request)
    kubelet = next((c for c in sim.controllers if hasattr(c, 'secrets_seen')), None)
    seen = kubelet.secrets_seen(request.match_info['namespace'], request.match_info['name']) if kubelet else None
    if seen is None:
        raise errors.not_found('', 'pods', request.match_info['name'])
    return web.json_response(seen)


async def admin_append_log(request: web.Request) -> web.Response:
    """POST /kubesim/namespaces/{namespace}/pods/{name}/log {"lines": [...], "container": "web", "time": "<RFC 3339>", "previous": false}."""
    sim = _sim(request)
    body = await handlers.json_body(request)
    fields = {'lines', 'container', 'time', 'previous'}
    if not isinstance(body, dict) or set(body) - fields or 'lines' not in body:
        raise errors.bad_request('log takes a JSON object with "lines" (list of str) and optional "container" (str), '
                                 '"time" (RFC 3339) and "previous" (bool)')
    lines, container, when, previous = body['lines'], body.get('container'), body.get('time'), body.get('previous', False)
    if not isinstance(lines, list) or not all(isinstance(line, str) and '\n' not in line for line in lines):
        raise errors.bad_request('lines must be a list of strings without newlines')
    if container is not None and not isinstance(container, str):
        raise errors.bad_request(f'container must be a string, not {json.dumps(container)}')
    if not isinstance(previous, bool):
        raise errors.bad_request(f'previous must be true or false, not {json.dumps(previous)}')
    kubelet = kubelet_module()
    at = None
    if when is not None:
        at = kubelet.parse_time(when) if isinstance(when, str) else None
        if at is None:
            raise errors.bad_request(f'time must be an RFC 3339 timestamp such as "2026-01-03T10:00:00Z", not {json.dumps(when)}')
    return web.json_response(kubelet.append_log(sim, request.match_info['namespace'], request.match_info['name'], container, lines, at, previous))


def kubelet_module() -> Any:
    """The kubelet controller module (logs); 503 when kubesim runs without controllers."""
    kubelet = handlers.controllers_module('kubelet')
    if kubelet is None:
        raise ApiError(503, 'ServiceUnavailable', 'container logs are not available: kubesim runs without its kubelet controller', {})
    return kubelet


# -- the application ------------------------------------------------------------------------------


def _seed() -> int | None:
    text = os.environ.get('KUBESIM_SEED', '')
    return int(text) if text.strip() else None


def make_app(sim: Simulator, run_controllers: bool = False, seed: int | None = None) -> web.Application:
    """The aiohttp application serving `sim`.

    run_controllers: tick the controllers every config.tick_seconds in the background
    (the served simulator does; tests that tick through /kubesim/tick do not).
    seed: for the fault-injection random numbers (default: $KUBESIM_SEED, else unseeded).
    """
    app = web.Application(middlewares=[error_middleware, fault_middleware], client_max_size=64 * 1024 * 1024)
    app[SIM_KEY] = sim
    app[RANDOM_KEY] = random.Random(seed if seed is not None else _seed())
    if run_controllers:
        app.cleanup_ctx.append(_controller_loop)
    app.router.add_get('/version', get_version)
    for path in ('/healthz', '/livez', '/readyz'):
        app.router.add_get(path, health)
    app.router.add_get('/openapi/v3', openapi_index)
    app.router.add_get('/openapi/v3/{path:.+}', openapi_document)
    app.router.add_post('/kubesim/reset', admin_reset)
    app.router.add_get('/kubesim/dump', admin_dump)
    app.router.add_get('/kubesim/config', admin_get_config)
    app.router.add_patch('/kubesim/config', admin_patch_config)
    app.router.add_post('/kubesim/tick', admin_tick)
    app.router.add_post('/kubesim/nodes/{name}/kubelet-restart', admin_kubelet_restart)
    app.router.add_post('/kubesim/namespaces/{namespace}/pods/{name}/log', admin_append_log)
    app.router.add_get('/kubesim/pods/{namespace}/{name}/secrets', admin_pod_secrets)
    for root in ('/api', '/apis'):
        app.router.add_route('*', root, api)
        app.router.add_route('*', root + '/{path:.*}', api)
    app.router.add_route('*', '/{path:.*}', unknown)
    return app


async def _controller_loop(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[SIM_KEY].run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
