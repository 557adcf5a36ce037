# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""sre.runbooks.incident_event and sre.runbooks.incident_review as modules: what they write, check mode, refusals."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sre.runbooks.plugins.module_utils.incident.timeline import read_lines
from ansible_collections.sre.runbooks.plugins.modules import incident_event, incident_review

INCIDENT = {"id": "INC-1", "title": "checkout down", "severity": "P0", "service": "checkout", "status": "investigating",
            "declared_at": "2025-11-04T10:00:00Z"}


def test_a_decision_event_is_appended_and_check_mode_writes_nothing(tmp_path, run_module):
    path = str(tmp_path / "inc" / "timeline.jsonl")
    msg = "rolled back from revision 5 to 3 because the error rate was 12% for 5 min"
    out = run_module(incident_event.main, {"path": path, "incident": "INC-1", "msg": msg, "data": {"from": 5, "to": 3},
                                           "time": "2025-11-04T12:10:00+02:00", "_ansible_check_mode": True})
    assert out.rc == 0 and out.result["written"] == [] and out.result["changed"] is True
    assert not (tmp_path / "inc").exists()
    out = run_module(incident_event.main, {"path": path, "incident": "INC-1", "msg": msg, "data": {"from": 5, "to": 3},
                                           "time": "2025-11-04T12:10:00+02:00"})
    assert out.result["written"] == ["file"]
    assert read_lines(path) == [{"time": "2025-11-04T10:10:00Z", "kind": "decision", "incident": "INC-1", "msg": msg, "data": {"from": 5, "to": 3}}]
    assert oct((tmp_path / "inc" / "timeline.jsonl").stat().st_mode & 0o777) == "0o600"


def test_an_event_without_a_timeline_or_with_a_bad_time_is_refused(tmp_path, run_module):
    out = run_module(incident_event.main, {"incident": "INC-1", "msg": "x"})
    assert out.rc == 1 and out.result["msg"] == "Failed to record an event in the timeline of INC-1: give path or dsn"
    out = run_module(incident_event.main, {"incident": "INC-1", "msg": "x", "path": str(tmp_path / "t"), "time": "soon"})
    assert out.rc == 1 and "is not an ISO 8601 time" in out.result["msg"]


def test_the_review_is_written_once_and_renders_without_a_timeline(tmp_path, run_module):
    record = tmp_path / "incident.json"
    record.write_text(json.dumps(dict(INCIDENT, timeline=str(tmp_path / "missing.jsonl"))))
    dest = str(tmp_path / "review.md")
    args = {"incident_file": str(record), "dest": dest, "now": "2025-11-04T10:30:00Z"}
    out = run_module(incident_review.main, dict(args, _ansible_check_mode=True))
    assert out.result["changed"] is True and not (tmp_path / "review.md").exists()
    out = run_module(incident_review.main, args)
    assert out.result["changed"] is True and out.result["events"] == 0
    assert (tmp_path / "review.md").read_text().startswith("# Post-Incident Review: checkout down")
    assert run_module(incident_review.main, args).result["changed"] is False
    handoff = run_module(incident_review.main, {"incident": INCIDENT, "kind": "handoff", "handoff_to": "@bob", "handoff_level": 2,
                                                "timeline": str(tmp_path / "missing.jsonl")})
    assert handoff.result["markdown"].startswith("# Handoff: INC-1 checkout down") and "dest" not in handoff.result
    refused = run_module(incident_review.main, {"kind": "review"})
    assert refused.rc == 1 and "give incident or incident_file" in refused.result["msg"]
