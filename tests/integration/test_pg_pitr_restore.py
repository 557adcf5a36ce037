"""Self-hosted point-in-time restore against a real PostgreSQL 15 with WAL archiving (sre.runbooks.pg_pitr_restore).

One archiving cluster per module; a base backup, then rows 'before' and 'after'
the targets (a time, an LSN and a restore point between them), then the WAL
archived. Each test restores into a new data directory of its own and proves
which rows came back; the live cluster and its archive are checked untouched.
"""

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.engines.ports import free_port
from tests.engines.postgres import SRE_PASSWORD, PostgresCluster, make_reachable_by_server
from tests.integration.runner import run_playbook

FAILED_TASK = 2
BEFORE = [1, 2, 3]
AFTER = [4, 5]


class Timeline:
    """What the fixture did to the live cluster, in order."""

    def __init__(self, cluster, backup_root, backup, target_time, target_lsn):
        self.cluster = cluster
        self.backup_root = backup_root
        self.backup = backup
        self.target_time = target_time
        self.target_lsn = target_lsn


@pytest.fixture(scope='module')
def timeline(pg_archive_cluster, tmp_path_factory):
    cluster = pg_archive_cluster
    cluster.psql('CREATE TABLE orders (id int PRIMARY KEY, note text); GRANT SELECT ON orders TO sre', dbname='app')
    cluster.psql('INSERT INTO orders VALUES (0, %s)' % "'before the backup'", dbname='app')
    backup_root = tmp_path_factory.mktemp('pitr-backups')
    backup = cluster.pg_basebackup(backup_root / 'base-1')
    # The backup's stop time is recorded to the second: targets must be in a later second.
    time.sleep(1.1)
    for row in BEFORE:
        cluster.psql("INSERT INTO orders VALUES (%d, 'before the target')" % row, dbname='app')
    target_lsn = cluster.psql('SELECT pg_current_wal_insert_lsn()')
    target_time = cluster.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    cluster.psql("SELECT pg_create_restore_point('before-cleanup')")
    for row in AFTER:
        cluster.psql("INSERT INTO orders VALUES (%d, 'after the target')" % row, dbname='app')
    cluster.wait_archived(cluster.switch_wal())
    return Timeline(cluster, backup_root, backup, target_time, target_lsn)


