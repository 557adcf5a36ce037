# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The incident timeline: JSON lines on disk, optionally rows of a PostgreSQL table.

One event per line, in the order written:

- kind "task" (the sre.runbooks.incident_timeline callback): time, incident, run,
  host, play, task, action, status (ok, changed, failed, skipped, unreachable),
  changed, failed, msg (short), censored;
- kind "decision" or "lifecycle" (the sre.runbooks.incident_event module, the
  incident role): time, incident, host, msg, data.

A no_log task is written as censored: its message is a fixed text, never a value
from the result. The PostgreSQL copy lets runs on different nodes (AWX
execution nodes) share one timeline; it is best effort: an error is reported
once and the file is still written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re

try:
    import fcntl
except ImportError:  # not on POSIX: appends of one short line are still whole in practice
    fcntl = None

STATUSES = ("ok", "changed", "failed", "skipped", "unreachable")
KINDS = ("task", "decision", "lifecycle", "note")
CENSORED = "censored: no_log task, its result is not recorded"
MSG_LIMIT = 300
TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _first_line(value):
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = text.strip().splitlines()[0] if text.strip() else ""
    return text if len(text) <= MSG_LIMIT else text[:MSG_LIMIT - 3] + "..."


def is_censored(result, task_no_log=False):
    """Whether a result must not be recorded: the task is no_log, or the result (or any loop item) says so."""
    if task_no_log:
        return True
    if not isinstance(result, dict):
        return False
    if result.get("_ansible_no_log") or "censored" in result:
        return True
    return any(isinstance(item, dict) and (item.get("_ansible_no_log") or "censored" in item) for item in result.get("results") or [])


def short_message(result, status):
    """One line saying what happened: the module's msg, a skip reason, a loop's count, or the first stdout line."""
    if not isinstance(result, dict):
        return ""
    if status == "skipped":
        return _first_line(result.get("skip_reason") or result.get("skipped_reason") or "skipped")
    for key in ("msg", "reason", "stderr", "stdout"):
        if result.get(key):
            return _first_line(result[key])
    if isinstance(result.get("results"), list):
        items = result["results"]
        return "{0} items, {1} changed, {2} failed".format(
            len(items), sum(1 for i in items if isinstance(i, dict) and i.get("changed")), sum(1 for i in items if isinstance(i, dict) and i.get("failed")))
    return ""


def task_event(status, result, task_no_log=False, **fields):
    """The timeline event of one task result. fields: time, incident, run, host, play, task, action, check_mode."""
    if status not in STATUSES:
        raise ValueError("unknown task status {0!r}".format(status))
    censored = is_censored(result, task_no_log)
    result = result if isinstance(result, dict) else {}
    event = {
        "time": fields.pop("time", None) or utc_now(),
        "kind": "task",
        "status": status,
        "changed": status == "changed" or bool(result.get("changed")),
        "failed": status in ("failed", "unreachable"),
        "censored": censored,
        "msg": CENSORED if censored else short_message(result, status),
    }
    event.update((k, v) for k, v in fields.items() if v is not None)
    return event


def decision_event(msg, kind="decision", data=None, **fields):
    """A decision or lifecycle event: what was decided and why, with structured data."""
    if kind not in KINDS or kind == "task":
        raise ValueError("unknown event kind {0!r} (decision, lifecycle or note)".format(kind))
    event = {"time": fields.pop("time", None) or utc_now(), "kind": kind, "msg": str(msg)}
    if data:
        event["data"] = data
    event.update((k, v) for k, v in fields.items() if v is not None)
    return event


def append_line(path, event):
    """Append one JSON line, under an exclusive lock; the directory is created 0700, the file 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    line = json.dumps(event, sort_keys=True, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode("utf-8"))
    finally:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_lines(path):
    """The events of a timeline file, in order; a line that is not JSON is skipped."""
    events = []
    if not path or not os.path.exists(path):
        return events
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def _pg_driver():
    try:
        import psycopg2 as driver  # pylint: disable=import-outside-toplevel
        return driver
    except ImportError:
        pass
    try:
        import psycopg as driver  # pylint: disable=import-outside-toplevel
        return driver
    except ImportError:
        return None


class PostgresTimeline(object):
    """A timeline table: (id bigserial, incident, time, kind, event jsonb). Created when missing."""

    def __init__(self, dsn, table="incident_timeline"):
        if not TABLE.match(table or ""):
            raise ValueError("invalid timeline table name {0!r}".format(table))
        driver = _pg_driver()
        if driver is None:
            raise ImportError("psycopg2 or psycopg is needed for the PostgreSQL timeline")
        self.table = table
        self.conn = driver.connect(dsn)
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS {0} (id bigserial PRIMARY KEY, incident text, time timestamptz NOT NULL, "
                "kind text NOT NULL, event jsonb NOT NULL)".format(table))

    def write(self, event):
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO {0} (incident, time, kind, event) VALUES (%s, %s, %s, %s)".format(self.table),
                        (event.get("incident"), event["time"], event["kind"], json.dumps(event, sort_keys=True, default=str)))

    def read(self, incident):
        with self.conn.cursor() as cur:
            cur.execute("SELECT event FROM {0} WHERE incident = %s ORDER BY time, id".format(self.table), (incident,))
            return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in cur.fetchall()]

    def close(self):
        self.conn.close()


class TimelineWriter(object):
    """Writes events to a file and, when a DSN is given, a PostgreSQL table; PostgreSQL errors are reported, not raised.

    warn -- a callable taking one message; called once when the PostgreSQL copy fails.
    """

    def __init__(self, path=None, dsn=None, table="incident_timeline", warn=None):
        self.path = path
        self.dsn = dsn
        self.table = table
        self.warn = warn or (lambda msg: None)
        self._pg = None
        self.pg_error = None

    def _postgres(self):
        if self._pg is None and self.dsn and self.pg_error is None:
            try:
                self._pg = PostgresTimeline(self.dsn, self.table)
            except Exception as exc:  # pylint: disable=broad-except
                self._pg_failed(exc)
        return self._pg

    def _pg_failed(self, exc):
        # Never the DSN: it can hold a password.
        self.pg_error = "{0}: {1}".format(type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        self.warn("incident timeline: the PostgreSQL table {0} is not written ({1}); the file still is".format(self.table, self.pg_error))
        self.close()

    def write(self, event):
        if self.path:
            append_line(self.path, event)
        pg = self._postgres()
        if pg is not None:
            try:
                pg.write(event)
            except Exception as exc:  # pylint: disable=broad-except
                self._pg_failed(exc)

    def close(self):
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self._pg = None
