# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_rollout end to end on a fake API client: the options, the flow, check mode, failures.

The fake client stores plain dicts and applies patches with kubesim's patch
code; a test's on_patch hook plays the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import CHANGE_CAUSE, RESTARTED_AT, REVISION, ROLLED_BACK_FROM
from ansible_collections.sre.runbooks.plugins.modules import k8s_rollout
from ansible_collections.sre.runbooks.plugins.modules.k8s_rollout import option_problems

from tests.sandbox.kubesim.patch import apply_patch

NS = "shop"
NOW = datetime.datetime(2026, 1, 3, 10, 0, 0, tzinfo=datetime.timezone.utc)


class NotFound(Exception):
    status = 404

    def __init__(self, kind, name):
        super().__init__("(404) Reason: Not Found")
        self.body = json.dumps({"kind": "Status", "code": 404, "message": '{0} "{1}" not found'.format(kind.lower() + "s.apps", name)})


class FakeResource:
    def __init__(self, kind):
        self.kind = kind


class FakeClient:
    """Objects by kind; get by name or list; patch (recorded, dry run honoured)."""

    def __init__(self, objects, on_patch=None):
        self.objects = objects
        self.on_patch = on_patch
        self.patches = []
        self.dry_run = False

    def resource(self, kind, api_version):
        return FakeResource(kind)

    def get(self, resource, name=None, namespace=None, **params):
        items = [copy.deepcopy(o) for o in self.objects.get(resource.kind, []) if o["metadata"].get("namespace") == namespace]
        if name is None:
            return {"items": items}
        found = [o for o in items if o["metadata"]["name"] == name]
        if not found:
            raise NotFound(resource.kind, name)
        return found[0]

    def patch(self, resource, body, name=None, namespace=None, content_type=None):
        self.patches.append(dict(kind=resource.kind, body=copy.deepcopy(body), content_type=content_type, dry_run=self.dry_run))
        stored = next(o for o in self.objects[resource.kind] if o["metadata"]["name"] == name)
        patched = apply_patch(copy.deepcopy(stored), copy.deepcopy(body), content_type, resource.kind)
        if self.dry_run:
            return patched
        patched["metadata"]["generation"] = stored["metadata"]["generation"] + 1
        stored.clear()
        stored.update(patched)
        if self.on_patch:
            self.on_patch(self)
        return copy.deepcopy(stored)


