# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The post-incident review and the handoff summary, rendered from the incident record and its timeline.

The review follows 000's "Post-Incident Report Template" (header, Summary,
Impact, Timeline (UTC), Root Cause, Contributing Factors, What Went Well, What
Didn't Go Well, Action Items, Lessons Learned, Related Documentation) with 004's
action item groups; the handoff follows 000's "Handoff Procedure" (what has been
tried, current state, evidence, next steps). Facts come from data; what only
people can know (root cause, lessons) is a marked placeholder unless the record has it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.module_utils.incident.policy import duration_text, minutes_between, parse_time

TODO = "_To be completed in the review meeting._"


def _cell(text):
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ").strip()


def _clock(value, seconds=True):
    try:
        return parse_time(value).strftime("%H:%M:%S" if seconds else "%H:%M")
    except ValueError:
        return "?"


def _task_text(event):
    text = "{0} `{1}` on {2}".format(
        {"changed": "Changed", "failed": "Failed", "unreachable": "Unreachable"}.get(event.get("status"), event.get("status", "").capitalize()),
        event.get("task") or event.get("action") or "?", event.get("host") or "?")
    if event.get("ignored"):
        text += " (ignored)"
    if event.get("msg"):
        text += ": " + event["msg"]
    return text


def notable(events):
    """Events that belong in a timeline table: lifecycle, decisions, notes, and tasks that changed something or failed."""
    return [e for e in events if e.get("kind") != "task" or e.get("status") in ("changed", "failed", "unreachable")]


def counts(events):
    tasks = [e for e in events if e.get("kind") == "task"]
    return {
        "tasks": len(tasks),
        "changed": sum(1 for e in tasks if e.get("status") == "changed"),
        "failed": sum(1 for e in tasks if e.get("status") in ("failed", "unreachable") and not e.get("ignored")),
        "censored": sum(1 for e in tasks if e.get("censored")),
        "runs": len({e.get("run") for e in tasks if e.get("run")}),
        "decisions": sum(1 for e in events if e.get("kind") == "decision"),
    }


def timeline_table(events):
    lines = ["| Time | Event |", "|------|-------|"]
    for event in notable(events):
        if event.get("kind") == "task":
            text = _task_text(event)
        else:
            text = "{0}: {1}".format(event.get("kind", "event").capitalize(), event.get("msg", ""))
        lines.append("| {0} | {1} |".format(_clock(event.get("time")), _cell(text)))
    if len(lines) == 2:
        lines.append("| - | no event recorded |")
    return lines


def _bullets(items, default):
    items = [str(i) for i in items or [] if str(i).strip()]
    return ["- " + i for i in items] or ["- " + default]


def _duration(incident, now):
    start = incident.get("declared_at")
    end = incident.get("resolved_at") or now
    if not start or not end:
        return "unknown"
    text = "{0} ({1} UTC - {2} UTC)".format(duration_text(minutes_between(start, end)), _clock(start, False), _clock(end, False))
    return text if incident.get("resolved_at") else text + ", still open"


def action_items(incident, events):
    """Given action items first, then one per failed task, then the runbooks' standing follow-ups."""
    rows = []
    for item in incident.get("action_items") or []:
        if isinstance(item, dict):
            rows.append((item.get("action", ""), item.get("owner", "TBD"), item.get("due", "TBD"), item.get("status", "Not Started")))
        else:
            rows.append((str(item), "TBD", "TBD", "Not Started"))
    seen = set()
    for event in events:
        if event.get("kind") == "task" and event.get("status") in ("failed", "unreachable") and not event.get("ignored"):
            key = (event.get("task"), event.get("host"))
            if key not in seen:
                seen.add(key)
                rows.append(("Find out why `{0}` failed on {1}".format(*key), "TBD", "TBD", "Not Started"))
    rows.append(("Complete the root cause analysis", incident.get("commander") or "TBD", "TBD", "Not Started"))
    rows.append(("Update the runbook with what was learned", "SRE", "TBD", "Not Started"))
    lines = ["| ID | Action | Owner | Due Date | Status |", "|----|--------|-------|----------|--------|"]
    for index, row in enumerate(rows, 1):
        lines.append("| {0} | {1} |".format(index, " | ".join(_cell(c) for c in row)))
    return lines


def went_well(incident, events):
    stats = counts(events)
    items = list(incident.get("went_well") or [])
    if incident.get("resolved_at") and incident.get("declared_at"):
        items.append("Resolved {0} after the declaration".format(duration_text(minutes_between(incident["declared_at"], incident["resolved_at"]))))
    if stats["tasks"]:
        items.append("{0} runbook tasks ran in {1} automated run(s), {2} of them changing something, every one recorded in the timeline".format(
            stats["tasks"], stats["runs"], stats["changed"]))
    if stats["tasks"] and not stats["failed"]:
        items.append("No runbook task failed")
    if incident.get("resolved_at") and not incident.get("escalations"):
        items.append("Resolved without escalation")
    return items


def went_badly(incident, events):
    items = list(incident.get("went_badly") or [])
    for event in events:
        if event.get("kind") == "task" and event.get("status") in ("failed", "unreachable") and not event.get("ignored"):
            items.append(_task_text(event))
    for escalation in incident.get("escalations") or []:
        items.append("Escalated to L{0} at {1}: {2}".format(escalation.get("level"), _clock(escalation.get("time"), False), escalation.get("reason", "")))
    for event in events:
        failed = (event.get("data") or {}).get("notify_failed") if event.get("kind") == "lifecycle" else None
        if failed:
            items.append("The {0} notice did not reach {1}".format((event.get("data") or {}).get("event", ""), ", ".join(failed)))
    return items


