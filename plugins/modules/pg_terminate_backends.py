#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_terminate_backends
short_description: Terminate idle PostgreSQL connections and long-running queries
version_added: 0.1.0
description:
  - The action of the "database connection exhaustion" runbooks, in one task and with guard rails.
    The runbooks free connections by calling C(pg_terminate_backend) on the pids a C(pg_stat_activity) query selects;
    this module does the same for the sessions that match the thresholds and filters given, and proves they are gone.
  - A session is terminated when it is V(idle) for at least O(idle_threshold) seconds,
    idle inside a transaction for at least O(idle_in_transaction_threshold) seconds,
    or V(active) in a statement that started at least O(long_running_threshold) seconds ago.
    At least one of the three must be given.
  - Only client backends are ever terminated. The module's own session, WAL senders (replication and C(pg_basebackup)),
    autovacuum, parallel and background workers are never touched, nor are sessions of superusers unless
    O(include_superusers=true).
  - Each termination is guarded. The session is terminated only if it is still the same backend in the same state
    as when it was read (same C(backend_start), C(state) and C(state_change)). A session that started a new statement
    or ended in the meantime is left alone and reported in RV(not_terminated).
  - After terminating, the module waits up to O(wait_timeout) seconds for the backends to go and fails when
    C(pg_terminate_backend) returned false or a backend is still there.
  - In check mode, RV(terminated) lists exactly the sessions that would be terminated, and none is.
  - Requires PostgreSQL 10 or later.
options:
  idle_threshold:
    description:
      - Terminate sessions in state V(idle) for at least this many seconds (since C(state_change)).
      - The runbooks terminate idle connections after 10 minutes, V(600).
      - Must be more than V(0). Not set, idle sessions are left alone.
    type: int
  idle_in_transaction_threshold:
    description:
      - Terminate sessions in state V(idle in transaction) or V(idle in transaction (aborted)) for at least this many seconds.
        Such sessions hold locks and a connection slot and block vacuum; their transaction is rolled back.
      - The runbooks terminate any non-idle session whose statement started more than 10 minutes ago, V(600).
      - Must be more than V(0). Not set, sessions idle in a transaction are left alone.
    type: int
  long_running_threshold:
    description:
      - Terminate sessions in state V(active) whose statement started at least this many seconds ago (C(query_start)).
      - The runbooks terminate queries running for more than 10 minutes, V(600).
      - Must be more than V(0). Not set, running statements are left alone.
    type: int
  databases:
    description:
      - Only terminate sessions connected to one of these databases. Empty, any database.
    type: list
    elements: str
    default: []
  users:
    description:
      - Only terminate sessions of one of these roles. Empty, any role.
    type: list
    elements: str
    default: []
  application_names:
    description:
      - Only terminate sessions whose C(application_name) is one of these. Empty, any application.
    type: list
    elements: str
    default: []
  include_superusers:
    description:
      - Whether sessions of superusers may be terminated too. Left out by default, they are reported in RV(protected).
      - Only a superuser can terminate a superuser's session.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for the terminated backends to leave C(pg_stat_activity) before failing.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - The login role must be a superuser or a member of C(pg_signal_backend) to terminate other roles' sessions,
    and a superuser or a member of C(pg_read_all_stats) (for example through C(pg_monitor)) to see their state.
    Sessions whose state is hidden are never terminated.
  - Terminating a session rolls back its open transaction; the client sees its connection closed.
seealso:
  - module: sre.runbooks.pg_activity_info
  - name: pg_terminate_backend
    description: The PostgreSQL function this module calls.
    link: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Show which connections the runbook's 10-minute rule would terminate
  sre.runbooks.pg_terminate_backends:
    login_host: db.example.com
    login_user: sre
    login_password: "{{ sre_password }}"
    login_db: app
    idle_threshold: 600
    long_running_threshold: 600
  check_mode: true
  register: would_terminate

- name: Free the connections a leaking release holds idle in transactions
  sre.runbooks.pg_terminate_backends:
    login_host: db.example.com
    idle_in_transaction_threshold: 300
    databases: [app]
    application_names: [api-worker]
  environment:
    PGPASSWORD: "{{ sre_password }}"
