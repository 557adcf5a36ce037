# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Rollouts of Deployments, StatefulSets and DaemonSets: history, rollback, restart, status.

Most of this file is pure functions on the objects as the API returns them
(plain dicts), unit-tested without a cluster:

- history: deployment_history() from the Deployment's ReplicaSets,
  controller_revision_history() from the ControllerRevisions of a StatefulSet
  or DaemonSet; both give "revision records" (see _record()).
- planning: plan_rollback() and plan_restart() turn the workload, its history
  and the options into a plan: the actions, the patch, and whether anything
  changes at all (a declarative target, so a second run is changed=false).
- status: evaluate_rollout() follows `kubectl rollout status` and fails fast on
  new pods that cannot become ready (CrashLoopBackOff, image pull errors,
  OOMKilled), naming the pod, the container and the reason.
- diagnostics for the _info module: pod_summary(), warning_events(), hpa_summary().

The thin readers and writers at the end (read_*, apply_patch, wait_for_rollout)
are the only code that talks to the API.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json
import re
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import label_selector_string

API_VERSION = "apps/v1"
KINDS = ("Deployment", "StatefulSet", "DaemonSet")

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DEPLOYMENT_ANNOTATION_PREFIX = "deployment.kubernetes.io/"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"
REVISION_HASH_LABEL = "controller-revision-hash"

# What this collection records on the workload when it rolls back (see rollback_is_latest()).
ROLLED_BACK_FROM = "sre.runbooks/rolled-back-from"
ROLLED_BACK_TO = "sre.runbooks/rolled-back-to"
OWN_ANNOTATION_PREFIX = "sre.runbooks/"

# kubectl's annotationsToSkip (polymorphichelpers/rollback.go): a rollback copies every other
# annotation of the target ReplicaSet onto the Deployment.
ANNOTATIONS_TO_SKIP = frozenset((
    LAST_APPLIED,
    REVISION,
    REVISION_HISTORY,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
))

JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

COMPLETE = "complete"
PROGRESSING = "progressing"
FAILED = "failed"

OOM_KILLED = "OOMKilled"
# Waiting reasons of a container that will not start without someone changing something.
FAILING_WAITING_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError")
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
DEPLOYMENT_PAUSED = "DeploymentPaused"
ON_DELETE = "OnDelete"
FAILURES_IN_MESSAGE = 3

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


# -- small helpers ------------------------------------------------------------------------------------------

def describe(kind, namespace, name):
    """'deployment shop/web', for messages."""
    return "{0} {1}/{2}".format(kind.lower(), namespace, name)


def _meta(obj):
    return (obj or {}).get("metadata") or {}


def _annotations(obj):
    return _meta(obj).get("annotations") or {}


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def owned_by(obj, owner):
    """Whether owner is the controller of obj (ownerReferences, by uid)."""
    uid = _meta(owner).get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid for ref in _meta(obj).get("ownerReferences") or [])


def parse_time(value):
    """An RFC 3339 timestamp as an aware datetime; without an offset it is UTC. ValueError if it is not one."""
    match = _RFC3339.match(str(value).strip())
    if not match:
        raise ValueError("{0!r} is not an RFC 3339 timestamp such as 2026-01-03T10:00:00Z".format(value))
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    offset = datetime.timedelta(0)
    if sign:
        offset = datetime.timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                             tzinfo=datetime.timezone(offset))


