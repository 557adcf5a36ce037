# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The preflight plan of a node drain: pod classes, disruption budgets, room elsewhere, replacements."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from decimal import Decimal

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.drain import (
    LOCAL_STORAGE,
    NO_CONTROLLER,
    capacity_report,
    classify_pods,
    cpu_text,
    eviction_blocker,
    has_work,
    memory_text,
    pdb_report,
    plan_drain,
    pod_requests,
    ready_by_controller,
    refusal_messages,
    replacements_pending,
    selector_matches,
)

OPTIONS = {"ignore_daemonsets": True, "delete_emptydir_data": False, "force": False, "disable_eviction": False}


def pod(name, node="node-1", namespace="shop", owner=("ReplicaSet", "web-5d8f"), labels=None, phase="Running", ready=True,
        cpu="100m", memory="128Mi", emptydir=False, mirror=False, deleting=False, tolerations=None, node_selector=None):
    meta = {"name": name, "namespace": namespace, "uid": "uid-" + name, "labels": dict(labels or {"app": "web"})}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": "uid-" + owner[1], "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    requests = dict((k, v) for k, v in (("cpu", cpu), ("memory", memory)) if v is not None)
    spec = {"nodeName": node, "containers": [{"name": "app", "resources": {"requests": requests}}]}
    if emptydir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    if tolerations:
        spec["tolerations"] = tolerations
    if node_selector:
        spec["nodeSelector"] = node_selector
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "spec": spec, "status": {"phase": phase, "conditions": conditions}}


def node(name, cpu="4", memory="8Gi", pods="110", unschedulable=False, ready=True, taints=None, labels=None):
    spec = {}
    if unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(name="web", selector=None, allowed=1, desired=2, healthy=3, expected=3, namespace="shop", policy=None):
    spec = {"selector": selector if selector is not None else {"matchLabels": {"app": "web"}}}
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec,
            "status": {"disruptionsAllowed": allowed, "desiredHealthy": desired, "currentHealthy": healthy, "expectedPods": expected}}


def keys(entries):
    return [e["pod"] for e in entries]


# -- classification, as kubectl drain's filters ------------------------------------------------------------------

def test_pods_are_classified_like_kubectl_drain():
    pods = [
        pod("web-1"),
        pod("agent-x", owner=("DaemonSet", "agent")),
        pod("kube-apiserver-node-1", owner=("Node", "node-1"), mirror=True, namespace="kube-system"),
        pod("report-1", owner=("Job", "report"), phase="Succeeded", ready=False),
        pod("crashed", owner=None, phase="Failed", ready=False, emptydir=True),
        pod("going", deleting=True),
    ]
    result = classify_pods(pods, daemonsets={"shop/agent"})
    assert keys(result["evict"]) == ["shop/web-1"]
    assert result["evict"][0]["controller"] == "ReplicaSet shop/web-5d8f"
    assert [(e["pod"], e["reason"]) for e in result["skip"]] == [
        ("kube-system/kube-apiserver-node-1", "mirror pod (static pod of the kubelet)"), ("shop/agent-x", "DaemonSet-managed")]
    # Finished pods go whatever their volumes or owner: no data or controller matters any more.
    assert [(e["pod"], e["reason"]) for e in result["delete"]] == [("shop/crashed", "Failed"), ("shop/report-1", "Succeeded")]
    assert keys(result["wait"]) == ["shop/going"]
    assert result["refuse"] == []


def test_emptydir_and_bare_pods_are_refused_by_name_unless_allowed():
    pods = [pod("cache-0", owner=("StatefulSet", "cache"), emptydir=True), pod("debug", owner=None), pod("both", owner=None, emptydir=True)]
    refused = classify_pods(pods, daemonsets=set())["refuse"]
    assert [(e["pod"], e["reason"]) for e in refused] == [
        ("shop/both", LOCAL_STORAGE + "; " + NO_CONTROLLER), ("shop/cache-0", LOCAL_STORAGE), ("shop/debug", NO_CONTROLLER)]
    assert refusal_messages(refused) == [
        "cannot delete Pods with local storage (use delete_emptydir_data=true): shop/both, shop/cache-0",
        "cannot delete Pods that declare no controller (use force=true): shop/both, shop/debug",
    ]
    only_data = classify_pods(pods, daemonsets=set(), delete_emptydir_data=True)
    assert keys(only_data["evict"]) == ["shop/cache-0"] and keys(only_data["refuse"]) == ["shop/both", "shop/debug"]
    both = classify_pods(pods, daemonsets=set(), delete_emptydir_data=True, force=True)
    assert keys(both["evict"]) == ["shop/both", "shop/cache-0", "shop/debug"] and both["refuse"] == []


