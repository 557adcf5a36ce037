"""Helpers the controllers share: time, owner references, pod state, conditions, hashes and status writes."""

from __future__ import annotations

import copy
import datetime
import json
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from .. import errors
from ..resources import ResourceType
from ..store import rfc3339

LOG = logging.getLogger('kubesim.controllers')

Obj = dict[str, Any]

# rand.SafeEncodeString's alphabet (k8s.io/apimachinery/pkg/util/rand): no vowels, no look-alikes.
_SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789'
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


# -- time ----------------------------------------------------------------------------------------


def parse_time(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (as the store writes them), or None."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        try:
            return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()
        except ValueError:
            return None


def stamp(seconds: float) -> str:
    """An RFC 3339 timestamp, second resolution, as metav1.Time serialises."""
    return rfc3339(seconds)


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints whole seconds: 10s, 1m20s, 5m0s."""
    seconds = int(seconds)
    if seconds < 60:
        return f'{seconds}s'
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f'{minutes}m{secs}s'
    hours, minutes = divmod(minutes, 60)
    return f'{hours}h{minutes}m{secs}s'


# -- owner references ----------------------------------------------------------------------------


def controller_ref(owner: Obj) -> Obj:
    """metav1.NewControllerRef: the reference a controller puts on what it creates."""
    return {'apiVersion': owner['apiVersion'], 'kind': owner['kind'], 'name': owner['metadata']['name'],
            'uid': owner['metadata']['uid'], 'controller': True, 'blockOwnerDeletion': True}


def controller_of(obj: Obj) -> Obj | None:
    """metav1.GetControllerOf: the owner reference with controller: true."""
    for ref in obj.get('metadata', {}).get('ownerReferences') or ():
        if ref.get('controller'):
            return ref
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether obj's controller reference points at owner (by uid)."""
    ref = controller_of(obj)
    return ref is not None and ref.get('uid') == owner['metadata']['uid']


def is_deleting(obj: Obj) -> bool:
    """Whether the object has a deletionTimestamp."""
    return bool(obj.get('metadata', {}).get('deletionTimestamp'))


def name_of(obj: Obj) -> str:
    """metadata.name."""
    return obj['metadata']['name']


def namespace_of(obj: Obj) -> str:
    """metadata.namespace ('' for cluster-scoped objects)."""
    return obj['metadata'].get('namespace') or ''


def created_at(obj: Obj) -> float:
    """creationTimestamp as epoch seconds (0 when missing)."""
    return parse_time(obj.get('metadata', {}).get('creationTimestamp')) or 0.0


def by_creation(objs: Iterable[Obj]) -> list[Obj]:
    """Oldest first, then by name (controller.ReplicaSetsByCreationTimestamp and friends)."""
    return sorted(objs, key=lambda o: (created_at(o), name_of(o)))


# -- pods ------------------------------------------------------------------------------------------


def phase(pod: Obj) -> str:
    """status.phase ('' when the pod has no status yet)."""
    return (pod.get('status') or {}).get('phase') or ''


def is_active(pod: Obj) -> bool:
    """controller.IsPodActive: not Succeeded, not Failed, not being deleted."""
    return phase(pod) not in ('Succeeded', 'Failed') and not is_deleting(pod)


def get_condition(status: Obj | None, type_: str) -> Obj | None:
    """The condition of that type in status.conditions, or None."""
    for cond in (status or {}).get('conditions') or ():
        if cond.get('type') == type_:
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    """podutil.IsPodReady: condition Ready is True."""
    cond = get_condition(pod.get('status'), 'Ready')
    return cond is not None and cond.get('status') == 'True'


def is_available(pod: Obj, min_ready_seconds: int | float, now: float) -> bool:
    """podutil.IsPodAvailable: ready, and for at least minReadySeconds (by the Ready condition's lastTransitionTime)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    cond = get_condition(pod.get('status'), 'Ready') or {}
    since = parse_time(cond.get('lastTransitionTime'))
    return since is not None and since + float(min_ready_seconds) <= now


def container_resources(container: Obj) -> tuple[Obj, Obj]:
    """A container's (requests, limits); requests default to limits, as the apiserver defaults pods."""
    resources = container.get('resources') or {}
    limits = dict(resources.get('limits') or {})
    requests = dict(resources.get('requests') or {})
    for name, value in limits.items():
        requests.setdefault(name, value)
    return requests, limits


def qos_class(pod_spec: Obj) -> str:
    """The pod's QoS class, as v1qos.GetPodQOS: Guaranteed, Burstable or BestEffort."""
    containers = list(pod_spec.get('containers') or []) + list(pod_spec.get('initContainers') or [])
    requests_seen = limits_seen = False
    guaranteed = True
    for container in containers:
        requests, limits = container_resources(container)
        requests = {k: v for k, v in requests.items() if k in ('cpu', 'memory')}
        limits = {k: v for k, v in limits.items() if k in ('cpu', 'memory')}
        requests_seen = requests_seen or bool(requests)
        limits_seen = limits_seen or bool(limits)
        if set(limits) != {'cpu', 'memory'} or any(str(requests.get(k)) != str(limits.get(k)) for k in limits):
            guaranteed = False
    if not requests_seen and not limits_seen:
        return 'BestEffort'
    return 'Guaranteed' if guaranteed else 'Burstable'


def pod_template_annotation(obj: Obj, key: str) -> str | None:
    """An annotation of the object."""
    return (obj.get('metadata', {}).get('annotations') or {}).get(key)


# -- conditions ------------------------------------------------------------------------------------


def upsert_condition(conditions: list[Obj], new: Obj, keep_transition_when_same_status: bool = True) -> list[Obj]:
    """Replace the condition of new['type'] (moved to the end, as the workload controllers' SetCondition does).

    The lastTransitionTime of the old condition is kept when its status is unchanged.
    """
    old = next((c for c in conditions if c.get('type') == new['type']), None)
    if old is not None and keep_transition_when_same_status and old.get('status') == new.get('status') and 'lastTransitionTime' in old:
        new = {**new, 'lastTransitionTime': old['lastTransitionTime']}
    return [c for c in conditions if c.get('type') != new['type']] + [new]


def set_metav1_condition(conditions: list[Obj], new: Obj, now: str) -> list[Obj]:
    """apimeta.SetStatusCondition: in place, lastTransitionTime changes only with the status."""
    for index, cond in enumerate(conditions):
        if cond.get('type') == new['type']:
            merged = dict(cond)
            if cond.get('status') != new['status']:
                merged['lastTransitionTime'] = new.get('lastTransitionTime') or now
            for key in ('status', 'reason', 'message', 'observedGeneration'):
                if key in new:
                    merged[key] = new[key]
            conditions[index] = merged
            return conditions
    conditions.append({'lastTransitionTime': now, **new})
    return conditions


# -- numbers ---------------------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool, default: int | str = 0) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int, or a percentage of total rounded up or down."""
    if value is None:
        value = default
    if isinstance(value, bool):
        raise ValueError(f'invalid value for IntOrString: {value!r}')
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value)
    if not text.endswith('%'):
        try:
            return int(text)
        except ValueError as exc:
            raise ValueError(f'invalid value for IntOrString: invalid type: string is not a percentage: {text!r}') from exc
    percent = int(text[:-1])
    exact = percent * total / 100
    return int(math.ceil(exact)) if round_up else int(math.floor(exact))


