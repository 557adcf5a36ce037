"""The StatefulSet controller (stateful_set_control.go).

Pods `<name>-0 .. <name>-(N-1)` with labels controller-revision-hash (the revision's
name), statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index, hostname
and subdomain; PVCs `<claim>-<name>-<ordinal>` from volumeClaimTemplates (Bound
at once: there is no storage provisioner). OrderedReady creates the next pod only
when every earlier one is Running and Ready and deletes from the highest ordinal
one at a time; Parallel does all at once. RollingUpdate replaces pods from the
highest ordinal down to spec.updateStrategy.rollingUpdate.partition, one at a time,
each after the previous is healthy. ControllerRevisions `<name>-<hash>`
(hash: FNV-32 of the revision data plus the collision count, as the real one), data
`{"spec": {"template": {..., "$patch": "replace"}}}`, reused with a new number on rollback.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from typing import Any

from ..selectors import LabelSelector, label_selector_from_spec
from . import events, history, podcontrol
from .common import (Controller, Obj, controller_of, drop_zero, is_available, is_deleting, is_ready, name_of, namespace_of, phase,
                     revision_hash, write_status)
from .defaults import apply_defaults

COMPONENT = 'statefulset-controller'
REVISION_LABEL = 'controller-revision-hash'
POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name'
POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index'
HASH_LABEL = 'controller.kubernetes.io/hash'


def ordinal_of(set_name: str, pod: Obj) -> int:
    """getOrdinal: the number after the last dash of `<set>-<n>`, -1 when the name is not the set's."""
    match = re.fullmatch(re.escape(set_name) + r'-(\d+)', name_of(pod))
    return int(match.group(1)) if match else -1


def is_running_and_ready(pod: Obj) -> bool:
    """isRunningAndReady."""
    return phase(pod) == 'Running' and is_ready(pod)


def is_healthy(pod: Obj) -> bool:
    """isHealthy: running, ready, not terminating."""
    return is_running_and_ready(pod) and not is_deleting(pod)


class StatefulSetController(Controller):
    """apps/v1 StatefulSets."""

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        pods_by_ns: dict[str, list[Obj]] = defaultdict(list)
        for pod in self.store.items(self.res('v1', 'Pod')):
            pods_by_ns[namespace_of(pod)].append(pod)
        sets = list(self.store.items(self.res('apps/v1', 'StatefulSet')))
        self.each(sets, lambda s: _Sync(self, s, pods_by_ns[namespace_of(s)]).run())


