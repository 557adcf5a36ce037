# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The DeploymentConfig (apps.openshift.io/v1) part of the rollout layer, on objects shaped as OpenShift serves them."""

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
    COMPLETE,
    DEPLOYMENT_CONFIG,
    DEPLOYMENT_CONFIG_FAILED,
    FAILED,
    JSON_PATCH,
    PROGRESSING,
    ROLLED_BACK_FROM,
    ROLLED_BACK_TO,
    build_history,
    choose_target,
    current_revision,
    deploymentconfig_history,
    evaluate_rollout,
    instantiate_deploymentconfig,
    plan_restart,
    plan_rollback,
    pod_revisions,
    public_history,
    revision_of_pod,
    rollback_is_latest,
    version_template,
)

NS = "shop"
UTC = datetime.timezone.utc
DC_UID = "dc-uid"
IMAGE_TRIGGER = {"type": "ImageChange", "imageChangeParams": {
    "automatic": True, "containerNames": ["web"], "from": {"kind": "ImageStreamTag", "name": "web:latest", "namespace": NS}}}


def template(image):
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "IfNotPresent"}], "restartPolicy": "Always"}}


def dc(image="nginx:1.25", latest=2, triggers=None, paused=False, generation=2, observed=None, annotations=None, replicas=3):
    return {
        "apiVersion": "apps.openshift.io/v1", "kind": DEPLOYMENT_CONFIG,
        "metadata": {"name": "web", "namespace": NS, "uid": DC_UID, "generation": generation, "annotations": dict(annotations or {})},
        "spec": {"replicas": replicas, "selector": {"app": "web"}, "paused": paused, "template": template(image),
                 "triggers": copy.deepcopy([{"type": "ConfigChange"}] if triggers is None else triggers)},
        "status": {"latestVersion": latest, "observedGeneration": generation if observed is None else observed},
    }


def rc(version, image, phase="Complete", replicas=0, available=None, cause="config change", extra=None, created=None):
    """ReplicationController web-<version> as the DeploymentConfig controller writes it."""
    encoded = {"kind": DEPLOYMENT_CONFIG, "metadata": {"name": "web"}, "spec": {"template": template(image)},
               "status": {"latestVersion": version, "details": {"message": cause}}}
    annotations = {
        "openshift.io/deployment-config.name": "web",
        "openshift.io/deployment-config.latest-version": str(version),
        "openshift.io/deployment.phase": phase,
        "openshift.io/encoded-deployment-config": json.dumps(encoded),
        "openshift.io/deployment.status-reason": cause,
    }
    annotations.update(extra or {})
    pod_template = template(image)
    pod_template["metadata"]["labels"].update(deploymentconfig="web", deployment="web-%d" % version)
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web-%d" % version, "namespace": NS, "uid": "rc-%d" % version, "annotations": annotations,
                     "creationTimestamp": created or "2026-01-03T10:0%d:00Z" % version,
                     "ownerReferences": [{"kind": DEPLOYMENT_CONFIG, "name": "web", "uid": DC_UID, "controller": True}]},
        "spec": {"replicas": replicas, "template": pod_template},
        "status": {"replicas": replicas, "availableReplicas": replicas if available is None else available},
    }


