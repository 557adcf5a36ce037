# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pure rules of guarded scaling: quantities, changes, the guard, HPAs, resources, plans and waiting."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
from decimal import Decimal

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import (
    CHANGE_ANNOTATION,
    DEFAULT_MAX_REPLICAS,
    DEFAULT_MIN_REPLICAS,
    Change,
    apply_change,
    desired_replicas,
    guard_problems,
    hpas_targeting,
    parse_change,
    parse_quantity,
    plan_hpa,
    plan_resources,
    plan_scale,
    pod_problems,
    pods_missing_resources,
    resources_problems,
    rollout_status,
)

# -- quantities --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("512Mi", 512 * 2 ** 20),
    ("1Gi", 2 ** 30),
    ("0.5Gi", 2 ** 29),
    ("1.5Ki", 1536),
    ("2Ei", 2 * 2 ** 60),
    ("250m", Decimal("0.25")),
    ("100n", Decimal("0.0000001")),
    ("5u", Decimal("0.000005")),
    ("2", 2),
    ("0.5", Decimal("0.5")),
    (".5", Decimal("0.5")),
    ("1.", 1),
    ("+3", 3),
    ("-1", -1),
    ("1k", 1000),
    ("128M", 128 * 10 ** 6),
    ("1G", 10 ** 9),
    ("1T", 10 ** 12),
    ("1P", 10 ** 15),
    ("1E", 10 ** 18),
    ("1E3", 1000),
    ("1e3", 1000),
    ("1.5e-3", Decimal("0.0015")),
    (" 64Mi ", 64 * 2 ** 20),
    (2, 2),
    (0.25, Decimal("0.25")),
])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1GB", "Mi", "", "1.2.3", "1e", "--1", "1 Mi", "mi", "512mi", "1Kb", "0x10", None, True, "1e1.5"])
def test_parse_quantity_refuses_what_is_not_a_quantity(text):
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_quantities_compare_across_suffixes():
    assert parse_quantity("0.5Gi") == parse_quantity("512Mi")
    assert parse_quantity("1") == parse_quantity("1000m")
    assert parse_quantity("1M") < parse_quantity("1Mi")


# -- relative changes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, kind, amount, canonical", [
    ("+2", "add", 2, "+2"),
    ("-1", "add", -1, "-1"),
    (" + 3 ", "add", 3, "+3"),
    ("+0", "add", 0, "+0"),
    ("x1.5", "factor", Decimal("1.5"), "x1.5"),
    ("X2", "factor", Decimal("2"), "x2"),
    ("*2", "factor", Decimal("2"), "x2"),
    ("*2.0", "factor", Decimal("2"), "x2"),
    ("x0.5", "factor", Decimal("0.5"), "x0.5"),
    ("x.5", "factor", Decimal("0.5"), "x0.5"),
])
def test_parse_change(text, kind, amount, canonical):
    change = parse_change(text)
    assert change == Change(kind, amount)
    assert change.text == canonical


@pytest.mark.parametrize("text", ["", "two", "+", "x", "+2.5", "x-2", "++2", "/2", "2x", "+2 replicas", None])
def test_parse_change_names_the_accepted_forms(text):
    with pytest.raises(ValueError) as info:
        parse_change(text)
    assert 'use "+N" (add N replicas), "-N" (remove N) or "xF" / "*F" (multiply by F, rounded up)' in str(info.value)


def test_an_unsigned_change_is_refused_with_the_yaml_trap_explained():
    with pytest.raises(ValueError) as info:
        parse_change("2")
    assert str(info.value) == ("change '2' has no sign: write \"+2\" in quotes (YAML reads an unquoted +2 as the number 2), "
                               "\"-2\", or use replicas for an absolute count")


@pytest.mark.parametrize("text", ["x0", "*0.0"])
def test_a_factor_of_zero_is_refused(text):
    with pytest.raises(ValueError, match="the factor must be greater than 0"):
        parse_change(text)


@pytest.mark.parametrize("current, text, result", [
    (3, "+2", 5),
    (3, "-1", 2),
    (3, "x1.5", 5),   # 4.5 rounds up
    (4, "x1.5", 6),
    (5, "x0.5", 3),   # 2.5 rounds up
    (3, "x2", 6),
    (7, "x1.1", 8),   # 7.7 -> 8; exact decimals, no float noise
    (10, "x1.1", 11),
    (0, "x2", 0),
])
def test_apply_change_rounds_factors_up(current, text, result):
    assert apply_change(current, parse_change(text)) == result


