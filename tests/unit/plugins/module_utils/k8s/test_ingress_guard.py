# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Ingress guard planning: apply saves the previous values once, restore puts back exactly them, both declarative."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.ingress_guard import (
    SAVED_ANNOTATION,
    managed_view,
    normalize_cidrs,
    option_problems,
    plan_guard,
    read_saved,
)

RPS = "nginx.ingress.kubernetes.io/limit-rps"
CONN = "nginx.ingress.kubernetes.io/limit-connections"
DENY = "nginx.ingress.kubernetes.io/denylist-source-range"
ALLOW = "nginx.ingress.kubernetes.io/allowlist-source-range"
WHITE = "nginx.ingress.kubernetes.io/whitelist-source-range"
OTHER = {"kubernetes.io/ingress.class": "nginx", "nginx.ingress.kubernetes.io/rewrite-target": "/"}


def params(**options):
    base = dict(state="applied", limit_rps=None, limit_rpm=None, limit_connections=None, limit_burst_multiplier=None,
                denylist=None, allowlist=None, allowlist_annotation="allowlist-source-range", annotation_prefix="nginx.ingress.kubernetes.io")
    base.update(options)
    return base


def apply_patch(annotations, plan):
    result = dict(annotations)
    for key, value in ((plan["patch"] or {}).get("metadata", {}).get("annotations") or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def test_apply_then_again_then_restore_then_again():
    original = dict(OTHER, **{RPS: "50"})
    wanted = params(limit_rps=10, limit_connections=20, denylist=["52.14.1.7", "52.14.2.0/24"])
    plan = plan_guard(original, wanted)
    applied = apply_patch(original, plan)
    assert applied[RPS] == "10" and applied[CONN] == "20" and applied[DENY] == "52.14.1.7/32,52.14.2.0/24"
    assert json.loads(applied[SAVED_ANNOTATION]) == {RPS: "50", CONN: None, DENY: None}
    assert plan["actions"] == [
        "set annotation {0} to '52.14.1.7/32,52.14.2.0/24'".format(DENY),
        "set annotation {0} to '20'".format(CONN),
        "set annotation {0} from '50' to '10'".format(RPS),
        "save the previous values of {0}, {1}, {2} in {3}".format(DENY, CONN, RPS, SAVED_ANNOTATION)]
    assert plan["before"] == {RPS: "50"} and plan["after"] == managed_view(applied)
    assert plan_guard(applied, wanted)["patch"] is None
    restore = plan_guard(applied, params(state="restored"))
    restored = apply_patch(applied, restore)
    assert restored == original
    assert restore["actions"][-1] == "remove the saved previous values ({0})".format(SAVED_ANNOTATION)
    again = plan_guard(restored, params(state="restored"))
    assert again["patch"] is None and again["actions"] == []


def test_a_second_apply_never_overwrites_what_was_saved():
    original = dict(OTHER, **{RPS: "50"})
    applied = apply_patch(original, plan_guard(original, params(limit_rps=10)))
    stricter = apply_patch(applied, plan_guard(applied, params(limit_rps=5, denylist=["52.14.1.7"])))
    assert json.loads(stricter[SAVED_ANNOTATION]) == {RPS: "50", DENY: None}
    assert stricter[RPS] == "5"
    assert apply_patch(stricter, plan_guard(stricter, params(state="restored"))) == original


def test_denylist_keeps_the_original_entries_and_is_computed_from_them():
    original = {DENY: "192.0.2.0/24, 52.14.9.9/32"}
    applied = apply_patch(original, plan_guard(original, params(denylist=["52.14.1.7", "52.14.9.9"])))
    assert applied[DENY] == "192.0.2.0/24,52.14.9.9/32,52.14.1.7/32"
    # a new list replaces the earlier temporary one, the original entries stay
    replaced = apply_patch(applied, plan_guard(applied, params(denylist=["52.14.1.8"])))
    assert replaced[DENY] == "192.0.2.0/24,52.14.9.9/32,52.14.1.8/32"
    assert apply_patch(replaced, plan_guard(replaced, params(state="restored"))) == original


def test_allowlist_replaces_and_the_annotation_name_can_be_chosen():
    original = {ALLOW: "10.0.0.0/8"}
    applied = apply_patch(original, plan_guard(original, params(allowlist=["198.51.100.0/24"])))
    assert applied[ALLOW] == "198.51.100.0/24"
    legacy = apply_patch({}, plan_guard({}, params(allowlist=["198.51.100.7"], allowlist_annotation="whitelist-source-range")))
    assert legacy[WHITE] == "198.51.100.7/32" and ALLOW not in legacy
    assert apply_patch(legacy, plan_guard(legacy, params(state="restored"))) == {}


def test_restore_puts_back_a_value_changed_by_hand_since():
    original = {RPS: "50"}
    applied = apply_patch(original, plan_guard(original, params(limit_rps=10)))
    applied[RPS] = "7"
    restore = plan_guard(applied, params(state="restored"))
    assert apply_patch(applied, restore) == original
    assert "set annotation {0} from '7' to '50'".format(RPS) in restore["actions"]


def test_custom_prefix():
    prefixed = apply_patch({}, plan_guard({}, params(limit_rps=10, annotation_prefix="internal.example.com")))
    assert prefixed["internal.example.com/limit-rps"] == "10"
    assert "internal.example.com/limit-rps" in managed_view(prefixed, "internal.example.com")


@pytest.mark.parametrize("text", ["not json", "[1]", '{"a": 1}', '{"a": ["x"]}'])
def test_a_saved_annotation_that_is_not_ours_is_refused(text):
    with pytest.raises(ValueError, match="fix or remove it by hand"):
        plan_guard({SAVED_ANNOTATION: text}, params(state="restored"))
    assert read_saved({SAVED_ANNOTATION: '{"a": null, "b": "1"}'}) == {"a": None, "b": "1"}


def test_option_problems():
    assert option_problems(params(limit_rps=10)) == []
    assert option_problems(params(state="restored")) == []
    problems = option_problems(params(limit_rps=0, limit_burst_multiplier=0, denylist=["10.0.0.0/33", "x"], allowlist=[]))
    assert problems == ["limit_rps must be 1 or more, got 0", "limit_burst_multiplier must be 1 or more, got 0",
                        "denylist: not an IP address or CIDR: '10.0.0.0/33', 'x'", "allowlist must name at least one address or CIDR"]
    assert option_problems(params()) == [
        "state=applied needs at least one of limit_rps, limit_rpm, limit_connections, limit_burst_multiplier, denylist, allowlist"]


def test_normalize_cidrs():
    assert normalize_cidrs(["52.14.1.7", "52.14.1.7/32", "10.1.2.3/8", "2600:1f18::1"], "x") == ["52.14.1.7/32", "10.0.0.0/8", "2600:1f18::1/128"]
