#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_node_drain
short_description: Drain, cordon or uncordon a Kubernetes node safely, retrying disruption budgets and undoing a failed drain
version_added: 0.1.0
description:
  - Drains a node for maintenance as C(kubectl drain) does. It cordons the node, evicts its pods in parallel through the
    C(policy/v1) Eviction API, and waits until they are gone and until their replacements are Ready on other nodes.
  - Retries evictions that a PodDisruptionBudget refuses (HTTP 429) with a growing back-off until O(wait_timeout), as
    C(kubectl drain) does. M(kubernetes.core.k8s_drain) fails at the first refusal instead.
  - Never leaves a node half drained without saying so. On any failure it uncordons the node it cordoned (unless
    O(uncordon_on_failure=false)) and fails with each pod that remains on the node and why, for example that
    C(PodDisruptionBudget shop/web allows 0 disruptions (needs 3 healthy pods, has 3)) for C(shop/web-5d8f-x2x).
  - Reads a preflight plan first (the same plan M(sre.runbooks.k8s_node_drain_info) returns). It says which pods would be
    evicted, deleted, skipped or refused, which PodDisruptionBudgets block and by how much, whether the other schedulable
    nodes have room for the requests of the replacements, and which pods would be lost.
  - Refuses, before cordoning, pods it may not remove without an option, naming them. These are pods with C(emptyDir)
    data (O(delete_emptydir_data)), pods without a controller (O(force)), and DaemonSet pods when
    O(ignore_daemonsets=false). DaemonSet pods and mirror pods stay on the node. Finished pods (C(Succeeded), C(Failed))
    are deleted.
  - Refuses, before cordoning, a drain that the plan shows cannot finish, unless O(force_unfinishable=true). That is a
    PodDisruptionBudget that can never allow the evictions, a pod under two budgets, or replacements that would find
    no room.
  - Declarative. O(state=drain) on a cordoned node with nothing left to evict reports C(changed=false). So do
    O(state=cordon) on a cordoned node and O(state=uncordon) on a schedulable one.
  - In check mode, returns the plan and the RV(actions) it would take and changes nothing. The cordon is sent as a
    server-side dry run, and no pod is evicted.
options:
  name:
    description: Name of the node.
    type: str
    required: true
  state:
    description:
      - V(drain) cordons the node and evicts its pods.
      - V(cordon) marks the node unschedulable (C(kubectl cordon)). V(uncordon) makes it schedulable again (C(kubectl uncordon)).
    type: str
    choices: [drain, cordon, uncordon]
    default: drain
  pod_selector:
    description:
      - Label selector of the pods to drain (C(kubectl drain --pod-selector)), for example V(app=web). Other pods stay.
    type: str
  ignore_daemonsets:
    description:
      - Leave the pods of DaemonSets on the node. The DaemonSet controller would only recreate them there.
      - With V(false), a node with DaemonSet pods is refused, as C(kubectl drain) without C(--ignore-daemonsets) refuses it.
      - A pod whose DaemonSet no longer exists is not skipped. It is refused unless O(force=true).
    type: bool
    default: true
  delete_emptydir_data:
    description:
      - Evict pods with C(emptyDir) volumes. Their data is lost (C(kubectl drain --delete-emptydir-data)).
      - Otherwise such pods are refused, by name, before anything changes.
    type: bool
    default: false
  force:
    description:
      - Remove pods that no controller will recreate (bare pods, and pods of a deleted DaemonSet). They are lost
        (C(kubectl drain --force)).
      - Otherwise such pods are refused, by name, before anything changes.
    type: bool
    default: false
  grace_period:
    description:
      - Seconds each pod gets to terminate (C(gracePeriodSeconds) of the eviction or deletion). Unset means the pod's own
        C(terminationGracePeriodSeconds).
    type: int
  disable_eviction:
    description:
      - Delete the pods instead of evicting them. This bypasses every PodDisruptionBudget (C(kubectl drain --disable-eviction)).
      - For a budget that is wrong during an incident. The plan still reports the budgets and says they are bypassed.
    type: bool
    default: false
  force_unfinishable:
    description:
      - Start the drain even when the plan shows it cannot finish, for example when someone will relax a
        PodDisruptionBudget while the drain retries. The reasons become warnings.
      - Pods that need O(delete_emptydir_data) or O(force) are refused all the same.
    type: bool
    default: false
  wait_for_replacements:
    description:
      - After the evicted pods are gone, wait until each of their controllers has as many Ready pods on other nodes as it had
        Ready pods before the drain.
      - With V(false), the drain ends when the pods are gone.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole drain may take after the cordon. This covers evictions retried against disruption budgets,
        pods going away and replacements becoming Ready.
      - The default is the runbooks' C(--timeout=300s).
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two reads while waiting, and the first back-off after an eviction a budget refused. The back-off
        doubles up to 10 seconds (C(kubectl drain) retries every 5 seconds).
    type: int
    default: 2
  uncordon_on_failure:
    description:
      - When the drain fails after the module cordoned the node, uncordon it so the node takes pods again. The failure
        message says so.
      - A node that was already cordoned before the task stays cordoned.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) and C(patch) on C(nodes), C(list) on C(nodes), C(pods), C(daemonsets) and C(poddisruptionbudgets)
    in all namespaces, C(get) on C(pods), C(create) on C(pods/eviction), and C(delete) on C(pods) for finished pods and
    O(disable_eviction).
  - Pods are evicted with up to 20 requests in flight at a time.
