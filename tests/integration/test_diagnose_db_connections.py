"""playbooks/diagnose_db_connections.yml, run by its collection name as users run it."""

import json

from tests.integration.runner import run_playbook
from tests.integration.test_pg_activity_info import open_sessions

PLAYBOOK = 'sre.runbooks.diagnose_db_connections'


def playbook_vars(cluster, **extra):
    """The playbook's pg_* connection variables for the `sre` role on `app`."""
    info = cluster.conninfo
    return dict({
        'pg_login_host': info['host'], 'pg_login_port': info['port'], 'pg_login_user': info['user'],
        'pg_login_password': info['password'], 'pg_db': info['dbname'],
    }, **extra)


def test_writes_evidence_and_summary(pg_cluster, tmp_path):
    evidence = tmp_path / 'evidence'
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, evidence_dir=str(evidence)))
    [saved_path] = evidence.glob('db-connections-localhost-*.json')
    saved = json.loads(saved_path.read_text(encoding='utf-8'))
    assert saved['max_connections'] == pg_cluster.max_connections
    assert saved['by_database']['app'] >= 1
    assert pg_cluster.conninfo['password'] not in saved_path.read_text(encoding='utf-8')
    summary = run.task('Summarise')['msg']
    assert ' of %d connections in use' % pg_cluster.max_connections in summary[0]
    assert summary[2].startswith('by database: ') and "'app'" in summary[2]


def test_without_evidence_dir_changes_nothing_twice(pg_cluster, tmp_path):
    for _attempt in range(2):
        run = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster))
        assert run.changed is False


def test_check_mode_writes_no_evidence(pg_cluster, tmp_path):
    evidence = tmp_path / 'evidence'
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, evidence_dir=str(evidence)), check=True, diff=True)
    assert run.task('Read connection activity and limits')['max_connections'] == pg_cluster.max_connections
    assert not evidence.exists()


def test_fails_loudly_when_asked_and_connections_are_exhausted(pg_cluster, tmp_path):
    leaked = int((pg_cluster.max_connections - 3) * 0.9)
    with open_sessions(pg_cluster, leaked):
        run = run_playbook(PLAYBOOK, tmp_path, extra_vars=playbook_vars(pg_cluster, db_connections_fail_when_exhausted=True), expect_rc=2)
    assert run.failed_tasks == ['Stop when connections are exhausted']
    assert 'Connections exhausted' in run.task('Stop when connections are exhausted')['msg']
