# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_node_drain and k8s_node_drain_info end to end against an in-memory API.

FakeClient stands in for kubernetes.core's K8SClient (resource, get, patch, dry_run) and FakeCore for the
CoreV1Api the evictions go through. An eviction a budget refuses answers 429 as many times as the test says;
an accepted one removes the pod and, like a ReplicaSet, starts a Ready replacement on another node.
A fake clock makes waiting and back-off instant.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import threading
from types import SimpleNamespace

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.modules import k8s_node_drain, k8s_node_drain_info


class ApiError(Exception):
    def __init__(self, status, message, causes=None):
        super().__init__("({0}) {1}".format(status, message))
        self.status = status
        body = {"kind": "Status", "code": status, "message": message}
        if causes:
            body["details"] = {"causes": [{"reason": "DisruptionBudget", "message": c} for c in causes]}
        self.body = json.dumps(body)


class Response:
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return copy.deepcopy(self.obj)


def make_pod(name, node="node-1", owner=("ReplicaSet", "web-5d8f"), labels=None, phase="Running", emptydir=False):
    meta = {"name": name, "namespace": "shop", "uid": "uid-" + name, "labels": dict(labels or {"app": "web"})}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": "uid-" + owner[1], "controller": True}]
    spec = {"nodeName": node, "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    if emptydir:
        spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    return {"metadata": meta, "spec": spec, "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}}


def make_node(name, unschedulable=False):
    return {"metadata": {"name": name}, "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}}


def make_pdb(allowed=1, desired=2, healthy=3, expected=3):
    return {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": allowed, "desiredHealthy": desired, "currentHealthy": healthy, "expectedPods": expected}}


class Cluster:
    """The objects, and both fakes on top of them."""

    def __init__(self, nodes, pods, pdbs=(), daemonsets=()):
        self.nodes = dict((n["metadata"]["name"], n) for n in nodes)
        self.pods = list(pods)
        self.pdbs = list(pdbs)
        self.daemonsets = [{"metadata": {"name": n, "namespace": "shop"}} for n in daemonsets]
        self.lock = threading.Lock()
        self.patches = []
        self.evictions = []
        self.deletions = []
        self.refuse = {}          # pod name -> how many more evictions answer 429 (None: always)
        self.replace_on = "node-2"  # where replacements start; None: they stay Pending
        self.dry_run = False
        self.replaced = 0

    # K8SClient
    def resource(self, kind, api_version):
        return kind

    def get(self, res, name=None, namespace=None, field_selector=None, label_selector=None):
        if res == "Node":
            if name is None:
                return Response({"items": list(self.nodes.values())})
            if name not in self.nodes:
                raise ApiError(404, 'nodes "{0}" not found'.format(name))
            return Response(self.nodes[name])
        if res == "Pod":
            pods = self.pods
            if field_selector:
                pods = [p for p in pods if p["spec"].get("nodeName") == field_selector.split("=", 1)[1]]
            if label_selector:
                key, value = label_selector.split("=")
                pods = [p for p in pods if p["metadata"]["labels"].get(key) == value]
            return Response({"items": pods})
        if res == "PodDisruptionBudget":
            return Response({"items": self.pdbs})
        if res == "DaemonSet":
            return Response({"items": self.daemonsets})
        raise AssertionError("unexpected get of " + res)

    def patch(self, res, body, name=None, content_type=None, field_manager=None):
        assert res == "Node"
        self.patches.append({"name": name, "body": body, "dry_run": self.dry_run})
        node = copy.deepcopy(self.nodes[name])
        if body["spec"]["unschedulable"]:
            node["spec"]["unschedulable"] = True
        else:
            node["spec"].pop("unschedulable", None)
        if not self.dry_run:
            self.nodes[name] = node
        return Response(node)

    # CoreV1Api
    def _find(self, name):
        return next((p for p in self.pods if p["metadata"]["name"] == name), None)

    def create_namespaced_pod_eviction(self, name, namespace, body):
        with self.lock:
            assert body["kind"] == "Eviction" and body["metadata"] == {"name": name, "namespace": namespace}
            self.evictions.append(name)
            left = self.refuse.get(name, 0)
            if left is None or left > 0:
                if left:
                    self.refuse[name] = left - 1
                raise ApiError(429, "Cannot evict pod as it would violate the pod's disruption budget.",
                               ["The disruption budget web needs 3 healthy pods and has 3 currently"])
            self._remove(name)

    def delete_namespaced_pod(self, name, namespace, **kwargs):
        with self.lock:
            self.deletions.append(name)
            self._remove(name)

    def _remove(self, name):
        pod = self._find(name)
        if pod is None:
            raise ApiError(404, 'pods "{0}" not found'.format(name))
        self.pods.remove(pod)
        if pod["metadata"].get("ownerReferences") and pod["status"]["phase"] == "Running":
            self.replaced += 1
            replacement = copy.deepcopy(pod)
            replacement["metadata"].update(name="{0}-r{1}".format(name, self.replaced), uid="uid-r{0}".format(self.replaced))
            if self.replace_on:
                replacement["spec"]["nodeName"] = self.replace_on
            else:
                replacement["spec"].pop("nodeName")
                replacement["status"] = {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}
            self.pods.append(replacement)

    def read_namespaced_pod(self, name, namespace):
        pod = self._find(name)
        if pod is None:
            raise ApiError(404, 'pods "{0}" not found'.format(name))
        return SimpleNamespace(metadata=SimpleNamespace(uid=pod["metadata"]["uid"]))


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.lock = threading.Lock()

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: seen.append(warning))
    return seen


@pytest.fixture
def cluster(monkeypatch):
    """cluster(nodes, pods, ...) -> the Cluster both modules will talk to (dry_run in check mode, as get_client sets it)."""
    holder = {}

    def connect(module):
        holder["cluster"].dry_run = module.check_mode
        return holder["cluster"]

    def make(*args, **kwargs):
        holder["cluster"] = Cluster(*args, **kwargs)
        return holder["cluster"]

    for module in (k8s_node_drain, k8s_node_drain_info):
        monkeypatch.setattr(module, "get_client", connect)
    monkeypatch.setattr(k8s_node_drain, "core_api", lambda client: client)
    clock = FakeClock()
    monkeypatch.setattr(k8s_node_drain, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))
    return make


def three_nodes(cordoned=False):
    return [make_node("node-1", unschedulable=cordoned), make_node("node-2"), make_node("node-3")]


def args(**values):
    base = {"name": "node-1", "wait_sleep": 1, "wait_timeout": 30}
    base.update(values)
    return base


def node_pods(c, name="node-1"):
    return sorted(p["metadata"]["name"] for p in c.pods if p["spec"].get("nodeName") == name)


# -- refused before anything ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    (dict(wait_timeout=0), "Failed to drain node node-1: wait_timeout must be 1 or more seconds, got 0"),
    (dict(wait_sleep=0, grace_period=-1), "wait_sleep must be 1 or more seconds, got 0; grace_period must be 0 or more seconds, got -1"),
    (dict(state="drained"), "value of state must be one of: drain, cordon, uncordon, got: drained"),
])
def test_bad_options_are_refused_before_connecting(run_module, monkeypatch, values, message):
    monkeypatch.setattr(k8s_node_drain, "get_client", lambda module: pytest.fail("connected despite bad options"))
    outcome = run_module(k8s_node_drain.main, args(**values))
    assert outcome.rc == 1 and message in outcome.result["msg"]


