#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_diagnostics
short_description: Take a diagnostics snapshot of a Kubernetes workload or namespace into a timestamped evidence directory
version_added: 0.1.0
description:
  - The runbooks' "Information Gathering" as one read-only task. Collects the pods with status, restarts and revision
    (C(kubectl get pods -o wide)), describe-style details (C(kubectl describe pod)), the namespace's events
    (C(kubectl get events --sort-by=.lastTimestamp)), each container's log and, after a restart, its previous log
    (C(kubectl logs --previous)), the rollout history, the HorizontalPodAutoscalers, the node conditions and the pods'
    resource usage (C(kubectl top pods --containers)).
  - Writes them into a new directory under O(dest), named after the time (UTC), the namespace and the workload, with a
    C(summary.txt) that starts with what looks wrong, worst first; optionally also a C(.tar.gz) of that directory.
  - Classifies what it read into findings (OOMKilled, CrashLoopBackOff, image pull and config errors, Evicted, node
    pressure, requests that differ from limits, ...), each tagged with the workload revision the pod belongs to, so a
    crash loop that started with the latest rollout is told apart from an old one.
  - Never changes anything on the cluster and always reports RV(ignore:changed=false). In check mode it collects and
    returns everything but writes no files; RV(evidence_dir) is then the directory it would write.
  - Never reads Secrets. Env values whose names look secret (password, token, secret, key, credential, ...) and values
    from Secrets are written as C(<redacted>), and those literal values are scrubbed from logs and events too.
    Directories are created with mode 0700 and files with mode 0600.