seealso:
  - module: sre.runbooks.k8s_node_drain_info
  - module: kubernetes.core.k8s_drain
  - name: Safely Drain a Node
    description: Kubernetes documentation of C(kubectl drain) and PodDisruptionBudgets.
    link: https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Drain node-1 for its upgrade (uncordoned again if the drain fails)
  sre.runbooks.k8s_node_drain:
    name: node-1
    wait_timeout: 600

- name: Drain a node whose pods keep cache data in emptyDir volumes
  sre.runbooks.k8s_node_drain:
    name: node-2
    delete_emptydir_data: true

- name: Show the preflight plan only
  sre.runbooks.k8s_node_drain:
    name: node-1
  check_mode: true
  register: drain_plan

- name: Say what would block
  ansible.builtin.debug:
    msg: "{{ drain_plan.plan.reasons }}"
  when: not drain_plan.plan.can_finish

- name: Drain although a budget blocks now (someone relaxes it during the drain)
  sre.runbooks.k8s_node_drain:
    name: node-1
    force_unfinishable: true

- name: Put the node back into service after the upgrade
  sre.runbooks.k8s_node_drain:
    name: node-1
    state: uncordon
"""

RETURN = r"""
node:
  description: The node and whether it was unschedulable (cordoned) before and after the task.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the node.
      type: str
      sample: node-1
    unschedulable_before:
      description: C(spec.unschedulable) before the task.
      type: bool
      sample: false
    unschedulable_after:
      description: C(spec.unschedulable) after the task (in check mode, as it would be). False after a failed drain that was undone.
      type: bool
      sample: true
plan:
  description:
    - The preflight plan of O(state=drain), as read before anything changed. See M(sre.runbooks.k8s_node_drain_info) for
      every field.
    - V(null) for O(state=cordon) and O(state=uncordon).
  returned: always
  type: dict
  sample:
    node: node-1
    unschedulable: false
    can_finish: true
    reasons: []
    evict: [{"pod": "shop/web-5d8f-x2x", "controller": "ReplicaSet shop/web-5d8f"}]
    delete: []
    skip: [{"pod": "kube-system/node-exporter-a1", "controller": "DaemonSet kube-system/node-exporter", "reason": "DaemonSet-managed"}]
    refuse: []
    wait: []
    lost: []
    emptydir_data_lost: []
    pdbs: []
    capacity: {"fits": true, "requests": {"cpu": "10m", "memory": "16Mi", "pods": 1}}
    actions: ["cordon node node-1", "evict pod shop/web-5d8f-x2x"]
evicted:
  description: Pods evicted (or, with O(disable_eviction), deleted) and gone, as C(namespace/name).
  returned: always
  type: list
  elements: str
  sample: ["shop/web-5d8f-x2x"]
deleted:
  description: Finished pods (C(Succeeded), C(Failed)) deleted, as C(namespace/name).
  returned: always
  type: list
  elements: str
  sample: ["batch/report-27h5q"]
remaining:
  description:
    - Pods the drain should have removed that are still on the node, each with the reason. Empty on success.
    - On failure, also in the failure's result.
  returned: always
  type: list
  elements: dict
  sample: [{"pod": "shop/web-5d8f-x2x", "reason": "PodDisruptionBudget shop/web allows 0 disruptions (needs 3 healthy pods, has 3)"}]
