"""The Deployment controller, numbered as pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go).

- The new ReplicaSet is `<deployment>-<pod-template-hash>`; the hash is FNV-32a of the
  (defaulted) pod template and the collision count, written with rand.SafeEncodeString.
  The real one hashes a dump of the Go struct, so the letters differ from a real
  cluster's, but the same template always gives the same hash, and a ReplicaSet is
  found again by template equality (EqualIgnoreHash), so a rollback reuses it.
- Revisions: `deployment.kubernetes.io/revision` is max(old revisions) + 1 on the new
  ReplicaSet and on the Deployment; a reused ReplicaSet takes the new number and keeps
  its old ones in `deployment.kubernetes.io/revision-history`. The Deployment's
  annotations (but the skipped ones) are copied to the new ReplicaSet, so
  `kubernetes.io/change-cause` shows in `kubectl rollout history`.
- RollingUpdate (maxSurge rounded up, maxUnavailable down, both 0 -> unavailable 1),
  Recreate, proportional scaling, paused, revisionHistoryLimit clean-up, status and the
  Available / Progressing conditions with progressDeadlineSeconds.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from typing import Any

from .. import errors
from ..selectors import LabelSelector, label_selector_from_spec
from . import events, podcontrol
from .common import (Controller, Obj, by_creation, controller_of, controller_ref, created_at, drop_zero, get_condition, int_annotation,
                     is_controlled_by, is_deleting, modify, name_of, namespace_of, parse_time, scaled_value, template_hash, write_status)
from .defaults import apply_defaults, pod_template_defaults

COMPONENT = 'deployment-controller'
HASH_LABEL = 'pod-template-hash'
REVISION = 'deployment.kubernetes.io/revision'
REVISION_HISTORY = 'deployment.kubernetes.io/revision-history'
DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas'
MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas'
LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'
SKIPPED_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, 'deprecated.deployment.rollback.to'})
MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2 ** 31 - 1

# Condition reasons (deploymentutil).
NEW_RS_REASON = 'NewReplicaSetCreated'
FOUND_NEW_RS_REASON = 'FoundNewReplicaSet'
RS_UPDATED_REASON = 'ReplicaSetUpdated'
NEW_RS_AVAILABLE_REASON = 'NewReplicaSetAvailable'
TIMED_OUT_REASON = 'ProgressDeadlineExceeded'
PAUSED_REASON = 'DeploymentPaused'
RESUMED_REASON = 'DeploymentResumed'
MIN_AVAILABLE = 'MinimumReplicasAvailable'
MIN_UNAVAILABLE = 'MinimumReplicasUnavailable'


# -- deploymentutil -------------------------------------------------------------------------------------------


def replicas_of(obj: Obj) -> int:
    """spec.replicas (1 when missing, as defaulted)."""
    value = (obj.get('spec') or {}).get('replicas')
    return 1 if value is None else int(value)


def status_count(obj: Obj | None, field: str) -> int:
    """A status counter (0 when missing: omitempty)."""
    return int(((obj or {}).get('status') or {}).get(field) or 0)


def revision_of(obj: Obj) -> int:
    """The revision annotation as a number (0 when missing or not a number)."""
    return int_annotation(obj, REVISION) or 0


def max_revision(rss: list[Obj]) -> int:
    """deploymentutil.MaxRevision."""
    return max((revision_of(rs) for rs in rss), default=0)


def is_rolling(d: Obj) -> bool:
    """Whether the strategy is RollingUpdate."""
    return (d['spec'].get('strategy') or {}).get('type') == 'RollingUpdate'


def resolve_fenceposts(d: Obj) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: (maxSurge rounded up, maxUnavailable rounded down); both 0 gives unavailable 1."""
    rolling = (d['spec'].get('strategy') or {}).get('rollingUpdate') or {}
    desired = replicas_of(d)
    surge = scaled_value(rolling.get('maxSurge'), desired, True)
    unavailable = scaled_value(rolling.get('maxUnavailable'), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    """deploymentutil.MaxSurge."""
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    """deploymentutil.MaxUnavailable (at most spec.replicas)."""
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas_of(d))


