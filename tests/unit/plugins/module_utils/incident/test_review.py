# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The post-incident review and the handoff summary rendered from a record and a timeline."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.module_utils.incident.review import TODO, counts, render_handoff, render_review
from ansible_collections.sre.runbooks.plugins.module_utils.incident.timeline import decision_event, task_event

INCIDENT = {"id": "INC-20251104T100000Z", "title": "checkout down", "severity": "P0", "service": "checkout", "status": "resolved",
            "commander": "@alice", "impact": "all checkouts fail", "declared_at": "2025-11-04T10:00:00Z", "resolved_at": "2025-11-04T12:15:00Z",
            "resolution": "rolled back to revision 3", "dir": "/inc/INC-1", "timeline": "/inc/INC-1/timeline.jsonl",
            "escalations": [{"level": 2, "time": "2025-11-04T10:31:00Z", "reason": "P0 unresolved after 31 min"}],
            "findings": ["CrashLoopBackOff in revision 5"], "action_items": [{"action": "Canary deploys", "owner": "Jane", "due": "2025-11-11"}]}


def timeline():
    return [
        decision_event("Declared P0 incident", kind="lifecycle", time="2025-11-04T10:00:01Z", data={"event": "declaration", "notify_failed": ["chat"]}),
        task_event("ok", {"msg": "3 pods"}, time="2025-11-04T10:00:05Z", task="Read the pods", host="localhost", run="r1"),
        task_event("changed", {"changed": True}, time="2025-11-04T10:01:00Z", task="Restart the pods", host="localhost", run="r1"),
        task_event("failed", {"msg": "0 of 5 replicas | ready"}, time="2025-11-04T10:05:00Z", task="Scale up the replicas", host="localhost", run="r1"),
        task_event("changed", {"token": "x"}, task_no_log=True, time="2025-11-04T10:06:00Z", task="Send the PagerDuty event", host="localhost", run="r1"),
        decision_event("rolled back from revision 5 to 3 because the error rate was 12% for 5 min", time="2025-11-04T10:10:00Z"),
        task_event("skipped", {"skip_reason": "no"}, time="2025-11-04T10:11:00Z", task="Skip me", host="localhost", run="r2"),
    ]


def test_the_review_follows_the_runbook_template_and_is_made_of_data():
    text = render_review(INCIDENT, timeline(), now="2025-11-04T13:00:00Z")
    lines = text.splitlines()
    assert lines[:7] == ["# Post-Incident Review: checkout down", "", "**Incident ID**: INC-20251104T100000Z", "**Date**: 2025-11-04",
                         "**Severity**: P0", "**Duration**: 2h 15m (10:00 UTC - 12:15 UTC)", "**Incident Commander**: @alice"]
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## Summary", "## Impact", "## Timeline (UTC)", "## Root Cause", "## Contributing Factors", "## What Went Well",
                        "## What Didn't Go Well", "## Action Items", "## Lessons Learned", "## Related Documentation"]
    table = lines[lines.index("## Timeline (UTC)") + 2:]
    table = table[:table.index("")]
    assert table == [
        "| Time | Event |", "|------|-------|",
        "| 10:00:01 | Lifecycle: Declared P0 incident |",
        "| 10:01:00 | Changed `Restart the pods` on localhost |",
        "| 10:05:00 | Failed `Scale up the replicas` on localhost: 0 of 5 replicas \\| ready |",
        "| 10:06:00 | Changed `Send the PagerDuty event` on localhost: censored: no_log task, its result is not recorded |",
        "| 10:10:00 | Decision: rolled back from revision 5 to 3 because the error rate was 12% for 5 min |",
    ]
    assert "2 more tasks read state or changed nothing; every task is in the timeline (`/inc/INC-1/timeline.jsonl`)." in text
    assert "## Root Cause\n" + TODO in text and "- CrashLoopBackOff in revision 5" in text
    assert "- Resolved 2h 15m after the declaration" in text and "No runbook task failed" not in text
    assert "- Failed `Scale up the replicas` on localhost: 0 of 5 replicas | ready" in text
    assert "- Escalated to L2 at 10:31: P0 unresolved after 31 min" in text and "- The declaration notice did not reach chat" in text
    assert "| 1 | Canary deploys | Jane | 2025-11-11 | Not Started |" in text
    assert "| 2 | Find out why `Scale up the replicas` failed on localhost | TBD | TBD | Not Started |" in text
    assert "| 3 | Complete the root cause analysis | @alice | TBD | Not Started |" in text
    assert "- Incident record: `/inc/INC-1/incident.json`" in text
    assert "x" not in [cell.strip() for line in table for cell in line.split("|")]


def test_counts_and_an_open_incident():
    assert counts(timeline()) == {"tasks": 5, "changed": 2, "failed": 1, "censored": 1, "runs": 2, "decisions": 1}
    open_incident = dict(INCIDENT, status="investigating", resolved_at=None, escalations=[], root_cause="bad config")
    text = render_review(open_incident, [], now="2025-11-04T10:40:00Z")
    assert "**Duration**: 40m (10:00 UTC - 10:40 UTC), still open" in text and "## Root Cause\nbad config" in text
    assert "| - | no event recorded |" in text and "- **Escalations**: none" in text


def test_the_handoff_summary():
    text = render_handoff(dict(INCIDENT, status="identified", resolved_at=None, next_steps=["diff the config"]), timeline(), to="@bob", level=2,
                          now="2025-11-04T11:00:00Z")
    assert text.startswith("# Handoff: INC-20251104T100000Z checkout down\n")
    assert "**Escalations**: L2 at 10:31: P0 unresolved after 31 min" in text
    assert "**Owner**: @alice -> @bob (L2)" in text and "**Open for**: 1h (10:00 UTC - 11:00 UTC), still open" in text
    assert "- 10:01 Changed `Restart the pods` on localhost" in text and "- 10:10 rolled back from revision 5 to 3" in text
    assert "## Theories and next steps\n- diff the config" in text and "- Timeline: `/inc/INC-1/timeline.jsonl`" in text