def format_time(moment):
    """RFC 3339 in UTC, seconds precision, as kubectl writes restartedAt (kubectl uses local time)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def _prune(value):
    """Drop null, empty maps and empty lists at any depth: the API treats them as absent."""
    if isinstance(value, dict):
        pruned = {}
        for key, item in value.items():
            item = _prune(item)
            if item is None or item == {} or item == []:
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def comparable_template(template):
    """A pod template for comparison: without the pod-template-hash label and deployment.kubernetes.io/* annotations."""
    template = copy.deepcopy(template or {})
    template.pop("$patch", None)
    meta = template.get("metadata") or {}
    (meta.get("labels") or {}).pop(HASH_LABEL, None)
    annotations = meta.get("annotations") or {}
    for key in [k for k in annotations if k.startswith(DEPLOYMENT_ANNOTATION_PREFIX)]:
        del annotations[key]
    return _prune(template)


def templates_equal(left, right):
    """Whether two pod templates describe the same pods (kubectl's equalIgnoreHash, on the served objects)."""
    return comparable_template(left) == comparable_template(right)


def template_images(template):
    """{container name: image} of a pod template, init containers first, in their order."""
    spec = (template or {}).get("spec") or {}
    images = {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        images[container.get("name")] = container.get("image")
    return images


def images_text(images):
    """'nginx:1.25' for one container, 'app=shop:2, proxy=envoy:1.30' for several."""
    if len(images) == 1:
        return str(list(images.values())[0])
    return ", ".join("{0}={1}".format(name, image) for name, image in images.items())


def workload_template(workload):
    return ((workload or {}).get("spec") or {}).get("template") or {}


# -- history ------------------------------------------------------------------------------------------------

def _record(revision, former, obj, template, annotations):
    """A revision record: what the planning functions work on. template and annotations stay internal."""
    return dict(
        revision=revision,
        former_revisions=former,
        name=_meta(obj).get("name"),
        created=_meta(obj).get("creationTimestamp"),
        change_cause=annotations.get(CHANGE_CAUSE),
        images=template_images(template),
        template=template,
        annotations=annotations,
    )


def deployment_history(deployment, replicasets):
    """Revision records of a Deployment from the ReplicaSets it controls, oldest revision first.

    A ReplicaSet the Deployment went back to keeps its earlier numbers in
    deployment.kubernetes.io/revision-history: they are former_revisions.
    ReplicaSets not numbered yet are left out.
    """
    records = []
    for rs in replicasets:
        if not owned_by(rs, deployment):
            continue
        annotations = _annotations(rs)
        revision = _int(annotations.get(REVISION))
        if revision is None:
            continue
        former = [n for n in (_int(part) for part in (annotations.get(REVISION_HISTORY) or "").split(",")) if n is not None]
        template = ((rs.get("spec") or {}).get("template")) or {}
        records.append(_record(revision, former, rs, template, annotations))
    return sorted(records, key=lambda r: r["revision"])


def revision_template(controller_revision):
    """The pod template a ControllerRevision restores (its data is {"spec": {"template": {..., "$patch": "replace"}}})."""
    data = controller_revision.get("data") or {}
    if isinstance(data, str):
        data = json.loads(data)
    template = copy.deepcopy(((data.get("spec") or {}).get("template")) or {})
    template.pop("$patch", None)
    return template


def controller_revision_history(workload, controller_revisions):
    """Revision records of a StatefulSet or DaemonSet from the ControllerRevisions it controls, oldest first."""
    records = []
    for cr in controller_revisions:
        if not owned_by(cr, workload):
            continue
        revision = _int(cr.get("revision"))
        if revision is None:
            continue
        records.append(_record(revision, [], cr, revision_template(cr), _annotations(cr)))
    return sorted(records, key=lambda r: r["revision"])


def build_history(kind, workload, owned):
    """deployment_history() or controller_revision_history(), by kind."""
    if kind == "Deployment":
        return deployment_history(workload, owned)
    return controller_revision_history(workload, owned)


def current_record(workload, records):
    """The record of the workload's template (the newest if several), or None when the controller has not made it yet."""
    template = workload_template(workload)
    matching = [r for r in records if templates_equal(r["template"], template)]
    return matching[-1] if matching else None


def current_revision(workload, records):
    """The number of the revision the workload's template is, else the revision the workload announces, else the newest."""
    record = current_record(workload, records)
    if record is not None:
        return record["revision"]
    announced = _int(_annotations(workload).get(REVISION))
    if announced is not None:
        return announced
    return records[-1]["revision"] if records else None


def find_revision(records, number):
    """The record numbered `number` now, else the one that had that number before (a Deployment's revision-history)."""
    for record in records:
        if record["revision"] == number:
            return record
    for record in records:
        if number in record["former_revisions"]:
            return record
    return None


def public_history(records, current=None):
    """The history as modules return it: oldest revision first, no templates."""
    return [
        dict(
            revision=r["revision"],
            former_revisions=list(r["former_revisions"]),
            name=r["name"],
            created=r["created"],
            change_cause=r["change_cause"],
            images=dict(r["images"]),
            current=r["revision"] == current,
        )
        for r in records
    ]


def _available(records):
    if not records:
        return "there is no revision history"
    return "available revisions: " + ", ".join("{0} ({1})".format(r["revision"], images_text(r["images"])) for r in records)


# -- the rollback this collection records -------------------------------------------------------------------

def recorded_rollback(workload):
    """(from revision, to revision) of the last rollback this collection made, from the workload's annotations, or None."""
    annotations = _annotations(workload)
    source = _int(annotations.get(ROLLED_BACK_FROM))
    if source is None:
        return None
    return source, _int(annotations.get(ROLLED_BACK_TO))


def rollback_is_latest(workload, records):
    """Whether the rollback recorded on the workload is still its latest change.

    That is: the workload no longer has the template of the revision it was
    rolled back from (S), every revision numbered above S has the workload's
    template (the controller renumbers the revision it went back to as S+1;
    any later rollout or restart adds another revision above S), and the
    revision it was rolled back to, while it still carries its old number,
    has the workload's template.
    Stale annotations (copied back by `kubectl rollout undo`, or left by a
    later `kubectl apply`) therefore never count.
    """
    recorded = recorded_rollback(workload)
    if recorded is None:
        return False
    source, target = recorded
    template = workload_template(workload)
    for record in records:
        if record["revision"] == source and templates_equal(record["template"], template):
            return False
        if record["revision"] > source and not templates_equal(record["template"], template):
            return False
    if target is not None:
        record = find_revision(records, target)
        if record is not None and record["revision"] < source and not templates_equal(record["template"], template):
            return False
    return True


# -- planning -----------------------------------------------------------------------------------------------

def check_paused(kind, workload, resume, action, what):
    """Refuse to change a paused Deployment unless resume is set: it would not roll out the change."""
    if kind == "Deployment" and (workload.get("spec") or {}).get("paused") and not resume:
        raise RunbookError(
            action, what,
            "it is paused, and a paused Deployment does not roll out a new template. "
            "Set resume=true to resume it as part of this task, or resume it with 'kubectl rollout resume' first",
        )


def is_paused(kind, workload):
    return kind == "Deployment" and bool((workload.get("spec") or {}).get("paused"))


def choose_target(workload, records, to_revision=None, image=None, what="the workload"):
    """The revision to roll back to, and whether the workload already has its template.

    to_revision: that revision (its current number, or a number it had before).
    image: the newest revision one of whose containers runs exactly that image.
    neither: "previous", the newest revision older than the current one, unless
    the last rollback this collection made is still the latest change
    (rollback_is_latest()): then the workload is where "previous" took it.

    Returns dict(target=record, current=number, satisfied=bool). Raises RunbookError when there is no such revision.
    """
    template = workload_template(workload)
    current = current_revision(workload, records)
    if to_revision is not None:
        target = find_revision(records, to_revision)
        if target is None:
            recorded = recorded_rollback(workload)
            if recorded and recorded[1] == to_revision and rollback_is_latest(workload, records):
                # A ControllerRevision loses its old number when reused; the annotation remembers it.
                target = current_record(workload, records)
        if target is None:
            raise RunbookError("roll back", what, "revision {0} not found; {1}".format(to_revision, _available(records)))
    elif image is not None:
        running = [r for r in records if image in r["images"].values()]
        if not running:
            raise RunbookError("roll back", what, "no revision runs the image {0}; {1}".format(image, _available(records)))
        target = running[-1]
    else:
        target = None
        if rollback_is_latest(workload, records):
            target = current_record(workload, records)
        if target is None:
            older = [r for r in records
                     if current is not None and r["revision"] < current and not templates_equal(r["template"], template)]
            if not older:
                raise RunbookError("roll back", what, "there is no revision older than the current revision {0} to go back to; {1}".format(
                    current, _available(records)))
            target = older[-1]
    return dict(target=target, current=current, satisfied=templates_equal(target["template"], template))


def _pointer(key):
    """A JSON pointer token (RFC 6901): ~ and / escaped."""
    return key.replace("~", "~0").replace("/", "~1")


def rollback_annotations(kind, workload_annotations, target, source):
    """The annotations a rollback sets on the workload and the ones it removes: (dict to set, list to remove).

    Deployment: like kubectl, the target ReplicaSet's annotations but the skipped
    ones (so its change-cause comes back). Unlike kubectl, which replaces the
    whole map, the Deployment's other annotations stay. StatefulSet, DaemonSet:
    the change-cause of the ControllerRevision (kubectl leaves the annotations alone).
    A change-cause the target does not have is removed: it described the template being replaced.
    Both: the revision rolled back from and to (ROLLED_BACK_FROM, ROLLED_BACK_TO).
    """
    wanted = {}
    if kind == "Deployment":
        for key, value in target["annotations"].items():
            if key not in ANNOTATIONS_TO_SKIP and not key.startswith(OWN_ANNOTATION_PREFIX):
                wanted[key] = value
    elif CHANGE_CAUSE in target["annotations"]:
        wanted[CHANGE_CAUSE] = target["annotations"][CHANGE_CAUSE]
    wanted[ROLLED_BACK_FROM] = str(source)
    wanted[ROLLED_BACK_TO] = str(target["revision"])
    to_set = dict((k, v) for k, v in wanted.items() if workload_annotations.get(k) != v)
    to_remove = [CHANGE_CAUSE] if CHANGE_CAUSE in workload_annotations and CHANGE_CAUSE not in wanted else []
    return to_set, to_remove


def rollback_patch(kind, workload, target, source, resume=False):
    """(content type, body) that puts the target revision's template back, as kubectl rollout undo does.

    Deployment: a JSON patch replacing /spec/template with the ReplicaSet's
    template minus its pod-template-hash label, and per-key annotation changes.
    StatefulSet, DaemonSet: the ControllerRevision's data (a strategic merge
    patch replacing spec.template) plus the annotations.
    """
    annotations = _annotations(workload)
    to_set, to_remove = rollback_annotations(kind, annotations, target, source)
    template = copy.deepcopy(target["template"])
    if kind == "Deployment":
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(HASH_LABEL, None)
        ops = [{"op": "replace", "path": "/spec/template", "value": template}]
        if not _meta(workload).get("annotations"):
            ops.append({"op": "add", "path": "/metadata/annotations", "value": to_set})
        else:
            ops.extend({"op": "add", "path": "/metadata/annotations/" + _pointer(k), "value": v} for k, v in sorted(to_set.items()))
            ops.extend({"op": "remove", "path": "/metadata/annotations/" + _pointer(k)} for k in to_remove)
        if resume and is_paused(kind, workload):
            ops.append({"op": "replace", "path": "/spec/paused", "value": False})
        return JSON_PATCH, ops
    template["$patch"] = "replace"
    changes = dict(to_set)
    changes.update((k, None) for k in to_remove)
    return STRATEGIC_MERGE_PATCH, {"metadata": {"annotations": changes}, "spec": {"template": template}}


def resume_patch():
    """Strategic merge patch that resumes a paused Deployment (kubectl rollout resume)."""
    return STRATEGIC_MERGE_PATCH, {"spec": {"paused": False}}


def _plan(kind, workload, records, what):
    template = workload_template(workload)
    current = current_record(workload, records)
    return dict(
        kind=kind,
        changed=False,
        actions=[],
        patch_type=None,
        patch=None,
        from_revision=current_revision(workload, records),
        images_before=template_images(template),
        images_after=template_images(template),
        change_cause=(current or {}).get("change_cause"),
        what=what,
    )


def plan_rollback(kind, workload, records, to_revision=None, image=None, resume=False, what=None):
    """The plan of a rollback: dict(changed, actions, patch_type, patch, from_revision, to_revision, images_before,
    images_after, change_cause). A paused Deployment is refused unless resume (which is then part of the change)."""
    what = what or describe(kind, _meta(workload).get("namespace"), _meta(workload).get("name"))
    check_paused(kind, workload, resume, "roll back", what)
    choice = choose_target(workload, records, to_revision=to_revision, image=image, what=what)
    target = choice["target"]
    plan = _plan(kind, workload, records, what)
    plan.update(
        to_revision=target["revision"],
        change_cause=target["change_cause"],
        images_after=dict(target["images"]),
    )
    if not choice["satisfied"]:
        plan["patch_type"], plan["patch"] = rollback_patch(kind, workload, target, choice["current"], resume=resume)
        if is_paused(kind, workload):
            plan["actions"].append("resume {0}".format(what))
        plan["actions"].append("roll back {0} from revision {1} ({2}) to revision {3} ({4})".format(
            what, choice["current"], images_text(plan["images_before"]), target["revision"], images_text(target["images"])))
    elif is_paused(kind, workload):
        plan["patch_type"], plan["patch"] = resume_patch()
        plan["actions"].append("resume {0}".format(what))
    plan["changed"] = bool(plan["actions"])
    return plan


def restart_needed(workload, restarted_after):
    """Whether a restart is due: always without restarted_after; else unless the template's restartedAt is at or after it."""
    if restarted_after is None:
        return True
    annotations = (workload_template(workload).get("metadata") or {}).get("annotations") or {}
    last = annotations.get(RESTARTED_AT)
    if not last:
        return True
    try:
        return parse_time(last) < restarted_after
    except ValueError:
        return True  # not a time we can read: restart, which writes one we can


def restart_patch(now, resume=False):
    """Strategic merge patch of kubectl rollout restart: the template's restartedAt annotation set to now."""
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: format_time(now)}}}}}
    if resume:
        body["spec"]["paused"] = False
    return STRATEGIC_MERGE_PATCH, body


def plan_restart(kind, workload, records, now, restarted_after=None, resume=False, what=None):
    """The plan of a restart (same keys as plan_rollback(), plus restarted_at)."""
    what = what or describe(kind, _meta(workload).get("namespace"), _meta(workload).get("name"))
    check_paused(kind, workload, resume, "restart", what)
    plan = _plan(kind, workload, records, what)
    paused = is_paused(kind, workload)
    plan["restarted_at"] = ((workload_template(workload).get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
    if paused:
        plan["actions"].append("resume {0}".format(what))
    if restart_needed(workload, restarted_after):
        plan["patch_type"], plan["patch"] = restart_patch(now, resume=paused)
        plan["restarted_at"] = format_time(now)
        plan["actions"].append("restart {0} ({1}={2})".format(what, RESTARTED_AT, plan["restarted_at"]))
    elif paused:
        plan["patch_type"], plan["patch"] = resume_patch()
    plan["changed"] = bool(plan["actions"])
    return plan


# -- rollout status -----------------------------------------------------------------------------------------

def _status(state, message, reason=None, failures=None):
    return dict(state=state, reason=reason, message=message, failures=list(failures or []))


def container_failure(status):
    """(reason, detail) when a container status shows it cannot become ready, else None.

    OOMKilled (now or as the last termination of a container not ready) comes
    first, as it explains the CrashLoopBackOff that follows it.
    """
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    terminated = state.get("terminated") or {}
    waiting = state.get("waiting") or {}
    restarts = int(status.get("restartCount") or 0)
    if terminated.get("reason") == OOM_KILLED or (last.get("reason") == OOM_KILLED and not status.get("ready")):
        exit_code = terminated.get("exitCode", last.get("exitCode"))
        return OOM_KILLED, "OOMKilled (exit code {0}, {1} restarts)".format(exit_code, restarts)
    reason = waiting.get("reason")
    if reason in FAILING_WAITING_REASONS:
        if reason == "CrashLoopBackOff" and last:
            return reason, "CrashLoopBackOff (last exit: {0}, exit code {1}, {2} restarts)".format(
                last.get("reason") or "unknown", last.get("exitCode"), restarts)
        detail = waiting.get("message")
        return reason, "{0}{1}".format(reason, ": " + detail if detail else "")
    return None


def pod_failures(pods):
    """Failing containers of these pods, by pod name: [dict(pod, container, reason, message, exit_code, restart_count)]."""
    failures = []
    for pod in sorted(pods, key=lambda p: _meta(p).get("name") or ""):
        status = pod.get("status") or {}
        for cstatus in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            found = container_failure(cstatus)
            if found is None:
                continue
            reason, detail = found
            terminated = ((cstatus.get("state") or {}).get("terminated")) or ((cstatus.get("lastState") or {}).get("terminated")) or {}
            failures.append(dict(
                pod=_meta(pod).get("name"),
                container=cstatus.get("name"),
                reason=reason,
                message="pod {0} container {1}: {2}".format(_meta(pod).get("name"), cstatus.get("name"), detail),
                exit_code=terminated.get("exitCode"),
                restart_count=int(cstatus.get("restartCount") or 0),
            ))
    return failures


def _failed_from_pods(failures, what):
    shown = "; ".join(f["message"] for f in failures[:FAILURES_IN_MESSAGE])
    more = len(failures) - FAILURES_IN_MESSAGE
    if more > 0:
        shown += "; and {0} more failing container(s)".format(more)
    return _status(FAILED, "new pods of {0} are failing: {1}".format(what, shown), failures[0]["reason"], failures)


def _live(pods):
    return [p for p in pods if not _meta(p).get("deletionTimestamp")]


def _condition(obj, kind):
    return next((c for c in ((obj.get("status") or {}).get("conditions") or []) if c.get("type") == kind), {})


def _replicas(obj):
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _observed(obj):
    gen = int(_meta(obj).get("generation") or 0)
    return int((obj.get("status") or {}).get("observedGeneration") or 0) >= gen


def new_replicaset(deployment, replicasets):
    """The ReplicaSet of the Deployment's template (the oldest if several, as the controller picks)."""
    template = workload_template(deployment)
    owned = [rs for rs in replicasets if owned_by(rs, deployment) and templates_equal((rs.get("spec") or {}).get("template"), template)]
    owned.sort(key=lambda rs: (_meta(rs).get("creationTimestamp") or "", _meta(rs).get("name") or ""))
    return owned[0] if owned else None


def _evaluate_deployment(d, replicasets, pods, what):
    if not _observed(d):
        return _status(PROGRESSING, "Waiting for deployment spec update to be observed...")
    status = d.get("status") or {}
    progressing = _condition(d, "Progressing")
    if progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        return _status(FAILED, "{0} exceeded its progress deadline: {1}".format(what, progressing.get("message") or ""), PROGRESS_DEADLINE_EXCEEDED)
    wanted = _replicas(d)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = None
    if updated < wanted:
        waiting = "{0} out of {1} new replicas have been updated".format(updated, wanted)
    elif total > updated:
        waiting = "{0} old replicas are pending termination".format(total - updated)
    elif available < updated:
        waiting = "{0} of {1} updated replicas are available".format(available, updated)
    if waiting is None:
        return _status(COMPLETE, "{0} successfully rolled out".format(what))
    new_rs = new_replicaset(d, replicasets)
    failures = pod_failures([p for p in _live(pods) if new_rs is not None and owned_by(p, new_rs)])
    if failures:
        return _failed_from_pods(failures, what)
    if (d.get("spec") or {}).get("paused"):
        return _status(FAILED, "{0} is paused with its rollout unfinished ({1}): resume it".format(what, waiting), DEPLOYMENT_PAUSED)
    return _status(PROGRESSING, "Waiting for rollout to finish: {0}...".format(waiting))


def _evaluate_statefulset(s, pods, what):
    status = s.get("status") or {}
    if not status.get("observedGeneration") or not _observed(s):
        return _status(PROGRESSING, "Waiting for statefulset spec update to be observed...")
    strategy = (s.get("spec") or {}).get("updateStrategy") or {}
    wanted = _replicas(s)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    waiting = None
    if ready < wanted:
        waiting = "Waiting for {0} pods to be ready...".format(wanted - ready)
    elif strategy.get("type") == ON_DELETE:
        if updated < wanted:
            waiting = "{0} of {1} pods run revision {2}".format(updated, wanted, status.get("updateRevision"))
    elif strategy.get("rollingUpdate") is not None:
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if updated < wanted - partition:
            waiting = "Waiting for partitioned roll out to finish: {0} out of {1} new pods have been updated...".format(updated, wanted - partition)
    elif status.get("updateRevision") != status.get("currentRevision"):
        waiting = "waiting for statefulset rolling update to complete {0} pods at revision {1}...".format(updated, status.get("updateRevision"))
    if waiting is None:
        return _status(COMPLETE, "{0} rolled out: {1} pods at revision {2}".format(what, updated or wanted, status.get("updateRevision")))
    update = status.get("updateRevision")
    new_pods = [p for p in _live(pods) if owned_by(p, s) and (_meta(p).get("labels") or {}).get(REVISION_HASH_LABEL) == update]
    failures = pod_failures(new_pods)
    if failures:
        return _failed_from_pods(failures, what)
    if strategy.get("type") == ON_DELETE and ready >= wanted:
        return _status(FAILED, "{0} has updateStrategy OnDelete and {1}: the other pods are replaced only when deleted".format(what, waiting), ON_DELETE)
    return _status(PROGRESSING, waiting)


def _evaluate_daemonset(ds, controller_revisions, pods, what):
    if not _observed(ds):
        return _status(PROGRESSING, "Waiting for daemon set spec update to be observed...")
    status = ds.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    waiting = None
    if updated < desired:
        waiting = "{0} out of {1} new pods have been updated".format(updated, desired)
    elif available < desired:
        waiting = "{0} of {1} updated pods are available".format(available, desired)
    if waiting is None:
        return _status(COMPLETE, "{0} successfully rolled out".format(what))
    template = workload_template(ds)
    hashes = set(
        (_meta(cr).get("labels") or {}).get(REVISION_HASH_LABEL)
        for cr in controller_revisions if owned_by(cr, ds) and templates_equal(revision_template(cr), template)
    ) - set([None])
    new_pods = [p for p in _live(pods) if owned_by(p, ds) and (_meta(p).get("labels") or {}).get(REVISION_HASH_LABEL) in hashes]
    failures = pod_failures(new_pods)
    if failures:
        return _failed_from_pods(failures, what)
    if ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") == ON_DELETE and updated < desired:
        return _status(FAILED, "{0} has updateStrategy OnDelete and {1}: the other pods are replaced only when deleted".format(what, waiting), ON_DELETE)
    return _status(PROGRESSING, "Waiting for daemon set rollout to finish: {0}...".format(waiting))


def evaluate_rollout(kind, workload, owned, pods, what=None):
    """The rollout state, as `kubectl rollout status` judges it, failing fast on broken new pods.

    owned: the workload's ReplicaSets (Deployment) or ControllerRevisions; pods: its pods.
    Returns dict(state=complete|progressing|failed, reason, message, failures); reason is set
    when failed: ProgressDeadlineExceeded, OOMKilled, CrashLoopBackOff, ImagePullBackOff,
    ErrImagePull, InvalidImageName, CreateContainerConfigError, DeploymentPaused or OnDelete.
    Only pods of the new revision count, and only while the rollout is unfinished: an old
    OOM kill of a pod that has recovered does not fail a complete rollout.
    """
    what = what or describe(kind, _meta(workload).get("namespace"), _meta(workload).get("name"))
    if kind == "Deployment":
        return _evaluate_deployment(workload, owned, pods, what)
    if kind == "StatefulSet":
        return _evaluate_statefulset(workload, pods, what)
    return _evaluate_daemonset(workload, owned, pods, what)


def wait_for_rollout(read_status, timeout, sleep, clock=time.monotonic, pause=time.sleep):
    """Poll read_status() until the rollout is complete or failed, or timeout seconds pass.

    Returns (last status, timed_out).
    """
    deadline = clock() + timeout
    while True:
        status = read_status()
        if status["state"] != PROGRESSING:
            return status, False
        left = deadline - clock()
        if left <= 0:
            return status, True
        pause(min(sleep, left))


# -- diagnostics (the _info module) -------------------------------------------------------------------------

def _container_summary(status):
    state = status.get("state") or {}
    name = next(iter(state), None) if state else None
    detail = state.get(name) or {} if name else {}
    last = (status.get("lastState") or {}).get("terminated")
    summary = dict(
        name=status.get("name"),
        image=status.get("image"),
        ready=bool(status.get("ready")),
        restart_count=int(status.get("restartCount") or 0),
        state=name,
        reason=detail.get("reason"),
        exit_code=detail.get("exitCode"),
        last_termination=None,
    )
    if last:
        summary["last_termination"] = dict(reason=last.get("reason"), exit_code=last.get("exitCode"),
                                           started=last.get("startedAt"), finished=last.get("finishedAt"))
    return summary


def pod_summary(pod, revision=None):
    """A pod as the _info module reports it: phase, readiness, restarts, node, revision, containers' states."""
    status = pod.get("status") or {}
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return dict(
        name=_meta(pod).get("name"),
        phase=status.get("phase"),
        ready=ready,
        node=(pod.get("spec") or {}).get("nodeName"),
        revision=revision,
        created=_meta(pod).get("creationTimestamp"),
        restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
        reason=status.get("reason"),
        containers=[_container_summary(c) for c in statuses],
    )


def pod_revisions(kind, workload, owned, records):
    """{pod owner uid or revision hash: revision number}, to tell which revision each pod runs."""
    by_name = dict((r["name"], r["revision"]) for r in records)
    if kind == "Deployment":
        return dict((_meta(rs).get("uid"), by_name.get(_meta(rs).get("name"))) for rs in owned if owned_by(rs, workload))
    if kind == "StatefulSet":
        return dict((name, number) for name, number in by_name.items())
    return dict(((_meta(cr).get("labels") or {}).get(REVISION_HASH_LABEL), by_name.get(_meta(cr).get("name"))) for cr in owned)


def revision_of_pod(kind, pod, revisions):
    """The revision a pod belongs to, from pod_revisions()."""
    if kind == "Deployment":
        for ref in _meta(pod).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("uid") in revisions:
                return revisions[ref.get("uid")]
        return None
    return revisions.get((_meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL))


def is_own_pod_name(kind, workload, owned, pod_name):
    """Whether a pod name (of a pod perhaps deleted since) is one the workload's controllers give their pods."""
    name = _meta(workload).get("name")
    if kind == "StatefulSet":
        return re.match(r"^{0}-\d+$".format(re.escape(name)), pod_name) is not None
    if kind == "DaemonSet":
        return re.match(r"^{0}-[a-z0-9]{{5}}$".format(re.escape(name)), pod_name) is not None
    return any(pod_name.startswith(_meta(rs).get("name") + "-") for rs in owned if owned_by(rs, workload))


def warning_events(events, kind, workload, owned, pods, limit):
    """The Warning events of the workload, its ReplicaSets or ControllerRevisions and its pods, newest first, at most limit."""
    uids = set([_meta(workload).get("uid")]) | set(_meta(o).get("uid") for o in owned) | set(_meta(p).get("uid") for p in pods)
    names = set((o.get("kind") or ("ReplicaSet" if kind == "Deployment" else "ControllerRevision"), _meta(o).get("name")) for o in owned)
    names.add((kind, _meta(workload).get("name")))
    selected = []
    for event in events:
        if event.get("type") != "Warning":
            continue
        involved = event.get("involvedObject") or {}
        ours = (involved.get("uid") in uids
                or (involved.get("kind"), involved.get("name")) in names
                or (involved.get("kind") == "Pod" and is_own_pod_name(kind, workload, owned, involved.get("name") or "")))
        if not ours:
            continue
        last = event.get("lastTimestamp") or event.get("eventTime") or _meta(event).get("creationTimestamp")
        selected.append(dict(
            type=event.get("type"),
            reason=event.get("reason"),
            message=event.get("message"),
            object="{0}/{1}".format(involved.get("kind"), involved.get("name")),
            count=int(event.get("count") or 1),
            first_timestamp=event.get("firstTimestamp") or last,
            last_timestamp=last,
        ))
    selected.sort(key=lambda e: e["last_timestamp"] or "", reverse=True)
    return selected[:limit]


def hpa_summary(hpas, kind, name):
    """The HorizontalPodAutoscaler (autoscaling/v2) whose scaleTargetRef is this workload, summarised; None if none."""
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") != kind or ref.get("name") != name:
            continue
        spec = hpa.get("spec") or {}
        status = hpa.get("status") or {}
        return dict(
            name=_meta(hpa).get("name"),
            min_replicas=spec.get("minReplicas", 1),
            max_replicas=spec.get("maxReplicas"),
            current_replicas=status.get("currentReplicas"),
            desired_replicas=status.get("desiredReplicas"),
            last_scale_time=status.get("lastScaleTime"),
            metrics=spec.get("metrics") or [],
            current_metrics=status.get("currentMetrics") or [],
            conditions=[dict(type=c.get("type"), status=c.get("status"), reason=c.get("reason"), message=c.get("message"))
                        for c in status.get("conditions") or []],
        )
    return None


def replica_counts(kind, workload):
    """The workload's replica counters, under the same names for every kind."""
    status = workload.get("status") or {}
    if kind == "DaemonSet":
        return dict(desired=int(status.get("desiredNumberScheduled") or 0), current=int(status.get("currentNumberScheduled") or 0),
                    updated=int(status.get("updatedNumberScheduled") or 0), ready=int(status.get("numberReady") or 0),
                    available=int(status.get("numberAvailable") or 0))
    return dict(desired=_replicas(workload), current=int(status.get("replicas") or 0), updated=int(status.get("updatedReplicas") or 0),
                ready=int(status.get("readyReplicas") or 0), available=int(status.get("availableReplicas") or 0))


# -- reading and writing (the only code that talks to the API) ----------------------------------------------

def api_error_text(error):
    """The API's own message of a failed request ("deployments.apps \"web\" not found"), else the exception's text."""
    body = getattr(error, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
            if message:
                return "{0} ({1})".format(message, getattr(error, "status", "error"))
        except (TypeError, ValueError, AttributeError):
            pass
    return str(error) or type(error).__name__


def _call(action, what, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except RunbookError:
        raise
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Every failure of the client (HTTP status, connection, TLS) names what was attempted on what.
        raise RunbookError(action, what, api_error_text(error)) from error


def _to_dict(instance):
    return instance.to_dict() if hasattr(instance, "to_dict") else instance


def read_workload(client, kind, namespace, name):
    """The workload as a dict; RunbookError (cause: not found) when it does not exist."""
    what = describe(kind, namespace, name)
    resource = _call("find the API of", kind, client.resource, kind, API_VERSION)
    return _to_dict(_call("read", what, client.get, resource, name=name, namespace=namespace))


def _list(client, kind, api_version, namespace, what, **params):
    resource = _call("find the API of", kind, client.resource, kind, api_version)
    return (_to_dict(_call("list {0}s of".format(kind), what, client.get, resource, namespace=namespace, **params)) or {}).get("items") or []


def read_owned(client, kind, workload):
    """The ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet) the workload controls."""
    namespace, name = _meta(workload).get("namespace"), _meta(workload).get("name")
    what = describe(kind, namespace, name)
    owned_kind = "ReplicaSet" if kind == "Deployment" else "ControllerRevision"
    selector = label_selector_string((workload.get("spec") or {}).get("selector"))
    items = _list(client, owned_kind, API_VERSION, namespace, what, label_selector=selector)
    return [item for item in items if owned_by(item, workload)]


def read_pods(client, kind, workload, owned):
    """The pods of the workload: controlled by it (StatefulSet, DaemonSet) or by one of its ReplicaSets."""
    namespace, name = _meta(workload).get("namespace"), _meta(workload).get("name")
    selector = label_selector_string((workload.get("spec") or {}).get("selector"))
    pods = _list(client, "Pod", "v1", namespace, describe(kind, namespace, name), label_selector=selector)
    owners = owned if kind == "Deployment" else [workload]
    return [p for p in pods if any(owned_by(p, owner) for owner in owners)]


def read_status(client, kind, namespace, name):
    """Read the workload, its ReplicaSets or ControllerRevisions and its pods; return (workload, owned, evaluate_rollout())."""
    workload = read_workload(client, kind, namespace, name)
    owned = read_owned(client, kind, workload)
    pods = read_pods(client, kind, workload, owned)
    return workload, owned, evaluate_rollout(kind, workload, owned, pods)


def read_warning_events(client, kind, workload, owned, pods, limit):
    namespace = _meta(workload).get("namespace")
    what = describe(kind, namespace, _meta(workload).get("name"))
    events = _list(client, "Event", "v1", namespace, what, field_selector="type=Warning")
    return warning_events(events, kind, workload, owned, pods, limit)


def read_hpa(client, kind, workload):
    """hpa_summary() of the namespace's HorizontalPodAutoscalers; None when autoscaling/v2 is not served."""
    namespace, name = _meta(workload).get("namespace"), _meta(workload).get("name")
    try:
        resource = client.resource("HorizontalPodAutoscaler", "autoscaling/v2")
    except Exception:  # pylint: disable=broad-exception-caught
        return None  # an API server without autoscaling/v2 has no HPA to report
    items = (_to_dict(_call("list HorizontalPodAutoscalers of", describe(kind, namespace, name), client.get, resource,
                            namespace=namespace)) or {}).get("items") or []
    return hpa_summary(items, kind, name)


def apply_patch(client, kind, workload, patch_type, body, action):
    """Patch the workload (server-side dry run in check mode, by the client layer); the object the API returns."""
    namespace, name = _meta(workload).get("namespace"), _meta(workload).get("name")
    resource = _call("find the API of", kind, client.resource, kind, API_VERSION)
    return _to_dict(_call(action, describe(kind, namespace, name), client.patch, resource, body,
                          name=name, namespace=namespace, content_type=patch_type))
