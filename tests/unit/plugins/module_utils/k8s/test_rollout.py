# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pure functions of the rollout layer, on objects shaped as the API serves them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s import rollout
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    CHANGE_CAUSE,
    JSON_PATCH,
    RESTARTED_AT,
    REVISION,
    ROLLED_BACK_FROM,
    ROLLED_BACK_TO,
    STRATEGIC_MERGE_PATCH,
    api_error_text,
    build_history,
    choose_target,
    controller_revision_history,
    current_revision,
    deployment_history,
    evaluate_rollout,
    format_time,
    hpa_summary,
    parse_time,
    plan_restart,
    plan_rollback,
    pod_failures,
    pod_revisions,
    pod_summary,
    public_history,
    restart_needed,
    restart_patch,
    revision_of_pod,
    rollback_is_latest,
    rollback_patch,
    template_images,
    templates_equal,
    wait_for_rollout,
    warning_events,
)

NS = "shop"
UTC = datetime.timezone.utc


# -- objects as the API serves them -------------------------------------------------------------------------

def template(image="nginx:1.25", labels=None, annotations=None, init_image=None):
    spec = {
        "containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent", "env": [{"name": "MODE", "value": "prod"}]}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
    }
    if init_image:
        spec["initContainers"] = [{"name": "migrate", "image": init_image}]
    meta = {"creationTimestamp": None, "labels": dict(labels or {"app": "web"})}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"metadata": meta, "spec": spec}


def deployment(image="nginx:1.25", revision=None, annotations=None, paused=False, generation=2, status=None, tmpl=None, replicas=3):
    ann = dict(annotations or {})
    if revision is not None:
        ann[REVISION] = str(revision)
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-web", "generation": generation, "annotations": ann},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": tmpl or template(image)},
        "status": status if status is not None else complete_status(replicas, generation),
    }
    if paused:
        obj["spec"]["paused"] = True
    return obj


def complete_status(replicas=3, generation=2):
    return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "done"}]}


def owner_ref(kind, name, uid):
    return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": True}]


def replicaset(revision, image, history=None, cause=None, owner_uid="uid-web", extra=None, hash_="h", created="2026-01-01T10:00:00Z"):
    ann = {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4"}
    if history:
        ann["deployment.kubernetes.io/revision-history"] = history
    if cause:
        ann[CHANGE_CAUSE] = cause
    ann.update(extra or {})
    name = "web-{0}{1}".format(hash_, revision)
    labels = {"app": "web", "pod-template-hash": "{0}{1}".format(hash_, revision)}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS, "uid": "uid-" + name, "annotations": ann, "creationTimestamp": created,
                     "ownerReferences": owner_ref("Deployment", "web", owner_uid)},
        "spec": {"replicas": 0, "template": template(image, labels=labels)},
    }


def statefulset(image="nginx:1.25", annotations=None, update_revision="db-2", current_revision_=None, status=None, strategy=None):
    obj = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": NS, "uid": "uid-db", "generation": 2, "annotations": dict(annotations or {})},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "template": template(image, labels={"app": "db"}),
                 "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
        "status": status if status is not None else {
            "observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "currentReplicas": 2,
            "updateRevision": update_revision, "currentRevision": current_revision_ or update_revision},
    }
    return obj


def controller_revision(number, image, owner="db", owner_uid="uid-db", cause=None, name=None, hash_=None):
    tmpl = template(image, labels={"app": owner})
    data = {"spec": {"template": dict(tmpl, **{"$patch": "replace"})}}
    ann = {CHANGE_CAUSE: cause} if cause else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": name or "{0}-{1}".format(owner, number), "namespace": NS, "uid": "uid-cr-{0}".format(number),
                     "labels": {"app": owner, "controller-revision-hash": hash_ or "{0}-{1}".format(owner, number)},
                     "annotations": ann, "creationTimestamp": "2026-01-01T10:0{0}:00Z".format(number),
                     "ownerReferences": owner_ref("StatefulSet", owner, owner_uid)},
        "data": data,
        "revision": number,
    }


def daemonset(image="agent:2", status=None, strategy=None):
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": NS, "uid": "uid-agent", "generation": 2},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template(image, labels={"app": "agent"}),
                 "updateStrategy": strategy or {"type": "RollingUpdate"}},
        "status": status if status is not None else {
            "observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "updatedNumberScheduled": 3,
            "numberReady": 3, "numberAvailable": 3},
    }


def container_status(name="web", ready=True, waiting=None, message=None, last=None, exit_code=None, restarts=0, terminated=None):
    status = {"name": name, "image": "docker.io/library/nginx:1.25", "ready": ready, "restartCount": restarts, "lastState": {}}
    if waiting:
        status["state"] = {"waiting": {"reason": waiting}}
        if message:
            status["state"]["waiting"]["message"] = message
    elif terminated:
        status["state"] = {"terminated": {"reason": terminated, "exitCode": exit_code}}
    else:
        status["state"] = {"running": {"startedAt": "2026-01-03T10:00:00Z"}}
    if last:
        status["lastState"] = {"terminated": {"reason": last, "exitCode": exit_code, "startedAt": "2026-01-03T10:00:01Z",
                                              "finishedAt": "2026-01-03T10:00:02Z"}}
    return status


def pod(name, owner, statuses=None, labels=None, ready=True, phase="Running", deleting=False):
    meta = {"name": name, "namespace": NS, "uid": "uid-" + name, "labels": dict(labels or {}),
            "ownerReferences": owner_ref(owner["kind"], owner["metadata"]["name"], owner["metadata"]["uid"]),
            "creationTimestamp": "2026-01-03T10:00:00Z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-03T10:05:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": "node-1"},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": statuses if statuses is not None else [container_status()]},
    }