def _normalise(value: Any) -> Any:
    """For semantic equality: nil and empty maps and lists are equal (apiequality.Semantic)."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def comparable_template(template: Obj | None) -> Obj:
    """A pod template defaulted, without the pod-template-hash label, for EqualIgnoreHash."""
    template = pod_template_defaults(copy.deepcopy(template or {}))
    labels = (template.get('metadata') or {}).get('labels')
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return _normalise(template)


def equal_ignore_hash(template1: Obj | None, template2: Obj | None) -> bool:
    """deploymentutil.EqualIgnoreHash."""
    return comparable_template(template1) == comparable_template(template2)


def has_progress_deadline(d: Obj) -> bool:
    """deploymentutil.HasProgressDeadline."""
    value = d['spec'].get('progressDeadlineSeconds')
    return value is not None and int(value) != MAX_INT32


def new_condition(type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    """deploymentutil.NewDeploymentCondition."""
    return {'type': type_, 'status': status, 'lastUpdateTime': now, 'lastTransitionTime': now, 'reason': reason, 'message': message}


def set_condition(status: Obj, condition: Obj) -> None:
    """deploymentutil.SetDeploymentCondition: nothing when status and reason are the same; else replace (moved to the end),
    keeping lastTransitionTime when the status is unchanged."""
    conditions = status.get('conditions') or []
    current = next((c for c in conditions if c.get('type') == condition['type']), None)
    if current is not None and current.get('status') == condition['status'] and current.get('reason') == condition['reason']:
        return
    if current is not None and current.get('status') == condition['status']:
        condition = {**condition, 'lastTransitionTime': current.get('lastTransitionTime')}
    status['conditions'] = [c for c in conditions if c.get('type') != condition['type']] + [condition]


def remove_condition(status: Obj, type_: str) -> None:
    """deploymentutil.RemoveDeploymentCondition."""
    status['conditions'] = [c for c in status.get('conditions') or () if c.get('type') != type_]


def active(rss: list[Obj | None]) -> list[Obj]:
    """controller.FilterActiveReplicaSets: ReplicaSets with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas_of(rs) > 0]


def sum_spec(rss: list[Obj | None]) -> int:
    """GetReplicaCountForReplicaSets."""
    return sum(replicas_of(rs) for rs in rss if rs is not None)


