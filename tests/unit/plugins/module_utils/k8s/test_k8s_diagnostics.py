# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pure parts of the diagnostics snapshot: classification, redaction, rendering, evidence files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import stat
import tarfile

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s import diagnostics as d
from ansible_collections.sre.runbooks.plugins.module_utils.k8s import redact
from ansible_collections.sre.runbooks.plugins.module_utils.k8s import rollout

NOW = datetime.datetime(2026, 1, 3, 10, 5, 0, tzinfo=datetime.timezone.utc)


def pod(name, phase="Running", ready=True, statuses=None, node="node-1", resources=None, env=None, reason=None, message=None,
        owner="web-r2", conditions=None):
    container = {"name": "app", "image": "shop:2"}
    if resources is not None:
        container["resources"] = resources
    if env is not None:
        container["env"] = env
    status = {"phase": phase, "conditions": conditions or [{"type": "Ready", "status": "True" if ready else "False"}],
              "containerStatuses": statuses if statuses is not None else [
                  {"name": "app", "ready": ready, "restartCount": 0, "state": {"running": {}}}]}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "shop", "ownerReferences": [
        {"kind": "ReplicaSet", "name": owner, "uid": "uid-" + owner, "controller": True}]},
        "spec": {"nodeName": node, "containers": [container]}, "status": status}


def cstatus(waiting=None, terminated=None, last=None, restarts=0, ready=False, image="shop:2"):
    state = {}
    if waiting:
        state["waiting"] = waiting
    if terminated:
        state["terminated"] = terminated
    if not state:
        state["running"] = {"startedAt": "2026-01-03T10:00:00Z"}
    status = {"name": "app", "image": image, "ready": ready, "restartCount": restarts, "state": state}
    if last:
        status["lastState"] = {"terminated": last}
    return status


def node(name, **conditions):
    conds = [{"type": "Ready", "status": conditions.pop("Ready", "True")}]
    conds += [{"type": kind, "status": value, "message": "kubelet has " + kind} for kind, value in conditions.items()]
    return {"metadata": {"name": name}, "status": {"conditions": conds}}


def reasons(result):
    return [(f["reason"], f["object"], f["container"]) for f in result["findings"]]


GUARANTEED = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "0.1", "memory": "128Mi"}}


# -- classification -----------------------------------------------------------------------------------------

def test_oom_killed_explains_the_crash_loop_that_follows_it():
    oom = pod("web-a", ready=False, resources={"limits": {"memory": "128Mi"}, "requests": {"memory": "128Mi", "cpu": "1"}}, statuses=[
        cstatus(waiting={"reason": "CrashLoopBackOff"}, last={"reason": "OOMKilled", "exitCode": 137}, restarts=4)])
    result = d.classify([oom])
    assert reasons(result)[0] == ("OOMKilled", "pod/web-a", "app")
    assert "CrashLoopBackOff" not in [r[0] for r in reasons(result)]
    first = result["findings"][0]
    assert first["message"] == "container app: OOMKilled (exit code 137), now CrashLoopBackOff, 4 restarts; memory limit 128Mi"
    assert first["count"] == 4
    assert result["summary"][0].startswith("OOMKilled: pod web-a: container app: OOMKilled (exit code 137)")


def test_crash_loop_names_the_last_exit_and_groups_pods_in_the_summary():
    pods = [pod("web-%s" % n, ready=False, resources=GUARANTEED, statuses=[
        cstatus(waiting={"reason": "CrashLoopBackOff"}, last={"reason": "Error", "exitCode": 1}, restarts=n)]) for n in (3, 5)]
    result = d.classify(pods)
    assert reasons(result) == [("CrashLoopBackOff", "pod/web-5", "app"), ("CrashLoopBackOff", "pod/web-3", "app")]
    assert result["findings"][0]["message"] == "container app: CrashLoopBackOff, last exit Error (exit code 1), 5 restarts"
    assert result["summary"] == ["CrashLoopBackOff: 2 pods (web-5, web-3): container app: CrashLoopBackOff, last exit Error (exit code 1), 5 restarts"]


