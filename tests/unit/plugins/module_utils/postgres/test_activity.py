# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres.activity import (
    application_counts,
    connection_counts,
    connection_headroom,
    count,
    counts_toward_limits,
    is_client,
    slot_usage,
)


@pytest.mark.parametrize("row, expected", [
    (dict(backend_type="client backend", datname="app"), True),
    (dict(backend_type="walsender", datname=None), False),
    (dict(backend_type="walsender", datname="app"), False),  # logical replication sender attached to a database
    (dict(backend_type="autovacuum worker", datname="app"), False),
    (dict(backend_type="parallel worker", datname="app"), False),
    (dict(backend_type=None, datname="app"), True),  # another role's session, hidden from us
    (dict(backend_type=None, datname=None), False),
])
def test_is_client(row, expected):
    assert is_client(row) is expected


def test_count():
    assert count(["idle", "active", "idle"]) == {"idle": 2, "active": 1}
    assert count([]) == {}


def test_connection_counts_only_clients_and_unknown_state():
    rows = [
        dict(backend_type="client backend", datname="app", state="idle"),
        dict(backend_type="client backend", datname="app", state="active"),
        dict(backend_type="client backend", datname="app", state="idle"),
        dict(backend_type=None, datname="app", state=None),
        dict(backend_type="walsender", datname=None, state="streaming"),
        dict(backend_type="checkpointer", datname=None, state=None),
    ]
    assert connection_counts(rows) == {"total": 4, "by_state": {"idle": 2, "active": 1, "unknown": 1}}


SETTINGS = dict(max_connections=100, superuser_reserved_connections=3, reserved_connections=0)


def row(backend_type="client backend", usename="app", datname="app", state="idle", application_name="api"):
    return dict(backend_type=backend_type, usename=usename, datname=datname, state=state, application_name=application_name)


def test_application_counts_group_clients_by_name_with_their_states():
    rows = [
        row(application_name="api", state="idle"),
        row(application_name="api", state="idle in transaction"),
        row(application_name="api", state="idle"),
        row(application_name="report", state="active"),
        row(application_name="", state="idle"),
        row(application_name=None, state=None, backend_type=None),  # another role's session, hidden from us
        row(backend_type="walsender", application_name="replica-1", datname=None, state="streaming"),
        row(backend_type="autovacuum worker", application_name="", usename=None, state="active"),
    ]
    assert application_counts(rows) == {
        "api": {"total": 3, "by_state": {"idle": 2, "idle in transaction": 1}},
        "report": {"total": 1, "by_state": {"active": 1}},
        "": {"total": 2, "by_state": {"idle": 1, "unknown": 1}},
    }
    assert application_counts([]) == {}


@pytest.mark.parametrize("backend_type, datname, expected", [
    ("client backend", "app", True),
    ("walsender", None, True),  # a physical replication connection of its role
    ("walsender", "app", True),  # a logical WAL sender, attached to its database
    (None, "app", True),
    ("autovacuum worker", "app", False),
    ("parallel worker", "app", False),
    ("checkpointer", None, False),
])
def test_counts_toward_limits(backend_type, datname, expected):
    assert counts_toward_limits(dict(backend_type=backend_type, datname=datname)) is expected


def test_slot_usage():
    assert slot_usage(10, 8, 80) == dict(limit=10, used=8, available=2, utilization_percent=80.0, exhausted=True)
    assert slot_usage(10, 7, 80) == dict(limit=10, used=7, available=3, utilization_percent=70.0, exhausted=False)
    assert slot_usage(3, 5, 80) == dict(limit=3, used=5, available=0, utilization_percent=166.7, exhausted=True)
    assert slot_usage(0, 0, 80) == dict(limit=0, used=0, available=0, utilization_percent=100.0, exhausted=True)


def test_headroom_without_limits_is_the_servers():
    rows = [row() for _index in range(10)] + [row(backend_type="walsender", usename="replicator", datname=None, state="streaming")]
    headroom = connection_headroom(dict(SETTINGS, reserved_connections=2), rows, [], 80)
    server = dict(limit=95, used=10, available=85, utilization_percent=10.5, exhausted=False)
    assert headroom == dict(server=server, roles={}, databases={}, tightest=dict(server, scope="server", name=None))


def test_headroom_under_role_and_database_limits():
    rows = (
        [row(usename="api", datname="orders") for _index in range(4)]
        + [row(usename="report", datname="orders"), row(usename="report", datname="analytics")]
        + [row(backend_type="walsender", usename="replicator", datname=None, state="streaming")]
        + [row(backend_type="walsender", usename="replicator", datname="orders", state="streaming")]
        + [row(backend_type="autovacuum worker", usename=None, datname="orders", state="active")]
    )
    limits = [
        dict(scope="role", name="api", conn_limit=5),
        dict(scope="role", name="replicator", conn_limit=2),
        dict(scope="role", name="idle-role", conn_limit=10),
        dict(scope="database", name="orders", conn_limit=20),
    ]
    headroom = connection_headroom(SETTINGS, rows, limits, 80)
    assert headroom["server"] == dict(limit=97, used=6, available=91, utilization_percent=6.2, exhausted=False)
    assert headroom["roles"] == {
        "api": dict(limit=5, used=4, available=1, utilization_percent=80.0, exhausted=True),
        "replicator": dict(limit=2, used=2, available=0, utilization_percent=100.0, exhausted=True),
        "idle-role": dict(limit=10, used=0, available=10, utilization_percent=0.0, exhausted=False),
    }
    # 5 client connections and the logical WAL sender; the autovacuum worker is not a connection.
    assert headroom["databases"] == {"orders": dict(limit=20, used=6, available=14, utilization_percent=30.0, exhausted=False)}
    assert headroom["tightest"] == dict(scope="role", name="replicator", limit=2, used=2, available=0, utilization_percent=100.0, exhausted=True)


def test_the_server_is_the_tightest_limit_on_a_tie_and_roles_come_before_databases():
    settings = dict(SETTINGS, max_connections=8)  # 5 usable slots
    rows = [row(usename="api", datname="orders") for _index in range(3)]
    tie = connection_headroom(settings, rows, [dict(scope="role", name="api", conn_limit=5)], 80)
    assert (tie["tightest"]["scope"], tie["tightest"]["available"]) == ("server", 2)
    limits = [dict(scope="database", name="orders", conn_limit=4), dict(scope="role", name="api", conn_limit=4)]
    assert connection_headroom(SETTINGS, rows, limits, 80)["tightest"]["scope"] == "role"
