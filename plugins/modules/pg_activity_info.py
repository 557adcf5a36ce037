#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_activity_info
short_description: Diagnose PostgreSQL connection exhaustion from pg_stat_activity
version_added: 0.1.0
description:
  - Runs the read-only checks of the "database connection exhaustion" runbooks in one task
    and returns the numbers they are read for.
  - Counts client connections by state, database, role and application (C(application_name), with their states),
    compares them with C(max_connections) minus the reserved slots, and lists sessions that have been busy for longer
    than O(long_running_threshold).
  - Reports the headroom left under every connection limit that applies, in RV(headroom), the server's
    (C(max_connections) minus C(superuser_reserved_connections) and C(reserved_connections)) and each
    C(CONNECTION LIMIT) set on a role (C(rolconnlimit)) or a database (C(datconnlimit)), and names the tightest one.
  - Only client backends are counted. Background processes (checkpointer, autovacuum, WAL sender, parallel workers, ...)
    do not use C(max_connections) slots; they are reported as RV(background_processes) only. WAL senders do count against
    role and database connection limits, and RV(headroom) counts them there.
  - Never changes anything; check mode behaves exactly like a normal run.
  - Requires PostgreSQL 10 or later.
options:
  long_running_threshold:
    description:
      - Sessions whose current statement (or, when idle in transaction, last statement) started at least this many seconds ago
        are listed in RV(long_running).
      - The default, 10 minutes, is the age at which the runbooks terminate long-running queries.
    type: int
    default: 600
  utilization_warn_percent:
    description:
      - RV(exhausted) is V(true) when RV(utilization_percent) is at or above this value.
      - Must be between 1 and 100.
    type: int
    default: 80
  include_queries:
    description:
      - Whether RV(long_running) includes the text of each session's statement, cut to 200 characters.
      - Off by default because statement text can hold sensitive literals (passwords, personal data).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - A role that is neither superuser nor a member of C(pg_read_all_stats) (for example through C(pg_monitor)) cannot see the type,
    state, start time or statement of other roles' sessions. Those attached to a database are counted as client connections
    with state V(unknown), none of them can appear in RV(long_running), and the module warns.
seealso:
  - module: community.postgresql.postgresql_info
  - name: pg_stat_activity
    description: The PostgreSQL view this module reads.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Check whether the database is running out of connections
  sre.runbooks.pg_activity_info:
    login_host: db.example.com
    login_user: monitor
    login_password: "{{ monitor_password }}"
    login_db: app
  register: activity

- name: Stop when connections are exhausted
  ansible.builtin.assert:
    that: not activity.exhausted
    fail_msg: >-
      {{ activity.total_connections }} of {{ activity.max_connections }} connections in use
      ({{ activity.utilization_percent }}%), by database {{ activity.by_database }}

- name: Say which limit runs out first and which applications hold the connections
  ansible.builtin.debug:
    msg: >-
      {{ activity.headroom.tightest.available }} connection(s) left under the {{ activity.headroom.tightest.scope }}
      limit {{ activity.headroom.tightest.name or '' }}; connections by application: {{ activity.by_application }}

- name: Show sessions busy for more than 2 minutes, with their statements
  sre.runbooks.pg_activity_info:
    login_host: db.example.com
    long_running_threshold: 120
    include_queries: true
  environment:
    PGPASSWORD: "{{ postgres_password }}"
"""

RETURN = r"""
server_version:
  description: Version of the PostgreSQL server.
  returned: success
  type: str
  sample: "15.10"
max_connections:
  description: The server's C(max_connections) setting.
  returned: success
  type: int
  sample: 100
superuser_reserved_connections:
  description: Slots kept for superusers (C(superuser_reserved_connections)).
  returned: success
  type: int
  sample: 3
reserved_connections:
  description: Slots kept for members of C(pg_use_reserved_connections) (C(reserved_connections), PostgreSQL 16 and later; V(0) before).
  returned: success
  type: int
  sample: 0
total_connections:
  description: Client connections open now, this module's own included.
  returned: success
  type: int
  sample: 42
available_connections:
  description:
    - Connections ordinary roles can still open, that is RV(max_connections) minus the reserved slots minus RV(total_connections).
    - Never below V(0).
  returned: success
  type: int
  sample: 55
utilization_percent:
  description:
    - RV(total_connections) as a percentage of the slots ordinary roles can use (RV(max_connections) minus the reserved slots),
      with one decimal.
    - Above V(100) when superusers are using reserved slots.
  returned: success
  type: float
  sample: 43.3
exhausted:
  description:
    - Whether RV(utilization_percent) is at or above O(utilization_warn_percent).
    - Only the server's limit; RV(headroom) has the same flag for each role and database limit.
  returned: success
  type: bool
  sample: false
by_state:
  description:
    - Number of client connections in each state (V(active), V(idle), V(idle in transaction), ...).
    - V(unknown) counts sessions whose state this role is not allowed to see.
  returned: success
  type: dict
  sample: {"active": 3, "idle": 37, "idle in transaction": 2}