def three_revisions(current_image="nginx:1.27", annotations=None):
    """Revisions 1 (1.25), 2 (1.26), 3 (1.27); the deployment runs current_image."""
    rss = [replicaset(1, "nginx:1.25", cause="deploy 1.25", extra={"team": "payments"}),
           replicaset(2, "nginx:1.26", cause="deploy 1.26"), replicaset(3, "nginx:1.27", cause="deploy 1.27")]
    d = deployment(current_image, revision=3, annotations=annotations)
    return d, rss, deployment_history(d, rss)


# -- history ------------------------------------------------------------------------------------------------

def test_deployment_history_from_owned_replicasets():
    rss = [replicaset(3, "nginx:1.25", history="1", cause="deploy 1.25"), replicaset(2, "nginx:1.26-crashloop"),
           replicaset(7, "other:1", owner_uid="uid-other")]
    unnumbered = replicaset(9, "nginx:1.27")
    del unnumbered["metadata"]["annotations"][REVISION]
    d = deployment("nginx:1.25", revision=3)
    records = deployment_history(d, rss + [unnumbered])
    assert [r["revision"] for r in records] == [2, 3]
    assert records[1]["former_revisions"] == [1]
    assert records[1]["change_cause"] == "deploy 1.25"
    assert records[0]["change_cause"] is None
    assert records[0]["images"] == {"web": "nginx:1.26-crashloop"}
    assert records[1]["name"] == "web-h3" and records[1]["created"] == "2026-01-01T10:00:00Z"
    history = public_history(records, current=3)
    assert history[1] == {"revision": 3, "former_revisions": [1], "name": "web-h3", "created": "2026-01-01T10:00:00Z",
                          "change_cause": "deploy 1.25", "images": {"web": "nginx:1.25"}, "current": True}
    assert "template" not in history[0] and history[0]["current"] is False


def test_controller_revision_history_takes_the_template_from_the_data():
    s = statefulset()
    string_data = controller_revision(2, "nginx:1.26", cause="bump")
    string_data["data"] = json.dumps(string_data["data"])
    records = controller_revision_history(s, [string_data, controller_revision(1, "nginx:1.25"),
                                              controller_revision(5, "x", owner_uid="uid-other")])
    assert [r["revision"] for r in records] == [1, 2]
    assert "$patch" not in records[0]["template"]
    assert records[1]["images"] == {"web": "nginx:1.26"}
    assert records[1]["change_cause"] == "bump"
    assert records[0]["former_revisions"] == []
    assert build_history("StatefulSet", s, [controller_revision(1, "nginx:1.25")])[0]["name"] == "db-1"


def test_template_comparison_ignores_hash_label_deployment_annotations_and_nulls():
    a = template("nginx:1.25", labels={"app": "web", "pod-template-hash": "abc"}, annotations={"deployment.kubernetes.io/x": "1"})
    b = template("nginx:1.25")
    del b["metadata"]["creationTimestamp"]
    b["spec"]["volumes"] = []
    assert templates_equal(a, b)
    assert not templates_equal(a, template("nginx:1.26"))
    assert not templates_equal(template(annotations={RESTARTED_AT: "2026-01-03T10:00:00Z"}), template())
    with_env = template()
    with_env["spec"]["containers"][0]["env"][0]["value"] = "staging"
    assert not templates_equal(with_env, template())


def test_template_images_lists_init_containers_first():
    assert template_images(template("app:2", init_image="migrate:2")) == {"migrate": "migrate:2", "web": "app:2"}
    assert template_images({}) == {}


def test_current_revision_falls_back_to_the_announced_one():
    d, _rss, records = three_revisions("nginx:1.26")
    assert current_revision(d, records) == 2
    unknown = deployment("nginx:9", revision=3)
    assert current_revision(unknown, records) == 3
    del unknown["metadata"]["annotations"][REVISION]
    assert current_revision(unknown, records) == 3
    assert current_revision(unknown, []) is None


# -- target selection ---------------------------------------------------------------------------------------

def test_to_revision_selects_that_revision():
    d, _rss, records = three_revisions()
    choice = choose_target(d, records, to_revision=1)
    assert choice["target"]["revision"] == 1 and choice["current"] == 3 and choice["satisfied"] is False


def test_to_revision_of_the_current_template_is_satisfied():
    d, _rss, records = three_revisions()
    assert choose_target(d, records, to_revision=3)["satisfied"] is True


def test_unknown_to_revision_is_refused_listing_the_revisions():
    d, _rss, records = three_revisions()
    with pytest.raises(RunbookError) as info:
        choose_target(d, records, to_revision=9, what="deployment shop/web")
    assert str(info.value) == ("Failed to roll back deployment shop/web: revision 9 not found; "
                               "available revisions: 1 (nginx:1.25), 2 (nginx:1.26), 3 (nginx:1.27)")
    with pytest.raises(RunbookError) as info:
        choose_target(d, [], to_revision=1)
    assert "there is no revision history" in str(info.value)


def test_to_revision_is_found_again_after_the_controller_renumbered_it():
    # After rolling back to 1: the ReplicaSet of revision 1 is now 4, with revision-history 1.
    rss = [replicaset(4, "nginx:1.25", history="1"), replicaset(2, "nginx:1.26"), replicaset(3, "nginx:1.27")]
    d = deployment("nginx:1.25", revision=4)
    choice = choose_target(d, deployment_history(d, rss), to_revision=1)
    assert choice["satisfied"] is True and choice["target"]["revision"] == 4