def int_annotation(obj: Obj, key: str) -> int | None:
    """An integer annotation, or None when missing or not a number."""
    value = pod_template_annotation(obj, key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def drop_zero(status: Obj, *keys: str) -> Obj:
    """Remove fields that Go's `omitempty` leaves out when zero or empty."""
    for key in keys:
        if key in status and status[key] in (0, None, '', [], {}):
            del status[key]
    return status


# -- hashes ----------------------------------------------------------------------------------------


def go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes a map: sorted keys, compact, <, > and & escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
    text = text.replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
    return text.encode('utf-8')


def fnv32a(data: bytes, start: int = _FNV32_OFFSET) -> int:
    """FNV-1a, 32 bits (hash/fnv.New32a)."""
    value = start
    for byte in data:
        value ^= byte
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def fnv32(data: bytes, start: int = _FNV32_OFFSET) -> int:
    """FNV-1, 32 bits (hash/fnv.New32)."""
    value = start
    for byte in data:
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
        value ^= byte
    return value


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each character mapped into the vowel-free alphabet."""
    return ''.join(_SAFE_ALPHANUMS[ord(char) % len(_SAFE_ALPHANUMS)] for char in text)


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """controller.ComputeHash: FNV-32a of the pod template (here its canonical JSON), plus the collision count.

    The real one hashes the Go struct dump; this hashes the JSON, so the values differ
    from a real cluster's but the same template always gives the same hash.
    """
    value = fnv32a(go_json(template))
    if collision_count is not None:
        value = fnv32a(int(collision_count & 0xFFFFFFFF).to_bytes(4, 'little') + bytes(4), value)
    return safe_encode(str(value))


def revision_hash(data: Obj, collision_count: int | None = None) -> str:
    """history.HashControllerRevision: FNV-32 of the revision's raw data, plus the collision count as text."""
    raw = go_json(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32(raw)))