options:
  namespace:
    description: Namespace to collect from. It must exist.
    type: str
    required: true
  kind:
    description: Kind of the workload named by O(name).
    type: str
    choices: [Deployment, StatefulSet, DaemonSet, DeploymentConfig]
    default: Deployment
  name:
    description:
      - Name of the workload. Its pods, rollout history and autoscaler are collected.
      - Without a name, every pod of the namespace is collected, or the pods matching O(label_selectors).
    type: str
  label_selectors:
    description:
      - Without O(name), only pods matching all these selectors, as in P(kubernetes.core.k8s_info#module) (C(app=web), C(tier!=db)).
      - Ignored when O(name) is given.
    type: list
    elements: str
    default: []
  dest:
    description:
      - Root directory of the evidence. A new directory C(<UTC time>_<namespace>[_<name>]) is created under it;
        O(dest) is created (mode 0700) when missing.
      - The path is on the host the task runs on.
      - Required unless O(target_only=true).
    type: path
  archive:
    description: Also write C(<evidence directory>.tar.gz) (mode 0600) next to the directory, to attach to the incident.
    type: bool
    default: false
  log_tail_lines:
    description:
      - Lines of each log kept, the newest (C(kubectl logs --tail)). The default is the runbook's C(--tail=500).
      - V(0) keeps no lines; V(-1) keeps whole logs.
    type: int
    default: 500
  events_limit:
    description:
      - At most this many events of the namespace are written, the newest first.
      - Unset, all of them, as the runbook's C(kubectl get events --sort-by=.lastTimestamp) lists them. V(0) writes none.
    type: int
  target_only:
    description:
      - Only check that the target can be read, as a role's precheck does before collecting anything. Reads the namespace
        and, with O(name), the workload, and fails as a full run would when either does not exist.
      - Nothing else is read (no pods, logs, events, nodes, autoscalers or metrics) and nothing is written; O(dest) is not needed.
        Only RV(scope) and RV(not_collected) are returned.
    type: bool
    default: false
    version_added: 0.1.0
attributes:
  check_mode:
    support: full
    details: Collects and returns everything; writes no files.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Nodes are cluster-scoped. Without permission to list them (or without metrics.k8s.io, HorizontalPodAutoscalers or
    events), the snapshot is still written, and C(summary.txt) and a warning say what was not collected.
  - Node conditions become findings for the nodes the pods run or ran on (all nodes when no pod is scheduled).
  - Module defaults for C(group/sre.runbooks.k8s) take the same authentication options as C(group/kubernetes.core.k8s).
seealso:
  - module: sre.runbooks.k8s_rollout_info
  - module: kubernetes.core.k8s_log
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
requirements:
  - kubernetes >= 24.2.0
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Snapshot the checkout deployment for the incident
  sre.runbooks.k8s_diagnostics:
    namespace: shop
    name: checkout
    dest: /var/tmp/sre-runbooks/evidence
    archive: true
  register: snapshot

- name: Say what looks wrong
  ansible.builtin.debug:
    var: snapshot.summary

- name: Snapshot every pod labelled app=web in the namespace, with the last 100 events
  sre.runbooks.k8s_diagnostics:
    namespace: shop
    label_selectors:
      - app=web
    dest: /var/tmp/sre-runbooks/evidence
    events_limit: 100

- name: Fail early when the namespace or the workload cannot be read (reads nothing else, writes nothing)
  sre.runbooks.k8s_diagnostics:
    namespace: shop
    name: checkout
    target_only: true

- name: Crash loops of the current revision only
  ansible.builtin.debug:
    msg: "{{ snapshot.findings | selectattr('reason', 'equalto', 'CrashLoopBackOff') | selectattr('current') | list }}"
"""

RETURN = r"""
evidence_dir:
  description: The directory written (in check mode, the directory that would be written).
  returned: success, unless O(target_only=true)
  type: str
  sample: /var/tmp/sre-runbooks/evidence/20260103T100212Z_shop_checkout
archive:
  description: The C(.tar.gz) written (in check mode, that would be written) when O(archive) is set, else V(null).
  returned: success, unless O(target_only=true)
  type: str
  sample: /var/tmp/sre-runbooks/evidence/20260103T100212Z_shop_checkout.tar.gz
files:
  description: The files of the evidence directory, relative to it.
  returned: success, unless O(target_only=true)
  type: list
  elements: str
  sample: [describe/checkout-6d4b9c7f8-x2x9z.txt, events.txt, findings.json, logs/checkout-6d4b9c7f8-x2x9z_checkout.log,
           logs/checkout-6d4b9c7f8-x2x9z_checkout.previous.log, summary.txt]
summary:
  description: What looks wrong, worst first, one short line per reason and revision (or object); empty when nothing was found.
  returned: success, unless O(target_only=true)
  type: list
  elements: str
  sample:
    - "CrashLoopBackOff: 3 pods (checkout-6d4b9c7f8-x2x9z, ...) of revision 5 (the current revision, rolled out 4m ago):
      container checkout: CrashLoopBackOff, last exit Error (exit code 1), 4 restarts"
findings:
  description: Everything that looks wrong, worst first.
  returned: success, unless O(target_only=true)
  type: list
  elements: dict
  contains:
    reason:
      description:
        - V(OOMKilled), V(CrashLoopBackOff), V(Error) (exit code in the message), V(ImagePullBackOff), V(ErrImagePull),
          V(CreateContainerConfigError), V(ProgressDeadlineExceeded), V(Evicted), V(NodeNotReady), V(MemoryPressure),
          V(DiskPressure), V(PIDPressure), V(Pending), V(NotReady), V(HighRestarts) (more than 3) or
          V(RequestsDifferFromLimits) (not Guaranteed QoS, evicted first under node pressure).
      type: str
    object:
      description: What it is about, C(pod/<name>), C(node/<name>) or C(<kind>/<name>).
      type: str
    container:
      description: The container, or V(null).
      type: str
    message:
      description: The details.
      type: str
    count:
      description: How often (restarts for containers, pods for RV(findings[].reason=RequestsDifferFromLimits)), at least 1.
      type: int
    revision:
      description: The workload revision the pod belongs to; V(null) when unknown or not about a pod.
      type: int
    current:
      description: Whether the pod belongs to the current revision (V(true) when unknown or not about a pod).
      type: bool
rollout:
  description: The named workload's rollout; V(null) without O(name).
  returned: success, unless O(target_only=true)
  type: dict
  contains:
    kind:
      description: Kind of the workload.
      type: str
    name:
      description: Name of the workload.
      type: str
    revision:
      description: The current revision.
      type: int
    previous_revision:
      description:
        - The release before the current one, the revision a rollback after a bad deploy goes back to; V(null) if none.
        - It is the newest revision older than the current one whose pod template differs from the current template
          other than by the C(kubectl.kubernetes.io/restartedAt) annotation. A C(kubectl rollout restart) (or
          sre.runbooks.k8s_rollout O(sre.runbooks.k8s_rollout#module:state=restarted)) is not a release and is skipped,
          so that the pre-restart revision, with the same pods, is never the target. Any other template change
          (an image, resources such as a raised memory limit, env) is a release.
        - For a DeploymentConfig, only versions whose phase is C(Complete) count (as C(oc rollback) chooses), never a
          C(Failed) version or one that never finished.
      type: int
    images:
      description: Image of each container of the pod template.
      type: dict
    updated_at:
      description:
        - When the current release was deployed, the creation of its first revision (ReplicaSet, ControllerRevision or
          ReplicationController). Restart-only revisions after it do not move this time (see RV(rollout.previous_revision)).
      type: str
    seconds_since_update:
      description: Seconds since RV(rollout.updated_at).
      type: int
    state:
      description: V(complete), V(progressing) or V(failed), as C(kubectl rollout status) judges it.
      type: str
pods:
  description:
    - The pods, as RV(sre.runbooks.k8s_rollout_info#module:pods) reports them (name, phase, ready, node, revision, restarts,
      reason, containers with state and last termination), plus C(current) and each container's C(requests) and C(limits).
  returned: success, unless O(target_only=true)
  type: list
  elements: dict
nodes:
  description:
    - All nodes (name, ready, pressure, unschedulable, and hosts_pods, whether the pods run or ran there); V(null) when they could not be listed.
    - C(nodes.json) also has their conditions, allocatable resources and kubelet versions.
  returned: success, unless O(target_only=true)
  type: list
  elements: dict
hpa:
  description: The HorizontalPodAutoscalers of the workload (all of the namespace without O(name)), as sre.runbooks.k8s_rollout_info reports one.
  returned: success, unless O(target_only=true)
  type: list
  elements: dict
usage:
  description:
    - Usage of each container from metrics.k8s.io, as C(kubectl top pods --containers) shows it; V(null) when not served.
  returned: success, unless O(target_only=true)
  type: list
  elements: dict
  contains:
    pod:
      description: Pod name.
      type: str
    container:
      description: Container name.
      type: str
    cpu:
      description: CPU in use, as metrics.k8s.io reports it (for example V(250m), V(250000000n)).
      type: str
    cpu_request:
      description: The container's CPU request, else its CPU limit (the API sets a missing request to the limit); V(null) if neither.
      type: str
    cpu_percent_of_request:
      description: CPU in use as a percentage of RV(usage[].cpu_request), to 0.1; V(null) without a request or limit.
      type: float
      sample: 200.0
    memory:
      description: Memory in use (for example V(150Mi), V(157286400)).
      type: str
    memory_limit:
      description: The container's memory limit; V(null) if none.
      type: str
    memory_percent_of_limit:
      description: Memory in use as a percentage of RV(usage[].memory_limit), to 0.1; V(null) without a limit.
      type: float
      sample: 75.0
scope:
  description: What was read, as messages name it.
  returned: success
  type: str
  sample: deployment shop/checkout
not_collected:
  description: What could not be read and why (also in C(summary.txt) and as warnings).
  returned: success
  type: list
  elements: str
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.diagnostics import (
    DEFAULT_LOG_TAIL_LINES,
    check_target,
    collect,
    evidence_files,
    evidence_path,
    write_evidence,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import ROLLOUT_KINDS, utc_now


# The nodes as returned; nodes.json also has their conditions, allocatable resources and kubelet versions.
NODE_KEYS = ("name", "ready", "pressure", "unschedulable", "hosts_pods")


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        kind=dict(type="str", choices=list(ROLLOUT_KINDS), default="Deployment"),
        name=dict(type="str"),
        label_selectors=dict(type="list", elements="str", default=[]),
        dest=dict(type="path"),
        archive=dict(type="bool", default=False),
        log_tail_lines=dict(type="int", default=DEFAULT_LOG_TAIL_LINES),
        events_limit=dict(type="int"),
        target_only=dict(type="bool", default=False),
    )
    return spec


def check_options(module):
    limit = module.params["events_limit"]
    if limit is not None and limit < 0:
        raise RunbookError("use", "the options", "events_limit must be 0 or more, got {0}".format(limit))
    if module.params["log_tail_lines"] is not None and module.params["log_tail_lines"] < -1:
        raise RunbookError("use", "the options", "log_tail_lines must be -1 (whole logs) or more, got {0}".format(module.params["log_tail_lines"]))


def snapshot(module, client):
    params = module.params
    if params["target_only"]:
        scope, notes = check_target(client, params["namespace"], kind=params["kind"], name=params["name"])
        for note in notes:
            module.warn("Not read: {0}".format(note))
        return module.result(changed=False, scope=scope, not_collected=notes)
    now = utc_now()
    tail = params["log_tail_lines"]
    data = collect(client, params["namespace"], now, kind=params["kind"], name=params["name"], label_selectors=params["label_selectors"],
                   log_tail_lines=None if tail == -1 else tail, events_limit=params["events_limit"])
    files = evidence_files(data)
    path = evidence_path(params["dest"], now, params["namespace"], params["name"])
    archive = path + ".tar.gz" if params["archive"] else None
    if not module.check_mode:
        try:
            archive = write_evidence(files, path, params["archive"])
        except (OSError, IOError) as error:
            raise RunbookError("write the evidence to", path, error) from error
    for note in data["not_collected"]:
        module.warn("Not collected: {0}".format(note))
    return module.result(
        changed=False,
        evidence_dir=path,
        archive=archive,
        files=sorted(files),
        summary=data["summary"],
        findings=data["findings"],
        rollout=data["rollout"],
        pods=data["pods"],
        nodes=[dict((k, n[k]) for k in NODE_KEYS) for n in data["nodes"]] if data["nodes"] is not None else None,
        hpa=data["hpa"],
        usage=data["usage"],
        not_collected=data["not_collected"],
    )


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS, required_if=[("target_only", False, ["dest"])])
    module.run(snapshot, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