def test_to_revision_of_a_renumbered_controller_revision_is_satisfied_through_the_annotations():
    # StatefulSet rolled back from 2 to 1: ControllerRevision db-1 is now revision 3, revision 1 is gone.
    revisions = [controller_revision(3, "nginx:1.25", name="db-1"), controller_revision(2, "nginx:1.26", name="db-2")]
    s = statefulset("nginx:1.25", annotations={ROLLED_BACK_FROM: "2", ROLLED_BACK_TO: "1"})
    records = controller_revision_history(s, revisions)
    assert choose_target(s, records, to_revision=1)["satisfied"] is True
    without = statefulset("nginx:1.25")
    with pytest.raises(RunbookError, match="revision 1 not found"):
        choose_target(without, controller_revision_history(without, revisions), to_revision=1)


def test_image_selects_the_newest_revision_running_it():
    rss = [replicaset(1, "nginx:1.25"), replicaset(2, "nginx:1.26"), replicaset(3, "nginx:1.25"), replicaset(4, "nginx:1.27")]
    rss[2]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5
    d = deployment("nginx:1.27", revision=4)
    choice = choose_target(d, deployment_history(d, rss), image="nginx:1.25")
    assert choice["target"]["revision"] == 3 and choice["satisfied"] is False


def test_image_matches_the_whole_reference_including_init_containers():
    rss = [replicaset(1, "nginx:1.25"), replicaset(2, "nginx:1.26")]
    rss[0]["spec"]["template"]["spec"]["initContainers"] = [{"name": "migrate", "image": "migrate:7"}]
    d = deployment("nginx:1.26", revision=2)
    records = deployment_history(d, rss)
    assert choose_target(d, records, image="migrate:7")["target"]["revision"] == 1
    with pytest.raises(RunbookError) as info:
        choose_target(d, records, image="docker.io/library/nginx:1.25")
    assert "no revision runs the image docker.io/library/nginx:1.25; available revisions: 1 (migrate=migrate:7, web=nginx:1.25)" in str(info.value)


def test_image_of_the_current_revision_is_satisfied():
    d, _rss, records = three_revisions()
    assert choose_target(d, records, image="nginx:1.27")["satisfied"] is True


def test_previous_is_the_newest_revision_older_than_the_current_one():
    d, _rss, records = three_revisions()
    choice = choose_target(d, records)
    assert choice["target"]["revision"] == 2 and choice["satisfied"] is False


def test_previous_without_an_older_revision_is_refused():
    rss = [replicaset(1, "nginx:1.25")]
    d = deployment("nginx:1.25", revision=1)
    with pytest.raises(RunbookError, match="there is no revision older than the current revision 1 to go back to; available revisions: 1"):
        choose_target(d, deployment_history(d, rss))


