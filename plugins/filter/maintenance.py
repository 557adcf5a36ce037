# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Maintenance window filters: is the window open (with time zones), and the report of a run.

Pure functions; the maintenance_window role calls them, tests/unit/plugins/filter tests them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleFilterError

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # Python < 3.9 on the controller: only UTC offsets in the times
    ZoneInfo = None
    ZoneInfoNotFoundError = KeyError

UTC = datetime.timezone.utc
RESULTS = ("ok", "failed", "skipped", "not_run")


def _zone(name):
    if not name or name.upper() == "UTC":
        return UTC
    if ZoneInfo is None:
        raise AnsibleFilterError("time zone {0} needs Python 3.9 (zoneinfo) on the controller; give UTC offsets instead".format(name))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AnsibleFilterError("unknown time zone {0!r} (an IANA name such as Europe/Paris, or UTC)".format(name))


def parse_time(value, zone=UTC, what="time"):
    """An aware datetime from an ISO 8601 string (a naive one is in `zone`), a datetime, or epoch seconds."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, UTC)
    else:
        text = str(value or "").strip()
        if not text:
            raise AnsibleFilterError("the maintenance window needs a {0}".format(what))
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            raise AnsibleFilterError("{0} {1!r} is not an ISO 8601 time such as 2025-11-10T02:00:00Z".format(what, value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def maintenance_window(window, now=None):
    """Whether the window {start, end, timezone} is open at `now` (default: the current time).

    Returns {open, reason, start, end (UTC ISO), now, minutes_to_start, minutes_left, duration_minutes}.
    """
    if not isinstance(window, dict):
        raise AnsibleFilterError("the maintenance window must be a mapping with start and end, got {0!r}".format(window))
    zone = _zone(window.get("timezone"))
    start = parse_time(window.get("start"), zone, "start")
    end = parse_time(window.get("end"), zone, "end")
    if end <= start:
        raise AnsibleFilterError("the maintenance window ends ({0}) before it starts ({1})".format(_iso(end), _iso(start)))
    current = parse_time(now, zone, "now") if now is not None else datetime.datetime.now(UTC)
    if current < start:
        is_open, reason = False, "the window opens at {0}, in {1:.0f} minutes".format(_iso(start), (start - current).total_seconds() / 60)
    elif current >= end:
        is_open, reason = False, "the window closed at {0}, {1:.0f} minutes ago".format(_iso(end), (current - end).total_seconds() / 60)
    else:
        is_open, reason = True, "the window is open until {0}, {1:.0f} minutes left".format(_iso(end), (end - current).total_seconds() / 60)
    return {
        "open": is_open, "reason": reason, "start": _iso(start), "end": _iso(end), "now": _iso(current),
        "minutes_to_start": round(max(0.0, (start - current).total_seconds() / 60), 1),
        "minutes_left": round(max(0.0, (end - current).total_seconds() / 60), 1),
        "duration_minutes": round((end - start).total_seconds() / 60, 1),
    }


def _number(value):
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def maintenance_report(steps, plan=None, run=None):
    """The report of a run: each step with planned and actual minutes and its result, totals, and readable lines.

    steps: [{name, type, planned_minutes, started, ended (epoch seconds), result, msg}]
    plan: the maintenance plan (name, window, rollback, success_criteria)
    run: facts of the run (emergency, reason, forced, window check, rollback actions, notices, started, ended)
    """
    plan = plan or {}
    run = run or {}
    rows = []
    for index, step in enumerate(steps or (), 1):
        started, ended = _number(step.get("started")), _number(step.get("ended"))
        actual = max(0.0, ended - started) if started is not None and ended is not None else None
        planned = _number(step.get("planned_minutes"))
        result = step.get("result") or "not_run"
        if result not in RESULTS:
            raise AnsibleFilterError("step {0}: unknown result {1!r} (one of {2})".format(index, result, ", ".join(RESULTS)))
        rows.append({
            "index": index, "name": step.get("name") or "step {0}".format(index), "type": step.get("type"), "result": result,
            "msg": step.get("msg") or "",
            "planned_minutes": planned, "actual_seconds": round(actual, 1) if actual is not None else None,
            "actual_minutes": round(actual / 60, 2) if actual is not None else None,
            "started": _iso(parse_time(started)) if started is not None else None,
            "ended": _iso(parse_time(ended)) if ended is not None else None,
        })
    failed = [r for r in rows if r["result"] == "failed"]
    planned_total = sum(r["planned_minutes"] or 0 for r in rows)
    actual_total = sum(r["actual_seconds"] or 0 for r in rows) / 60
    outcome = "failed" if failed else ("succeeded" if rows and all(r["result"] in ("ok", "skipped") for r in rows) else "incomplete")
    report = {
        "name": plan.get("name") or "maintenance", "outcome": outcome,
        "emergency": bool(run.get("emergency")), "reason": run.get("reason") or "", "forced": bool(run.get("forced")),
        "window": run.get("window") or {}, "started": _iso(parse_time(run["started"])) if _number(run.get("started")) is not None else None,
        "ended": _iso(parse_time(run["ended"])) if _number(run.get("ended")) is not None else None,
        "steps": rows, "planned_minutes": round(planned_total, 2), "actual_minutes": round(actual_total, 2),
        "failed_step": failed[0]["name"] if failed else None,
        "rollback": {"plan": plan.get("rollback") or {}, "actions": list(run.get("rollback_actions") or [])},
        "success_criteria": list(plan.get("success_criteria") or []),
        "notices": list(run.get("notices") or []),
        "check_mode": bool(run.get("check_mode")),
    }
    report["summary"] = _summary_lines(report)
    return report


def _minutes(value):
    return "-" if value is None else "{0:g} min".format(round(value, 1))


def _summary_lines(report):
    kind = "Emergency maintenance" if report["emergency"] else "Maintenance"
    lines = ["{0}: {1} - {2}{3}".format(kind, report["name"], report["outcome"], " (check mode: nothing changed)" if report["check_mode"] else "")]
    if report["emergency"]:
        lines.append("Reason: {0}".format(report["reason"]))
    window = report["window"]
    if window:
        forced = "; run outside it (forced)" if report["forced"] else ""
        lines.append("Window: {0} - {1} UTC{2}".format(window.get("start"), window.get("end"), forced))
    lines.append("Started {0}, ended {1}".format(report["started"] or "-", report["ended"] or "-"))
    lines.append("")
    lines.append("{0:<3} {1:<50} {2:>9} {3:>9}  {4}".format("#", "step", "planned", "actual", "result"))
    for row in report["steps"]:
        lines.append("{0:<3} {1:<50} {2:>9} {3:>9}  {4}{5}".format(
            row["index"], row["name"][:50], _minutes(row["planned_minutes"]), _minutes(row["actual_minutes"]), row["result"],
            ": " + row["msg"] if row["msg"] and row["result"] == "failed" else ""))
    lines.append("{0:<3} {1:<50} {2:>9} {3:>9}".format("", "total", _minutes(report["planned_minutes"]), _minutes(report["actual_minutes"])))
    rollback = report["rollback"]
    if report["failed_step"]:
        lines.append("")
        lines.append("Failed step: {0}".format(report["failed_step"]))
        lines.append("Rollback plan: {0}".format((rollback["plan"] or {}).get("description") or "none given"))
        for action in rollback["actions"] or ["nothing was rolled back automatically"]:
            lines.append("  - {0}".format(action))
    if report["success_criteria"]:
        lines.append("")
        lines.append("Success criteria: {0}".format("; ".join(str(c) for c in report["success_criteria"])))
    return lines


class FilterModule(object):
    """Maintenance window filters."""

    def filters(self):
        return {
            "maintenance_window": maintenance_window,
            "maintenance_report": maintenance_report,
        }
