# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.modules import pg_terminate_backends
from ansible_collections.sre.runbooks.plugins.modules.pg_terminate_backends import (
    ACTIVITY_SQL,
    REMAINING_SQL,
    TERMINATE_SQL,
    expected_after,
    option_problems,
    plan_terminations,
)

OWN_PID = 100


def session(pid, state, seconds, user="app", db="app", app="api", superuser=False, backend_type="client backend", own=False):
    """A pg_stat_activity row as ACTIVITY_SQL reads it; `seconds` in the current state / statement."""
    return dict(
        pid=pid, usename=user, datname=db, application_name=app, client_addr="10.0.0.7", state=state,
        backend_type=backend_type, own=own, superuser=superuser,
        backend_start="2026-01-01 00:00:%02d+00" % (pid % 60), state_change="2026-01-01 01:00:%02d+00" % (pid % 60),
        state_seconds=seconds, query_seconds=seconds if state == "active" or seconds is None else seconds + 5.0,
    )


def background(pid, backend_type, state=None, db=None):
    return dict(session(pid, state, None, user=None, db=db, app="", backend_type=backend_type), query_seconds=None)


def hidden(pid):
    # What a role without pg_read_all_stats sees of another role's session.
    return dict(session(pid, None, None, user="other"), backend_type=None, state_change=None, query_seconds=None)


def server_rows():
    return [
        session(OWN_PID, "active", 9999.0, own=True),                   # our own session: never
        session(201, "idle", 900.0),                                    # idle past 600
        session(202, "idle", 599.9),                                    # idle, not long enough
        session(203, "idle in transaction", 400.0),                     # past 300
        session(204, "idle in transaction (aborted)", 301.0),           # past 300
        session(205, "active", 700.0),                                  # long-running past 600
        session(206, "active", 30.0),                                   # short query
        session(207, "idle", 5000.0, user="postgres", superuser=True),  # superuser: protected by default
        session(208, "idle", 800.0, app="reporting", db="reports", user="report"),
        session(209, "disabled", 9000.0),                               # track_activities off: no rule
        background(1, "walsender", state="streaming"),
        background(2, "walsender", state="active", db="app"),         # logical replication, "active" for hours
        background(3, "autovacuum worker", state="active", db="app"),
        background(4, "checkpointer"),
        dict(session(5, "active", 9000.0), backend_type="parallel worker"),
        dict(session(6, "active", 9000.0), backend_type="background worker"),
        hidden(300),
    ]


CRITERIA = dict(idle_threshold=600, idle_in_transaction_threshold=300, long_running_threshold=600)


def pids(entries):
    return [entry["pid"] for entry in entries]


def test_plan_picks_exactly_the_sessions_past_their_threshold():
    terminate, protected = plan_terminations(server_rows(), CRITERIA)
    assert pids(terminate) == [201, 208, 205, 203, 204]  # longest first
    assert pids(protected) == [207]
    assert terminate[0] == dict(
        pid=201, usename="app", datname="app", application_name="api", client_addr="10.0.0.7",
        state="idle", age_seconds=900.0, reason="idle", threshold_seconds=600,
    )
    reasons = dict((entry["pid"], entry["reason"]) for entry in terminate)
    assert reasons == {201: "idle", 208: "idle", 205: "long-running", 203: "idle in transaction", 204: "idle in transaction"}


def test_plan_never_picks_own_replication_or_other_non_client_backends():
    everything = dict(idle_threshold=1, idle_in_transaction_threshold=1, long_running_threshold=1, include_superusers=True)
    terminate, protected = plan_terminations(server_rows(), everything)
    chosen = set(pids(terminate))
    assert protected == []
    assert chosen == {201, 202, 203, 204, 205, 206, 207, 208}
    assert not chosen & {OWN_PID, 1, 2, 3, 4, 5, 6, 300, 209}


def test_plan_exactly_at_the_threshold_terminates():
    terminate, _protected = plan_terminations([session(201, "idle", 600.0)], dict(idle_threshold=600))
    assert pids(terminate) == [201]


@pytest.mark.parametrize("criteria, expected", [
    (dict(idle_threshold=600), [201, 208]),
    (dict(idle_in_transaction_threshold=300), [203, 204]),
    (dict(long_running_threshold=600), [205]),
    (dict(long_running_threshold=10), [205, 206]),
])
def test_plan_each_rule_alone(criteria, expected):
    terminate, _protected = plan_terminations(server_rows(), criteria)
    assert sorted(pids(terminate)) == expected