by_database:
  description: Number of client connections to each database.
  returned: success
  type: dict
  sample: {"app": 40, "postgres": 2}
by_user:
  description: Number of client connections of each role.
  returned: success
  type: dict
  sample: {"app": 40, "postgres": 2}
by_application:
  description:
    - Client connections of each C(application_name), with the number in each state (as in RV(by_state)).
    - V("") holds the clients that set no C(application_name).
  returned: success
  type: dict
  sample:
    api-worker: {"total": 38, "by_state": {"idle": 35, "idle in transaction": 2, "active": 1}}
    psql: {"total": 1, "by_state": {"active": 1}}
headroom:
  description:
    - The connections left under each limit that applies; each limit has C(limit), C(used), C(available) (never below V(0)),
      C(utilization_percent) (one decimal) and C(exhausted) (at or above O(utilization_warn_percent)).
    - C(used) counts client connections; for role and database limits, WAL senders too (a role's replication
      connections, logical WAL senders in a database), as PostgreSQL counts them against a C(CONNECTION LIMIT).
    - A connection must fit under the server's limit, its role's and its database's at once.
  returned: success
  type: dict
  contains:
    server:
      description:
        - C(max_connections) minus C(superuser_reserved_connections) and C(reserved_connections), and the client connections using it;
          the same figures as RV(available_connections), RV(utilization_percent) and RV(exhausted).
      type: dict
      sample: {"limit": 97, "used": 42, "available": 55, "utilization_percent": 43.3, "exhausted": false}
    roles:
      description:
        - Each role that can log in, is not a superuser (superusers are not held to it) and has a C(CONNECTION LIMIT), by name.
      type: dict
      sample: {"api": {"limit": 40, "used": 38, "available": 2, "utilization_percent": 95.0, "exhausted": true}}
    databases:
      description: Each database that allows connections and has a C(CONNECTION LIMIT), by name.
      type: dict
      sample: {"orders": {"limit": 60, "used": 39, "available": 21, "utilization_percent": 65.0, "exhausted": false}}
    tightest:
      description:
        - The limit with the fewest connections left, with C(scope) (V(server), V(role) or V(database)) and C(name)
          (V(null) for the server); the server's when there is a tie.
      type: dict
      sample: {"scope": "role", "name": "api", "limit": 40, "used": 38, "available": 2, "utilization_percent": 95.0, "exhausted": true}
idle_in_transaction:
  description: Client connections idle inside an open transaction (states V(idle in transaction) and V(idle in transaction (aborted))).
  returned: success
  type: int
  sample: 2
background_processes:
  description: Rows of C(pg_stat_activity) that are not client connections; not counted anywhere else.
  returned: success
  type: int
  sample: 6
long_running:
  description:
    - Client sessions not idle whose statement started at least O(long_running_threshold) seconds ago, longest first.
    - The module's own session is left out.
  returned: success
  type: list
  elements: dict
  contains:
    pid:
      description: Process ID of the backend, for C(pg_cancel_backend) or C(pg_terminate_backend).
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
      description: State of the session.
      type: str
      sample: idle in transaction
    duration_seconds:
      description: Seconds since the statement started, with one decimal.
      type: float
      sample: 1289.4
    wait_event_type:
      description: What the session is waiting for (V(Lock), V(IO), V(Client), ...), or V(null) when it is not waiting.
      type: str
      sample: Lock
    query:
      description: The statement, cut to 200 characters.
      type: str
      returned: when O(include_queries=true)
      sample: UPDATE accounts SET balance = balance - 10 WHERE id = 42
  sample:
    - pid: 4711
      usename: app
      datname: app
      application_name: api-worker
      client_addr: 10.0.3.17
      state: idle in transaction
      duration_seconds: 1289.4
      wait_event_type: Client
queries:
  description: The SQL statements the module ran, as sent to the server.
  returned: success
  type: list
  elements: str
  sample:
    - "SELECT current_setting('server_version') AS server_version, ..."
    - "SELECT pid, usename, datname, application_name, client_addr, state, ... FROM pg_stat_activity"
    - "SELECT 'role' AS scope, rolname AS name, rolconnlimit AS conn_limit FROM pg_roles ..."
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.activity import (
    IDLE_IN_TRANSACTION_STATES,
    LIMITS_SQL,
    UNKNOWN,
    application_counts,
    connection_headroom,
    count as _count,
    is_client as _is_client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    postgres_argument_spec,
)

# Runbook 003 terminates queries running for longer than "interval '10 minutes'";
# runbook 001 does the same for idle connections.
DEFAULT_LONG_RUNNING_THRESHOLD = 600
# No runbook gives a figure for connections; 80% is their saturation alert for CPU (runbooks 001, 004).
DEFAULT_UTILIZATION_WARN_PERCENT = 80
QUERY_TEXT_LIMIT = 200