"""

RETURN = r"""
terminated:
  description:
    - The sessions terminated, longest first; in check mode, those that would be terminated.
  returned: success
  type: list
  elements: dict
  contains:
    pid:
      description: Process ID of the backend.
      type: int
      sample: 4711
    usename:
      description: Role of the session.
      type: str
      sample: app
    datname:
      description: Database of the session.
      type: str
      sample: app
    application_name:
      description: C(application_name) the client set.
      type: str
      sample: api-worker
    client_addr:
      description: Client IP address; V(null) for Unix socket connections.
      type: str
      sample: 10.0.3.17
    state:
      description: State of the session when it was read.
      type: str
      sample: idle in transaction
    age_seconds:
      description: Seconds in that state (for V(active) sessions, since the statement started), with one decimal.
      type: float
      sample: 1289.4
    reason:
      description: Which rule matched, V(idle), V(idle in transaction) or V(long-running).
      type: str
      sample: idle in transaction
    threshold_seconds:
      description: The threshold of that rule.
      type: int
      sample: 600
  sample:
    - pid: 4711
      usename: app
      datname: app
      application_name: api-worker
      client_addr: 10.0.3.17
      state: idle in transaction
      age_seconds: 1289.4
      reason: idle in transaction
      threshold_seconds: 600
not_terminated:
  description:
    - Sessions that matched but had started a new statement, changed state or ended before they could be terminated;
      left alone. Same fields as RV(terminated). Always empty in check mode.
  returned: success
  type: list
  elements: dict
  sample: []
protected:
  description:
    - Superusers' sessions that match the thresholds and filters but were left alone because O(include_superusers=false).
      Same fields as RV(terminated).
  returned: success
  type: list
  elements: dict
  sample: []
connections_before:
  description: Client connections before terminating, in total and by state.
  returned: success
  type: dict
  sample: {"total": 42, "by_state": {"active": 3, "idle": 37, "idle in transaction": 2}}
connections_after:
  description:
    - Client connections after terminating, in total and by state, as read from the server.
    - In check mode, what is expected to remain, that is RV(connections_before) less RV(terminated).
  returned: success
  type: dict
  sample: {"total": 5, "by_state": {"active": 3, "idle": 2}}
queries:
  description:
    - The SQL statements the module ran, as sent to the server; in check mode the terminations it would run.
    - A statement repeated while waiting for the backends to go is listed once.
  returned: success
  type: list
  elements: str
  sample:
    - "SELECT a.pid, a.usename, ... FROM pg_stat_activity AS a LEFT JOIN pg_roles AS r ON r.oid = a.usesysid"
    - "SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE pid = 4711 AND ..."
