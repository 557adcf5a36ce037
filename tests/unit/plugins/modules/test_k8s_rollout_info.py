# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_rollout_info on a fake, read-only API client."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import REVISION
from ansible_collections.sre.runbooks.plugins.modules import k8s_rollout_info

NS = "shop"


class FakeResource:
    def __init__(self, kind):
        self.kind = kind


class ReadOnlyClient:
    """Lists and gets plain dicts by kind; records the list parameters; no writes."""

    def __init__(self, objects, served=("Deployment", "ReplicaSet", "Pod", "Event", "HorizontalPodAutoscaler")):
        self.objects = objects
        self.served = served
        self.lists = []

    def resource(self, kind, api_version):
        if kind not in self.served:
            raise LookupError("no {0} in {1}".format(kind, api_version))
        return FakeResource(kind)

    def get(self, resource, name=None, namespace=None, **params):
        items = [copy.deepcopy(o) for o in self.objects.get(resource.kind, [])]
        if name is not None:
            return next(o for o in items if o["metadata"]["name"] == name)
        self.lists.append((resource.kind, params))
        return {"items": items}


def owner(kind, name, uid):
    return [{"kind": kind, "name": name, "uid": uid, "controller": True}]


def replicaset(revision, image):
    name = "web-r{0}".format(revision)
    return {"kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "uid": "uid-" + name, "creationTimestamp": "2026-01-03T09:00:00Z",
                         "annotations": {REVISION: str(revision), "kubernetes.io/change-cause": "deploy " + image},
                         "ownerReferences": owner("Deployment", "web", "uid-web")},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "r{0}".format(revision)}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def crashing_pod():
    return {"metadata": {"name": "web-r2-abcde", "namespace": NS, "uid": "uid-pod", "creationTimestamp": "2026-01-03T10:00:00Z",
                         "ownerReferences": owner("ReplicaSet", "web-r2", "uid-web-r2")},
            "spec": {"nodeName": "node-2"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [{
                "name": "web", "image": "nginx:1.26-oom", "ready": False, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": "a", "finishedAt": "b"}}}]}}


def objects():
    return {
        "Deployment": [{"kind": "Deployment",
                        "metadata": {"name": "web", "namespace": NS, "uid": "uid-web", "generation": 2, "annotations": {REVISION: "2"}},
                        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.26-oom"}]}}},
                        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2}}],
        "ReplicaSet": [replicaset(1, "nginx:1.25"), replicaset(2, "nginx:1.26-oom")],
        "Pod": [crashing_pod()],
        "Event": [{"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container web", "count": 5,
                   "involvedObject": {"kind": "Pod", "name": "web-r2-abcde", "uid": "uid-pod"},
                   "firstTimestamp": "2026-01-03T10:00:01Z", "lastTimestamp": "2026-01-03T10:02:00Z", "metadata": {"name": "e1"}}],
        "HorizontalPodAutoscaler": [{"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
                                     "status": {"currentReplicas": 2, "desiredReplicas": 2}}],
    }


@pytest.fixture
def install(monkeypatch):
    def _install(client):
        monkeypatch.setattr(k8s_rollout_info, "get_client", lambda module: client)
        return client
    return _install


def test_reports_history_state_pods_events_and_hpa(run_module, install):
    client = install(ReadOnlyClient(objects()))
    result = run_module(k8s_rollout_info.main, dict(name="web", namespace=NS, _ansible_check_mode=True)).result
    assert result["changed"] is False
    assert result["revision"] == 2 and result["images"] == {"web": "nginx:1.26-oom"} and result["paused"] is False
    assert result["replicas"] == {"desired": 2, "current": 3, "updated": 1, "ready": 2, "available": 2}
    assert [(h["revision"], h["change_cause"], h["current"]) for h in result["history"]] == [
        (1, "deploy nginx:1.25", False), (2, "deploy nginx:1.26-oom", True)]
    assert result["rollout"]["state"] == "failed" and result["rollout"]["reason"] == "OOMKilled"
    (pod,) = result["pods"]
    assert (pod["name"], pod["revision"], pod["restarts"], pod["ready"]) == ("web-r2-abcde", 2, 4, False)
    assert pod["containers"][0]["last_termination"]["reason"] == "OOMKilled"
    assert pod["containers"][0]["last_termination"]["exit_code"] == 137
    assert [(e["reason"], e["object"], e["count"]) for e in result["events"]] == [("BackOff", "Pod/web-r2-abcde", 5)]
    assert result["hpa"]["name"] == "web" and result["hpa"]["max_replicas"] == 5
    assert ("Pod", {"label_selector": "app=web"}) in client.lists
    assert ("Event", {"field_selector": "type=Warning"}) in client.lists


def test_events_limit_zero_reads_no_events_and_no_hpa_api_is_no_hpa(run_module, install):
    client = install(ReadOnlyClient(objects(), served=("Deployment", "ReplicaSet", "Pod", "Event")))
    result = run_module(k8s_rollout_info.main, dict(name="web", namespace=NS, events_limit=0)).result
    assert result["events"] == [] and result["hpa"] is None
    assert not any(kind == "Event" for kind, _params in client.lists)


def test_negative_events_limit_is_refused(run_module, install):
    install(ReadOnlyClient(objects()))
    result = run_module(k8s_rollout_info.main, dict(name="web", namespace=NS, events_limit=-1)).result
    assert result["failed"] is True and result["msg"] == "Failed to use the options: events_limit must be 0 or more, got -1"
