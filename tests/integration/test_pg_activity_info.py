"""sre.runbooks.pg_activity_info through ansible-playbook against a real PostgreSQL 15."""

import contextlib
import json
import secrets
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from tests.integration.runner import run_playbook

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'pg_activity_info.yml'
TASK = 'Read connection activity'


def pg_vars(cluster, **overrides):
    """Extra vars for the test playbook: the password-protected `sre` role on `app`."""
    info = dict(cluster.conninfo, **overrides)
    return {'pg': info}


@contextlib.contextmanager
def open_sessions(cluster, count, idle_in_transaction=0):
    """Hold `count` sessions of the `sre` role; the first `idle_in_transaction` of them inside a transaction."""
    conns = []
    try:
        for index in range(count):
            conn = psycopg2.connect(cluster.dsn(user='sre', dbname='app'), application_name='leaky-release')
            if index < idle_in_transaction:
                conn.cursor().execute('SELECT 1')  # psycopg2 opens a transaction and leaves it open
            else:
                conn.autocommit = True
            conns.append(conn)
        yield conns
    finally:
        for conn in conns:
            conn.close()


@contextlib.contextmanager
def busy_session(cluster, seconds):
    """A session running pg_sleep(seconds) in a thread; yields its backend pid."""
    conn = psycopg2.connect(cluster.dsn(user='sre', dbname='app'))
    conn.autocommit = True
    pid = conn.get_backend_pid()

    def sleep():
        with contextlib.suppress(psycopg2.errors.QueryCanceled):
            conn.cursor().execute('SELECT pg_sleep(%s)', (seconds,))

    worker = threading.Thread(target=sleep, daemon=True)
    worker.start()
    try:
        yield pid
    finally:
        cancel = psycopg2.connect(cluster.dsn())
        cancel.autocommit = True
        cancel.cursor().execute('SELECT pg_cancel_backend(%s)', (pid,))
        cancel.close()
        worker.join(timeout=10)
        conn.close()


def test_reports_a_quiet_server_as_healthy(pg_cluster, tmp_path):
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster))
    result = run.task(TASK)
    assert result['changed'] is False
    assert result['max_connections'] == pg_cluster.max_connections
    assert result['server_version'].startswith('15.')
    assert 1 <= result['total_connections'] < 5
    assert result['exhausted'] is False
    assert result['long_running'] == []
    assert result['by_database'].get('app', 0) >= 1
    assert any('pg_stat_activity' in query for query in result['queries'])


def test_finds_a_connection_leak_and_the_long_running_query(pg_cluster, tmp_path):
    usable = pg_cluster.max_connections - 3  # superuser_reserved_connections defaults to 3
    leaked = int(usable * 0.85)
    with open_sessions(pg_cluster, leaked, idle_in_transaction=5), busy_session(pg_cluster, 60) as busy_pid:
        time.sleep(1.5)
        run = run_playbook(PLAYBOOK, tmp_path, extra_vars=dict(pg_vars(pg_cluster), long_running_threshold=1, include_queries=True))
    result = run.task(TASK)
    assert result['changed'] is False
    assert result['total_connections'] >= leaked + 2
    assert result['exhausted'] is True
    assert result['utilization_percent'] >= 80
    assert result['by_database']['app'] >= leaked + 1
    assert result['idle_in_transaction'] >= 5
    long_running = {entry['pid']: entry for entry in result['long_running']}
    assert busy_pid in long_running
    assert long_running[busy_pid]['state'] == 'active'
    assert 'pg_sleep' in long_running[busy_pid]['query']
    assert long_running[busy_pid]['duration_seconds'] >= 1


def test_statement_text_is_left_out_unless_asked_for(pg_cluster, tmp_path):
    with busy_session(pg_cluster, 60) as busy_pid:
        time.sleep(1.5)
        run = run_playbook(PLAYBOOK, tmp_path, extra_vars=dict(pg_vars(pg_cluster), long_running_threshold=1))
    entry = {e['pid']: e for e in run.task(TASK)['long_running']}[busy_pid]
    assert 'query' not in entry
    assert 'pg_sleep' not in json.dumps(run.task(TASK))