@pytest.mark.parametrize("waiting, expected", [
    ("ImagePullBackOff", "ImagePullBackOff"),
    ("ErrImagePull", "ErrImagePull"),
    ("InvalidImageName", "ErrImagePull"),
])
def test_image_pull_errors(waiting, expected):
    result = d.classify([pod("web-a", ready=False, resources=GUARANTEED, statuses=[
        cstatus(waiting={"reason": waiting, "message": "pull access denied for shop"}, image="shop:9")])])
    assert reasons(result) == [(expected, "pod/web-a", "app")]
    assert result["findings"][0]["message"] == "container app: {0} for image shop:9: pull access denied for shop".format(waiting)


def test_config_error_carries_the_kubelet_message():
    result = d.classify([pod("web-a", ready=False, resources=GUARANTEED, statuses=[
        cstatus(waiting={"reason": "CreateContainerConfigError", "message": 'secret "db" not found'})])])
    assert reasons(result) == [("CreateContainerConfigError", "pod/web-a", "app")]
    assert result["findings"][0]["message"] == 'container app: CreateContainerConfigError: secret "db" not found'


def test_error_exit_code_high_restarts_evicted_pending_and_not_ready():
    pods = [
        pod("web-err", resources=GUARANTEED, statuses=[cstatus(last={"reason": "Error", "exitCode": 2}, restarts=1, ready=True)]),
        pod("web-restarts", resources=GUARANTEED, statuses=[cstatus(last={"reason": "Completed", "exitCode": 0}, restarts=7, ready=True)]),
        pod("web-evicted", phase="Failed", resources=GUARANTEED, statuses=[], reason="Evicted", message="The node was low on resource: memory."),
        pod("web-pending", phase="Pending", node=None, resources=GUARANTEED, statuses=[], conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]),
        pod("web-slow", ready=False, resources=GUARANTEED, statuses=[cstatus(ready=False)]),
        pod("web-fine", resources=GUARANTEED),
    ]
    result = d.classify(pods)
    assert reasons(result) == [("Error", "pod/web-err", "app"), ("Evicted", "pod/web-evicted", None), ("Pending", "pod/web-pending", None),
                               ("NotReady", "pod/web-slow", "app"), ("HighRestarts", "pod/web-restarts", "app")]
    by_reason = dict((f["reason"], f["message"]) for f in result["findings"])
    assert by_reason["Error"] == "container app: last terminated with exit code 2 (Error), 1 restarts"
    assert by_reason["Evicted"] == "Evicted on node node-1: The node was low on resource: memory."
    assert by_reason["Pending"] == "Pending: 0/3 nodes are available: 3 Insufficient cpu."
    assert by_reason["HighRestarts"] == "container app: 7 restarts (more than 3)"


def test_node_pressure_and_not_ready_only_for_the_nodes_the_pods_use():
    nodes = [node("node-1", MemoryPressure="True", DiskPressure="False"), node("node-2", Ready="False"),
             node("node-3", DiskPressure="True", PIDPressure="True")]
    result = d.classify([pod("web-a", resources=GUARANTEED), pod("web-b", node="node-2", resources=GUARANTEED)], nodes,
                        node_names={"node-1", "node-2"})
    assert reasons(result) == [("NodeNotReady", "node/node-2", None), ("MemoryPressure", "node/node-1", None)]
    assert result["summary"] == ["NodeNotReady: node/node-2: Ready is False", "MemoryPressure: node/node-1: MemoryPressure: kubelet has MemoryPressure"]
    everything = d.classify([], nodes)
    assert [r[0] for r in reasons(everything)] == ["NodeNotReady", "MemoryPressure", "DiskPressure", "PIDPressure"]


