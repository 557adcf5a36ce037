# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Node pressure: conditions, QoS classes, consumers, which BestEffort pods are evicted, and the eviction retries."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.pressure import node_pressure, plan_relief, qos_class
from ansible_collections.sre.runbooks.plugins.modules.k8s_node_pressure import evict_all


def node(*pressure):
    conditions = [{"type": t, "status": "True" if t in pressure else "False", "message": "kubelet has " + t} for t in
                  ("DiskPressure", "MemoryPressure", "PIDPressure")]
    return {"metadata": {"name": "node-1"}, "status": {"conditions": conditions + [{"type": "Ready", "status": "True"}]}}


def pod(name, namespace="shop", resources=None, phase="Running", owner=None, annotations=None):
    meta = {"name": name, "namespace": namespace}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "x", "controller": True}]
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "resources": resources or {}}]}, "status": {"phase": phase}}


def metric(name, memory, namespace="shop"):
    return {"metadata": {"name": name, "namespace": namespace}, "containers": [{"name": "c", "usage": {"cpu": "10m", "memory": memory}}]}


@pytest.mark.parametrize("resources, qos", [
    ({}, "BestEffort"),
    ({"requests": {"memory": "1Gi"}}, "Burstable"),
    ({"requests": {"memory": "1Gi", "cpu": "1"}, "limits": {"memory": "1Gi", "cpu": "1"}}, "Guaranteed"),
    ({"limits": {"memory": "1Gi", "cpu": "1"}}, "Guaranteed"),
])
def test_qos_class(resources, qos):
    assert qos_class(pod("p", resources=resources)) == qos


def test_pressure_conditions():
    assert [p["type"] for p in node_pressure(node("DiskPressure"))] == ["DiskPressure"]
    assert node_pressure(node()) == []


def test_best_effort_pods_are_evicted_largest_first_and_never_the_protected_ones():
    pods = [pod("small"), pod("big"), pod("burst", resources={"requests": {"memory": "1Gi"}}), pod("done", phase="Failed"),
            pod("daemon", owner="DaemonSet"), pod("static", annotations={"kubernetes.io/config.mirror": "x"}), pod("dns", namespace="kube-system")]
    metrics = [metric("small", "10Mi"), metric("big", "500Mi"), metric("burst", "2Gi")]
    plan = plan_relief(node("MemoryPressure"), pods, metrics, evict_best_effort=True)
    assert plan["evict_names"] == ["shop/big", "shop/small"]
    assert plan["best_effort"] == ["shop/small", "shop/big"]
    assert [c["pod"] for c in plan["consumers"]][:3] == ["shop/burst", "shop/big", "shop/small"]
    assert "shop/done" not in [c["pod"] for c in plan["consumers"]]


def test_nothing_is_evicted_without_pressure_or_without_asking():
    pods = [pod("small")]
    assert plan_relief(node(), pods, [], evict_best_effort=True)["evict_names"] == []
    assert plan_relief(node("DiskPressure"), pods, [], evict_best_effort=False)["evict_names"] == []
    assert plan_relief(node("PIDPressure"), pods, [], evict_best_effort=True)["evict_names"] == []
    assert plan_relief(node("DiskPressure"), pods, [], evict_best_effort=True, max_evictions=0)["evict_names"] == []


class Refused(Exception):
    def __init__(self, status):
        super().__init__("refused")
        self.status = status
        self.body = '{"message": "Cannot evict pod as it would violate the pod\'s disruption budget."}'


class FakeApi(object):
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def evict(self, target):
        name = target["metadata"]["name"]
        self.calls.append(name)
        answer = self.answers.get(name, [None]).pop(0) if self.answers.get(name) else None
        if answer:
            raise Refused(answer)


def test_evictions_retry_a_budget_then_report_it_blocked():
    api = FakeApi({"a": [429], "b": [404], "c": [429, 429, 429, 429, 429, 429]})
    evicted, blocked = evict_all(api, [pod("a"), pod("b"), pod("c")], timeout=0.3)
    assert evicted == ["shop/a"] and [b["pod"] for b in blocked] == ["shop/c"]
    assert "disruption budget" in blocked[0]["reason"]
