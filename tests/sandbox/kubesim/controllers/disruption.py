"""PodDisruptionBudgets: the disruption controller's status, and the eviction subresource's checks.

Status as pkg/controller/disruption: expectedPods (the owning controllers' replicas
for maxUnavailable and percentage minAvailable, the number of selected pods for an
integer minAvailable), desiredHealthy (percentages rounded up), currentHealthy
(ready pods not being deleted), disruptionsAllowed, disruptedPods, and the
DisruptionAllowed condition (SufficientPods / InsufficientPods).

evict() answers as the apiserver's EvictionREST: 404 for an unknown pod; pods that
are not Running (Pending, Succeeded, Failed) or already being deleted go without a
budget check; 500 when more than one budget selects the pod; 429 TooManyRequests
"Cannot evict pod as it would violate the pod's disruption budget." with a
DisruptionBudget cause when none is allowed; otherwise disruptionsAllowed is
decremented and the pod deleted (at once: the simulator has no grace periods).
"""

from __future__ import annotations

import copy
from typing import Any

from .. import errors
from ..selectors import LabelSelector, label_selector_from_spec
from . import events
from .common import (Controller, Obj, controller_of, get_condition, is_deleting, is_ready, name_of, namespace_of, parse_time, phase,
                     scaled_value, set_metav1_condition, stamp, write_status)

COMPONENT = 'controllermanager'
DELETION_TIMEOUT_SECONDS = 2 * 60
MAX_DISRUPTED_PODS = 2000
EVICTION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."


def pdb_selector(pdb: Obj) -> LabelSelector:
    """policy/v1: an empty selector selects every pod in the namespace; a missing one selects none."""
    spec = (pdb.get('spec') or {})
    if 'selector' not in spec or spec['selector'] is None:
        return LabelSelector.nothing()
    try:
        return label_selector_from_spec(spec['selector'])
    except ValueError:
        return LabelSelector.nothing()


def _condition(pdb_status: Obj, generation: int, now: str) -> list[Obj]:
    conditions = copy.deepcopy(pdb_status.get('conditions') or [])
    if int(pdb_status.get('disruptionsAllowed') or 0) > 0:
        new = {'type': 'DisruptionAllowed', 'status': 'True', 'reason': 'SufficientPods', 'message': '', 'observedGeneration': generation}
    else:
        new = {'type': 'DisruptionAllowed', 'status': 'False', 'reason': 'InsufficientPods', 'message': '', 'observedGeneration': generation}
    return set_metav1_condition(conditions, new, now)