@pytest.mark.parametrize("resources, differ", [
    ({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "100m", "memory": "256Mi"}}, "memory"),
    ({"requests": {"cpu": "100m", "memory": "16Mi"}}, "cpu and memory"),
    ({}, "cpu and memory"),
    (GUARANTEED, None),
    ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}, None),
])
def test_requests_differ_from_limits(resources, differ):
    result = d.classify([pod("web-a", resources=resources), pod("web-b", resources=resources)])
    found = [f for f in result["findings"] if f["reason"] == "RequestsDifferFromLimits"]
    if differ is None:
        assert found == []
        return
    (item,) = found
    assert item["object"] == "replicaset/web-r2" and item["container"] == "app" and item["count"] == 2
    assert "({0} differ)".format(differ) in item["message"]
    assert ("BestEffort" if not resources else "Burstable") in item["message"]


def deployment(resources=None, progressing=None):
    container = {"name": "app", "image": "shop:2"}
    if resources is not None:
        container["resources"] = resources
    status = {"conditions": [progressing]} if progressing else {}
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [container]}}}, "status": status}


def test_named_workload_template_is_checked_once_and_progress_deadline_is_a_finding():
    progressing = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": 'ReplicaSet "web-r2" has timed out progressing.'}
    result = d.classify([pod("web-a", resources={}), pod("web-b", resources={})], kind="Deployment",
                        workload=deployment({"requests": {"cpu": "1"}}, progressing), rollout={"revision": 2})
    assert reasons(result) == [("ProgressDeadlineExceeded", "deployment/web", None), ("RequestsDifferFromLimits", "deployment/web", "app")]
    assert result["findings"][1]["revision"] == 2 and result["findings"][1]["count"] == 2


def test_findings_are_tagged_with_the_revision_and_the_recent_rollout_is_named():
    crash = [cstatus(waiting={"reason": "CrashLoopBackOff"}, last={"reason": "Error", "exitCode": 1}, restarts=2)]
    pods = [pod("web-new1", ready=False, statuses=crash, resources=GUARANTEED), pod("web-new2", ready=False, statuses=crash, resources=GUARANTEED),
            pod("web-old", ready=False, statuses=crash, owner="web-r1", resources=GUARANTEED)]
    revisions = {"web-new1": (2, True), "web-new2": (2, True), "web-old": (1, False)}
    rollout = {"revision": 2, "previous_revision": 1, "seconds_since_update": 250}
    result = d.classify(pods, kind="Deployment", workload=deployment(GUARANTEED), revisions=revisions, rollout=rollout)
    tags = [(f["object"], f["revision"], f["current"]) for f in result["findings"]]
    assert tags == [("pod/web-new1", 2, True), ("pod/web-new2", 2, True), ("pod/web-old", 1, False)]
    assert result["summary"] == [
        "CrashLoopBackOff: 2 pods (web-new1, web-new2) of revision 2 (the current revision, rolled out 4m ago): "
        "container app: CrashLoopBackOff, last exit Error (exit code 1), 2 restarts",
        "CrashLoopBackOff: pod web-old of revision 1 (the previous revision): container app: CrashLoopBackOff, last exit Error (exit code 1), 2 restarts",
    ]


def test_a_healthy_guaranteed_pod_has_nothing_to_say():
    result = d.classify([pod("web-a", resources=GUARANTEED)], [node("node-1")], node_names={"node-1"})
    assert result == {"findings": [], "summary": []}


def test_rollout_report_ages_the_current_revision():
    records = [{"revision": 1, "created": "2026-01-02T10:00:00Z"}, {"revision": 3, "created": "2026-01-03T10:00:00Z"}]
    report = d.rollout_report("Deployment", deployment(), records, 3, "failed", NOW)
    assert report == {"kind": "Deployment", "name": "web", "revision": 3, "previous_revision": 1, "images": {"app": "shop:2"},
                      "updated_at": "2026-01-03T10:00:00Z", "seconds_since_update": 300, "state": "failed"}