budget_refusals:
  description:
    - For each pod whose eviction a PodDisruptionBudget refused (HTTP 429) before it went or the time ran out, how many
      times. The drain retried each refusal.
  returned: always
  type: dict
  sample: {"shop/web-5d8f-k9w": 2}
actions:
  description: What the task did, or in check mode would do, one sentence per write. Empty when nothing needed doing.
  returned: always
  type: list
  elements: str
  sample: ["cordon node node-1", "evict pod shop/web-5d8f-x2x", "uncordon node node-1"]
diff:
  description: Whether the node was unschedulable, and the pods to remove, before and after, when run with C(--diff).
  returned: when diff mode is on and something changed
  type: dict
  sample:
    before: {"unschedulable": false, "pods": ["shop/web-5d8f-x2x"]}
    after: {"unschedulable": true, "pods": []}
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.diagnostics import core_api
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.drain import (
    DELETE,
    EVICT,
    WAIT,
    eviction_blocker,
    has_work,
    pod_key,
    ready_by_controller,
    refusal_messages,
    replacements_pending,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.nodes import NodeApi, node_text, status_cause
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import api_error_text

DRAIN = "drain"
CORDON = "cordon"
UNCORDON = "uncordon"
# Runbook 004 waits with `--timeout=300s`; the same bound for a drain.
DEFAULT_WAIT_TIMEOUT = 300
DEFAULT_WAIT_SLEEP = 2
# kubectl drain retries a refused eviction every 5 s; ours backs off from wait_sleep and stops growing here.
MAX_BACKOFF = 10
MAX_PARALLEL = 20
TOO_MANY_REQUESTS = 429
NOT_FOUND = 404


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default=DRAIN, choices=[DRAIN, CORDON, UNCORDON]),
        pod_selector=dict(type="str"),
        ignore_daemonsets=dict(type="bool", default=True),
        delete_emptydir_data=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        grace_period=dict(type="int"),
        disable_eviction=dict(type="bool", default=False),
        force_unfinishable=dict(type="bool", default=False),
        wait_for_replacements=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
        wait_sleep=dict(type="int", default=DEFAULT_WAIT_SLEEP),
        uncordon_on_failure=dict(type="bool", default=True),
    )
    return spec


def option_problems(params):
    problems = []
    if params["wait_timeout"] < 1:
        problems.append("wait_timeout must be 1 or more seconds, got {0}".format(params["wait_timeout"]))
    if params["wait_sleep"] < 1:
        problems.append("wait_sleep must be 1 or more seconds, got {0}".format(params["wait_sleep"]))
    if params.get("grace_period") is not None and params["grace_period"] < 0:
        problems.append("grace_period must be 0 or more seconds, got {0}".format(params["grace_period"]))
    return problems


def check_options(module):
    """Refuse unusable options before connecting."""
    problems = option_problems(module.params)
    if problems:
        raise RunbookError(module.params["state"], node_text(module.params["name"]), "; ".join(problems))


def backoff(attempt, sleep):
    """Seconds before retrying an eviction a budget refused: sleep, doubling, at most MAX_BACKOFF (or sleep, if larger)."""
    return min(sleep * (2 ** attempt), max(MAX_BACKOFF, sleep))


