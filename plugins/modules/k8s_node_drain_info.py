#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_node_drain_info
short_description: Preflight plan of draining Kubernetes nodes, without changing anything
version_added: 0.1.0
description:
  - Reads, for each node, what a drain by M(sre.runbooks.k8s_node_drain) with the same options would do. Nothing is written.
  - Says which pods would be evicted, which finished pods deleted, which skipped (DaemonSet and mirror pods) and which
    refused and why (C(emptyDir) data without O(delete_emptydir_data), no controller without O(force)).
  - Says which PodDisruptionBudgets cover the pods to evict, how many evictions each allows now
    (C(status.disruptionsAllowed)), and by how many it blocks the drain. A budget that blocks only until the
    replacements are Ready elsewhere is reported as a delay. A budget that can never allow the evictions stops the drain.
  - Says whether the other schedulable nodes (not cordoned, Ready, with no C(NoSchedule) or C(NoExecute) taint the pod
    does not tolerate, and matching its C(nodeSelector)) have room for the CPU and memory requests of the replacements.
    Room is allocatable minus the requests of the pods already there.
  - Says which pods would be lost because no controller recreates them, and whether the drain can finish, with the reasons
    when it cannot.
  - Each node is planned on its own, as if it were the only one drained.
options:
  name:
    description: Names of the nodes to plan a drain for.
    type: list
    elements: str
    required: true
  pod_selector:
    description: Label selector of the pods to drain, as in M(sre.runbooks.k8s_node_drain).
    type: str
  ignore_daemonsets:
    description: Plan DaemonSet pods as skipped (V(true)) or as refused (V(false)).
    type: bool
    default: true
  delete_emptydir_data:
    description: Plan pods with C(emptyDir) volumes as evicted rather than refused.
    type: bool
    default: false
  force:
    description: Plan pods without a controller as evicted (and lost) rather than refused.
    type: bool
    default: false
  disable_eviction:
    description: Plan deletions instead of evictions. PodDisruptionBudgets are reported as bypassed and do not block.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) and C(list) on C(nodes), and C(list) on C(pods), C(daemonsets) and C(poddisruptionbudgets) in all namespaces.
seealso:
  - module: sre.runbooks.k8s_node_drain
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Plan the drain of every worker before the upgrade window
  sre.runbooks.k8s_node_drain_info:
    name: [node-1, node-2, node-3]
  register: preflight

- name: Stop when a node cannot be drained
  ansible.builtin.assert:
    that: preflight.can_finish
    fail_msg: "{{ preflight.plans | rejectattr('can_finish') | map(attribute='reasons') | flatten }}"
"""

RETURN = r"""
can_finish:
  description: Whether every node's drain can finish.
  returned: always
  type: bool
  sample: false
plans:
  description: One preflight plan per node, in the order of O(name).
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: Name of the node.
      type: str
      sample: node-1
    unschedulable:
      description: Whether the node is cordoned already.
      type: bool
      sample: false
    can_finish:
      description: Whether the drain can finish. False when pods are refused, a budget can never allow an eviction, a pod
        is under two budgets, or replacements would find no room.
      type: bool
      sample: false
    reasons:
      description: Why the drain cannot finish, one sentence each. Empty when it can.
      type: list
      elements: str
      sample: ["cannot delete Pods that declare no controller (use force=true): shop/debug"]
    evict:
      description: Pods to evict, each with C(pod) (C(namespace/name)) and C(controller) (C(Kind namespace/name), or V(null)).
      type: list
      elements: dict
      sample: [{"pod": "shop/web-5d8f-x2x", "controller": "ReplicaSet shop/web-5d8f"}]
    delete:
      description: Finished pods to delete, with C(reason) (their phase).
      type: list
      elements: dict
      sample: [{"pod": "batch/report-27h5q", "controller": "Job batch/report", "reason": "Succeeded"}]
    skip:
      description: Pods that stay on the node (DaemonSet and mirror pods), with C(reason).
      type: list
      elements: dict
      sample: [{"pod": "kube-system/node-exporter-a1", "controller": "DaemonSet kube-system/node-exporter", "reason": "DaemonSet-managed"}]
    refuse:
      description: Pods the drain may not remove with these options, with every C(reason).
      type: list
      elements: dict
      sample: [{"pod": "shop/cache-0", "controller": "StatefulSet shop/cache",
                "reason": "cannot delete Pods with local storage (use delete_emptydir_data=true)"}]
    wait:
      description: Pods already being deleted. The drain waits until they are gone.
      type: list
      elements: dict
      sample: []
    lost:
      description: Pods without a controller that a drain removes for good (with O(force)) or that are refused without it.
      type: list
      elements: str
      sample: ["shop/debug"]
    emptydir_data_lost:
      description: Pods whose C(emptyDir) data a drain discards.
      type: list
      elements: str
      sample: ["shop/cache-0"]
    pdbs:
      description: The PodDisruptionBudgets that cover pods to evict.
      type: list
      elements: dict
      sample:
        - name: shop/web
          disruptions_allowed: 1
          desired_healthy: 2
          current_healthy: 3
          expected_pods: 3
          covers: ["shop/web-5d8f-x2x", "shop/web-5d8f-k9w"]
          needs: 2
          blocks_by: 1
          permanent: false
          message: "PodDisruptionBudget shop/web allows 1 disruption now (needs 2 healthy pods, has 3) and covers 2 pods of the node
                    (shop/web-5d8f-x2x, shop/web-5d8f-k9w): it blocks by 1 until replacements are Ready elsewhere; the drain retries"
    capacity:
      description:
        - Room for the replacements on the other schedulable nodes. C(requests) is the sum of the requests of the pods that
          will be replaced. C(nodes) lists the free room of each schedulable node. C(excluded) lists the nodes that take
          no pods, with the reason. C(placement) maps each replacement to a node with room. C(unplaced) lists the pods
          that fit nowhere. C(fits) is true when C(unplaced) is empty.
      type: dict
      sample:
        fits: true
        requests: {"cpu": "20m", "memory": "32Mi", "pods": 2}
        nodes: [{"name": "node-2", "cpu": "3990m", "memory": "8176Mi", "pods": 109}]
        excluded: [{"node": "node-3", "reason": "cordoned"}]
        placement: {"shop/web-5d8f-x2x": "node-2"}
        unplaced: []
    actions:
      description: The writes a drain would make, one sentence each.
      type: list
      elements: str
      sample: ["cordon node node-1", "evict pod shop/web-5d8f-x2x"]
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.nodes import NodeApi


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        name=dict(type="list", elements="str", required=True),
        pod_selector=dict(type="str"),
        ignore_daemonsets=dict(type="bool", default=True),
        delete_emptydir_data=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        disable_eviction=dict(type="bool", default=False),
    )
    return spec


def check_options(module):
    if not [n for n in module.params["name"] if n and n.strip()]:
        raise RunbookError("plan the drain of", "nodes", "name must list at least one node")


def plan_drains(module, client):
    api = NodeApi(module, client)
    plans = []
    for name in module.params["name"]:
        node = api.read_node(name, "plan the drain of")
        plans.append(api.read_plan(node, module.params)[0])
    return module.result(changed=False, plans=plans, can_finish=all(p["can_finish"] for p in plans))


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(plan_drains, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