def test_daemonset_pods_are_refused_without_ignore_and_orphans_need_force():
    pods = [pod("agent-x", owner=("DaemonSet", "agent")), pod("old-y", owner=("DaemonSet", "gone"))]
    kept = classify_pods(pods, daemonsets={"shop/agent"})
    assert keys(kept["skip"]) == ["shop/agent-x"]
    assert [(e["pod"], e["reason"]) for e in kept["refuse"]] == [
        ("shop/old-y", "cannot delete Pods of a DaemonSet that no longer exists (use force=true)")]
    assert keys(classify_pods(pods, daemonsets={"shop/agent"}, force=True)["evict"]) == ["shop/old-y"]
    strict = classify_pods(pods, daemonsets={"shop/agent"}, ignore_daemonsets=False, force=True)
    assert [(e["pod"], e["reason"]) for e in strict["refuse"]] == [
        ("shop/agent-x", "cannot delete DaemonSet-managed Pods (use ignore_daemonsets=true)")]


@pytest.mark.parametrize("selector, labels, expected", [
    (None, {"app": "web"}, False),
    ({}, {"app": "web"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "front"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, {"app": "api"}, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {"app": "web"}, False),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {}, True),
    ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, {"app": "web"}, False),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {"app": "web"}, True),
])
def test_label_selectors_select_as_policy_v1_does(selector, labels, expected):
    assert selector_matches(selector, labels) is expected


# -- disruption budgets ------------------------------------------------------------------------------------------

def test_a_budget_that_allows_fewer_than_the_node_holds_blocks_by_the_difference_for_a_while():
    pods = [pod("web-1"), pod("web-2"), pod("api-1", labels={"app": "api"})]
    (report,), reasons = pdb_report([pdb(allowed=1, desired=5, healthy=6, expected=6)], pods)
    assert reasons == []
    assert (report["name"], report["covers"], report["needs"], report["disruptions_allowed"]) == ("shop/web", ["shop/web-1", "shop/web-2"], 2, 1)
    assert (report["blocks_by"], report["permanent"]) == (1, False)
    assert report["message"] == ("PodDisruptionBudget shop/web allows 1 disruption now (needs 5 healthy pods, has 6) and covers 2 pods of the node "
                                 "(shop/web-1, shop/web-2): it blocks by 1 until replacements are Ready elsewhere; the drain retries")


def test_a_budget_that_wants_every_pod_healthy_can_never_allow_the_drain():
    (report,), reasons = pdb_report([pdb(allowed=0, desired=3, healthy=3, expected=3)], [pod("web-1")])
    assert (report["blocks_by"], report["permanent"]) == (1, True)
    assert reasons == [report["message"]]
    assert "can never allow them while it wants all 3 expected pods healthy" in reasons[0]


def test_unready_pods_only_use_the_budget_when_the_api_would_count_them():
    pods = [pod("web-1", ready=False)]
    # Enough healthy pods: the eviction API lets an unready pod go without using the budget.
    (report,), reasons = pdb_report([pdb(allowed=0, desired=2, healthy=2, expected=3)], pods)
    assert (report["needs"], report["blocks_by"], reasons) == (0, 0, [])
    (report,), reasons = pdb_report([pdb(allowed=0, desired=3, healthy=2, expected=3)], pods)
    assert (report["needs"], report["blocks_by"], report["permanent"]) == (1, 1, True)
    assert reasons == [report["message"]]
    (report,), reasons = pdb_report([pdb(allowed=0, desired=3, healthy=2, expected=3, policy="AlwaysAllow")], pods)
    assert report["needs"] == 0 and reasons == []


