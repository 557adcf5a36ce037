# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""k8s_workload_scale end to end against an in-memory API: refusals, check mode, writes, undo and waiting.

FakeClient stands in for kubernetes.core's K8SClient (resource, get, patch and the dry_run flag); its
"controllers" make the status follow the spec at once, unless a test holds them back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.modules import k8s_workload_scale
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import CHANGE_ANNOTATION


class ApiError(Exception):
    """What the dynamic client raises: an HTTP status and a Status body."""

    def __init__(self, status, message):
        super().__init__("({0}) {1}".format(status, message))
        self.status = status
        self.body = json.dumps({"kind": "Status", "code": status, "message": message})


class Response:
    def __init__(self, obj):
        self.obj = obj

    def to_dict(self):
        return copy.deepcopy(self.obj)


def merge(target, patch):
    """Merge patch, with containers merged by name as the strategic merge patch does."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif key == "containers" and isinstance(value, list):
            by_name = dict((c["name"], c) for c in target.get(key, []))
            for item in value:
                merge(by_name[item["name"]], item)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeClient:
    def __init__(self, objects, pods=None):
        self.objects = dict(((o["kind"], o["metadata"]["name"]), o) for o in objects)
        self.pods = pods
        self.dry_run = False
        self.patches = []
        self.fail_patch = {}
        self.forbidden = set()
        self.settled = True      # controllers bring the status to the spec at once
        self.on_read = None      # a callable(obj) run on every read of the workload (an HPA acting, say)

    def resource(self, kind, api_version):
        return kind

    def get(self, res, name=None, namespace=None, label_selector=None):
        if res in self.forbidden:
            raise ApiError(403, '{0}s is forbidden: User "sre" cannot list resource'.format(res.lower()))
        if res == "Pod":
            return Response({"items": self.pods if self.pods is not None else self.default_pods()})
        if name is None:
            return Response({"items": [o for key, o in self.objects.items() if key[0] == res]})
        obj = self.objects.get((res, name))
        if obj is None:
            raise ApiError(404, '{0}s "{1}" not found'.format(res.lower(), name))
        if self.on_read:
            self.on_read(obj)
        return Response(obj)

    def patch(self, res, body, name=None, namespace=None, content_type=None, field_manager=None):
        self.patches.append({"kind": res, "name": name, "body": body, "content_type": content_type, "dry_run": self.dry_run,
                             "field_manager": field_manager})
        if res in self.fail_patch:
            raise ApiError(422, self.fail_patch[res])
        obj = self.objects[(res, name)]
        after = merge(copy.deepcopy(obj), body)
        if "spec" in body and res != "HorizontalPodAutoscaler":
            after["metadata"]["generation"] += 1
        if self.dry_run:
            return Response(after)
        if self.settled and res != "HorizontalPodAutoscaler":
            replicas = after["spec"]["replicas"]
            after["status"] = {"observedGeneration": after["metadata"]["generation"], "replicas": replicas, "updatedReplicas": replicas,
                               "readyReplicas": replicas, "availableReplicas": replicas}
        self.objects[(res, name)] = after
        return Response(after)

    def default_pods(self):
        web = self.objects[("Deployment", "web")]
        return [{"metadata": {"name": "web-%d" % n}, "spec": copy.deepcopy(web["spec"]["template"]["spec"]),
                 "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
                for n in range(web["spec"]["replicas"])]


def deployment(replicas=3, annotations=None):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": 1, "annotations": dict(annotations or {})},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "shop:1", "resources": {"requests": {"memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas},
    }


def hpa(minimum=2, maximum=10):
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": minimum, "maxReplicas": maximum}}


@pytest.fixture
def warnings(monkeypatch):
    # Under pytest the controller is loaded, so AnsibleModule.warn() would go to Display: record it instead.
    seen = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: seen.append(warning))
    return seen


@pytest.fixture
def cluster(monkeypatch):
    """cluster(*objects) -> the FakeClient the module will get (dry_run in check mode, as get_client does)."""
    holder = {}

    def connect(module):
        holder["client"].dry_run = module.check_mode
        return holder["client"]

    def make(*objects, **kwargs):
        holder["client"] = FakeClient(list(objects), **kwargs)
        return holder["client"]

    monkeypatch.setattr(k8s_workload_scale, "get_client", connect)
    return make


def args(**values):
    base = {"namespace": "shop", "name": "web", "wait_sleep": 1}
    base.update(values)
    return base


# -- refused before anything -------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, message", [
    (dict(replicas=3, change="+1"), "parameters are mutually exclusive: replicas|change"),
    (dict(), "one of the following is required: replicas, change, resources"),
    (dict(replicas=1), "Failed to scale Deployment shop/web: replicas 1 is below min_replicas 2: the runbooks never scale below 2 replicas"),
    (dict(replicas=80), "Failed to scale Deployment shop/web: replicas 80 is above max_replicas 50"),
    (dict(replicas=-1, min_replicas=0), "Failed to scale Deployment shop/web: replicas must be 0 or more, got -1"),
    (dict(change="+1", min_replicas=5, max_replicas=3), "Failed to scale Deployment shop/web: min_replicas (5) is greater than max_replicas (3)"),
    (dict(change="2x"), "Failed to scale Deployment shop/web: change '2x' is not a relative change"),
    (dict(change=2), "Failed to scale Deployment shop/web: change '2' has no sign"),
    (dict(change="x0"), "the factor must be greater than 0"),
    (dict(resources={"app": {"limits": {"memory": "1GB"}}}), "resources.app.limits.memory: '1GB' is not a Kubernetes quantity"),
    (dict(replicas=3, wait_timeout=-5, wait_sleep=0), "wait_timeout must be 0 or more seconds, got -5; wait_sleep must be 1 or more seconds, got 0"),
    (dict(replicas=3, hpa_policy="override"), "value of hpa_policy must be one of: adjust, refuse, ignore, got: override"),
])
def test_bad_input_is_refused_before_connecting(run_module, monkeypatch, values, message):
    monkeypatch.setattr(k8s_workload_scale, "get_client", lambda module: pytest.fail("connected despite bad input"))
    outcome = run_module(k8s_workload_scale.main, args(**values))
    assert outcome.rc == 1
    assert message in outcome.result["msg"]
    assert not outcome.result.get("changed")


def test_refusals_after_reading_write_nothing(run_module, cluster):
    client = cluster(deployment(3), hpa())
    outcome = run_module(k8s_workload_scale.main, args(resources={"api": {"limits": {"memory": "1Gi"}}}, replicas=4))
    assert outcome.result["msg"] == "Failed to change the resources of Deployment shop/web: Deployment shop/web has no container api (its containers: app)"
    outcome = run_module(k8s_workload_scale.main, args(replicas=4, hpa_policy="refuse"))
    assert outcome.result["msg"].startswith("Failed to scale Deployment shop/web: HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 10) targets")
    assert client.patches == []


def test_a_missing_workload_is_named(run_module, cluster):
    cluster()
    outcome = run_module(k8s_workload_scale.main, args(replicas=3))
    assert outcome.result["msg"] == "Failed to scale Deployment shop/web: it does not exist"


def test_hpas_that_cannot_be_listed_stop_the_scale_unless_ignored(run_module, cluster, warnings):
    client = cluster(deployment(3))
    client.forbidden.add("HorizontalPodAutoscaler")
    outcome = run_module(k8s_workload_scale.main, args(replicas=4))
    assert outcome.result["msg"].startswith('Failed to list HorizontalPodAutoscalers of namespace shop: horizontalpodautoscalers is forbidden')
    assert "does not scale blind" in outcome.result["msg"]
    assert client.patches == []
    outcome = run_module(k8s_workload_scale.main, args(replicas=4, hpa_policy="ignore"))
    assert outcome.rc == 0 and outcome.result["replicas_after"] == 4
    assert warnings[0].startswith("Could not list the HorizontalPodAutoscalers of namespace shop")


# -- check mode, real run, second run ----------------------------------------------------------------------------


def test_check_mode_dry_runs_and_changes_nothing(run_module, cluster):
    client = cluster(deployment(3), hpa())
    outcome = run_module(k8s_workload_scale.main, args(replicas=8, _ansible_check_mode=True, _ansible_diff=True))
    result = outcome.result
    assert outcome.rc == 0 and result["changed"] is True
    assert result["actions"] == ["set minReplicas of HorizontalPodAutoscaler shop/web from 2 to 8", "scale Deployment shop/web from 3 to 8 replicas"]
    assert (result["replicas_before"], result["replicas_after"], result["ready_replicas"]) == (3, 8, 3)
    assert result["hpa"] == {"name": "web", "policy": "adjust", "min_replicas_before": 2, "min_replicas_after": 8,
                             "max_replicas_before": 10, "max_replicas_after": 10}
    assert result["diff"] == {"before": {"replicas": 3, "hpa": {"name": "web", "minReplicas": 2, "maxReplicas": 10}},
                              "after": {"replicas": 8, "hpa": {"name": "web", "minReplicas": 8, "maxReplicas": 10}}}
    assert [p["dry_run"] for p in client.patches] == [True, True]
    assert client.objects[("Deployment", "web")]["spec"]["replicas"] == 3
    assert client.objects[("HorizontalPodAutoscaler", "web")]["spec"]["minReplicas"] == 2


def test_scale_then_second_run_changes_nothing(run_module, cluster):
    client = cluster(deployment(3))
    first = run_module(k8s_workload_scale.main, args(replicas=5)).result
    assert first["changed"] is True and first["replicas_after"] == 5 and first["ready_replicas"] == 5
    assert "diff" not in first
    assert client.patches == [{"kind": "Deployment", "name": "web", "body": {"spec": {"replicas": 5}}, "dry_run": False,
                               "content_type": "application/strategic-merge-patch+json", "field_manager": "sre.runbooks"}]
    second = run_module(k8s_workload_scale.main, args(replicas=5)).result
    assert second["changed"] is False and second["actions"] == []
    assert len(client.patches) == 1


def test_relative_change_is_applied_once(run_module, cluster):
    client = cluster(deployment(3))
    first = run_module(k8s_workload_scale.main, args(change="+2")).result
    assert first["changed"] is True and first["replicas_after"] == 5
    assert json.loads(client.objects[("Deployment", "web")]["metadata"]["annotations"][CHANGE_ANNOTATION])["to"] == 5
    second = run_module(k8s_workload_scale.main, args(change="+2")).result
    assert second["changed"] is False and second["replicas_after"] == 5


def test_clamped_change_is_reported(run_module, cluster, warnings):
    cluster(deployment(8))
    result = run_module(k8s_workload_scale.main, args(change="x2", max_replicas=12)).result
    assert (result["replicas_requested"], result["replicas_after"], result["clamped"]) == (16, 12, True)
    assert warnings == ["change x2 from 8 replicas asks for 16; clamped to 12 (max_replicas 12)"]


def test_resources_are_patched_and_checked_on_the_new_pods(run_module, cluster):
    client = cluster(deployment(3))
    result = run_module(k8s_workload_scale.main, args(resources={"app": {"limits": {"memory": "512Mi"}}})).result
    assert result["changed"] is True
    assert result["resources_before"] == {"app": {"limits": {"memory": "256Mi"}}}
    assert result["resources_after"] == {"app": {"limits": {"memory": "512Mi"}}}
    assert client.patches[0]["body"] == {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]}}}}
    again = run_module(k8s_workload_scale.main, args(resources={"app": {"limits": {"memory": "0.5Gi"}}})).result
    assert again["changed"] is False and len(client.patches) == 1


def test_pods_without_the_new_resources_fail_the_check(run_module, cluster):
    old_pod = {"metadata": {"name": "web-old"}, "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]},
               "status": {"phase": "Running"}}
    cluster(deployment(3), pods=[old_pod])
    outcome = run_module(k8s_workload_scale.main, args(resources={"app": {"limits": {"memory": "512Mi"}}}))
    assert outcome.result["msg"] == ("Failed to verify the new pods of Deployment shop/web: "
                                     "pod web-old container app has limits.memory 256Mi, not 512Mi")
    assert outcome.result["changed"] is True
    assert outcome.result["actions"] == ["set limits.memory of container app in Deployment shop/web from 256Mi to 512Mi"]


# -- failures after a write --------------------------------------------------------------------------------------


def test_the_hpa_is_set_back_when_the_workload_patch_fails(run_module, cluster):
    client = cluster(deployment(3), hpa())
    client.fail_patch["Deployment"] = 'admission webhook "quota.example.com" denied the request: replicas above quota'
    outcome = run_module(k8s_workload_scale.main, args(replicas=8))
    assert outcome.result["msg"] == ('Failed to patch Deployment shop/web: admission webhook "quota.example.com" denied the request: '
                                     'replicas above quota; HorizontalPodAutoscaler shop/web was set back to minReplicas 2, maxReplicas 10')
    assert client.objects[("HorizontalPodAutoscaler", "web")]["spec"]["minReplicas"] == 2
    assert outcome.result["changed"] is False


def test_a_wait_that_times_out_names_the_pods_reasons_and_what_was_done(run_module, cluster):
    pending = {"metadata": {"name": "web-new"}, "spec": {"containers": []}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]}}
    client = cluster(deployment(3), pods=[pending])
    client.settled = False
    outcome = run_module(k8s_workload_scale.main, args(replicas=5, wait_timeout=0))
    assert outcome.result["msg"] == ("Failed to wait for Deployment shop/web: the Deployment controller has not seen the change yet "
                                     "(5 wanted: 3 updated, 3 ready, 3 available) after waiting 0 s. "
                                     "pod web-new: Pending, Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.")
    assert outcome.result["changed"] is True
    assert outcome.result["actions"] == ["scale Deployment shop/web from 3 to 5 replicas"]
    assert outcome.result["error"]["details"]["status"]["readyReplicas"] == 3


def test_an_hpa_taking_the_count_back_during_the_wait_fails(run_module, cluster, warnings):
    client = cluster(deployment(3), hpa())

    def hpa_acts(obj):
        # The HPA sets the count back as soon as the module has written its own.
        if client.patches:
            obj["spec"]["replicas"] = 3

    client.on_read = hpa_acts
    outcome = run_module(k8s_workload_scale.main, args(replicas=12, hpa_policy="ignore"))
    assert outcome.result["msg"] == ("Failed to hold the replica count of Deployment shop/web: spec.replicas is now 3, not the 12 it was "
                                     "scaled to: HorizontalPodAutoscaler web sets it (hpa_policy=ignore)")
    assert outcome.result["changed"] is True
    assert "it will set the replica count back from 12" in warnings[0]


def test_no_wait_reads_back_and_returns(run_module, cluster):
    client = cluster(deployment(3))
    client.settled = False
    result = run_module(k8s_workload_scale.main, args(replicas=6, wait=False)).result
    assert result["changed"] is True and result["replicas_after"] == 6 and result["ready_replicas"] == 3


def test_an_adjusted_hpa_may_add_replicas_above_its_new_floor(run_module, cluster):
    client = cluster(deployment(3), hpa())

    def hpa_scales_up_under_load(obj):
        if client.patches:
            obj["spec"]["replicas"] = 8
            obj["status"].update(replicas=8, updatedReplicas=8, readyReplicas=8, availableReplicas=8)

    client.on_read = hpa_scales_up_under_load
    result = run_module(k8s_workload_scale.main, args(replicas=6)).result
    assert result["changed"] is True
    assert (result["replicas_requested"], result["replicas_after"], result["ready_replicas"]) == (6, 8, 8)
    assert result["hpa"]["min_replicas_after"] == 6
