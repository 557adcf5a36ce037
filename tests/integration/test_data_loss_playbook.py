"""The sre.runbooks.data_loss playbook: stop writes, preserve, restore, resume.

A real PostgreSQL 15 with WAL archiving suffers an accidental DELETE after a
base backup; the application is a Deployment on the Kubernetes API under test
(kubesim, or the cluster of $KUBECONFIG). The playbook must restore the rows
as they were before the DELETE into a new data directory, keep a dump of the
damaged database as evidence, and bring the application back to the replica
count it had. What it did is checked with kubectl, psql and pg_restore.
"""

import base64
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.engines.ports import free_port
from tests.engines.postgres import PostgresCluster, make_reachable_by_server
from tests.integration.conftest import FAILED_TASK, apply_object, deploy, deployment, live_pods, pod_ready, wait_for
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.data_loss'
ROWS = 20


@pytest.fixture(scope='module')
def damaged(pg_archive_cluster, tmp_path_factory):
    """The live cluster after the loss: (cluster, backup root, the time just before the DELETE)."""
    cluster = pg_archive_cluster
    cluster.psql('CREATE TABLE orders (id int PRIMARY KEY, total numeric)', dbname='app')
    cluster.psql('INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, %d) g' % (ROWS // 2), dbname='app')
    root = tmp_path_factory.mktemp('data-loss-backups')
    cluster.pg_basebackup(root / 'base-1')
    time.sleep(1.1)  # targets start in the second after the backup's recorded stop
    cluster.psql('INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(%d, %d) g' % (ROWS // 2 + 1, ROWS), dbname='app')
    before_loss = cluster.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    cluster.psql('DELETE FROM orders WHERE id > 3', dbname='app')  # the accident
    cluster.wait_archived(cluster.switch_wal())
    return cluster, root, before_loss


def play(kube, tmp_path, namespace, damaged, data_dir, port, check=False, expect_rc=0, **extra):
    cluster, root, before_loss = damaged
    make_reachable_by_server(Path(data_dir).parent)
    extra_vars = dict(
        workload_name='web', workload_namespace=namespace, kubeconfig=str(kube.kubeconfig),
        pg_login_host=cluster.host, pg_login_port=cluster.port, pg_login_user='postgres', pg_db='app',
        db_restore_backup_root=str(root), db_restore_archive_dir=str(cluster.archive_dir),
        db_restore_data_dir=str(data_dir), db_restore_port=port, db_restore_target_time=before_loss,
        db_restore_verify_queries=[{'query': 'SELECT count(*) FROM orders', 'db': 'app', 'expected': ROWS}],
        data_loss_evidence_dir=str(tmp_path / 'evidence'), diagnostics_log_tail_lines=50,
    )
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def restored(data_dir, port):
    cluster = PostgresCluster(Path(data_dir).parent, port=port)
    cluster.data_dir = Path(data_dir)
    return cluster


def ready_pods(kube, namespace):
    pods = live_pods(kube, namespace, 'app=web')
    return len(pods) if all(pod_ready(pod) for pod in pods) else -1


def test_refuses_an_unreachable_target_before_stopping_writes(kube, namespace, tmp_path, damaged):
    deploy(kube, namespace, replicas=3)
    run = play(kube, tmp_path, namespace, damaged, tmp_path / 'restored', free_port(), expect_rc=FAILED_TASK,
               db_restore_target_time='2020-01-01T00:00:00Z')
    assert 'earlier than the end of base backup' in run.task('Refuse a restore that cannot reach its target')['msg']
    assert deployment(kube, namespace)['spec']['replicas'] == 3
    assert not (tmp_path / 'restored').exists() and not (tmp_path / 'evidence').exists()


def database_url(kube, namespace):
    return base64.b64decode(kube.json('secret', 'web-db', '-n', namespace)['data']['DATABASE_URL']).decode()


def test_stops_writes_preserves_restores_and_resumes(kube, namespace, tmp_path, damaged):
    cluster = damaged[0]
    deploy(kube, namespace, replicas=3)
    url = 'postgresql://app:pw@%s:%d/app?sslmode=disable' % (cluster.host, cluster.port)
    apply_object(kube, namespace, {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'web-db'},
                                   'data': {'DATABASE_URL': base64.b64encode(url.encode()).decode()}})
    data_dir, port = tmp_path / 'restored', free_port()
    cutover = dict(data_loss_cutover=True, db_cutover_secret='web-db')
    try:
        checked = play(kube, tmp_path, namespace, damaged, data_dir, port, check=True, **cutover)
        assert 'would stop writes' in checked.task('Summarise the data-loss recovery')['msg'][0]
        assert deployment(kube, namespace)['spec']['replicas'] == 3
        assert not data_dir.exists()

        assert database_url(kube, namespace) == url

        run = play(kube, tmp_path, namespace, damaged, data_dir, port, **cutover)
        # the application now reads the restored database: only the port changed (both listen on loopback)
        assert database_url(kube, namespace) == 'postgresql://app:pw@%s:%d/app?sslmode=disable' % (cluster.host, port)
        # the live database is still the damaged one; the restored copy holds every row from before the DELETE
        assert cluster.psql('SELECT count(*) FROM orders', dbname='app') == '3'
        assert restored(data_dir, port).psql('SELECT count(*), sum(total) FROM orders', dbname='app') == '%d|%s' % (
            ROWS, cluster.psql('SELECT sum(g * 1.5) FROM generate_series(1, %d) g' % ROWS))
        scaled = [task['result'] for task in run.results if task['task'] == 'Scale the workload and wait for the ready replicas']
        assert [(r['replicas_before'], r['replicas_after']) for r in scaled] == [(3, 0), (0, 3)]
        assert deployment(kube, namespace)['spec']['replicas'] == 3
        wait_for(lambda: ready_pods(kube, namespace) == 3, 60, '3 ready pods again')

        evidence = next((tmp_path / 'evidence').glob('*_data_loss_%s_web' % namespace))
        listing = subprocess.run([str(cluster.bin_dir / 'pg_restore'), '--list', str(evidence / 'app.pgc')],
                                 capture_output=True, text=True, check=True).stdout
        assert 'TABLE DATA public orders' in listing
        report = json.loads((evidence / 'report.json').read_text(encoding='utf-8'))
        assert report['replicas'] == 3 and report['restore']['verification'][0]['passed'] is True
        assert 'recovery stopping before commit' in report['restore']['reached']['stop_line']
        assert report['diagnostics'] and Path(report['diagnostics']).is_dir()
        assert report['cutover']['endpoint_after'] == {'host': cluster.host, 'port': port, 'database': 'app'}

        again = play(kube, tmp_path, namespace, damaged, data_dir, port, **cutover)
        assert again.changed is False
        assert 'nothing to do' in again.task('Summarise the data-loss recovery')['msg'][0]
        assert deployment(kube, namespace)['spec']['replicas'] == 3
    finally:
        restored(data_dir, port).stop()
