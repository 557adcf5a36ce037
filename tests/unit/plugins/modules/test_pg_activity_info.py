# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils.postgres.activity import LIMITS_SQL
from ansible_collections.sre.runbooks.plugins.modules import pg_activity_info
from ansible_collections.sre.runbooks.plugins.modules.pg_activity_info import (
    activity_sql,
    option_problems,
    summarise_activity,
)

OWN_PID = 100

SETTINGS = dict(server_version="15.10", max_connections=100, superuser_reserved_connections=3, reserved_connections=0, own_pid=OWN_PID)


def client(pid, state, seconds=1.0, user="app", db="app", query="SELECT 1", wait=None, app="api"):
    return dict(
        pid=pid, usename=user, datname=db, application_name=app, client_addr="10.0.0.7", state=state,
        backend_type="client backend", wait_event_type=wait, duration_seconds=seconds, query=query,
    )


def background(pid, backend_type, state=None):
    return dict(
        pid=pid, usename=None, datname=None, application_name="", client_addr=None, state=state,
        backend_type=backend_type, wait_event_type="Activity", duration_seconds=None, query="",
    )


def hidden(pid, db="app"):
    # What a role without pg_read_all_stats sees of another role's session.
    return dict(
        pid=pid, usename="other", datname=db, application_name="", client_addr=None, state=None,
        backend_type=None, wait_event_type=None, duration_seconds=None, query="<insufficient privilege>",
    )


def rows_with_clients(count):
    rows = [client(OWN_PID, "active", 0.0, user="postgres", db="postgres", query="SELECT pid ... FROM pg_stat_activity")]
    rows += [client(1000 + n, "idle", 5.0) for n in range(count - 1)]
    rows += [background(1, "checkpointer"), background(2, "walwriter"), background(3, "autovacuum launcher"),
             background(4, "walsender", state="streaming")]
    return rows


def summarise(rows, threshold=600, warn=80, include_queries=False, settings=None, limits=()):
    return summarise_activity(settings or SETTINGS, rows, threshold, warn, include_queries, limits=limits)


def test_counts_only_client_backends_against_usable_slots():
    result = summarise(rows_with_clients(10))
    assert result["total_connections"] == 10
    assert result["background_processes"] == 4
    assert result["available_connections"] == 100 - 3 - 10
    assert result["utilization_percent"] == 10.3  # 10 of 97 usable slots
    assert result["exhausted"] is False
    assert result["by_state"] == {"active": 1, "idle": 9}
    assert result["by_database"] == {"postgres": 1, "app": 9}
    assert result["by_user"] == {"postgres": 1, "app": 9}
    assert result["server_version"] == "15.10"
    assert result["max_connections"] == 100
    assert result["superuser_reserved_connections"] == 3


def test_counts_by_application_with_states():
    rows = rows_with_clients(4) + [
        client(801, "idle in transaction", app="billing"), client(802, "idle", app="billing"), client(803, "active", app=""),
        background(804, "walsender", state="streaming"),
    ]
    result = summarise(rows)
    assert result["by_application"] == {
        "api": {"total": 4, "by_state": {"active": 1, "idle": 3}},
        "billing": {"total": 2, "by_state": {"idle in transaction": 1, "idle": 1}},
        "": {"total": 1, "by_state": {"active": 1}},
    }
    assert sum(group["total"] for group in result["by_application"].values()) == result["total_connections"]


def test_headroom_agrees_with_the_existing_figures_and_names_the_tightest_limit():
    rows = rows_with_clients(10) + [client(900 + n, "idle", user="report", db="analytics") for n in range(3)]
    limits = [dict(scope="role", name="report", conn_limit=4), dict(scope="database", name="analytics", conn_limit=10)]
    result = summarise(rows, limits=limits)
    server = result["headroom"]["server"]
    assert (server["limit"], server["used"]) == (97, 13)
    assert (server["available"], server["utilization_percent"], server["exhausted"]) == (
        result["available_connections"], result["utilization_percent"], result["exhausted"])
    assert result["headroom"]["roles"]["report"] == dict(limit=4, used=3, available=1, utilization_percent=75.0, exhausted=False)
    assert result["headroom"]["databases"]["analytics"] == dict(limit=10, used=3, available=7, utilization_percent=30.0, exhausted=False)
    assert (result["headroom"]["tightest"]["scope"], result["headroom"]["tightest"]["name"]) == ("role", "report")


@pytest.mark.parametrize("clients, exhausted", [(77, False), (78, True), (97, True)])
def test_exhausted_at_the_warn_threshold(clients, exhausted):
    # 77/97 = 79.4%, 78/97 = 80.4%
    result = summarise(rows_with_clients(clients), warn=80)
    assert result["exhausted"] is exhausted


def test_exactly_at_threshold_is_exhausted():
    settings = dict(SETTINGS, max_connections=13)  # 10 usable slots
    result = summarise(rows_with_clients(8), warn=80, settings=settings)
    assert result["utilization_percent"] == 80.0
    assert result["exhausted"] is True


def test_reserved_slots_and_overflow():
    settings = dict(SETTINGS, max_connections=20, superuser_reserved_connections=3, reserved_connections=2)
    result = summarise(rows_with_clients(17), settings=settings)
    assert result["available_connections"] == 0
    assert result["utilization_percent"] == 113.3
    assert result["exhausted"] is True


