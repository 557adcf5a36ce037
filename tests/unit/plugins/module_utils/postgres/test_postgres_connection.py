# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import sys

import pytest

from ansible_collections.community.postgresql.plugins.module_utils.postgres import postgres_common_argument_spec

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres import connection
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    libpq_params,
    pg_env,
    postgres_argument_spec,
)

PG_ENV = ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in PG_ENV:
        monkeypatch.delenv(name, raising=False)


def make_module(module_args, args):
    with module_args(args):
        return RunbookModule(argument_spec=postgres_argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)


def test_names_follow_community_postgresql():
    ours = postgres_argument_spec()
    upstream = postgres_common_argument_spec()
    assert set(ours) == set(upstream) | {"login_db"}
    for name, option in upstream.items():
        assert ours[name].get("type", "str") == option.get("type", "str") or name == "ca_cert", name
        assert ours[name].get("no_log", False) == option.get("no_log", False), name
        assert ours[name].get("choices") == option.get("choices"), name
    assert ours["login_port"]["aliases"] == ["port"]
    assert ours["login_db"]["aliases"] == ["db"]
    assert ours["ca_cert"]["aliases"] == ["ssl_rootcert"]


def test_defaults(module_args):
    module = make_module(module_args, {})
    assert module.params["login_user"] == "postgres"
    assert module.params["login_password"] == ""
    assert module.params["login_port"] == 5432
    assert module.params["ssl_mode"] == "prefer"
    assert module.params["login_db"] is None
    assert libpq_params(module.params) == {"user": "postgres", "port": 5432, "sslmode": "prefer"}


def test_pg_environment_fills_unset_options(module_args, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-env-secret")
    monkeypatch.setenv("PGHOST", "db.example.com")
    monkeypatch.setenv("PGPORT", "6432")
    monkeypatch.setenv("PGUSER", "monitor")
    monkeypatch.setenv("PGDATABASE", "app")
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    module = make_module(module_args, {})
    assert module.params["login_password"] == "from-env-secret"
    assert "from-env-secret" in module.no_log_values
    assert module.params["login_host"] == "db.example.com"
    assert module.params["login_port"] == 6432
    assert module.params["login_user"] == "monitor"
    assert module.params["login_db"] == "app"
    assert module.params["ssl_mode"] == "verify-full"
    assert describe_target(module.params) == "PostgreSQL db.example.com:6432/app"


def test_options_win_over_environment(module_args, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-env")
    monkeypatch.setenv("PGUSER", "monitor")
    module = make_module(module_args, {"login_password": "from-task", "login_user": "admin", "db": "app", "port": 5433})
    assert module.params["login_password"] == "from-task"
    assert module.params["login_user"] == "admin"
    assert module.params["login_db"] == "app"
    assert module.params["login_port"] == 5433


def test_unix_socket_and_connect_params():
    params = dict(postgres_argument_spec_defaults(), login_unix_socket="/run/postgresql", connect_params={"connect_timeout": 5})
    assert libpq_params(params)["host"] == "/run/postgresql"
    assert libpq_params(params)["connect_timeout"] == 5
    params["login_host"] = "10.0.0.5"
    assert libpq_params(params)["host"] == "10.0.0.5"
    assert describe_target(params) == "PostgreSQL 10.0.0.5:5432"


def postgres_argument_spec_defaults():
    return dict((name, option.get("default")) for name, option in postgres_argument_spec().items())


def test_pg_env_passes_password_in_environment_not_argv(module_args):
    module = make_module(module_args, {"login_host": "db", "login_password": "s3cret-pw", "login_db": "app"})
    env = pg_env(module.params)
    assert env == {"PGHOST": "db", "PGPORT": "5432", "PGUSER": "postgres", "PGPASSWORD": "s3cret-pw", "PGDATABASE": "app", "PGSSLMODE": "prefer"}
    # What a module does to run pg_dump or psql: the tool sees the password only in its environment.
    probe = "import json, os, sys; print(json.dumps({'argv': sys.argv, 'password': os.environ.get('PGPASSWORD')}))"
    rc, out, err = module.run_command([sys.executable, "-c", probe, "--host", env["PGHOST"]], environ_update=env)
    assert rc == 0, err
    seen = json.loads(out)
    assert seen["password"] == "s3cret-pw"
    assert not any("s3cret-pw" in arg for arg in seen["argv"])


def test_pg_env_refuses_unknown_connect_params():
    params = dict(postgres_argument_spec_defaults(), connect_params={"keepalives_idle": 30, "connect_timeout": 5})
    with pytest.raises(RunbookError, match="keepalives_idle"):
        pg_env(params)
    params["connect_params"] = {"connect_timeout": 5, "application_name": "sre"}
    assert pg_env(params)["PGCONNECT_TIMEOUT"] == "5"
    assert pg_env(params)["PGAPPNAME"] == "sre"


def test_connect_failure_names_target_and_hides_password():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    params = dict(postgres_argument_spec_defaults(), login_host="127.0.0.1", login_port=port, login_password="pw-secret", login_db="app")
    with pytest.raises(RunbookError) as info:
        connect(params)
    message = str(info.value)
    assert message.startswith("Failed to connect to PostgreSQL 127.0.0.1:{0}/app: ".format(port))
    assert "pw-secret" not in message
    assert info.value.__cause__ is None


class FakeCursor:
    def __init__(self, log, rows):
        self.log = log
        self.rows = rows
        self.rowcount = 7

    def mogrify(self, sql, params):
        return (sql % tuple("'{0}'".format(p) for p in params)).encode()

    def execute(self, sql, params=None):
        self.log.append((sql, params))

    def fetchall(self):
        return self.rows

    def close(self):
        pass


class FakeConnection:
    def __init__(self, rows=()):
        self.executed = []
        self.rows = list(rows)

    def cursor(self, **kwargs):
        return FakeCursor(self.executed, self.rows)


@pytest.mark.skipif(connection.DRIVER != "psycopg2", reason="the fake cursor mimics psycopg2")
def test_query_recorder_records_sql_and_skips_writes_in_check_mode():
    conn = FakeConnection(rows=[{"n": 1}])
    db = QueryRecorder(conn, "PostgreSQL db:5432/app", check_mode=True)
    assert db.read("SELECT count(*) AS n FROM pg_stat_activity WHERE state = %s", ("idle",)) == [{"n": 1}]
    assert db.write("SELECT pg_terminate_backend(%s)", (42,)) is None
    assert db.queries == [
        "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'idle'",
        "SELECT pg_terminate_backend('42')",
    ]
    # Only the read reached the server.
    assert conn.executed == [("SELECT count(*) AS n FROM pg_stat_activity WHERE state = %s", ("idle",))]

    db = QueryRecorder(conn, "PostgreSQL db:5432/app", check_mode=False)
    assert db.write("SELECT pg_terminate_backend(%s)", (42,)) == 7
    assert conn.executed[-1] == ("SELECT pg_terminate_backend(%s)", (42,))
