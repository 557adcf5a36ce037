# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The maintenance window filters: window checks with time zones, and the report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.maintenance import FilterModule, maintenance_report, maintenance_window

WINDOW = {"start": "2025-11-10T02:00:00Z", "end": "2025-11-10T04:00:00Z"}


@pytest.mark.parametrize("now, is_open, reason", [
    ("2025-11-10T01:59:00Z", False, "the window opens at 2025-11-10T02:00:00Z, in 1 minutes"),
    ("2025-11-10T02:00:00Z", True, "the window is open until 2025-11-10T04:00:00Z, 120 minutes left"),
    ("2025-11-10T03:59:59+00:00", True, "the window is open until 2025-11-10T04:00:00Z, 0 minutes left"),
    ("2025-11-10T04:00:00Z", False, "the window closed at 2025-11-10T04:00:00Z, 0 minutes ago"),
    ("2025-11-10T05:00:00+02:00", True, "the window is open until 2025-11-10T04:00:00Z, 60 minutes left"),
])
def test_window_edges_and_offsets(now, is_open, reason):
    state = maintenance_window(WINDOW, now)
    assert (state["open"], state["reason"]) == (is_open, reason)
    assert state["duration_minutes"] == 120.0


def test_naive_times_are_in_the_window_time_zone():
    window = {"start": "2025-07-10 02:00", "end": "2025-07-10 04:00", "timezone": "Europe/Paris"}  # UTC+2 in summer
    state = maintenance_window(window, "2025-07-10T00:30:00Z")
    assert state["open"] is True and state["start"] == "2025-07-10T00:00:00Z" and state["end"] == "2025-07-10T02:00:00Z"
    assert maintenance_window(window, 1752110000)["open"] is True  # epoch seconds: 2025-07-10T01:13:20Z
    assert maintenance_window(window, 1752112800)["open"] is False  # 02:00:00Z: the end
    assert maintenance_window(window)["open"] is False  # now: long after


@pytest.mark.parametrize("window, message", [
    ({"start": "2025-11-10T04:00:00Z", "end": "2025-11-10T02:00:00Z"}, "ends (2025-11-10T02:00:00Z) before it starts"),
    ({"start": "tomorrow", "end": "2025-11-10T02:00:00Z"}, "start 'tomorrow' is not an ISO 8601 time"),
    ({"end": "2025-11-10T02:00:00Z"}, "needs a start"),
    ({"start": "2025-11-10 02:00", "end": "2025-11-10 04:00", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ("02:00-04:00", "must be a mapping"),
])
def test_bad_windows_are_refused(window, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        maintenance_window(window, "2025-11-10T03:00:00Z")


def test_report_planned_and_actual_per_step_and_rollback():
    steps = [
        {"name": "Drain node 1, upgrade, uncordon", "type": "node_upgrade", "planned_minutes": 30, "started": 1000.0, "ended": 1090.0, "result": "ok"},
        {"name": "Drain node 2, upgrade, uncordon", "type": "node_upgrade", "planned_minutes": 30, "started": 1090.0, "ended": 1102.0,
         "result": "failed", "msg": "node-2 failed at step 'upgrade'"},
        {"name": "Run smoke tests", "type": "smoke_tests", "planned_minutes": 10, "result": "not_run"},
    ]
    plan = {"name": "Kubernetes 1.28 -> 1.29 Upgrade", "rollback": {"description": "revert to 1.28"}, "success_criteria": ["All pods healthy"]}
    run = {"window": {"start": "a", "end": "b"}, "rollback_actions": ["printed the rollback plan"], "started": 1000, "ended": 1101}
    report = maintenance_report(steps, plan, run)
    assert report["outcome"] == "failed" and report["failed_step"] == "Drain node 2, upgrade, uncordon"
    assert [(r["planned_minutes"], r["actual_seconds"], r["result"]) for r in report["steps"]] == [
        (30.0, 90.0, "ok"), (30.0, 12.0, "failed"), (10.0, None, "not_run")]
    assert report["steps"][0]["actual_minutes"] == 1.5 and report["planned_minutes"] == 70 and report["actual_minutes"] == 1.7
    text = "\n".join(report["summary"])
    assert text.startswith("Maintenance: Kubernetes 1.28 -> 1.29 Upgrade - failed")
    assert "Rollback plan: revert to 1.28" in text and "  - printed the rollback plan" in text
    assert "node-2 failed at step 'upgrade'" in text and "Success criteria: All pods healthy" in text


def test_report_of_an_emergency_that_succeeded():
    report = maintenance_report([{"name": "patch", "planned_minutes": 5, "started": 0, "ended": 0, "result": "ok"}], {"name": "CVE fix"},
                                {"emergency": True, "reason": "CVE-2026-0001 exploited"})
    assert report["outcome"] == "succeeded" and report["emergency"] is True and report["steps"][0]["actual_seconds"] == 0.0
    assert report["summary"][:2] == ["Emergency maintenance: CVE fix - succeeded", "Reason: CVE-2026-0001 exploited"]


def test_unknown_result_is_refused_and_filters_are_registered():
    with pytest.raises(AnsibleFilterError, match="unknown result 'done'"):
        maintenance_report([{"name": "x", "result": "done"}])
    assert set(FilterModule().filters()) == {"maintenance_window", "maintenance_report"}
