"""ControllerRevisions, as StatefulSets and DaemonSets keep them (pkg/controller/history).

A revision's `data` is the patch `kubectl rollout undo` applies:
`{"spec": {"template": {...the whole template..., "$patch": "replace"}}}`.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import errors
from . import podcontrol
from .common import Obj, controller_ref, created_at, name_of, namespace_of

API = ('apps/v1', 'ControllerRevision')


def revision_data(template: Obj) -> Obj:
    """getPatch: the template to put back, as a replacing strategic-merge patch."""
    return {'spec': {'template': {**copy.deepcopy(template), '$patch': 'replace'}}}


def template_of(revision: Obj) -> Obj:
    """The pod template stored in a revision (ApplyRevision)."""
    template = copy.deepcopy(((revision.get('data') or {}).get('spec') or {}).get('template') or {})
    template.pop('$patch', None)
    return template


def number(revision: Obj) -> int:
    """The revision number."""
    return int(revision.get('revision') or 0)


def sort_revisions(revisions: list[Obj]) -> list[Obj]:
    """history.SortControllerRevisions: by revision, then creation, then name."""
    return sorted(revisions, key=lambda r: (number(r), created_at(r), name_of(r)))


def next_revision(revisions: list[Obj]) -> int:
    """nextRevision: one more than the highest."""
    return max((number(r) for r in revisions), default=0) + 1


def owned_revisions(sim: Any, owner: Obj, selector: Any) -> list[Obj]:
    """The owner's ControllerRevisions (adopting orphans its selector matches)."""
    res = sim.registry.get(*API)
    candidates = list(sim.store.items(res, namespace_of(owner)))
    return podcontrol.claim(sim, API, owner, selector, candidates)


def create(sim: Any, owner: Obj, name: str, labels: dict, annotations: dict | None, data: Obj, revision: int) -> Obj | None:
    """Create a revision; an existing one with the same data is returned; None on a name collision (different data)."""
    res = sim.registry.get(*API)
    body: Obj = {'apiVersion': 'apps/v1', 'kind': 'ControllerRevision',
                 'metadata': {'name': name, 'namespace': namespace_of(owner), 'labels': labels, 'ownerReferences': [controller_ref(owner)]},
                 'data': data, 'revision': revision}
    if annotations:
        body['metadata']['annotations'] = dict(annotations)
    try:
        return sim.store.create(res, body)
    except errors.ApiError as exc:
        if exc.code != 409:
            raise
    existing = sim.store.get(res, namespace_of(owner), name)
    return existing if existing.get('data') == data else None


def set_number(sim: Any, revision: Obj, value: int) -> Obj:
    """UpdateControllerRevision: give a revision a new number (a rollback to it)."""
    res = sim.registry.get(*API)
    current = sim.store.get(res, namespace_of(revision), name_of(revision))
    if number(current) == value:
        return current
    current['revision'] = value
    current['metadata'].pop('resourceVersion', None)
    return sim.store.update(res, current)


def truncate(sim: Any, revisions: list[Obj], keep_names: set[str], limit: int) -> None:
    """Delete the oldest revisions beyond `limit` that are not in keep_names (live, current, update)."""
    res = sim.registry.get(*API)
    history = [r for r in sort_revisions(revisions) if name_of(r) not in keep_names]
    surplus = len(history) - max(0, int(limit))
    for revision in history[:max(0, surplus)]:
        try:
            sim.store.delete(res, namespace_of(revision), name_of(revision))
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