class DisruptionController(Controller):
    """policy/v1 PodDisruptionBudgets."""

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        pdbs = list(self.store.items(self.res('policy/v1', 'PodDisruptionBudget')))
        self.each(pdbs, self.sync)

    def _expected_scale(self, pdb: Obj, pods: list[Obj]) -> tuple[int | None, str | None]:
        """getExpectedScale: the sum of the replicas of the pods' controllers (each counted once)."""
        scales: dict[str, int] = {}
        namespace = namespace_of(pdb)
        for pod in pods:
            ref = controller_of(pod)
            if ref is None:
                return None, f'found no controller ref for pod "{name_of(pod)}"'
            owner, replicas = self._scale_owner(namespace, ref)
            if owner is None:
                return None, f'found no controllers for pod "{name_of(pod)}"'
            scales[owner] = replicas
        return sum(scales.values()), None

    def _scale_owner(self, namespace: str, ref: Obj) -> tuple[str | None, int]:
        """The finders: a ReplicaSet's Deployment, else the ReplicaSet, ReplicationController, StatefulSet or any scalable owner."""
        res = self.sim.registry.by_kind(ref.get('apiVersion', ''), ref.get('kind', ''))
        if res is None or res.subresource('scale') is None:
            return None, 0
        owner = self.store.find(res, namespace, ref.get('name', ''))
        if owner is None or owner['metadata']['uid'] != ref.get('uid'):
            return None, 0
        if res.kind == 'ReplicaSet':
            parent = controller_of(owner)
            if parent is not None and parent.get('kind') == 'Deployment':
                deployment = self.store.find(self.res('apps/v1', 'Deployment'), namespace, parent.get('name', ''))
                if deployment is not None and deployment['metadata']['uid'] == parent.get('uid'):
                    return deployment['metadata']['uid'], int((deployment.get('spec') or {}).get('replicas', 1))
        default = 0 if res.kind == 'DeploymentConfig' else 1
        return owner['metadata']['uid'], int((owner.get('spec') or {}).get('replicas', default))

    def sync(self, pdb: Obj) -> None:
        """trySync + updatePdbStatus."""
        pdb_res = self.res('policy/v1', 'PodDisruptionBudget')
        spec = pdb.get('spec') or {}
        selector = pdb_selector(pdb)
        pods = [p for p in self.store.items(self.res('v1', 'Pod'), namespace_of(pdb)) if selector.matches(p['metadata'].get('labels') or {})]
        now = self.now()
        generation = int(pdb['metadata'].get('generation') or 1)
        old = pdb.get('status') or {}
        expected, desired, error = self._desired(pdb, spec, pods)
        if error is not None:
            events.record(self.sim, pdb, 'Warning', 'CalculateExpectedPodCountFailed',
                          f'Failed to calculate the number of expected pods: {error}', COMPONENT)
            status = {**copy.deepcopy(old), 'disruptionsAllowed': 0, 'observedGeneration': generation}
            status.setdefault('currentHealthy', 0)
            status.setdefault('desiredHealthy', 0)
            status.setdefault('expectedPods', 0)
            conditions = copy.deepcopy(old.get('conditions') or [])
            status['conditions'] = set_metav1_condition(conditions, {'type': 'DisruptionAllowed', 'status': 'False', 'reason': 'SyncFailed',
                                                                     'message': error, 'observedGeneration': generation}, stamp(now))
            write_status(self.sim, pdb_res, pdb, status)
            return
        disrupted = {}
        existing = {name_of(p): p for p in pods}
        for pod_name, when in (old.get('disruptedPods') or {}).items():
            pod = existing.get(pod_name)
            if pod is None or is_deleting(pod):
                continue
            since = parse_time(when)
            if since is not None and since + DELETION_TIMEOUT_SECONDS > now:
                disrupted[pod_name] = when
        healthy = sum(1 for p in pods if not is_deleting(p) and name_of(p) not in disrupted and is_ready(p))
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status: Obj = {'observedGeneration': generation, 'disruptionsAllowed': allowed, 'currentHealthy': healthy,
                       'desiredHealthy': desired, 'expectedPods': expected}
        if disrupted:
            status['disruptedPods'] = disrupted
        status['conditions'] = _condition({**old, 'disruptionsAllowed': allowed}, generation, stamp(now))
        write_status(self.sim, pdb_res, pdb, status)

    def _desired(self, pdb: Obj, spec: Obj, pods: list[Obj]) -> tuple[int, int, str | None]:
        """getExpectedPodCount: (expectedCount, desiredHealthy, error)."""
        if spec.get('maxUnavailable') is not None:
            expected, error = self._expected_scale(pdb, pods)
            if error is not None or expected is None:
                return 0, 0, error
            unavailable = scaled_value(spec['maxUnavailable'], expected, True)
            return expected, max(0, expected - unavailable), None
        minimum = spec.get('minAvailable')
        if minimum is None:
            return len(pods), 0, None
        if isinstance(minimum, int) or (isinstance(minimum, str) and not minimum.endswith('%')):
            return len(pods), int(minimum), None
        expected, error = self._expected_scale(pdb, pods)
        if error is not None or expected is None:
            return 0, 0, error
        return expected, scaled_value(minimum, expected, True), None


def _too_many_requests(message: str, cause: str, retry_after: int = 0) -> errors.ApiError:
    details: Obj = {'causes': [{'reason': 'DisruptionBudget', 'message': cause}]}
    if retry_after:
        details['retryAfterSeconds'] = retry_after
    return errors.ApiError(429, 'TooManyRequests', message, details)