def template(image, hash_=None, annotations=None):
    labels = {"app": "web"}
    if hash_:
        labels["pod-template-hash"] = hash_
    meta = {"labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"containers": [{"name": "web", "image": image}]}}


def owner(kind, name, uid):
    return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": True}]


def replicaset(revision, image, cause, history=None):
    ann = {REVISION: str(revision), CHANGE_CAUSE: cause}
    if history:
        ann["deployment.kubernetes.io/revision-history"] = history
    name = "web-r{0}".format(revision)
    return {"kind": "ReplicaSet", "metadata": {"name": name, "namespace": NS, "uid": "uid-" + name,
                                               "annotations": ann, "ownerReferences": owner("Deployment", "web", "uid-web"),
                                               "creationTimestamp": "2026-01-0{0}T10:00:00Z".format(revision)},
            "spec": {"replicas": 0, "template": template(image, hash_="r{0}".format(revision))}}


def deployment(image, revision, paused=False, annotations=None, tmpl=None):
    ann = {REVISION: str(revision), "team": "payments"}
    ann.update(annotations or {})
    d = {"kind": "Deployment",
         "metadata": {"name": "web", "namespace": NS, "uid": "uid-web", "generation": 3, "annotations": ann},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": tmpl or template(image)},
         "status": complete(3)}
    if paused:
        d["spec"]["paused"] = True
    return d


def complete(generation):
    return {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}


def cluster(current="nginx:1.26-crashloop", revision=2, **kwargs):
    """Revisions 1 (nginx:1.25) and 2 (nginx:1.26-crashloop)."""
    return {
        "Deployment": [deployment(current, revision, **kwargs)],
        "ReplicaSet": [replicaset(1, "nginx:1.25", "deploy 1.25"), replicaset(2, "nginx:1.26-crashloop", "deploy 1.26")],
        "Pod": [], "ControllerRevision": [],
    }


def controller_settles(renumber_to=None):
    """on_patch: the rollout completes at once; the ReplicaSet of the new template gets the next revision."""
    def settle(client):
        d = client.objects["Deployment"][0]
        d["status"] = complete(d["metadata"]["generation"])
        for rs in client.objects["ReplicaSet"]:
            labels = dict(rs["spec"]["template"]["metadata"]["labels"])
            labels.pop("pod-template-hash")
            same = rs["spec"]["template"]["spec"] == d["spec"]["template"]["spec"] and labels == d["spec"]["template"]["metadata"]["labels"]
            if same and renumber_to:
                old = rs["metadata"]["annotations"][REVISION]
                rs["metadata"]["annotations"][REVISION] = str(renumber_to)
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = old
                d["metadata"]["annotations"][REVISION] = str(renumber_to)
    return settle


@pytest.fixture
def fake(monkeypatch):
    """fake(objects, on_patch=None) installs a FakeClient as the module's client and returns it."""
    def install(objects, on_patch=None):
        client = FakeClient(objects, on_patch)

        def get_client(module):
            client.dry_run = module.check_mode
            return client

        monkeypatch.setattr(k8s_rollout, "get_client", get_client)
        return client
    return install


def args(**extra):
    base = dict(name="web", namespace=NS, state="rolled_back", wait_sleep=1)
    base.update(extra)
    return base


def params(**extra):
    base = dict(state="rolled_back", to_revision=None, image=None, restarted_after=None, wait_timeout=300, wait_sleep=5)
    base.update(extra)
    return base


# -- options ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, problem", [
    (dict(state="restarted", to_revision=2), "to_revision applies to state=rolled_back only"),
    (dict(state="restarted", image="nginx:1.25"), "image applies to state=rolled_back only"),
    (dict(restarted_after="2026-01-03T09:00:00Z"), "restarted_after applies to state=restarted only"),
    (dict(to_revision=0), "to_revision must be 1 or more, got 0"),
    (dict(image=" "), "image must not be empty"),
    (dict(state="restarted", restarted_after="yesterday"), "restarted_after: 'yesterday' is not an RFC 3339 timestamp such as 2026-01-03T10:00:00Z"),
    (dict(state="restarted", restarted_after="2026-01-03T10:00:01Z"),
     "restarted_after 2026-01-03T10:00:01Z is in the future: every run would restart"),
    (dict(wait_timeout=0), "wait_timeout must be 1 or more seconds, got 0"),
    (dict(wait_sleep=0), "wait_sleep must be 1 or more seconds, got 0"),
])
def test_option_problems(extra, problem):
    assert option_problems(params(**extra), NOW) == [problem]


def test_usable_options_have_no_problems():
    assert option_problems(params(to_revision=3), NOW) == []
    assert option_problems(params(state="restarted", restarted_after="2026-01-03T10:00:00Z"), NOW) == []


def test_bad_options_are_refused_before_connecting(run_module, monkeypatch):
    def no_client(module):
        raise AssertionError("connected")

    monkeypatch.setattr(k8s_rollout, "get_client", no_client)
    result = run_module(k8s_rollout.main, args(state="restarted", to_revision=1)).result
    assert result["failed"] is True
    assert result["msg"] == "Failed to use the options: to_revision applies to state=rolled_back only"
    result = run_module(k8s_rollout.main, args(to_revision=1, image="nginx:1.25")).result
    assert "mutually exclusive" in result["msg"]


# -- rolling back -------------------------------------------------------------------------------------------