def remove_pod(api, pod, how, params, deadline, clock=None, pause=None):
    """Evict, delete or just wait for one pod until it is gone; runs in a worker thread.

    Returns {pod, outcome, reason}: outcome "evicted", "deleted" or "remaining" (reason says why).
    """
    clock = clock or time.monotonic
    pause = pause or time.sleep
    key = pod_key(pod)
    attempt = 0
    if how != WAIT:
        while True:
            try:
                if how == EVICT and not params["disable_eviction"]:
                    api.evict(pod, params["grace_period"])
                else:
                    api.delete(pod, params["grace_period"])
                break
            except Exception as error:  # pylint: disable=broad-exception-caught
                status = getattr(error, "status", None)
                if status == NOT_FOUND:
                    break  # already gone
                if status != TOO_MANY_REQUESTS:
                    return {"pod": key, "outcome": "remaining", "reason": "{0} refused: {1}".format(
                        "eviction" if how == EVICT else "deletion", status_cause(error))}
                if clock() >= deadline:
                    return {"pod": key, "outcome": "remaining", "reason": status_cause(error), "blocked": True, "refusals": attempt + 1}
                # The last try comes at the deadline, not a back-off before it.
                pause(min(backoff(attempt, params["wait_sleep"]), max(0, deadline - clock())))
                attempt += 1
    uid = pod["metadata"].get("uid")
    while True:
        try:
            current = api.pod_uid(pod)
        except Exception as error:  # pylint: disable=broad-exception-caught
            return {"pod": key, "outcome": "remaining", "reason": "could not read it: {0}".format(api_error_text(error))}
        if current is None or current != uid:
            return {"pod": key, "outcome": "evicted" if how == EVICT else "deleted", "refusals": attempt}
        if clock() >= deadline:
            return {"pod": key, "outcome": "remaining", "reason": "still terminating"}
        pause(min(params["wait_sleep"], max(0, deadline - clock())))


def change_cordon(module, api, node, want):
    """State cordon or uncordon: declarative, a dry run in check mode."""
    name = node["metadata"]["name"]
    before = bool((node.get("spec") or {}).get("unschedulable"))
    info = {"name": name, "unschedulable_before": before, "unschedulable_after": want}
    if before == want:
        return module.result(changed=False, actions=[], node=info, plan=None, evicted=[], deleted=[], remaining=[], budget_refusals={})
    api.set_unschedulable(name, want)
    action = "{0} node {1}".format(CORDON if want else UNCORDON, name)
    return module.result(changed=True, actions=[action], before={"unschedulable": before}, after={"unschedulable": want},
                         node=info, plan=None, evicted=[], deleted=[], remaining=[], budget_refusals={})