def pod(name, owner, ready=True, waiting=None):
    status = {"name": "web", "ready": ready, "restartCount": 4 if waiting else 0,
              "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}
    if waiting == "CrashLoopBackOff":
        status["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1}}
    return {"metadata": {"name": name, "namespace": NS, "uid": name,
                         "ownerReferences": [{"kind": "ReplicationController", "name": owner["metadata"]["name"],
                                              "uid": owner["metadata"]["uid"], "controller": True}]},
            "status": {"phase": "Running", "containerStatuses": [status]}}


def bad_release(triggers=None):
    """Version 1 nginx:1.25 complete, version 2 a crash-looping nginx:1.26 still running."""
    rcs = [rc(1, "nginx:1.25", replicas=3), rc(2, "nginx:1.26", phase="Running", replicas=1, available=0)]
    workload = dc("nginx:1.26", latest=2, triggers=triggers)
    return workload, rcs, build_history(DEPLOYMENT_CONFIG, workload, rcs)


# -- history ------------------------------------------------------------------------------------------------

def test_history_comes_from_the_versions_with_phase_and_cause():
    workload, rcs, records = bad_release()
    assert [(r["revision"], r["name"], r["images"], r["phase"], r["change_cause"]) for r in records] == [
        (1, "web-1", {"web": "nginx:1.25"}, "Complete", "config change"),
        (2, "web-2", {"web": "nginx:1.26"}, "Running", "config change")]
    assert current_revision(workload, records) == 2
    public = public_history(records, 2)
    assert public[1] == dict(revision=2, former_revisions=[], name="web-2", created="2026-01-03T10:02:00Z", change_cause="config change",
                             images={"web": "nginx:1.26"}, current=True, phase="Running", status_reason="config change")


def test_history_leaves_out_foreign_and_unnumbered_replication_controllers():
    workload, rcs, _records = bad_release()
    other = rc(3, "nginx:1.27")
    other["metadata"]["ownerReferences"][0]["uid"] = "another-dc"
    unnumbered = rc(4, "nginx:1.27")
    del unnumbered["metadata"]["annotations"]["openshift.io/deployment-config.latest-version"]
    assert [r["revision"] for r in deploymentconfig_history(workload, rcs + [other, unnumbered])] == [1, 2]


def test_a_change_cause_annotation_wins_over_the_details_message():
    records = deploymentconfig_history(dc(), [rc(1, "nginx:1.25", extra={CHANGE_CAUSE: "deploy 1.25"})])
    assert records[0]["change_cause"] == "deploy 1.25"


def test_version_template_without_the_encoded_config_drops_what_the_controller_added():
    version = rc(1, "nginx:1.25")
    del version["metadata"]["annotations"]["openshift.io/encoded-deployment-config"]
    assert version_template(version) == template("nginx:1.25")


def test_a_template_change_not_yet_deployed_is_the_latest_version():
    workload = dc("nginx:1.27", latest=2)
    _dc, rcs, _records = bad_release()
    assert current_revision(workload, build_history(DEPLOYMENT_CONFIG, workload, rcs)) == 2


# -- rollback -----------------------------------------------------------------------------------------------

def test_undo_goes_to_the_last_complete_version_and_turns_image_triggers_off():
    workload, _rcs, records = bad_release(triggers=[{"type": "ConfigChange"}, IMAGE_TRIGGER])
    plan = plan_rollback(DEPLOYMENT_CONFIG, workload, records)
    assert plan["changed"] is True
    assert (plan["from_revision"], plan["to_revision"], plan["images_after"]) == (2, 1, {"web": "nginx:1.25"})
    assert plan["image_triggers_disabled"] == ["ImageStreamTag shop/web:latest for containers web"]
    assert plan["actions"] == [
        "roll back deploymentconfig shop/web from revision 2 (nginx:1.26) to revision 1 (nginx:1.25)",
        "disable the automatic ImageChange trigger ImageStreamTag shop/web:latest for containers web of deploymentconfig shop/web, "
        "as oc rollout undo does (turn it back on with oc set triggers --auto)"]
    assert "instantiate" not in plan
    assert plan["patch_type"] == JSON_PATCH
    assert plan["patch"] == [
        {"op": "replace", "path": "/spec/template", "value": template("nginx:1.25")},
        {"op": "add", "path": "/metadata/annotations", "value": {ROLLED_BACK_FROM: "2", ROLLED_BACK_TO: "1"}},
        {"op": "replace", "path": "/spec/triggers/1/imageChangeParams/automatic", "value": False},
    ]


def test_undo_never_goes_back_to_a_version_that_did_not_complete():
    rcs = [rc(1, "nginx:1.24"), rc(2, "nginx:1.25", phase="Failed"), rc(3, "nginx:1.26", phase="Running", replicas=1)]
    workload = dc("nginx:1.26", latest=3)
    records = build_history(DEPLOYMENT_CONFIG, workload, rcs)
    assert plan_rollback(DEPLOYMENT_CONFIG, workload, records)["to_revision"] == 1
    # Named, a failed version is a target all the same.
    assert plan_rollback(DEPLOYMENT_CONFIG, workload, records, to_revision=2)["images_after"] == {"web": "nginx:1.25"}


def test_undo_without_a_completed_older_version_is_refused():
    rcs = [rc(1, "nginx:1.25", phase="Failed"), rc(2, "nginx:1.26", phase="Running")]
    workload = dc("nginx:1.26", latest=2)
    with pytest.raises(RunbookError) as error:
        plan_rollback(DEPLOYMENT_CONFIG, workload, build_history(DEPLOYMENT_CONFIG, workload, rcs))
    assert "there is no completed version older than the current version 2" in str(error.value)
    assert "1 (nginx:1.25, Failed), 2 (nginx:1.26, Running)" in str(error.value)


def test_unknown_version_is_refused_naming_the_versions():
    workload, _rcs, records = bad_release()
    with pytest.raises(RunbookError) as error:
        plan_rollback(DEPLOYMENT_CONFIG, workload, records, to_revision=9)
    assert str(error.value) == ("Failed to roll back deploymentconfig shop/web: revision 9 not found; "
                                "available revisions: 1 (nginx:1.25, Complete), 2 (nginx:1.26, Running)")


def rolled_back():
    """After the rollback: version 3 (nginx:1.25, complete) made from the patched DeploymentConfig."""
    rcs = [rc(1, "nginx:1.25"), rc(2, "nginx:1.26", phase="Running"), rc(3, "nginx:1.25", replicas=3)]
    workload = dc("nginx:1.25", latest=3, annotations={ROLLED_BACK_FROM: "2", ROLLED_BACK_TO: "1"},
                  triggers=[{"type": "ConfigChange"}, dict(IMAGE_TRIGGER, imageChangeParams=dict(IMAGE_TRIGGER["imageChangeParams"], automatic=False))])
    return workload, build_history(DEPLOYMENT_CONFIG, workload, rcs)


def test_a_second_undo_with_the_same_target_changes_nothing():
    workload, records = rolled_back()
    assert current_revision(workload, records) == 3
    assert rollback_is_latest(workload, records) is True
    for options in ({}, {"to_revision": 1}, {"image": "nginx:1.25"}):
        plan = plan_rollback(DEPLOYMENT_CONFIG, workload, records, **options)
        assert (plan["changed"], plan["actions"], plan["patch"], plan["image_triggers_disabled"]) == (False, [], None, []), options


def test_undo_after_a_new_version_goes_back_again():
    workload, records = rolled_back()
    rcs = [rc(1, "nginx:1.25"), rc(2, "nginx:1.26", phase="Running"), rc(3, "nginx:1.25"), rc(4, "nginx:1.27", replicas=3)]
    workload = dict(workload, spec=dict(workload["spec"], template=template("nginx:1.27")), status={"latestVersion": 4, "observedGeneration": 2})
    records = build_history(DEPLOYMENT_CONFIG, workload, rcs)
    assert choose_target(workload, records)["target"]["revision"] == 3


def test_undo_of_a_dc_without_config_change_trigger_also_deploys_the_template():
    workload, _rcs, records = bad_release(triggers=[])
    plan = plan_rollback(DEPLOYMENT_CONFIG, workload, records)
    assert plan["instantiate"] is True
    assert plan["actions"][-1] == "deploy the rolled back template of deploymentconfig shop/web as a new version (it has no ConfigChange trigger)"


def test_a_paused_dc_is_refused_unless_resumed():
    workload, _rcs, records = bad_release()
    workload["spec"]["paused"] = True
    with pytest.raises(RunbookError) as error:
        plan_rollback(DEPLOYMENT_CONFIG, workload, records)
    assert "a paused DeploymentConfig does not deploy a new version" in str(error.value)
    plan = plan_rollback(DEPLOYMENT_CONFIG, workload, records, resume=True)
    assert plan["actions"][0] == "resume deploymentconfig shop/web"
    assert plan["patch"][-1] == {"op": "replace", "path": "/spec/paused", "value": False}


# -- restart (oc rollout latest) ----------------------------------------------------------------------------

NOW = datetime.datetime(2026, 1, 3, 11, 0, 0, tzinfo=UTC)


def test_restart_plans_a_new_version_of_the_same_template():
    workload = dc("nginx:1.25", latest=1)
    records = build_history(DEPLOYMENT_CONFIG, workload, [rc(1, "nginx:1.25", replicas=3)])
    plan = plan_restart(DEPLOYMENT_CONFIG, workload, records, NOW)
    assert plan["changed"] is True and plan["instantiate"] is True and plan["patch"] is None
    assert plan["actions"] == ["restart deploymentconfig shop/web: deploy version 2 of its current template, as oc rollout latest does"]
    assert plan["restarted_at"] == "2026-01-03T11:00:00Z"


def test_restart_after_a_time_the_latest_version_is_newer_than_changes_nothing():
    workload = dc("nginx:1.25", latest=1)
    records = build_history(DEPLOYMENT_CONFIG, workload, [rc(1, "nginx:1.25", created="2026-01-03T10:30:00Z")])
    plan = plan_restart(DEPLOYMENT_CONFIG, workload, records, NOW, restarted_after=datetime.datetime(2026, 1, 3, 10, 30, tzinfo=UTC))
    assert (plan["changed"], plan["instantiate"], plan["actions"], plan["restarted_at"]) == (False, False, [], "2026-01-03T10:30:00Z")
    plan = plan_restart(DEPLOYMENT_CONFIG, workload, records, NOW, restarted_after=datetime.datetime(2026, 1, 3, 10, 31, tzinfo=UTC))
    assert plan["instantiate"] is True


def test_restart_of_a_paused_dc_resumes_it_first():
    workload = dc("nginx:1.25", latest=1, paused=True)
    records = build_history(DEPLOYMENT_CONFIG, workload, [rc(1, "nginx:1.25")])
    with pytest.raises(RunbookError):
        plan_restart(DEPLOYMENT_CONFIG, workload, records, NOW)
    plan = plan_restart(DEPLOYMENT_CONFIG, workload, records, NOW, resume=True)
    assert plan["actions"][0] == "resume deploymentconfig shop/web"
    assert plan["patch"] == {"spec": {"paused": False}} and plan["instantiate"] is True


# -- rollout status (oc rollout status) ---------------------------------------------------------------------

def test_status_complete_when_the_latest_version_is_complete():
    workload = dc(latest=1)
    status = evaluate_rollout(DEPLOYMENT_CONFIG, workload, [rc(1, "nginx:1.25", replicas=3)], [])
    assert (status["state"], status["message"]) == (COMPLETE, 'replication controller "web-1" successfully rolled out')


def test_status_fails_fast_on_crash_looping_pods_of_the_latest_version_only():
    workload, rcs, _records = bad_release()
    old_pod = pod("web-1-aaaaa", rcs[0], waiting="CrashLoopBackOff")
    assert evaluate_rollout(DEPLOYMENT_CONFIG, workload, rcs, [old_pod])["state"] == PROGRESSING
    status = evaluate_rollout(DEPLOYMENT_CONFIG, workload, rcs, [old_pod, pod("web-2-bbbbb", rcs[1], ready=False, waiting="CrashLoopBackOff")])
    assert (status["state"], status["reason"]) == (FAILED, "CrashLoopBackOff")
    assert [f["pod"] for f in status["failures"]] == ["web-2-bbbbb"]


def test_status_fails_on_a_failed_version_with_its_reason():
    cancelled = rc(2, "nginx:1.26", phase="Failed", extra={"openshift.io/deployment.cancelled": "true"}, cause="newer deployment was found running")
    rcs = [rc(1, "nginx:1.25"), cancelled]
    workload = dc("nginx:1.26", latest=2)
    workload["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                         "message": 'replication controller "web-2" has failed progressing'}]
    status = evaluate_rollout(DEPLOYMENT_CONFIG, workload, rcs, [])
    assert (status["state"], status["reason"]) == (FAILED, DEPLOYMENT_CONFIG_FAILED)
    assert status["message"] == ('version 2 of deploymentconfig shop/web (replication controller "web-2") failed: '
                                 'cancelled: newer deployment was found running; replication controller "web-2" has failed progressing')


@pytest.mark.parametrize("workload, rcs, message", [
    (dc(generation=3, observed=2), [], "Waiting for latest deployment config spec to be observed by the controller loop..."),
    (dc(latest=3), [rc(2, "nginx:1.25")], "Waiting for version 3 of deploymentconfig shop/web to be created..."),
    (dc(latest=2), [rc(1, "nginx:1.24", replicas=2), rc(2, "nginx:1.25", phase="Running", replicas=2, available=1)],
     "Waiting for rollout to finish: 2 out of 3 new replicas have been updated..."),
    (dc(latest=2), [rc(1, "nginx:1.24", replicas=1), rc(2, "nginx:1.25", phase="Running", replicas=3)],
     "Waiting for rollout to finish: 1 old replicas are pending termination..."),
    (dc(latest=2), [rc(1, "nginx:1.24"), rc(2, "nginx:1.25", phase="Running", replicas=3, available=2)],
     "Waiting for rollout to finish: 2 of 3 updated replicas are available..."),
])
def test_status_progressing_messages(workload, rcs, message):
    status = evaluate_rollout(DEPLOYMENT_CONFIG, workload, rcs, [])
    assert (status["state"], status["message"]) == (PROGRESSING, message)


def test_pods_belong_to_the_version_of_their_replication_controller():
    workload, rcs, records = bad_release()
    revisions = pod_revisions(DEPLOYMENT_CONFIG, workload, rcs, records)
    assert revision_of_pod(DEPLOYMENT_CONFIG, pod("web-2-bbbbb", rcs[1]), revisions) == 2
    assert rollout.is_own_pod_name(DEPLOYMENT_CONFIG, workload, rcs, "web-1-zzzzz") is True
    assert rollout.is_own_pod_name(DEPLOYMENT_CONFIG, workload, rcs, "webby-1-zzzzz") is False


# -- instantiate, with the fallback of oc rollout latest --------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status):
        super().__init__("status %d" % status)
        self.status = status
        self.body = json.dumps({"message": "instantiate answered %d" % status})


class Subresource(object):
    def __init__(self, error=None):
        self.error = error
        self.created = []

    def create(self, body=None, name=None, namespace=None):
        self.created.append((body, name, namespace))
        if self.error:
            raise self.error
        return {"status": {"latestVersion": 3}}


class Resource(object):
    def __init__(self, instantiate):
        self.subresources = {"instantiate": instantiate, "status": "status-subresource"}


class Dynamic(object):
    def __init__(self):
        self.patches = []

    def patch(self, resource, body, name=None, namespace=None, content_type=None):
        self.patches.append((resource, body, name, namespace, content_type))
        return {"status": {"latestVersion": 3}}


class Client(object):
    def __init__(self, instantiate):
        self.res = Resource(instantiate)
        self.client = Dynamic()

    def resource(self, kind, api_version):
        assert (kind, api_version) == (DEPLOYMENT_CONFIG, "apps.openshift.io/v1")
        return self.res


def test_instantiate_posts_a_deployment_request():
    client = Client(Subresource())
    assert instantiate_deploymentconfig(client, dc(latest=2)) == {"status": {"latestVersion": 3}}
    assert client.res.subresources["instantiate"].created == [(
        {"kind": "DeploymentRequest", "apiVersion": "apps.openshift.io/v1", "latest": True, "force": True, "name": "web"}, "web", NS)]
    assert client.client.patches == []


def test_without_instantiate_the_latest_version_is_raised_in_status():
    client = Client(Subresource(ApiError(400)))
    instantiate_deploymentconfig(client, dc(latest=2))
    assert client.client.patches == [("status-subresource", [
        {"op": "test", "path": "/status/latestVersion", "value": 2},
        {"op": "replace", "path": "/status/latestVersion", "value": 3},
        {"op": "add", "path": "/status/details", "value": {"message": "manual change", "causes": [{"type": "Manual"}]}},
    ], "web", NS, JSON_PATCH)]


def test_other_instantiate_errors_fail_naming_the_dc():
    client = Client(Subresource(ApiError(500)))
    with pytest.raises(RunbookError) as error:
        instantiate_deploymentconfig(client, dc(latest=2))
    assert str(error.value) == "Failed to deploy a new version of deploymentconfig shop/web: instantiate answered 500 (500)"
    assert client.client.patches == []