def revision_template(image, restarted_at=None, memory=None, hash_=None):
    meta = {"labels": {"app": "web"}}
    if hash_:
        meta["labels"][rollout.HASH_LABEL] = hash_
    if restarted_at:
        meta["annotations"] = {rollout.RESTARTED_AT: restarted_at}
    container = {"name": "app", "image": image}
    if memory:
        container["resources"] = {"limits": {"memory": memory}}
    return {"metadata": meta, "spec": {"containers": [container]}}


def deployment_with_history(*revisions):
    """A Deployment at the last of `revisions` ((image, restarted_at, memory, created), oldest first) and its ReplicaSets."""
    replicasets = [{"kind": "ReplicaSet", "metadata": {
        "name": "web-r%d" % n, "namespace": "shop", "creationTimestamp": created, "annotations": {rollout.REVISION: str(n)},
        "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "uid-web", "controller": True}]},
        "spec": {"template": revision_template(image, restarted_at, memory, hash_="h%d" % n)}}
        for n, (image, restarted_at, memory, created) in enumerate(revisions, 1)]
    image, restarted_at, memory, _created = revisions[-1]
    workload = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
                "spec": {"template": revision_template(image, restarted_at, memory)}}
    records = rollout.build_history("Deployment", workload, replicasets)
    return workload, records, rollout.current_revision(workload, records)


def test_a_restart_is_not_a_release_so_not_the_revision_to_go_back_to():
    workload, records, current = deployment_with_history(
        ("shop:1", None, None, "2026-01-01T10:00:00Z"),
        ("shop:2", None, None, "2026-01-02T10:00:00Z"),
        ("shop:2", "2026-01-03T09:00:00Z", None, "2026-01-03T09:00:00Z"),
        ("shop:2", "2026-01-03T10:00:00Z", None, "2026-01-03T10:00:00Z"))
    report = d.rollout_report("Deployment", workload, records, current, "complete", NOW)
    # Revisions 3 and 4 are restarts of revision 2: shop:2 was deployed on day 2 and shop:1 is what it replaced.
    assert (report["revision"], report["previous_revision"], report["updated_at"], report["seconds_since_update"]) == (
        4, 1, "2026-01-02T10:00:00Z", 86700)


def test_a_resources_change_is_a_release():
    workload, records, current = deployment_with_history(
        ("shop:2", None, None, "2026-01-02T10:00:00Z"),
        ("shop:2", "2026-01-03T09:00:00Z", None, "2026-01-03T09:00:00Z"),
        ("shop:2", "2026-01-03T09:00:00Z", "512Mi", "2026-01-03T10:00:00Z"))
    report = d.rollout_report("Deployment", workload, records, current, "complete", NOW)
    assert (report["revision"], report["previous_revision"], report["updated_at"], report["seconds_since_update"]) == (
        3, 2, "2026-01-03T10:00:00Z", 300)


def test_a_first_release_restarted_has_no_previous_revision():
    workload, records, current = deployment_with_history(
        ("shop:2", None, None, "2026-01-02T10:00:00Z"),
        ("shop:2", "2026-01-03T10:00:00Z", None, "2026-01-03T10:00:00Z"))
    report = d.rollout_report("Deployment", workload, records, current, "complete", NOW)
    assert (report["revision"], report["previous_revision"], report["updated_at"]) == (2, None, "2026-01-02T10:00:00Z")