@pytest.mark.parametrize("filters, expected", [
    (dict(databases=["reports"]), [208]),
    (dict(users=["app"]), [201, 203, 204, 205]),
    (dict(application_names=["reporting"]), [208]),
    (dict(application_names=["api"], databases=["app"], users=["app"]), [201, 203, 204, 205]),
    (dict(databases=["nope"]), []),
    (dict(databases=[], users=[], application_names=[]), [201, 203, 204, 205, 208]),
])
def test_plan_filters(filters, expected):
    terminate, _protected = plan_terminations(server_rows(), dict(CRITERIA, **filters))
    assert sorted(pids(terminate)) == expected


def test_plan_superusers_only_when_told():
    _terminate, protected = plan_terminations(server_rows(), dict(idle_threshold=600, users=["postgres"]))
    assert pids(protected) == [207]
    terminate, protected = plan_terminations(server_rows(), dict(idle_threshold=600, users=["postgres"], include_superusers=True))
    assert (pids(terminate), protected) == ([207], [])


def test_expected_after():
    before = dict(total=5, by_state={"idle": 3, "active": 2})
    terminate = [dict(state="idle"), dict(state="idle"), dict(state="active")]
    assert expected_after(before, terminate) == dict(total=2, by_state={"idle": 1, "active": 1})
    assert expected_after(before, terminate + [dict(state="idle")]) == dict(total=1, by_state={"active": 1})


@pytest.mark.parametrize("params, problems", [
    (dict(idle_threshold=600), []),
    (dict(long_running_threshold=1, wait_timeout=0), []),
    (dict(), ["give at least one of idle_threshold, idle_in_transaction_threshold, long_running_threshold: without one, no session is selected"]),
    (dict(idle_threshold=0, long_running_threshold=-5), [
        "idle_threshold must be more than 0 seconds, got 0", "long_running_threshold must be more than 0 seconds, got -5"]),
    (dict(idle_in_transaction_threshold=10, wait_timeout=-1), ["wait_timeout must be 0 or more seconds, got -1"]),
])
def test_option_problems(params, problems):
    full = dict(dict.fromkeys(("idle_threshold", "idle_in_transaction_threshold", "long_running_threshold")), wait_timeout=10)
    full.update(params)
    assert option_problems(full) == problems


class FakeServer:
    """pg_stat_activity of a fake server: terminating a session removes it unless told otherwise."""

    def __init__(self, rows, refuse=(), survive=(), change=()):
        self.rows = rows
        self.refuse = set(refuse)    # pg_terminate_backend() answers false
        self.survive = set(survive)  # answers true but the backend stays
        self.change = set(change)    # started a new statement since it was read: the guard matches no row
        self.signalled = []
        self.executed = []
        self.closed = False

    def cursor(self, **kwargs):
        return FakeCursor(self)

    def close(self):
        self.closed = True


class FakeCursor:
    def __init__(self, server):
        self.server = server
        self.result = []

    def mogrify(self, sql, params):
        return (sql % dict((key, repr(value)) for key, value in params.items())).encode()

    def execute(self, sql, params=None):
        server = self.server
        server.executed.append(sql)
        if sql == ACTIVITY_SQL:
            self.result = [dict(row) for row in server.rows]
        elif sql == TERMINATE_SQL:
            pid = params["pid"]
            row = next((r for r in server.rows if r["pid"] == pid), None)
            guard = row is not None and pid not in server.change and all(
                row[key] == params[key] for key in ("backend_start", "state", "state_change"))
            self.result = [dict(pid=pid, terminated=pid not in server.refuse)] if guard else []
            if guard and pid not in server.refuse:
                server.signalled.append(pid)
                if pid not in server.survive:
                    server.rows = [r for r in server.rows if r["pid"] != pid]
        elif sql == REMAINING_SQL:
            self.result = [dict(pid=r["pid"], backend_start=r["backend_start"]) for r in server.rows if r["pid"] in params["pids"]]
        else:
            raise AssertionError("unexpected SQL: " + sql)

    def fetchall(self):
        return self.result

    def close(self):
        pass


@pytest.fixture
def no_warn(monkeypatch):
    # Under pytest the controller is loaded, so AnsibleModule.warn() would go to Display: record it instead.
    warnings = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: warnings.append(warning))
    return warnings


def run(run_module, monkeypatch, server, check_mode=False, **params):
    monkeypatch.setattr(pg_terminate_backends, "connect", lambda module: server)
    monkeypatch.setattr(pg_terminate_backends, "POLL_INTERVAL", 0.01)
    args = dict(dict(login_host="db", idle_threshold=600, idle_in_transaction_threshold=300, long_running_threshold=600), **params)
    args["_ansible_check_mode"] = check_mode
    return run_module(pg_terminate_backends.main, args)