def tree_digest(path):
    """SHA-256 over the names and contents of every file under path."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode())
            with open(full, 'rb') as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def live_rows(cluster):
    return [int(value) for value in cluster.psql('SELECT id FROM orders ORDER BY id', dbname='app').split()]


def restore(timeline, tmp_path, data_dir, port, check=False, expect_rc=0, verbosity=0, **args):
    """Run pg_pitr_restore into data_dir, whose parent the server's account can reach (as a restore host would be set up)."""
    make_reachable_by_server(Path(data_dir).parent)
    options = dict({'backup_root': str(timeline.backup_root), 'archive_dir': str(timeline.cluster.archive_dir),
                    'data_dir': str(data_dir), 'port': port}, **args)
    options = {key: value for key, value in options.items() if value is not None}
    task = {'name': 'Restore', 'register': 'out', 'sre.runbooks.pg_pitr_restore': options}
    path = Path(tmp_path) / ('restore-%d.yml' % len(list(Path(tmp_path).glob('restore-*.yml'))))
    path.write_text(yaml.safe_dump([{'name': 'PITR', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]), encoding='utf-8')
    return run_playbook(path, tmp_path, check=check, expect_rc=expect_rc, verbosity=verbosity)


def restored_cluster(data_dir, port):
    """A PostgresCluster object reading the restored server (its data directory is data_dir itself)."""
    cluster = PostgresCluster(Path(data_dir).parent, port=port)
    cluster.data_dir = Path(data_dir)
    return cluster


def restored_rows(data_dir, port):
    cluster = restored_cluster(data_dir, port)
    return [int(value) for value in cluster.psql('SELECT id FROM orders ORDER BY id', dbname='app').split()]


@pytest.fixture
def cleanup():
    """Stops every restored server a test started."""
    started = []
    yield started.append
    for data_dir, port in started:
        restored_cluster(data_dir, port).stop()


COUNT_BEFORE = {'query': 'SELECT count(*) FROM orders', 'db': 'app', 'expected': 1 + len(BEFORE)}


def test_check_mode_plans_and_touches_nothing(timeline, tmp_path):
    data_dir = tmp_path / 'restored'
    archive_before = tree_digest(timeline.cluster.archive_dir)
    result = restore(timeline, tmp_path, data_dir, free_port(), check=True, recovery_target_time=timeline.target_time).task('Restore')
    assert result['changed'] is True
    assert any('recovery_target_time' in action for action in result['actions'])
    assert result['bounds']['earliest_lsn'] and result['bounds']['latest_transaction_time'] >= timeline.target_time
    assert not data_dir.exists()
    assert tree_digest(timeline.cluster.archive_dir) == archive_before


def test_restores_exactly_the_rows_before_the_time_and_a_rerun_changes_nothing(timeline, tmp_path, cleanup):
    data_dir, port = tmp_path / 'restored', free_port()
    archive_before = tree_digest(timeline.cluster.archive_dir)
    first = restore(timeline, tmp_path, data_dir, port, recovery_target_time=timeline.target_time, verify_queries=[COUNT_BEFORE]).task('Restore')
    cleanup((data_dir, port))
    assert first['changed'] is True
    assert restored_rows(data_dir, port) == [0] + BEFORE
    assert live_rows(timeline.cluster) == [0] + BEFORE + AFTER
    assert 'recovery stopping before commit' in first['reached']['stop_line']
    assert first['reached']['last_transaction_time'] <= timeline.target_time
    assert first['reached']['timeline'] == 2
    assert first['verification'][0]['passed'] is True and first['verification'][0]['rows'] == [{'count': 1 + len(BEFORE)}]
    # the restored server is a copy that does not archive: the live archive is as it was
    assert tree_digest(timeline.cluster.archive_dir) == archive_before
    assert restored_cluster(data_dir, port).psql('SHOW archive_mode') == 'off'

    second = restore(timeline, tmp_path, data_dir, port, recovery_target_time=timeline.target_time, verify_queries=[COUNT_BEFORE]).task('Restore')
    assert second['changed'] is False
    assert second['actions'] == []
    assert second['reached']['stop_line'] == first['reached']['stop_line']

    # stopped since: the rerun starts it again, the data still as restored
    restored_cluster(data_dir, port).stop()
    third = restore(timeline, tmp_path, data_dir, port, recovery_target_time=timeline.target_time, verify_queries=[COUNT_BEFORE]).task('Restore')
    assert third['changed'] is True
    assert third['actions'] == ['start the restored server in %s on port %d' % (data_dir, port)]
    assert restored_rows(data_dir, port) == [0] + BEFORE


def test_restores_to_a_named_restore_point(timeline, tmp_path, cleanup):
    data_dir, port = tmp_path / 'restored', free_port()
    result = restore(timeline, tmp_path, data_dir, port, recovery_target_name='before-cleanup').task('Restore')
    cleanup((data_dir, port))
    assert 'restore point "before-cleanup"' in result['reached']['stop_line']
    assert restored_rows(data_dir, port) == [0] + BEFORE


def test_restores_to_an_lsn(timeline, tmp_path, cleanup):
    data_dir, port = tmp_path / 'restored', free_port()
    result = restore(timeline, tmp_path, data_dir, port, recovery_target_lsn=timeline.target_lsn, backup=str(timeline.backup),
                     backup_root=None).task('Restore')
    cleanup((data_dir, port))
    assert 'WAL location (LSN) "%s"' % timeline.target_lsn in result['reached']['stop_line']
    assert restored_rows(data_dir, port) == [0] + BEFORE


def test_latest_replays_the_whole_archive_and_immediate_stops_at_the_backup(timeline, tmp_path, cleanup):
    latest_dir, latest_port = tmp_path / 'latest', free_port()
    latest = restore(timeline, tmp_path, latest_dir, latest_port, recovery_target='latest').task('Restore')
    cleanup((latest_dir, latest_port))
    assert latest['reached']['stop_line'] is None and latest['reached']['archive_recovery_complete'] is True
    assert restored_rows(latest_dir, latest_port) == [0] + BEFORE + AFTER

    immediate_dir, immediate_port = tmp_path / 'immediate', free_port()
    immediate = restore(timeline, tmp_path, immediate_dir, immediate_port, recovery_target='immediate').task('Restore')
    cleanup((immediate_dir, immediate_port))
    assert 'reaching consistency' in immediate['reached']['stop_line']
    assert restored_rows(immediate_dir, immediate_port) == [0]


@pytest.mark.parametrize('case', ['before_backup', 'after_archive', 'lsn_past_archive', 'unknown_restore_point'])
def test_unreachable_targets_are_refused_before_anything_is_touched(timeline, tmp_path, case):
    stop = restore(timeline, tmp_path, tmp_path / 'probe', free_port(), check=True, recovery_target='latest').task('Restore')['bounds']
    args = {
        'before_backup': {'recovery_target_time': '2020-01-01T00:00:00Z'},
        'after_archive': {'recovery_target_time': '2099-01-01T00:00:00Z'},
        'lsn_past_archive': {'recovery_target_lsn': 'FF/0'},
        'unknown_restore_point': {'recovery_target_name': 'never-created'},
    }[case]
    wanted = {
        'before_backup': 'earlier than the end of base backup',
        'after_archive': 'later than the last archived transaction',
        'lsn_past_archive': 'past the end of the archived WAL (%s)' % stop['latest_lsn'],
        'unknown_restore_point': "restore point 'never-created' is not in the archived WAL",
    }[case]
    data_dir = tmp_path / 'restored'
    archive_before = tree_digest(timeline.cluster.archive_dir)
    rows_before = live_rows(timeline.cluster)
    run = restore(timeline, tmp_path, data_dir, free_port(), expect_rc=FAILED_TASK, **args)
    result = run.task('Restore')
    assert wanted in result['msg'] and 'nothing was touched' in result['msg']
    assert not data_dir.exists()
    assert tree_digest(timeline.cluster.archive_dir) == archive_before
    assert live_rows(timeline.cluster) == rows_before


def test_refuses_a_directory_the_server_account_cannot_reach(timeline, tmp_path):
    if os.geteuid() != 0:
        pytest.skip('only as root does the restore run the server under another account')
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o700)
    data_dir = locked / 'inner' / 'restored'
    options = {'backup_root': str(timeline.backup_root), 'archive_dir': str(timeline.cluster.archive_dir),
               'data_dir': str(data_dir), 'port': free_port(), 'recovery_target': 'latest'}
    path = tmp_path / 'locked.yml'
    path.write_text(yaml.safe_dump([{'name': 'PITR', 'hosts': 'localhost', 'gather_facts': False,
                                     'tasks': [{'name': 'Restore', 'sre.runbooks.pg_pitr_restore': options}]}]), encoding='utf-8')
    locked.chmod(0o700)
    result = run_playbook(path, tmp_path, expect_rc=FAILED_TASK).task('Restore')
    assert 'cannot enter %s' % locked in result['msg'] and 'nothing was touched' in result['msg']
    assert os.listdir(locked) == []