class _Sync:
    def __init__(self, controller: StatefulSetController, stored: Obj, namespace_pods: list[Obj]) -> None:
        self.c = controller
        self.sim = controller.sim
        self.set = apply_defaults('StatefulSet', stored)
        self.spec = self.set['spec']
        self.name = name_of(stored)
        self.namespace_pods = namespace_pods
        self.now = controller.now()

    def run(self) -> None:
        """One sync of this object."""
        try:
            selector = label_selector_from_spec(self.spec.get('selector'))
        except ValueError:
            selector = LabelSelector.nothing()
        revisions = history.owned_revisions(self.sim, self.set, selector)
        pods = [p for p in podcontrol.claim(self.sim, ('v1', 'Pod'), self.set, selector, self.namespace_pods)
                if ordinal_of(self.name, p) >= 0]
        current, update, collision = self._revisions(revisions)
        if current is None or update is None:
            return
        status = self._update(current, update, collision, pods)
        self._write_status(status)
        live = {(p['metadata'].get('labels') or {}).get(REVISION_LABEL) for p in self._owned_pods()}
        revisions = history.owned_revisions(self.sim, self.set, selector)
        history.truncate(self.sim, revisions, {n for n in live if n} | {name_of(current), name_of(update)},
                         int(self.spec.get('revisionHistoryLimit', 10)))

    def _owned_pods(self) -> list[Obj]:
        res = self.c.res('v1', 'Pod')
        uid = self.set['metadata']['uid']
        return [p for p in self.sim.store.items(res, namespace_of(self.set))
                if (controller_of(p) or {}).get('uid') == uid]

    # -- revisions ------------------------------------------------------------------------------------------

    def _revisions(self, revisions: list[Obj]) -> tuple[Obj | None, Obj | None, int]:
        """getStatefulSetRevisions: (current, update, collisionCount)."""
        revisions = history.sort_revisions(revisions)
        collision = int((self.set.get('status') or {}).get('collisionCount') or 0)
        template = self.spec.get('template') or {}
        data = history.revision_data(template)
        equal = [r for r in revisions if r.get('data') == data]
        if equal and revisions and name_of(revisions[-1]) == name_of(equal[-1]):
            update = revisions[-1]
        elif equal:
            update = history.set_number(self.sim, equal[-1], history.next_revision(revisions))
        else:
            update = None
            labels = dict(((template.get('metadata') or {}).get('labels')) or {})
            for _attempt in range(10):
                digest = revision_hash(data, collision)
                created = history.create(self.sim, self.set, f'{self.name}-{digest}', {**labels, HASH_LABEL: digest},
                                         self.set['metadata'].get('annotations'), data, history.next_revision(revisions))
                if created is not None:
                    update = created
                    break
                collision += 1
        current = next((r for r in revisions if name_of(r) == (self.set.get('status') or {}).get('currentRevision')), None)
        return current or update, update, collision

    # -- pods -------------------------------------------------------------------------------------------------------

    def _new_pod(self, template: Obj, revision: str, ordinal: int) -> Obj:
        """newStatefulSetPod: identity, storage and the revision label."""
        name = f'{self.name}-{ordinal}'
        pod = podcontrol.pod_from_template(template, self.set, name=name, generate_name=f'{self.name}-')
        labels = pod['metadata'].setdefault('labels', {})
        labels[POD_NAME_LABEL] = name
        labels[POD_INDEX_LABEL] = str(ordinal)
        labels[REVISION_LABEL] = revision
        pod['spec']['hostname'] = name
        if self.spec.get('serviceName'):
            pod['spec']['subdomain'] = self.spec['serviceName']
        volumes = [v for v in pod['spec'].get('volumes') or ()
                   if v.get('name') not in {c['metadata'].get('name') for c in self.spec.get('volumeClaimTemplates') or ()}]
        for claim in self.spec.get('volumeClaimTemplates') or ():
            claim_name = claim['metadata'].get('name')
            volumes.append({'name': claim_name, 'persistentVolumeClaim': {'claimName': f'{claim_name}-{self.name}-{ordinal}'}})
        if volumes:
            pod['spec']['volumes'] = volumes
        return pod

    def _versioned_pod(self, current: Obj, update: Obj, ordinal: int, current_replicas: int) -> Obj:
        """newVersionedStatefulSetPod: below the partition (or the current count) pods keep the current revision."""
        strategy = self.spec.get('updateStrategy') or {}
        rolling = strategy.get('rollingUpdate')
        if strategy.get('type') == 'RollingUpdate' and (
                (rolling is None and ordinal < current_replicas) or (rolling is not None and ordinal < int(rolling.get('partition') or 0))):
            return self._new_pod(history.template_of(current), name_of(current), ordinal)
        return self._new_pod(history.template_of(update), name_of(update), ordinal)

    def _create_claims(self, pod: Obj, ordinal: int) -> None:
        res = self.c.res('v1', 'PersistentVolumeClaim')
        match_labels = (self.spec.get('selector') or {}).get('matchLabels') or {}
        for claim in self.spec.get('volumeClaimTemplates') or ():
            name = f'{claim["metadata"].get("name")}-{self.name}-{ordinal}'
            if self.sim.store.find(res, namespace_of(self.set), name) is not None:
                continue
            spec = copy.deepcopy(claim.get('spec') or {})
            spec.setdefault('storageClassName', 'standard')
            spec.setdefault('volumeMode', 'Filesystem')
            labels = {**(claim['metadata'].get('labels') or {}), **match_labels}
            body = {'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim',
                    'metadata': {'name': name, 'namespace': namespace_of(self.set), 'labels': labels,
                                 'annotations': {'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes',
                                                 'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path'}},
                    'spec': spec}
            created = self.sim.store.create(res, body)
            created['spec']['volumeName'] = f'pvc-{created["metadata"]["uid"]}'
            created['metadata'].pop('resourceVersion', None)
            created = self.sim.store.update(res, created)
            storage = ((spec.get('resources') or {}).get('requests') or {}).get('storage', '1Gi')
            write_status(self.sim, res, created, {'phase': 'Bound', 'accessModes': spec.get('accessModes') or ['ReadWriteOnce'],
                                                  'capacity': {'storage': storage}})
            events.record(self.sim, self.set, 'Normal', 'SuccessfulCreate',
                          f'create Claim {name} Pod {name_of(pod)} in StatefulSet {self.name} success', COMPONENT)

    def _create(self, pod: Obj, ordinal: int) -> Obj:
        self._create_claims(pod, ordinal)
        created = podcontrol.create_pod(self.sim, pod)
        events.record(self.sim, self.set, 'Normal', 'SuccessfulCreate',
                      f'create Pod {name_of(pod)} in StatefulSet {self.name} successful', COMPONENT)
        return created

    def _delete(self, pod: Obj) -> None:
        if podcontrol.delete_pod(self.sim, pod):
            events.record(self.sim, self.set, 'Normal', 'SuccessfulDelete',
                          f'delete Pod {name_of(pod)} in StatefulSet {self.name} successful', COMPONENT)

    # -- the update ---------------------------------------------------------------------------------------------------

    def _count(self, pods: list[Obj], current: Obj, update: Obj) -> Obj:
        """computeReplicaStatus over the pods that exist."""
        min_ready = int(self.spec.get('minReadySeconds') or 0)
        counts = {'replicas': 0, 'readyReplicas': 0, 'availableReplicas': 0, 'currentReplicas': 0, 'updatedReplicas': 0}
        for pod in pods:
            if pod is None:
                continue
            counts['replicas'] += 1
            if is_running_and_ready(pod):
                counts['readyReplicas'] += 1
                if is_available(pod, min_ready, self.now):
                    counts['availableReplicas'] += 1
            if not is_deleting(pod):
                revision = (pod['metadata'].get('labels') or {}).get(REVISION_LABEL)
                counts['currentReplicas'] += revision == name_of(current)
                counts['updatedReplicas'] += revision == name_of(update)
        return counts

    def _update(self, current: Obj, update: Obj, collision: int, pods: list[Obj]) -> Obj:
        """updateStatefulSet: one pass of creations, deletions and the rolling update."""
        replica_count = int(self.spec.get('replicas', 1))
        monotonic = self.spec.get('podManagementPolicy', 'OrderedReady') != 'Parallel'
        min_ready = int(self.spec.get('minReadySeconds') or 0)
        status: Obj = {'observedGeneration': self.set['metadata'].get('generation', 1), 'currentRevision': name_of(current),
                       'updateRevision': name_of(update), 'collisionCount': collision}
        current_replicas = int((self.set.get('status') or {}).get('currentReplicas') or 0)
        replicas: list[Obj | None] = [None] * replica_count
        condemned = []
        for pod in pods:
            ordinal = ordinal_of(self.name, pod)
            if ordinal < replica_count:
                replicas[ordinal] = pod
            else:
                condemned.append(pod)
        condemned.sort(key=lambda p: -ordinal_of(self.name, p))

        def finish() -> Obj:
            status.update(self._count(list(replicas) + condemned, current, update))
            return status

        if is_deleting(self.set):
            return finish()
        first_unhealthy = next((p for p in replicas if p is None or not is_healthy(p)), None)
        if first_unhealthy is None:
            first_unhealthy = next((p for p in reversed(condemned) if not is_healthy(p)), None)
        for ordinal in range(replica_count):
            pod = replicas[ordinal]
            if pod is not None and phase(pod) in ('Failed', 'Succeeded'):
                kind = 'RecreatingFailedPod' if phase(pod) == 'Failed' else 'RecreatingTerminatedPod'
                type_ = 'Warning' if phase(pod) == 'Failed' else 'Normal'
                text = 'failed' if phase(pod) == 'Failed' else 'terminated'
                events.record(self.sim, self.set, type_, kind,
                              f'StatefulSet {namespace_of(self.set)}/{self.name} is recreating {text} Pod {name_of(pod)}', COMPONENT)
                self._delete(pod)
                pod = replicas[ordinal] = None
            if pod is None:
                replicas[ordinal] = self._create(self._versioned_pod(current, update, ordinal, current_replicas), ordinal)
                if monotonic:
                    return finish()
                continue
            if monotonic and (is_deleting(pod) or not is_running_and_ready(pod) or not is_available(pod, min_ready, self.now)):
                return finish()
        for pod in condemned:
            if is_deleting(pod):
                if monotonic:
                    return finish()
                continue
            if monotonic and pod is not first_unhealthy and (not is_running_and_ready(pod) or not is_available(pod, min_ready, self.now)):
                return finish()
            self._delete(pod)
            condemned = [p for p in condemned if p is not pod]
            if monotonic:
                return finish()
        finish()
        strategy = self.spec.get('updateStrategy') or {}
        if strategy.get('type') == 'OnDelete':
            return status
        partition = int((strategy.get('rollingUpdate') or {}).get('partition') or 0)
        for target in range(len(replicas) - 1, partition - 1, -1):
            pod = replicas[target]
            if pod is None:
                continue
            if (pod['metadata'].get('labels') or {}).get(REVISION_LABEL) != name_of(update) and not is_deleting(pod):
                self._delete(pod)
                replicas[target] = None
                status['currentReplicas'] -= 1
                return status
            if not is_healthy(pod):
                return status
        return status

    def _write_status(self, status: Obj) -> None:
        """updateStatefulSetStatus (with completeRollingUpdate)."""
        strategy = self.spec.get('updateStrategy') or {}
        if strategy.get('type') == 'RollingUpdate' and status['updatedReplicas'] == status['replicas'] \
                and status['readyReplicas'] == status['replicas']:
            status['currentReplicas'] = status['updatedReplicas']
            status['currentRevision'] = status['updateRevision']
        conditions = (self.set.get('status') or {}).get('conditions')
        if conditions:
            status['conditions'] = conditions
        drop_zero(status, 'observedGeneration', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'currentRevision', 'updateRevision')
        write_status(self.sim, self.c.res('apps/v1', 'StatefulSet'), self.set, status)


def build(sim: Any) -> list[Controller]:
    """The StatefulSet controller."""
    return [StatefulSetController(sim)]
