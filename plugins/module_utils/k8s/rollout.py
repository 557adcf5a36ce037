# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Rollouts of Deployments, StatefulSets, DaemonSets and OpenShift DeploymentConfigs: history, rollback, restart, status.

Most of this file is pure functions on the objects as the API returns them
(plain dicts), unit-tested without a cluster:

- history: deployment_history() from the Deployment's ReplicaSets,
  controller_revision_history() from the ControllerRevisions of a StatefulSet
  or DaemonSet, deploymentconfig_history() from the ReplicationControllers of a
  DeploymentConfig (one per version, as `oc rollout history` reads them); all
  give "revision records" (see _record()).
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

# OpenShift DeploymentConfigs (apps.openshift.io/v1): deprecated upstream, still run in many clusters.
# Each version is a ReplicationController <dc>-<version>, annotated as `oc` reads it.
DEPLOYMENT_CONFIG = "DeploymentConfig"
OPENSHIFT_API_VERSION = "apps.openshift.io/v1"
ROLLOUT_KINDS = KINDS + (DEPLOYMENT_CONFIG,)
DC_NAME = "openshift.io/deployment-config.name"
DC_VERSION = "openshift.io/deployment-config.latest-version"
DC_PHASE = "openshift.io/deployment.phase"
DC_ENCODED = "openshift.io/encoded-deployment-config"
DC_STATUS_REASON = "openshift.io/deployment.status-reason"
DC_CANCELLED = "openshift.io/deployment.cancelled"
DC_POD_LABEL = "deploymentconfig"
DC_COMPLETE = "Complete"
DC_FAILED = "Failed"
DEPLOYMENT_CONFIG_FAILED = "DeploymentConfigFailed"
# What `oc rollout latest` sends to the instantiate subresource.
DEPLOYMENT_REQUEST = {"kind": "DeploymentRequest", "apiVersion": OPENSHIFT_API_VERSION, "latest": True, "force": True}
# The status.details `oc rollout latest` leaves on the DeploymentConfig where it has to raise status.latestVersion itself.
MANUAL_DETAILS = {"message": "manual change", "causes": [{"type": "Manual"}]}

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


def metadata_of(obj):
    return (obj or {}).get("metadata") or {}


def _annotations(obj):
    return metadata_of(obj).get("annotations") or {}


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def owned_by(obj, owner):
    """Whether owner is the controller of obj (ownerReferences, by uid)."""
    uid = metadata_of(owner).get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid for ref in metadata_of(obj).get("ownerReferences") or [])


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


def comparable_template(template, ignore_restart=False):
    """A pod template for comparison: without the pod-template-hash label and deployment.kubernetes.io/* annotations.

    ignore_restart: also without kubectl.kubernetes.io/restartedAt, so that a restart is not a change.
    """
    template = copy.deepcopy(template or {})
    template.pop("$patch", None)
    meta = template.get("metadata") or {}
    (meta.get("labels") or {}).pop(HASH_LABEL, None)
    annotations = meta.get("annotations") or {}
    for key in [k for k in annotations if k.startswith(DEPLOYMENT_ANNOTATION_PREFIX) or (ignore_restart and k == RESTARTED_AT)]:
        del annotations[key]
    return _prune(template)


def templates_equal(left, right, ignore_restart=False):
    """Whether two pod templates describe the same pods (kubectl's equalIgnoreHash, on the served objects).

    ignore_restart: whether they differ at most by the restartedAt annotation of `kubectl rollout restart`.
    """
    return comparable_template(left, ignore_restart) == comparable_template(right, ignore_restart)


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


def api_version_of(kind):
    """The API group/version of a workload kind."""
    return OPENSHIFT_API_VERSION if kind == DEPLOYMENT_CONFIG else API_VERSION


def is_deploymentconfig(workload):
    return (workload or {}).get("kind") == DEPLOYMENT_CONFIG


# -- history ------------------------------------------------------------------------------------------------