def test_refuses_an_occupied_directory_a_used_port_and_a_missing_archive(timeline, tmp_path):
    occupied = tmp_path / 'occupied'
    occupied.mkdir()
    (occupied / 'keep.txt').write_text('precious', encoding='utf-8')
    result = restore(timeline, tmp_path, occupied, free_port(), expect_rc=FAILED_TASK).task('Restore')
    assert 'holds other files' in result['msg']
    assert sorted(os.listdir(occupied)) == ['keep.txt']

    # the live cluster's own data directory is just as occupied
    result = restore(timeline, tmp_path, timeline.cluster.data_dir, free_port(), expect_rc=FAILED_TASK).task('Restore')
    assert 'holds other files' in result['msg']

    result = restore(timeline, tmp_path, tmp_path / 'restored', timeline.cluster.port, expect_rc=FAILED_TASK).task('Restore')
    assert 'port %d is already in use' % timeline.cluster.port in result['msg']
    assert not (tmp_path / 'restored').exists()

    result = restore(timeline, tmp_path, tmp_path / 'restored', free_port(), expect_rc=FAILED_TASK,
                     archive_dir=str(tmp_path / 'no-archive')).task('Restore')
    assert 'archive_dir' in result['msg'] and 'does not exist' in result['msg']
    assert not (tmp_path / 'restored').exists()


def test_a_restore_that_does_not_verify_is_undone(timeline, tmp_path):
    data_dir = tmp_path / 'restored'
    wrong = {'query': 'SELECT count(*) FROM orders', 'db': 'app', 'expected': 99}
    result = restore(timeline, tmp_path, data_dir, free_port(), expect_rc=FAILED_TASK,
                     recovery_target_time=timeline.target_time, verify_queries=[wrong]).task('Restore')
    assert "returned '4', expected '99'" in result['msg']
    assert 'removed' in result['msg']
    assert not data_dir.exists()
    failed_log = Path(str(data_dir) + '.failed.log')
    assert 'recovery stopping before commit' in failed_log.read_text(encoding='utf-8')


