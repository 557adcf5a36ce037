"""The simulator's state: objects of every resource, one global resourceVersion, a watch history.

Everything runs on one asyncio event loop (HTTP handlers and controllers), so
the store needs no locks. Objects go in and come out as deep copies: no caller
can change stored state except through create/update/delete, and every such
write bumps the global resourceVersion and publishes a watch event.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import datetime
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from . import errors
from .resources import Registry, ResourceType

# Watch events kept for clients that resume from a resourceVersion.
HISTORY = 20000
# generateName suffix alphabet and length, as the apiserver's names.SimpleNameGenerator.
_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'
_NAME_SUFFIX = 5
# Kinds whose objects carry metadata.generation.
_GENERATION_KINDS = frozenset({
    'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'ReplicationController', 'DeploymentConfig', 'Job', 'CronJob',
    'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress', 'Service', 'PersistentVolumeClaim',
})
SYSTEM_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')

Key = tuple[str, str]  # (namespace or '', name)


def rfc3339(seconds: float) -> str:
    """A timestamp as Kubernetes writes them: 2026-11-22T10:31:02Z."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


@dataclasses.dataclass
class Event:
    """One watch event."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: ResourceType
    object: dict[str, Any]


class Watch:
    """A subscription to the events of one resource (optionally one namespace)."""

    def __init__(self, store: Store, resource: ResourceType, namespace: str | None) -> None:
        self.store = store
        self.resource = resource
        self.namespace = namespace
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def wants(self, event: Event) -> bool:
        """Whether the event is about this watch's resource and namespace."""
        if event.resource != self.resource:
            return False
        return self.namespace is None or event.object['metadata'].get('namespace') == self.namespace

    def close(self) -> None:
        """Stop receiving events."""
        self.store.unwatch(self)