# The runbooks run SHOW max_connections; current_setting() reads the same settings in one statement.
SETTINGS_SQL = (
    "SELECT current_setting('server_version') AS server_version,"
    " current_setting('max_connections')::int AS max_connections,"
    " current_setting('superuser_reserved_connections')::int AS superuser_reserved_connections,"
    " coalesce(current_setting('reserved_connections', true), '0')::int AS reserved_connections,"
    " pg_backend_pid() AS own_pid"
)

# One pass over pg_stat_activity replaces the runbooks' GROUP BY state, GROUP BY datname and
# long-running queries (now() - query_start); the grouping is done by summarise_activity().
ACTIVITY_SQL = (
    "SELECT pid, usename, datname, application_name, host(client_addr) AS client_addr, state, backend_type,"
    " wait_event_type, extract(epoch FROM now() - query_start)::float8 AS duration_seconds, {query}"
    " FROM pg_stat_activity"
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        long_running_threshold=dict(type="int", default=DEFAULT_LONG_RUNNING_THRESHOLD),
        utilization_warn_percent=dict(type="int", default=DEFAULT_UTILIZATION_WARN_PERCENT),
        include_queries=dict(type="bool", default=False),
    )
    return spec


def option_problems(params):
    """Problems with the threshold options, as sentences; empty when they are usable."""
    problems = []
    if params["long_running_threshold"] < 0:
        problems.append("long_running_threshold must be 0 or more seconds, got {0}".format(params["long_running_threshold"]))
    if not 1 <= params["utilization_warn_percent"] <= 100:
        problems.append("utilization_warn_percent must be between 1 and 100, got {0}".format(params["utilization_warn_percent"]))
    return problems


def activity_sql(include_queries):
    # Statement text may hold secrets: it is not even fetched unless asked for.
    return ACTIVITY_SQL.format(query="query" if include_queries else "NULL::text AS query")


def _long_running_entry(row, include_queries):
    entry = dict(
        pid=row["pid"],
        usename=row["usename"],
        datname=row["datname"],
        application_name=row.get("application_name"),
        client_addr=row.get("client_addr"),
        state=row["state"],
        duration_seconds=round(row["duration_seconds"], 1),
        wait_event_type=row.get("wait_event_type"),
    )
    if include_queries:
        entry["query"] = (row.get("query") or "")[:QUERY_TEXT_LIMIT]
    return entry


def summarise_activity(settings, rows, long_running_threshold, utilization_warn_percent, include_queries, limits=()):
    """Turn the settings row, pg_stat_activity rows and LIMITS_SQL rows into the module's result. Pure: no database needed."""
    clients = [row for row in rows if _is_client(row)]
    total = len(clients)
    headroom = connection_headroom(settings, rows, limits, utilization_warn_percent)
    server = headroom["server"]

    long_running = [
        row for row in clients
        if row["pid"] != settings["own_pid"]
        and row["state"] not in (None, "idle")
        and row["duration_seconds"] is not None
        and row["duration_seconds"] >= long_running_threshold
    ]
    long_running.sort(key=lambda row: row["duration_seconds"], reverse=True)

    return dict(
        server_version=settings["server_version"],
        max_connections=settings["max_connections"],
        superuser_reserved_connections=settings["superuser_reserved_connections"],
        reserved_connections=settings["reserved_connections"],
        total_connections=total,
        available_connections=server["available"],
        utilization_percent=server["utilization_percent"],
        exhausted=server["exhausted"],
        by_state=_count(row["state"] or UNKNOWN for row in clients),
        by_database=_count(row["datname"] or UNKNOWN for row in clients),
        by_user=_count(row["usename"] or UNKNOWN for row in clients),
        by_application=application_counts(rows),
        headroom=headroom,
        idle_in_transaction=sum(1 for row in clients if row["state"] in IDLE_IN_TRANSACTION_STATES),
        background_processes=len(rows) - total,
        long_running=[_long_running_entry(row, include_queries) for row in long_running],
    )


def check_options(module):
    """Refuse unusable thresholds before connecting."""
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("use", "the thresholds", "; ".join(problems))


def report_activity(module, conn):
    db = QueryRecorder(conn, describe_target(module.params), module.check_mode)
    settings = db.read(SETTINGS_SQL)[0]
    rows = db.read(activity_sql(module.params["include_queries"]))
    limits = db.read(LIMITS_SQL)
    summary = summarise_activity(
        settings, rows,
        module.params["long_running_threshold"], module.params["utilization_warn_percent"], module.params["include_queries"],
        limits=limits,
    )
    hidden = summary["by_state"].get(UNKNOWN)
    if hidden:
        module.warn(
            "{0} session(s) of other roles are hidden from {1}: they cannot be checked for long-running statements. "
            "Connect as a superuser or a member of pg_monitor to see them.".format(hidden, module.params["login_user"])
        )
    return module.result(changed=False, queries=db.queries, **summary)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
    module.run(report_activity, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