def test_long_running_filter_and_order():
    rows = rows_with_clients(3) + [
        client(201, "active", 601.26, query="UPDATE t SET x = 1"),
        client(202, "idle in transaction", 1800.0, wait="Client"),
        client(203, "active", 599.9),
        client(204, "idle", 7200.0),
        client(205, "idle in transaction (aborted)", 600.0),
        background(206, "autovacuum worker", state="active"),
    ]
    rows[0]["duration_seconds"] = 9999.0  # our own session never counts
    result = summarise(rows, threshold=600)
    assert [entry["pid"] for entry in result["long_running"]] == [202, 201, 205]
    assert result["long_running"][1] == dict(
        pid=201, usename="app", datname="app", application_name="api", client_addr="10.0.0.7",
        state="active", duration_seconds=601.3, wait_event_type=None,
    )
    assert result["idle_in_transaction"] == 2


def test_query_text_only_when_asked_and_truncated():
    rows = [client(301, "active", 700.0, query="SELECT '" + "x" * 300 + "'")]
    assert "query" not in summarise(rows)["long_running"][0]
    query = summarise(rows, include_queries=True)["long_running"][0]["query"]
    assert len(query) == 200
    assert query.startswith("SELECT 'xxx")


def test_hidden_sessions_count_as_unknown_clients():
    rows = rows_with_clients(2) + [client(1001, "active", 3.0), hidden(401), hidden(402), hidden(403, db=None)]
    result = summarise(rows, threshold=0)
    assert result["total_connections"] == 5
    assert result["by_state"] == {"active": 2, "idle": 1, "unknown": 2}
    assert result["background_processes"] == 5
    assert [entry["pid"] for entry in result["long_running"]] == [1001]


def test_activity_sql_fetches_query_text_only_when_asked():
    assert "NULL::text AS query" in activity_sql(False)
    assert " query FROM pg_stat_activity" in activity_sql(True)


def test_option_problems():
    assert option_problems(dict(long_running_threshold=0, utilization_warn_percent=100)) == []
    assert option_problems(dict(long_running_threshold=-1, utilization_warn_percent=0)) == [
        "long_running_threshold must be 0 or more seconds, got -1",
        "utilization_warn_percent must be between 1 and 100, got 0",
    ]


class FakeCursor:
    def __init__(self, rows, limits):
        self.rows = rows
        self.limits = limits
        self.result = []

    def mogrify(self, sql, params):
        return sql.encode()

    def execute(self, sql, params=None):
        if "current_setting" in sql:
            self.result = [SETTINGS]
        elif sql == LIMITS_SQL:
            self.result = self.limits
        else:
            self.result = self.rows

    def fetchall(self):
        return self.result

    def close(self):
        pass


class FakeConnection:
    closed = False

    def __init__(self, rows, limits=()):
        self.rows = rows
        self.limits = list(limits)

    def cursor(self, **kwargs):
        return FakeCursor(self.rows, self.limits)

    def close(self):
        self.closed = True


@pytest.mark.parametrize("check_mode", [False, True])
def test_main_reports_without_changing(run_module, monkeypatch, check_mode):
    conn = FakeConnection(rows_with_clients(5) + [client(501, "active", 900.0)])
    monkeypatch.setattr(pg_activity_info, "connect", lambda module: conn)
    outcome = run_module(pg_activity_info.main, {"login_host": "db", "_ansible_check_mode": check_mode})
    assert outcome.rc == 0
    assert outcome.result["changed"] is False
    assert outcome.result["total_connections"] == 6
    assert [entry["pid"] for entry in outcome.result["long_running"]] == [501]
    assert outcome.result["queries"] == [pg_activity_info.SETTINGS_SQL, activity_sql(False), LIMITS_SQL]
    assert conn.closed


def test_main_reports_the_headroom_under_the_limits_it_read(run_module, monkeypatch):
    rows = rows_with_clients(3) + [client(700 + n, "idle", user="api") for n in range(4)]
    conn = FakeConnection(rows, limits=[dict(scope="role", name="api", conn_limit=5)])
    monkeypatch.setattr(pg_activity_info, "connect", lambda module: conn)
    result = run_module(pg_activity_info.main, {"login_host": "db"}).result
    assert result["headroom"]["roles"] == {"api": dict(limit=5, used=4, available=1, utilization_percent=80.0, exhausted=True)}
    assert result["headroom"]["tightest"]["name"] == "api"
    assert result["exhausted"] is False  # the server's limit, as before


def test_main_refuses_bad_thresholds(run_module, monkeypatch):
    monkeypatch.setattr(pg_activity_info, "connect", lambda module: FakeConnection([]))
    outcome = run_module(pg_activity_info.main, {"utilization_warn_percent": 150})
    assert outcome.rc == 1
    assert outcome.result["msg"] == "Failed to use the thresholds: utilization_warn_percent must be between 1 and 100, got 150"


def test_main_warns_about_hidden_sessions(run_module, monkeypatch):
    # Under pytest the controller is loaded, so AnsibleModule.warn() would go to Display: record it instead.
    warnings = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: warnings.append(warning))
    monkeypatch.setattr(pg_activity_info, "connect", lambda module: FakeConnection(rows_with_clients(2) + [hidden(601)]))
    outcome = run_module(pg_activity_info.main, {"login_user": "app"})
    assert outcome.result["by_state"]["unknown"] == 1
    assert len(warnings) == 1
    assert warnings[0].startswith("1 session(s) of other roles are hidden from app")
