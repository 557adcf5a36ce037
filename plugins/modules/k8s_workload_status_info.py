#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_workload_status_info
short_description: Rollout status of every Deployment, StatefulSet and DaemonSet in some namespaces, optionally waiting until all are available
version_added: 0.1.0
description:
  - Answers "are the workloads available again?" after a node drain or upgrade, for whole namespaces at once. It judges each
    Deployment, StatefulSet and DaemonSet as C(kubectl rollout status) does (the same rules as M(sre.runbooks.k8s_rollout_info)).
    A workload is complete when its pods are updated, Ready and available and no old pod is left.
  - Fails fast, without waiting out the timeout, when new pods crash-loop, cannot pull their image or are OOMKilled, and
    returns the reason.
  - With O(wait=true), reads again every O(wait_sleep) seconds until every workload is complete, one has failed, or
    O(wait_timeout) seconds pass. It never fails the task for the workloads' state. RV(complete) says whether all are
    complete and RV(not_complete) names the others with the reason.
  - Never changes anything; check mode behaves exactly like a normal run.
options:
  namespaces:
    description:
      - Namespaces whose workloads to read. An empty list reads every namespace.
    type: list
    elements: str
    default: []
  kinds:
    description: Kinds of workload to read.
    type: list
    elements: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: [Deployment, StatefulSet, DaemonSet]
  wait:
    description: Wait until every workload is complete, one has failed, or O(wait_timeout) passes.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait=true) (the runbooks' C(kubectl rollout status --timeout=300s)).
    type: int
    default: 300
  wait_sleep:
    description: Seconds between two reads while waiting.
    type: int
    default: 2
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - RBAC needs C(list) on C(deployments), C(replicasets), C(statefulsets), C(daemonsets), C(controllerrevisions) and C(pods)
    in the namespaces (all namespaces for an empty O(namespaces)).
seealso:
  - module: sre.runbooks.k8s_rollout_info
  - module: sre.runbooks.k8s_node_drain
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Wait until the workloads of the drained namespaces are available again
  sre.runbooks.k8s_workload_status_info:
    namespaces: [shop, payments]
    wait: true
    wait_timeout: 300
  register: workloads

- name: Fail naming what is not available
  ansible.builtin.fail:
    msg: "{{ workloads.not_complete | map(attribute='message') | join('; ') }}"
  when: not workloads.complete
"""

RETURN = r"""
workloads:
  description: Every workload read, sorted by namespace, kind and name, with its rollout state.
  returned: always
  type: list
  elements: dict
  sample:
    - {"kind": "Deployment", "namespace": "shop", "name": "web", "state": "complete", "reason": null,
       "message": "deployment \"web\" successfully rolled out"}
complete:
  description: Whether every workload read is complete (also true when there is none).
  returned: always
  type: bool
  sample: true
not_complete:
  description: The workloads that are not complete, as in RV(workloads).
  returned: always
  type: list
  elements: dict
  sample:
    - {"kind": "StatefulSet", "namespace": "shop", "name": "db", "state": "progressing", "reason": null,
       "message": "Waiting for 1 pods to be ready..."}
timed_out:
  description: Whether O(wait=true) gave up after O(wait_timeout) with workloads still progressing.
  returned: always
  type: bool
  sample: false
summary:
  description: "One line, for example C(12 workloads in 2 namespaces: all complete)."
  returned: always
  type: str
  sample: "12 workloads in 2 namespaces: all complete"
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    API_VERSION,
    COMPLETE,
    FAILED,
    KINDS,
    PROGRESSING,
    evaluate_rollout,
    list_objects,
    metadata_of,
    owned_by,
    wait_for_rollout,
)

DEFAULT_WAIT_TIMEOUT = 300
DEFAULT_WAIT_SLEEP = 2


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespaces=dict(type="list", elements="str", default=[]),
        kinds=dict(type="list", elements="str", choices=list(KINDS), default=list(KINDS)),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
        wait_sleep=dict(type="int", default=DEFAULT_WAIT_SLEEP),
    )
    return spec


