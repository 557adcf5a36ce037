# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The incident policy (severities, escalation and update cadence with a fake clock) and the notice templates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.incident import FilterModule, incident_due, incident_message, incident_severity, incident_time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
with open(os.path.join(REPO, "roles", "incident", "defaults", "main.yml"), encoding="utf-8") as handle:
    POLICY = yaml.safe_load(handle)["incident_policy"]

P0 = {"id": "INC-20251104T100000Z", "title": "checkout down", "severity": "P0", "service": "checkout", "status": "investigating",
      "commander": "@alice", "channel": "#incident-checkout", "impact": "all checkouts fail",
      "declared_at": "2025-11-04T10:00:00Z", "escalations": [], "updates": []}


def at(minutes):
    """The fake clock: `minutes` after 2025-11-04 10:00 UTC."""
    moment = datetime.datetime(2025, 11, 4, 10, 0, tzinfo=datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("given, severity", [("P0", "P0"), ("p3", "P3"), ("SEV1", "P0"), ("SEV-2", "P1"), ("sev 3", "P2"), ("SEV4", "P3")])
def test_severity_aliases(given, severity):
    assert incident_severity(given) == severity


@pytest.mark.parametrize("given", ["P4", "SEV0", "SEV5", "critical", ""])
def test_unknown_severities_are_refused(given):
    with pytest.raises(AnsibleFilterError, match="unknown severity"):
        incident_severity(given)


def test_policy_numbers_come_from_the_runbooks():
    # 000 "Severity Levels", "Update Frequency", "Escalation Path" (L2 after 30 min for P0, 2 h for P1).
    assert [POLICY["severities"][s]["response_minutes"] for s in ("P0", "P1", "P2", "P3")] == [15, 60, 240, None]
    assert [POLICY["severities"][s]["update_minutes"] for s in ("P0", "P1", "P2", "P3")] == [15, 30, 60, 1440]
    assert POLICY["severities"]["P0"]["escalation"][0] == {"level": 2, "after_minutes": 30}
    assert POLICY["severities"]["P1"]["escalation"][0] == {"level": 2, "after_minutes": 120}
    assert POLICY["severities"]["P2"]["escalation"] == [] and POLICY["severities"]["P3"]["escalation"] == []


@pytest.mark.parametrize("minutes, due, next_level", [(0, [], 2), (29, [], 2), (30, [2], 3), (89, [2], 3), (90, [2, 3], None), (600, [2, 3], None)])
def test_escalation_is_due_by_the_fake_clock(minutes, due, next_level):
    state = incident_due(P0, POLICY, at(minutes))["escalation"]
    assert [d["level"] for d in state["due"]] == due
    assert (state["next"] or {}).get("level") == next_level
    assert state["elapsed_minutes"] == minutes


def test_a_paged_level_is_never_due_again_and_a_resolved_incident_pages_nobody():
    paged = dict(P0, escalations=[{"level": 2, "time": at(31)}])
    state = incident_due(paged, POLICY, at(45))["escalation"]
    assert state["due"] == [] and state["paged"] == [2] and state["next"] == {"level": 3, "at": at(90)}
    assert [d["level"] for d in incident_due(paged, POLICY, at(95))["escalation"]["due"]] == [3]
    assert incident_due(dict(P0, status="resolved"), POLICY, at(500))["escalation"]["due"] == []


def test_escalation_reason_names_the_policy():
    due = incident_due(P0, POLICY, at(31))["escalation"]["due"][0]
    assert due == {"level": 2, "name": "Senior Engineer / Team Lead", "after_minutes": 30,
                   "reason": "P0 unresolved after 31 min (policy: page L2 after 30 min)"}


def test_p2_never_escalates_by_the_clock():
    assert incident_due(dict(P0, severity="P2"), POLICY, at(900))["escalation"]["due"] == []


@pytest.mark.parametrize("updates, minutes, due, next_at", [
    ([], 14, False, at(15)),
    ([], 15, True, at(15)),
    ([{"time": at(16)}], 30, False, at(31)),
    ([{"time": at(16)}, {"time": at(31)}], 47, True, at(46)),
])
def test_update_cadence(updates, minutes, due, next_at):
    state = incident_due(dict(P0, updates=updates), POLICY, at(minutes))["status_update"]
    assert (state["due"], state["next_at"], state["cadence_minutes"]) == (due, next_at, 15)


def test_clock_offsets_and_bad_times():
    assert incident_time("2025-11-04T12:00:00+02:00") == at(0)
    assert incident_time("2025-11-04T10:00:00") == at(0)
    assert incident_time("")[-1] == "Z"
    with pytest.raises(AnsibleFilterError, match="not an ISO 8601 time"):
        incident_time("yesterday")
    with pytest.raises(AnsibleFilterError, match="cannot evaluate"):
        incident_due(dict(P0, declared_at="soon"), POLICY, at(1))


def test_declaration_template():
    text = incident_message(dict(P0, status_page_url="https://status.example.com", next_steps=["restart", "roll back"]), "declaration",
                            "all health checks failing")
    assert text.splitlines()[:9] == [
        "INCIDENT DECLARED: P0 - checkout down",
        "Incident ID: INC-20251104T100000Z",
        "Time: 10:00 UTC",
        "Service: checkout",
        "Impact: all checkouts fail",
        "Status: Investigating",
        "Incident Commander: @alice",
        "Communication Channel: #incident-checkout",
        "Status Page: https://status.example.com",
    ]
    assert "Current status:\n- all health checks failing" in text and "Next steps:\n- restart\n- roll back" in text


def test_update_template_counts_from_the_declaration_and_gives_the_cadence():
    text = incident_message(dict(P0, status="identified", findings=["revision 5 crash-loops"], actions=["restart: did not recover"]),
                            "update", "rolling back", now=at(46), details={"cadence_minutes": 15})
    assert text.startswith("INCIDENT UPDATE: P0 - checkout down (46m since start)")
    assert "Status: Identified" in text and "Latest update (10:46 UTC): rolling back" in text
    assert "What we know:\n- revision 5 crash-loops" in text and "What we've done:\n- restart: did not recover" in text
    assert text.endswith("ETA: Updates in 15m")


def test_resolution_escalation_handoff_and_custom_templates():
    resolved = incident_message(dict(P0, resolved_at=at(135), root_cause="bad config"), "resolution", "rolled back to revision 3")
    assert "Duration: 2h 15m" in resolved and "Root Cause: bad config" in resolved and "Resolution: rolled back to revision 3" in resolved
    assert "- [ ] Post-incident review within 48 hours" in resolved
    escalation = incident_message(P0, "escalation", details={"level": 2, "name": "Senior Engineer", "reason": "P0 unresolved after 31 min"})
    assert escalation.splitlines()[:3] == ["ESCALATION: P0 - checkout down", "Incident ID: INC-20251104T100000Z",
                                           "Paging L2 (Senior Engineer): P0 unresolved after 31 min"]
    handoff = incident_message(P0, "handoff", "restart and scale did not help", details={"to": "@bob", "level": 2, "next_steps": ["diff the config"]})
    assert handoff.splitlines()[0] == "HANDOFF: Incident now owned by @bob (L2)" and "Next Steps: diff the config" in handoff
    assert incident_message(P0, "custom", "drill") == "[INC-20251104T100000Z] drill"
    assert incident_message({}, "declaration", "no record") == "no record"
    assert "None" not in incident_message({"id": "x", "severity": "P1"}, "declaration")
    with pytest.raises(AnsibleFilterError, match="unknown notice event"):
        incident_message(P0, "party")


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"incident_severity", "incident_message", "incident_due", "incident_time"}


def test_immediate_escalation_pages_the_next_level_whatever_the_clock():
    state = incident_due(P0, POLICY, at(4), immediate="restart, scale up and rollback did not recover the service")["escalation"]
    assert [(d["level"], d["reason"]) for d in state["due"]] == [
        (2, "restart, scale up and rollback did not recover the service (escalated at once after 4 min)")]
    assert [d["level"] for d in incident_due(dict(P0, escalations=[{"level": 2, "time": at(1)}]), POLICY, at(4), immediate="x")["escalation"]["due"]] == [3]
    # P2 has no clock, but can still be escalated by a decision; a level due by the clock is not doubled.
    assert [d["level"] for d in incident_due(dict(P0, severity="P2"), POLICY, at(4), immediate="x")["escalation"]["due"]] == [2]
    assert [d["level"] for d in incident_due(P0, POLICY, at(31), immediate="x")["escalation"]["due"]] == [2]
    assert incident_due(dict(P0, status="resolved"), POLICY, at(4), immediate="x")["escalation"]["due"] == []