"""

import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.activity import (
    CLIENT_BACKEND,
    IDLE,
    IDLE_IN_TRANSACTION_STATES,
    connection_counts,
    count,
)
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    postgres_argument_spec,
)

ACTIVE = "active"
REASON_IDLE = "idle"
REASON_IDLE_IN_TRANSACTION = "idle in transaction"
REASON_LONG_RUNNING = "long-running"
THRESHOLD_OPTIONS = ("idle_threshold", "idle_in_transaction_threshold", "long_running_threshold")
POLL_INTERVAL = 0.2

# One read of pg_stat_activity with what the plan needs: whether the session is ours or a superuser's,
# and the times that identify its current state (for the guarded termination below).
ACTIVITY_SQL = (
    "SELECT a.pid, a.usename, a.datname, a.application_name, host(a.client_addr) AS client_addr, a.state, a.backend_type,"
    " a.pid = pg_backend_pid() AS own, coalesce(r.rolsuper, false) AS superuser, a.backend_start, a.state_change,"
    " extract(epoch FROM now() - a.state_change)::float8 AS state_seconds,"
    " extract(epoch FROM now() - a.query_start)::float8 AS query_seconds"
    " FROM pg_stat_activity AS a LEFT JOIN pg_roles AS r ON r.oid = a.usesysid"
)

# The runbooks' "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ...", for one session and only
# while it is the backend that was read, still in the state it was read in: a session that has since
# started a new statement returns no row and is left alone.
TERMINATE_SQL = (
    "SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity"
    " WHERE pid = %(pid)s AND backend_start = %(backend_start)s AND state = %(state)s AND state_change = %(state_change)s"
)

REMAINING_SQL = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = ANY(%(pids)s)"


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        idle_threshold=dict(type="int"),
        idle_in_transaction_threshold=dict(type="int"),
        long_running_threshold=dict(type="int"),
        databases=dict(type="list", elements="str", default=[]),
        users=dict(type="list", elements="str", default=[]),
        application_names=dict(type="list", elements="str", default=[]),
        include_superusers=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=10),
    )
    return spec


def option_problems(params):
    """Problems with the thresholds, as sentences; empty when they are usable."""
    problems = []
    given = [name for name in THRESHOLD_OPTIONS if params.get(name) is not None]
    if not given:
        problems.append("give at least one of {0}: without one, no session is selected".format(", ".join(THRESHOLD_OPTIONS)))
    for name in given:
        if params[name] <= 0:
            problems.append("{0} must be more than 0 seconds, got {1}".format(name, params[name]))
    if params.get("wait_timeout", 0) < 0:
        problems.append("wait_timeout must be 0 or more seconds, got {0}".format(params["wait_timeout"]))
    return problems


def _rule(row, criteria):
    """(reason, age in seconds, threshold) of the rule that matches the session's state, or None."""
    state = row.get("state")
    if state == IDLE:
        rule = (REASON_IDLE, row.get("state_seconds"), criteria.get("idle_threshold"))
    elif state in IDLE_IN_TRANSACTION_STATES:
        rule = (REASON_IDLE_IN_TRANSACTION, row.get("state_seconds"), criteria.get("idle_in_transaction_threshold"))
    elif state == ACTIVE:
        rule = (REASON_LONG_RUNNING, row.get("query_seconds"), criteria.get("long_running_threshold"))
    else:
        return None
    reason, age, threshold = rule
    if threshold is None or age is None or age < threshold:
        return None
    return rule


def _selected(row, criteria):
    for key, option in (("datname", "databases"), ("usename", "users"), ("application_name", "application_names")):
        allowed = criteria.get(option) or []
        if allowed and row.get(key) not in allowed:
            return False
    return True


def _entry(row, rule):
    reason, age, threshold = rule
    return dict(
        pid=row["pid"],
        usename=row.get("usename"),
        datname=row.get("datname"),
        application_name=row.get("application_name"),
        client_addr=row.get("client_addr"),
        state=row["state"],
        age_seconds=round(age, 1),
        reason=reason,
        threshold_seconds=threshold,
    )


def plan_terminations(rows, criteria):
    """Choose the sessions to terminate. Pure: no database needed.

    rows -- pg_stat_activity rows as read by ACTIVITY_SQL
    criteria -- the module's thresholds, filters and include_superusers
    Returns (to terminate, protected superusers' sessions), each a list of result entries, longest first.
    Never chosen: our own session, anything but a client backend (WAL senders, workers, sessions hidden
    from us whose backend_type reads NULL), sessions outside the filters.
    """
    terminate, protected = [], []
    for row in rows:
        if row.get("own") or row.get("backend_type") != CLIENT_BACKEND or not _selected(row, criteria):
            continue
        rule = _rule(row, criteria)
        if rule is None:
            continue
        if row.get("superuser") and not criteria.get("include_superusers"):
            protected.append(_entry(row, rule))
        else:
            terminate.append(_entry(row, rule))
    for entries in (terminate, protected):
        entries.sort(key=lambda entry: (-entry["age_seconds"], entry["pid"]))
    return terminate, protected


