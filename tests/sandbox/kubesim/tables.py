"""Server-side printing: meta.k8s.io/v1 Table, which `kubectl get` asks for.

kubectl prints whatever columns the server sends; without a Table it falls back
to NAME and AGE. The common kinds get the columns kube-apiserver gives them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from .resources import ResourceType

# (name, type, priority): priority 1 columns show only with -o wide.
Column = tuple[str, str, int]


def wants_table(accept: str) -> bool:
    """Whether the Accept header's first choice is a meta.k8s.io Table."""
    first = accept.split(',', 1)[0]
    params = {part.split('=', 1)[0].strip(): part.split('=', 1)[-1].strip() for part in first.split(';')[1:]}
    return params.get('as') == 'Table' and params.get('g') == 'meta.k8s.io'


def human_duration(seconds: float) -> str:
    """An age as kubectl prints it (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    secs = int(seconds)
    if secs < -1:
        return '<invalid>'
    if secs < 0:
        return '0s'
    if secs < 120:
        return f'{secs}s'
    minutes = secs // 60
    if minutes < 10:
        return f'{minutes}m{secs % 60}s' if secs % 60 else f'{minutes}m'
    if minutes < 180:
        return f'{minutes}m'
    hours = minutes // 60
    if hours < 8:
        return f'{hours}h{minutes % 60}m' if minutes % 60 else f'{hours}h'
    if hours < 48:
        return f'{hours}h'
    if hours < 192:
        return f'{hours // 24}d{hours % 24}h' if hours % 24 else f'{hours // 24}d'
    days = hours // 24
    if days < 730:
        return f'{days}d'
    if days < 2920:
        return f'{days // 365}y{days % 365}d' if days % 365 else f'{days // 365}y'
    return f'{days // 365}y'


def _since(stamp: str | None, now: float) -> str:
    if not stamp:
        return '<unknown>'
    then = datetime.datetime.strptime(stamp[:19], '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc).timestamp()
    return human_duration(now - then)


def _pod_status(pod: dict[str, Any]) -> str:
    status = pod.get('status') or {}
    reason = status.get('reason') or status.get('phase') or 'Unknown'
    for container in status.get('containerStatuses') or ():
        state = container.get('state') or {}
        if state.get('waiting', {}).get('reason'):
            reason = state['waiting']['reason']
        elif state.get('terminated', {}).get('reason'):
            reason = state['terminated']['reason']
    if (pod.get('metadata') or {}).get('deletionTimestamp'):
        reason = 'Terminating'
    return reason


def _pod_row(pod: dict[str, Any]) -> dict[str, Any]:
    spec, status = pod.get('spec') or {}, pod.get('status') or {}
    containers = status.get('containerStatuses') or []
    ready = sum(1 for c in containers if c.get('ready'))
    return {
        'Ready': f'{ready}/{len(spec.get("containers") or [])}', 'Status': _pod_status(pod),
        'Restarts': sum(int(c.get('restartCount', 0)) for c in containers), 'IP': status.get('podIP') or '<none>',
        'Node': spec.get('nodeName') or '<none>', 'Nominated Node': status.get('nominatedNodeName') or '<none>', 'Readiness Gates': '<none>',
    }


def _workload(obj: dict[str, Any]) -> dict[str, Any]:
    """Columns every workload has: containers, images, selector, replica counts."""
    spec, status = obj.get('spec') or {}, obj.get('status') or {}
    containers = (((spec.get('template') or {}).get('spec') or {}).get('containers')) or []
    selector = spec.get('selector') or {}
    labels = selector.get('matchLabels', selector) if isinstance(selector, dict) else {}
    return {
        'Containers': ','.join(c.get('name', '') for c in containers), 'Images': ','.join(c.get('image', '') for c in containers),
        'Selector': ','.join(f'{k}={v}' for k, v in sorted(labels.items()) if isinstance(v, str)) or '<none>',
        'Ready': f'{status.get("readyReplicas", 0)}/{spec.get("replicas", 1)}', 'Up-to-date': status.get('updatedReplicas', 0),
        'Available': status.get('availableReplicas', 0), 'Desired': spec.get('replicas', 1), 'Current': status.get('replicas', 0),
    }


def _replicaset_row(obj: dict[str, Any]) -> dict[str, Any]:
    return {**_workload(obj), 'Ready': (obj.get('status') or {}).get('readyReplicas', 0)}


def _node_row(node: dict[str, Any]) -> dict[str, Any]:
    status = node.get('status') or {}
    ready = next((c.get('status') for c in status.get('conditions') or () if c.get('type') == 'Ready'), None)
    text = 'Ready' if ready == 'True' else 'NotReady' if ready == 'False' else 'Unknown'
    if (node.get('spec') or {}).get('unschedulable'):
        text += ',SchedulingDisabled'
    roles = sorted(k.split('/', 1)[1] for k in (node.get('metadata') or {}).get('labels') or {} if k.startswith('node-role.kubernetes.io/'))
    return {'Status': text, 'Roles': ','.join(roles) or '<none>', 'Version': (status.get('nodeInfo') or {}).get('kubeletVersion', '')}


def _service_row(svc: dict[str, Any]) -> dict[str, Any]:
    spec = svc.get('spec') or {}
    ports = ','.join(f'{p.get("port")}{":" + str(p["nodePort"]) if p.get("nodePort") else ""}/{p.get("protocol", "TCP")}' for p in spec.get('ports') or ())
    return {'Type': spec.get('type', 'ClusterIP'), 'Cluster-IP': spec.get('clusterIP') or '<none>',
            'External-IP': ','.join(spec.get('externalIPs') or ()) or '<none>', 'Port(s)': ports or '<none>'}


def _event_row(event: dict[str, Any], now: float) -> dict[str, Any]:
    involved = event.get('involvedObject') or {}
    last = event.get('lastTimestamp') or event.get('eventTime') or (event.get('metadata') or {}).get('creationTimestamp')
    return {'Last Seen': _since(last, now), 'Type': event.get('type', ''), 'Reason': event.get('reason', ''),
            'Object': f'{str(involved.get("kind", "")).lower()}/{involved.get("name", "")}', 'Message': event.get('message', ''),
            'Count': event.get('count', 1)}


_S, _I = 'string', 'integer'
_WORKLOAD_WIDE: list[Column] = [('Containers', _S, 1), ('Images', _S, 1), ('Selector', _S, 1)]
_GENERIC: list[Column] = [('Name', _S, 0), ('Age', _S, 0)]
# The columns kube-apiserver prints for each kind (priority 1: only with -o wide); Name and Age are filled in for all.
_KINDS: dict[str, tuple[list[Column], Callable[[dict[str, Any], float], dict[str, Any]]]] = {
    'Pod': ([('Name', _S, 0), ('Ready', _S, 0), ('Status', _S, 0), ('Restarts', _S, 0), ('Age', _S, 0), ('IP', _S, 1), ('Node', _S, 1),
             ('Nominated Node', _S, 1), ('Readiness Gates', _S, 1)], lambda o, now: _pod_row(o)),
    'Deployment': ([('Name', _S, 0), ('Ready', _S, 0), ('Up-to-date', _I, 0), ('Available', _I, 0), ('Age', _S, 0), *_WORKLOAD_WIDE],
                   lambda o, now: _workload(o)),
    'ReplicaSet': ([('Name', _S, 0), ('Desired', _I, 0), ('Current', _I, 0), ('Ready', _I, 0), ('Age', _S, 0), *_WORKLOAD_WIDE],
                   lambda o, now: _replicaset_row(o)),
    'StatefulSet': ([('Name', _S, 0), ('Ready', _S, 0), ('Age', _S, 0), ('Containers', _S, 1), ('Images', _S, 1)], lambda o, now: _workload(o)),
    'Node': ([('Name', _S, 0), ('Status', _S, 0), ('Roles', _S, 0), ('Age', _S, 0), ('Version', _S, 0)], lambda o, now: _node_row(o)),
    'Namespace': ([('Name', _S, 0), ('Status', _S, 0), ('Age', _S, 0)], lambda o, now: {'Status': (o.get('status') or {}).get('phase', '')}),
    'Service': ([('Name', _S, 0), ('Type', _S, 0), ('Cluster-IP', _S, 0), ('External-IP', _S, 0), ('Port(s)', _S, 0), ('Age', _S, 0)],
                lambda o, now: _service_row(o)),
    'ConfigMap': ([('Name', _S, 0), ('Data', _I, 0), ('Age', _S, 0)],
                  lambda o, now: {'Data': len(o.get('data') or {}) + len(o.get('binaryData') or {})}),
    'Secret': ([('Name', _S, 0), ('Type', _S, 0), ('Data', _I, 0), ('Age', _S, 0)],
               lambda o, now: {'Type': o.get('type', 'Opaque'), 'Data': len(o.get('data') or {})}),
    'Event': ([('Last Seen', _S, 0), ('Type', _S, 0), ('Reason', _S, 0), ('Object', _S, 0), ('Message', _S, 0), ('Count', _I, 1), ('Name', _S, 1)],
              _event_row),
}


def _columns(res: ResourceType) -> list[Column]:
    return _KINDS[res.kind][0] if res.kind in _KINDS else _GENERIC


def _definitions(res: ResourceType) -> list[dict[str, Any]]:
    return [{'name': name, 'type': kind, 'format': 'name' if name == 'Name' else '', 'description': '', 'priority': priority}
            for name, kind, priority in _columns(res)]


def _row(res: ResourceType, obj: dict[str, Any], include_object: str, now: float) -> dict[str, Any]:
    meta = obj.get('metadata') or {}
    values = {'Name': meta.get('name', ''), 'Age': _since(meta.get('creationTimestamp'), now)}
    if res.kind in _KINDS:
        values.update(_KINDS[res.kind][1](obj, now))
    row: dict[str, Any] = {'cells': [values.get(name, '') for name, _kind, _priority in _columns(res)]}
    if include_object == 'Object':
        row['object'] = obj
    elif include_object != 'None':
        row['object'] = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1', 'metadata': meta}
    return row


def to_table(res: ResourceType, items: list[dict[str, Any]], list_meta: dict[str, Any] | None, include_object: str, now: float) -> dict[str, Any]:
    """A Table of `items`; list_meta None for a single object."""
    return {
        'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': list_meta or {},
        'columnDefinitions': _definitions(res), 'rows': [_row(res, obj, include_object, now) for obj in items],
    }


class TableStream:
    """Watch events as one-row Tables; only the first carries the column definitions, as the apiserver sends them."""

    def __init__(self, res: ResourceType, include_object: str, clock: Callable[[], float]) -> None:
        self.res = res
        self.include_object = include_object
        self.clock = clock
        self.first = True

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The Table for one event's object."""
        table = to_table(self.res, [obj], {'resourceVersion': obj['metadata'].get('resourceVersion', '')}, self.include_object, self.clock())
        if not self.first:
            table['columnDefinitions'] = None
        self.first = False
        return table
