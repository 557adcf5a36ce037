# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Guarded scaling of OpenShift DeploymentConfigs (apps.openshift.io/v1): the pure part."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import api_version_of
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import (
    hpas_targeting,
    plan_scale,
    pod_selector,
    rollout_blocked,
    rollout_status,
)


def dc(replicas=3, paused=False, triggers=None, status=None, generation=2):
    return {
        "apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
        "metadata": {"name": "web", "namespace": "shop", "generation": generation},
        "spec": {"replicas": replicas, "paused": paused, "selector": {"app": "web", "tier": "front"},
                 "triggers": [{"type": "ConfigChange"}] if triggers is None else triggers,
                 "template": {"metadata": {"labels": {"app": "web", "tier": "front"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                                                       "resources": {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}}}]}}},
        "status": dict({"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                        "readyReplicas": replicas, "availableReplicas": replicas}, **(status or {})),
    }


def hpa(api_version, kind="DeploymentConfig", name="web"):
    ref = {"kind": kind, "name": name}
    if api_version is not None:
        ref["apiVersion"] = api_version
    return {"metadata": {"name": "hpa-%s" % (api_version or "none"), "namespace": "shop"}, "spec": {"scaleTargetRef": ref, "minReplicas": 2, "maxReplicas": 10}}


def request(**values):
    base = {"replicas": None, "change": None, "min_replicas": 2, "max_replicas": 50, "hpa_policy": "adjust", "resources": None}
    base.update(values)
    return base


def test_the_api_of_a_dc_is_apps_openshift_io():
    assert api_version_of("DeploymentConfig") == "apps.openshift.io/v1"
    assert api_version_of("Deployment") == "apps/v1"


def test_the_pod_selector_of_a_dc_is_its_plain_map():
    assert pod_selector(dc()) == "app=web,tier=front"
    deployment = {"kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    assert pod_selector(deployment) == "app=web"


def test_an_hpa_targets_a_dc_through_apps_openshift_io():
    ours, unversioned = hpa("apps.openshift.io/v1"), hpa(None)
    others = [hpa("apps/v1"), hpa("apps.openshift.io/v1", kind="Deployment"), hpa("apps.openshift.io/v1", name="api")]
    assert hpas_targeting([ours, unversioned] + others, "DeploymentConfig", "web") == [ours, unversioned]
    # A Deployment's HPA never matches a DC of the same name, nor the other way round.
    assert hpas_targeting([ours, unversioned], "Deployment", "web") == []


def test_plan_scales_the_dc_and_moves_its_hpa():
    plan = plan_scale(dc(), [hpa("apps.openshift.io/v1")], request(replicas=5))
    assert plan["workload_patch"] == {"spec": {"replicas": 5}}
    assert plan["hpa_patch"] == {"spec": {"minReplicas": 5}}
    assert plan["actions"] == ["set minReplicas of HorizontalPodAutoscaler shop/hpa-apps.openshift.io/v1 from 2 to 5",
                               "scale DeploymentConfig shop/web from 3 to 5 replicas"]


def test_the_minimum_guard_holds_for_a_dc():
    with pytest.raises(RunbookError) as error:
        plan_scale(dc(), [], request(replicas=1))
    assert str(error.value).startswith("Failed to scale DeploymentConfig shop/web: replicas 1 is below min_replicas 2")


def test_resources_of_a_dc_roll_out_through_its_config_change_trigger():
    plan = plan_scale(dc(), [], request(resources={"web": {"limits": {"memory": "512Mi"}}}))
    assert plan["workload_patch"] == {"spec": {"template": {"spec": {"containers": [{"name": "web", "resources": {"limits": {"memory": "512Mi"}}}]}}}}


@pytest.mark.parametrize("workload, words", [
    (dc(paused=True), "the DeploymentConfig is paused"),
    (dc(triggers=[]), "the DeploymentConfig has no ConfigChange trigger"),
])
def test_resources_of_a_dc_that_would_not_deploy_them_are_refused(workload, words):
    assert words in rollout_blocked(workload)
    with pytest.raises(RunbookError) as error:
        plan_scale(workload, [], request(resources={"web": {"limits": {"memory": "512Mi"}}}))
    assert words in str(error.value)


def test_rollout_status_of_a_dc():
    assert rollout_status(dc())[0] is True
    done, message, hopeless = rollout_status(dc(replicas=5, status={"replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}))
    assert (done, hopeless) == (False, False) and message.startswith("3 of 5 replicas updated")
    failed = dc(status={"availableReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": 'replication controller "web-2" has failed progressing'}]})
    done, message, hopeless = rollout_status(failed)
    assert (done, hopeless) == (False, True)
    assert message.startswith('the rollout exceeded its progress deadline: replication controller "web-2" has failed progressing')
