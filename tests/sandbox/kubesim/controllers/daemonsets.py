"""The DaemonSet controller (pkg/controller/daemon): one pod per node that should run it.

A node should run the pod when it matches the template's nodeSelector / node
affinity and every NoSchedule/NoExecute taint is tolerated, counting the
tolerations every DaemonSet pod gets (not-ready, unreachable, disk/memory/pid
pressure, unschedulable), so cordoned and pressured nodes keep theirs. Pods are
`<name>-<5 chars>`, pinned with node affinity on metadata.name and bound by the
scheduler, labelled controller-revision-hash and pod-template-generation.
RollingUpdate (maxSurge 0) deletes old pods on at most maxUnavailable nodes at a
time. ControllerRevisions `<name>-<hash>` with the template hash, as the real one.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from ..selectors import LabelSelector, label_selector_from_spec
from . import events, history, podcontrol
from .common import (Controller, Obj, by_creation, created_at, drop_zero, is_available, is_deleting, is_ready, modify, name_of, namespace_of,
                     phase, scaled_value, template_hash, write_status)
from .defaults import apply_defaults
from .placement import add_daemon_tolerations, matches_node_affinity, untolerated_taint

COMPONENT = 'daemonset-controller'
REVISION_LABEL = 'controller-revision-hash'
GENERATION_LABEL = 'pod-template-generation'
GENERATION_ANNOTATION = 'deprecated.daemonset.template.generation'


def target_node(pod: Obj) -> str | None:
    """util.GetTargetNodeName: spec.nodeName, or the node the affinity pins it to."""
    spec = pod.get('spec') or {}
    if spec.get('nodeName'):
        return spec['nodeName']
    terms = ((((spec.get('affinity') or {}).get('nodeAffinity') or {})
              .get('requiredDuringSchedulingIgnoredDuringExecution') or {}).get('nodeSelectorTerms') or [])
    for term in terms:
        for field in term.get('matchFields') or ():
            if field.get('key') == 'metadata.name' and field.get('operator') == 'In' and len(field.get('values') or ()) == 1:
                return field['values'][0]
    return None


def should_run(template: Obj, node: Obj) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run, should continue running)."""
    spec = add_daemon_tolerations(copy.deepcopy(template.get('spec') or {}))
    if spec.get('nodeName') and spec['nodeName'] != name_of(node):
        return False, False
    if not matches_node_affinity(spec, node):
        return False, False
    taints = (node.get('spec') or {}).get('taints') or []
    if untolerated_taint(taints, spec.get('tolerations') or []) is not None:
        return False, untolerated_taint(taints, spec.get('tolerations') or [], ('NoExecute',)) is None
    return True, True


def pin_to_node(spec: Obj, node: str) -> None:
    """util.ReplaceDaemonSetPodNodeNameNodeAffinity."""
    term = {'matchFields': [{'key': 'metadata.name', 'operator': 'In', 'values': [node]}]}
    affinity = spec.setdefault('affinity', {})
    node_affinity = affinity.setdefault('nodeAffinity', {})
    node_affinity['requiredDuringSchedulingIgnoredDuringExecution'] = {'nodeSelectorTerms': [term]}


class DaemonSetController(Controller):
    """apps/v1 DaemonSets."""

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        nodes = list(self.store.items(self.res('v1', 'Node')))
        pods_by_ns: dict[str, list[Obj]] = defaultdict(list)
        for pod in self.store.items(self.res('v1', 'Pod')):
            pods_by_ns[namespace_of(pod)].append(pod)
        sets = list(self.store.items(self.res('apps/v1', 'DaemonSet')))
        self.each(sets, lambda ds: _Sync(self, ds, nodes, pods_by_ns[namespace_of(ds)]).run())