def test_deploymentconfig_previous_revision_is_a_complete_version_of_another_template():
    def rc(version, image, phase):
        return {"kind": "ReplicationController", "metadata": {
            "name": "api-%d" % version, "uid": "uid-api-%d" % version, "creationTimestamp": "2026-01-0%dT10:00:00Z" % version,
            "ownerReferences": [{"kind": "DeploymentConfig", "name": "api", "uid": "uid-api", "controller": True}],
            "annotations": {rollout.DC_NAME: "api", rollout.DC_VERSION: str(version), rollout.DC_PHASE: phase}},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": image}]}}}}
    # 1 api:1 Complete; 2 api:3 Failed; 3 api:2 Complete; 4 api:2 again (oc rollout latest), Complete.
    rcs = [rc(1, "api:1", "Complete"), rc(2, "api:3", "Failed"), rc(3, "api:2", "Complete"), rc(4, "api:2", "Complete")]
    dc = {"kind": "DeploymentConfig", "metadata": {"name": "api", "namespace": "shop", "uid": "uid-api"}, "status": {"latestVersion": 4},
          "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:2"}]}}}}
    records = rollout.build_history("DeploymentConfig", dc, rcs)
    report = d.rollout_report("DeploymentConfig", dc, records, 4, "complete", NOW)
    assert (report["revision"], report["previous_revision"], report["updated_at"]) == (4, 1, "2026-01-03T10:00:00Z")
    # The same rule as the rollback k8s_rollout makes without to_revision: a Failed version is never the target.
    rcs[0]["metadata"]["annotations"][rollout.DC_PHASE] = "Failed"
    records = rollout.build_history("DeploymentConfig", dc, rcs)
    assert d.rollout_report("DeploymentConfig", dc, records, 4, "complete", NOW)["previous_revision"] is None


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (119, "119s"), (750, "12m"), (7200, "2h"), (7300, "2h1m"), (200000, "2d7h")])
def test_age_text(seconds, text):
    assert d.age_text(seconds) == text