def test_budgets_of_other_namespaces_or_labels_do_not_count_and_two_budgets_are_refused():
    pods = [pod("web-1")]
    reports, reasons = pdb_report([pdb(namespace="other"), pdb(name="api", selector={"matchLabels": {"app": "api"}})], pods)
    assert reports == [] and reasons == []
    reports, reasons = pdb_report([pdb(name="a"), pdb(name="b", selector={})], pods)
    assert [r["name"] for r in reports] == ["shop/a", "shop/b"]
    assert reasons == ["pod shop/web-1 is selected by more than one PodDisruptionBudget (shop/a, shop/b), which the eviction API refuses"]


def test_eviction_blocker_names_the_budget_as_it_stands():
    assert eviction_blocker(pod("web-1"), [pdb(allowed=0, desired=3, healthy=3)]) == (
        "PodDisruptionBudget shop/web allows 0 disruptions (needs 3 healthy pods, has 3)")
    assert eviction_blocker(pod("api-1", labels={"app": "api"}), [pdb()]) is None


# -- room on the other nodes -------------------------------------------------------------------------------------

def test_requests_sum_containers_take_the_largest_init_container_and_overhead():
    p = pod("web-1", cpu="250m", memory="256Mi")
    p["spec"]["containers"].append({"name": "sidecar", "resources": {"requests": {"cpu": "0.1", "memory": "64Mi"}}})
    p["spec"]["initContainers"] = [{"name": "init", "resources": {"requests": {"cpu": "500m", "memory": "32Mi"}}}]
    p["spec"]["overhead"] = {"cpu": "10m"}
    assert pod_requests(p) == (Decimal("0.510"), Decimal(320 * 2 ** 20))
    assert (cpu_text(Decimal("0.51")), cpu_text(Decimal(2)), memory_text(Decimal(320 * 2 ** 20)), memory_text(Decimal(2 ** 31))) == (
        "510m", "2", "320Mi", "2Gi")


def test_capacity_counts_allocatable_minus_what_runs_there_and_skips_unusable_nodes():
    nodes = [node("node-1"), node("node-2", cpu="1", memory="1Gi"), node("node-3", unschedulable=True), node("node-4", ready=False),
             node("node-5", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}])]
    running = [pod("other", node="node-2", cpu="600m", memory="512Mi"), pod("done", node="node-2", phase="Succeeded", cpu="1")]
    movers = [pod("web-1", cpu="300m", memory="256Mi"), pod("web-2", cpu="300m", memory="256Mi")]
    report = capacity_report("node-1", nodes, running + movers, movers)
    assert report["excluded"] == [{"node": "node-3", "reason": "cordoned"}, {"node": "node-4", "reason": "not Ready"}]
    assert report["nodes"] == [{"name": "node-2", "cpu": "400m", "memory": "512Mi", "pods": 109},
                               {"name": "node-5", "cpu": "4", "memory": "8Gi", "pods": 110}]
    assert report["requests"] == {"cpu": "600m", "memory": "512Mi", "pods": 2}
    # node-2 has room for one; node-5's taint is not tolerated: the second has nowhere to go.
    assert report["placement"] == {"shop/web-1": "node-2"}
    assert report["unplaced"] == [{"pod": "shop/web-2", "reason": "no other schedulable node has room for its requests (cpu 300m, memory 256Mi)"}]
    assert report["fits"] is False

    tolerant = [pod("web-1", cpu="300m", tolerations=[{"key": "gpu", "operator": "Exists"}])]
    assert capacity_report("node-1", nodes, running, tolerant)["placement"] == {"shop/web-1": "node-5"}
    selective = [pod("web-1", node_selector={"zone": "b"})]
    assert capacity_report("node-1", nodes, running, selective)["fits"] is False


def test_capacity_with_no_other_schedulable_node():
    report = capacity_report("node-1", [node("node-1"), node("node-2", unschedulable=True)], [], [pod("web-1")])
    assert report["unplaced"] == [{"pod": "shop/web-1", "reason": "no other node is schedulable"}]


# -- the plan ----------------------------------------------------------------------------------------------------

def cluster():
    nodes = [node("node-1"), node("node-2"), node("node-3")]
    node_pods = [pod("web-1"), pod("web-2"), pod("agent-1", owner=("DaemonSet", "agent")), pod("report-1", owner=("Job", "report"), phase="Succeeded")]
    others = [pod("web-3", node="node-2"), pod("web-4", node="node-3")]
    return nodes, node_pods, node_pods + others