# -- the guard ---------------------------------------------------------------------------------------------------


def test_defaults_come_from_the_runbooks():
    assert DEFAULT_MIN_REPLICAS == 2
    assert DEFAULT_MAX_REPLICAS == 50


def test_guard_problems():
    assert guard_problems(5, 2, 50) == []
    assert guard_problems(None, 0, 1) == []
    assert guard_problems(0, 0, 10) == []
    assert guard_problems(3, 5, 4) == ["min_replicas (5) is greater than max_replicas (4)"]
    assert guard_problems(-1, -2, 0) == [
        "min_replicas must be 0 or more, got -2",
        "max_replicas must be 1 or more, got 0",
        "replicas must be 0 or more, got -1",
    ]
    below = guard_problems(1, 2, 50)
    assert below == ["replicas 1 is below min_replicas 2: the runbooks never scale below 2 replicas, for availability. "
                     "Set min_replicas to go lower on purpose (min_replicas: 0 to stop the workload)"]
    assert guard_problems(60, 2, 50) == ["replicas 60 is above max_replicas 50: raise max_replicas if that many are really wanted"]


def test_absolute_replicas_are_refused_outside_the_guard_never_clamped():
    assert desired_replicas(3, replicas=5) == (5, 5, False)
    assert desired_replicas(3, replicas=2) == (2, 2, False)
    assert desired_replicas(3, replicas=0, min_replicas=0) == (0, 0, False)
    with pytest.raises(ValueError, match="replicas 1 is below min_replicas 2"):
        desired_replicas(3, replicas=1)
    with pytest.raises(ValueError, match="replicas 51 is above max_replicas 50"):
        desired_replicas(3, replicas=51)


@pytest.mark.parametrize("current, text, bounds, expected", [
    (3, "+2", (2, 50), (5, 5, False)),
    (3, "x2", (2, 50), (6, 6, False)),
    (3, "-1", (2, 50), (2, 2, False)),
    (3, "-2", (2, 50), (1, 2, True)),     # clamped up to the minimum
    (8, "+4", (2, 10), (12, 10, True)),   # clamped down to the cap
    (30, "x2", (2, 50), (60, 50, True)),
    (2, "-1", (2, 50), (1, 2, True)),     # already at the minimum: no change, reported as clamped
    (1, "-1", (2, 50), (0, 1, True)),     # below the minimum already: a decrease must not become an increase
    (1, "+3", (2, 50), (4, 4, False)),    # ... but an increase from there is fine
    (60, "+1", (2, 50), (61, 60, True)),  # above the cap already: an increase must not become a decrease
    (60, "-5", (2, 50), (55, 50, True)),  # a decrease from there is clamped to the cap
])
def test_relative_changes_are_clamped_never_reversed(current, text, bounds, expected):
    assert desired_replicas(current, change=parse_change(text), min_replicas=bounds[0], max_replicas=bounds[1]) == expected


def test_exactly_one_of_replicas_and_change():
    with pytest.raises(ValueError):
        desired_replicas(3)
    with pytest.raises(ValueError):
        desired_replicas(3, replicas=3, change=parse_change("+1"))


# -- objects -------------------------------------------------------------------------------------------------------


def deployment(replicas=3, name="web", namespace="shop", containers=None, annotations=None, status=None, generation=1, **spec):
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": generation, "annotations": dict(annotations or {})},
        "spec": dict({
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers if containers is not None else [
                    {"name": "app", "image": "shop:1", "resources": {"requests": {"cpu": "10m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}},
                    {"name": "sidecar", "image": "envoy:1"},
                ]},
            },
        }, **spec),
    }
    obj["status"] = status if status is not None else {
        "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
    }
    return obj