def dc_objects():
    """DeploymentConfig api at version 2 (failed), its ReplicationControllers api-1 (Complete) and api-2, a pod of each."""
    dc = {"kind": "DeploymentConfig", "metadata": {"name": "api", "namespace": "shop", "uid": "uid-api"}, "status": {"latestVersion": 2},
          "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:2"}]}}}}
    rcs = [{"kind": "ReplicationController",
            "metadata": {"name": "api-%d" % n, "uid": "uid-api-%d" % n, "creationTimestamp": "2026-01-03T0%d:00:00Z" % n,
                         "ownerReferences": [{"kind": "DeploymentConfig", "name": "api", "uid": "uid-api", "controller": True}],
                         "annotations": {rollout.DC_NAME: "api", rollout.DC_VERSION: str(n), rollout.DC_PHASE: phase,
                                         rollout.DC_STATUS_REASON: "timed out"}},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:%d" % n}]}}}}
           for n, phase in ((1, "Complete"), (2, "Failed"))]
    pods = [pod("api-%d-abcde" % n, owner="api-%d" % n) for n in (1, 2)]
    for item in pods:
        item["metadata"]["ownerReferences"][0]["kind"] = "ReplicationController"
    return dc, rcs, pods


def test_deployment_config_versions_tag_its_pods_and_a_failed_version_is_a_finding():
    dc, rcs, pods = dc_objects()
    records = rollout.build_history("DeploymentConfig", dc, rcs)
    assert d.pod_revision_flags("DeploymentConfig", dc, rcs, records, pods) == {"api-1-abcde": (1, False), "api-2-abcde": (2, True)}
    report = d.rollout_report("DeploymentConfig", dc, records, 2, "failed", NOW)
    assert (report["revision"], report["previous_revision"], report["images"], report["updated_at"]) == (
        2, 1, {"api": "api:2"}, "2026-01-03T02:00:00Z")
    assert d.workload_findings("DeploymentConfig", dc, rcs) == [d.finding("ProgressDeadlineExceeded", "deploymentconfig/api",
                                                                          "version 2 failed: timed out")]
    rcs[1]["metadata"]["annotations"][rollout.DC_PHASE] = "Running"
    assert d.workload_findings("DeploymentConfig", dc, rcs) == []


def test_namespace_snapshot_tags_pods_of_deployments_and_deploymentconfigs():
    dc, rcs, dc_pods = dc_objects()
    deployment_ = dict(deployment(), metadata={"name": "web", "namespace": "shop", "uid": "uid-web",
                                               "annotations": {rollout.REVISION: "2"}})
    replicasets = [{"kind": "ReplicaSet", "metadata": {"name": "web-r%d" % n, "uid": "uid-web-r%d" % n,
                                                       "annotations": {rollout.REVISION: str(n)},
                                                       "ownerReferences": [{"kind": "Deployment", "uid": "uid-web", "controller": True}]},
                    "spec": {"template": deployment_["spec"]["template"] if n == 2 else {"spec": {"containers": [{"name": "app"}]}}}}
                   for n in (1, 2)]
    pods = dc_pods + [pod("web-r1-x", owner="web-r1"), pod("web-r2-y"), pod("loner", owner="other")]
    objects = {"ReplicaSet": replicasets, "Deployment": [deployment_], "ReplicationController": rcs, "DeploymentConfig": [dc]}

    class Client:
        def resource(self, kind, api_version):
            return kind

        def get(self, resource, **params):
            return {"items": objects[resource]}

    notes = []
    assert d.revisions_in_namespace(Client(), "shop", pods, notes) == {
        "api-1-abcde": (1, False), "api-2-abcde": (2, True), "web-r1-x": (1, False), "web-r2-y": (2, True), "loner": (None, True)}
    assert notes == []
    # Only ReplicaSet-owned pods: DeploymentConfigs are not asked for (a cluster without them would answer 404).
    del objects["DeploymentConfig"]
    assert d.revisions_in_namespace(Client(), "shop", pods[2:], notes)["web-r2-y"] == (2, True)
    assert notes == []


# -- redaction ----------------------------------------------------------------------------------------------

SECRET_ENV = [
    {"name": "DB_PASSWORD", "value": "hunter2-literal"},
    {"name": "STRIPE_API_KEY", "value": "sk_live_abcdef"},
    {"name": "LOG_LEVEL", "value": "debug"},
    {"name": "DATABASE_URL", "value": "postgres://app:password=inline@db/app"},
    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
]


def test_redaction_of_env_args_and_last_applied():
    workload = deployment()
    workload["metadata"]["annotations"] = {rollout.LAST_APPLIED: json.dumps({"env": SECRET_ENV}), "team": "payments"}
    container = workload["spec"]["template"]["spec"]["containers"][0]
    container["env"] = SECRET_ENV
    container["args"] = ["--db-password", "hunter2-literal", "--token=tok_123456", "--port=8080"]
    redacted = d.redact_object(workload)
    env = dict((e["name"], e) for e in redacted["spec"]["template"]["spec"]["containers"][0]["env"])
    assert env["DB_PASSWORD"]["value"] == "<redacted>" and env["STRIPE_API_KEY"]["value"] == "<redacted>"
    assert env["LOG_LEVEL"]["value"] == "debug"
    assert env["DATABASE_URL"]["value"] == "<redacted>"
    assert env["FROM_SECRET"] == {"name": "FROM_SECRET", "value": "<redacted>", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    assert env["POD_IP"] == SECRET_ENV[-1]
    assert redacted["spec"]["template"]["spec"]["containers"][0]["args"] == ["--db-password", "<redacted>", "--token=<redacted>", "--port=8080"]
    assert redacted["metadata"]["annotations"] == {rollout.LAST_APPLIED: "<redacted>", "team": "payments"}
    text = json.dumps(redacted)
    assert "hunter2-literal" not in text and "sk_live_abcdef" not in text and "tok_123456" not in text
    assert workload["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "hunter2-literal"  # the input is left alone


def test_describe_pod_never_shows_secret_values():
    raw = pod("web-a", env=SECRET_ENV, resources=GUARANTEED)
    text = d.describe_pod(d.redact_object(raw))
    assert "DB_PASSWORD: <redacted>" in text
    assert "FROM_SECRET: <redacted> (key 'password' of secret 'db')" in text
    assert "LOG_LEVEL: debug" in text
    assert "hunter2-literal" not in text and "sk_live_abcdef" not in text


def test_sensitive_literals_are_scrubbed_from_logs_and_events():
    values = d.sensitive_values([pod("web-a", env=SECRET_ENV)])
    assert values == {"hunter2-literal", "sk_live_abcdef", "postgres://app:password=inline@db/app"}
    log = "connecting with hunter2-literal\npassword=abc123 token: xyz789\nAuthorization: Bearer abcdefghijkl\nplain line\n"
    assert d.scrub(log, values) == ("connecting with <redacted>\npassword=<redacted> token: <redacted>\n"
                                    "Authorization: Bearer <redacted>\nplain line\n")


# -- logs and files -----------------------------------------------------------------------------------------

class FakeCore:
    """read_namespaced_pod_log of kubernetes.client.CoreV1Api: text per (pod, container, previous), else an error."""

    def __init__(self, logs):
        self.logs = logs
        self.calls = []

    def read_namespaced_pod_log(self, name, namespace, container=None, previous=False, tail_lines=None):
        self.calls.append((name, container, previous, tail_lines))
        if (name, container, previous) not in self.logs:
            raise RuntimeError("previous terminated container not found")
        return self.logs[(name, container, previous)]


def test_previous_logs_are_read_after_a_restart_and_unreadable_logs_are_noted():
    crashing = pod("web-a", ready=False, statuses=[cstatus(waiting={"reason": "CrashLoopBackOff"}, last={"reason": "Error", "exitCode": 1}, restarts=3)])
    fresh = pod("web-b")
    core = FakeCore({("web-a", "app", False): "", ("web-a", "app", True): "FATAL exiting\n", ("web-b", "app", False): "ready\n"})
    logs = d.collect_logs(core, "shop", [crashing, fresh], 500)
    assert logs == {
        "logs/web-a_app.log": "# log of container app of pod web-a is empty\n",
        "logs/web-a_app.previous.log": "FATAL exiting\n",
        "logs/web-b_app.log": "ready\n",
    }
    assert ("web-b", "app", True, 500) not in core.calls
    broken = d.collect_logs(FakeCore({}), "shop", [crashing], None)
    assert broken["logs/web-a_app.previous.log"] == "# previous log of container app of pod web-a not available: previous terminated container not found\n"


def snapshot(tmp_path):
    raw = pod("web-a", env=SECRET_ENV, resources=GUARANTEED)
    return dict(scope="deployment shop/web", collected_at="2026-01-03T10:05:00Z", summary=["CrashLoopBackOff: pod web-a: container app"],
                findings=[], rollout=None, history=None, pods=[d.pod_report(raw, 2, True)], raw_pods=[d.redact_object(raw)], workload=None,
                events=[{"type": "Warning", "reason": "BackOff", "message": "Back-off hunter2-literal", "involvedObject": {"kind": "Pod", "name": "web-a"},
                         "lastTimestamp": "2026-01-03T10:04:00Z", "count": 3}],
                nodes=None, hpa=[], usage=None, logs={"logs/web-a_app.log": "token=abc123 and hunter2-literal\n"},
                not_collected=["nodes (cluster-scoped; needs permission to list nodes): forbidden"],
                secret_values=d.sensitive_values([raw]))


def test_evidence_files_are_scrubbed_and_written_private_with_an_archive(tmp_path):
    files = d.evidence_files(snapshot(tmp_path))
    assert sorted(files) == ["describe/web-a.txt", "events.json", "events.txt", "findings.json", "hpa.json", "logs/web-a_app.log",
                             "nodes.json", "pods.json", "summary.txt", "usage.json"]
    for text in files.values():
        assert "hunter2-literal" not in text and "sk_live_abcdef" not in text and "abc123" not in text
    assert "Not collected:\n  - nodes (cluster-scoped; needs permission to list nodes): forbidden" in files["summary.txt"]
    assert "BackOff" in files["describe/web-a.txt"]

    path = d.evidence_path(str(tmp_path / "evidence"), NOW, "shop", "web")
    assert path == str(tmp_path / "evidence" / "20260103T100500Z_shop_web")
    archive = d.write_evidence(files, path, archive=True)
    assert archive == path + ".tar.gz"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(path, "logs")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(path, "summary.txt")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert "20260103T100500Z_shop_web/logs/web-a_app.log" in tar.getnames()
    # A second snapshot in the same second never overwrites the first.
    assert d.evidence_path(str(tmp_path / "evidence"), NOW, "shop", "web") == path + "-2"


def test_usage_report_sets_memory_against_the_limit():
    raw = pod("web-a", resources={"limits": {"memory": "200Mi"}})
    metrics = [{"metadata": {"name": "web-a"}, "containers": [{"name": "app", "usage": {"cpu": "15m", "memory": "150Mi"}}]},
               {"metadata": {"name": "other"}, "containers": [{"name": "x", "usage": {"cpu": "1m", "memory": "1Mi"}}]}]
    assert d.usage_report(metrics, [raw]) == [dict(pod="web-a", container="app", cpu="15m", cpu_request=None, cpu_percent_of_request=None,
                                                   memory="150Mi", memory_limit="200Mi", memory_percent_of_limit=75.0)]


@pytest.mark.parametrize("resources, cpu, cpu_request, percent", [
    ({"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}, "200m", "100m", 200.0),
    ({"requests": {"cpu": "0.5"}}, "250000000n", "0.5", 50.0),
    ({"requests": {"cpu": "1"}}, "333m", "1", 33.3),
    # No request: the API would have set it to the limit.
    ({"limits": {"cpu": "250m"}}, "250000u", "250m", 100.0),
    ({}, "200m", None, None),
    ({"requests": {"cpu": "0"}}, "200m", "0", None),
    ({"requests": {"cpu": "a lot"}}, "200m", "a lot", None),
])
def test_usage_report_sets_cpu_against_the_request(resources, cpu, cpu_request, percent):
    raw = pod("web-a", resources=resources)
    metrics = [{"metadata": {"name": "web-a"}, "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": "1Mi"}}]}]
    (row,) = d.usage_report(metrics, [raw])
    assert (row["cpu"], row["cpu_request"], row["cpu_percent_of_request"], row["memory_percent_of_limit"]) == (cpu, cpu_request, percent, None)


def test_url_passwords_are_scrubbed():
    assert d.scrub("dial postgres://app:s3cr3t-pw@db:5432/app failed") == "dial postgres://app:<redacted>@db:5432/app failed"
    assert redact.redact_env([{"name": "DATABASE", "value": "mysql://u:pw1234@h/db"}]) == [{"name": "DATABASE", "value": "<redacted>"}]


def test_a_crash_looping_container_caught_running_between_back_offs_is_still_a_crash_loop():
    running_again = pod("web-a", ready=False, resources=GUARANTEED, statuses=[cstatus(last={"reason": "Error", "exitCode": 1}, restarts=18)])
    result = d.classify([running_again])
    assert reasons(result) == [("CrashLoopBackOff", "pod/web-a", "app")]
    assert result["findings"][0]["message"] == ("container app: crash-looping (restarted, between back-offs), last exit Error (exit code 1), "
                                                "18 restarts")
    few = d.classify([pod("web-b", ready=False, resources=GUARANTEED, statuses=[cstatus(last={"reason": "Error", "exitCode": 1}, restarts=3)])])
    assert reasons(few) == [("Error", "pod/web-b", "app")]
