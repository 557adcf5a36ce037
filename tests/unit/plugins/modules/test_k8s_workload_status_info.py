# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_workload_status_info: the pure status of a namespace's workloads, and the module on a fake read-only client."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.modules import k8s_workload_status_info as module

NS = "shop"


def owner(kind, name):
    return [{"kind": kind, "name": name, "uid": "uid-" + name, "controller": True}]


def meta(name, kind=None, owner_kind=None, owner_name=None, namespace=NS):
    data = {"name": name, "namespace": namespace, "uid": "uid-" + name, "generation": 1}
    if owner_kind:
        data["ownerReferences"] = owner(owner_kind, owner_name)
    return data


def deployment(name="web", replicas=3, available=3):
    return {"kind": "Deployment", "metadata": meta(name),
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": available, "availableReplicas": available}}


def replicaset(deploy="web"):
    metadata = dict(meta(deploy + "-rs", owner_kind="Deployment", owner_name=deploy), annotations={"deployment.kubernetes.io/revision": "1"})
    return {"kind": "ReplicaSet", "metadata": metadata,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}


def daemonset(name="agent", desired=3, available=3):
    return {"kind": "DaemonSet", "metadata": meta(name), "spec": {"selector": {"matchLabels": {"app": name}}},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": desired, "updatedNumberScheduled": desired, "numberAvailable": available}}


def crashing_pod(rs="web-rs"):
    return {"metadata": meta("web-rs-x1", owner_kind="ReplicaSet", owner_name=rs), "spec": {"nodeName": "node-1"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": False, "restartCount": 3,
                                                                  "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]}}


def test_complete_and_progressing_workloads():
    entries = module.workload_statuses({"Deployment": [deployment(available=2)], "DaemonSet": [daemonset()]}, [replicaset()], [], [])
    assert [(e["kind"], e["name"], e["state"]) for e in entries] == [("DaemonSet", "agent", "complete"), ("Deployment", "web", "progressing")]
    assert "2 of 3 updated replicas are available" in entries[1]["message"]
    assert module.overall(entries)["state"] == "progressing"
    text = module.summary_text(entries, [NS])
    assert text.startswith("2 workloads in 1 namespace: 1 not complete: deployment shop/web: Waiting for rollout to finish")


def test_crash_looping_new_pods_fail_fast():
    entries = module.workload_statuses({"Deployment": [deployment(available=2)]}, [replicaset()], [], [crashing_pod()])
    assert entries[0]["state"] == "failed" and entries[0]["reason"] == "CrashLoopBackOff"
    assert module.overall(entries)["state"] == "failed"


def test_nothing_to_read_is_complete():
    assert module.overall([])["state"] == "complete"
    assert module.summary_text([], []) == "0 workloads in all namespaces: all complete"


class FakeResource:
    def __init__(self, kind):
        self.kind = kind


class SettlingClient:
    """Lists by kind; the Deployment becomes available on the third read of Deployments."""

    def __init__(self):
        self.reads = 0
        self.namespaces = []

    def resource(self, kind, api_version):
        return FakeResource(kind)

    def get(self, resource, namespace=None, **params):
        self.namespaces.append(namespace)
        if resource.kind == "Deployment":
            self.reads += 1
            return {"items": [deployment(available=3 if self.reads >= 3 else 1)]}
        if resource.kind == "ReplicaSet":
            return {"items": [replicaset()]}
        if resource.kind == "DaemonSet":
            return {"items": [daemonset()]}
        return {"items": []}


@pytest.fixture(name="client")
def client_fixture(monkeypatch):
    client = SettlingClient()
    monkeypatch.setattr(module, "get_client", lambda m: client)
    monkeypatch.setattr(module, "wait_for_rollout", _fast_wait(module.wait_for_rollout))
    return client


def _fast_wait(real):
    def wait(read, timeout, sleep):
        return real(read, timeout, sleep, pause=lambda seconds: None)
    return wait


def test_module_waits_until_all_are_complete(run_module, client):
    out = run_module(module.main, {"namespaces": [NS], "wait": True, "wait_timeout": 60, "wait_sleep": 1}).result
    assert out["changed"] is False and out["complete"] is True and out["not_complete"] == [] and out["timed_out"] is False
    assert client.reads == 3 and set(client.namespaces) == {NS}
    assert out["summary"] == "2 workloads in 1 namespace: all complete"


def test_module_without_wait_reads_once(run_module, client):
    out = run_module(module.main, {"namespaces": [NS], "kinds": ["Deployment"]}).result
    assert out["complete"] is False and [e["name"] for e in out["not_complete"]] == ["web"] and client.reads == 1


def test_bad_options_are_refused(run_module, client):
    out = run_module(module.main, {"wait_sleep": 0})
    assert out.rc == 1 and "wait_sleep must be 1 or more seconds" in out.result["msg"]