# -- store access ----------------------------------------------------------------------------------


class Controller:
    """A reconcile loop over the simulator's store. Subclasses implement reconcile()."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    @property
    def store(self) -> Any:
        """The simulator's store (looked up each time: a reset may replace it)."""
        return self.sim.store

    @property
    def config(self) -> Any:
        """The simulator's configuration."""
        return self.sim.config

    def res(self, api_version: str, kind: str) -> ResourceType:
        """A resource type the simulator serves."""
        return self.sim.registry.get(api_version, kind)

    def now(self) -> float:
        """The simulator's clock."""
        return float(self.sim.clock())

    def stamp(self) -> str:
        """The current time, RFC 3339."""
        return stamp(self.now())

    def reconcile(self) -> None:  # pragma: no cover - abstract
        """One pass over every object this controller manages."""
        raise NotImplementedError

    def each(self, objs: Iterable[Obj], sync: Callable[[Obj], None]) -> None:
        """Sync each object; an API error (a conflict, an object deleted meanwhile) only skips that object."""
        for obj in objs:
            try:
                sync(obj)
            except errors.ApiError as exc:
                LOG.debug('%s: %s/%s: %s', type(self).__name__, namespace_of(obj), name_of(obj), exc.message)


def write_status(sim: Any, res: ResourceType, obj: Obj, status: Obj) -> Obj:
    """Replace an object's status (no write when unchanged); returns the stored object."""
    current = sim.store.find(res, obj['metadata'].get('namespace'), obj['metadata']['name'])
    if current is None:
        raise errors.not_found(res.group, res.plural, obj['metadata']['name'])
    if current.get('status') == status:
        return current
    current['status'] = copy.deepcopy(status)
    current['metadata'].pop('resourceVersion', None)
    return sim.store.update(res, current, subresource='status')


def modify(sim: Any, res: ResourceType, obj: Obj, change: Callable[[Obj], Any]) -> Obj:
    """Read the object afresh, apply change() to it and write it back (no write when nothing changed)."""
    current = sim.store.find(res, obj['metadata'].get('namespace'), obj['metadata']['name'])
    if current is None:
        raise errors.not_found(res.group, res.plural, obj['metadata']['name'])
    before = copy.deepcopy(current)
    change(current)
    if current == before:
        return before
    current['metadata'].pop('resourceVersion', None)
    return sim.store.update(res, current)