def test_rollback_to_previous_patches_waits_and_reads_back(run_module, fake):
    client = fake(cluster(), on_patch=controller_settles(renumber_to=3))
    result = run_module(k8s_rollout.main, args()).result
    assert result["changed"] is True
    assert result["actions"] == ["roll back deployment shop/web from revision 2 (nginx:1.26-crashloop) to revision 1 (nginx:1.25)"]
    assert (result["from_revision"], result["to_revision"], result["revision"]) == (2, 1, 3)
    assert result["images_before"] == {"web": "nginx:1.26-crashloop"} and result["images_after"] == {"web": "nginx:1.25"}
    assert result["change_cause"] == "deploy 1.25"
    assert result["rollout"]["state"] == "complete"
    assert [(h["revision"], h["former_revisions"], h["current"]) for h in result["history"]] == [(2, [], False), (3, [1], True)]
    assert "diff" not in result
    (patch,) = client.patches
    assert patch["content_type"] == "application/json-patch+json" and patch["dry_run"] is False
    stored = client.objects["Deployment"][0]
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "pod-template-hash" not in stored["spec"]["template"]["metadata"]["labels"]
    assert stored["metadata"]["annotations"]["team"] == "payments"
    assert stored["metadata"]["annotations"][ROLLED_BACK_FROM] == "2"
    assert stored["metadata"]["annotations"][CHANGE_CAUSE] == "deploy 1.25"

    again = run_module(k8s_rollout.main, args()).result
    assert again["changed"] is False and again["actions"] == []
    assert len(client.patches) == 1
    assert run_module(k8s_rollout.main, args(to_revision=1)).result["changed"] is False
    assert run_module(k8s_rollout.main, args(image="nginx:1.25")).result["changed"] is False
    assert len(client.patches) == 1


