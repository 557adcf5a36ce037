# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_diagnostics on a fake, read-only API client: check mode writes nothing, missing APIs are notes, a missing namespace fails."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s import diagnostics
from ansible_collections.sre.runbooks.plugins.modules import k8s_diagnostics

NS = "shop"


class FakeResource:
    def __init__(self, kind):
        self.kind = kind


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class ReadOnlyClient:
    """Lists and gets plain dicts by kind; kinds in `forbidden` answer 403; no writes at all."""

    def __init__(self, objects, forbidden=()):
        self.objects = objects
        self.forbidden = forbidden

    def resource(self, kind, api_version):
        if kind not in self.objects and kind not in self.forbidden:
            raise LookupError("no {0} in {1}".format(kind, api_version))
        return FakeResource(kind)

    def get(self, resource, name=None, namespace=None, **params):
        if resource.kind in self.forbidden:
            raise ApiError(403, "{0} is forbidden".format(resource.kind))
        items = [copy.deepcopy(o) for o in self.objects.get(resource.kind, [])]
        if name is not None:
            found = [o for o in items if o["metadata"]["name"] == name]
            if not found:
                raise ApiError(404, "{0} {1} not found".format(resource.kind, name))
            return found[0]
        return {"items": items}


class FakeCore:
    def read_namespaced_pod_log(self, name, namespace, container=None, previous=False, tail_lines=None):
        return "{0} {1}log line\n".format(name, "previous " if previous else "")


def objects():
    crashing = {"kind": "Pod", "metadata": {"name": "web-a", "namespace": NS, "uid": "uid-a"},
                "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "shop:2",
                                                               "env": [{"name": "API_TOKEN", "value": "tok-very-secret"}]}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [{
                    "name": "app", "ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}}
    return {"Namespace": [{"metadata": {"name": NS}}], "Pod": [crashing], "Event": [], "ReplicaSet": [], "Deployment": [],
            "Node": [{"metadata": {"name": "node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]}


@pytest.fixture
def install(monkeypatch):
    def _install(client):
        monkeypatch.setattr(k8s_diagnostics, "get_client", lambda module: client)
        monkeypatch.setattr(diagnostics, "core_api", lambda client: FakeCore())
        return client
    return _install


def test_check_mode_collects_and_returns_everything_but_writes_nothing(run_module, install, tmp_path):
    install(ReadOnlyClient(objects(), forbidden=("HorizontalPodAutoscaler",)))
    dest = tmp_path / "evidence"
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, dest=str(dest), archive=True, _ansible_check_mode=True)).result
    assert result["changed"] is False
    assert not dest.exists()
    assert os.path.dirname(result["evidence_dir"]) == str(dest)
    assert os.path.basename(result["evidence_dir"]).endswith("_" + NS)
    assert result["archive"] == result["evidence_dir"] + ".tar.gz"
    assert "logs/web-a_app.previous.log" in result["files"] and "summary.txt" in result["files"]
    assert result["summary"][0].startswith("CrashLoopBackOff: pod web-a: container app")
    assert result["rollout"] is None and result["usage"] is None
    assert result["nodes"] == [{"name": "node-1", "ready": True, "pressure": [], "unschedulable": False, "hosts_pods": True}]
    assert result["not_collected"][0] == "HorizontalPodAutoscalers: HorizontalPodAutoscaler is forbidden"
    assert "tok-very-secret" not in str(result)


def test_real_run_writes_the_files_it_lists(run_module, install, tmp_path):
    install(ReadOnlyClient(objects()))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, dest=str(tmp_path))).result
    written = sorted(os.path.relpath(os.path.join(root, f), result["evidence_dir"]) for root, _dirs, files in os.walk(result["evidence_dir"])
                     for f in files)
    assert written == result["files"]
    assert result["archive"] is None
    with open(os.path.join(result["evidence_dir"], "logs", "web-a_app.previous.log")) as handle:
        assert handle.read() == "web-a previous log line\n"
    for name in result["files"]:
        with open(os.path.join(result["evidence_dir"], name)) as handle:
            assert "tok-very-secret" not in handle.read()


def test_a_missing_namespace_fails_without_writing(run_module, install, tmp_path):
    install(ReadOnlyClient(dict(objects(), Namespace=[])))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, dest=str(tmp_path / "e"))).result
    assert result["failed"] is True
    assert result["msg"] == "Failed to collect diagnostics of namespace shop: the namespace does not exist"
    assert not (tmp_path / "e").exists()


def test_negative_events_limit_is_refused(run_module, install, tmp_path):
    install(ReadOnlyClient(objects()))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, dest=str(tmp_path), events_limit=-1)).result
    assert result["failed"] is True and result["msg"] == "Failed to use the options: events_limit must be 0 or more, got -1"


class RecordingClient(ReadOnlyClient):
    """A ReadOnlyClient that records (kind, name) of every read."""

    def __init__(self, objects_, forbidden=()):
        super().__init__(objects_, forbidden)
        self.reads = []

    def get(self, resource, name=None, namespace=None, **params):
        self.reads.append((resource.kind, name))
        return super().get(resource, name=name, namespace=namespace, **params)


def test_target_only_reads_the_namespace_and_the_workload_and_nothing_else(run_module, install, tmp_path, monkeypatch):
    web = {"kind": "Deployment", "metadata": {"name": "web", "namespace": NS, "uid": "uid-web"}, "spec": {}}
    client = install(RecordingClient(dict(objects(), Deployment=[web])))
    monkeypatch.setattr(diagnostics, "core_api", lambda client: pytest.fail("target_only must not read logs"))
    monkeypatch.chdir(tmp_path)
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, name="web", target_only=True)).result
    assert result["changed"] is False and "failed" not in result
    assert (result["scope"], result["not_collected"]) == ("deployment shop/web", [])
    assert "summary" not in result and "evidence_dir" not in result
    assert client.reads == [("Namespace", NS), ("Deployment", "web")]
    assert os.listdir(str(tmp_path)) == []

    client.reads = []
    assert run_module(k8s_diagnostics.main, dict(namespace=NS, target_only=True)).result["scope"] == "namespace shop"
    assert client.reads == [("Namespace", NS)]


def test_target_only_fails_as_the_snapshot_would(run_module, install):
    install(ReadOnlyClient(objects()))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, name="web", target_only=True)).result
    assert result["failed"] is True and result["msg"] == "Failed to read deployment shop/web: Deployment web not found"
    install(ReadOnlyClient(dict(objects(), Namespace=[])))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, target_only=True)).result
    assert result["failed"] is True and result["msg"] == "Failed to collect diagnostics of namespace shop: the namespace does not exist"
    # Namespaces that may not be read (403) are a note, as in the snapshot.
    install(ReadOnlyClient(objects(), forbidden=("Namespace",)))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS, target_only=True)).result
    assert result["not_collected"] == ["namespace shop: Namespace is forbidden"]


def test_dest_is_required_for_a_snapshot(run_module, install):
    install(ReadOnlyClient(objects()))
    result = run_module(k8s_diagnostics.main, dict(namespace=NS)).result
    assert result["failed"] is True and "dest" in result["msg"]
