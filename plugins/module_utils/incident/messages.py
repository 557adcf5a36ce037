# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Incident notices rendered from the incident record, after the runbooks' communication templates.

- declaration: 000 "Incident Declaration" (INCIDENT, Time, Impact, Status, Incident
  Commander, Communication Channel, Status Page) with 003's "Initial Incident
  Notification" (Service, Current Status, Next Steps);
- update: 003 "Status Update Template" (time since start, Status, What we know,
  What we've done, Next steps, ETA: the next update at the severity's cadence);
- escalation and handoff: 000 "Handoff Procedure" (HANDOFF: Incident now owned by ...);
- resolution: 003 "Resolution Notification" (Duration, Root Cause, Resolution,
  Impact Summary, Follow-up Actions; 000/002: post-incident review within 48 hours).

Pure functions; a missing field prints as "unknown", never as "None".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.sre.runbooks.plugins.module_utils.incident.policy import duration_text, minutes_between, parse_time

EVENTS = ("declaration", "update", "escalation", "resolution", "handoff", "custom")
UNKNOWN = "unknown"


def _value(value, default=UNKNOWN):
    if value is None or value == "" or value == []:
        return default
    return str(value)


def _items(values, default):
    values = [str(v) for v in (values or []) if str(v).strip()]
    return ["- " + v for v in values] or ["- " + default]


def _hhmm(value):
    try:
        return parse_time(value).strftime("%H:%M UTC")
    except ValueError:
        return UNKNOWN


def _headline(incident):
    return "{0} - {1}".format(_value(incident.get("severity")), _value(incident.get("title") or incident.get("service")))


def render_message(event, incident=None, text="", now=None, details=None):
    """The text of one notice. `details` adds event fields: level/name/reason (escalation), to/level/next_steps (handoff)."""
    incident = incident or {}
    details = details or {}
    text = (text or "").strip()
    if event not in EVENTS:
        raise ValueError("unknown notice event {0!r} (one of {1})".format(event, ", ".join(EVENTS)))
    if event == "custom" or not incident:
        prefix = "[{0}] ".format(incident["id"]) if incident.get("id") else ""
        return prefix + text
    now = now or datetime.datetime.now(datetime.timezone.utc)
    lines = []
    if event == "declaration":
        lines = [
            "INCIDENT DECLARED: {0}".format(_headline(incident)),
            "Incident ID: {0}".format(_value(incident.get("id"))),
            "Time: {0}".format(_hhmm(incident.get("declared_at"))),
            "Service: {0}".format(_value(incident.get("service"))),
            "Impact: {0}".format(_value(incident.get("impact"))),
            "Status: {0}".format(_value(incident.get("status"), "investigating").capitalize()),
            "Incident Commander: {0}".format(_value(incident.get("commander"))),
            "Communication Channel: {0}".format(_value(incident.get("channel"))),
        ]
        if incident.get("status_page_url"):
            lines.append("Status Page: {0}".format(incident["status_page_url"]))
        lines += ["", "Current status:"] + _items(incident.get("findings") or ([text] if text else []), "investigating")
        lines += ["", "Next steps:"] + _items(incident.get("next_steps"), "diagnostics, then the runbook's quick fixes")
    elif event == "update":
        since = duration_text(minutes_between(incident.get("declared_at"), now)) if incident.get("declared_at") else UNKNOWN
        cadence = details.get("cadence_minutes")
        lines = [
            "INCIDENT UPDATE: {0} ({1} since start)".format(_headline(incident), since),
            "Incident ID: {0}".format(_value(incident.get("id"))),
            "Status: {0}".format(_value(incident.get("status"), "investigating").capitalize()),
        ]
        if text:
            lines.append("Latest update ({0}): {1}".format(_hhmm(now), text))
        lines += ["", "What we know:"] + _items(incident.get("findings"), "still investigating")
        lines += ["", "What we've done:"] + _items(incident.get("actions"), "nothing changed yet")
        lines += ["", "Next steps:"] + _items(incident.get("next_steps"), "to be decided")
        lines += ["", "ETA: {0}".format("Updates in {0}".format(duration_text(cadence)) if cadence else "as needed")]
    elif event == "escalation":
        lines = [
            "ESCALATION: {0}".format(_headline(incident)),
            "Incident ID: {0}".format(_value(incident.get("id"))),
            "Paging L{0} ({1}): {2}".format(_value(details.get("level")), _value(details.get("name")), _value(details.get("reason"), text or UNKNOWN)),
            "Incident Commander: {0}".format(_value(incident.get("commander"))),
            "Communication Channel: {0}".format(_value(incident.get("channel"))),
        ]
        if text and details.get("reason"):
            lines.append(text)
    elif event == "handoff":
        lines = [
            "HANDOFF: Incident now owned by {0} (L{1})".format(_value(details.get("to")), _value(details.get("level"), "?")),
            "Incident ID: {0} ({1})".format(_value(incident.get("id")), _headline(incident)),
            "Summary: {0}".format(text or _value(incident.get("impact"))),
            "Incident Doc: {0}".format(_value(details.get("doc") or incident.get("dir"))),
            "Next Steps: {0}".format("; ".join(details.get("next_steps") or incident.get("next_steps") or []) or "to be decided"),
        ]
    elif event == "resolution":
        end = incident.get("resolved_at") or now
        duration = duration_text(minutes_between(incident.get("declared_at"), end)) if incident.get("declared_at") else UNKNOWN
        lines = [
            "INCIDENT RESOLVED: {0}".format(_headline(incident)),
            "Incident ID: {0}".format(_value(incident.get("id"))),
            "Duration: {0}".format(duration),
            "Root Cause: {0}".format(_value(incident.get("root_cause"), "under investigation (post-incident review)")),
            "Resolution: {0}".format(text or _value(incident.get("resolution"))),
            "",
            "Impact Summary:",
            "- Affected: {0}".format(_value(incident.get("impact"))),
            "- Downtime: {0}".format(duration),
            "- Data Loss: {0}".format(_value(incident.get("data_loss"), "none known")),
            "",
            "Follow-up Actions:",
            "- [ ] Post-incident review within 48 hours",
            "- [ ] Action items documented",
        ]
    return "\n".join(lines)