def test_check_mode_lists_the_sessions_and_terminates_none(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows())
    outcome = run(run_module, monkeypatch, server, check_mode=True)
    assert outcome.rc == 0
    result = outcome.result
    assert result["changed"] is True
    assert pids(result["terminated"]) == [201, 208, 205, 203, 204]
    assert server.signalled == [] and server.executed == [ACTIVITY_SQL]
    assert len(server.rows) == len(server_rows())
    assert result["queries"][0] == ACTIVITY_SQL
    assert len(result["queries"]) == 1 + 5 and all("pg_terminate_backend" in q for q in result["queries"][1:])
    assert "WHERE pid = 201 AND" in result["queries"][1]
    # 10 client sessions (own and hidden included), 5 would go
    assert result["connections_before"]["total"] == 11
    assert result["connections_after"]["total"] == 6
    assert pids(result["protected"]) == [207]
    assert len(no_warn) == 1 and "207 (postgres@app, idle)" in no_warn[0]
    assert server.closed


def test_real_run_terminates_then_second_run_changes_nothing(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows())
    first = run(run_module, monkeypatch, server).result
    assert first["changed"] is True
    assert sorted(server.signalled) == [201, 203, 204, 205, 208]
    assert pids(first["terminated"]) == [201, 208, 205, 203, 204]
    assert first["not_terminated"] == []
    assert first["connections_before"]["total"] == 11
    assert first["connections_after"] == dict(total=6, by_state={"active": 2, "idle": 2, "disabled": 1, "unknown": 1})
    assert first["queries"][-1] == ACTIVITY_SQL and REMAINING_SQL.split(" WHERE", maxsplit=1)[0] in first["queries"][-2]
    second = run(run_module, monkeypatch, server).result
    assert second["changed"] is False
    assert second["terminated"] == []
    assert second["queries"] == [ACTIVITY_SQL]
    assert second["connections_after"] == second["connections_before"]


def test_diff_shows_the_sessions_that_go(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows())
    result = run(run_module, monkeypatch, server, check_mode=True, _ansible_diff=True, long_running_threshold=None,
                 idle_in_transaction_threshold=None).result
    assert result["diff"] == {"before": {"sessions": [201, 208]}, "after": {"sessions": []}}


def test_a_session_that_moved_on_is_skipped_not_terminated(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows(), change=[201])
    result = run(run_module, monkeypatch, server, idle_in_transaction_threshold=None, long_running_threshold=None).result
    assert result["changed"] is True
    assert pids(result["terminated"]) == [208]
    assert pids(result["not_terminated"]) == [201]
    assert server.signalled == [208]


def test_nothing_terminated_when_every_session_moved_on(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows(), change=[201, 208])
    result = run(run_module, monkeypatch, server, idle_in_transaction_threshold=None, long_running_threshold=None).result
    assert result["changed"] is False
    assert pids(result["not_terminated"]) == [201, 208]


def test_fails_when_pg_terminate_backend_returns_false(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows(), refuse=[205])
    outcome = run(run_module, monkeypatch, server)
    assert outcome.rc == 1
    assert outcome.result["msg"] == (
        "Failed to terminate backend(s) 205 (app@app, long-running) on PostgreSQL db:5432: pg_terminate_backend() returned false")
    details = outcome.result["error"]["details"]
    assert pids(details["terminated"]) == [201, 208, 203, 204]


def test_fails_when_a_backend_is_still_there_after_the_wait(run_module, monkeypatch, no_warn):
    server = FakeServer(server_rows(), survive=[203])
    outcome = run(run_module, monkeypatch, server, wait_timeout=0)
    assert outcome.rc == 1
    assert outcome.result["msg"] == (
        "Failed to terminate backend(s) 203 (app@app, idle in transaction) on PostgreSQL db:5432: "
        "still running 0 s after pg_terminate_backend()")


@pytest.mark.parametrize("params, message", [
    (dict(idle_threshold=None, idle_in_transaction_threshold=None, long_running_threshold=None), "give at least one of idle_threshold"),
    (dict(idle_threshold=0), "idle_threshold must be more than 0 seconds, got 0"),
    (dict(long_running_threshold=-1), "long_running_threshold must be more than 0 seconds, got -1"),
])
def test_refuses_bad_input_before_connecting(run_module, monkeypatch, params, message):
    def must_not_connect(module):
        raise AssertionError("connected")
    monkeypatch.setattr(pg_terminate_backends, "connect", must_not_connect)
    outcome = run_module(pg_terminate_backends.main, dict(dict(idle_threshold=600), **params))
    assert outcome.rc == 1
    assert outcome.result["msg"].startswith("Failed to use the thresholds: ")
    assert message in outcome.result["msg"]
