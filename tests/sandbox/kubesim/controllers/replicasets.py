"""The ReplicaSet controller and the replication manager (core/v1 ReplicationControllers): keep spec.replicas pods.

Pods are named `<owner>-<5 random chars>` (generateName), carry the template's
labels and annotations and a controller reference. Surplus pods go in the real
controller's order (unscheduled, pending, not ready, newest first). Failed and
Succeeded pods do not count, so an evicted pod gets a replacement (and stays
listed, as in a real cluster). Status: replicas, fullyLabeledReplicas,
readyReplicas, availableReplicas (minReadySeconds), observedGeneration; zero
counts are left out as Go's omitempty does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..selectors import LabelSelector, label_selector_from_set, label_selector_from_spec
from . import podcontrol
from .common import Controller, Obj, drop_zero, is_active, is_available, is_deleting, is_ready, namespace_of, write_status
from .defaults import apply_defaults

BURST_REPLICAS = 500


class ReplicaSetController(Controller):
    """apps/v1 ReplicaSets."""

    api_version, kind, component = 'apps/v1', 'ReplicaSet', 'replicaset-controller'

    def selector(self, spec: Obj) -> LabelSelector:
        """The owner's pod selector."""
        return label_selector_from_spec(spec.get('selector'))

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        pods_by_ns: dict[str, list[Obj]] = defaultdict(list)
        for pod in self.store.items(self.res('v1', 'Pod')):
            pods_by_ns[namespace_of(pod)].append(pod)
        owners = list(self.store.items(self.res(self.api_version, self.kind)))
        self.each(owners, lambda owner: self.sync(owner, pods_by_ns[namespace_of(owner)]))

    def sync(self, owner: Obj, namespace_pods: list[Obj]) -> None:
        """One owner: claim its pods, create or delete to match spec.replicas, write the status."""
        spec = apply_defaults(self.kind, owner).get('spec') or {}
        try:
            selector = self.selector(spec)
        except ValueError:
            selector = LabelSelector.nothing()
        claimed = podcontrol.claim(self.sim, ('v1', 'Pod'), owner, selector, namespace_pods)
        active = [p for p in claimed if is_active(p)]
        if not is_deleting(owner):
            active = self.manage(owner, spec, active, namespace_pods)
        self.write_status(owner, spec, active)

    def manage(self, owner: Obj, spec: Obj, active: list[Obj], namespace_pods: list[Obj]) -> list[Obj]:
        """manageReplicas: create or delete pods; returns the pods the owner has afterwards."""
        replicas = int(spec.get('replicas', 1))
        diff = len(active) - replicas
        if diff < 0:
            template = spec.get('template') or {}
            for _index in range(min(-diff, BURST_REPLICAS)):
                pod = podcontrol.create_pod(self.sim, podcontrol.pod_from_template(template, owner))
                podcontrol.record_create(self.sim, owner, pod, self.component)
                active.append(pod)
        elif diff > 0:
            related = [p for p in namespace_pods if self.selector(spec).matches(p['metadata'].get('labels') or {})]
            for pod in podcontrol.pods_to_delete(active, related, min(diff, BURST_REPLICAS)):
                if podcontrol.delete_pod(self.sim, pod):
                    podcontrol.record_delete(self.sim, owner, pod, self.component)
                active = [p for p in active if p['metadata']['uid'] != pod['metadata']['uid']]
        return active

    def write_status(self, owner: Obj, spec: Obj, active: list[Obj]) -> Obj:
        """calculateStatus + updateReplicaSetStatus."""
        now = self.now()
        template_labels = ((spec.get('template') or {}).get('metadata') or {}).get('labels') or {}
        fully_labeled = sum(1 for p in active if all((p['metadata'].get('labels') or {}).get(k) == v for k, v in template_labels.items()))
        ready = [p for p in active if is_ready(p)]
        available = [p for p in ready if is_available(p, spec.get('minReadySeconds') or 0, now)]
        status: Obj = {'replicas': len(active), 'fullyLabeledReplicas': fully_labeled, 'readyReplicas': len(ready),
                       'availableReplicas': len(available), 'observedGeneration': owner['metadata'].get('generation', 1)}
        drop_zero(status, 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration')
        conditions = [c for c in (owner.get('status') or {}).get('conditions') or () if c.get('type') != 'ReplicaFailure']
        if conditions:
            status['conditions'] = conditions
        return write_status(self.sim, self.res(self.api_version, self.kind), owner, status)


class ReplicationManager(ReplicaSetController):
    """core/v1 ReplicationControllers (OpenShift DeploymentConfigs run on them)."""

    api_version, kind, component = 'v1', 'ReplicationController', 'replication-controller'

    def selector(self, spec: Obj) -> LabelSelector:
        """The map selector of a ReplicationController (empty selects nothing)."""
        selector = spec.get('selector') or {}
        return label_selector_from_set(selector) if selector else LabelSelector.nothing()


def build(sim: Any) -> list[Controller]:
    """Both controllers."""
    return [ReplicaSetController(sim), ReplicationManager(sim)]