class _Sync:
    def __init__(self, controller: DaemonSetController, stored: Obj, nodes: list[Obj], namespace_pods: list[Obj]) -> None:
        self.c = controller
        self.sim = controller.sim
        self.stored = stored
        self.ds = apply_defaults('DaemonSet', stored)
        self.spec = self.ds['spec']
        self.name = name_of(stored)
        self.nodes = sorted(nodes, key=name_of)
        self.namespace_pods = namespace_pods
        self.now = controller.now()
        self.ds_res = controller.res('apps/v1', 'DaemonSet')

    def run(self) -> None:
        """One sync of this object."""
        try:
            selector = label_selector_from_spec(self.spec.get('selector'))
        except ValueError:
            selector = LabelSelector.nothing()
        current = self._history(selector)
        if current is None:
            return
        hash_ = (current['metadata'].get('labels') or {}).get(REVISION_LABEL, '')
        generation = (self.ds['metadata'].get('annotations') or {}).get(GENERATION_ANNOTATION)
        pods = podcontrol.claim(self.sim, ('v1', 'Pod'), self.ds, selector, self.namespace_pods)
        if not is_deleting(self.ds):
            pods = self._manage(pods, hash_, generation)
            strategy = self.spec.get('updateStrategy') or {}
            if strategy.get('type') == 'RollingUpdate':
                pods = self._rolling_update(pods, hash_)
        self._status(pods, hash_, generation)
        live = {(p['metadata'].get('labels') or {}).get(REVISION_LABEL) for p in pods}
        revisions = [r for r in history.owned_revisions(self.sim, self.ds, selector)
                     if (r['metadata'].get('labels') or {}).get(REVISION_LABEL) not in live]
        history.truncate(self.sim, revisions, {name_of(current)}, int(self.spec.get('revisionHistoryLimit', 10)))

    # -- history ----------------------------------------------------------------------------------------------------

    def _history(self, selector: LabelSelector) -> Obj | None:
        """constructHistory: the revision of the current template (created, or renumbered on a rollback)."""
        revisions = history.owned_revisions(self.sim, self.ds, selector)
        template = self.spec.get('template') or {}
        data = history.revision_data(template)
        matching = [r for r in revisions if r.get('data') == data]
        old = [r for r in revisions if r.get('data') != data]
        wanted = max((history.number(r) for r in old), default=0) + 1
        if matching:
            current = max(matching, key=history.number)
            if history.number(current) < wanted:
                self._bump_template_generation(True)
                current = history.set_number(self.sim, current, wanted)
            return current
        self._bump_template_generation(bool(revisions))
        collision = (self.stored.get('status') or {}).get('collisionCount')
        digest = template_hash(template, collision)
        labels = {**(((template.get('metadata') or {}).get('labels')) or {}), REVISION_LABEL: digest}
        created = history.create(self.sim, self.ds, f'{self.name}-{digest}', labels, self.ds['metadata'].get('annotations'), data, wanted)
        if created is None:
            status = dict(self.stored.get('status') or {})
            status['collisionCount'] = int(status.get('collisionCount') or 0) + 1
            write_status(self.sim, self.ds_res, self.stored, status)
        return created

    def _bump_template_generation(self, changed: bool) -> None:
        """The apiserver's deprecated.daemonset.template.generation: 1 on creation, +1 on each template change."""
        annotations = self.ds['metadata'].setdefault('annotations', {})
        value = annotations.get(GENERATION_ANNOTATION)
        if value is not None and not changed:
            return
        new = str(int(value) + 1) if value is not None and value.isdigit() else str(self.ds['metadata'].get('generation', 1))
        annotations[GENERATION_ANNOTATION] = new

        def change(obj: Obj) -> None:
            obj['metadata'].setdefault('annotations', {})[GENERATION_ANNOTATION] = new

        modify(self.sim, self.ds_res, self.ds, change)

    # -- pods ---------------------------------------------------------------------------------------------------------

    def _new_pod(self, node: str, hash_: str, generation: str | None) -> Obj:
        template = copy.deepcopy(self.spec.get('template') or {})
        labels = template.setdefault('metadata', {}).setdefault('labels', {})
        if generation is not None:
            labels[GENERATION_LABEL] = generation
        labels[REVISION_LABEL] = hash_
        spec = template.setdefault('spec', {})
        add_daemon_tolerations(spec)
        pin_to_node(spec, node)
        return podcontrol.pod_from_template(template, self.ds)

    def _delete(self, pod: Obj) -> None:
        if podcontrol.delete_pod(self.sim, pod):
            podcontrol.record_delete(self.sim, self.ds, pod, COMPONENT)

    def _by_node(self, pods: list[Obj]) -> dict[str, list[Obj]]:
        result: dict[str, list[Obj]] = defaultdict(list)
        for pod in pods:
            if is_deleting(pod):
                continue
            node = target_node(pod)
            if node:
                result[node].append(pod)
        return result

    def _manage(self, pods: list[Obj], hash_: str, generation: str | None) -> list[Obj]:
        """manage: create where missing, delete failed, duplicate and misplaced pods."""
        template = self.spec.get('template') or {}
        by_node = self._by_node(pods)
        deleted: set[str] = set()
        created = []
        for node in self.nodes:
            name = name_of(node)
            run, keep = should_run(template, node)
            on_node = by_node.get(name, [])
            if run and not on_node:
                pod = podcontrol.create_pod(self.sim, self._new_pod(name, hash_, generation))
                podcontrol.record_create(self.sim, self.ds, pod, COMPONENT)
                created.append(pod)
            elif run or keep:
                running = []
                for pod in on_node:
                    if phase(pod) == 'Failed':
                        events.record(self.sim, self.ds, 'Warning', 'FailedDaemonPod',
                                      f'Found failed daemon pod {namespace_of(pod)}/{name_of(pod)} on node {name}, will try to kill it',
                                      COMPONENT)
                        self._delete(pod)
                        deleted.add(pod['metadata']['uid'])
                    else:
                        running.append(pod)
                for pod in by_creation(running)[1:]:
                    self._delete(pod)
                    deleted.add(pod['metadata']['uid'])
            else:
                for pod in on_node:
                    self._delete(pod)
                    deleted.add(pod['metadata']['uid'])
        return [p for p in pods if p['metadata']['uid'] not in deleted] + created

    def _rolling_update(self, pods: list[Obj], hash_: str) -> list[Obj]:
        """rollingUpdate without surge: replace old pods on at most maxUnavailable nodes at a time."""
        rolling = (self.spec.get('updateStrategy') or {}).get('rollingUpdate') or {}
        template = self.spec.get('template') or {}
        desired = sum(1 for node in self.nodes if should_run(template, node)[0])
        max_unavailable = scaled_value(rolling.get('maxUnavailable', 1), desired, True)
        if scaled_value(rolling.get('maxSurge', 0), desired, True) == 0 and max_unavailable == 0:
            max_unavailable = 1
        unavailable = 0
        replace: list[Obj] = []
        candidates: list[Obj] = []
        min_ready = int(self.spec.get('minReadySeconds') or 0)
        by_node = self._by_node(pods)
        for node in sorted(by_node):
            on_node = [p for p in by_node[node] if phase(p) != 'Failed']
            new = [p for p in on_node if (p['metadata'].get('labels') or {}).get(REVISION_LABEL) == hash_]
            old = [p for p in on_node if p not in new]
            if len(new) > 1 or len(old) > 1 or (new and old) or not on_node:
                unavailable += 1
            elif new:
                if not is_available(new[0], min_ready, self.now):
                    unavailable += 1
            elif not is_available(old[0], min_ready, self.now):
                replace.append(old[0])
            elif unavailable < max_unavailable:
                candidates.append(old[0])
        remaining = max(0, min(max_unavailable - unavailable, len(candidates)))
        doomed = replace + candidates[:remaining]
        for pod in doomed:
            self._delete(pod)
        gone = {p['metadata']['uid'] for p in doomed}
        return [p for p in pods if p['metadata']['uid'] not in gone]

    def _status(self, pods: list[Obj], hash_: str, generation: str | None) -> None:
        """updateDaemonSetStatus."""
        template = self.spec.get('template') or {}
        by_node = self._by_node(pods)
        desired = current = misscheduled = ready = updated = available = 0
        min_ready = int(self.spec.get('minReadySeconds') or 0)
        for node in self.nodes:
            run, _keep = should_run(template, node)
            on_node = by_node.get(name_of(node), [])
            if run:
                desired += 1
                if not on_node:
                    continue
                current += 1
                pod = sorted(on_node, key=lambda p: (phase(p) != 'Running', created_at(p), name_of(p)))[0]
                if is_ready(pod):
                    ready += 1
                    if is_available(pod, min_ready, self.now):
                        available += 1
                labels = pod['metadata'].get('labels') or {}
                if labels.get(REVISION_LABEL) == hash_ or (generation is not None and labels.get(GENERATION_LABEL) == generation):
                    updated += 1
            elif on_node:
                misscheduled += 1
        status: Obj = {'currentNumberScheduled': current, 'numberMisscheduled': misscheduled, 'desiredNumberScheduled': desired,
                       'numberReady': ready, 'observedGeneration': self.ds['metadata'].get('generation', 1),
                       'updatedNumberScheduled': updated, 'numberAvailable': available, 'numberUnavailable': desired - available}
        old = self.stored.get('status') or {}
        if old.get('collisionCount') is not None:
            status['collisionCount'] = old['collisionCount']
        if old.get('conditions'):
            status['conditions'] = old['conditions']
        drop_zero(status, 'observedGeneration', 'updatedNumberScheduled', 'numberAvailable', 'numberUnavailable')
        write_status(self.sim, self.ds_res, self.stored, status)


def build(sim: Any) -> list[Controller]:
    """The DaemonSet controller."""
    return [DaemonSetController(sim)]