class Store:
    """All objects, by resource and (namespace, name)."""

    def __init__(self, registry: Registry, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.clock = clock
        self._objects: dict[ResourceType, dict[Key, dict[str, Any]]] = {}
        self._revision = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self._watches: list[Watch] = []
        self.reset()

    # -- state -------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out."""
        return self._revision

    def reset(self) -> None:
        """Forget every object and start again with the system namespaces (watches stay open)."""
        self._objects = {res: {} for res in self.registry.resources}
        self._history.clear()
        namespaces = self.registry.get('v1', 'Namespace')
        for name in SYSTEM_NAMESPACES:
            self.create(namespaces, {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}, 'status': {'phase': 'Active'}})

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every object, grouped by `<plural>.<group>`."""
        return {res.qualified: [copy.deepcopy(o) for o in objs.values()] for res, objs in self._objects.items() if objs}

    def now(self) -> str:
        """The current time, RFC 3339."""
        return rfc3339(self.clock())

    # -- reads -------------------------------------------------------------------------

    def find(self, res: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A copy of the object, or None."""
        obj = self._objects[res].get((namespace or '', name))
        return copy.deepcopy(obj) if obj is not None else None

    def get(self, res: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """A copy of the object; 404 when there is none."""
        obj = self.find(res, namespace, name)
        if obj is None:
            raise errors.not_found(res.group, res.plural, name)
        return obj

    def items(self, res: ResourceType, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Copies of the objects of a resource, in one namespace or all, ordered by namespace and name."""
        for key in sorted(self._objects[res]):
            if namespace is None or key[0] == namespace:
                yield copy.deepcopy(self._objects[res][key])

    def dependents(self, owner_uid: str) -> list[tuple[ResourceType, dict[str, Any]]]:
        """Objects with an ownerReference to `owner_uid`."""
        found = []
        for res, objs in self._objects.items():
            for obj in objs.values():
                if any(ref.get('uid') == owner_uid for ref in obj['metadata'].get('ownerReferences', ())):
                    found.append((res, copy.deepcopy(obj)))
        return found

    # -- writes ----------------------------------------------------------------------------

    def create(self, res: ResourceType, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Store a new object: uid, resourceVersion, creationTimestamp, generation; generateName; 409 when it exists."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault('metadata', {})
        obj['apiVersion'], obj['kind'] = res.api_version, res.kind
        if not meta.get('name'):
            prefix = meta.get('generateName')
            if not prefix:
                raise errors.invalid(res.group, res.kind, '', [('metadata.name', 'Required value: name or generateName is required')])
            meta['name'] = self._generate_name(res, meta.get('namespace'), prefix)
        if res.namespaced:
            if not meta.get('namespace'):
                raise errors.bad_request('the namespace of the provided object does not match the namespace sent on the request')
            if self.find(self.registry.get('v1', 'Namespace'), None, meta['namespace']) is None:
                raise errors.not_found('', 'namespaces', meta['namespace'])
        else:
            meta.pop('namespace', None)
        key = (meta.get('namespace', ''), meta['name'])
        if key in self._objects[res]:
            raise errors.already_exists(res.group, res.plural, meta['name'])
        meta['uid'] = str(uuid.uuid4())
        meta['creationTimestamp'] = self.now()
        if res.kind in _GENERATION_KINDS:
            meta['generation'] = 1
        for field in ('resourceVersion', 'deletionTimestamp', 'selfLink'):
            meta.pop(field, None)
        _reset_status_on_create(res, obj)
        if dry_run:
            return obj
        return self._commit(res, key, obj, 'ADDED')

    def update(self, res: ResourceType, obj: dict[str, Any], subresource: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Replace an object (409 on a stale resourceVersion).

        subresource 'status' takes only the status; otherwise the stored status is
        kept for resources that have a status subresource, as the apiserver does.
        generation goes up when anything but metadata and status changed.
        """
        meta = obj.get('metadata') or {}
        namespace = meta.get('namespace') if res.namespaced else None
        current = self.get(res, namespace, meta.get('name', ''))
        sent_version = meta.get('resourceVersion')
        if sent_version and sent_version != current['metadata']['resourceVersion']:
            raise errors.conflict(res.group, res.plural, current['metadata']['name'])
        if subresource == 'status':
            new = copy.deepcopy(current)
            new['status'] = copy.deepcopy(obj.get('status', {}))
        else:
            new = copy.deepcopy(obj)
            new['apiVersion'], new['kind'] = res.api_version, res.kind
            new_meta = new.setdefault('metadata', {})
            for field in ('uid', 'creationTimestamp', 'deletionTimestamp', 'namespace', 'generation'):
                if field in current['metadata']:
                    new_meta[field] = current['metadata'][field]
                else:
                    new_meta.pop(field, None)
            if res.subresource('status') is not None:
                if 'status' in current:
                    new['status'] = current['status']
                else:
                    new.pop('status', None)
            if res.kind in _GENERATION_KINDS and _spec(new) != _spec(current):
                new_meta['generation'] = current['metadata'].get('generation', 1) + 1
        new['metadata']['resourceVersion'] = current['metadata']['resourceVersion']
        if new == current:
            return current  # a no-op write does not bump the resourceVersion
        if dry_run:
            return new
        key = (namespace or '', current['metadata']['name'])
        if new['metadata'].get('deletionTimestamp') and not new['metadata'].get('finalizers'):
            return self._remove(res, key, new)
        return self._commit(res, key, new, 'MODIFIED')

    def delete(self, res: ResourceType, namespace: str | None, name: str, propagation: str = 'Background',
               dry_run: bool = False, uid: str | None = None) -> dict[str, Any]:
        """Delete an object and garbage-collect its dependents.

        Background and Foreground remove the dependents (by ownerReferences) as well;
        Orphan strips the owner reference from them. An object with finalizers only
        gets a deletionTimestamp; the last finalizer removed deletes it.
        uid is the precondition kubectl sends (409 when the object was replaced).
        """
        current = self.get(res, namespace, name)
        if uid and current['metadata']['uid'] != uid:
            raise errors.conflict(res.group, res.plural, name)
        if propagation not in ('Background', 'Foreground', 'Orphan'):
            raise errors.bad_request(f'unsupported propagationPolicy: {propagation}')
        if dry_run:
            return current
        key = (namespace or '', name) if res.namespaced else ('', name)
        if res.kind == 'Namespace':
            # The namespace controller's work, done at once: everything in it goes too.
            for member_res, objects in self._objects.items():
                for member_key in [k for k in objects if member_res.namespaced and k[0] == name]:
                    if member_key in objects:
                        self.delete(member_res, name, member_key[1], 'Background')
        dependents = self.dependents(current['metadata']['uid'])
        if propagation == 'Orphan':
            for dep_res, dep in dependents:
                dep['metadata']['ownerReferences'] = [
                    ref for ref in dep['metadata']['ownerReferences'] if ref.get('uid') != current['metadata']['uid']]
                self.update(dep_res, dep)
        else:
            for dep_res, dep in dependents:
                if self.find(dep_res, dep['metadata'].get('namespace'), dep['metadata']['name']) is not None:
                    self.delete(dep_res, dep['metadata'].get('namespace'), dep['metadata']['name'], 'Background')
        if current['metadata'].get('finalizers'):
            if current['metadata'].get('deletionTimestamp'):
                return current
            current['metadata']['deletionTimestamp'] = self.now()
            current['metadata']['deletionGracePeriodSeconds'] = 0
            return self._commit(res, key, current, 'MODIFIED')
        return self._remove(res, key, current)

    # -- watches ----------------------------------------------------------------------------

    def watch(self, res: ResourceType, namespace: str | None, since: int | None) -> tuple[Watch, list[Event]]:
        """Subscribe; also return the events after resourceVersion `since` (410 when they are no longer kept).

        since None: no history (the caller sends the current objects as ADDED first).
        """
        replay: list[Event] = []
        watch = Watch(self, res, namespace)
        if since is not None and since < self._revision:
            oldest = self._history[0].resource_version if self._history else self._revision + 1
            if since + 1 < oldest:
                raise errors.gone(f'too old resource version: {since} ({oldest - 1})')
            replay = [event for event in self._history if event.resource_version > since and watch.wants(event)]
        self._watches.append(watch)
        return watch, replay

    def unwatch(self, watch: Watch) -> None:
        """End a subscription."""
        if watch in self._watches:
            self._watches.remove(watch)

    # -- internals ------------------------------------------------------------------------------

    def _generate_name(self, res: ResourceType, namespace: str | None, prefix: str) -> str:
        for _attempt in range(100):
            name = prefix + ''.join(secrets.choice(_NAME_ALPHABET) for _index in range(_NAME_SUFFIX))
            if (namespace or '', name) not in self._objects[res]:
                return name
        raise errors.ApiError(500, 'InternalError', f'could not generate a unique name from {prefix!r}')

    def _commit(self, res: ResourceType, key: Key, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        self._revision += 1
        obj['metadata']['resourceVersion'] = str(self._revision)
        self._objects[res][key] = obj
        self._publish(Event(self._revision, event_type, res, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def _remove(self, res: ResourceType, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        self._revision += 1
        del self._objects[res][key]
        obj = copy.deepcopy(obj)
        obj['metadata']['resourceVersion'] = str(self._revision)
        self._publish(Event(self._revision, 'DELETED', res, copy.deepcopy(obj)))
        return obj

    def _publish(self, event: Event) -> None:
        self._history.append(event)
        for watch in self._watches:
            if watch.wants(event):
                watch.queue.put_nowait(event)


def _reset_status_on_create(res: ResourceType, obj: dict[str, Any]) -> None:
    """Status is not the client's to set on create, as in the apiserver's PrepareForCreate strategies.

    Nodes and persistent volumes keep theirs (their status comes from their owners on
    creation); pods start Pending and namespaces Active.
    """
    if res.kind == 'Pod':
        obj['status'] = {'phase': 'Pending'}
    elif res.kind == 'Namespace':
        obj['status'] = {'phase': 'Active'}
    elif res.subresource('status') is not None and res.kind not in ('Node', 'PersistentVolume'):
        obj['status'] = {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that counts towards generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ('metadata', 'status', 'apiVersion', 'kind')}


def random_suffix(length: int = _NAME_SUFFIX) -> str:
    """A suffix from the apiserver's name alphabet, for names controllers make up (pods of a ReplicaSet)."""
    return ''.join(secrets.choice(_NAME_ALPHABET) for _index in range(length))