def check_options(module):
    problems = []
    if module.params["wait_timeout"] < 0:
        problems.append("wait_timeout must be 0 or more seconds, got {0}".format(module.params["wait_timeout"]))
    if module.params["wait_sleep"] < 1:
        problems.append("wait_sleep must be 1 or more seconds, got {0}".format(module.params["wait_sleep"]))
    if problems:
        raise RunbookError("read the rollout status of", "workloads", "; ".join(problems))


def workload_statuses(workloads, replicasets, revisions, pods):
    """Pure: the rollout state of each workload from what one read of its namespace(s) returned.

    workloads: {kind: [workload]}; replicasets and revisions (ControllerRevisions) and pods: lists of the same namespaces.
    Returns one entry per workload, sorted by namespace, kind and name.
    """
    entries = []
    for kind in KINDS:
        for workload in workloads.get(kind) or ():
            meta = metadata_of(workload)
            if kind == "Deployment":
                owned = [rs for rs in replicasets if owned_by(rs, workload)]
                owners = owned
            else:
                owned = [rev for rev in revisions if owned_by(rev, workload)]
                owners = [workload]
            own_pods = [pod for pod in pods if metadata_of(pod).get("namespace") == meta.get("namespace")
                        and any(owned_by(pod, owner) for owner in owners)]
            status = evaluate_rollout(kind, workload, owned, own_pods)
            entries.append({"kind": kind, "namespace": meta.get("namespace"), "name": meta.get("name"),
                            "state": status["state"], "reason": status.get("reason"), "message": status["message"]})
    return sorted(entries, key=lambda e: (e["namespace"] or "", e["kind"], e["name"] or ""))


def overall(entries):
    """complete when every entry is, failed when one failed, else progressing (for wait_for_rollout)."""
    states = set(e["state"] for e in entries)
    if FAILED in states:
        return {"state": FAILED, "entries": entries}
    if PROGRESSING in states:
        return {"state": PROGRESSING, "entries": entries}
    return {"state": COMPLETE, "entries": entries}


def summary_text(entries, namespaces):
    where = "all namespaces" if not namespaces else "{0} namespace{1}".format(len(namespaces), "" if len(namespaces) == 1 else "s")
    pending = [e for e in entries if e["state"] != COMPLETE]
    head = "{0} workload{1} in {2}".format(len(entries), "" if len(entries) == 1 else "s", where)
    if not pending:
        return head + ": all complete"
    return head + ": {0} not complete: {1}".format(len(pending), "; ".join(
        "{0} {1}/{2}: {3}".format(e["kind"].lower(), e["namespace"], e["name"], e["message"]) for e in pending))


def read_entries(client, namespaces, kinds):
    """One read of every workload of `kinds` in `namespaces` (None: all), with their ReplicaSets, ControllerRevisions and pods."""
    workloads, replicasets, revisions, pods = {}, [], [], []
    for namespace in namespaces or [None]:
        what = "namespace {0}".format(namespace) if namespace else "all namespaces"
        for kind in kinds:
            workloads.setdefault(kind, []).extend(list_objects(client, kind, API_VERSION, namespace, what))
        if "Deployment" in kinds:
            replicasets.extend(list_objects(client, "ReplicaSet", API_VERSION, namespace, what))
        if set(kinds) - set(["Deployment"]):
            revisions.extend(list_objects(client, "ControllerRevision", API_VERSION, namespace, what))
        pods.extend(list_objects(client, "Pod", "v1", namespace, what))
    return workload_statuses(workloads, replicasets, revisions, pods)


def report_status(module, client):
    params = module.params
    namespaces = sorted(set(n for n in params["namespaces"] if n))
    kinds = [k for k in KINDS if k in params["kinds"]]

    def read():
        return overall(read_entries(client, namespaces, kinds))

    if params["wait"]:
        status, timed_out = wait_for_rollout(read, params["wait_timeout"], params["wait_sleep"])
    else:
        status, timed_out = read(), False
    entries = status["entries"]
    not_complete = [e for e in entries if e["state"] != COMPLETE]
    return module.result(changed=False, workloads=entries, complete=not not_complete, not_complete=not_complete,
                         timed_out=bool(timed_out), summary=summary_text(entries, namespaces))


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(report_status, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