def test_check_mode_sends_a_dry_run_and_shows_the_diff(run_module, fake):
    objects = cluster()
    before = copy.deepcopy(objects)
    client = fake(objects)
    result = run_module(k8s_rollout.main, args(to_revision=1, _ansible_check_mode=True, _ansible_diff=True)).result
    assert result["changed"] is True
    assert result["actions"] == ["roll back deployment shop/web from revision 2 (nginx:1.26-crashloop) to revision 1 (nginx:1.25)"]
    assert [p["dry_run"] for p in client.patches] == [True]
    assert objects == before
    assert result["revision"] == 2 and result["to_revision"] == 1
    assert result["images_after"] == {"web": "nginx:1.25"}
    assert result["diff"]["before"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26-crashloop"
    assert result["diff"]["after"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert result["diff"]["after"]["metadata"]["annotations"][ROLLED_BACK_FROM] == "2"
    assert REVISION not in result["diff"]["after"]["metadata"]["annotations"]


SECRET_ENV = [{"name": "DB_PASSWORD", "value": "hunter2-literal"}, {"name": "DATABASE_URL", "value": "postgres://app:pg-s3cret@db/app"},
              {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}, {"name": "LOG_LEVEL", "value": "debug"}]


def with_secrets(obj):
    """The object with SECRET_ENV and a --password flag in its pod template's container."""
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["env"] = copy.deepcopy(SECRET_ENV)
    container["args"] = ["--password", "flag-s3cret", "--port=8080"]
    return obj


@pytest.mark.parametrize("extra", [dict(to_revision=1, _ansible_check_mode=True), dict(to_revision=1), dict(state="restarted")])
def test_the_diff_never_carries_a_literal_secret(run_module, fake, extra):
    objects = cluster()
    for obj in objects["Deployment"] + objects["ReplicaSet"]:
        with_secrets(obj)
    fake(objects, on_patch=controller_settles(renumber_to=3))
    result = run_module(k8s_rollout.main, args(_ansible_diff=True, **extra)).result
    assert result["changed"] is True
    text = json.dumps(result)
    for secret in ("hunter2-literal", "pg-s3cret", "flag-s3cret"):
        assert secret not in text
    for side in ("before", "after"):
        container = result["diff"][side]["spec"]["template"]["spec"]["containers"][0]
        assert container["env"] == [
            {"name": "DB_PASSWORD", "value": "<redacted>"}, {"name": "DATABASE_URL", "value": "<redacted>"},
            {"name": "API_TOKEN", "value": "<redacted>", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            {"name": "LOG_LEVEL", "value": "debug"}]
        assert container["args"] == ["--password", "<redacted>", "--port=8080"]
    # Only the view is redacted: the workload keeps its values.
    assert objects["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "hunter2-literal"


def test_unknown_revision_is_refused_before_any_change(run_module, fake):
    client = fake(cluster())
    result = run_module(k8s_rollout.main, args(to_revision=7)).result
    assert result["failed"] is True
    assert result["msg"] == ("Failed to roll back deployment shop/web: revision 7 not found; "
                             "available revisions: 1 (nginx:1.25), 2 (nginx:1.26-crashloop)")
    assert result["error"]["object"] == "deployment shop/web"
    assert client.patches == []


def test_missing_workload_names_it(run_module, fake):
    fake({"Deployment": [], "ReplicaSet": []})
    result = run_module(k8s_rollout.main, args()).result
    assert result["msg"] == 'Failed to read deployment shop/web: deployments.apps "web" not found (404)'


def test_paused_deployment_is_refused_unless_resumed(run_module, fake):
    client = fake(cluster(paused=True), on_patch=controller_settles())
    result = run_module(k8s_rollout.main, args()).result
    assert result["failed"] is True and "it is paused" in result["msg"] and client.patches == []
    result = run_module(k8s_rollout.main, args(resume=True)).result
    assert result["changed"] is True
    assert result["actions"][0] == "resume deployment shop/web"
    assert client.objects["Deployment"][0]["spec"]["paused"] is False


def crashing_pod(client):
    """on_patch: the new ReplicaSet's pod is OOMKilled, the rollout does not finish."""
    d = client.objects["Deployment"][0]
    d["status"] = {"observedGeneration": d["metadata"]["generation"], "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}
    rs = next(r for r in client.objects["ReplicaSet"] if r["spec"]["template"]["spec"] == d["spec"]["template"]["spec"])
    client.objects["Pod"].append({
        "metadata": {"name": rs["metadata"]["name"] + "-x1", "namespace": NS, "uid": "uid-pod",
                     "ownerReferences": owner("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"])},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "web", "ready": False, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]},
    })


def test_failing_rollout_fails_fast_says_what_was_done_and_reports_changed(run_module, fake):
    objects = cluster(current="nginx:1.25", revision=1)
    objects["ReplicaSet"][0]["metadata"]["annotations"][REVISION] = "3"
    fake(objects, on_patch=crashing_pod)
    result = run_module(k8s_rollout.main, args(image="nginx:1.26-crashloop")).result
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"] == (
        "Failed to roll out deployment shop/web: new pods of deployment shop/web are failing: "
        "pod web-r2-x1 container web: OOMKilled (exit code 137, 2 restarts). Done by this task and left in place: "
        "roll back deployment shop/web from revision 3 (nginx:1.25) to revision 2 (nginx:1.26-crashloop). "
        "To go to another revision, run the task again with to_revision or image")
    assert result["error"]["details"]["rollout"]["reason"] == "OOMKilled"
    assert result["error"]["details"]["to_revision"] == 2


def test_unfinished_rollout_times_out(run_module, fake, monkeypatch):
    fake(cluster(), on_patch=lambda client: None)
    monkeypatch.setattr(k8s_rollout, "wait_for_rollout",
                        lambda read, timeout, sleep: (dict(read(), message="Waiting for rollout to finish: 0 of 2 updated replicas are available..."), True))
    result = run_module(k8s_rollout.main, args(wait_timeout=30)).result
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"].startswith("Failed to roll out deployment shop/web: the rollout is not complete after 30s: "
                                    "Waiting for rollout to finish: 0 of 2 updated replicas are available...")


def test_without_wait_the_state_is_read_once(run_module, fake):
    fake(cluster(), on_patch=lambda client: None)
    result = run_module(k8s_rollout.main, args(wait=False)).result
    assert result["changed"] is True
    assert result["rollout"]["state"] == "progressing"
    assert result["revision"] == 1, "the template of revision 1, not renumbered yet"


# -- restarting ---------------------------------------------------------------------------------------------

def test_restart_and_restarted_after(run_module, fake):
    client = fake(cluster(), on_patch=controller_settles())
    result = run_module(k8s_rollout.main, args(state="restarted")).result
    assert result["changed"] is True
    restarted_at = client.objects["Deployment"][0]["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert result["restarted_at"] == restarted_at
    assert result["actions"] == ["restart deployment shop/web (kubectl.kubernetes.io/restartedAt={0})".format(restarted_at)]
    assert client.patches[0]["content_type"] == "application/strategic-merge-patch+json"
    assert "to_revision" not in result

    again = run_module(k8s_rollout.main, args(state="restarted", restarted_after=restarted_at)).result
    assert again["changed"] is False and again["restarted_at"] == restarted_at
    assert len(client.patches) == 1