def test_previous_is_satisfied_after_its_own_rollback():
    # Rolled back from 3 to 2: the ReplicaSet of 2 became 4; the annotations say 3 -> 2.
    rss = [replicaset(1, "nginx:1.25"), replicaset(4, "nginx:1.26", history="2"), replicaset(3, "nginx:1.27")]
    d = deployment("nginx:1.26", revision=4, annotations={ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"})
    records = deployment_history(d, rss)
    assert rollback_is_latest(d, records) is True
    choice = choose_target(d, records)
    assert choice["satisfied"] is True and choice["target"]["revision"] == 4


def test_previous_is_satisfied_before_the_controller_renumbers():
    # The patch is in, the controller has not caught up: revision 2 still has its number.
    d, _rss, records = three_revisions("nginx:1.26", annotations={ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"})
    assert rollback_is_latest(d, records) is True
    assert choose_target(d, records)["satisfied"] is True


def test_previous_rolls_back_again_after_a_later_rollout():
    # 3 -> 2 (now 4), then a new release 5: the annotations are stale.
    rss = [replicaset(1, "nginx:1.25"), replicaset(4, "nginx:1.26", history="2"), replicaset(3, "nginx:1.27"), replicaset(5, "nginx:1.28")]
    d = deployment("nginx:1.28", revision=5, annotations={ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"})
    records = deployment_history(d, rss)
    assert rollback_is_latest(d, records) is False
    choice = choose_target(d, records)
    assert choice["target"]["revision"] == 4 and choice["satisfied"] is False


def test_previous_rolls_back_after_kubectl_undo_went_back_to_the_source():
    # 3 -> 2 (now 4) by the module, then `kubectl rollout undo` to 3 (now 5), which copies the annotations back.
    rss = [replicaset(1, "nginx:1.25"), replicaset(4, "nginx:1.26", history="2"), replicaset(5, "nginx:1.27", history="3")]
    d = deployment("nginx:1.27", revision=5, annotations={ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"})
    records = deployment_history(d, rss)
    assert rollback_is_latest(d, records) is False
    assert choose_target(d, records)["target"]["revision"] == 4


def test_stale_annotations_on_the_source_template_do_not_count():
    # The patch never happened (or was reverted by hand before the controller saw it).
    d, _rss, records = three_revisions("nginx:1.27", annotations={ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"})
    assert rollback_is_latest(d, records) is False
    assert choose_target(d, records)["target"]["revision"] == 2


def test_a_different_change_before_the_controller_renumbers_does_not_count():
    d, _rss, records = three_revisions("nginx:1.30", annotations={ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"})
    assert rollback_is_latest(d, records) is False


def test_previous_of_a_statefulset_after_its_rollback_is_satisfied():
    revisions = [controller_revision(3, "nginx:1.25", name="db-1"), controller_revision(2, "nginx:1.26", name="db-2")]
    s = statefulset("nginx:1.25", annotations={ROLLED_BACK_FROM: "2", ROLLED_BACK_TO: "1"}, update_revision="db-1")
    records = controller_revision_history(s, revisions)
    assert choose_target(s, records)["satisfied"] is True
    plain = statefulset("nginx:1.25", update_revision="db-1")
    assert choose_target(plain, controller_revision_history(plain, revisions))["target"]["revision"] == 2


# -- patches ------------------------------------------------------------------------------------------------

def test_deployment_rollback_patch_is_kubectls_with_the_annotations_kept():
    d, _rss, records = three_revisions(annotations={
        "team": "oncall", "owner": "sre", CHANGE_CAUSE: "deploy 1.27", "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    target = records[0]
    patch_type, ops = rollback_patch("Deployment", d, target, 3)
    assert patch_type == JSON_PATCH
    assert ops[0]["op"] == "replace" and ops[0]["path"] == "/spec/template"
    assert "pod-template-hash" not in ops[0]["value"]["metadata"]["labels"]
    assert ops[0]["value"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "pod-template-hash" in target["template"]["metadata"]["labels"], "the record is not modified"
    assert ops[1:] == [
        {"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": "deploy 1.25"},
        {"op": "add", "path": "/metadata/annotations/sre.runbooks~1rolled-back-from", "value": "3"},
        {"op": "add", "path": "/metadata/annotations/sre.runbooks~1rolled-back-to", "value": "1"},
        {"op": "add", "path": "/metadata/annotations/team", "value": "payments"},
    ]


def test_deployment_rollback_patch_removes_a_change_cause_the_target_lacks_and_resumes():
    rss = [replicaset(1, "nginx:1.25"), replicaset(2, "nginx:1.26", cause="deploy 1.26")]
    d = deployment("nginx:1.26", revision=2, annotations={CHANGE_CAUSE: "deploy 1.26"}, paused=True)
    records = deployment_history(d, rss)
    _type, ops = rollback_patch("Deployment", d, records[0], 2, resume=True)
    assert {"op": "remove", "path": "/metadata/annotations/kubernetes.io~1change-cause"} in ops
    assert ops[-1] == {"op": "replace", "path": "/spec/paused", "value": False}
    _type, ops = rollback_patch("Deployment", deployment("nginx:1.26", paused=False), records[0], 2, resume=True)
    assert not any(op["path"] == "/spec/paused" for op in ops)


def test_deployment_rollback_patch_adds_the_annotations_map_when_there_is_none():
    d, _rss, records = three_revisions()
    d["metadata"].pop("annotations")
    _type, ops = rollback_patch("Deployment", d, records[1], 3)
    assert ops[1] == {"op": "add", "path": "/metadata/annotations",
                      "value": {CHANGE_CAUSE: "deploy 1.26", ROLLED_BACK_FROM: "3", ROLLED_BACK_TO: "2"}}


def test_statefulset_rollback_patch_is_the_revision_data_as_strategic_merge():
    revisions = [controller_revision(1, "nginx:1.25", cause="first"), controller_revision(2, "nginx:1.26")]
    s = statefulset("nginx:1.26", annotations={CHANGE_CAUSE: "second", "team": "db"})
    records = controller_revision_history(s, revisions)
    patch_type, body = rollback_patch("StatefulSet", s, records[0], 2)
    assert patch_type == STRATEGIC_MERGE_PATCH
    assert body["spec"]["template"]["$patch"] == "replace"
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert body["metadata"]["annotations"] == {CHANGE_CAUSE: "first", ROLLED_BACK_FROM: "2", ROLLED_BACK_TO: "1"}
    _type, body = rollback_patch("StatefulSet", s, records[1], 1)
    assert body["metadata"]["annotations"][CHANGE_CAUSE] is None


def test_restart_patch_sets_restarted_at():
    now = datetime.datetime(2026, 1, 3, 11, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert restart_patch(now) == (STRATEGIC_MERGE_PATCH, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-01-03T10:00:05Z"}}}}})
    assert restart_patch(now, resume=True)[1]["spec"]["paused"] is False


@pytest.mark.parametrize("restarted_at, after, needed", [
    (None, None, True),
    ("2026-01-03T10:00:00Z", None, True),
    (None, "2026-01-03T10:00:00Z", True),
    ("2026-01-03T09:59:59Z", "2026-01-03T10:00:00Z", True),
    ("2026-01-03T10:00:00Z", "2026-01-03T10:00:00Z", False),
    ("2026-01-03T11:30:00+01:00", "2026-01-03T10:00:00Z", False),
    ("2026-01-03T10:30:00+01:00", "2026-01-03T10:00:00Z", True),
    ("not a time", "2026-01-03T10:00:00Z", True),
])
def test_restart_needed(restarted_at, after, needed):
    d = deployment(tmpl=template(annotations={RESTARTED_AT: restarted_at} if restarted_at else None))
    assert restart_needed(d, parse_time(after) if after else None) is needed


# -- plans --------------------------------------------------------------------------------------------------

def test_plan_rollback_to_the_previous_revision():
    d, _rss, records = three_revisions()
    plan = plan_rollback("Deployment", d, records)
    assert plan["changed"] is True
    assert plan["actions"] == ["roll back deployment shop/web from revision 3 (nginx:1.27) to revision 2 (nginx:1.26)"]
    assert plan["from_revision"] == 3 and plan["to_revision"] == 2
    assert plan["images_before"] == {"web": "nginx:1.27"} and plan["images_after"] == {"web": "nginx:1.26"}
    assert plan["change_cause"] == "deploy 1.26"
    assert plan["patch_type"] == JSON_PATCH


def test_plan_rollback_already_there_changes_nothing():
    d, _rss, records = three_revisions("nginx:1.25")
    plan = plan_rollback("Deployment", d, records, to_revision=1)
    assert plan["changed"] is False and plan["actions"] == [] and plan["patch"] is None
    assert plan["to_revision"] == 1 and plan["from_revision"] == 1


def test_plan_refuses_a_paused_deployment_without_resume():
    d, _rss, records = three_revisions(annotations=None)
    d["spec"]["paused"] = True
    with pytest.raises(RunbookError) as info:
        plan_rollback("Deployment", d, records, to_revision=1)
    assert str(info.value).startswith("Failed to roll back deployment shop/web: it is paused")
    assert "resume=true" in str(info.value)
    with pytest.raises(RunbookError, match="Failed to restart deployment shop/web: it is paused"):
        plan_restart("Deployment", d, records, datetime.datetime.now(UTC))


def test_plan_resumes_a_paused_deployment_as_part_of_the_rollback():
    d, _rss, records = three_revisions()
    d["spec"]["paused"] = True
    plan = plan_rollback("Deployment", d, records, to_revision=1, resume=True)
    assert plan["actions"][0] == "resume deployment shop/web"
    assert plan["patch"][-1] == {"op": "replace", "path": "/spec/paused", "value": False}


def test_plan_only_resumes_when_the_template_is_already_the_target():
    d, _rss, records = three_revisions("nginx:1.25")
    d["spec"]["paused"] = True
    plan = plan_rollback("Deployment", d, records, to_revision=1, resume=True)
    assert plan["changed"] is True
    assert plan["actions"] == ["resume deployment shop/web"]
    assert plan["patch"] == {"spec": {"paused": False}}


def test_plan_restart_and_restarted_after():
    now = datetime.datetime(2026, 1, 3, 10, 0, 0, tzinfo=UTC)
    d, _rss, records = three_revisions()
    plan = plan_restart("Deployment", d, records, now)
    assert plan["changed"] is True
    assert plan["actions"] == ["restart deployment shop/web (kubectl.kubernetes.io/restartedAt=2026-01-03T10:00:00Z)"]
    assert plan["restarted_at"] == "2026-01-03T10:00:00Z"
    restarted = deployment(tmpl=template("nginx:1.27", annotations={RESTARTED_AT: "2026-01-03T10:00:00Z"}))
    plan = plan_restart("Deployment", restarted, records, now, restarted_after=parse_time("2026-01-03T09:00:00Z"))
    assert plan["changed"] is False and plan["patch"] is None and plan["restarted_at"] == "2026-01-03T10:00:00Z"
    restarted["spec"]["paused"] = True
    plan = plan_restart("Deployment", restarted, records, now, restarted_after=parse_time("2026-01-03T09:00:00Z"), resume=True)
    assert plan["actions"] == ["resume deployment shop/web"] and plan["patch"] == {"spec": {"paused": False}}


def test_plan_restart_of_a_statefulset_ignores_resume():
    s = statefulset()
    plan = plan_restart("StatefulSet", s, [], datetime.datetime(2026, 1, 3, tzinfo=UTC), resume=True)
    assert plan["actions"] == ["restart statefulset shop/db (kubectl.kubernetes.io/restartedAt=2026-01-03T00:00:00Z)"]
    assert "paused" not in plan["patch"]["spec"]


# -- rollout status -----------------------------------------------------------------------------------------

def rolling(image="nginx:1.26", status=None):
    """A deployment rolling from revision 1 (nginx:1.25) to 2 (image); returns (deployment, replicasets, old rs, new rs)."""
    old, new = replicaset(1, "nginx:1.25"), replicaset(2, image)
    d = deployment(image, revision=2, status=status or {
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]})
    return d, [old, new], old, new


def test_complete_deployment():
    d = deployment()
    status = evaluate_rollout("Deployment", d, [], [])
    assert status == {"state": "complete", "reason": None, "message": "deployment shop/web successfully rolled out", "failures": []}


@pytest.mark.parametrize("status, message", [
    ({"observedGeneration": 1}, "Waiting for deployment spec update to be observed..."),
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}, "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."),
    ({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3}, "Waiting for rollout to finish: 1 old replicas are pending termination..."),
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2},
     "Waiting for rollout to finish: 2 of 3 updated replicas are available..."),
])
def test_progressing_deployment(status, message):
    result = evaluate_rollout("Deployment", deployment(status=status), [], [])
    assert result["state"] == "progressing" and result["message"] == message and result["reason"] is None


def test_progress_deadline_exceeded_fails():
    d = deployment(status={"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-h2" has timed out progressing.'}]})
    result = evaluate_rollout("Deployment", d, [], [])
    assert result["state"] == "failed" and result["reason"] == "ProgressDeadlineExceeded"
    assert result["message"] == 'deployment shop/web exceeded its progress deadline: ReplicaSet "web-h2" has timed out progressing.'


@pytest.mark.parametrize("cstatus, reason, detail", [
    (container_status(ready=False, waiting="CrashLoopBackOff", last="Error", exit_code=1, restarts=4),
     "CrashLoopBackOff", "CrashLoopBackOff (last exit: Error, exit code 1, 4 restarts)"),
    (container_status(ready=False, waiting="CrashLoopBackOff", last="OOMKilled", exit_code=137, restarts=2),
     "OOMKilled", "OOMKilled (exit code 137, 2 restarts)"),
    (container_status(ready=False, terminated="OOMKilled", exit_code=137, restarts=0), "OOMKilled", "OOMKilled (exit code 137, 0 restarts)"),
    (container_status(ready=False, last="OOMKilled", exit_code=137, restarts=1), "OOMKilled", "OOMKilled (exit code 137, 1 restarts)"),
    (container_status(ready=False, waiting="ImagePullBackOff", message='Back-off pulling image "nginx:9"'),
     "ImagePullBackOff", 'ImagePullBackOff: Back-off pulling image "nginx:9"'),
    (container_status(ready=False, waiting="ErrImagePull"), "ErrImagePull", "ErrImagePull"),
    (container_status(ready=False, waiting="CreateContainerConfigError", message='secret "db" not found'),
     "CreateContainerConfigError", 'CreateContainerConfigError: secret "db" not found'),
])
def test_failing_new_pod_fails_fast_naming_pod_container_and_reason(cstatus, reason, detail):
    d, rss, old, new = rolling("nginx:1.26-bad")
    pods = [pod("web-h1-a", old), pod("web-h2-b", new, statuses=[cstatus], ready=False)]
    result = evaluate_rollout("Deployment", d, rss, pods)
    assert result["state"] == "failed" and result["reason"] == reason
    assert result["message"] == "new pods of deployment shop/web are failing: pod web-h2-b container web: " + detail
    assert result["failures"][0]["pod"] == "web-h2-b" and result["failures"][0]["container"] == "web"


def test_failing_old_pods_do_not_fail_the_rollout():
    d, rss, old, new = rolling()
    crashing = [container_status(ready=False, waiting="CrashLoopBackOff", last="Error", exit_code=1, restarts=9)]
    pods = [pod("web-h1-a", old, statuses=crashing, ready=False), pod("web-h2-b", new, statuses=[container_status(ready=False)], ready=False)]
    assert evaluate_rollout("Deployment", d, rss, pods)["state"] == "progressing"


def test_pods_being_deleted_do_not_count():
    d, rss, _old, new = rolling()
    crashing = [container_status(ready=False, waiting="CrashLoopBackOff", last="Error", exit_code=1)]
    assert evaluate_rollout("Deployment", d, rss, [pod("web-h2-b", new, statuses=crashing, deleting=True)])["state"] == "progressing"


def test_a_recovered_oom_kill_does_not_fail_a_complete_rollout():
    d = deployment("nginx:1.26", revision=2)
    new = replicaset(2, "nginx:1.26")
    recovered = [container_status(ready=True, last="OOMKilled", exit_code=137, restarts=1)]
    assert evaluate_rollout("Deployment", d, [new], [pod("web-h2-a", new, statuses=recovered)])["state"] == "complete"


def test_several_failures_are_summarised():
    d, rss, _old, new = rolling()
    crashing = [container_status(ready=False, waiting="CrashLoopBackOff", last="Error", exit_code=1, restarts=1)]
    pods = [pod("web-h2-%d" % n, new, statuses=crashing, ready=False) for n in range(5)]
    result = evaluate_rollout("Deployment", d, rss, pods)
    assert len(result["failures"]) == 5
    assert result["message"].endswith("; and 2 more failing container(s)")
    assert result["message"].count("pod web-h2-") == 3


def test_paused_unfinished_deployment_fails():
    d, rss, _old, _new = rolling()
    d["spec"]["paused"] = True
    result = evaluate_rollout("Deployment", d, rss, [])
    assert result["state"] == "failed" and result["reason"] == "DeploymentPaused"


def sts_status(**fields):
    status = {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "currentReplicas": 2,
              "updateRevision": "db-2", "currentRevision": "db-2"}
    status.update(fields)
    return status


@pytest.mark.parametrize("status, strategy, state, message", [
    (sts_status(), None, "complete", "statefulset shop/db rolled out: 2 pods at revision db-2"),
    (sts_status(observedGeneration=0), None, "progressing", "Waiting for statefulset spec update to be observed..."),
    (sts_status(observedGeneration=1), None, "progressing", "Waiting for statefulset spec update to be observed..."),
    (sts_status(readyReplicas=1), None, "progressing", "Waiting for 1 pods to be ready..."),
    (sts_status(updatedReplicas=1), None, "progressing", "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."),
    (sts_status(updatedReplicas=1), {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}, "complete",
     "statefulset shop/db rolled out: 1 pods at revision db-2"),
    (sts_status(updatedReplicas=1, currentRevision="db-1"), {"type": "RollingUpdate"}, "progressing",
     "waiting for statefulset rolling update to complete 1 pods at revision db-2..."),
    (sts_status(updatedReplicas=1), {"type": "OnDelete"}, "failed",
     "statefulset shop/db has updateStrategy OnDelete and 1 of 2 pods run revision db-2: the other pods are replaced only when deleted"),
])
def test_statefulset_status(status, strategy, state, message):
    result = evaluate_rollout("StatefulSet", statefulset(status=status, strategy=strategy), [], [])
    assert (result["state"], result["message"]) == (state, message)


def test_statefulset_new_pod_failing_by_revision_label():
    s = statefulset(status=sts_status(readyReplicas=1, updatedReplicas=1, currentRevision="db-1"))
    crashing = [container_status(ready=False, waiting="CrashLoopBackOff", last="OOMKilled", exit_code=137, restarts=3)]
    pods = [pod("db-0", s, labels={"controller-revision-hash": "db-1"}),
            pod("db-1", s, statuses=crashing, ready=False, labels={"controller-revision-hash": "db-2"})]
    result = evaluate_rollout("StatefulSet", s, [], pods)
    assert result["state"] == "failed" and result["reason"] == "OOMKilled"
    assert "pod db-1 container web: OOMKilled (exit code 137, 3 restarts)" in result["message"]
    pods[0]["status"]["containerStatuses"] = crashing
    pods[1]["status"]["containerStatuses"] = [container_status(ready=False)]
    assert evaluate_rollout("StatefulSet", s, [], pods)["state"] == "progressing"


def ds_status(**fields):
    status = {"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}
    status.update(fields)
    return status


@pytest.mark.parametrize("status, strategy, state, message", [
    (ds_status(), None, "complete", "daemonset shop/agent successfully rolled out"),
    (ds_status(observedGeneration=1), None, "progressing", "Waiting for daemon set spec update to be observed..."),
    (ds_status(updatedNumberScheduled=1), None, "progressing", "Waiting for daemon set rollout to finish: 1 out of 3 new pods have been updated..."),
    (ds_status(numberAvailable=2), None, "progressing", "Waiting for daemon set rollout to finish: 2 of 3 updated pods are available..."),
    (ds_status(updatedNumberScheduled=1), {"type": "OnDelete"}, "failed",
     "daemonset shop/agent has updateStrategy OnDelete and 1 out of 3 new pods have been updated: the other pods are replaced only when deleted"),
])
def test_daemonset_status(status, strategy, state, message):
    result = evaluate_rollout("DaemonSet", daemonset(status=status, strategy=strategy), [], [])
    assert (result["state"], result["message"]) == (state, message)


def test_daemonset_new_pod_failing_by_revision_hash():
    ds = daemonset("agent:3-image-pull", status=ds_status(updatedNumberScheduled=1, numberAvailable=2))
    revisions = [controller_revision(1, "agent:2", owner="agent", owner_uid="uid-agent", hash_="aaa"),
                 controller_revision(2, "agent:3-image-pull", owner="agent", owner_uid="uid-agent", hash_="bbb")]
    pulling = [container_status(ready=False, waiting="ImagePullBackOff", message='Back-off pulling image "agent:3-image-pull"')]
    pods = [pod("agent-x1", ds, labels={"controller-revision-hash": "aaa"}),
            pod("agent-x2", ds, statuses=pulling, ready=False, labels={"controller-revision-hash": "bbb"})]
    result = evaluate_rollout("DaemonSet", ds, revisions, pods)
    assert result["state"] == "failed" and result["reason"] == "ImagePullBackOff"
    assert "pod agent-x2 container web" in result["message"]


def test_wait_returns_at_the_first_final_state():
    states = iter(["progressing", "progressing", "failed"])
    sleeps = []
    status, timed_out = wait_for_rollout(lambda: {"state": next(states)}, timeout=300, sleep=5, clock=lambda: 0, pause=sleeps.append)
    assert status == {"state": "failed"} and timed_out is False and sleeps == [5, 5]


def test_wait_times_out_without_sleeping_past_the_deadline():
    now = [0.0]
    sleeps = []

    def pause(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    status, timed_out = wait_for_rollout(lambda: {"state": "progressing"}, timeout=12, sleep=5, clock=lambda: now[0], pause=pause)
    assert timed_out is True and status["state"] == "progressing"
    assert sleeps == [5, 5, 2]


# -- diagnostics --------------------------------------------------------------------------------------------

def test_pod_summary_reports_restarts_and_last_termination():
    new = replicaset(2, "nginx:1.26")
    p = pod("web-h2-a", new, ready=False, statuses=[
        container_status(ready=False, waiting="CrashLoopBackOff", last="OOMKilled", exit_code=137, restarts=3)])
    p["status"]["initContainerStatuses"] = [container_status("migrate", terminated="Completed", exit_code=0)]
    summary = pod_summary(p, revision=2)
    assert summary["name"] == "web-h2-a" and summary["phase"] == "Running" and summary["ready"] is False
    assert summary["restarts"] == 3 and summary["revision"] == 2 and summary["node"] == "node-1"
    migrate, web = summary["containers"]
    assert migrate["state"] == "terminated" and migrate["reason"] == "Completed" and migrate["exit_code"] == 0
    assert web["state"] == "waiting" and web["reason"] == "CrashLoopBackOff"
    assert web["last_termination"] == {"reason": "OOMKilled", "exit_code": 137, "started": "2026-01-03T10:00:01Z",
                                       "finished": "2026-01-03T10:00:02Z"}


def test_pod_revisions_by_kind():
    d, rss, _records = three_revisions()
    records = deployment_history(d, rss)
    revisions = pod_revisions("Deployment", d, rss, records)
    assert revision_of_pod("Deployment", pod("web-h2-x", rss[1]), revisions) == 2
    s = statefulset()
    crs = [controller_revision(1, "nginx:1.25"), controller_revision(2, "nginx:1.26")]
    revisions = pod_revisions("StatefulSet", s, crs, controller_revision_history(s, crs))
    assert revision_of_pod("StatefulSet", pod("db-0", s, labels={"controller-revision-hash": "db-2"}), revisions) == 2
    ds = daemonset()
    crs = [controller_revision(4, "agent:2", owner="agent", owner_uid="uid-agent", hash_="ccc")]
    revisions = pod_revisions("DaemonSet", ds, crs, controller_revision_history(ds, crs))
    assert revision_of_pod("DaemonSet", pod("agent-abcde", ds, labels={"controller-revision-hash": "ccc"}), revisions) == 4


def event(kind, name, reason, last, type_="Warning", uid=None, count=1):
    return {"type": type_, "reason": reason, "message": reason + " message", "count": count,
            "involvedObject": {"kind": kind, "name": name, "uid": uid or "uid-" + name},
            "firstTimestamp": "2026-01-03T10:00:00Z", "lastTimestamp": last, "metadata": {"name": name + ".1"}}


def test_warning_events_of_the_workload_its_replicasets_and_pods():
    d, rss, _records = three_revisions()
    live = pod("web-h3-aaaaa", rss[2])
    events = [
        event("Pod", "web-h3-aaaaa", "BackOff", "2026-01-03T10:05:00Z", count=7),
        event("Pod", "web-h2-gone1", "Failed", "2026-01-03T10:04:00Z", uid="uid-deleted"),  # a deleted pod of revision 2
        event("ReplicaSet", "web-h3", "FailedCreate", "2026-01-03T10:03:00Z"),
        event("Deployment", "web", "Odd", "2026-01-03T10:02:00Z", uid="uid-web"),
        event("Pod", "web-h3-aaaaa", "Pulled", "2026-01-03T10:06:00Z", type_="Normal"),
        event("Pod", "webshop-h1-bbbbb", "BackOff", "2026-01-03T10:07:00Z"),
        event("Pod", "other-1", "BackOff", "2026-01-03T10:07:00Z"),
    ]
    found = warning_events(events, "Deployment", d, rss, [live], limit=10)
    assert [(e["object"], e["reason"]) for e in found] == [
        ("Pod/web-h3-aaaaa", "BackOff"), ("Pod/web-h2-gone1", "Failed"), ("ReplicaSet/web-h3", "FailedCreate"), ("Deployment/web", "Odd")]
    assert found[0]["count"] == 7 and found[0]["last_timestamp"] == "2026-01-03T10:05:00Z"
    assert len(warning_events(events, "Deployment", d, rss, [live], limit=2)) == 2


def test_warning_events_of_statefulset_pods_by_ordinal_name():
    s = statefulset()
    events = [event("Pod", "db-0", "BackOff", "2026-01-03T10:05:00Z"), event("Pod", "db-x", "BackOff", "2026-01-03T10:05:00Z"),
              event("Pod", "dbx-0", "BackOff", "2026-01-03T10:05:00Z")]
    assert [e["object"] for e in warning_events(events, "StatefulSet", s, [], [], 10)] == ["Pod/db-0"]


def test_hpa_summary_of_the_autoscaler_targeting_the_workload():
    hpas = [
        {"metadata": {"name": "other"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 3}},
        {"metadata": {"name": "web"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 10,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
         "status": {"currentReplicas": 4, "desiredReplicas": 6,
                    "conditions": [{"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "ok", "lastTransitionTime": "x"}]}},
    ]
    summary = hpa_summary(hpas, "Deployment", "web")
    assert summary["name"] == "web" and summary["min_replicas"] == 2 and summary["max_replicas"] == 10
    assert summary["current_replicas"] == 4 and summary["desired_replicas"] == 6
    assert summary["conditions"] == [{"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange", "message": "ok"}]
    assert summary["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa_summary(hpas, "StatefulSet", "web") is None


@pytest.mark.parametrize("text, expected", [
    ("2026-01-03T10:00:00Z", datetime.datetime(2026, 1, 3, 10, 0, tzinfo=UTC)),
    ("2026-01-03T11:00:00+01:00", datetime.datetime(2026, 1, 3, 10, 0, tzinfo=UTC)),
    ("2026-01-03T10:00:00.123456789Z", datetime.datetime(2026, 1, 3, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2026-01-03 10:00:00", datetime.datetime(2026, 1, 3, 10, 0, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-01-03", "", "2026-01-03T10:00:00+1"])
def test_parse_time_refuses_other_text(text):
    with pytest.raises(ValueError, match="is not an RFC 3339 timestamp"):
        parse_time(text)


def test_format_time_is_utc():
    assert format_time(datetime.datetime(2026, 1, 3, 11, 0, 0, 999, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))) == "2026-01-03T10:00:00Z"


def test_api_error_text_prefers_the_status_message():
    class ApiError(Exception):
        status = 404
        body = json.dumps({"kind": "Status", "message": 'deployments.apps "web" not found', "code": 404})

    assert api_error_text(ApiError("404 long text")) == 'deployments.apps "web" not found (404)'

    class Plain(Exception):
        body = "<html>"

    assert api_error_text(Plain("bad gateway")) == "bad gateway"
    assert api_error_text(TimeoutError()) == "TimeoutError"


def test_pod_failures_reads_init_containers_too():
    new = replicaset(2, "nginx:1.26")
    p = pod("web-h2-a", new, statuses=[container_status(ready=False)])
    p["status"]["initContainerStatuses"] = [container_status("migrate", ready=False, waiting="CrashLoopBackOff", last="Error", exit_code=2)]
    assert [(f["container"], f["reason"], f["exit_code"]) for f in pod_failures([p])] == [("migrate", "CrashLoopBackOff", 2)]


def test_the_records_are_not_changed_by_planning():
    d, _rss, records = three_revisions(annotations={"team": "x"})
    kept = copy.deepcopy(records)
    plan_rollback("Deployment", d, records, to_revision=1)
    assert records == kept
    assert rollout.KINDS == ("Deployment", "StatefulSet", "DaemonSet")