def hpa(name="web", target="web", kind="Deployment", minimum=2, maximum=10, api_version="apps/v1"):
    spec = {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": target}, "maxReplicas": maximum}
    if minimum is not None:
        spec["minReplicas"] = minimum
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


def request(**values):
    base = {"replicas": None, "change": None, "min_replicas": 2, "max_replicas": 50, "hpa_policy": "adjust", "resources": None}
    base.update(values)
    return base


# -- HPAs --------------------------------------------------------------------------------------------------------


def test_hpas_targeting_matches_kind_and_name():
    ours = hpa()
    others = [hpa(name="api", target="api"), hpa(name="db", target="web", kind="StatefulSet"), hpa(name="dc", api_version="apps.openshift.io/v1")]
    assert hpas_targeting([ours] + others, "Deployment", "web") == [ours]
    assert hpas_targeting(others, "StatefulSet", "web") == [others[1]]


def test_adjust_sets_the_floor_and_keeps_the_ceiling():
    plan = plan_hpa([hpa(minimum=2, maximum=10)], desired=8, current=3, policy="adjust", target="Deployment shop/web")
    assert plan["patch"] == {"spec": {"minReplicas": 8}}
    assert plan["report"] == {"name": "web", "policy": "adjust", "min_replicas_before": 2, "min_replicas_after": 8,
                              "max_replicas_before": 10, "max_replicas_after": 10}
    assert plan["floor_held"] is False and plan["refusal"] is None and plan["warnings"] == []


def test_adjust_raises_the_ceiling_when_the_count_is_above_it():
    plan = plan_hpa([hpa(minimum=2, maximum=10)], desired=15, current=10, policy="adjust", target="Deployment shop/web")
    assert plan["patch"] == {"spec": {"minReplicas": 15, "maxReplicas": 15}}


def test_adjust_lowers_the_floor_when_scaling_down():
    plan = plan_hpa([hpa(minimum=8, maximum=10)], desired=3, current=8, policy="adjust", target="Deployment shop/web")
    assert plan["patch"] == {"spec": {"minReplicas": 3}}


def test_adjust_moves_the_floor_even_when_the_count_already_matches():
    # The count is right now, but the HPA could take it down to 2 at any time: the floor makes it hold.
    plan = plan_hpa([hpa(minimum=2)], desired=5, current=5, policy="adjust", target="Deployment shop/web")
    assert plan["patch"] == {"spec": {"minReplicas": 5}}


def test_adjust_with_the_floor_in_place_changes_nothing():
    plan = plan_hpa([hpa(minimum=5, maximum=10)], desired=5, current=7, policy="adjust", target="Deployment shop/web")
    assert plan["patch"] is None and plan["floor_held"] is True


def test_a_missing_min_replicas_is_the_api_default_of_1():
    plan = plan_hpa([hpa(minimum=None)], desired=4, current=4, policy="adjust", target="Deployment shop/web")
    assert plan["report"]["min_replicas_before"] == 1
    assert plan["patch"] == {"spec": {"minReplicas": 4}}


def test_scaling_to_zero_leaves_the_hpa_alone():
    plan = plan_hpa([hpa()], desired=0, current=3, policy="adjust", target="Deployment shop/web")
    assert plan["patch"] is None and plan["refusal"] is None
    assert plan["report"]["min_replicas_after"] == 2
    assert "does not scale Deployment shop/web while it has 0 replicas" in plan["warnings"][0]


def test_refuse_names_the_hpa_only_when_the_count_changes():
    plan = plan_hpa([hpa()], desired=6, current=3, policy="refuse", target="Deployment shop/web")
    assert plan["refusal"] == ("HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 10) targets Deployment shop/web and would override "
                               "a manual scale to 6; use hpa_policy=adjust to move its bounds, or change the HPA yourself")
    assert plan_hpa([hpa()], desired=3, current=3, policy="refuse", target="Deployment shop/web")["refusal"] is None


def test_ignore_warns_that_the_hpa_will_override():
    plan = plan_hpa([hpa()], desired=12, current=3, policy="ignore", target="Deployment shop/web")
    assert plan["patch"] is None and plan["refusal"] is None
    assert plan["warnings"] == ["HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 10) targets Deployment shop/web: it will set the "
                                "replica count back from 12 as its metrics and bounds say (hpa_policy=ignore)"]


def test_two_hpas_on_one_workload_are_refused_unless_ignored():
    both = [hpa(name="a"), hpa(name="b")]
    refused = plan_hpa(both, desired=6, current=3, policy="adjust", target="Deployment shop/web")
    assert refused["refusal"].startswith("HorizontalPodAutoscalers a, b all target Deployment shop/web")
    ignored = plan_hpa(both, desired=6, current=3, policy="ignore", target="Deployment shop/web")
    assert ignored["refusal"] is None and len(ignored["warnings"]) == 1


# -- resources ---------------------------------------------------------------------------------------------------


def test_resources_problems():
    assert resources_problems({"app": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m", "memory": 268435456}}}) == []
    assert resources_problems({}) == ["resources must map container names to {requests: {...}, limits: {...}}"]
    assert resources_problems({
        "app": {"limit": {"memory": "1Gi"}, "limits": {"memory": "1GB", "gpu": "1", "cpu": "-1"}, "requests": {"cpu": "0"}},
        "side": "512Mi",
        "other": {"limits": {"memory": "0"}, "requests": {}},
    }) == [
        "resources.app.limit is not one of requests, limits",
        "resources.app.limits.memory: '1GB' is not a Kubernetes quantity (for example 512Mi, 1Gi, 250m, 0.5 or 2)",
        "resources.app.limits.gpu: gpu is not one of cpu, memory, ephemeral-storage",
        "resources.app.limits.cpu: -1 is negative",
        "resources.side must be a dict with requests and/or limits",
        "resources.other.limits.memory: a limit of 0 would stop the container",
        "resources.other.requests must map resource names (cpu, memory, ephemeral-storage) to quantities",
    ]


def test_plan_resources_patches_only_what_differs():
    patch, before, after, actions = plan_resources(deployment(), {"app": {"limits": {"memory": "512Mi"}, "requests": {"memory": "0.125Gi"}}},
                                                   "Deployment shop/web")
    assert patch == [{"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]
    assert before == {"app": {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}}}
    assert after == {"app": {"limits": {"memory": "512Mi"}, "requests": {"memory": "128Mi"}}}
    assert actions == ["set limits.memory of container app in Deployment shop/web from 256Mi to 512Mi"]


def test_plan_resources_sets_values_that_were_unset():
    patch, before, after, actions = plan_resources(deployment(), {"sidecar": {"limits": {"cpu": 0.5}}}, "Deployment shop/web")
    assert patch == [{"name": "sidecar", "resources": {"limits": {"cpu": "0.5"}}}]
    assert before == {"sidecar": {"limits": {}}}
    assert after == {"sidecar": {"limits": {"cpu": "0.5"}}}
    assert actions == ["set limits.cpu of container sidecar in Deployment shop/web from unset to 0.5"]


def test_plan_resources_equal_quantities_are_no_change():
    patch, before, after, actions = plan_resources(deployment(), {"app": {"limits": {"memory": "0.25Gi"}}}, "Deployment shop/web")
    assert patch == [] and actions == [] and before == after


def test_plan_resources_refuses_an_unknown_container():
    with pytest.raises(ValueError) as info:
        plan_resources(deployment(), {"ap": {"limits": {"memory": "1Gi"}}}, "Deployment shop/web")
    assert str(info.value) == "Deployment shop/web has no container ap (its containers: app, sidecar)"


@pytest.mark.parametrize("wanted", [
    {"limits": {"memory": "64Mi"}},                              # a limit below the existing request
    {"requests": {"memory": "1Gi"}},                             # a request above the existing limit
    {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}},
])
def test_plan_resources_refuses_a_limit_below_its_request(wanted):
    with pytest.raises(ValueError, match="the memory limit .* of container app would be below its request .*, which Kubernetes refuses"):
        plan_resources(deployment(), {"app": wanted}, "Deployment shop/web")


def test_plan_resources_allows_raising_both_together():
    patch = plan_resources(deployment(), {"app": {"requests": {"memory": "1Gi"}, "limits": {"memory": "2Gi"}}}, "Deployment shop/web")[0]
    assert patch == [{"name": "app", "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "2Gi"}}}]


# -- plans -------------------------------------------------------------------------------------------------------


def test_plan_absolute_scale():
    plan = plan_scale(deployment(3), [], request(replicas=5))
    assert plan["workload_patch"] == {"spec": {"replicas": 5}}
    assert plan["actions"] == ["scale Deployment shop/web from 3 to 5 replicas"]
    assert (plan["replicas_before"], plan["replicas_requested"], plan["replicas_after"], plan["clamped"]) == (3, 5, 5, False)
    assert plan["before"] == {"replicas": 3} and plan["after"] == {"replicas": 5}
    assert plan["hpa"] is None and plan["warnings"] == []


def test_plan_same_count_changes_nothing():
    plan = plan_scale(deployment(5), [], request(replicas=5))
    assert plan["workload_patch"] is None and plan["actions"] == [] and plan["before"] == plan["after"]


def test_plan_refuses_below_the_minimum_naming_the_workload():
    with pytest.raises(RunbookError) as info:
        plan_scale(deployment(3), [], request(replicas=1))
    assert str(info.value).startswith("Failed to scale Deployment shop/web: replicas 1 is below min_replicas 2")


def test_plan_relative_change_is_recorded_and_applied_once():
    first = plan_scale(deployment(3), [], request(change="+2"))
    annotation = first["workload_patch"]["metadata"]["annotations"][CHANGE_ANNOTATION]
    assert json.loads(annotation) == {"change": "+2", "from": 3, "to": 5, "clamped": False}
    assert first["workload_patch"]["spec"] == {"replicas": 5}

    applied = deployment(5, annotations={CHANGE_ANNOTATION: annotation})
    again = plan_scale(applied, [], request(change="+2"))
    assert again["workload_patch"] is None and again["actions"] == [] and again["replicas_after"] == 5

    # Another change, or the same one after the count moved, applies from the current count.
    assert plan_scale(applied, [], request(change="+3"))["replicas_after"] == 8
    moved = deployment(4, annotations={CHANGE_ANNOTATION: annotation})
    assert plan_scale(moved, [], request(change="+2"))["replicas_after"] == 6


def test_plan_absolute_scale_forgets_the_recorded_change():
    recorded = json.dumps({"change": "+2", "from": 3, "to": 5, "clamped": False})
    plan = plan_scale(deployment(5, annotations={CHANGE_ANNOTATION: recorded}), [], request(replicas=7))
    assert plan["workload_patch"] == {"spec": {"replicas": 7}, "metadata": {"annotations": {CHANGE_ANNOTATION: None}}}


def test_plan_ignores_an_unreadable_record():
    plan = plan_scale(deployment(5, annotations={CHANGE_ANNOTATION: "not json"}), [], request(change="+2"))
    assert plan["replicas_after"] == 7


def test_plan_clamped_change_warns_and_reports_the_request():
    plan = plan_scale(deployment(30), [], request(change="x2"))
    assert (plan["replicas_requested"], plan["replicas_after"], plan["clamped"]) == (60, 50, True)
    assert plan["warnings"] == ["change x2 from 30 replicas asks for 60; clamped to 50 (max_replicas 50)"]
    again = plan_scale(deployment(50, annotations=plan["workload_patch"]["metadata"]["annotations"]), [], request(change="x2"))
    assert again["workload_patch"] is None and again["clamped"] is True


def test_plan_clamp_at_the_minimum_changes_nothing():
    plan = plan_scale(deployment(2), [], request(change="-1"))
    assert plan["workload_patch"] is None and plan["clamped"] is True
    assert plan["warnings"] == ["change -1 from 2 replicas asks for 1; clamped to 2 (min_replicas 2)"]


def test_plan_with_an_hpa_adjusts_it_first():
    plan = plan_scale(deployment(3), [hpa(), hpa(name="other", target="api")], request(replicas=8))
    assert plan["hpa_patch"] == {"spec": {"minReplicas": 8}}
    assert plan["hpa_object"]["metadata"]["name"] == "web"
    assert plan["actions"] == ["set minReplicas of HorizontalPodAutoscaler shop/web from 2 to 8", "scale Deployment shop/web from 3 to 8 replicas"]
    assert plan["before"]["hpa"] == {"name": "web", "minReplicas": 2, "maxReplicas": 10}
    assert plan["after"] == {"replicas": 8, "hpa": {"name": "web", "minReplicas": 8, "maxReplicas": 10}}


def test_plan_leaves_a_count_the_hpa_raised_above_its_floor():
    plan = plan_scale(deployment(9), [hpa(minimum=6)], request(replicas=6))
    assert plan["workload_patch"] is None and plan["hpa_patch"] is None and plan["replicas_after"] == 9
    assert "above the 6 asked for: HorizontalPodAutoscaler web keeps 6 as its floor" in plan["warnings"][0]
    # Without that floor in place the count is set, and the floor with it.
    plan = plan_scale(deployment(9), [hpa(minimum=2)], request(replicas=6))
    assert plan["replicas_after"] == 6 and plan["hpa_patch"] == {"spec": {"minReplicas": 6}}


def test_plan_refuses_with_hpa_policy_refuse():
    with pytest.raises(RunbookError, match="Failed to scale Deployment shop/web: HorizontalPodAutoscaler web"):
        plan_scale(deployment(3), [hpa()], request(replicas=8, hpa_policy="refuse"))


def test_plan_resources_only_does_not_look_at_hpas():
    plan = plan_scale(deployment(3), [hpa()], request(resources={"app": {"limits": {"memory": "512Mi"}}}, hpa_policy="refuse"))
    assert plan["hpa"] is None
    assert plan["workload_patch"] == {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]}}}}
    assert plan["resources_before"] == {"app": {"limits": {"memory": "256Mi"}}}
    assert plan["after"] == {"replicas": 3, "resources": {"app": {"limits": {"memory": "512Mi"}}}}


def test_plan_scale_and_resources_in_one_patch():
    plan = plan_scale(deployment(3), [], request(replicas=4, resources={"app": {"limits": {"memory": "512Mi"}}}))
    assert plan["workload_patch"]["spec"]["replicas"] == 4
    assert plan["workload_patch"]["spec"]["template"]["spec"]["containers"][0]["name"] == "app"
    assert len(plan["actions"]) == 2


def test_plan_refuses_unknown_container_before_anything():
    with pytest.raises(RunbookError) as info:
        plan_scale(deployment(3), [], request(replicas=4, resources={"api": {"limits": {"memory": "512Mi"}}}))
    assert str(info.value) == "Failed to change the resources of Deployment shop/web: Deployment shop/web has no container api (its containers: app, sidecar)"


@pytest.mark.parametrize("workload, reason", [
    (deployment(paused=True), "the Deployment is paused"),
    (dict(deployment(), kind="StatefulSet", spec=dict(deployment()["spec"], updateStrategy={"type": "OnDelete"})), "updateStrategy is OnDelete"),
    (dict(deployment(), kind="StatefulSet", spec=dict(deployment()["spec"], updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})),
     "partition 2"),
])
def test_plan_refuses_resources_that_would_not_roll_out(workload, reason):
    with pytest.raises(RunbookError, match=reason):
        plan_scale(workload, [], request(resources={"app": {"limits": {"memory": "512Mi"}}}))
    # Scaling them is fine.
    assert plan_scale(workload, [], request(replicas=4))["replicas_after"] == 4


