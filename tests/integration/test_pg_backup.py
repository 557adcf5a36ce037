"""Backup health against a real PostgreSQL 15 with WAL archiving: pg_base_backup, pg_base_backup_info, pg_wal_archive_info."""

import os
import threading
from pathlib import Path

import pytest
import yaml

from tests.engines.ports import wait_until
from tests.engines.postgres import PostgresCluster
from tests.integration.runner import run_playbook

BACKUP_PASSWORD = 'backup-secret-pw-1234'


def write_playbook(tmp_path, module, args):
    """A one-task playbook calling sre.runbooks.<module> with the connection in `pg` (when set) and `args`."""
    task = {'name': 'Run', 'register': 'out', 'sre.runbooks.' + module: dict(args)}
    if module != 'pg_base_backup_info':
        task['sre.runbooks.' + module].update({
            'login_host': '{{ pg.host }}', 'login_port': '{{ pg.port }}', 'login_user': '{{ pg.user }}',
            'login_password': '{{ pg.password | default(omit, true) }}', 'login_db': '{{ pg.dbname }}',
        })
    path = Path(tmp_path) / ('%s-%d.yml' % (module, len(list(Path(tmp_path).glob('*.yml')))))
    path.write_text(yaml.safe_dump([{'name': 'Backup health', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]), encoding='utf-8')
    return path


def superuser(cluster):
    return {'pg': cluster.conninfo_for('postgres', 'postgres')}


def backup(cluster, tmp_path, root, check=False, expect_rc=0, pg=None, env=None, **args):
    playbook = write_playbook(tmp_path, 'pg_base_backup', dict({'root': str(root), 'archive_dir': str(cluster.archive_dir)}, **args))
    return run_playbook(playbook, tmp_path, extra_vars=pg or superuser(cluster), check=check, expect_rc=expect_rc, env=env)


def archive_info(cluster, tmp_path, **args):
    playbook = write_playbook(tmp_path, 'pg_wal_archive_info', args)
    return run_playbook(playbook, tmp_path, extra_vars={'pg': cluster.conninfo}).task('Run')


def test_check_mode_plans_and_creates_nothing(pg_archive_cluster, tmp_path):
    root = tmp_path / 'backups'
    result = backup(pg_archive_cluster, tmp_path, root, check=True, name='nightly').task('Run')
    assert result['changed'] is True
    assert any('pg_basebackup' in action for action in result['actions'])
    assert not root.exists()


def test_takes_verifies_and_keeps_a_named_backup(pg_archive_cluster, tmp_path):
    root = tmp_path / 'backups'
    first = backup(pg_archive_cluster, tmp_path, root, name='nightly', label='nightly run').task('Run')
    assert first['changed'] is True
    assert first['verified'] is True, first.get('verify_output')
    assert first['label'] == 'nightly run'
    assert (root / 'nightly' / 'backup_label').is_file()
    assert first['start_lsn'] and first['stop_lsn'] and first['timeline'] == 1
    assert first['start_time'] <= first['stop_time']
    assert first['size_bytes'] > 1000000
    assert len(first['manifest_checksum']) == 64

    second = backup(pg_archive_cluster, tmp_path, root, name='nightly').task('Run')
    assert second['changed'] is False
    assert second['actions'] == []
    assert second['verified'] is True
    assert second['manifest_checksum'] == first['manifest_checksum']


def test_tar_format_with_fetched_wal_is_verified(pg_archive_cluster, tmp_path):
    root = tmp_path / 'backups'
    result = backup(pg_archive_cluster, tmp_path, root, name='tarred', format='tar', wal_method='fetch').task('Run')
    assert result['changed'] is True and result['verified'] is True, result.get('verify_output')
    assert sorted(os.listdir(root / 'tarred')) == ['backup_manifest', 'base.tar']
    assert [entry for entry in os.listdir(root) if entry.startswith('.')] == []


def test_refuses_an_occupied_target_and_touches_nothing(pg_archive_cluster, tmp_path):
    target = tmp_path / 'backups' / 'nightly'
    target.mkdir(parents=True)
    (target / 'notes.txt').write_text('keep me', encoding='utf-8')
    run = backup(pg_archive_cluster, tmp_path, target.parent, name='nightly', expect_rc=2)
    assert run.failed_tasks == ['Run']
    assert 'not empty' in run.task('Run')['msg']
    assert os.listdir(target) == ['notes.txt']


def test_a_failed_pg_basebackup_leaves_no_directory(pg_archive_cluster, tmp_path):
    # `sre` may log in, but has no replication connection: pg_basebackup itself fails.
    root = tmp_path / 'backups'
    run = backup(pg_archive_cluster, tmp_path, root, pg={'pg': pg_archive_cluster.conninfo}, name='nightly', expect_rc=2)
    message = run.task('Run')['msg']
    assert 'Failed to take a base backup with pg_basebackup' in message and 'replication' in message
    assert pg_archive_cluster.conninfo['password'] not in run.output
    assert not (root / 'nightly').exists()


def test_refuses_a_bad_name_before_connecting(pg_archive_cluster, tmp_path):
    run = backup(pg_archive_cluster, tmp_path, tmp_path / 'backups', name='../escape', expect_rc=2)
    assert 'name must be' in run.task('Run')['msg']
    assert not (tmp_path / 'backups').exists()


def test_archiving_is_healthy_after_a_wal_switch(pg_archive_cluster, tmp_path):
    wal = pg_archive_cluster.switch_wal()
    pg_archive_cluster.wait_archived(wal)
    result = archive_info(pg_archive_cluster, tmp_path, archive_dir=str(pg_archive_cluster.archive_dir))
    assert result['healthy'] is True, result['problems']
    assert result['archive_mode'] == 'on' and result['archive_command_set'] is True
    assert result['last_archived_wal'] >= wal
    assert result['last_archived_age_seconds'] is not None
    assert result['current_wal_file'] >= wal and result['current_wal_lsn']
    assert result['archive_dir']['newest_wal_file'] >= wal
    assert 'pg_stat_archiver' in ' '.join(result['queries'])


def test_lists_backups_with_time_ranges(pg_archive_cluster, tmp_path):
    root = tmp_path / 'backups'
    for name in ('first', 'second'):
        backup(pg_archive_cluster, tmp_path, root, name=name)
    # The history files reach the archive with the next segment switch.
    pg_archive_cluster.wait_archived(pg_archive_cluster.switch_wal())
    playbook = write_playbook(tmp_path, 'pg_base_backup_info', {'root': str(root), 'archive_dir': str(pg_archive_cluster.archive_dir), 'verify': True})
    result = run_playbook(playbook, tmp_path).task('Run')
    assert [b['name'] for b in result['backups']] == ['first', 'second']
    for entry in result['backups']:
        assert entry['verified'] is True and entry['usable'] is True
        assert entry['stop_time_source'] == 'history_file'
        assert entry['start_time'] <= entry['stop_time']
    first, second = result['backups']
    assert first['stop_time'] <= second['start_time']
    assert result['newest']['name'] == 'second'
    assert result['newest_is_recent'] is True


def test_a_corrupted_backup_is_listed_as_unusable(pg_archive_cluster, tmp_path):
    root = tmp_path / 'backups'
    backup(pg_archive_cluster, tmp_path, root, name='broken')
    (root / 'broken' / 'PG_VERSION').write_text('14\n', encoding='utf-8')
    playbook = write_playbook(tmp_path, 'pg_base_backup_info', {'root': str(root), 'verify': True})
    result = run_playbook(playbook, tmp_path).task('Run')
    [entry] = result['backups']
    assert entry['verified'] is False and entry['usable'] is False
    assert 'PG_VERSION' in entry['verify_output']
    assert result['newest'] is None and result['newest_is_recent'] is False
    # And pg_base_backup refuses to call it done.
    run = backup(pg_archive_cluster, tmp_path, root, name='broken', expect_rc=2)
    assert 'does not verify' in run.task('Run')['msg']


@pytest.fixture(name='own_cluster')
def own_cluster_fixture(tmp_path_factory):
    """A cluster of this test alone, with archiving, a password-protected replication role."""
    cluster = PostgresCluster(tmp_path_factory.mktemp('pg-bk'), archive=True).start()
    try:
        cluster.psql("CREATE ROLE backup LOGIN REPLICATION PASSWORD '%s'; GRANT pg_monitor TO backup;" % BACKUP_PASSWORD)
        hba = cluster.data_dir / 'pg_hba.conf'
        hba.write_text(hba.read_text(encoding='utf-8') + 'host    replication  backup  127.0.0.1/32   scram-sha-256\n', encoding='utf-8')
        cluster.psql('SELECT pg_reload_conf()')
        yield cluster
    finally:
        cluster.stop()


def break_archiving(cluster):
    """Make archive_command fail and wait until the archiver has tried and failed."""
    cluster.psql("ALTER SYSTEM SET archive_command = 'false'")
    cluster.psql('SELECT pg_reload_conf()')
    cluster.switch_wal()
    wait_until(lambda: int(cluster.psql('SELECT failed_count FROM pg_stat_archiver')) > 0, timeout=30, interval=0.2, what='a failed archive attempt')


def test_broken_archive_command_is_unhealthy(own_cluster, tmp_path):
    break_archiving(own_cluster)
    result = archive_info(own_cluster, tmp_path, max_age_seconds=60)
    assert result['healthy'] is False
    assert result['failed_count'] >= 1
    assert result['ready_count'] >= 1
    assert any('failed' in problem for problem in result['problems'])


def test_password_never_in_output_nor_on_a_command_line(own_cluster, tmp_path):
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        seen.append(Path('/proc', pid, 'cmdline').read_bytes().replace(b'\0', b' '))
                    except OSError:
                        pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        # The password reaches the module as PGPASSWORD (login_password's fallback), so no argv holds it.
        pg = {'pg': own_cluster.conninfo_for('backup', 'postgres')}
        run = backup(own_cluster, tmp_path, tmp_path / 'backups', pg=pg, env={'PGPASSWORD': BACKUP_PASSWORD}, name='secret')
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert run.task('Run')['verified'] is True
    assert any(b'pg_basebackup' in line for line in seen), 'the watcher never saw pg_basebackup running'
    assert not [line for line in seen if BACKUP_PASSWORD.encode() in line]
    assert BACKUP_PASSWORD not in run.output
    assert BACKUP_PASSWORD not in repr(run.results)


def playbook_vars(cluster, root, **extra):
    info = cluster.conninfo_for('postgres', 'postgres')
    return dict({'pg_login_host': info['host'], 'pg_login_port': info['port'], 'pg_login_user': info['user'], 'pg_db': info['dbname'],
                 'db_backup_root': str(root), 'db_backup_archive_dir': str(cluster.archive_dir)}, **extra)


def test_backup_then_verify_playbooks(pg_archive_cluster, tmp_path):
    root = tmp_path / 'pb-backups'
    checked = run_playbook('sre.runbooks.db_backup', tmp_path, extra_vars=playbook_vars(pg_archive_cluster, root, db_backup_name='pb'), check=True)
    assert checked.task('Take and verify the base backup')['changed'] is True and not root.exists()
    taken = run_playbook('sre.runbooks.db_backup', tmp_path, extra_vars=playbook_vars(pg_archive_cluster, root, db_backup_name='pb'))
    assert taken.task('Take and verify the base backup')['verified'] is True
    again = run_playbook('sre.runbooks.db_backup', tmp_path, extra_vars=playbook_vars(pg_archive_cluster, root, db_backup_name='pb'))
    assert again.changed is False

    pg_archive_cluster.wait_archived(pg_archive_cluster.switch_wal())
    verified = run_playbook('sre.runbooks.db_backup_verify', tmp_path, extra_vars=playbook_vars(pg_archive_cluster, root))
    assert verified.failed_tasks == [] and verified.changed is False
    assert verified.task('List and verify the base backups')['newest']['name'] == 'pb'

    # A backup older than the threshold fails the run loudly, and says why.
    stale = run_playbook('sre.runbooks.db_backup_verify', tmp_path, expect_rc=2,
                         extra_vars=playbook_vars(pg_archive_cluster, root, db_backup_verify_backup_max_age=1, db_backup_verify_integrity=False))
    assert stale.failed_tasks == ['Fail when there is no recent verified backup']
    assert 'No usable base backup newer than 1 s' in stale.task('Fail when there is no recent verified backup')['msg']


def test_verify_playbook_fails_when_archiving_is_broken(own_cluster, tmp_path):
    root = tmp_path / 'pb-backups'
    root.mkdir()
    break_archiving(own_cluster)
    run = run_playbook('sre.runbooks.db_backup_verify', tmp_path, extra_vars=playbook_vars(own_cluster, root), expect_rc=2)
    assert run.failed_tasks == ['Fail when WAL archiving is broken']
    assert 'WAL archiving is broken: the last archive attempt failed' in run.task('Fail when WAL archiving is broken')['msg']