def test_a_missing_node_is_named(run_module, cluster):
    cluster(three_nodes(), [])
    assert run_module(k8s_node_drain.main, args(name="node-9")).result["msg"] == "Failed to drain node node-9: it does not exist"
    assert run_module(k8s_node_drain.main, args(name="node-9", state="uncordon")).result["msg"] == "Failed to uncordon node node-9: it does not exist"


def test_refused_pods_are_named_and_nothing_is_touched(run_module, cluster):
    c = cluster(three_nodes(), [make_pod("web-1"), make_pod("debug", owner=None), make_pod("cache-0", owner=("StatefulSet", "cache"), emptydir=True)])
    outcome = run_module(k8s_node_drain.main, args())
    assert outcome.rc == 1
    assert outcome.result["msg"] == ("Failed to drain node node-1: cannot delete Pods with local storage (use delete_emptydir_data=true): shop/cache-0; "
                                     "cannot delete Pods that declare no controller (use force=true): shop/debug; nothing was changed")
    assert outcome.result["changed"] is False and outcome.result["plan"]["lost"] == ["shop/debug"]
    assert c.patches == [] and c.evictions == []


def test_an_unfinishable_drain_is_refused_unless_forced(run_module, cluster, warnings):
    c = cluster(three_nodes(), [make_pod("web-1"), make_pod("web-2", node="node-2")], pdbs=[make_pdb(allowed=0, desired=2, healthy=2, expected=2)])
    refused = run_module(k8s_node_drain.main, args()).result
    assert refused["msg"].startswith("Failed to drain node node-1: the preflight plan shows it cannot finish: PodDisruptionBudget shop/web allows "
                                     "0 disruptions now (needs 2 healthy pods, has 2)")
    assert refused["msg"].endswith("nothing was changed (force_unfinishable=true starts it anyway)")
    assert c.patches == [] and c.evictions == []

    # Forced: it tries until the timeout, uncordons and names the pod and the budget.
    c.refuse["web-1"] = None
    failed = run_module(k8s_node_drain.main, args(force_unfinishable=True, wait_timeout=5)).result
    assert warnings and warnings[0].startswith("Draining node node-1 although it cannot finish as things stand: PodDisruptionBudget shop/web")
    assert failed["msg"] == ("Failed to drain node node-1: 1 pod is still on the node at the end of wait_timeout (5 s): shop/web-1: "
                             "PodDisruptionBudget shop/web allows 0 disruptions (needs 2 healthy pods, has 2); node node-1 was uncordoned")
    assert failed["remaining"] == [{"pod": "shop/web-1", "reason": "PodDisruptionBudget shop/web allows 0 disruptions (needs 2 healthy pods, has 2)"}]
    assert failed["changed"] is True and failed["actions"] == ["cordon node node-1", "uncordon node node-1"]
    assert failed["node"] == {"name": "node-1", "unschedulable_before": False, "unschedulable_after": False}
    assert len(c.evictions) > 2  # retried, not given up at the first 429
    assert not c.nodes["node-1"]["spec"].get("unschedulable")


