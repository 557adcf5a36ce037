# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading pg_stat_activity: which rows are client connections, how to count them, and the headroom left under the connection limits.

Shared by pg_activity_info (the report) and pg_terminate_backends (the action),
so both agree on what a client connection is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CLIENT_BACKEND = "client backend"
IDLE = "idle"
IDLE_IN_TRANSACTION_STATES = ("idle in transaction", "idle in transaction (aborted)")
# Shown to a role without pg_read_all_stats for other roles' sessions (their state is NULL).
UNKNOWN = "unknown"


def is_client(row):
    """Whether a pg_stat_activity row is a client connection (one that uses a max_connections slot)."""
    if row.get("backend_type") is None:
        # Another role's session hidden from us (backend_type is NULL too): a process attached
        # to a database is almost always a client; the launchers and writers have no database.
        return row.get("datname") is not None
    return row["backend_type"] == CLIENT_BACKEND


def count(values):
    """{value: number of times it occurs}."""
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def connection_counts(rows):
    """Client connections in pg_stat_activity rows: {"total": n, "by_state": {state: n}}."""
    clients = [row for row in rows if is_client(row)]
    return dict(total=len(clients), by_state=count(row.get("state") or UNKNOWN for row in clients))


# WAL senders do not take max_connections slots (max_wal_senders has its own), but a role's
# CONNECTION LIMIT counts its replication connections, and a logical WAL sender is attached to
# its database.
WAL_SENDER = "walsender"

# Roles and databases with a CONNECTION LIMIT, in the shape connection_headroom() reads
# (scope, name, conn_limit). Superusers are not held to their role's limit and nobody
# connects to a database that does not allow connections, so neither is listed.
LIMITS_SQL = (
    "SELECT 'role' AS scope, rolname AS name, rolconnlimit AS conn_limit FROM pg_roles"
    " WHERE rolconnlimit >= 0 AND rolcanlogin AND NOT rolsuper"
    " UNION ALL"
    " SELECT 'database', datname, datconnlimit FROM pg_database WHERE datconnlimit >= 0 AND datallowconn"
    " ORDER BY 1, 2"
)


def application_counts(rows):
    """Client connections by application_name: {name: {"total": n, "by_state": {state: n}}}.

    "" is the name of clients that set no application_name.
    """
    groups = {}
    for row in rows:
        if is_client(row):
            groups.setdefault(row.get("application_name") or "", []).append(row)
    return dict((name, connection_counts(group)) for name, group in groups.items())


def counts_toward_limits(row):
    """Whether a row takes a slot of its role's or its database's CONNECTION LIMIT: client connections and WAL senders."""
    return is_client(row) or row.get("backend_type") == WAL_SENDER


def slot_usage(limit, used, warn_percent):
    """How much of a connection limit is used: dict(limit, used, available, utilization_percent, exhausted).

    available is never below 0; utilization_percent has one decimal and is 100.0 for a limit of 0.
    """
    utilization = round(100.0 * used / limit, 1) if limit > 0 else 100.0
    return dict(limit=limit, used=used, available=max(limit - used, 0), utilization_percent=utilization,
                exhausted=utilization >= warn_percent)


def connection_headroom(settings, rows, limits, warn_percent):
    """The connections left under every limit that applies, from the settings row, pg_stat_activity rows and LIMITS_SQL rows.

    server    -- max_connections minus the reserved slots (superuser_reserved_connections, and
                 reserved_connections from PostgreSQL 16), used by client connections
    roles     -- {role: usage} for each role with a CONNECTION LIMIT (rolconnlimit)
    databases -- {database: usage} for each database with a CONNECTION LIMIT (datconnlimit)
    tightest  -- the limit with the fewest connections left: dict(scope, name, **usage),
                 scope server (name None), role or database; the server wins a tie
    """
    usable = settings["max_connections"] - settings["superuser_reserved_connections"] - settings.get("reserved_connections", 0)
    server = slot_usage(usable, sum(1 for row in rows if is_client(row)), warn_percent)
    counted = [row for row in rows if counts_toward_limits(row)]
    scopes = dict(role=({}, "usename"), database=({}, "datname"))
    for limit in limits:
        usages, column = scopes[limit["scope"]]
        used = sum(1 for row in counted if row.get(column) == limit["name"])
        usages[limit["name"]] = slot_usage(limit["conn_limit"], used, warn_percent)
    roles, databases = scopes["role"][0], scopes["database"][0]
    candidates = [("server", None, server)]
    candidates += [("role", name, roles[name]) for name in sorted(roles)]
    candidates += [("database", name, databases[name]) for name in sorted(databases)]
    scope, name, usage = min(candidates, key=lambda candidate: candidate[2]["available"])
    return dict(server=server, roles=roles, databases=databases, tightest=dict(usage, scope=scope, name=name))