class Drain(object):
    """One drain: what it did so far, so that a failure can report it and undo the cordon."""

    def __init__(self, module, api, node):
        self.module = module
        self.params = module.params
        self.api = api
        self.name = node["metadata"]["name"]
        self.unschedulable_before = bool((node.get("spec") or {}).get("unschedulable"))
        self.unschedulable_after = self.unschedulable_before
        self.cordoned_here = False
        self.changed = False
        self.actions = []
        self.evicted = []
        self.deleted = []
        self.remaining = []
        self.budget_refusals = {}
        self.plan = None
        for key, producer in (("changed", lambda: self.changed), ("actions", lambda: list(self.actions)),
                              ("evicted", lambda: list(self.evicted)), ("deleted", lambda: list(self.deleted)),
                              ("remaining", lambda: list(self.remaining)), ("plan", lambda: self.plan), ("node", self.node_info),
                              ("budget_refusals", lambda: dict(self.budget_refusals))):
            module.add_report(key, producer)

    def node_info(self):
        return {"name": self.name, "unschedulable_before": self.unschedulable_before, "unschedulable_after": self.unschedulable_after}

    def fail(self, cause, **details):
        """Undo the cordon (unless told not to) and raise, saying what remains and what became of the node."""
        if self.cordoned_here and self.params["uncordon_on_failure"]:
            try:
                self.api.set_unschedulable(self.name, False)
                self.unschedulable_after = False
                self.actions.append("uncordon node {0}".format(self.name))
                cause += "; node {0} was uncordoned".format(self.name)
            except RunbookError as error:
                cause += "; node {0} is still cordoned, the uncordon failed ({1}): run kubectl uncordon {0}".format(self.name, error.cause_text)
        elif self.cordoned_here:
            cause += "; node {0} stays cordoned (uncordon_on_failure=false): run kubectl uncordon {0} to put it back".format(self.name)
        elif self.unschedulable_after:
            cause += "; node {0} stays cordoned, as it was before the task".format(self.name)
        raise RunbookError("drain", node_text(self.name), cause, remaining=list(self.remaining), **details)

    def run(self, node):
        params = self.params
        self.plan, node_pods, all_pods = self.api.read_plan(node, params)
        plan = self.plan
        if plan["refuse"]:
            raise RunbookError("drain", node_text(self.name), "{0}; nothing was changed".format("; ".join(refusal_messages(plan["refuse"]))))
        if not plan["can_finish"]:
            if not params["force_unfinishable"]:
                raise RunbookError("drain", node_text(self.name), "the preflight plan shows it cannot finish: {0}; nothing was changed "
                                   "(force_unfinishable=true starts it anyway)".format("; ".join(plan["reasons"])))
            for reason in plan["reasons"]:
                self.module.warn("Draining node {0} although it cannot finish as things stand: {1}".format(self.name, reason))
        pods = dict((pod_key(p), p) for p in node_pods)
        to_remove = [e["pod"] for e in plan[EVICT] + plan[DELETE]]
        if not has_work(plan):
            return self.result(False, to_remove)
        if self.module.check_mode:
            if not plan["unschedulable"]:
                self.api.set_unschedulable(self.name, True)  # a server-side dry run
            self.unschedulable_after = True
            return self.result(True, to_remove, actions=plan["actions"])

        deadline = time.monotonic() + params["wait_timeout"]
        if not plan["unschedulable"]:
            self.api.set_unschedulable(self.name, True)
            self.cordoned_here = self.changed = True
            self.unschedulable_after = True
            self.actions.append("cordon node {0}".format(self.name))
        ready_before = ready_by_controller(all_pods)
        work = [(pods[e["pod"]], how) for how in (EVICT, DELETE, WAIT) for e in plan[how]]
        self.remove(work, deadline)
        if self.remaining:
            self.fail("{0} still on the node at the end of wait_timeout ({1} s): {2}".format(
                "1 pod is" if len(self.remaining) == 1 else "{0} pods are".format(len(self.remaining)), params["wait_timeout"],
                "; ".join("{0}: {1}".format(r["pod"], r["reason"]) for r in self.remaining)))
        if params["wait_for_replacements"]:
            self.wait_for_replacements([pods[e["pod"]] for e in plan[EVICT]], ready_before, deadline)
        return self.result(self.changed, to_remove, actions=self.actions)

    def remove(self, work, deadline):
        if not work:
            return
        verb = "delete" if self.params["disable_eviction"] else "evict"
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(work))) as pool:
            outcomes = list(pool.map(lambda item: remove_pod(self.api, item[0], item[1], self.params, deadline), work))
        blocked = []
        for (pod, how), outcome in zip(work, outcomes):
            if outcome.get("refusals"):
                self.budget_refusals[outcome["pod"]] = outcome["refusals"]
            if outcome["outcome"] == "remaining":
                self.remaining.append({"pod": outcome["pod"], "reason": outcome["reason"]})
                if outcome.get("blocked"):
                    blocked.append((len(self.remaining) - 1, pod))
                continue
            self.changed = True
            if how == EVICT:
                self.evicted.append(outcome["pod"])
                self.actions.append("{0} pod {1}".format(verb, outcome["pod"]))
            elif how == DELETE:
                self.deleted.append(outcome["pod"])
                self.actions.append("delete pod {0}".format(outcome["pod"]))
        if blocked:
            # Name the budget as it stands now rather than the API's generic 429 text.
            pdbs = self.api.pdbs()
            for index, pod in blocked:
                reason = eviction_blocker(pod, pdbs)
                if reason:
                    self.remaining[index]["reason"] = reason

    def wait_for_replacements(self, evicted_pods, ready_before, deadline):
        while True:
            pending = replacements_pending(evicted_pods, ready_before, self.api.all_pods(), self.name)
            if not pending:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("the evicted pods are gone but their replacements are not Ready on other nodes after {0} s: {1}".format(
                    self.params["wait_timeout"], "; ".join(pending)), replacements=pending)
            time.sleep(min(self.params["wait_sleep"], left))

    def result(self, changed, to_remove, actions=None):
        before = {"unschedulable": self.unschedulable_before, "pods": to_remove}
        after = {"unschedulable": self.unschedulable_after, "pods": [r["pod"] for r in self.remaining]}
        return self.module.result(changed=changed, actions=actions or [], before=before if changed else None, after=after if changed else None,
                                  node=self.node_info(), plan=self.plan, evicted=self.evicted, deleted=self.deleted, remaining=self.remaining,
                                  budget_refusals=self.budget_refusals)


def manage_node(module, client):
    params = module.params
    api = NodeApi(module, client, core_factory=core_api)
    node = api.read_node(params["name"], params["state"])
    if params["state"] != DRAIN:
        return change_cordon(module, api, node, params["state"] == CORDON)
    return Drain(module, api, node).run(node)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(manage_node, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