def render_review(incident, events, now=None):
    """The post-incident review in Markdown."""
    incident = incident or {}
    stats = counts(events)
    title = incident.get("title") or incident.get("service") or incident.get("id") or "incident"
    declared = incident.get("declared_at")
    summary = incident.get("summary") or (
        "{sev} incident on {service}: {title}. Declared {at} UTC by {commander}; {status}{resolution}. "
        "The automation ran {tasks} tasks ({changed} changed, {failed} failed) and recorded {decisions} decisions.".format(
            sev=incident.get("severity", "?"), service=incident.get("service", "?"), title=title,
            at=parse_time(declared).strftime("%Y-%m-%d %H:%M") if declared else "at an unknown time",
            commander=incident.get("commander") or "an unknown commander",
            status="resolved at {0} UTC".format(_clock(incident["resolved_at"], False)) if incident.get("resolved_at") else "still open",
            resolution=": " + incident["resolution"] if incident.get("resolution") else "",
            tasks=stats["tasks"], changed=stats["changed"], failed=stats["failed"], decisions=stats["decisions"]))
    escalated = ", ".join("L{0} at {1}".format(e.get("level"), _clock(e.get("time"), False)) for e in incident.get("escalations") or [])
    lines = [
        "# Post-Incident Review: {0}".format(title),
        "",
        "**Incident ID**: {0}".format(incident.get("id", "unknown")),
        "**Date**: {0}".format(parse_time(declared).strftime("%Y-%m-%d") if declared else "unknown"),
        "**Severity**: {0}".format(incident.get("severity", "unknown")),
        "**Duration**: {0}".format(_duration(incident, now)),
        "**Incident Commander**: {0}".format(incident.get("commander") or "unknown"),
        "",
        "## Summary",
        summary,
        "",
        "## Impact",
        "- **Service**: {0}".format(incident.get("service", "unknown")),
        "- **Impact**: {0}".format(incident.get("impact") or TODO),
        "- **Data Loss**: {0}".format(incident.get("data_loss") or "none known"),
        "- **Duration**: {0}".format(_duration(incident, now)),
        "- **Escalations**: {0}".format(escalated or "none"),
        "",
        "## Timeline (UTC)",
        "",
    ]
    lines += timeline_table(events)
    hidden = stats["tasks"] - sum(1 for e in notable(events) if e.get("kind") == "task")
    if hidden:
        lines += ["", "{0} more tasks read state or changed nothing; every task is in the timeline{1}.".format(
            hidden, " (`{0}`)".format(incident["timeline"]) if incident.get("timeline") else "")]
    lines += ["", "## Root Cause", incident.get("root_cause") or TODO]
    if incident.get("findings"):
        lines += ["", "Findings of the automated diagnostics:"] + _bullets(incident.get("findings"), "")
    lines += ["", "## Contributing Factors"] + (_bullets(incident.get("contributing_factors"), "") if incident.get("contributing_factors") else [TODO])
    lines += ["", "## What Went Well"] + _bullets(went_well(incident, events), TODO)
    lines += ["", "## What Didn't Go Well"] + _bullets(went_badly(incident, events), TODO)
    lines += ["", "## Action Items", ""] + action_items(incident, events)
    lines += ["", "## Lessons Learned"] + (_bullets(incident.get("lessons"), "") if incident.get("lessons") else [TODO])
    lines += ["", "## Related Documentation"]
    lines += ["- Incident record: `{0}`".format(incident["dir"] + "/incident.json")] if incident.get("dir") else []
    lines += ["- Timeline: `{0}`".format(incident["timeline"])] if incident.get("timeline") else []
    lines += ["- Evidence: `{0}`".format(e) for e in incident.get("evidence") or []]
    return "\n".join(lines) + "\n"


def render_handoff(incident, events, to=None, level=None, now=None):
    """The handoff summary in Markdown: 000's "Document current state" for the next responder."""
    incident = incident or {}
    title = incident.get("title") or incident.get("service") or incident.get("id") or "incident"
    tried = [e for e in notable(events) if e.get("kind") in ("task", "decision")]
    lines = [
        "# Handoff: {0} {1}".format(incident.get("id", ""), title).rstrip(),
        "",
        "**Severity**: {0}".format(incident.get("severity", "unknown")),
        "**Status**: {0}".format(incident.get("status", "unknown")),
        "**Owner**: {0} -> {1}{2}".format(incident.get("commander") or "unknown", to or "unknown", " (L{0})".format(level) if level else ""),
        "**Open for**: {0}".format(_duration(incident, now)),
        "**Escalations**: {0}".format("; ".join("L{0} at {1}: {2}".format(e.get("level"), _clock(e.get("time"), False), e.get("reason", ""))
                                                for e in incident.get("escalations") or []) or "none"),
        "",
        "## Summary",
        incident.get("summary") or incident.get("impact") or "{0} on {1}".format(title, incident.get("service", "?")),
        "",
        "## What has been tried",
    ]
    lines += ["- {0} {1}".format(_clock(e.get("time"), False), _task_text(e) if e.get("kind") == "task" else e.get("msg", ""))
              for e in tried] or ["- nothing yet"]
    lines += ["", "## Current state"] + _bullets(incident.get("findings"), "no findings recorded")
    lines += ["", "## Evidence"]
    lines += ["- Timeline: `{0}`".format(incident["timeline"])] if incident.get("timeline") else []
    lines += ["- `{0}`".format(e) for e in incident.get("evidence") or []] or ([] if incident.get("timeline") else ["- none recorded"])
    lines += ["", "## Theories and next steps"] + _bullets(incident.get("next_steps"), "to be decided by the next responder")
    return "\n".join(lines) + "\n"