def test_password_never_in_output_nor_on_a_command_line(timeline, tmp_path, cleanup):
    data_dir, port = tmp_path / 'restored', free_port()
    seen = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                            seen.append(handle.read())
                    except OSError:
                        pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = restore(timeline, tmp_path, data_dir, port, verbosity=3, recovery_target_time=timeline.target_time,
                      login_user='sre', login_password=SRE_PASSWORD, login_db='app', verify_queries=[COUNT_BEFORE])
    finally:
        done.set()
        watcher.join()
    cleanup((data_dir, port))
    assert run.task('Restore')['verification'][0]['passed'] is True
    assert SRE_PASSWORD not in run.output
    assert seen and not any(SRE_PASSWORD.encode() in cmdline for cmdline in seen)


def cutover(tmp_path, live, restored_dir, check=False, expect_rc=0, **args):
    options = dict({'live_data_dir': str(live.data_dir), 'restored_data_dir': str(restored_dir), 'port': live.port}, **args)
    path = Path(tmp_path) / ('cutover-%d.yml' % len(list(Path(tmp_path).glob('cutover-*.yml'))))
    path.write_text(yaml.safe_dump([{'name': 'Cutover', 'hosts': 'localhost', 'gather_facts': False,
                                     'tasks': [{'name': 'Cut over', 'sre.runbooks.pg_pitr_cutover': options}]}]), encoding='utf-8')
    return run_playbook(path, tmp_path, check=check, expect_rc=expect_rc)


def test_cutover_puts_the_restore_in_place_of_the_live_cluster(tmp_path):
    """A cluster of its own: the cutover replaces its data directory."""
    live = PostgresCluster(tmp_path / 'live', archive=True).start()
    try:
        live.psql('CREATE TABLE orders (id int PRIMARY KEY)', dbname='app')
        backup_root = make_reachable_by_server(tmp_path / 'backups')
        live.pg_basebackup(backup_root / 'base-1')
        time.sleep(1.1)
        live.psql('INSERT INTO orders SELECT generate_series(1, 5)', dbname='app')
        before_loss = live.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        live.psql('DELETE FROM orders', dbname='app')
        live.wait_archived(live.switch_wal())
        timeline = Timeline(live, backup_root, backup_root / 'base-1', before_loss, None)
        restored_dir, port = tmp_path / 'live' / 'restored', free_port()
        restore(timeline, tmp_path, restored_dir, port, recovery_target_time=before_loss)

        # a directory that holds no verified restore is refused with the live server left running
        unverified = tmp_path / 'live' / 'unverified'
        unverified.mkdir()
        refused = cutover(tmp_path, live, unverified, expect_rc=FAILED_TASK).task('Cut over')
        assert 'holds no restore verified' in refused['msg'] and 'nothing was stopped' in refused['msg']
        assert live.psql('SELECT count(*) FROM orders', dbname='app') == '0'

        planned = cutover(tmp_path, live, restored_dir, check=True).task('Cut over')
        assert planned['changed'] is True and planned['actions'][1] == 'stop the live server in %s' % live.data_dir
        assert live.psql('SELECT count(*) FROM orders', dbname='app') == '0'

        done = cutover(tmp_path, live, restored_dir, verify_queries=[{'query': 'SELECT count(*) FROM orders', 'db': 'app', 'expected': 5}])
        result = done.task('Cut over')
        assert result['changed'] is True and result['verification'][0]['passed'] is True
        # the live port now serves the restored rows, on the new timeline, archiving again; the damaged cluster is kept aside
        assert live.psql('SELECT count(*) FROM orders', dbname='app') == '5'
        assert live.psql('SHOW archive_mode') == 'on'
        assert live.psql('SELECT timeline_id FROM pg_control_checkpoint()') == '2'
        assert Path(result['previous_data_dir'], 'PG_VERSION').is_file() and not restored_dir.exists()
        assert not (live.data_dir / 'recovery.signal').exists()

        again = cutover(tmp_path, live, restored_dir).task('Cut over')
        assert again['changed'] is False and again['actions'] == []
    finally:
        live.stop()