def test_a_failed_drain_can_leave_the_node_cordoned_on_request(run_module, cluster, warnings):
    c = cluster(three_nodes(), [make_pod("web-1")])
    c.refuse["web-1"] = None
    failed = run_module(k8s_node_drain.main, args(wait_timeout=3, uncordon_on_failure=False)).result
    assert failed["msg"].endswith("node node-1 stays cordoned (uncordon_on_failure=false): run kubectl uncordon node-1 to put it back")
    assert "The disruption budget web needs 3 healthy pods and has 3 currently" in failed["msg"]
    assert c.nodes["node-1"]["spec"]["unschedulable"] is True
    # A node cordoned before the task is never uncordoned by it.
    again = run_module(k8s_node_drain.main, args(wait_timeout=3)).result
    assert again["msg"].endswith("node node-1 stays cordoned, as it was before the task")
    assert c.nodes["node-1"]["spec"]["unschedulable"] is True


# -- check mode, real run, second run ------------------------------------------------------------------------------

def test_check_mode_returns_the_plan_and_changes_nothing(run_module, cluster):
    c = cluster(three_nodes(), [make_pod("web-1"), make_pod("web-2")], pdbs=[make_pdb(allowed=1, desired=3, healthy=4, expected=4)])
    result = run_module(k8s_node_drain.main, args(_ansible_check_mode=True, _ansible_diff=True)).result
    assert result["changed"] is True
    assert result["actions"] == ["cordon node node-1", "evict pod shop/web-1", "evict pod shop/web-2"]
    assert result["plan"]["can_finish"] is True and result["plan"]["pdbs"][0]["blocks_by"] == 1
    assert result["diff"] == {"before": {"unschedulable": False, "pods": ["shop/web-1", "shop/web-2"]}, "after": {"unschedulable": True, "pods": []}}
    assert result["evicted"] == [] and result["node"]["unschedulable_after"] is True
    assert c.patches == [{"name": "node-1", "body": {"spec": {"unschedulable": True}}, "dry_run": True}]
    assert c.evictions == [] and node_pods(c) == ["web-1", "web-2"]
    assert not c.nodes["node-1"]["spec"].get("unschedulable")


def test_drain_retries_the_budget_then_a_second_run_changes_nothing(run_module, cluster):
    pods = [make_pod("web-1"), make_pod("web-2"), make_pod("agent-1", owner=("DaemonSet", "agent"), labels={"app": "agent"}),
            make_pod("report-1", owner=("Job", "report"), labels={"app": "report"}, phase="Succeeded")]
    c = cluster(three_nodes(), pods, pdbs=[make_pdb(allowed=1, desired=3, healthy=4, expected=4)], daemonsets=["agent"])
    c.refuse["web-2"] = 2
    result = run_module(k8s_node_drain.main, args(_ansible_diff=True)).result
    assert result["changed"] is True
    assert sorted(result["evicted"]) == ["shop/web-1", "shop/web-2"] and result["deleted"] == ["shop/report-1"]
    assert result["remaining"] == []
    assert result["actions"][0] == "cordon node node-1" and sorted(result["actions"][1:]) == [
        "delete pod shop/report-1", "evict pod shop/web-1", "evict pod shop/web-2"]
    assert c.evictions.count("web-2") == 3 and c.deletions == ["report-1"]
    assert result["budget_refusals"] == {"shop/web-2": 2}
    assert node_pods(c) == ["agent-1"] and len(node_pods(c, "node-2")) == 2
    assert result["node"] == {"name": "node-1", "unschedulable_before": False, "unschedulable_after": True}
    assert result["diff"]["after"] == {"unschedulable": True, "pods": []}

    again = run_module(k8s_node_drain.main, args(_ansible_diff=True)).result
    assert again["changed"] is False and again["actions"] == [] and "diff" not in again
    assert again["plan"]["skip"][0]["pod"] == "shop/agent-1"
    assert len(c.patches) == 1


