"""sre.runbooks.pg_terminate_backends through ansible-playbook against a real PostgreSQL 15.

Every session a test opens carries an application_name of its own, and the module is told to
terminate only those applications, except where a test proves what it never touches.
"""

import json
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import psycopg2.extras
import pytest

from tests.integration.runner import run_playbook

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'pg_terminate_backends.yml'
TASK = 'Terminate backends'
# Long enough for every session opened by a test to be past a threshold of 1 s.
SETTLE = 1.5


def pg_vars(cluster, user='sre', **extra):
    info = dict(cluster.conninfo_for(user))
    if not info['password']:
        del info['password']
    return dict({'pg': info}, **extra)


class Sessions:
    """Client sessions of the `sre` role on `app`, closed at the end; `.pids` maps a label to a backend pid."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.conns = {}
        self.threads = []

    def open(self, label, application, user='sre', idle_in_transaction=False):
        conn = psycopg2.connect(self.cluster.dsn(user=user, dbname='app'), application_name=application)
        if idle_in_transaction:
            conn.cursor().execute('SELECT 1')  # psycopg2 opens a transaction and leaves it open
        else:
            conn.autocommit = True
        self.conns[label] = conn
        return conn.get_backend_pid()

    def busy(self, label, application, seconds=120):
        """A session running pg_sleep in a thread; the thread records how the statement ended."""
        pid = self.open(label, application)
        outcome = {}

        def sleep():
            try:
                self.conns[label].cursor().execute('SELECT pg_sleep(%s)', (seconds,))
                outcome['error'] = None
            except psycopg2.Error as error:
                outcome['error'] = error

        worker = threading.Thread(target=sleep, daemon=True)
        worker.start()
        self.threads.append((pid, worker, outcome))
        return pid, worker, outcome

    @property
    def pids(self):
        return dict((label, conn.get_backend_pid()) for label, conn in self.conns.items())

    def answers(self, label):
        """Whether the session still runs a query; a terminated one raises on the next statement."""
        try:
            with self.conns[label].cursor() as cursor:
                cursor.execute('SELECT 1')
                return cursor.fetchone() == (1,)
        except psycopg2.OperationalError:
            return False

    def close(self):
        for pid, worker, _outcome in self.threads:
            if worker.is_alive():
                self.cluster.psql('SELECT pg_cancel_backend(%d)' % pid)
            worker.join(timeout=10)
        for conn in self.conns.values():
            conn.close()


@pytest.fixture
def sessions(pg_cluster):
    opened = Sessions(pg_cluster)
    yield opened
    opened.close()


def live_pids(cluster):
    return set(int(pid) for pid in cluster.psql('SELECT pid FROM pg_stat_activity').split())


def leak(sessions):
    """A leaking release: two idle sessions, one idle in transaction, one long query; and a bystander of another application.

    Returns (target application, {label: pid} of the sessions that should go, pid of the bystander).
    """
    app = 'leak-%s' % uuid.uuid4().hex[:8]
    victims = {
        'idle-1': sessions.open('idle-1', app),
        'idle-2': sessions.open('idle-2', app),
        'in-transaction': sessions.open('in-transaction', app, idle_in_transaction=True),
    }
    victims['sleeping'] = sessions.busy('sleeping', app)[0]
    bystander = sessions.open('bystander', 'bystander-%s' % uuid.uuid4().hex[:8])
    time.sleep(SETTLE)
    return app, victims, bystander


def every_rule(app):
    return dict(idle_threshold=1, idle_in_transaction_threshold=1, long_running_threshold=1, application_names=[app])


def terminated_pids(result):
    return dict((entry['pid'], entry['reason']) for entry in result['terminated'])


def test_check_mode_lists_exactly_the_intended_pids_and_kills_none(pg_cluster, sessions, tmp_path):
    app, victims, bystander = leak(sessions)
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster, **every_rule(app)), check=True)
    result = run.task(TASK)
    assert result['changed'] is True
    assert terminated_pids(result) == {
        victims['idle-1']: 'idle', victims['idle-2']: 'idle',
        victims['in-transaction']: 'idle in transaction', victims['sleeping']: 'long-running',
    }
    assert all(entry['application_name'] == app and entry['age_seconds'] >= 1 for entry in result['terminated'])
    # Nothing was terminated: every session is still there and answers.
    assert set(victims.values()) | {bystander} <= live_pids(pg_cluster)
    assert all(sessions.answers(label) for label in ('idle-1', 'idle-2', 'in-transaction', 'bystander'))
    assert sessions.threads[0][1].is_alive()
    # The terminations it would run, one per pid.
    would_run = [query for query in result['queries'] if 'pg_terminate_backend' in query]
    assert sorted(int(query.split('WHERE pid = ')[1].split()[0]) for query in would_run) == sorted(victims.values())
    assert result['connections_after']['total'] == result['connections_before']['total'] - 4


def test_real_run_kills_only_those_and_a_second_run_changes_nothing(pg_cluster, sessions, tmp_path):
    app, victims, bystander = leak(sessions)
    first = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster, **every_rule(app))).task(TASK)
    assert first['changed'] is True
    assert set(terminated_pids(first)) == set(victims.values())
    assert first['not_terminated'] == []
    assert first['connections_after']['total'] == first['connections_before']['total'] - 4
    assert any(query.startswith('SELECT pid, pg_terminate_backend(pid)') for query in first['queries'])

    # Gone from the server, and their clients see it; the other application's session is untouched.
    live = live_pids(pg_cluster)
    assert not set(victims.values()) & live
    assert bystander in live
    assert sessions.answers('bystander')
    assert not any(sessions.answers(label) for label in ('idle-1', 'idle-2', 'in-transaction'))
    _pid, worker, outcome = sessions.threads[0]
    worker.join(timeout=10)
    assert isinstance(outcome['error'], psycopg2.OperationalError)

    second = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster, **every_rule(app))).task(TASK)
    assert second['changed'] is False
    assert second['terminated'] == []
    assert [query for query in second['queries'] if 'pg_terminate_backend' in query] == []


def test_filters_by_database_and_user(pg_cluster, sessions, tmp_path):
    app = 'filtered-%s' % uuid.uuid4().hex[:8]
    pid = sessions.open('mine', app)
    time.sleep(SETTLE)
    other_db = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(
        pg_cluster, idle_threshold=1, application_names=[app], databases=['postgres'])).task(TASK)
    other_user = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(
        pg_cluster, idle_threshold=1, application_names=[app], users=['postgres'])).task(TASK)
    assert other_db['terminated'] == [] and other_user['terminated'] == []
    assert sessions.answers('mine')
    time.sleep(SETTLE)  # the SELECT 1 just now restarted its idle time
    matching = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(
        pg_cluster, idle_threshold=1, application_names=[app], databases=['app'], users=['sre'])).task(TASK)
    assert list(terminated_pids(matching)) == [pid]


def test_threshold_not_reached_leaves_sessions_alone(pg_cluster, sessions, tmp_path):
    app = 'young-%s' % uuid.uuid4().hex[:8]
    sessions.open('young', app)
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(
        pg_cluster, idle_threshold=3600, long_running_threshold=3600, application_names=[app])).task(TASK)
    assert result['changed'] is False and result['terminated'] == []
    assert sessions.answers('young')


def test_replication_superuser_and_own_sessions_are_never_terminated(pg_cluster, sessions, tmp_path):
    """No filter at all: every idle session past 1 s is a candidate, but not the WAL sender or, unless told, a superuser's."""
    walsender = psycopg2.connect(pg_cluster.dsn(), connection_factory=psycopg2.extras.PhysicalReplicationConnection)
    try:
        walsender_pid = walsender.get_backend_pid()
        superuser_pid = sessions.open('superuser', 'su-%s' % uuid.uuid4().hex[:8], user='postgres')
        plain_pid = sessions.open('plain', 'plain-%s' % uuid.uuid4().hex[:8])
        time.sleep(SETTLE)
        # Precondition: the WAL sender is idle past the threshold, so only its backend_type protects it.
        assert pg_cluster.psql(
            "SELECT state, backend_type FROM pg_stat_activity WHERE pid = %d AND now() - state_change > interval '1 second'" % walsender_pid
        ) == 'idle|walsender'

        as_sre = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster, idle_threshold=1)).task(TASK)
        assert plain_pid in terminated_pids(as_sre)
        assert walsender_pid not in terminated_pids(as_sre)
        assert [entry['pid'] for entry in as_sre['protected']] == [superuser_pid]
        assert any('superuser session(s) match but were left alone' in warning for warning in as_sre.get('warnings', []))
        assert sessions.answers('superuser')
        time.sleep(SETTLE)  # the SELECT 1 just now restarted its idle time

        # A superuser told to include superusers: the superuser's session goes, the WAL sender stays.
        as_postgres = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(
            pg_cluster, user='postgres', idle_threshold=1, include_superusers=True)).task(TASK)
        assert superuser_pid in terminated_pids(as_postgres)
        assert walsender_pid not in terminated_pids(as_postgres)
        assert walsender_pid in live_pids(pg_cluster)
        assert not sessions.answers('superuser')
    finally:
        walsender.close()


