# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Incident policy as data: severities, response times, update cadence, escalation; what is due at a given time.

Pure functions on plain dicts (the incident record of roles/incident, the
policy of its defaults), so the clock is an argument: tests pass a fake one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

UTC = datetime.timezone.utc
SEVERITIES = ("P0", "P1", "P2", "P3")
# 003's SEV-1..SEV-4 and 004's SEV1..SEV3 describe the same levels as 000's P0..P3
# (SEV-1 "complete service outage" is P0 "service down").
_ALIAS = re.compile(r"^(?:P([0-3])|SEV[-_ ]?([1-4]))$")


class PolicyError(ValueError):
    """An incident or a policy that cannot be evaluated (unknown severity, bad time)."""


def normalize_severity(value):
    """'P0'..'P3' from P0..P3 or SEV1..SEV4 (SEV-1, sev 2, ...); PolicyError for anything else."""
    match = _ALIAS.match(str(value or "").strip().upper())
    if not match:
        raise PolicyError("unknown severity {0!r}: give P0-P3 or SEV1-SEV4".format(value))
    if match.group(1) is not None:
        return "P" + match.group(1)
    return "P{0}".format(int(match.group(2)) - 1)


def parse_time(value, what="time"):
    """An aware UTC datetime from an ISO 8601 string (Z or an offset; naive means UTC) or a datetime."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value or "").strip()
        if not text:
            raise PolicyError("{0} is empty".format(what))
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise PolicyError("{0} {1!r} is not an ISO 8601 time".format(what, value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_now():
    return datetime.datetime.now(UTC)


def format_time(moment):
    """2025-11-04T10:00:00Z."""
    return parse_time(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes_between(start, end):
    return (parse_time(end) - parse_time(start)).total_seconds() / 60.0


def severity_policy(policy, severity):
    """The policy entry of a severity (aliases accepted); PolicyError when the policy lacks it."""
    key = normalize_severity(severity)
    entry = (policy or {}).get("severities", {}).get(key)
    if entry is None:
        raise PolicyError("the policy has no entry for severity {0}".format(key))
    return entry


def _level_name(policy, level):
    for entry in (policy or {}).get("levels", []):
        if int(entry.get("level")) == int(level):
            return entry.get("name") or "L{0}".format(level)
    return "L{0}".format(level)


def escalation_due(incident, policy, now, immediate=None):
    """Which escalation levels are due and not yet paged.

    Returns {'elapsed_minutes', 'due': [{'level', 'name', 'after_minutes', 'reason'}],
    'paged': [levels], 'next': {'level', 'at'} or None}. A resolved incident has nothing due.
    Levels are paged once: a level in incident['escalations'] is never due again.
    immediate -- a reason to escalate now, whatever the clock (000 "Escalate Immediately (P0)":
    unable to roll back or mitigate): when no level is due by the clock, the next level not
    yet paged is.
    """
    declared = parse_time(incident.get("declared_at"), "declared_at")
    moment = parse_time(now, "now")
    elapsed = (moment - declared).total_seconds() / 60.0
    paged = sorted({int(e["level"]) for e in incident.get("escalations") or []})
    steps = sorted(severity_policy(policy, incident.get("severity")).get("escalation") or [], key=lambda s: int(s["level"]))
    due, upcoming = [], None
    if incident.get("status") != "resolved":
        for step in steps:
            level, after = int(step["level"]), float(step["after_minutes"])
            if level in paged:
                continue
            if elapsed >= after:
                due.append({
                    "level": level,
                    "name": _level_name(policy, level),
                    "after_minutes": step["after_minutes"],
                    "reason": "{0} unresolved after {1:.0f} min (policy: page L{2} after {3} min)".format(
                        incident.get("severity"), elapsed, level, step["after_minutes"]),
                })
            elif upcoming is None:
                upcoming = {"level": level, "at": format_time(declared + datetime.timedelta(minutes=after))}
        if immediate and not due:
            levels = sorted({int(step["level"]) for step in steps}
                            | {int(entry["level"]) for entry in (policy or {}).get("levels", []) if int(entry["level"]) > 1})
            current = max([int(incident.get("level") or 1)] + paged)
            following = [level for level in levels if level > current and level not in paged]
            if following:
                level = following[0]
                due.append({"level": level, "name": _level_name(policy, level), "after_minutes": None,
                            "reason": "{0} (escalated at once after {1:.0f} min)".format(immediate, elapsed)})
                upcoming = None if upcoming and upcoming["level"] == level else upcoming
    return {"elapsed_minutes": round(elapsed, 1), "due": due, "paged": paged, "next": upcoming}


def update_due(incident, policy, now):
    """Whether a status update is due at `now`: the severity's cadence since the last update (or the declaration).

    Returns {'due', 'cadence_minutes', 'last', 'next_at', 'overdue_minutes'}; a resolved incident or a
    severity without a cadence (P3: daily or as needed, still a cadence of 1440) is handled like any other.
    """
    cadence = severity_policy(policy, incident.get("severity")).get("update_minutes")
    last = max([parse_time(u["time"]) for u in incident.get("updates") or []] + [parse_time(incident.get("declared_at"), "declared_at")])
    moment = parse_time(now, "now")
    if cadence is None or incident.get("status") == "resolved":
        return {"due": False, "cadence_minutes": cadence, "last": format_time(last), "next_at": None, "overdue_minutes": 0}
    next_at = last + datetime.timedelta(minutes=float(cadence))
    overdue = (moment - next_at).total_seconds() / 60.0
    return {"due": moment >= next_at, "cadence_minutes": cadence, "last": format_time(last),
            "next_at": format_time(next_at), "overdue_minutes": round(max(overdue, 0.0), 1)}


def duration_text(minutes):
    """'2h 15m', '35m', '0m' (the review template's style)."""
    total = int(round(max(float(minutes), 0.0)))
    hours, mins = divmod(total, 60)
    if hours and mins:
        return "{0}h {1}m".format(hours, mins)
    if hours:
        return "{0}h".format(hours)
    return "{0}m".format(mins)