def _record(revision, former, obj, template, annotations):
    """A revision record: what the planning functions work on. template and annotations stay internal."""
    return dict(
        revision=revision,
        former_revisions=former,
        name=metadata_of(obj).get("name"),
        created=metadata_of(obj).get("creationTimestamp"),
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


def dc_version(rc):
    """The DeploymentConfig version a ReplicationController is (openshift.io/deployment-config.latest-version), or None."""
    return _int(_annotations(rc).get(DC_VERSION))


def encoded_config(rc):
    """The DeploymentConfig a version was made from (openshift.io/encoded-deployment-config), or {}."""
    try:
        config = json.loads(_annotations(rc).get(DC_ENCODED) or "null")
    except (TypeError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def version_template(rc):
    """The pod template of a DeploymentConfig version, as `oc rollout undo` takes it: from the encoded DeploymentConfig.

    Without that annotation, the ReplicationController's own template minus the labels and
    annotations the DeploymentConfig controller adds to it.
    """
    template = ((encoded_config(rc).get("spec") or {}).get("template"))
    if template:
        return copy.deepcopy(template)
    template = copy.deepcopy(((rc.get("spec") or {}).get("template")) or {})
    meta = template.get("metadata") or {}
    for key in (DC_POD_LABEL, "deployment"):
        (meta.get("labels") or {}).pop(key, None)
    for key in (DC_NAME, DC_VERSION, "openshift.io/deployment.name"):
        (meta.get("annotations") or {}).pop(key, None)
    return template


def owned_by_dc(rc, dc):
    """Whether a ReplicationController is a version of the DeploymentConfig: its controller, else (no owner) its name annotation."""
    if owned_by(rc, dc):
        return True
    refs = [ref for ref in metadata_of(rc).get("ownerReferences") or [] if ref.get("controller")]
    return not refs and _annotations(rc).get(DC_NAME) == metadata_of(dc).get("name")


def deploymentconfig_history(dc, rcs):
    """Revision records of a DeploymentConfig from its ReplicationControllers, oldest version first.

    Each record also has phase (openshift.io/deployment.phase: New, Pending, Running, Complete,
    Failed) and status_reason. Its change_cause is the RC's kubernetes.io/change-cause, else the
    cause `oc rollout history` shows (the details message of the DeploymentConfig it was made from:
    "config change", "manual change", "image change").
    """
    records = []
    for rc in rcs:
        if not owned_by_dc(rc, dc):
            continue
        version = dc_version(rc)
        if version is None:
            continue
        annotations = _annotations(rc)
        record = _record(version, [], rc, version_template(rc), annotations)
        if not record["change_cause"]:
            record["change_cause"] = ((encoded_config(rc).get("status") or {}).get("details") or {}).get("message")
        record["phase"] = annotations.get(DC_PHASE, "New")
        record["status_reason"] = annotations.get(DC_STATUS_REASON)
        records.append(record)
    return sorted(records, key=lambda r: r["revision"])


def build_history(kind, workload, owned):
    """deployment_history(), controller_revision_history() or deploymentconfig_history(), by kind."""
    if kind == "Deployment":
        return deployment_history(workload, owned)
    if kind == DEPLOYMENT_CONFIG:
        return deploymentconfig_history(workload, owned)
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
    if is_deploymentconfig(workload):
        latest = _int((workload.get("status") or {}).get("latestVersion"))
        if latest:
            return latest
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
    """The history as modules return it: oldest revision first, no templates (a DeploymentConfig's also phase, status_reason)."""
    history = []
    for r in records:
        entry = dict(
            revision=r["revision"],
            former_revisions=list(r["former_revisions"]),
            name=r["name"],
            created=r["created"],
            change_cause=r["change_cause"],
            images=dict(r["images"]),
            current=r["revision"] == current,
        )
        if "phase" in r:
            entry.update(phase=r["phase"], status_reason=r.get("status_reason"))
        history.append(entry)
    return history


def _available(records):
    if not records:
        return "there is no revision history"
    return "available revisions: " + ", ".join(
        "{0} ({1}{2})".format(r["revision"], images_text(r["images"]), ", " + r["phase"] if r.get("phase") else "") for r in records)


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

PAUSABLE_KINDS = ("Deployment", DEPLOYMENT_CONFIG)


def check_paused(kind, workload, resume, action, what):
    """Refuse to change a paused Deployment or DeploymentConfig unless resume is set: it would not roll out the change."""
    if kind in PAUSABLE_KINDS and (workload.get("spec") or {}).get("paused") and not resume:
        if kind == DEPLOYMENT_CONFIG:
            raise RunbookError(
                action, what,
                "it is paused, and a paused DeploymentConfig does not deploy a new version. "
                "Set resume=true to resume it as part of this task, or resume it with 'oc rollout resume' first",
            )
        raise RunbookError(
            action, what,
            "it is paused, and a paused Deployment does not roll out a new template. "
            "Set resume=true to resume it as part of this task, or resume it with 'kubectl rollout resume' first",
        )


def is_paused(kind, workload):
    return kind in PAUSABLE_KINDS and bool((workload.get("spec") or {}).get("paused"))


def older_revisions(workload, records, current):
    """The records older than revision `current`, oldest first, that a rollback may go back to.

    For a DeploymentConfig, as `oc rollback` does: only the versions that completed, never one
    that failed or never finished.
    """
    older = [r for r in records if current is not None and r["revision"] < current]
    if is_deploymentconfig(workload):
        older = [r for r in older if r.get("phase") == DC_COMPLETE]
    return older


def last_release(workload, records, current):
    """(deployed, previous): the records of the release the workload runs and of the one before it.

    A release is a change of the pod template other than `kubectl rollout restart`'s restartedAt
    annotation: a new image, new resources, new env are releases; a restart (and, for a
    DeploymentConfig, `oc rollout latest` of an unchanged template) is not. Older revisions are
    those choose_target() would go back to (older_revisions()).

    deployed: the oldest record of the run of revisions, ending at `current`, that have the
    workload's template up to restarts: when it was rolled out is when this release was deployed.
    previous: the newest older record with a different template (not counting restarts), or None.
    """
    template = workload_template(workload)
    deployed = next((r for r in records if r["revision"] == current), None)
    for record in reversed(older_revisions(workload, records, current)):
        if not templates_equal(record.get("template"), template, ignore_restart=True):
            return deployed, record
        deployed = record
    return deployed, None


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
            older = [r for r in older_revisions(workload, records, current) if not templates_equal(r["template"], template)]
            if not older and is_deploymentconfig(workload):
                raise RunbookError("roll back", what, "there is no completed version older than the current version {0} to go back to; "
                                                      "{1}. Name one with to_revision or image".format(current, _available(records)))
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
    if kind == DEPLOYMENT_CONFIG:
        return deploymentconfig_rollback_patch(workload, target, source, resume=resume)
    annotations = _annotations(workload)
    to_set, to_remove = rollback_annotations(kind, annotations, target, source)
    template = copy.deepcopy(target["template"])
    if kind == "Deployment":
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(HASH_LABEL, None)
        ops = [{"op": "replace", "path": "/spec/template", "value": template}]
        if not metadata_of(workload).get("annotations"):
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


def image_change_triggers(dc):
    """[(index in spec.triggers, trigger)] of the DeploymentConfig's automatic ImageChange triggers."""
    found = []
    for index, trigger in enumerate((dc.get("spec") or {}).get("triggers") or []):
        params = (trigger or {}).get("imageChangeParams") or {}
        if trigger.get("type") == "ImageChange" and params.get("automatic"):
            found.append((index, trigger))
    return found


def trigger_text(trigger):
    """'ImageStreamTag shop/web:latest for containers web, proxy', for results and messages."""
    params = trigger.get("imageChangeParams") or {}
    source = params.get("from") or {}
    name = source.get("name") or "?"
    if source.get("namespace"):
        name = "{0}/{1}".format(source["namespace"], name)
    containers = ", ".join(params.get("containerNames") or []) or "no containers"
    return "{0} {1} for containers {2}".format(source.get("kind") or "ImageStreamTag", name, containers)


def has_config_change_trigger(dc):
    """Whether a template change makes a new version by itself (a ConfigChange trigger)."""
    return any((t or {}).get("type") == "ConfigChange" for t in (dc.get("spec") or {}).get("triggers") or [])


def deploymentconfig_rollback_patch(dc, target, source, resume=False):
    """(content type, body) of `oc rollout undo` on a DeploymentConfig: a JSON patch.

    It replaces spec.template with the template of the target version (from its encoded
    DeploymentConfig), sets the change-cause and the rolled-back-from/to annotations, and, as oc
    does unless --change-triggers, turns the automatic ImageChange triggers off, so that the next
    image pushed to the image stream does not undo the rollback at once.
    """
    annotations = _annotations(dc)
    to_set, to_remove = rollback_annotations(DEPLOYMENT_CONFIG, annotations, target, source)
    ops = [{"op": "replace", "path": "/spec/template", "value": copy.deepcopy(target["template"])}]
    if not metadata_of(dc).get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": to_set})
    else:
        ops.extend({"op": "add", "path": "/metadata/annotations/" + _pointer(k), "value": v} for k, v in sorted(to_set.items()))
        ops.extend({"op": "remove", "path": "/metadata/annotations/" + _pointer(k)} for k in to_remove)
    for index, _trigger in image_change_triggers(dc):
        ops.append({"op": "replace", "path": "/spec/triggers/{0}/imageChangeParams/automatic".format(index), "value": False})
    if resume and is_paused(DEPLOYMENT_CONFIG, dc):
        ops.append({"op": "replace", "path": "/spec/paused", "value": False})
    return JSON_PATCH, ops


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
    what = what or describe(kind, metadata_of(workload).get("namespace"), metadata_of(workload).get("name"))
    check_paused(kind, workload, resume, "roll back", what)
    choice = choose_target(workload, records, to_revision=to_revision, image=image, what=what)
    target = choice["target"]
    plan = _plan(kind, workload, records, what)
    plan.update(
        to_revision=target["revision"],
        change_cause=target["change_cause"],
        images_after=dict(target["images"]),
    )
    if kind == DEPLOYMENT_CONFIG:
        plan["image_triggers_disabled"] = []
    if not choice["satisfied"]:
        plan["patch_type"], plan["patch"] = rollback_patch(kind, workload, target, choice["current"], resume=resume)
        if is_paused(kind, workload):
            plan["actions"].append("resume {0}".format(what))
        plan["actions"].append("roll back {0} from revision {1} ({2}) to revision {3} ({4})".format(
            what, choice["current"], images_text(plan["images_before"]), target["revision"], images_text(target["images"])))
        if kind == DEPLOYMENT_CONFIG:
            triggers = [trigger_text(t) for _i, t in image_change_triggers(workload)]
            plan["image_triggers_disabled"] = triggers
            plan["actions"].extend("disable the automatic ImageChange trigger {0} of {1}, as oc rollout undo does "
                                   "(turn it back on with oc set triggers --auto)".format(t, what) for t in triggers)
            if not has_config_change_trigger(workload):
                # Without a ConfigChange trigger the new template waits for someone to deploy it, as oc rollout latest does.
                plan["instantiate"] = True
                plan["actions"].append("deploy the rolled back template of {0} as a new version (it has no ConfigChange trigger)".format(what))
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


def latest_version_record(dc, records):
    """The record of the DeploymentConfig's status.latestVersion, or None when it has no ReplicationController (yet)."""
    latest = _int((dc.get("status") or {}).get("latestVersion"))
    return next((r for r in records if r["revision"] == latest), None)


def dc_restart_needed(dc, records, restarted_after):
    """Whether `oc rollout latest` is due: always without restarted_after; else unless the latest version was created at or after it."""
    if restarted_after is None:
        return True
    latest = latest_version_record(dc, records)
    if latest is None or not latest["created"]:
        return True
    try:
        return parse_time(latest["created"]) < restarted_after
    except ValueError:
        return True


def plan_deploymentconfig_restart(dc, records, now, restarted_after=None, resume=False, what=None):
    """The plan of `oc rollout latest`: a new version of the same template (plan["instantiate"]), plus resume when asked.

    restarted_at is the creation time of the latest version: now when one is to be made.
    """
    what = what or describe(DEPLOYMENT_CONFIG, metadata_of(dc).get("namespace"), metadata_of(dc).get("name"))
    check_paused(DEPLOYMENT_CONFIG, dc, resume, "restart", what)
    plan = _plan(DEPLOYMENT_CONFIG, dc, records, what)
    latest = latest_version_record(dc, records)
    plan["restarted_at"] = latest["created"] if latest else None
    plan["instantiate"] = False
    if is_paused(DEPLOYMENT_CONFIG, dc):
        plan["patch_type"], plan["patch"] = resume_patch()
        plan["actions"].append("resume {0}".format(what))
    if dc_restart_needed(dc, records, restarted_after):
        version = int((dc.get("status") or {}).get("latestVersion") or 0) + 1
        plan["instantiate"] = True
        plan["restarted_at"] = format_time(now)
        plan["actions"].append("restart {0}: deploy version {1} of its current template, as oc rollout latest does".format(what, version))
    plan["changed"] = bool(plan["actions"])
    return plan


def plan_restart(kind, workload, records, now, restarted_after=None, resume=False, what=None):
    """The plan of a restart (same keys as plan_rollback(), plus restarted_at)."""
    what = what or describe(kind, metadata_of(workload).get("namespace"), metadata_of(workload).get("name"))
    if kind == DEPLOYMENT_CONFIG:
        return plan_deploymentconfig_restart(workload, records, now, restarted_after=restarted_after, resume=resume, what=what)
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
    for pod in sorted(pods, key=lambda p: metadata_of(p).get("name") or ""):
        status = pod.get("status") or {}
        for cstatus in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            found = container_failure(cstatus)
            if found is None:
                continue
            reason, detail = found
            terminated = ((cstatus.get("state") or {}).get("terminated")) or ((cstatus.get("lastState") or {}).get("terminated")) or {}
            failures.append(dict(
                pod=metadata_of(pod).get("name"),
                container=cstatus.get("name"),
                reason=reason,
                message="pod {0} container {1}: {2}".format(metadata_of(pod).get("name"), cstatus.get("name"), detail),
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
    return [p for p in pods if not metadata_of(p).get("deletionTimestamp")]


def condition_of(obj, kind):
    return next((c for c in ((obj.get("status") or {}).get("conditions") or []) if c.get("type") == kind), {})


def _replicas(obj):
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _observed(obj):
    gen = int(metadata_of(obj).get("generation") or 0)
    return int((obj.get("status") or {}).get("observedGeneration") or 0) >= gen


def new_replicaset(deployment, replicasets):
    """The ReplicaSet of the Deployment's template (the oldest if several, as the controller picks)."""
    template = workload_template(deployment)
    owned = [rs for rs in replicasets if owned_by(rs, deployment) and templates_equal((rs.get("spec") or {}).get("template"), template)]
    owned.sort(key=lambda rs: (metadata_of(rs).get("creationTimestamp") or "", metadata_of(rs).get("name") or ""))
    return owned[0] if owned else None


def _evaluate_deployment(d, replicasets, pods, what):
    if not _observed(d):
        return _status(PROGRESSING, "Waiting for deployment spec update to be observed...")
    status = d.get("status") or {}
    progressing = condition_of(d, "Progressing")
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
    new_pods = [p for p in _live(pods) if owned_by(p, s) and (metadata_of(p).get("labels") or {}).get(REVISION_HASH_LABEL) == update]
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
        (metadata_of(cr).get("labels") or {}).get(REVISION_HASH_LABEL)
        for cr in controller_revisions if owned_by(cr, ds) and templates_equal(revision_template(cr), template)
    ) - set([None])
    new_pods = [p for p in _live(pods) if owned_by(p, ds) and (metadata_of(p).get("labels") or {}).get(REVISION_HASH_LABEL) in hashes]
    failures = pod_failures(new_pods)
    if failures:
        return _failed_from_pods(failures, what)
    if ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") == ON_DELETE and updated < desired:
        return _status(FAILED, "{0} has updateStrategy OnDelete and {1}: the other pods are replaced only when deleted".format(what, waiting), ON_DELETE)
    return _status(PROGRESSING, "Waiting for daemon set rollout to finish: {0}...".format(waiting))


def latest_replication_controller(dc, rcs):
    """The ReplicationController of the DeploymentConfig's status.latestVersion, or None."""
    latest = _int((dc.get("status") or {}).get("latestVersion"))
    return next((rc for rc in rcs if owned_by_dc(rc, dc) and dc_version(rc) == latest), None)


def _evaluate_deploymentconfig(dc, rcs, pods, what):
    """`oc rollout status dc/<name>`: the phase of the latest version's ReplicationController, failing fast on its pods."""
    if not _observed(dc):
        return _status(PROGRESSING, "Waiting for latest deployment config spec to be observed by the controller loop...")
    status = dc.get("status") or {}
    latest_version = int(status.get("latestVersion") or 0)
    rc = latest_replication_controller(dc, rcs)
    if rc is None:
        if latest_version == 0 and not has_config_change_trigger(dc):
            return _status(COMPLETE, "{0} has no version yet: it has no ConfigChange trigger and was never deployed".format(what))
        return _status(PROGRESSING, "Waiting for version {0} of {1} to be created...".format(latest_version or 1, what))
    name = metadata_of(rc).get("name")
    annotations = _annotations(rc)
    phase = annotations.get(DC_PHASE, "New")
    if phase == DC_COMPLETE:
        return _status(COMPLETE, 'replication controller "{0}" successfully rolled out'.format(name))
    if phase == DC_FAILED:
        cause = annotations.get(DC_STATUS_REASON)
        if annotations.get(DC_CANCELLED) == "true":
            cause = "cancelled" + (": " + cause if cause else "")
        progressing = condition_of(dc, "Progressing")
        detail = "; ".join(part for part in (cause, progressing.get("message")) if part)
        return _status(FAILED, 'version {0} of {1} (replication controller "{2}") failed{3}'.format(
            latest_version, what, name, ": " + detail if detail else ""), DEPLOYMENT_CONFIG_FAILED)
    failures = pod_failures([p for p in _live(pods) if owned_by(p, rc)])
    if failures:
        return _failed_from_pods(failures, what)
    if (dc.get("spec") or {}).get("paused"):
        return _status(FAILED, "{0} is paused with version {1} unfinished: resume it".format(what, latest_version), DEPLOYMENT_PAUSED)
    wanted = _replicas(dc)
    rc_status = rc.get("status") or {}
    updated = int(rc_status.get("replicas") or 0)
    available = int(rc_status.get("availableReplicas") or 0)
    old = sum(int((o.get("status") or {}).get("replicas") or 0) for o in rcs if o is not rc and owned_by_dc(o, dc))
    if updated < wanted:
        waiting = "{0} out of {1} new replicas have been updated".format(updated, wanted)
    elif old:
        waiting = "{0} old replicas are pending termination".format(old)
    else:
        waiting = "{0} of {1} updated replicas are available".format(available, updated)
    return _status(PROGRESSING, "Waiting for rollout to finish: {0}...".format(waiting))


def evaluate_rollout(kind, workload, owned, pods, what=None):
    """The rollout state, as `kubectl rollout status` judges it, failing fast on broken new pods.

    owned: the workload's ReplicaSets (Deployment) or ControllerRevisions; pods: its pods.
    Returns dict(state=complete|progressing|failed, reason, message, failures); reason is set
    when failed: ProgressDeadlineExceeded, OOMKilled, CrashLoopBackOff, ImagePullBackOff,
    ErrImagePull, InvalidImageName, CreateContainerConfigError, DeploymentPaused, OnDelete or
    DeploymentConfigFailed (the latest version of a DeploymentConfig is in phase Failed).
    Only pods of the new revision count, and only while the rollout is unfinished: an old
    OOM kill of a pod that has recovered does not fail a complete rollout.
    """
    what = what or describe(kind, metadata_of(workload).get("namespace"), metadata_of(workload).get("name"))
    if kind == "Deployment":
        return _evaluate_deployment(workload, owned, pods, what)
    if kind == "StatefulSet":
        return _evaluate_statefulset(workload, pods, what)
    if kind == DEPLOYMENT_CONFIG:
        return _evaluate_deploymentconfig(workload, owned, pods, what)
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
        name=metadata_of(pod).get("name"),
        phase=status.get("phase"),
        ready=ready,
        node=(pod.get("spec") or {}).get("nodeName"),
        revision=revision,
        created=metadata_of(pod).get("creationTimestamp"),
        restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
        reason=status.get("reason"),
        containers=[_container_summary(c) for c in statuses],
    )


def pod_revisions(kind, workload, owned, records):
    """{pod owner uid or revision hash: revision number}, to tell which revision each pod runs."""
    by_name = dict((r["name"], r["revision"]) for r in records)
    if kind in ("Deployment", DEPLOYMENT_CONFIG):
        return dict((metadata_of(rs).get("uid"), by_name.get(metadata_of(rs).get("name"))) for rs in owned if owned_by(rs, workload))
    if kind == "StatefulSet":
        return dict((name, number) for name, number in by_name.items())
    return dict(((metadata_of(cr).get("labels") or {}).get(REVISION_HASH_LABEL), by_name.get(metadata_of(cr).get("name"))) for cr in owned)


def revision_of_pod(kind, pod, revisions):
    """The revision a pod belongs to, from pod_revisions()."""
    if kind in ("Deployment", DEPLOYMENT_CONFIG):
        for ref in metadata_of(pod).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("uid") in revisions:
                return revisions[ref.get("uid")]
        return None
    return revisions.get((metadata_of(pod).get("labels") or {}).get(REVISION_HASH_LABEL))


def is_own_pod_name(kind, workload, owned, pod_name):
    """Whether a pod name (of a pod perhaps deleted since) is one the workload's controllers give their pods."""
    name = metadata_of(workload).get("name")
    if kind == "StatefulSet":
        return re.match(r"^{0}-\d+$".format(re.escape(name)), pod_name) is not None
    if kind == "DaemonSet":
        return re.match(r"^{0}-[a-z0-9]{{5}}$".format(re.escape(name)), pod_name) is not None
    if kind == DEPLOYMENT_CONFIG:
        return any(pod_name.startswith(metadata_of(rc).get("name") + "-") for rc in owned if owned_by_dc(rc, workload))
    return any(pod_name.startswith(metadata_of(rs).get("name") + "-") for rs in owned if owned_by(rs, workload))


def warning_events(events, kind, workload, owned, pods, limit):
    """The Warning events of the workload, its ReplicaSets or ControllerRevisions and its pods, newest first, at most limit."""
    uids = set([metadata_of(workload).get("uid")]) | set(metadata_of(o).get("uid") for o in owned) | set(metadata_of(p).get("uid") for p in pods)
    default_kind = {"Deployment": "ReplicaSet", DEPLOYMENT_CONFIG: "ReplicationController"}.get(kind, "ControllerRevision")
    names = set((o.get("kind") or default_kind, metadata_of(o).get("name")) for o in owned)
    names.add((kind, metadata_of(workload).get("name")))
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
        last = event.get("lastTimestamp") or event.get("eventTime") or metadata_of(event).get("creationTimestamp")
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
            name=metadata_of(hpa).get("name"),
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


def call_api(action, what, fn, *args, **kwargs):
    """fn(*args, **kwargs); any failure of the client (HTTP status, connection, TLS) as a RunbookError naming `action` on `what`."""
    try:
        return fn(*args, **kwargs)
    except RunbookError:
        raise
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Every failure of the client (HTTP status, connection, TLS) names what was attempted on what.
        raise RunbookError(action, what, api_error_text(error)) from error


def to_dict(instance):
    """An API answer (a ResourceInstance) as a plain dict; a dict as it is."""
    return instance.to_dict() if hasattr(instance, "to_dict") else instance


def read_workload(client, kind, namespace, name):
    """The workload as a dict; RunbookError (cause: not found) when it does not exist."""
    what = describe(kind, namespace, name)
    resource = call_api("find the API of", kind, client.resource, kind, api_version_of(kind))
    return to_dict(call_api("read", what, client.get, resource, name=name, namespace=namespace))


def list_objects(client, kind, api_version, namespace, what, **params):
    """The items of a list call as dicts (namespace None: cluster-scoped or all namespaces); RunbookError naming `what` when it fails."""
    resource = call_api("find the API of", kind, client.resource, kind, api_version)
    return (to_dict(call_api("list {0}s of".format(kind), what, client.get, resource, namespace=namespace, **params)) or {}).get("items") or []


def read_owned(client, kind, workload):
    """The ReplicaSets (Deployment), ReplicationControllers (DeploymentConfig) or ControllerRevisions (StatefulSet, DaemonSet) of the workload."""
    namespace, name = metadata_of(workload).get("namespace"), metadata_of(workload).get("name")
    what = describe(kind, namespace, name)
    if kind == DEPLOYMENT_CONFIG:
        items = list_objects(client, "ReplicationController", "v1", namespace, what, label_selector="{0}={1}".format(DC_NAME, name))
        return [item for item in items if owned_by_dc(item, workload)]
    owned_kind = "ReplicaSet" if kind == "Deployment" else "ControllerRevision"
    selector = label_selector_string((workload.get("spec") or {}).get("selector"))
    items = list_objects(client, owned_kind, API_VERSION, namespace, what, label_selector=selector)
    return [item for item in items if owned_by(item, workload)]


def read_pods(client, kind, workload, owned):
    """The pods of the workload: controlled by it (StatefulSet, DaemonSet) or by one of its ReplicaSets or ReplicationControllers."""
    namespace, name = metadata_of(workload).get("namespace"), metadata_of(workload).get("name")
    if kind == DEPLOYMENT_CONFIG:
        selector = "{0}={1}".format(DC_POD_LABEL, name)
    else:
        selector = label_selector_string((workload.get("spec") or {}).get("selector"))
    pods = list_objects(client, "Pod", "v1", namespace, describe(kind, namespace, name), label_selector=selector)
    owners = owned if kind in ("Deployment", DEPLOYMENT_CONFIG) else [workload]
    return [p for p in pods if any(owned_by(p, owner) for owner in owners)]


def read_status(client, kind, namespace, name):
    """Read the workload, its ReplicaSets or ControllerRevisions and its pods; return (workload, owned, evaluate_rollout())."""
    workload = read_workload(client, kind, namespace, name)
    owned = read_owned(client, kind, workload)
    pods = read_pods(client, kind, workload, owned)
    return workload, owned, evaluate_rollout(kind, workload, owned, pods)


def read_warning_events(client, kind, workload, owned, pods, limit):
    namespace = metadata_of(workload).get("namespace")
    what = describe(kind, namespace, metadata_of(workload).get("name"))
    events = list_objects(client, "Event", "v1", namespace, what, field_selector="type=Warning")
    return warning_events(events, kind, workload, owned, pods, limit)


def read_hpa(client, kind, workload):
    """hpa_summary() of the namespace's HorizontalPodAutoscalers; None when autoscaling/v2 is not served."""
    namespace, name = metadata_of(workload).get("namespace"), metadata_of(workload).get("name")
    try:
        resource = client.resource("HorizontalPodAutoscaler", "autoscaling/v2")
    except Exception:  # pylint: disable=broad-exception-caught
        return None  # an API server without autoscaling/v2 has no HPA to report
    items = (to_dict(call_api("list HorizontalPodAutoscalers of", describe(kind, namespace, name), client.get, resource,
                              namespace=namespace)) or {}).get("items") or []
    return hpa_summary(items, kind, name)


def apply_patch(client, kind, workload, patch_type, body, action):
    """Patch the workload (server-side dry run in check mode, by the client layer); the object the API returns."""
    namespace, name = metadata_of(workload).get("namespace"), metadata_of(workload).get("name")
    resource = call_api("find the API of", kind, client.resource, kind, api_version_of(kind))
    return to_dict(call_api(action, describe(kind, namespace, name), client.patch, resource, body,
                            name=name, namespace=namespace, content_type=patch_type))


# Answers of an API server that does not serve instantiate (before OpenShift 1.4, and simulators):
# oc rollout latest then raises status.latestVersion itself.
INSTANTIATE_UNSERVED = (400, 403, 404, 405)


def latest_version_patch(dc):
    """JSON patch of the status subresource that asks for version latestVersion + 1 (tested, so two writers cannot skip one)."""
    latest = int((dc.get("status") or {}).get("latestVersion") or 0)
    return JSON_PATCH, [
        {"op": "test", "path": "/status/latestVersion", "value": latest},
        {"op": "replace", "path": "/status/latestVersion", "value": latest + 1},
        {"op": "add", "path": "/status/details", "value": copy.deepcopy(MANUAL_DETAILS)},
    ]


def instantiate_deploymentconfig(client, dc):
    """Start a new version of the DeploymentConfig, as `oc rollout latest` does; the DeploymentConfig the API returns.

    POSTs a DeploymentRequest to the instantiate subresource; where that is not served, raises
    status.latestVersion through the status subresource. Not for check mode: instantiate has no dry run.
    """
    namespace, name = metadata_of(dc).get("namespace"), metadata_of(dc).get("name")
    what = describe(DEPLOYMENT_CONFIG, namespace, name)
    resource = call_api("find the API of", DEPLOYMENT_CONFIG, client.resource, DEPLOYMENT_CONFIG, OPENSHIFT_API_VERSION)
    body = dict(DEPLOYMENT_REQUEST, name=name)
    instantiate = (getattr(resource, "subresources", None) or {}).get("instantiate")
    if instantiate is not None:
        try:
            return to_dict(instantiate.create(body=body, name=name, namespace=namespace))
        except Exception as error:  # pylint: disable=broad-exception-caught
            if getattr(error, "status", None) not in INSTANTIATE_UNSERVED:
                raise RunbookError("deploy a new version of", what, api_error_text(error)) from error
    status = (getattr(resource, "subresources", None) or {}).get("status")
    if status is None:
        raise RunbookError("deploy a new version of", what, "the API serves neither deploymentconfigs/instantiate nor deploymentconfigs/status")
    patch_type, patch = latest_version_patch(dc)
    return to_dict(call_api("deploy a new version of", what, client.client.patch, status, patch,
                            name=name, namespace=namespace, content_type=patch_type))