def evict(sim: Any, namespace: str, pod_name: str, eviction: dict) -> None:
    """POST .../pods/<name>/eviction: check the pod's disruption budget and delete it, or raise the apiserver's ApiError."""
    pod_res = sim.registry.get('v1', 'Pod')
    pdb_res = sim.registry.get('policy/v1', 'PodDisruptionBudget')
    pod = sim.store.get(pod_res, namespace, pod_name)
    options = eviction.get('deleteOptions') or {}
    preconditions = options.get('preconditions') or {}
    if preconditions.get('uid') and preconditions['uid'] != pod['metadata']['uid']:
        message = (f'Operation cannot be fulfilled on Pod "{pod_name}": the UID in the precondition ({preconditions["uid"]}) '
                   f'does not match the UID in record ({pod["metadata"]["uid"]}). The object might have been deleted and then recreated')
        raise errors.ApiError(409, 'Conflict', message, {'name': pod_name, 'kind': 'Pod'})
    if preconditions.get('resourceVersion') and preconditions['resourceVersion'] != pod['metadata'].get('resourceVersion'):
        raise errors.conflict('', 'pods', pod_name)
    dry_run = bool(options.get('dryRun'))
    if phase(pod) in ('Succeeded', 'Failed', 'Pending') or is_deleting(pod):
        _delete(sim, pod, dry_run)
        return
    labels = pod['metadata'].get('labels') or {}
    pdbs = [p for p in sim.store.items(pdb_res, namespace) if pdb_selector(p).matches(labels)]
    if len(pdbs) > 1:
        text = 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.'
        raise errors.ApiError(500, 'InternalError', f'Internal error occurred: {text}', {'causes': [{'message': text}]})
    if not pdbs:
        _delete(sim, pod, dry_run)
        return
    pdb = pdbs[0]
    status = copy.deepcopy(pdb.get('status') or {})
    if not is_ready(pod):
        policy = (pdb.get('spec') or {}).get('unhealthyPodEvictionPolicy')
        healthy, desired = int(status.get('currentHealthy') or 0), int(status.get('desiredHealthy') or 0)
        if policy == 'AlwaysAllow' or (healthy >= desired and desired > 0):
            _delete(sim, pod, dry_run)
            return
    if int(status.get('observedGeneration') or 0) < int(pdb['metadata'].get('generation') or 1):
        raise _too_many_requests(EVICTION_MESSAGE, f'The disruption budget {name_of(pdb)} is still being processed by the server.', 10)
    allowed = int(status.get('disruptionsAllowed') or 0)
    if allowed < 0:
        raise errors.ApiError(403, 'Forbidden', f'poddisruptionbudgets.policy "{name_of(pdb)}" is forbidden: pdb disruptions allowed is negative',
                              {'name': name_of(pdb), 'group': 'policy', 'kind': 'poddisruptionbudgets'})
    if len(status.get('disruptedPods') or {}) > MAX_DISRUPTED_PODS:
        raise errors.ApiError(403, 'Forbidden', f'poddisruptionbudgets.policy "{name_of(pdb)}" is forbidden: DisruptedPods map too big - '
                                                'too many evictions not confirmed by PDB controller',
                              {'name': name_of(pdb), 'group': 'policy', 'kind': 'poddisruptionbudgets'})
    if allowed == 0:
        raise _too_many_requests(EVICTION_MESSAGE, f'The disruption budget {name_of(pdb)} needs {int(status.get("desiredHealthy") or 0)} '
                                                   f'healthy pods and has {int(status.get("currentHealthy") or 0)} currently')
    if dry_run:
        return
    status['disruptionsAllowed'] = allowed - 1
    now = stamp(sim.clock())
    if status['disruptionsAllowed'] == 0:
        generation = int(status.get('observedGeneration') or 1)
        status['conditions'] = _condition(status, generation, now)
    status.setdefault('disruptedPods', {})[pod_name] = now
    write_status(sim, pdb_res, pdb, status)
    _delete(sim, pod, dry_run)


def _delete(sim: Any, pod: Obj, dry_run: bool) -> None:
    """addConditionAndDeletePod: the DisruptionTarget condition, then the deletion."""
    if dry_run:
        return
    pod_res = sim.registry.get('v1', 'Pod')
    status = copy.deepcopy(pod.get('status') or {})
    if get_condition(status, 'DisruptionTarget') is None and phase(pod) not in ('Succeeded', 'Failed'):
        status['conditions'] = list(status.get('conditions') or []) + [{
            'type': 'DisruptionTarget', 'status': 'True', 'lastProbeTime': None, 'lastTransitionTime': stamp(sim.clock()),
            'reason': 'EvictionByEvictionAPI', 'message': 'Eviction API: evicting'}]
        pod = write_status(sim, pod_res, pod, status)
    sim.store.delete(pod_res, namespace_of(pod), name_of(pod))
