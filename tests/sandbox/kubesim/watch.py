"""Watch streams: newline-delimited JSON events over a chunked response, as the apiserver sends them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors
from .errors import ApiError
from .resources import ResourceType
from .store import Event
from .tables import TableStream, wants_table

if TYPE_CHECKING:
    from .sim import Simulator

LOG = logging.getLogger('kubesim.watch')
# Without timeoutSeconds the apiserver closes a watch after 30 to 60 minutes.
DEFAULT_TIMEOUT = 1800.0
BOOKMARK_SECONDS = 10.0
# How often an idle watch checks that its client is still connected.
POLL_SECONDS = 1.0
INITIAL_EVENTS_END = 'k8s.io/initial-events-end'

Key = tuple[str, str]


def _key(obj: dict[str, Any]) -> Key:
    return obj['metadata'].get('namespace', ''), obj['metadata']['name']


def translate(event: Event, matches: Callable[[dict[str, Any]], bool], known: set[Key]) -> str | None:
    """The event type a filtered watch reports, or None to skip the event.

    As the apiserver's watch cache does: an object modified into the selector is
    ADDED for this watch, one modified out of it is DELETED.
    """
    key = _key(event.object)
    matching = matches(event.object)
    if event.type == 'DELETED':
        if key in known or matching:
            known.discard(key)
            return 'DELETED'
        return None
    if matching:
        kind = 'MODIFIED' if key in known and event.type == 'MODIFIED' else 'ADDED'
        known.add(key)
        return kind
    if key in known:
        known.discard(key)
        return 'DELETED'
    return None


class _Stream:
    """One watch response being written."""

    def __init__(self, request: web.Request, res: ResourceType, clock: Callable[[], float]) -> None:
        self.request = request
        self.res = res
        self.response = web.StreamResponse(headers={'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private'})
        self.response.enable_chunked_encoding()
        accept = request.headers.get('Accept', '')
        self.table = TableStream(res, request.query.get('includeObject', 'Metadata'), clock) if wants_table(accept) else None

    async def start(self) -> None:
        """Send the status line and headers."""
        await self.response.prepare(self.request)

    async def send(self, event_type: str, obj: dict[str, Any]) -> None:
        """Write one event (as a Table row when the client asked for tables)."""
        if self.table is not None and event_type in ('ADDED', 'MODIFIED', 'DELETED'):
            obj = self.table.render(obj)
        await self.response.write(json.dumps({'type': event_type, 'object': obj}).encode() + b'\n')

    async def bookmark(self, resource_version: int, initial_end: bool = False) -> None:
        """A BOOKMARK event: the resourceVersion the client has seen everything up to."""
        meta: dict[str, Any] = {'resourceVersion': str(resource_version)}
        if initial_end:
            meta['annotations'] = {INITIAL_EVENTS_END: 'true'}
        await self.send('BOOKMARK', {'kind': self.res.kind, 'apiVersion': self.res.api_version, 'metadata': meta})

    def disconnected(self) -> bool:
        """Whether the client went away."""
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def finish(self) -> None:
        """End the chunked body."""
        with contextlib.suppress(ConnectionError):
            await self.response.write_eof()


def _since(request: web.Request) -> int | None:
    """The resourceVersion to resume after, or None to start with the current objects."""
    text = request.query.get('resourceVersion', '')
    if text in ('', '0') or request.query.get('sendInitialEvents', '').lower() == 'true':
        return None
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f'resourceVersion: Invalid value: "{text}": must be a non-negative integer') from None


def _timeout(request: web.Request) -> float:
    text = request.query.get('timeoutSeconds', '')
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise errors.bad_request(f'timeoutSeconds: Invalid value: "{text}": must be a number') from None


async def serve_watch(request: web.Request, sim: Simulator, res: ResourceType, namespace: str | None,
                      matches: Callable[[dict[str, Any]], bool]) -> web.StreamResponse:
    """Stream the events of `res` (in `namespace`, or all) that `matches` accepts, until timeoutSeconds or the client leaves."""
    since, timeout = _since(request), _timeout(request)
    bookmarks = request.query.get('allowWatchBookmarks', '').lower() in ('true', '1')
    initial_end = request.query.get('sendInitialEvents', '').lower() == 'true'
    stream = _Stream(request, res, sim.clock)
    store = sim.store
    try:
        watch, replay = store.watch(res, namespace, since)
    except ApiError as exc:
        if exc.code != 410:
            raise
        # The apiserver reports an expired resourceVersion inside a started stream, as an ERROR event.
        await stream.start()
        await stream.send('ERROR', exc.status())
        await stream.finish()
        return stream.response
    # Taken before the first await, so that no event is both in `current` and in the queue.
    current = [obj for obj in store.items(res, namespace) if matches(obj)]
    started_at = store.resource_version
    known = {_key(obj) for obj in current}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await stream.start()
        if since is None:
            for obj in current:
                await stream.send('ADDED', obj)
            if initial_end:
                await stream.bookmark(started_at, initial_end=True)
        else:
            for event in replay:
                kind = translate(event, matches, known)
                if kind is not None:
                    await stream.send(kind, event.object)
        next_bookmark = loop.time() + BOOKMARK_SECONDS
        while not stream.disconnected():
            now = loop.time()
            if now >= deadline:
                break
            if bookmarks and now >= next_bookmark:
                await stream.bookmark(store.resource_version)
                next_bookmark = now + BOOKMARK_SECONDS
            try:
                event = await asyncio.wait_for(watch.queue.get(), timeout=min(deadline - now, POLL_SECONDS))
            except asyncio.TimeoutError:
                continue
            kind = translate(event, matches, known)
            if kind is not None:
                await stream.send(kind, event.object)
        await stream.finish()
    except ConnectionError:
        pass  # the client went away
    except Exception as exc:  # pylint: disable=broad-exception-caught  # the status line is sent: report in the stream, as the apiserver does
        LOG.exception('watch of %s failed', res.qualified)
        with contextlib.suppress(ConnectionError):
            await stream.send('ERROR', ApiError(500, 'InternalError', f'Internal error occurred: {type(exc).__name__}: {exc}', {}).status())
            await stream.finish()
    finally:
        watch.close()
    return stream.response