def test_check_mode_reads_the_same_and_changes_nothing(pg_cluster, tmp_path):
    with open_sessions(pg_cluster, 4):
        normal = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster)).task(TASK)
        checked = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster), check=True, diff=True).task(TASK)
    assert checked['changed'] is False
    assert checked['max_connections'] == normal['max_connections']
    assert checked['by_database']['app'] == normal['by_database']['app']
    assert checked['queries'] == normal['queries']


def test_password_never_appears_in_output_even_at_vvv(pg_cluster, tmp_path):
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster), verbosity=3)
    assert run.task(TASK)['total_connections'] >= 1
    assert pg_cluster.conninfo['password'] not in run.output
    assert pg_cluster.conninfo['password'] not in json.dumps(run.results)


def test_wrong_password_fails_naming_target_and_cause_without_the_password(pg_cluster, tmp_path):
    wrong = 'not-the-password-4711'
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster, password=wrong), expect_rc=2)
    assert run.failed_tasks == [TASK]
    result = run.task(TASK)
    assert result['msg'].startswith('Failed to connect to PostgreSQL 127.0.0.1:%d' % pg_cluster.port)
    assert 'password authentication failed' in result['msg']
    assert result['error']['action'] == 'connect to'
    assert wrong not in run.output and wrong not in json.dumps(run.results)


def test_password_from_pgpassword_environment(pg_cluster, tmp_path):
    info = dict(pg_cluster.conninfo)
    password = info.pop('password')
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars={'pg': info}, env={'PGPASSWORD': password})
    assert run.task(TASK)['by_user'].get('sre', 0) >= 1


@pytest.mark.parametrize('option, value, message', [
    ('warn_percent', 150, 'utilization_warn_percent must be between 1 and 100, got 150'),
    ('long_running_threshold', -5, 'long_running_threshold must be 0 or more seconds, got -5'),
])
def test_bad_thresholds_are_refused_before_connecting(pg_cluster, tmp_path, option, value, message):
    # An unreachable port proves the refusal comes before any connection attempt.
    extra = dict(pg_vars(pg_cluster, port=1), **{option: value})
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra, expect_rc=2)
    result = run.task(TASK)
    assert message in result['msg']
    assert 'connect' not in result['msg']


@contextlib.contextmanager
def held_sessions(application_name, idle=0, idle_in_transaction=0, **conninfo):
    """Hold `idle` idle sessions and `idle_in_transaction` sessions inside an open transaction, all with `application_name`."""
    conns = []
    try:
        for index in range(idle_in_transaction + idle):
            conn = psycopg2.connect(application_name=application_name, **conninfo)
            if index < idle_in_transaction:
                conn.cursor().execute('SELECT 1')  # psycopg2 opens a transaction and leaves it open
            else:
                conn.autocommit = True
            conns.append(conn)
        yield conns
    finally:
        for conn in conns:
            conn.close()


@contextlib.contextmanager
def limited_role_and_database(cluster, role_limit, database_limit):
    """A login role and a database, each with a CONNECTION LIMIT; dropped afterwards with their sessions."""
    suffix = secrets.token_hex(3)
    role, database, password = 'limited_%s' % suffix, 'limited_db_%s' % suffix, 'pw-%s' % secrets.token_hex(8)
    cluster.psql("CREATE ROLE %s LOGIN PASSWORD '%s' CONNECTION LIMIT %d" % (role, password, role_limit))
    cluster.psql('CREATE DATABASE %s CONNECTION LIMIT %d' % (database, database_limit))
    try:
        yield {'host': cluster.host, 'port': cluster.port, 'user': role, 'password': password, 'dbname': database}
    finally:
        cluster.psql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % database)
        cluster.psql('DROP ROLE IF EXISTS %s' % role)


def read_activity(cluster, tmp_path):
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(cluster)).task(TASK)


