"""What the workload controllers do with pods: create them from a template, claim (adopt/release) and pick which to delete."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .. import errors
from . import events
from .common import (Obj, controller_of, controller_ref, created_at, get_condition, is_active, is_deleting, is_ready, modify,
                     name_of, parse_time, qos_class, write_status)
from .defaults import apply_defaults


def pod_from_template(template: Obj, owner: Obj, name: str | None = None, generate_name: str | None = None) -> Obj:
    """controller.GetPodFromTemplate: labels, annotations and finalizers of the template, a controller reference, the spec."""
    meta = template.get('metadata') or {}
    pod_meta: Obj = {'namespace': owner['metadata'].get('namespace'), 'generateName': generate_name or f'{name_of(owner)}-'}
    if name:
        pod_meta['name'] = name
    for key in ('labels', 'annotations', 'finalizers'):
        if meta.get(key):
            pod_meta[key] = copy.deepcopy(meta[key])
    pod_meta['ownerReferences'] = [controller_ref(owner)]
    return apply_defaults('Pod', {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': pod_meta, 'spec': copy.deepcopy(template.get('spec') or {})})


def create_pod(sim: Any, pod: Obj) -> Obj:
    """Create the pod (status Pending with its QoS class, as the apiserver stores a new pod)."""
    res = sim.registry.get('v1', 'Pod')
    created = sim.store.create(res, pod)
    status = dict(created.get('status') or {})
    status.setdefault('phase', 'Pending')
    status.setdefault('qosClass', qos_class(created.get('spec') or {}))
    return write_status(sim, res, created, status)


def delete_pod(sim: Any, pod: Obj) -> bool:
    """Delete the pod; False when it was already gone."""
    res = sim.registry.get('v1', 'Pod')
    try:
        sim.store.delete(res, pod['metadata'].get('namespace'), name_of(pod))
    except errors.ApiError as exc:
        if exc.code == 404:
            return False
        raise
    return True


def claim(sim: Any, res_api: tuple[str, str], owner: Obj, selector: Any, candidates: Iterable[Obj]) -> list[Obj]:
    """ControllerRefManager.Claim*: keep what owner controls and still selects, release what it no longer selects,
    adopt orphans it selects (not while the owner is being deleted). Returns the claimed objects."""
    res = sim.registry.get(*res_api)
    owner_uid = owner['metadata']['uid']
    claimed = []
    for obj in candidates:
        ref = controller_of(obj)
        labels = obj['metadata'].get('labels') or {}
        if ref is not None:
            if ref.get('uid') != owner_uid:
                continue
            if selector.matches(labels) or is_deleting(owner):
                claimed.append(obj)
                continue
            if is_deleting(obj):
                continue

            def release(current: Obj) -> None:
                current['metadata']['ownerReferences'] = [
                    r for r in current['metadata'].get('ownerReferences') or () if r.get('uid') != owner_uid]
                if not current['metadata']['ownerReferences']:
                    del current['metadata']['ownerReferences']

            modify(sim, res, obj, release)
            continue
        if is_deleting(owner) or is_deleting(obj) or not selector.matches(labels):
            continue
        if res.kind == 'Pod' and not is_active(obj):
            continue

        def adopt(current: Obj) -> None:
            current['metadata'].setdefault('ownerReferences', []).append(controller_ref(owner))

        claimed.append(modify(sim, res, obj, adopt))
    return claimed


def _ready_since(pod: Obj) -> float:
    cond = get_condition(pod.get('status'), 'Ready') or {}
    return parse_time(cond.get('lastTransitionTime')) or 0.0


def _restarts(pod: Obj) -> int:
    return max((int(cs.get('restartCount') or 0) for cs in (pod.get('status') or {}).get('containerStatuses') or ()), default=0)


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int) -> list[Obj]:
    """getPodsToDelete / ActivePodsWithRanks: the `count` pods a ReplicaSet deletes first.

    Unscheduled before scheduled, Pending before Running, not ready before ready, on
    nodes with more related pods first, ready for less time first, more restarts
    first, newer first.
    """
    if count <= 0:
        return []
    per_node = Counter((p.get('spec') or {}).get('nodeName') for p in related if is_active(p))
    phase_rank = {'Pending': 0, 'Unknown': 1, 'Running': 2}

    def key(pod: Obj) -> tuple:
        node = (pod.get('spec') or {}).get('nodeName')
        ready = is_ready(pod)
        return (1 if node else 0,
                phase_rank.get((pod.get('status') or {}).get('phase') or 'Pending', 0),
                1 if ready else 0,
                -per_node.get(node, 0) if node else 0,
                -_ready_since(pod) if ready else 0,
                -_restarts(pod),
                -created_at(pod),
                name_of(pod))

    return sorted(pods, key=key)[:count]


def record_create(sim: Any, owner: Obj, pod: Obj, component: str, message: str | None = None) -> None:
    """The controller's SuccessfulCreate event."""
    events.record(sim, owner, 'Normal', 'SuccessfulCreate', message or f'Created pod: {name_of(pod)}', component)


def record_delete(sim: Any, owner: Obj, pod: Obj, component: str, message: str | None = None) -> None:
    """The controller's SuccessfulDelete event."""
    events.record(sim, owner, 'Normal', 'SuccessfulDelete', message or f'Deleted pod: {name_of(pod)}', component)