def sum_status(rss: list[Obj | None], field: str) -> int:
    """GetActualReplicaCountForReplicaSets (replicas), GetReadyReplicaCountForReplicaSets, GetAvailableReplicaCountForReplicaSets."""
    return sum(status_count(rs, field) for rs in rss if rs is not None)


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    """deploymentutil.ReplicasAnnotationsNeedUpdate."""
    annotations = rs['metadata'].get('annotations') or {}
    return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(maximum)


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    """deploymentutil.SetReplicasAnnotations."""
    annotations = rs['metadata'].setdefault('annotations', {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def copy_annotations(d: Obj, rs: Obj) -> bool:
    """copyDeploymentAnnotationsToReplicaSet: all but the skipped annotations."""
    annotations = rs['metadata'].setdefault('annotations', {})
    changed = False
    for key, value in (d['metadata'].get('annotations') or {}).items():
        if key in SKIPPED_ANNOTATIONS or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: str, exists: bool) -> bool:
    """deploymentutil.SetNewReplicaSetAnnotations: annotations, revision, revision-history, replicas annotations."""
    changed = copy_annotations(d, rs)
    annotations = rs['metadata'].setdefault('annotations', {})
    had_revision = REVISION in annotations
    old_revision = annotations.get(REVISION, '')
    try:
        old_number = int(old_revision) if old_revision else 0
    except ValueError:
        return False
    new_number = int(new_revision)
    if old_number < new_number:
        annotations[REVISION] = new_revision
        changed = True
    if had_revision and old_number < new_number:
        history = annotations.get(REVISION_HISTORY, '')
        old_revisions = history.split(',')
        if not old_revisions[0]:
            annotations[REVISION_HISTORY] = old_revision
        else:
            total = len(history) + len(old_revision) + 1
            start = 0
            while total > MAX_REVISION_HISTORY_CHARS and start < len(old_revisions):
                total -= len(old_revisions[start]) + 1
                start += 1
            if total <= MAX_REVISION_HISTORY_CHARS:
                annotations[REVISION_HISTORY] = ','.join(old_revisions[start:] + [old_revision])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def new_rs_new_replicas(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int:
    """deploymentutil.NewRSNewReplicas."""
    if is_rolling(d):
        surge = scaled_value(((d['spec'].get('strategy') or {}).get('rollingUpdate') or {}).get('maxSurge'), replicas_of(d), True)
        current = sum_spec(all_rss)
        max_total = replicas_of(d) + surge
        if current >= max_total:
            return replicas_of(new_rs)
        scale_up = min(max_total - current, replicas_of(d) - replicas_of(new_rs))
        return replicas_of(new_rs) + scale_up
    return replicas_of(d)


def deployment_complete(d: Obj, status: Obj) -> bool:
    """deploymentutil.DeploymentComplete."""
    wanted = replicas_of(d)
    return (int(status.get('updatedReplicas') or 0) == wanted and int(status.get('replicas') or 0) == wanted
            and int(status.get('availableReplicas') or 0) == wanted
            and int(status.get('observedGeneration') or 0) >= int(d['metadata'].get('generation') or 1))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    """deploymentutil.DeploymentProgressing: more updated, fewer old, more ready or more available than before."""
    old = d.get('status') or {}

    def count(s: Obj, key: str) -> int:
        return int(s.get(key) or 0)

    old_old = count(old, 'replicas') - count(old, 'updatedReplicas')
    new_old = count(status, 'replicas') - count(status, 'updatedReplicas')
    return (count(status, 'updatedReplicas') > count(old, 'updatedReplicas') or new_old < old_old
            or count(status, 'readyReplicas') > count(old, 'readyReplicas')
            or count(status, 'availableReplicas') > count(old, 'availableReplicas'))


def _round(value: float) -> int:
    """integer.RoundToInt32 (math.Round: halves away from zero)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def rs_fraction(rs: Obj, d: Obj) -> int:
    """getReplicaSetFraction."""
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    deployment_max = replicas_of(d) + max_surge(d)
    before = int_annotation(rs, MAX_REPLICAS)
    if not before:
        before = status_count(d, 'replicas')
        if before == 0:
            return 0
    return _round(replicas_of(rs) * deployment_max / before) - replicas_of(rs)


def rs_proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """GetReplicaSetProportion."""
    if replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = rs_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


class DeploymentController(Controller):
    """apps/v1 Deployments."""

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        deployments = self.res('apps/v1', 'Deployment')
        rss_by_ns: dict[str, list[Obj]] = defaultdict(list)
        for rs in self.store.items(self.res('apps/v1', 'ReplicaSet')):
            rss_by_ns[namespace_of(rs)].append(rs)
        pods_by_ns: dict[str, list[Obj]] = defaultdict(list)
        for pod in self.store.items(self.res('v1', 'Pod')):
            pods_by_ns[namespace_of(pod)].append(pod)
        self.each(list(self.store.items(deployments)),
                  lambda d: _Sync(self, d, rss_by_ns[namespace_of(d)], pods_by_ns[namespace_of(d)]).run())


class _Sync:
    """One syncDeployment: the deployment (defaulted view), its ReplicaSets, the writes."""

    def __init__(self, controller: DeploymentController, stored: Obj, namespace_rss: list[Obj], namespace_pods: list[Obj]) -> None:
        self.c = controller
        self.sim = controller.sim
        self.d = apply_defaults('Deployment', stored)
        self.d.setdefault('status', {})
        self.namespace_rss = namespace_rss
        self.namespace_pods = namespace_pods
        self.rs_res = controller.res('apps/v1', 'ReplicaSet')
        self.d_res = controller.res('apps/v1', 'Deployment')
        self.now = controller.now()
        self.stamp = controller.stamp()

    # -- writes ------------------------------------------------------------------------------------------------

    def _event(self, type_: str, reason: str, message: str) -> None:
        events.record(self.sim, self.d, type_, reason, message, COMPONENT)

    def _update_status(self, status: Obj) -> None:
        stored = write_status(self.sim, self.d_res, self.d, status)
        self.d['status'] = copy.deepcopy(stored.get('status') or {})
        self.d['metadata']['resourceVersion'] = stored['metadata'].get('resourceVersion')

    def _set_revision(self, revision: str) -> bool:
        """deploymentutil.SetDeploymentRevision, written at once (the real one rides on the status update)."""
        annotations = self.d['metadata'].setdefault('annotations', {})
        if annotations.get(REVISION) == revision:
            return False
        annotations[REVISION] = revision

        def change(obj: Obj) -> None:
            obj['metadata'].setdefault('annotations', {})[REVISION] = revision

        modify(self.sim, self.d_res, self.d, change)
        return True

    def _update_rs(self, rs: Obj, new: Obj) -> Obj:
        new = copy.deepcopy(new)
        new['metadata'].pop('resourceVersion', None)
        stored = self.sim.store.update(self.rs_res, new)
        rs.clear()
        rs.update(stored)
        return rs

    # -- main ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        """One sync of this object."""
        d = self.d
        selector_spec = d['spec'].get('selector')
        if selector_spec is None:
            return  # apps/v1 requires a selector; nothing to do without one
        if not selector_spec.get('matchLabels') and not selector_spec.get('matchExpressions'):
            if int(d['status'].get('observedGeneration') or 0) < int(d['metadata'].get('generation') or 1):
                self._event('Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.')
                self._update_status({**d['status'], 'observedGeneration': d['metadata'].get('generation')})
            return
        try:
            selector = label_selector_from_spec(selector_spec)
        except ValueError:
            return
        rs_list = self._claim(selector)
        if is_deleting(d):
            new_rs, old_rss = self._all_rss(rs_list, create=False)
            self._sync_status(old_rss + [new_rs], new_rs)
            return
        self._check_paused_conditions()
        if d['spec'].get('paused'):
            self._sync(rs_list)
            return
        if self._is_scaling_event(rs_list):
            self._sync(rs_list)
            return
        if (d['spec'].get('strategy') or {}).get('type') == 'Recreate':
            self._rollout_recreate(rs_list, selector)
        else:
            self._rollout_rolling(rs_list)

    def _claim(self, selector: LabelSelector) -> list[Obj]:
        """getReplicaSetsForDeployment: owned ReplicaSets, adopting orphans the selector matches."""
        return podcontrol.claim(self.sim, ('apps/v1', 'ReplicaSet'), self.d, selector, self.namespace_rss)

    # -- new / old ReplicaSets --------------------------------------------------------------------------------

    def _find_new(self, rs_list: list[Obj]) -> Obj | None:
        """deploymentutil.FindNewReplicaSet: the oldest ReplicaSet whose template equals the deployment's."""
        for rs in by_creation(rs_list):
            if equal_ignore_hash((rs.get('spec') or {}).get('template'), self.d['spec'].get('template')):
                return rs
        return None

    def _all_rss(self, rs_list: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: (new ReplicaSet or None, all old ReplicaSets)."""
        new = self._find_new(rs_list)
        old = [rs for rs in rs_list if new is None or rs['metadata']['uid'] != new['metadata']['uid']]
        new = self._new_rs(new, old, create)
        if new is not None and all(rs['metadata']['uid'] != new['metadata']['uid'] for rs in rs_list):
            rs_list.append(new)
        return new, old

    def _new_rs(self, existing: Obj | None, old: list[Obj], create: bool) -> Obj | None:
        """getNewReplicaSet."""
        d = self.d
        new_revision = str(max_revision(old) + 1)
        if existing is not None:
            rs_copy = copy.deepcopy(existing)
            annotations_updated = set_new_rs_annotations(d, rs_copy, new_revision, True)
            min_ready = int(d['spec'].get('minReadySeconds') or 0)
            if annotations_updated or int((rs_copy.get('spec') or {}).get('minReadySeconds') or 0) != min_ready:
                if min_ready:
                    rs_copy['spec']['minReadySeconds'] = min_ready
                else:
                    rs_copy['spec'].pop('minReadySeconds', None)
                return self._update_rs(existing, rs_copy)
            needs_update = self._set_revision((existing['metadata'].get('annotations') or {}).get(REVISION, ''))
            status = copy.deepcopy(d['status'])
            if has_progress_deadline(d) and get_condition(status, 'Progressing') is None:
                set_condition(status, new_condition('Progressing', 'True', FOUND_NEW_RS_REASON,
                                                    f'Found new replica set "{name_of(existing)}"', self.stamp))
                needs_update = True
            if needs_update:
                self._update_status(status)
            return existing
        if not create:
            return None
        template = copy.deepcopy(d['spec'].get('template') or {})
        collision = d['status'].get('collisionCount')
        pod_hash = template_hash(template, collision)
        labels = dict((template.get('metadata') or {}).get('labels') or {})
        labels[HASH_LABEL] = pod_hash
        template.setdefault('metadata', {})['labels'] = labels
        selector = copy.deepcopy(d['spec'].get('selector') or {})
        selector.setdefault('matchLabels', {})[HASH_LABEL] = pod_hash
        name = f'{name_of(d)}-{pod_hash}'
        new_rs: Obj = {
            'apiVersion': 'apps/v1', 'kind': 'ReplicaSet',
            'metadata': {'name': name, 'namespace': namespace_of(d), 'labels': dict(labels),
                         'ownerReferences': [controller_ref(d)]},
            'spec': {'replicas': 0, 'selector': selector, 'template': template},
        }
        if d['spec'].get('minReadySeconds'):
            new_rs['spec']['minReadySeconds'] = d['spec']['minReadySeconds']
        replicas = new_rs_new_replicas(d, old + [new_rs], new_rs)
        new_rs['spec']['replicas'] = replicas
        set_new_rs_annotations(d, new_rs, new_revision, False)
        already_exists = False
        try:
            created = self.sim.store.create(self.rs_res, new_rs)
        except errors.ApiError as exc:
            if exc.code != 409:
                raise
            found = self.sim.store.get(self.rs_res, namespace_of(d), name)
            if is_controlled_by(found, d) and equal_ignore_hash(d['spec'].get('template'), (found.get('spec') or {}).get('template')):
                created, already_exists = found, True
            else:
                status = copy.deepcopy(d['status'])
                status['collisionCount'] = int(status.get('collisionCount') or 0) + 1
                self._update_status(status)
                return None
        if not already_exists and replicas > 0:
            self._event('Normal', 'ScalingReplicaSet', f'Scaled up replica set {name_of(created)} from 0 to {replicas}')
        needs_update = self._set_revision(new_revision)
        status = copy.deepcopy(d['status'])
        if not already_exists and has_progress_deadline(d):
            set_condition(status, new_condition('Progressing', 'True', NEW_RS_REASON, f'Created new replica set "{name_of(created)}"', self.stamp))
            needs_update = True
        if needs_update:
            self._update_status(status)
        return created

    # -- scaling ---------------------------------------------------------------------------------------------------

    def _scale_rs(self, rs: Obj, new_scale: int) -> bool:
        """scaleReplicaSet: replicas and the desired/max annotations; a ScalingReplicaSet event when the size changed."""
        d = self.d
        old_scale = replicas_of(rs)
        size_needs_update = old_scale != new_scale
        maximum = replicas_of(d) + max_surge(d)
        if not size_needs_update and not replicas_annotations_need_update(rs, replicas_of(d), maximum):
            return False
        rs_copy = copy.deepcopy(rs)
        rs_copy['spec']['replicas'] = new_scale
        set_replicas_annotations(rs_copy, replicas_of(d), maximum)
        self._update_rs(rs, rs_copy)
        if size_needs_update:
            direction = 'up' if old_scale < new_scale else 'down'
            self._event('Normal', 'ScalingReplicaSet', f'Scaled {direction} replica set {name_of(rs)} from {old_scale} to {new_scale}')
        return size_needs_update

    def _scale_and_record(self, rs: Obj, new_scale: int) -> bool:
        """scaleReplicaSetAndRecordEvent."""
        if replicas_of(rs) == new_scale:
            return False
        return self._scale_rs(rs, new_scale)

    def _is_scaling_event(self, rs_list: list[Obj]) -> bool:
        """isScalingEvent: an active ReplicaSet's desired-replicas annotation differs from spec.replicas."""
        new, old = self._all_rss(rs_list, create=False)
        for rs in active(old + [new]):
            desired = int_annotation(rs, DESIRED_REPLICAS)
            if desired is not None and desired != replicas_of(self.d):
                return True
        return False

    def _sync(self, rs_list: list[Obj]) -> None:
        """sync: scaling and paused deployments."""
        new, old = self._all_rss(rs_list, create=False)
        self._scale(new, old)
        if self.d['spec'].get('paused'):
            self._cleanup(old)
        self._sync_status(old + [new], new)

    def _scale(self, new: Obj | None, old: list[Obj]) -> None:
        """scale: proportional scaling of the active ReplicaSets."""
        d = self.d
        latest = self._active_or_latest(new, old)
        if latest is not None:
            if replicas_of(latest) != replicas_of(d):
                self._scale_and_record(latest, replicas_of(d))
            return
        if self._is_saturated(new):
            for rs in active(old):
                self._scale_and_record(rs, 0)
            return
        if not is_rolling(d):
            return
        all_rss = active(old + [new])
        allowed = replicas_of(d) + max_surge(d) if replicas_of(d) > 0 else 0
        to_add = allowed - sum_spec(all_rss)
        if to_add > 0:  # ReplicaSetsBySizeNewer
            all_rss.sort(key=lambda rs: (-replicas_of(rs), -created_at(rs), name_of(rs)))
        elif to_add < 0:  # ReplicaSetsBySizeOlder
            all_rss.sort(key=lambda rs: (-replicas_of(rs), created_at(rs), name_of(rs)))
        added = 0
        sizes = {}
        for rs in all_rss:
            if to_add != 0:
                proportion = rs_proportion(rs, d, to_add, added)
                sizes[name_of(rs)] = replicas_of(rs) + proportion
                added += proportion
            else:
                sizes[name_of(rs)] = replicas_of(rs)
        for index, rs in enumerate(all_rss):
            if index == 0 and to_add != 0:
                sizes[name_of(rs)] = max(0, sizes[name_of(rs)] + to_add - added)
            self._scale_rs(rs, sizes[name_of(rs)])

    @staticmethod
    def _active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
        """deploymentutil.FindActiveOrLatest."""
        if new is None and not old:
            return None
        old_sorted = sorted(old, key=lambda rs: (created_at(rs), name_of(rs)), reverse=True)
        all_active = active(old_sorted + [new])
        if not all_active:
            return new if new is not None else old_sorted[0]
        if len(all_active) == 1:
            return all_active[0]
        return None

    def _is_saturated(self, rs: Obj | None) -> bool:
        """deploymentutil.IsSaturated."""
        if rs is None:
            return False
        desired = int_annotation(rs, DESIRED_REPLICAS)
        wanted = replicas_of(self.d)
        return desired is not None and replicas_of(rs) == wanted and desired == wanted and status_count(rs, 'availableReplicas') == wanted

    # -- rolling update ------------------------------------------------------------------------------------------------

    def _rollout_rolling(self, rs_list: list[Obj]) -> None:
        """rolloutRolling."""
        new, old = self._all_rss(rs_list, create=True)
        if new is None:
            return  # a hash collision: counted, retried next tick
        all_rss = old + [new]
        if self._reconcile_new(all_rss, new):
            self._sync_rollout_status(all_rss, new)
            return
        if self._reconcile_old(all_rss, active(old), new):
            self._sync_rollout_status(all_rss, new)
            return
        if deployment_complete(self.d, self.d['status']):
            self._cleanup(old)
        self._sync_rollout_status(all_rss, new)

    def _reconcile_new(self, all_rss: list[Obj], new: Obj) -> bool:
        """reconcileNewReplicaSet."""
        wanted = replicas_of(self.d)
        if replicas_of(new) == wanted:
            return False
        if replicas_of(new) > wanted:
            return self._scale_and_record(new, wanted)
        return self._scale_and_record(new, new_rs_new_replicas(self.d, all_rss, new))

    def _reconcile_old(self, all_rss: list[Obj], old: list[Obj], new: Obj) -> bool:
        """reconcileOldReplicaSets: clean up unhealthy old replicas, then scale old down as far as maxUnavailable allows."""
        d = self.d
        if sum_spec(old) == 0:
            return False
        all_count = sum_spec(all_rss)
        min_available = replicas_of(d) - max_unavailable(d)
        new_unavailable = replicas_of(new) - status_count(new, 'availableReplicas')
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = 0
        for rs in by_creation(old):
            if cleaned >= max_scaled_down:
                break
            if replicas_of(rs) == 0 or replicas_of(rs) == status_count(rs, 'availableReplicas'):
                continue
            count = min(max_scaled_down - cleaned, replicas_of(rs) - status_count(rs, 'availableReplicas'))
            self._scale_and_record(rs, replicas_of(rs) - count)
            cleaned += count
        scaled = self._scale_down_old_for_rolling(old + [new], old)
        return cleaned + scaled > 0

    def _scale_down_old_for_rolling(self, all_rss: list[Obj], old: list[Obj]) -> int:
        """scaleDownOldReplicaSetsForRollingUpdate."""
        d = self.d
        min_available = replicas_of(d) - max_unavailable(d)
        available = sum_status(all_rss, 'availableReplicas')
        if available <= min_available:
            return 0
        total = 0
        to_scale_down = available - min_available
        for rs in by_creation(old):
            if total >= to_scale_down:
                break
            if replicas_of(rs) == 0:
                continue
            count = min(replicas_of(rs), to_scale_down - total)
            self._scale_and_record(rs, replicas_of(rs) - count)
            total += count
        return total

    # -- recreate --------------------------------------------------------------------------------------------------------

    def _rollout_recreate(self, rs_list: list[Obj], selector: LabelSelector) -> None:
        """rolloutRecreate: old ReplicaSets to 0, wait until their pods are gone, then the new one up."""
        new, old = self._all_rss(rs_list, create=False)
        all_rss = old + [new]
        scaled_down = False
        for rs in active(old):
            scaled_down = self._scale_and_record(rs, 0) or scaled_down
        if scaled_down:
            self._sync_rollout_status(all_rss, new)
            return
        if self._old_pods_running(new, old, selector):
            self._sync_rollout_status(all_rss, new)
            return
        if new is None:
            new, old = self._all_rss(rs_list, create=True)
            if new is None:
                return
            all_rss = old + [new]
        self._scale_and_record(new, replicas_of(self.d))
        if deployment_complete(self.d, self.d['status']):
            self._cleanup(old)
        self._sync_rollout_status(all_rss, new)

    def _old_pods_running(self, new: Obj | None, old: list[Obj], selector: LabelSelector) -> bool:
        """oldPodsRunning."""
        if sum_status(old, 'replicas') > 0:
            return True
        rs_uids = {rs['metadata']['uid'] for rs in old}
        for pod in self.namespace_pods:
            ref = controller_of(pod)
            if ref is None or ref.get('uid') not in rs_uids or not selector.matches(pod['metadata'].get('labels') or {}):
                continue
            if new is not None and ref.get('uid') == new['metadata']['uid']:
                continue
            if self.sim.store.find(self.c.res('v1', 'Pod'), namespace_of(pod), name_of(pod)) is None:
                continue
            if (pod.get('status') or {}).get('phase') not in ('Failed', 'Succeeded'):
                return True
        return False

    # -- clean-up and status -------------------------------------------------------------------------------------------------

    def _cleanup(self, old: list[Obj]) -> None:
        """cleanupDeployment: delete the oldest old ReplicaSets with no replicas beyond revisionHistoryLimit."""
        limit = self.d['spec'].get('revisionHistoryLimit')
        if limit is None:
            return
        alive = [rs for rs in old if not is_deleting(rs)]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        alive.sort(key=lambda rs: (revision_of(rs), created_at(rs), name_of(rs)))  # ReplicaSetsByRevision
        for rs in alive[:diff]:
            if status_count(rs, 'replicas') != 0 or replicas_of(rs) != 0 or is_deleting(rs):
                continue
            if int(rs['metadata'].get('generation') or 1) > status_count(rs, 'observedGeneration'):
                continue
            try:
                self.sim.store.delete(self.rs_res, namespace_of(rs), name_of(rs))
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise

    def _calculate_status(self, all_rss: list[Obj | None], new: Obj | None) -> Obj:
        """calculateStatus."""
        d = self.d
        available = sum_status(all_rss, 'availableReplicas')
        total = sum_spec(all_rss)
        status: Obj = {
            'observedGeneration': d['metadata'].get('generation') or 1,
            'replicas': sum_status(all_rss, 'replicas'),
            'updatedReplicas': sum_status([new], 'replicas'),
            'readyReplicas': sum_status(all_rss, 'readyReplicas'),
            'availableReplicas': available,
            'unavailableReplicas': max(0, total - available),
            'conditions': copy.deepcopy(d['status'].get('conditions') or []),
        }
        if d['status'].get('collisionCount') is not None:
            status['collisionCount'] = d['status']['collisionCount']
        if available >= replicas_of(d) - max_unavailable(d):
            set_condition(status, new_condition('Available', 'True', MIN_AVAILABLE, 'Deployment has minimum availability.', self.stamp))
        else:
            set_condition(status, new_condition('Available', 'False', MIN_UNAVAILABLE, 'Deployment does not have minimum availability.',
                                                self.stamp))
        return status

    def _finish(self, status: Obj) -> None:
        drop_zero(status, 'observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas',
                  'unavailableReplicas', 'conditions')
        if status != self.d['status']:
            self._update_status(status)

    def _sync_status(self, all_rss: list[Obj | None], new: Obj | None) -> None:
        """syncDeploymentStatus."""
        self._finish(self._calculate_status(all_rss, new))

    def _sync_rollout_status(self, all_rss: list[Obj | None], new: Obj | None) -> None:
        """syncRolloutStatus: the status and the Progressing condition (progress, completion, timeout)."""
        d = self.d
        status = self._calculate_status(all_rss, new)
        if not has_progress_deadline(d):
            remove_condition(status, 'Progressing')
        current = get_condition(d['status'], 'Progressing')
        complete_already = (int(status.get('replicas') or 0) == int(status.get('updatedReplicas') or 0)
                            and current is not None and current.get('reason') == NEW_RS_AVAILABLE_REASON)
        if has_progress_deadline(d) and not complete_already:
            if deployment_complete(d, status):
                message = f'ReplicaSet "{name_of(new)}" has successfully progressed.' if new is not None else \
                    f'Deployment "{name_of(d)}" has successfully progressed.'
                set_condition(status, new_condition('Progressing', 'True', NEW_RS_AVAILABLE_REASON, message, self.stamp))
            elif deployment_progressing(d, status):
                message = f'ReplicaSet "{name_of(new)}" is progressing.' if new is not None else f'Deployment "{name_of(d)}" is progressing.'
                condition = new_condition('Progressing', 'True', RS_UPDATED_REASON, message, self.stamp)
                if current is not None:
                    if current.get('status') == 'True':
                        condition['lastTransitionTime'] = current.get('lastTransitionTime')
                    remove_condition(status, 'Progressing')
                set_condition(status, condition)
            elif self._timed_out(status):
                message = f'ReplicaSet "{name_of(new)}" has timed out progressing.' if new is not None else \
                    f'Deployment "{name_of(d)}" has timed out progressing.'
                set_condition(status, new_condition('Progressing', 'False', TIMED_OUT_REASON, message, self.stamp))
        failures = [get_condition(rs.get('status'), 'ReplicaFailure') for rs in all_rss if rs is not None]
        failure = next((f for f in failures if f is not None and f.get('status') == 'True'), None)
        if failure is not None:
            set_condition(status, new_condition('ReplicaFailure', failure['status'], failure.get('reason', ''), failure.get('message', ''),
                                                self.stamp))
        else:
            remove_condition(status, 'ReplicaFailure')
        self._finish(status)

    def _timed_out(self, status: Obj) -> bool:
        """deploymentutil.DeploymentTimedOut: no progress for progressDeadlineSeconds since the Progressing lastUpdateTime."""
        condition = get_condition(status, 'Progressing')
        if condition is None or condition.get('reason') == NEW_RS_AVAILABLE_REASON:
            return False
        if condition.get('reason') == TIMED_OUT_REASON:
            return True
        since = parse_time(condition.get('lastUpdateTime'))
        if since is None:
            return False
        return since + int(self.d['spec'].get('progressDeadlineSeconds')) < self.now

    def _check_paused_conditions(self) -> None:
        """checkPausedConditions: Progressing Unknown DeploymentPaused / DeploymentResumed."""
        d = self.d
        if not has_progress_deadline(d):
            return
        condition = get_condition(d['status'], 'Progressing')
        if condition is not None and condition.get('reason') == TIMED_OUT_REASON:
            return
        paused_exists = condition is not None and condition.get('reason') == PAUSED_REASON
        status = copy.deepcopy(d['status'])
        if d['spec'].get('paused') and not paused_exists:
            set_condition(status, new_condition('Progressing', 'Unknown', PAUSED_REASON, 'Deployment is paused', self.stamp))
        elif not d['spec'].get('paused') and paused_exists:
            set_condition(status, new_condition('Progressing', 'Unknown', RESUMED_REASON, 'Deployment is resumed', self.stamp))
        else:
            return
        self._update_status(status)
