"""playbooks/db_connection_exhaustion.yml, run by its collection name as users run it."""

import json
import time
import uuid

import pytest

from tests.integration.runner import run_playbook
from tests.integration.test_pg_terminate_backends import SETTLE, Sessions, live_pids

PLAYBOOK = 'sre.runbooks.db_connection_exhaustion'
TERMINATE = 'Terminate idle connections and long-running queries'


def playbook_vars(cluster, app, **extra):
    """The playbook's pg_* connection variables for the `sre` role on `app`, limited to the test's application."""
    info = cluster.conninfo
    return dict({
        'pg_login_host': info['host'], 'pg_login_port': info['port'], 'pg_login_user': info['user'],
        'pg_login_password': info['password'], 'pg_db': info['dbname'],
        'db_connections_idle_threshold': 1, 'db_connections_idle_in_transaction_threshold': 1,
        'db_connections_long_running_threshold': 1, 'db_connections_application_names': [app],
    }, **extra)


@pytest.fixture
def leaked(pg_cluster):
    """Three sessions of a leaking application (idle, idle, idle in transaction) and one of another application."""
    sessions = Sessions(pg_cluster)
    app = 'leak-%s' % uuid.uuid4().hex[:8]
    victims = [sessions.open('idle-1', app), sessions.open('idle-2', app), sessions.open('in-transaction', app, idle_in_transaction=True)]
    bystander = sessions.open('bystander', 'bystander-%s' % uuid.uuid4().hex[:8])
    time.sleep(SETTLE)
    yield app, victims, bystander
    sessions.close()


def test_without_terminate_only_shows_the_plan(pg_cluster, leaked, tmp_path):
    app, victims, bystander = leaked
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, app))
    assert run.changed is False
    assert sorted(entry['pid'] for entry in run.task(TERMINATE)['terminated']) == sorted(victims)
    assert set(victims) | {bystander} <= live_pids(pg_cluster)
    summary = run.task('Summarise')['msg']
    assert summary[1].startswith('would terminate (set db_connections_terminate=true): ')
    assert all(str(pid) in summary[1] for pid in victims)


def test_terminate_frees_the_connections_then_changes_nothing(pg_cluster, leaked, tmp_path):
    app, victims, bystander = leaked
    first = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, app, db_connections_terminate=True), verbosity=2)
    assert first.changed is True
    assert sorted(entry['pid'] for entry in first.task(TERMINATE)['terminated']) == sorted(victims)
    live = live_pids(pg_cluster)
    assert not set(victims) & live
    assert bystander in live
    before = first.task('Read connection activity before')['total_connections']
    after = first.task('Read connection activity after')['total_connections']
    assert after <= before - len(victims)
    password = pg_cluster.conninfo['password']
    assert password not in first.output and password not in json.dumps(first.results)

    second = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, app, db_connections_terminate=True))
    assert second.changed is False
    assert second.task(TERMINATE)['terminated'] == []


def test_check_mode_with_terminate_kills_none(pg_cluster, leaked, tmp_path):
    app, victims, bystander = leaked
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, app, db_connections_terminate=True), check=True, diff=True)
    assert sorted(entry['pid'] for entry in run.task(TERMINATE)['terminated']) == sorted(victims)
    assert set(victims) | {bystander} <= live_pids(pg_cluster)