def test_plan_of_a_drain_that_can_finish():
    nodes, node_pods, all_pods = cluster()
    plan = plan_drain(nodes[0], node_pods, nodes, all_pods, [pdb(allowed=1, desired=3, healthy=4, expected=4)], {"shop/agent"}, OPTIONS)
    assert plan["can_finish"] is True and plan["reasons"] == []
    assert keys(plan["evict"]) == ["shop/web-1", "shop/web-2"]
    assert keys(plan["delete"]) == ["shop/report-1"] and keys(plan["skip"]) == ["shop/agent-1"]
    assert plan["pdbs"][0]["blocks_by"] == 1 and not plan["pdbs"][0]["permanent"]
    assert plan["capacity"]["fits"] is True and plan["lost"] == []
    assert plan["actions"] == ["cordon node node-1", "evict pod shop/web-1", "evict pod shop/web-2", "delete pod shop/report-1 (Succeeded)"]
    assert has_work(plan)


def test_plan_that_cannot_finish_lists_every_reason():
    nodes, node_pods, all_pods = cluster()
    bare = pod("debug", owner=None, cpu="8")
    big = pod("big", cpu="5")
    node_pods = node_pods + [bare, big]
    plan = plan_drain(nodes[0], node_pods, nodes, all_pods + [bare, big], [pdb(allowed=0, desired=4, healthy=4, expected=4)], {"shop/agent"},
                      OPTIONS)
    assert plan["can_finish"] is False
    assert plan["reasons"][0] == "cannot delete Pods that declare no controller (use force=true): shop/debug"
    assert "PodDisruptionBudget shop/web allows 0 disruptions now" in plan["reasons"][1]
    assert plan["reasons"][2] == ("the replacement of shop/big would stay Pending: no other schedulable node has room for its requests "
                                  "(cpu 5, memory 128Mi)")
    assert plan["lost"] == ["shop/debug"]

    forced = plan_drain(nodes[0], node_pods, nodes, all_pods + [bare, big], [pdb(allowed=0, desired=4, healthy=4, expected=4)], {"shop/agent"},
                        dict(OPTIONS, force=True, disable_eviction=True))
    # The bare pod is evicted and lost, its requests need no room; deletions bypass the budget.
    assert "shop/debug" in keys(forced["evict"]) and forced["lost"] == ["shop/debug"]
    assert forced["pdbs"][0]["message"].endswith("bypassed: disable_eviction deletes the pods without asking it")
    assert len(forced["reasons"]) == 1 and forced["reasons"][0].startswith("the replacement of shop/big")
    assert forced["actions"][1] == "delete pod shop/big"


def test_a_cordoned_node_with_only_daemonset_pods_left_has_nothing_to_do():
    nodes = cluster()[0]
    cordoned = node("node-1", unschedulable=True)
    plan = plan_drain(cordoned, [pod("agent-1", owner=("DaemonSet", "agent"))], nodes, [], [], {"shop/agent"}, OPTIONS)
    assert plan["actions"] == [] and plan["can_finish"] is True
    assert not has_work(plan)


# -- replacements ------------------------------------------------------------------------------------------------

def test_replacements_are_done_when_each_controller_has_its_ready_pods_on_other_nodes():
    before = [pod("web-1"), pod("web-2", node="node-2"), pod("db-0", owner=("StatefulSet", "db"), labels={"app": "db"})]
    ready_before = ready_by_controller(before)
    assert ready_before == {"uid-web-5d8f": 2, "uid-db": 1}
    evicted = [before[0], before[2]]

    pending_pod = pod("web-3", node=None, phase="Pending", ready=False)
    pending_pod["status"]["conditions"].append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                "message": "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu."})
    now = [before[1], pending_pod, pod("db-0", node="node-3", owner=("StatefulSet", "db"), labels={"app": "db"})]
    assert replacements_pending(evicted, ready_before, now, "node-1") == [
        "ReplicaSet shop/web-5d8f: 1 of 2 pods Ready on other nodes (shop/web-3 Pending, Unschedulable: "
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.)"]
    now[1] = pod("web-3", node="node-3")
    assert replacements_pending(evicted, ready_before, now, "node-1") == []
    # A pod back on the drained node does not count as a replacement.
    assert replacements_pending(evicted, ready_before, [before[1], pod("web-3", node="node-1"), now[2]], "node-1") != []
