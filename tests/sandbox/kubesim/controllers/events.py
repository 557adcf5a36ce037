"""core/v1 Events as client-go's record.EventRecorder writes them.

Name `<object>.<UnixNano in hex>`, involvedObject with the object's kind, namespace,
name, uid, apiVersion and resourceVersion, source.component (and host for the
kubelet), first/lastTimestamp and count. Like the recorder's EventCorrelator, a
repeat of an identical event (same object, reason, message, type and source)
increments count and lastTimestamp on the existing Event instead of adding one.
"""

from __future__ import annotations

import weakref
from typing import Any

from .common import Obj, stamp

# Per store: dedup key -> (namespace, event name) of the Event that aggregates it.
_INDEX: weakref.WeakKeyDictionary[Any, dict[tuple, tuple[str, str]]] = weakref.WeakKeyDictionary()


def involved_reference(obj: Obj, field_path: str | None = None) -> Obj:
    """The ObjectReference an event points at (reference.GetReference)."""
    meta = obj.get('metadata', {})
    ref: Obj = {'kind': obj.get('kind', ''), 'name': meta.get('name', ''), 'uid': meta.get('uid', ''),
                'apiVersion': obj.get('apiVersion', ''), 'resourceVersion': meta.get('resourceVersion', '')}
    if meta.get('namespace'):
        ref['namespace'] = meta['namespace']
    if field_path:
        ref['fieldPath'] = field_path
    return ref


def record(sim: Any, involved: Obj, type_: str, reason: str, message: str, component: str,
           host: str | None = None, field_path: str | None = None) -> Obj:
    """Record an event about `involved` (a full object); returns the stored Event.

    type_ is Normal or Warning; component is the reporting component (kubelet,
    default-scheduler, deployment-controller, ...); host the node for kubelet events;
    field_path e.g. `spec.containers{web}` for container events.
    """
    store = sim.store
    events = sim.registry.get('v1', 'Event')
    ref = involved_reference(involved, field_path)
    namespace = ref.get('namespace') or 'default'
    now = float(sim.clock())
    key = (namespace, ref['kind'], ref['name'], ref['uid'], field_path or '', reason, message, type_, component, host or '')
    index = _INDEX.setdefault(store, {})
    known = index.get(key)
    if known is not None:
        existing = store.find(events, known[0], known[1])
        if existing is not None:
            existing['count'] = int(existing.get('count') or 1) + 1
            existing['lastTimestamp'] = stamp(now)
            existing['involvedObject'] = ref
            existing['metadata'].pop('resourceVersion', None)
            return store.update(events, existing)
    source: Obj = {'component': component}
    if host:
        source['host'] = host
    nanos = int(now * 1e9)
    name = f'{ref["name"]}.{nanos:x}'
    while store.find(events, namespace, name) is not None:
        nanos += 1
        name = f'{ref["name"]}.{nanos:x}'
    event = {
        'apiVersion': 'v1', 'kind': 'Event',
        'metadata': {'name': name, 'namespace': namespace},
        'involvedObject': ref,
        'reason': reason, 'message': message, 'type': type_,
        'source': source,
        'firstTimestamp': stamp(now), 'lastTimestamp': stamp(now), 'count': 1,
        'eventTime': None,
        'reportingComponent': component, 'reportingInstance': host or '',
    }
    created = store.create(events, event)
    index[key] = (namespace, name)
    return created


def events_for(sim: Any, obj: Obj) -> list[Obj]:
    """The Events about an object (by uid), oldest first: what `kubectl describe` lists."""
    uid = obj['metadata'].get('uid')
    namespace = obj['metadata'].get('namespace') or 'default'
    found = [e for e in sim.store.items(sim.registry.get('v1', 'Event'), namespace) if e.get('involvedObject', {}).get('uid') == uid]
    return sorted(found, key=lambda e: (e.get('firstTimestamp') or '', e['metadata']['name']))
