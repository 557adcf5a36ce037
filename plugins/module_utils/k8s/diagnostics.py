# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Diagnostics snapshot: the runbooks' "Information Gathering" as evidence files and a short verdict.

Layers, as in rollout.py:

- redaction (pure, in redact.py, shared with k8s_rollout's diff): redact_object()
  blanks what could be secret in a pod or workload; sensitive_values() and
  scrub() keep the same literals out of logs and events.
- classification (pure, unit-tested without a cluster): classify() turns the
  pods, nodes and workload into findings (reason, object, container, message,
  count, revision, current) and summary lines, worst first.
- rendering (pure): the text files an engineer reads (summary, describe, events).
- collection (the only code that talks to the API): collect() reads everything
  into a snapshot; write_evidence() writes it, 0700 directories and 0600 files.
Secrets are never read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os
import tarfile

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    API_VERSION,
    DC_FAILED,
    DC_PHASE,
    DC_STATUS_REASON,
    DEPLOYMENT_CONFIG,
    OPENSHIFT_API_VERSION,
    condition_of,
    metadata_of,
    api_error_text,
    build_history,
    current_record,
    current_revision,
    evaluate_rollout,
    hpa_summary,
    last_release,
    latest_replication_controller,
    list_objects,
    parse_time,
    pod_revisions,
    pod_summary,
    public_history,
    read_owned,
    read_pods,
    read_workload,
    revision_of_pod,
    template_images,
    workload_template,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.redact import REDACTED, all_containers, redact_object, scrub, sensitive_values
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import controller_owner, parse_quantity

# Runbook alert "Pod crash loops (>3 restarts in 10 minutes)".
HIGH_RESTARTS = 3
# Runbook "Information Gathering": kubectl logs --tail=500 --all-containers=true.
DEFAULT_LOG_TAIL_LINES = 500

# Worst first: what stops pods from serving before what makes them fragile.
REASONS = (
    "OOMKilled", "CrashLoopBackOff", "Error", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
    "ProgressDeadlineExceeded", "Evicted", "NodeNotReady", "MemoryPressure", "DiskPressure", "PIDPressure",
    "Pending", "NotReady", "HighRestarts", "RequestsDifferFromLimits",
)
PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure")
IMAGE_PULL = {"ImagePullBackOff": "ImagePullBackOff", "ErrImagePull": "ErrImagePull", "InvalidImageName": "ErrImagePull",
              "ErrImageNeverPull": "ErrImagePull"}
CONFIG_ERRORS = ("CreateContainerConfigError", "CreateContainerError")


# -- classification -----------------------------------------------------------------------------------------

def finding(reason, obj, message, container=None, count=1, revision=None, current=True):
    return dict(reason=reason, object=obj, container=container, message=message, count=int(count or 1),
                revision=revision, current=bool(current))


def _spec_container(pod, name):
    return next((c for c in all_containers((pod or {}).get("spec") or {}) if c.get("name") == name), {})


def _limit_text(container, resource):
    value = ((container.get("resources") or {}).get("limits") or {}).get(resource)
    return str(value) if value is not None else "none"


def container_finding(pod, cstatus, revision=None, current=True, init=False):
    """The one finding of a container status (the root cause first: an OOM kill explains the crash loop), or None."""
    name = cstatus.get("name")
    obj = "pod/{0}".format(metadata_of(pod).get("name"))
    state = cstatus.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    last = (cstatus.get("lastState") or {}).get("terminated") or {}
    restarts = int(cstatus.get("restartCount") or 0)
    wait_reason = waiting.get("reason")

    def make(reason, message, count):
        return finding(reason, obj, "container {0}: {1}".format(name, message), name, count, revision, current)

    if terminated.get("reason") == "OOMKilled" or last.get("reason") == "OOMKilled":
        code = terminated.get("exitCode", last.get("exitCode"))
        now = ", now {0}".format(wait_reason) if wait_reason else ""
        return make("OOMKilled", "OOMKilled (exit code {0}){1}, {2} restarts; memory limit {3}".format(
            code, now, restarts, _limit_text(_spec_container(pod, name), "memory")), max(restarts, 1))
    if wait_reason == "CrashLoopBackOff":
        detail = "last exit {0} (exit code {1})".format(last.get("reason") or "unknown", last.get("exitCode")) if last else "no previous exit recorded"
        return make("CrashLoopBackOff", "CrashLoopBackOff, {0}, {1} restarts".format(detail, restarts), max(restarts, 1))
    if restarts > HIGH_RESTARTS and last.get("exitCode") not in (0, None) and not terminated:
        # Caught between two back-offs (just restarted): a crash loop all the same, as the runbook alert
        # "Pod crash loops (>3 restarts in 10 minutes)" counts it.
        return make("CrashLoopBackOff", "crash-looping (restarted, between back-offs), last exit {0} (exit code {1}), {2} restarts".format(
            last.get("reason") or "unknown", last.get("exitCode"), restarts), restarts)
    if wait_reason in IMAGE_PULL:
        image = cstatus.get("image") or _spec_container(pod, name).get("image")
        detail = ": " + waiting["message"] if waiting.get("message") else ""
        message = "{0} for image {1}{2}".format(wait_reason, image, detail)
        return make(IMAGE_PULL[wait_reason], message, 1)
    if wait_reason in CONFIG_ERRORS:
        return make("CreateContainerConfigError", "{0}{1}".format(wait_reason, ": " + waiting["message"] if waiting.get("message") else ""), 1)
    failed = terminated if terminated else {}
    if not (failed and failed.get("exitCode") not in (0, None)) and last.get("exitCode") not in (0, None):
        failed = last
    if failed and failed.get("exitCode") not in (0, None) and not (init and terminated.get("exitCode") == 0):
        which = "terminated" if failed is terminated else "last terminated"
        message = "{0} with exit code {1} ({2}), {3} restarts".format(which, failed.get("exitCode"), failed.get("reason") or "Error", restarts)
        return make("Error", message, max(restarts, 1))
    if restarts > HIGH_RESTARTS:
        return make("HighRestarts", "{0} restarts (more than {1})".format(restarts, HIGH_RESTARTS), restarts)
    return None


def pod_findings(pod, revision=None, current=True):
    """Findings of one pod: Evicted, its containers', Pending or NotReady."""
    status = pod.get("status") or {}
    name = metadata_of(pod).get("name")
    obj = "pod/{0}".format(name)
    if metadata_of(pod).get("deletionTimestamp") or status.get("phase") == "Succeeded":
        return []
    if status.get("reason") == "Evicted":
        return [finding("Evicted", obj, "Evicted on node {0}: {1}".format((pod.get("spec") or {}).get("nodeName"), status.get("message") or ""),
                        revision=revision, current=current)]
    found = []
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for cstatus in status.get(key) or []:
            result = container_finding(pod, cstatus, revision, current, init=init)
            if result is not None:
                found.append(result)
    if found:
        return found
    phase = status.get("phase") or "Pending"
    if phase == "Pending":
        scheduled = condition_of(pod, "PodScheduled")
        detail = scheduled.get("message") or scheduled.get("reason") or "waiting to start"
        return [finding("Pending", obj, "Pending: {0}".format(detail), revision=revision, current=current)]
    if phase == "Running" and condition_of(pod, "Ready").get("status") != "True":
        not_ready = next((c for c in status.get("containerStatuses") or [] if not c.get("ready")), None)
        container = not_ready.get("name") if not_ready else None
        message = "running, not ready{0}".format(" (container {0}: readiness probe failing)".format(container) if container else "")
        return [finding("NotReady", obj, message, container, 1, revision, current)]
    return []


def _quantity_equal(left, right):
    try:
        return parse_quantity(left) == parse_quantity(right)
    except ValueError:
        return str(left) == str(right)


def _resources_text(values):
    return ", ".join("{0}={1}".format(k, values[k]) for k in sorted(values)) if values else "none"


def resources_finding(container, obj, count=1, revision=None, current=True):
    """RequestsDifferFromLimits when a container is not Guaranteed QoS (cpu and memory requests equal to limits), else None.

    Runbook "Pod Eviction": BestEffort or Burstable pods are evicted first under node pressure;
    "Set resource requests = limits for Guaranteed QoS".
    """
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    differ = [r for r in ("cpu", "memory") if r not in requests or r not in limits or not _quantity_equal(requests[r], limits[r])]
    if not differ:
        return None
    qos = "BestEffort" if not requests and not limits else "Burstable"
    message = "container {0}: requests {1}, limits {2}: {3} QoS ({4} differ), evicted first under node pressure; set requests = limits".format(
        container.get("name"), _resources_text(requests), _resources_text(limits), qos, " and ".join(differ))
    return finding("RequestsDifferFromLimits", obj, message, container.get("name"), count, revision, current)


def node_findings(node):
    """NodeNotReady and the pressure conditions of a node."""
    name = metadata_of(node).get("name")
    obj = "node/{0}".format(name)
    found = []
    ready = condition_of(node, "Ready")
    if ready.get("status") != "True":
        detail = ": " + ready["message"] if ready.get("message") else ""
        found.append(finding("NodeNotReady", obj, "Ready is {0}{1}".format(ready.get("status") or "Unknown", detail)))
    for kind in PRESSURE:
        cond = condition_of(node, kind)
        if cond.get("status") == "True":
            found.append(finding(kind, obj, "{0}{1}".format(kind, ": " + cond["message"] if cond.get("message") else "")))
    return found


def workload_findings(kind, workload, owned=()):
    """ProgressDeadlineExceeded of a Deployment, or of a DeploymentConfig whose latest version failed."""
    obj = "{0}/{1}".format(kind.lower(), metadata_of(workload).get("name"))
    if kind == "Deployment":
        progressing = condition_of(workload, "Progressing")
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return [finding("ProgressDeadlineExceeded", obj, progressing.get("message") or "progress deadline exceeded")]
    if kind == DEPLOYMENT_CONFIG:
        annotations = metadata_of(latest_replication_controller(workload, owned)).get("annotations") or {}
        if annotations.get(DC_PHASE) == DC_FAILED:
            return [finding("ProgressDeadlineExceeded", obj, "version {0} failed: {1}".format(
                (workload.get("status") or {}).get("latestVersion"), annotations.get(DC_STATUS_REASON) or "the deployment did not complete"))]
    return []


def _owner_name(pod):
    ref = controller_owner(pod)
    if ref is None:
        return "pod/{0}".format(metadata_of(pod).get("name"))
    return "{0}/{1}".format(ref.get("kind", "").lower(), ref.get("name"))


def resource_findings(pods, workload_kind=None, workload=None, revision=None):
    """RequestsDifferFromLimits once per pod template: the named workload's, else each pod owner's."""
    found = []
    if workload is not None:
        obj = "{0}/{1}".format(workload_kind.lower(), metadata_of(workload).get("name"))
        live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        for container in (workload_template(workload).get("spec") or {}).get("containers") or []:
            result = resources_finding(container, obj, max(len(live), 1), revision, True)
            if result is not None:
                found.append(result)
        return found
    groups = {}
    for pod in pods:
        if metadata_of(pod).get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        owner = _owner_name(pod)
        for container in (pod.get("spec") or {}).get("containers") or []:
            key = (owner, container.get("name"))
            if key in groups:
                groups[key][1] += 1
            else:
                groups[key] = [container, 1]
    for (owner, _name), (container, count) in sorted(groups.items()):
        result = resources_finding(container, owner, count)
        if result is not None:
            found.append(result)
    return found


def _severity(reason):
    return REASONS.index(reason) if reason in REASONS else len(REASONS)


def sort_findings(findings):
    """Worst reason first; within a reason the current revision first, then the largest count."""
    return sorted(findings, key=lambda f: (_severity(f["reason"]), not f["current"], -f["count"], f["object"], f["container"] or ""))


def age_text(seconds):
    """95 -> '95s', 750 -> '12m', 7300 -> '2h1m', 200000 -> '2d7h'."""
    seconds = int(max(seconds or 0, 0))
    if seconds < 120:
        return "{0}s".format(seconds)
    minutes = seconds // 60
    if minutes < 60:
        return "{0}m".format(minutes)
    hours = minutes // 60
    if hours < 48:
        return "{0}h{1}m".format(hours, minutes % 60) if minutes % 60 else "{0}h".format(hours)
    return "{0}d{1}h".format(hours // 24, hours % 24) if hours % 24 else "{0}d".format(hours // 24)


def _revision_text(group, rollout):
    revision = group[0]["revision"]
    if revision is None:
        return ""
    if rollout and revision == rollout.get("revision"):
        when = rollout.get("seconds_since_update")
        return " of revision {0} (the current revision{1})".format(
            revision, ", rolled out {0} ago".format(age_text(when)) if when is not None else "")
    if rollout and revision == rollout.get("previous_revision"):
        return " of revision {0} (the previous revision)".format(revision)
    return " of revision {0}{1}".format(revision, "" if group[0]["current"] else " (an old revision)")


def summarize(findings, rollout=None, names_shown=3):
    """Short lines, worst first: one per reason, revision and container for pods, one per other object."""
    groups = []
    index = {}
    for item in sort_findings(findings):
        if item["object"].startswith("pod/"):
            key = (item["reason"], item["revision"], item["current"], item["container"])
        else:
            key = (item["reason"], item["object"], item["container"])
        if key not in index:
            index[key] = len(groups)
            groups.append([])
        groups[index[key]].append(item)
    lines = []
    for group in groups:
        first = group[0]
        if first["object"].startswith("pod/"):
            names = [f["object"][4:] for f in group]
            who = "pod {0}".format(names[0]) if len(names) == 1 else "{0} pods ({1}{2})".format(
                len(names), ", ".join(names[:names_shown]), ", ..." if len(names) > names_shown else "")
            lines.append("{0}: {1}{2}: {3}".format(first["reason"], who, _revision_text(group, rollout), first["message"]))
        else:
            lines.append("{0}: {1}: {2}".format(first["reason"], first["object"], first["message"]))
    return lines


def classify(pods, nodes=None, kind=None, workload=None, owned=(), revisions=None, rollout=None, node_names=None):
    """The findings and summary of a snapshot.

    pods -- the pods in scope (dicts as the API returns them)
    nodes -- the nodes; only those in node_names (the nodes the pods run or ran on) are judged, all when node_names is None
    kind, workload, owned -- the named workload and its ReplicaSets / ControllerRevisions / ReplicationControllers, or None
    revisions -- {pod name: (revision or None, current)}
    rollout -- the rollout summary (revision, previous_revision, seconds_since_update), for the summary lines
    Returns dict(findings, summary).
    """
    revisions = revisions or {}
    found = []
    for pod in sorted(pods, key=lambda p: metadata_of(p).get("name") or ""):
        revision, current = revisions.get(metadata_of(pod).get("name"), (None, True))
        found.extend(pod_findings(pod, revision, current))
    for node in sorted(nodes or [], key=lambda n: metadata_of(n).get("name") or ""):
        if node_names is None or metadata_of(node).get("name") in node_names:
            found.extend(node_findings(node))
    if workload is not None:
        found.extend(workload_findings(kind, workload, owned))
        current_pods = [p for p in pods if revisions.get(metadata_of(p).get("name"), (None, True))[1]]
        found.extend(resource_findings(current_pods, kind, workload, (rollout or {}).get("revision")))
    else:
        found.extend(resource_findings(pods))
    found = sort_findings(found)
    return dict(findings=found, summary=summarize(found, rollout))


# -- summaries of what was read -----------------------------------------------------------------------------

def node_summary(node, hosts_pods=False):
    status = node.get("status") or {}
    return dict(
        name=metadata_of(node).get("name"),
        ready=condition_of(node, "Ready").get("status") == "True",
        pressure=[kind for kind in PRESSURE if condition_of(node, kind).get("status") == "True"],
        unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
        hosts_pods=bool(hosts_pods),
        kubelet_version=(status.get("nodeInfo") or {}).get("kubeletVersion"),
        allocatable=status.get("allocatable") or {},
        conditions=[dict(type=c.get("type"), status=c.get("status"), reason=c.get("reason"), message=c.get("message"))
                    for c in status.get("conditions") or []],
    )


def pod_report(pod, revision=None, current=True):
    """rollout.pod_summary() plus the current flag and each container's requests and limits."""
    summary = pod_summary(pod, revision)
    summary["current"] = bool(current)
    for container in summary["containers"]:
        resources = _spec_container(pod, container["name"]).get("resources") or {}
        container["requests"] = dict(resources.get("requests") or {})
        container["limits"] = dict(resources.get("limits") or {})
    return summary


def _percent(used, of):
    """used as a percentage of `of` (both Kubernetes quantities), rounded to 0.1; None when either is missing or unreadable."""
    try:
        if used and of and parse_quantity(of):
            return round(float(parse_quantity(used) * 100 / parse_quantity(of)), 1)
    except (ValueError, ArithmeticError):
        pass
    return None


def usage_report(pod_metrics, pods):
    """kubectl top pods --containers, with the CPU request and the memory limit beside the usage.

    cpu_request is the container's CPU request, else its CPU limit (the API defaults a missing request
    to the limit); cpu_percent_of_request and memory_percent_of_limit are None when there is no such bound.
    """
    names = set(metadata_of(p).get("name") for p in pods)
    by_name = dict((metadata_of(p).get("name"), p) for p in pods)
    rows = []
    for item in sorted(pod_metrics, key=lambda m: metadata_of(m).get("name") or ""):
        name = metadata_of(item).get("name")
        if name not in names:
            continue
        for container in item.get("containers") or []:
            usage = container.get("usage") or {}
            resources = _spec_container(by_name[name], container.get("name")).get("resources") or {}
            limits = resources.get("limits") or {}
            cpu_request = (resources.get("requests") or {}).get("cpu") or limits.get("cpu")
            rows.append(dict(pod=name, container=container.get("name"), cpu=usage.get("cpu"), cpu_request=cpu_request,
                             cpu_percent_of_request=_percent(usage.get("cpu"), cpu_request), memory=usage.get("memory"),
                             memory_limit=limits.get("memory"), memory_percent_of_limit=_percent(usage.get("memory"), limits.get("memory"))))
    return rows


def rollout_report(kind, workload, records, revision, state, now):
    """The rollout summary of the contract: kind, name, revision, previous_revision, images, updated_at, seconds_since_update, state.

    A restart is not a release (rollout.last_release()): previous_revision is the newest older revision
    whose pod template differs other than by kubectl's restartedAt annotation (for a DeploymentConfig, a
    Complete version), and updated_at the creation of the first revision of the current release, so that
    a `kubectl rollout restart` neither looks like a fresh deploy nor makes the pre-restart pods the
    revision to go back to.
    """
    deployed, previous = last_release(workload, records, revision)
    updated_at = (deployed or {}).get("created")
    seconds = None
    if updated_at:
        try:
            seconds = max(int((now - parse_time(updated_at)).total_seconds()), 0)
        except ValueError:
            seconds = None
    return dict(kind=kind, name=metadata_of(workload).get("name"), revision=revision,
                previous_revision=previous["revision"] if previous else None,
                images=template_images(workload_template(workload)), updated_at=updated_at, seconds_since_update=seconds, state=state)


# -- rendering ----------------------------------------------------------------------------------------------

def _table(headers, rows):
    rows = [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["   ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.extend("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)
    return "\n".join(lines)


def pods_table(reports):
    """kubectl get pods -o wide, with the revision."""
    rows = []
    for pod in reports:
        containers = pod["containers"]
        ready = "{0}/{1}".format(sum(1 for c in containers if c["ready"]), len(containers))
        waiting = next((c["reason"] for c in containers if c["reason"]), None)
        rows.append([pod["name"], ready, pod["reason"] or waiting or pod["phase"], pod["restarts"], pod["node"] or "<none>",
                     pod["revision"] if pod["revision"] is not None else ""])
    return _table(["NAME", "READY", "STATUS", "RESTARTS", "NODE", "REVISION"], rows)


def event_time(event):
    return event.get("lastTimestamp") or event.get("eventTime") or metadata_of(event).get("creationTimestamp") or ""


def events_table(events):
    """kubectl get events --sort-by=.lastTimestamp, newest first."""
    rows = [[event_time(e), e.get("type"), e.get("reason"), "{0}/{1}".format(((e.get("involvedObject") or {}).get("kind") or "").lower(),
                                                                             (e.get("involvedObject") or {}).get("name")),
             e.get("count") or 1, (e.get("message") or "").replace("\n", " ")] for e in events]
    return _table(["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"], rows)


def _env_text(entry):
    value_from = entry.get("valueFrom") or {}
    if "secretKeyRef" in value_from:
        ref = value_from["secretKeyRef"] or {}
        return "{0}: {1} (key '{2}' of secret '{3}')".format(entry.get("name"), REDACTED, ref.get("key"), ref.get("name"))
    if value_from:
        source = next(iter(value_from))
        return "{0}: <set from {1}: {2}>".format(entry.get("name"), source, json.dumps(value_from[source], sort_keys=True))
    return "{0}: {1}".format(entry.get("name"), entry.get("value"))


def _state_text(state):
    if not state:
        return "<none>"
    name = next(iter(state))
    detail = state[name] or {}
    parts = [name.capitalize()]
    for key in ("reason", "exitCode", "message", "startedAt", "finishedAt"):
        if detail.get(key) is not None:
            parts.append("{0}={1}".format(key, detail[key]))
    return " ".join(parts)


def describe_pod(pod, events=()):
    """kubectl describe pod, of a redacted pod: what the runbooks grep for (state, last state, OOMKilled, Evicted, events)."""
    meta, spec, status = metadata_of(pod), pod.get("spec") or {}, pod.get("status") or {}
    lines = [
        "Name:         {0}".format(meta.get("name")),
        "Namespace:    {0}".format(meta.get("namespace")),
        "Node:         {0}".format(spec.get("nodeName") or "<none>"),
        "Start Time:   {0}".format(status.get("startTime") or "<none>"),
        "Labels:       {0}".format(", ".join("{0}={1}".format(k, v) for k, v in sorted((meta.get("labels") or {}).items())) or "<none>"),
        "Status:       {0}".format(status.get("phase")),
        "Controlled By: {0}".format(_owner_name(pod)),
        "QoS Class:    {0}".format(status.get("qosClass") or "<unknown>"),
    ]
    if status.get("reason"):
        lines.append("Reason:       {0}".format(status["reason"]))
    if status.get("message"):
        lines.append("Message:      {0}".format(status["message"]))
    statuses = dict((c.get("name"), c) for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []))
    for title, key in (("Init Containers", "initContainers"), ("Containers", "containers")):
        if not spec.get(key):
            continue
        lines.append("{0}:".format(title))
        for container in spec.get(key):
            cstatus = statuses.get(container.get("name")) or {}
            resources = container.get("resources") or {}
            lines.extend([
                "  {0}:".format(container.get("name")),
                "    Image:          {0}".format(container.get("image")),
                "    State:          {0}".format(_state_text(cstatus.get("state"))),
                "    Last State:     {0}".format(_state_text(cstatus.get("lastState"))),
                "    Ready:          {0}".format(cstatus.get("ready")),
                "    Restart Count:  {0}".format(cstatus.get("restartCount", 0)),
                "    Limits:         {0}".format(_resources_text(resources.get("limits") or {})),
                "    Requests:       {0}".format(_resources_text(resources.get("requests") or {})),
            ])
            if container.get("command") or container.get("args"):
                lines.append("    Command:        {0}".format(" ".join(str(a) for a in (container.get("command") or []) + (container.get("args") or []))))
            env = container.get("env") or []
            lines.append("    Environment:{0}".format("" if env else "    <none>"))
            lines.extend("      {0}".format(_env_text(e)) for e in env)
            for source in container.get("envFrom") or []:
                ref = source.get("secretRef") or source.get("configMapRef") or {}
                lines.append("      <all keys of {0} '{1}'>".format("secret" if "secretRef" in source else "configmap", ref.get("name")))
    lines.append("Conditions:")
    lines.extend("  {0:<18} {1}{2}".format(c.get("type"), c.get("status"), "  " + c["message"] if c.get("message") else "")
                 for c in status.get("conditions") or [])
    lines.append("Events:")
    lines.append("  " + events_table(events).replace("\n", "\n  ") if events else "  <none>")
    return "\n".join(lines) + "\n"


def summary_text(snapshot):
    """summary.txt: what looks wrong first, then the state behind it."""
    scope = snapshot["scope"]
    lines = ["Diagnostics snapshot of {0}".format(scope), "Collected at {0}".format(snapshot["collected_at"]), ""]
    lines.append("What looks wrong (worst first):")
    lines.extend(["  - " + line for line in snapshot["summary"]] or ["  nothing found"])
    rollout = snapshot.get("rollout")
    if rollout:
        lines += ["", "Rollout: {0}/{1} revision {2} ({3}), {4}; images {5}; revision created {6}{7}".format(
            rollout["kind"].lower(), rollout["name"], rollout["revision"],
            "previous revision {0}".format(rollout["previous_revision"]) if rollout["previous_revision"] is not None else "no previous revision",
            rollout["state"],
            rollout["images"], rollout["updated_at"],
            " ({0} ago)".format(age_text(rollout["seconds_since_update"])) if rollout["seconds_since_update"] is not None else "")]
    lines += ["", "Pods:", pods_table(snapshot["pods"]) if snapshot["pods"] else "  none"]
    if snapshot.get("nodes") is not None:
        lines += ["", "Nodes:", _table(["NAME", "READY", "PRESSURE", "UNSCHEDULABLE", "RUNS THESE PODS"],
                                       [[n["name"], n["ready"], ",".join(n["pressure"]) or "-", n["unschedulable"], n["hosts_pods"]]
                                        for n in snapshot["nodes"]])]
    if snapshot.get("hpa"):
        lines += ["", "HorizontalPodAutoscalers:", _table(["NAME", "MIN", "MAX", "CURRENT", "DESIRED"], [
            [h["name"], h["min_replicas"], h["max_replicas"], h["current_replicas"], h["desired_replicas"]] for h in snapshot["hpa"]])]
    if snapshot.get("usage"):
        lines += ["", "Usage (metrics.k8s.io):", _table(
            ["POD", "CONTAINER", "CPU", "CPU REQUEST", "% OF REQUEST", "MEMORY", "MEMORY LIMIT", "% OF LIMIT"],
            [[u["pod"], u["container"], u["cpu"], u.get("cpu_request"), u.get("cpu_percent_of_request"), u["memory"], u["memory_limit"],
              u["memory_percent_of_limit"]] for u in snapshot["usage"]])]
    if snapshot.get("not_collected"):
        lines += ["", "Not collected:"] + ["  - " + note for note in snapshot["not_collected"]]
    return "\n".join(lines) + "\n"


# -- collection (the only code that talks to the API) -------------------------------------------------------

def _optional(notes, what, fn, default=None):
    """fn(), or default with a note when it fails: a missing permission or API must not lose the rest of the evidence."""
    try:
        return fn()
    except RunbookError as error:
        notes.append("{0}: {1}".format(what, error.cause_text))
    except Exception as error:  # pylint: disable=broad-exception-caught
        notes.append("{0}: {1}".format(what, api_error_text(error)))
    return default


def _check_namespace(client, namespace, notes):
    """Fail when the namespace does not exist: an empty snapshot of a mistyped namespace would read as "all is well"."""
    try:
        client.get(client.resource("Namespace", "v1"), name=namespace)
    except Exception as error:  # pylint: disable=broad-exception-caught
        if getattr(error, "status", None) == 404:
            raise RunbookError("collect diagnostics of", "namespace {0}".format(namespace), "the namespace does not exist") from error
        # No permission to read namespaces (403) is common for namespaced users: carry on.
        notes.append("namespace {0}: {1}".format(namespace, api_error_text(error)))


def scope_text(namespace, kind=None, name=None, selector=None):
    """How the snapshot names what it read: "deployment shop/web", "namespace shop pods app=web"."""
    if name:
        return "{0} {1}/{2}".format(kind.lower(), namespace, name)
    return "namespace {0}{1}".format(namespace, " pods " + selector if selector else "")


def check_target(client, namespace, kind="Deployment", name=None):
    """(scope, notes): the namespace and the named workload can be read; RunbookError when either does not exist.

    The light read of a precheck: the namespace, and the workload by name; nothing else.
    """
    notes = []
    _check_namespace(client, namespace, notes)
    if name:
        read_workload(client, kind, namespace, name)
    return scope_text(namespace, kind, name), notes


def pod_revision_flags(kind, workload, owned, records, pods):
    """{pod name: (revision, current)} of the workload's pods that belong to one of its revisions.

    The revision from rollout.pod_revisions(); current when it is the workload's current revision, or
    when that cannot be told yet (no revision has the workload's template).
    """
    numbers = pod_revisions(kind, workload, owned, records)
    revision = current_revision(workload, records)
    known = current_record(workload, records) is not None
    flags = {}
    for pod in pods:
        number = revision_of_pod(kind, pod, numbers)
        if number is not None:
            flags[metadata_of(pod).get("name")] = (number, not known or number == revision)
    return flags


def _read_named(client, kind, namespace, name, now):
    """(workload, owned, pods, revisions, rollout, history) of a named workload, as k8s_rollout_info reads it."""
    workload = read_workload(client, kind, namespace, name)
    owned = read_owned(client, kind, workload)
    pods = read_pods(client, kind, workload, owned)
    records = build_history(kind, workload, owned)
    revision = current_revision(workload, records)
    revisions = pod_revision_flags(kind, workload, owned, records, pods)
    state = evaluate_rollout(kind, workload, owned, pods)["state"]
    rollout = rollout_report(kind, workload, records, revision, state, now)
    return workload, owned, pods, revisions, rollout, public_history(records, revision)


# The workloads whose pods the namespace snapshot tags with a revision: (kind, its API, what owns the pods, that API).
REVISIONED = (("Deployment", API_VERSION, "ReplicaSet", API_VERSION),
              (DEPLOYMENT_CONFIG, OPENSHIFT_API_VERSION, "ReplicationController", "v1"))


def revisions_in_namespace(client, namespace, pods, notes):
    """{pod name: (revision, current)} for pods of Deployments and DeploymentConfigs, from their ReplicaSets and ReplicationControllers; others (None, True).

    A kind is read only when a pod is owned by a ReplicaSet or a ReplicationController: a cluster
    without DeploymentConfigs is not asked for them.
    """
    what = "namespace " + namespace
    owners = set((controller_owner(p) or {}).get("kind") for p in pods)
    flags = {}
    for kind, api_version, owned_kind, owned_api_version in REVISIONED:
        if owned_kind not in owners:
            continue
        owned = _optional(notes, "{0}s (for pod revisions)".format(owned_kind),
                          functools.partial(list_objects, client, owned_kind, owned_api_version, namespace, what), [])
        workloads = _optional(notes, "{0}s (for pod revisions)".format(kind),
                              functools.partial(list_objects, client, kind, api_version, namespace, what), [])
        for workload in workloads:
            flags.update(pod_revision_flags(kind, workload, owned, build_history(kind, workload, owned), pods))
    return dict((metadata_of(p).get("name"), flags.get(metadata_of(p).get("name"), (None, True))) for p in pods)


def _read_log(core, namespace, pod, container, previous, tail_lines):
    kwargs = dict(container=container, previous=previous)
    if tail_lines is not None:
        kwargs["tail_lines"] = tail_lines
    try:
        text = core.read_namespaced_pod_log(pod, namespace, **kwargs)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # A log that cannot be read (container never started, node gone) is evidence too: say why in the file.
        return "# {0}log of container {1} of pod {2} not available: {3}\n".format("previous " if previous else "", container, pod,
                                                                                  api_error_text(error))
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text or "# {0}log of container {1} of pod {2} is empty\n".format("previous " if previous else "", container, pod)


def wants_previous_log(cstatus):
    """kubectl logs --previous makes sense: the container restarted or has a last termination."""
    return int(cstatus.get("restartCount") or 0) > 0 or bool((cstatus.get("lastState") or {}).get("terminated"))


def collect_logs(core, namespace, pods, tail_lines):
    """{relative file name: text}: each container's current log and, after a restart, its previous one."""
    logs = {}
    for pod in sorted(pods, key=lambda p: metadata_of(p).get("name") or ""):
        name = metadata_of(pod).get("name")
        status = pod.get("status") or {}
        statuses = dict((c.get("name"), c) for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []))
        spec = pod.get("spec") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cname = container.get("name")
            logs["logs/{0}_{1}.log".format(name, cname)] = _read_log(core, namespace, name, cname, False, tail_lines)
            if wants_previous_log(statuses.get(cname) or {}):
                logs["logs/{0}_{1}.previous.log".format(name, cname)] = _read_log(core, namespace, name, cname, True, tail_lines)
    return logs


def core_api(client):
    """kubernetes.client.CoreV1Api on the ApiClient of kubernetes.core's K8SClient (its .client is the DynamicClient)."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel
    return k8s.CoreV1Api(client.client.client)


def collect(client, namespace, now, kind="Deployment", name=None, label_selectors=None, log_tail_lines=DEFAULT_LOG_TAIL_LINES,
            events_limit=None, core=None):
    """Read everything the snapshot holds; nothing is written. Returns the snapshot dict (see write_evidence())."""
    notes = []
    what = "namespace {0}".format(namespace)
    _check_namespace(client, namespace, notes)
    workload = owned = rollout = history = None
    if name:
        workload, owned, pods, revisions, rollout, history = _read_named(client, kind, namespace, name, now)
        scope = scope_text(namespace, kind, name)
    else:
        selector = selector_string(label_selectors)
        params = {}
        if selector:
            params["label_selector"] = selector
        pods = list_objects(client, "Pod", "v1", namespace, what, **params)
        revisions = revisions_in_namespace(client, namespace, pods, notes)
        scope = scope_text(namespace, selector=selector)
    pods = sorted(pods, key=lambda p: metadata_of(p).get("name") or "")

    events = _optional(notes, "events", lambda: list_objects(client, "Event", "v1", namespace, what), [])
    events = sorted(events, key=event_time, reverse=True)
    if events_limit is not None:
        events = events[:events_limit]

    nodes = _optional(notes, "nodes (cluster-scoped; needs permission to list nodes)",
                      lambda: list_objects(client, "Node", "v1", None, "the cluster"))
    hosting = set((p.get("spec") or {}).get("nodeName") for p in pods) - set([None])

    hpas = _optional(notes, "HorizontalPodAutoscalers",
                     lambda: list_objects(client, "HorizontalPodAutoscaler", "autoscaling/v2", namespace, what), [])
    hpa = []
    for item in hpas:
        ref = (item.get("spec") or {}).get("scaleTargetRef") or {}
        if name and (ref.get("kind"), ref.get("name")) != (kind, name):
            continue
        hpa.append(hpa_summary([item], ref.get("kind"), ref.get("name")))

    metrics = _optional(notes, "pod usage (metrics.k8s.io not served?)",
                        lambda: list_objects(client, "PodMetrics", "metrics.k8s.io/v1beta1", namespace, what))
    usage = usage_report(metrics, pods) if metrics is not None else None

    verdict = classify(pods, nodes, kind if name else None, workload, owned or (), revisions, rollout,
                       node_names=hosting if hosting else None)
    if core is None:
        core = core_api(client)
    logs = collect_logs(core, namespace, pods, log_tail_lines)

    secret_values = sensitive_values(pods + ([workload] if workload else []))
    reports = [pod_report(p, *revisions.get(metadata_of(p).get("name"), (None, True))) for p in pods]
    return dict(
        scope=scope,
        collected_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        namespace=namespace, kind=kind if name else None, name=name,
        summary=[scrub(line, secret_values) for line in verdict["summary"]],
        findings=[dict(f, message=scrub(f["message"], secret_values)) for f in verdict["findings"]],
        rollout=rollout, history=history,
        pods=reports, raw_pods=[redact_object(p) for p in pods],
        workload=redact_object(workload) if workload else None,
        events=events,
        nodes=[node_summary(n, metadata_of(n).get("name") in hosting) for n in sorted(nodes, key=lambda n: metadata_of(n).get("name") or "")]
        if nodes is not None else None,
        hpa=hpa, usage=usage, logs=logs, not_collected=notes, secret_values=secret_values,
    )


# -- evidence files -----------------------------------------------------------------------------------------

def evidence_dir_name(now, namespace, name=None):
    """20260103T100212Z_shop_web: sorts by time, says what it is about."""
    return "_".join([now.strftime("%Y%m%dT%H%M%SZ"), namespace] + ([name] if name else []))


def evidence_path(dest, now, namespace, name=None, exists=os.path.exists):
    """A directory under dest that does not exist yet (a second run in the same second gets -2, -3, ...)."""
    base = os.path.join(dest, evidence_dir_name(now, namespace, name))
    path, number = base, 1
    while exists(path) or exists(path + ".tar.gz"):
        number += 1
        path = "{0}-{1}".format(base, number)
    return path


def _dump(value):
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def evidence_files(snapshot):
    """{relative file name: text}: everything written, already scrubbed of the sensitive literals."""
    pod_events = {}
    for event in snapshot["events"]:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "Pod":
            pod_events.setdefault(involved.get("name"), []).append(event)
    files = {
        "summary.txt": summary_text(snapshot),
        "findings.json": _dump(snapshot["findings"]),
        "pods.json": _dump(snapshot["raw_pods"]),
        "events.txt": events_table(snapshot["events"]) + "\n",
        "events.json": _dump(snapshot["events"]),
        "hpa.json": _dump(snapshot["hpa"]),
        "nodes.json": _dump(snapshot["nodes"]),
        "usage.json": _dump(snapshot["usage"]),
    }
    if snapshot["rollout"] is not None:
        files["history.json"] = _dump(dict(rollout=snapshot["rollout"], history=snapshot["history"]))
        files["workload.json"] = _dump(snapshot["workload"])
    for pod in snapshot["raw_pods"]:
        name = metadata_of(pod).get("name")
        files["describe/{0}.txt".format(name)] = describe_pod(pod, pod_events.get(name, []))
    files.update(snapshot["logs"])
    values = snapshot.get("secret_values") or ()
    return dict((path, scrub(text, values)) for path, text in files.items())


def _makedirs(path):
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
        os.chmod(path, 0o700)


def write_evidence(files, path, archive=False):
    """Write the files under path (0700 directories, 0600 files); with archive, also path.tar.gz (0600). Returns the archive or None."""
    root = os.path.dirname(path)
    if not os.path.isdir(root):
        os.makedirs(root, 0o700)
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)
    for relative, text in sorted(files.items()):
        target = os.path.join(path, relative)
        _makedirs(os.path.dirname(target))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    if not archive:
        return None
    archive_path = path + ".tar.gz"
    fd = os.open(archive_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        with tarfile.open(fileobj=handle, mode="w:gz") as tar:
            tar.add(path, arcname=os.path.basename(path))
    return archive_path


def selector_string(selectors):
    """kubernetes.core label_selectors (["app=web", "tier!=db"]) as one labelSelector."""
    return ",".join(s.strip() for s in selectors or [] if s and s.strip())
