# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading pg_stat_activity: which rows are client connections, and how to count them.

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
