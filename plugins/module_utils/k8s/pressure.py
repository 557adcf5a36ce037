# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Node pressure ("Pod Eviction" runbook) as pure functions: the node's pressure, its pods by QoS class, the top consumers.

Under DiskPressure or MemoryPressure the kubelet evicts BestEffort pods first,
then Burstable ones. Evicting the BestEffort pods on purpose relieves the node
before the kubelet starts on the Burstable ones; DaemonSet pods, mirror
(static) pods, finished pods and excluded namespaces are never chosen.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import parse_quantity

PRESSURE_TYPES = ("DiskPressure", "MemoryPressure", "PIDPressure")
EVICTION_RELIEVES = ("DiskPressure", "MemoryPressure")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def node_pressure(node):
    """The pressure conditions that are True on the node, with their messages."""
    found = []
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") in PRESSURE_TYPES and condition.get("status") == "True":
            found.append({"type": condition["type"], "message": condition.get("message") or "", "since": condition.get("lastTransitionTime")})
    return found


def qos_class(pod):
    """status.qosClass, or computed as the apiserver does when it is missing."""
    given = (pod.get("status") or {}).get("qosClass")
    if given:
        return given
    requests_set = limits_set = False
    guaranteed = True
    for container in (pod.get("spec") or {}).get("containers") or ():
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        requests_set = requests_set or bool(requests)
        limits_set = limits_set or bool(limits)
        for name in ("cpu", "memory"):
            if name not in limits or parse_quantity(requests.get(name, limits[name])) != parse_quantity(limits[name]):
                guaranteed = False
    if not requests_set and not limits_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _key(pod):
    meta = pod.get("metadata") or {}
    return "{0}/{1}".format(meta.get("namespace"), meta.get("name"))


def _skip_reason(pod, excluded_namespaces):
    meta = pod.get("metadata") or {}
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") or meta.get("deletionTimestamp"):
        return "finished or terminating"
    if meta.get("namespace") in excluded_namespaces:
        return "namespace excluded"
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return "mirror pod"
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "DaemonSet":
            return "DaemonSet pod"
    return None


def usage_of(metrics):
    """{namespace/name: {"cpu_m": int, "memory_bytes": int}} from PodMetrics items."""
    result = {}
    for item in metrics or ():
        cpu = memory = 0
        for container in item.get("containers") or ():
            usage = container.get("usage") or {}
            cpu += int(parse_quantity(usage.get("cpu", "0")) * 1000)
            memory += int(parse_quantity(usage.get("memory", "0")))
        result[_key(item)] = {"cpu_m": cpu, "memory_bytes": memory}
    return result


def plan_relief(node, pods, metrics, evict_best_effort, excluded_namespaces=("kube-system",), max_evictions=10, top=10):
    """What the node's pressure is, which pods use it most, and which BestEffort pods to evict.

    Evictions are planned only when evict_best_effort is set and the node has DiskPressure or MemoryPressure.
    """
    pressure = node_pressure(node)
    usage = usage_of(metrics)
    active, best_effort = [], []
    for pod in pods:
        reason = _skip_reason(pod, excluded_namespaces)
        if reason == "finished or terminating":
            continue
        entry = {"pod": _key(pod), "qos_class": qos_class(pod)}
        entry.update(usage.get(_key(pod)) or {})
        active.append(entry)
        if entry["qos_class"] == "BestEffort" and reason is None:
            best_effort.append(dict(entry, _pod=pod))
    consumers = sorted(active, key=lambda e: (-e.get("memory_bytes", 0), -e.get("cpu_m", 0), e["pod"]))[:top]
    relieved = [p["type"] for p in pressure if p["type"] in EVICTION_RELIEVES]
    to_evict = []
    if evict_best_effort and relieved:
        # The largest memory users first: they relieve the most.
        to_evict = sorted(best_effort, key=lambda e: (-e.get("memory_bytes", 0), e["pod"]))[:max_evictions]
    return {
        "pressure": pressure,
        "consumers": consumers,
        "best_effort": [e["pod"] for e in best_effort],
        "to_evict": [e.pop("_pod") for e in to_evict],
        "evict_names": [e["pod"] for e in to_evict],
    }
