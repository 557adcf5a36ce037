#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_node_pressure
short_description: Report a node's DiskPressure or MemoryPressure with its top consumers, and optionally evict its BestEffort pods
version_added: 0.1.0
description:
  - The "Pod Eviction" runbook's diagnosis and first relief. Reads the node's pressure conditions (C(DiskPressure),
    C(MemoryPressure), C(PIDPressure)), its pods with their QoS class and, when metrics.k8s.io answers, their CPU and
    memory use, largest first.
  - With O(evict_best_effort) and a node under C(DiskPressure) or C(MemoryPressure), evicts its BestEffort pods (the ones
    the kubelet would evict first) through the Eviction API, so PodDisruptionBudgets are respected. DaemonSet pods,
    mirror pods, finished pods and O(excluded_namespaces) are never evicted. The node is not cordoned, because its pressure
    taint already keeps new pods away.
  - A budget that refuses an eviction (HTTP 429) is retried until O(eviction_timeout), then reported in RV(blocked);
    the module does not fail for it.
  - Declarative. A node without pressure, or without BestEffort pods left, gives C(changed=false).
  - In check mode nothing is evicted; RV(evicted) lists the pods that would be.
options:
  node:
    description: Name of the node.
    type: str
    required: true
  evict_best_effort:
    description: Evict the node's BestEffort pods when it has C(DiskPressure) or C(MemoryPressure).
    type: bool
    default: false
  max_evictions:
    description: Evict at most this many pods in one run, largest memory users first.
    type: int
    default: 10
  excluded_namespaces:
    description: Namespaces whose pods are never evicted.
    type: list
    elements: str
    default: [kube-system]
  eviction_timeout:
    description: Seconds to keep retrying evictions a disruption budget refuses.
    type: int
    default: 60
  top:
    description: How many pods RV(consumers) lists.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) on C(nodes), C(list) on C(pods), C(create) on C(pods/eviction), and C(list) on C(pods.metrics.k8s.io) for usage figures.
seealso:
  - module: sre.runbooks.k8s_node_drain
  - module: sre.runbooks.disk_cleanup
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: What presses node-2, and evict its BestEffort pods
  sre.runbooks.k8s_node_pressure:
    node: node-2
    evict_best_effort: true
  register: pressure
"""

RETURN = r"""
pressure:
  description: The node's pressure conditions that are True, with C(type), C(message) and C(since).
  returned: success
  type: list
  elements: dict
consumers:
  description: The node's running pods, largest memory users first, with C(pod), C(qos_class), C(cpu_m), C(memory_bytes) (when metrics answer).
  returned: success
  type: list
  elements: dict
best_effort:
  description: The node's BestEffort pods that may be evicted.
  returned: success
  type: list
  elements: str
evicted:
  description: Pods evicted (would be, in check mode).
  returned: success
  type: list
  elements: str
blocked:
  description: Pods whose eviction a PodDisruptionBudget kept refusing, with the reason.
  returned: success
  type: list
  elements: dict
notes:
  description: What could not be read (metrics.k8s.io missing, for example).
  returned: success
  type: list
  elements: str
actions:
  description: One sentence per eviction.
  returned: success
  type: list
  elements: str
"""

import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.nodes import NodeApi, status_cause
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.pressure import plan_relief
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import list_objects


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        node=dict(type="str", required=True),
        evict_best_effort=dict(type="bool", default=False),
        max_evictions=dict(type="int", default=10),
        excluded_namespaces=dict(type="list", elements="str", default=["kube-system"]),
        eviction_timeout=dict(type="int", default=60),
        top=dict(type="int", default=10),
    )
    return spec


def check_options(module):
    params = module.params
    if params["max_evictions"] < 0 or params["eviction_timeout"] < 0 or params["top"] < 0:
        raise RunbookError("relieve", "node {0}".format(params["node"]), "max_evictions, eviction_timeout and top must be 0 or more")


def pod_metrics(client, notes):
    try:
        return list_objects(client, "PodMetrics", "metrics.k8s.io/v1beta1", None, "pod metrics")
    except RunbookError as error:
        notes.append("no pod usage figures: {0}".format(error.cause_text))
        return []


def evict_all(api, pods, timeout):
    """Evict each pod, retrying 429 (a disruption budget) until the deadline; returns (evicted, blocked)."""
    evicted, blocked = [], []
    pending = list(pods)
    deadline = time.monotonic() + timeout
    while pending:
        refused = []
        for pod in pending:
            name = "{0}/{1}".format(pod["metadata"]["namespace"], pod["metadata"]["name"])
            try:
                api.evict(pod)
                evicted.append(name)
            except Exception as error:  # pylint: disable=broad-exception-caught
                status = getattr(error, "status", None)
                if status == 404:
                    continue  # gone already (the kubelet evicted it first)
                if status == 429:
                    refused.append((pod, name, status_cause(error)))
                    continue
                raise RunbookError("evict", "pod {0}".format(name), status_cause(error)) from error
        if not refused or time.monotonic() >= deadline:
            blocked.extend({"pod": name, "reason": reason} for _pod, name, reason in refused)
            break
        pending = [pod for pod, _name, _reason in refused]
        time.sleep(min(2, max(0.1, deadline - time.monotonic())))
    return evicted, blocked


def relieve(module, client):
    params = module.params
    api = NodeApi(module, client)
    node = api.read_node(params["node"], "relieve")
    pods = api.node_pods(params["node"])
    notes = []
    metrics = pod_metrics(client, notes)
    plan = plan_relief(node, pods, metrics, params["evict_best_effort"], tuple(params["excluded_namespaces"]), params["max_evictions"], params["top"])
    if params["evict_best_effort"] and not plan["pressure"]:
        notes.append("node {0} has no pressure condition: nothing evicted".format(params["node"]))
    evicted, blocked = [], []
    if module.check_mode:
        evicted = list(plan["evict_names"])
    elif plan["to_evict"]:
        evicted, blocked = evict_all(api, plan["to_evict"], params["eviction_timeout"])
    for entry in blocked:
        module.warn("Eviction of {0} kept being refused: {1}".format(entry["pod"], entry["reason"]))
    actions = ["{0} BestEffort pod {1} from node {2}".format("would evict" if module.check_mode else "evicted", name, params["node"])
               for name in evicted]
    return module.result(changed=bool(evicted), actions=actions, pressure=plan["pressure"], consumers=plan["consumers"],
                         best_effort=plan["best_effort"], evicted=evicted, blocked=blocked, notes=notes)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(relieve, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