def test_drain_fails_when_replacements_do_not_become_ready(run_module, cluster):
    c = cluster(three_nodes(), [make_pod("web-1")])
    c.replace_on = None
    failed = run_module(k8s_node_drain.main, args(wait_timeout=4)).result
    assert failed["msg"] == ("Failed to drain node node-1: the evicted pods are gone but their replacements are not Ready on other nodes after 4 s: "
                             "ReplicaSet shop/web-5d8f: 0 of 1 pods Ready on other nodes (shop/web-1-r1 Pending, Unschedulable: 0/3 nodes are "
                             "available); node node-1 was uncordoned")
    assert failed["evicted"] == ["shop/web-1"]
    # Not waiting for replacements ends when the pods are gone.
    c2 = cluster(three_nodes(), [make_pod("web-1")])
    c2.replace_on = None
    assert run_module(k8s_node_drain.main, args(wait_for_replacements=False)).result["evicted"] == ["shop/web-1"]


def test_disable_eviction_deletes_and_bypasses_the_budget(run_module, cluster):
    c = cluster(three_nodes(), [make_pod("web-1")], pdbs=[make_pdb(allowed=0, desired=1, healthy=1, expected=1)])
    result = run_module(k8s_node_drain.main, args(disable_eviction=True, grace_period=0)).result
    assert result["changed"] is True and result["actions"] == ["cordon node node-1", "delete pod shop/web-1"]
    assert c.deletions == ["web-1"] and c.evictions == []


def test_cordon_and_uncordon_are_declarative(run_module, cluster):
    c = cluster(three_nodes(), [make_pod("web-1")])
    checked = run_module(k8s_node_drain.main, args(state="cordon", _ansible_check_mode=True)).result
    assert checked["changed"] is True and c.patches[-1]["dry_run"] is True and not c.nodes["node-1"]["spec"].get("unschedulable")
    cordoned = run_module(k8s_node_drain.main, args(state="cordon", _ansible_diff=True)).result
    assert cordoned["changed"] is True and cordoned["actions"] == ["cordon node node-1"]
    assert cordoned["diff"] == {"before": {"unschedulable": False}, "after": {"unschedulable": True}}
    assert c.nodes["node-1"]["spec"]["unschedulable"] is True and node_pods(c) == ["web-1"]
    assert run_module(k8s_node_drain.main, args(state="cordon")).result["changed"] is False
    uncordoned = run_module(k8s_node_drain.main, args(state="uncordon")).result
    assert uncordoned["changed"] is True and uncordoned["node"] == {"name": "node-1", "unschedulable_before": True, "unschedulable_after": False}
    assert run_module(k8s_node_drain.main, args(state="uncordon")).result["changed"] is False
    assert len(c.patches) == 3


def test_backoff_doubles_from_wait_sleep_up_to_the_cap():
    assert [k8s_node_drain.backoff(n, 1) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert k8s_node_drain.backoff(3, 15) == 15


# -- the info module -----------------------------------------------------------------------------------------------

def test_info_plans_each_node_and_writes_nothing(run_module, cluster):
    c = cluster(three_nodes(), [make_pod("web-1"), make_pod("debug", node="node-2", owner=None)])
    result = run_module(k8s_node_drain_info.main, {"name": ["node-1", "node-2"]}).result
    assert result["changed"] is False and result["can_finish"] is False
    assert [p["node"] for p in result["plans"]] == ["node-1", "node-2"]
    assert result["plans"][0]["can_finish"] is True and result["plans"][0]["capacity"]["placement"] == {"shop/web-1": "node-3"}  # node-2 runs debug
    assert result["plans"][1]["reasons"] == ["cannot delete Pods that declare no controller (use force=true): shop/debug"]
    assert c.patches == []
    assert run_module(k8s_node_drain_info.main, {"name": ["node-1", "node-9"]}).result["msg"] == (
        "Failed to plan the drain of node node-9: it does not exist")