def expected_after(before, terminate):
    """The connection counts once the planned sessions are gone (for check mode)."""
    by_state = dict(before["by_state"])
    for state, number in count(entry["state"] for entry in terminate).items():
        by_state[state] = by_state.get(state, 0) - number
        if by_state[state] <= 0:
            del by_state[state]
    return dict(total=before["total"] - len(terminate), by_state=by_state)


def _describe(entries):
    return ", ".join("{0} ({1}@{2}, {3})".format(e["pid"], e["usename"], e["datname"], e["reason"]) for e in entries)


def _collapse(queries):
    """The statements run, with a statement repeated in a row (the wait loop) listed once."""
    collapsed = []
    for query in queries:
        if not collapsed or collapsed[-1] != query:
            collapsed.append(query)
    return collapsed


def check_options(module):
    """Refuse unusable options before connecting."""
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("use", "the thresholds", "; ".join(problems))


def _terminate(db, target, rows_by_pid, terminate):
    """Run the guarded terminations; return (terminated, not_terminated). Fails when pg_terminate_backend says false."""
    done, not_terminated, refused = [], [], []
    for entry in terminate:
        row = rows_by_pid[entry["pid"]]
        params = dict(pid=row["pid"], backend_start=row["backend_start"], state=row["state"], state_change=row["state_change"])
        answer = db.read(TERMINATE_SQL, params)
        if not answer:
            not_terminated.append(entry)
        elif answer[0]["terminated"]:
            done.append(entry)
        else:
            refused.append(entry)
    if refused:
        raise RunbookError(
            "terminate", "backend(s) {0} on {1}".format(_describe(refused), target),
            "pg_terminate_backend() returned false", terminated=done, not_terminated=not_terminated, queries=_collapse(db.queries),
        )
    return done, not_terminated


def _wait_gone(db, target, rows_by_pid, entries, timeout):
    """Wait until the backends of entries have left pg_stat_activity; fail naming those that did not."""
    wanted = dict((entry["pid"], rows_by_pid[entry["pid"]]["backend_start"]) for entry in entries)
    deadline = time.monotonic() + timeout
    while True:
        rows = db.read(REMAINING_SQL, dict(pids=sorted(wanted)))
        remaining = [row["pid"] for row in rows if wanted.get(row["pid"]) == row["backend_start"]]
        if not remaining or time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    if remaining:
        left = [entry for entry in entries if entry["pid"] in remaining]
        raise RunbookError(
            "terminate", "backend(s) {0} on {1}".format(_describe(left), target),
            "still running {0} s after pg_terminate_backend()".format(timeout),
            terminated=entries, queries=_collapse(db.queries),
        )


def terminate_backends(module, conn):
    target = describe_target(module.params)
    db = QueryRecorder(conn, target, module.check_mode)
    rows = db.read(ACTIVITY_SQL)
    before = connection_counts(rows)
    terminate, protected = plan_terminations(rows, module.params)
    rows_by_pid = dict((row["pid"], row) for row in rows)

    if module.check_mode:
        for entry in terminate:
            row = rows_by_pid[entry["pid"]]
            db.write(TERMINATE_SQL, dict(pid=row["pid"], backend_start=row["backend_start"], state=row["state"], state_change=row["state_change"]))
        terminated, not_terminated, after = terminate, [], expected_after(before, terminate)
    else:
        terminated, not_terminated = _terminate(db, target, rows_by_pid, terminate)
        if terminated:
            _wait_gone(db, target, rows_by_pid, terminated, module.params["wait_timeout"])
            after = connection_counts(db.read(ACTIVITY_SQL))
        else:
            after = before

    if protected:
        module.warn(
            "{0} superuser session(s) match but were left alone: {1}. Set include_superusers=true to terminate them.".format(
                len(protected), _describe(protected))
        )
    return module.result(
        changed=bool(terminated),
        before=dict(sessions=[entry["pid"] for entry in terminate]),
        after=dict(sessions=[entry["pid"] for entry in terminate if entry in not_terminated]),
        terminated=terminated,
        not_terminated=not_terminated,
        protected=protected,
        connections_before=before,
        connections_after=after,
        queries=_collapse(db.queries),
    )


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
    module.run(terminate_backends, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