def test_counts_connections_by_application_with_their_states(pg_cluster, tmp_path):
    billing, report = 'billing-%s' % secrets.token_hex(3), 'report-%s' % secrets.token_hex(3)
    sre = dict(host=pg_cluster.host, port=pg_cluster.port, user='sre', password=pg_cluster.conninfo['password'], dbname='app')
    with held_sessions(billing, idle=2, idle_in_transaction=1, **sre), held_sessions(report, idle=2, **sre):
        result = read_activity(pg_cluster, tmp_path)
    assert result['by_application'][billing] == {'total': 3, 'by_state': {'idle': 2, 'idle in transaction': 1}}
    assert result['by_application'][report] == {'total': 2, 'by_state': {'idle': 2}}
    assert sum(group['total'] for group in result['by_application'].values()) == result['total_connections']
    for state, number in result['by_state'].items():
        assert sum(group['by_state'].get(state, 0) for group in result['by_application'].values()) == number


def test_headroom_under_role_and_database_limits_is_what_postgresql_enforces(pg_cluster, tmp_path):
    role_limit, database_limit = 3, 4
    with limited_role_and_database(pg_cluster, role_limit, database_limit) as limited:
        role, database = limited['user'], limited['dbname']
        sre = dict(limited)
        sre.update(user='sre', password=pg_cluster.conninfo['password'])
        with held_sessions('limited-app', idle=role_limit - 1, **limited):
            first = read_activity(pg_cluster, tmp_path)
            assert first['headroom']['roles'][role] == dict(
                limit=role_limit, used=role_limit - 1, available=1,
                utilization_percent=round(100.0 * (role_limit - 1) / role_limit, 1), exhausted=False)
            assert first['headroom']['databases'][database]['used'] == role_limit - 1
            assert first['headroom']['databases'][database]['available'] == database_limit - (role_limit - 1)
            assert (first['headroom']['tightest']['scope'], first['headroom']['tightest']['name']) == ('role', role)

            # The one connection left to the role is there; after it, PostgreSQL refuses the role.
            with held_sessions('limited-app', idle=1, **limited):
                with pytest.raises(psycopg2.OperationalError, match='too many connections for role'):
                    psycopg2.connect(**limited).close()
                # The database has one slot left, for another role; after it, PostgreSQL refuses the database.
                with held_sessions('other-app', idle=database_limit - role_limit, **sre):
                    full = read_activity(pg_cluster, tmp_path)
                    with pytest.raises(psycopg2.OperationalError, match='too many connections for database'):
                        psycopg2.connect(**sre).close()
    assert full['headroom']['roles'][role] == dict(limit=role_limit, used=role_limit, available=0, utilization_percent=100.0, exhausted=True)
    assert full['headroom']['databases'][database] == dict(
        limit=database_limit, used=database_limit, available=0, utilization_percent=100.0, exhausted=True)
    # Both are full; a role's limit comes before a database's on a tie.
    assert (full['headroom']['tightest']['scope'], full['headroom']['tightest']['name'], full['headroom']['tightest']['available']) == ('role', role, 0)
    # The server's headroom is the one the module always reported.
    server = full['headroom']['server']
    assert server['limit'] == full['max_connections'] - full['superuser_reserved_connections'] - full['reserved_connections']
    assert (server['used'], server['available'], server['utilization_percent'], server['exhausted']) == (
        full['total_connections'], full['available_connections'], full['utilization_percent'], full['exhausted'])
    assert 'pg_roles' in ' '.join(full['queries'])


def test_limits_that_do_not_apply_are_not_listed(pg_cluster, tmp_path):
    # A superuser is not held to its CONNECTION LIMIT; nobody connects to a database with ALLOW_CONNECTIONS false.
    suffix = secrets.token_hex(3)
    superuser, closed = 'limited_admin_%s' % suffix, 'closed_db_%s' % suffix
    pg_cluster.psql('CREATE ROLE %s LOGIN SUPERUSER CONNECTION LIMIT 1' % superuser)
    pg_cluster.psql('CREATE DATABASE %s CONNECTION LIMIT 5 ALLOW_CONNECTIONS false' % closed)
    try:
        result = read_activity(pg_cluster, tmp_path)
    finally:
        pg_cluster.psql('DROP DATABASE %s' % closed)
        pg_cluster.psql('DROP ROLE %s' % superuser)
    assert superuser not in result['headroom']['roles']
    assert closed not in result['headroom']['databases']
    # Nor are roles and databases without a limit (-1), such as sre and app.
    assert 'sre' not in result['headroom']['roles'] and 'app' not in result['headroom']['databases']