def test_plan_replicaset_rules():
    rs = dict(deployment(3), kind="ReplicaSet")
    assert plan_scale(rs, [], request(replicas=4))["actions"] == ["scale ReplicaSet shop/web from 3 to 4 replicas"]
    with pytest.raises(RunbookError, match="a ReplicaSet does not replace its pods"):
        plan_scale(rs, [], request(resources={"app": {"limits": {"memory": "512Mi"}}}))
    owned = copy.deepcopy(rs)
    owned["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "web", "controller": True, "uid": "1"}]
    with pytest.raises(RunbookError, match="it belongs to Deployment web, which would set its replica count back: scale the Deployment instead"):
        plan_scale(owned, [], request(replicas=4))


def test_plan_missing_replicas_is_the_api_default():
    workload = deployment()
    del workload["spec"]["replicas"]
    assert plan_scale(workload, [], request(replicas=2))["replicas_before"] == 1


# -- waiting -----------------------------------------------------------------------------------------------------


def status(**counts):
    base = {"observedGeneration": 2}
    base.update(counts)
    return base


@pytest.mark.parametrize("workload, done, message", [
    (deployment(3, generation=2, status=status(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)), True, "3 of 3 replicas ready"),
    (deployment(3, generation=3, status=status(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)), False,
     "the Deployment controller has not seen the change yet"),
    (deployment(5, generation=2, status=status(replicas=5, updatedReplicas=5, readyReplicas=3, availableReplicas=3)), False,
     "3 of 5 replicas ready (5 wanted: 5 updated, 3 ready, 3 available)"),
    (deployment(3, generation=2, status=status(replicas=4, updatedReplicas=2, readyReplicas=3, availableReplicas=3)), False, "2 of 3 replicas updated"),
    (deployment(3, generation=2, status=status(replicas=4, updatedReplicas=3, readyReplicas=4, availableReplicas=4)), False,
     "1 old replicas pending termination"),
    (deployment(3, generation=2, status=status(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=2)), False, "2 of 3 replicas available"),
    (deployment(2, generation=2, status=status(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)), False,
     "3 replicas exist, 2 wanted"),
    (deployment(0, generation=2, status=status()), True, "0 of 0 replicas ready"),
])
def test_rollout_status_deployment(workload, done, message):
    result = rollout_status(workload)
    assert result[0] is done
    assert result[1].startswith(message)
    assert result[2] is False


def test_rollout_status_gives_up_when_the_deadline_is_exceeded():
    workload = deployment(3, generation=2, status=status(replicas=3, updatedReplicas=1, readyReplicas=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "web-1" has timed out progressing.'}]))
    done, message, hopeless = rollout_status(workload)
    assert (done, hopeless) == (False, True)
    assert message.startswith('the rollout exceeded its progress deadline: ReplicaSet "web-1" has timed out progressing.')


def test_rollout_status_statefulset_waits_for_the_update_revision():
    sts = dict(deployment(2, generation=2, status=status(replicas=2, readyReplicas=2, updatedReplicas=1, currentRevision="a", updateRevision="b")),
               kind="StatefulSet")
    assert rollout_status(sts)[:2] == (False, "1 of 2 replicas updated (2 wanted: 1 updated, 2 ready, 0 available)")
    sts["status"].update(updatedReplicas=2, currentRevision="b", availableReplicas=2)
    assert rollout_status(sts)[0] is True


def test_rollout_status_replicaset():
    rs = dict(deployment(3, generation=2, status=status(replicas=3, readyReplicas=2, availableReplicas=2)), kind="ReplicaSet")
    assert rollout_status(rs)[:2] == (False, "2 of 3 replicas ready (3 wanted: 2 ready, 2 available)")


def pod(name, phase="Running", ready=True, conditions=None, statuses=None, deleting=False, containers=None):
    meta = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    conds = conditions if conditions is not None else [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "spec": {"containers": containers or []},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": statuses or []}}


UNSCHEDULABLE = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                 "3 No preemption victims found for incoming pod..")


def test_pod_problems_explains_pending_pods_with_the_scheduler_message():
    unschedulable = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": UNSCHEDULABLE}]
    pending = [pod("web-%d" % n, phase="Pending", conditions=unschedulable) for n in range(4)]
    assert pod_problems(pending + [pod("web-ok")]) == ["4 pods (web-0, web-1, web-2, ...): Pending, Unschedulable: " + UNSCHEDULABLE]


def test_pod_problems_explains_crash_loops_and_oom_kills():
    def oom(name, restarts):
        return pod(name, ready=False, statuses=[{
            "name": "app", "ready": False, "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container=app"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}])
    pulling = pod("web-img", phase="Pending", ready=False, statuses=[{
        "name": "app", "ready": False, "state": {"waiting": {"reason": "ErrImagePull", "message": "rpc error: not found"}}}])
    problems = pod_problems([oom("web-a", 3), oom("web-b", 5), pulling, pod("web-gone", ready=False, deleting=True)])
    assert problems == [
        "2 pods (web-a, web-b): Running, container app: CrashLoopBackOff, last terminated OOMKilled (exit code 137)",
        "pod web-img: Pending, container app: ErrImagePull: rpc error: not found",
    ]


def test_pod_problems_not_ready_without_a_reason():
    running = pod("web-a", ready=False, statuses=[{"name": "app", "ready": False, "state": {"running": {}}}])
    assert pod_problems([running]) == ["pod web-a: Running, container app: running, not ready"]
    gated = pod("web-b", conditions=[{"type": "Ready", "status": "False", "message": "corresponding condition of pod readiness gate is not true"}])
    assert pod_problems([gated]) == ["pod web-b: Running, not ready: corresponding condition of pod readiness gate is not true"]


def test_pod_problems_limits_its_list():
    pods = [pod("p%d" % n, phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "reason %d" % n}])
            for n in range(8)]
    problems = pod_problems(pods, limit=5)
    assert len(problems) == 6 and problems[-1] == "and 3 other problems"


def test_pods_missing_resources():
    new = {"name": "app", "resources": {"limits": {"memory": "512Mi"}, "requests": {"memory": "128Mi"}}}
    old = {"name": "app", "resources": {"limits": {"memory": "256Mi"}}}
    wanted = {"app": {"limits": {"memory": "0.5Gi"}}}
    assert pods_missing_resources([pod("new", containers=[new]), pod("old", containers=[old], deleting=True)], wanted) == []
    assert pods_missing_resources([pod("old", containers=[old])], wanted) == ["pod old container app has limits.memory 256Mi, not 0.5Gi"]
    assert pods_missing_resources([pod("bare", containers=[{"name": "app"}])], wanted) == ["pod bare container app has limits.memory unset, not 0.5Gi"]