def test_password_never_appears_in_output_even_at_vvv(pg_cluster, sessions, tmp_path):
    app, victims, _bystander = leak(sessions)
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=pg_vars(pg_cluster, **every_rule(app)), verbosity=3)
    assert set(terminated_pids(run.task(TASK))) == set(victims.values())
    password = pg_cluster.conninfo['password']
    assert password not in run.output
    assert password not in json.dumps(run.results)


@pytest.mark.parametrize('extra, message', [
    (dict(), 'give at least one of idle_threshold, idle_in_transaction_threshold, long_running_threshold'),
    (dict(idle_threshold=0), 'idle_threshold must be more than 0 seconds, got 0'),
    (dict(long_running_threshold=-60), 'long_running_threshold must be more than 0 seconds, got -60'),
])
def test_nonsense_input_is_refused_before_connecting(pg_cluster, sessions, tmp_path, extra, message):
    pid = sessions.open('innocent', 'innocent-%s' % uuid.uuid4().hex[:8])
    # An unreachable port proves the refusal comes before any connection attempt.
    extra_vars = pg_vars(pg_cluster, **extra)
    extra_vars['pg']['port'] = 1
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, expect_rc=2)
    result = run.task(TASK)
    assert result['msg'].startswith('Failed to use the thresholds: ')
    assert message in result['msg']
    assert pid in live_pids(pg_cluster)
