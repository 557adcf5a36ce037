"""sre.runbooks.disk_cleanup (playbooks/disk_cleanup.yml and the disk_cleanup role) through ansible-playbook, on real trees.

- A tree of 100k+ files: deep nesting, symlink traps pointing outside the root, protected directories, files held
  open, unicode names. Check mode deletes nothing and its manifest lists exactly what the real run then deletes;
  the survivors and the symlink targets are hashed before and after; a second run reports changed=false.
- The free-space target on a real 64 MiB tmpfs (root only): deletion stops at the first file that reaches the
  target, oldest first; check mode predicts the same list.
- The logrotate policy is written to a test directory, validated with logrotate -d, and not rewritten on a second run.
- disk_full.yml: a cleanup that cannot reach its target expands the PersistentVolumeClaim (kubesim), then writes work.
No timing is asserted.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import FAILED_TASK, wait_for
from tests.integration.runner import run_playbook

REPO = Path(__file__).resolve().parents[2]
CLEANUP = REPO / 'playbooks' / 'disk_cleanup.yml'
DISK_FULL = REPO / 'playbooks' / 'disk_full.yml'
REMOVE = 'Remove the selected files'
DAY = 86400
NO_SIDE_STEPS = {'disk_cleanup_journald_vacuum': False, 'disk_cleanup_image_prune': False}


def write(path, size, age_days, now):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(b'x' * size)
    when = now - age_days * DAY
    os.utime(path, (when, when))


def build_tree(root, outside, now, count=100000):
    """count files in 100 directories (every 10th old enough and matching), plus the traps; returns the expected deletions."""
    expected = set()
    for index in range(count):
        directory = root / ('d%02d' % (index % 100)) / ('e%d' % (index % 7))
        old = index % 10 == 0
        name = 'app-%06d.log' % index if index % 2 == 0 else 'data-%06d.bin' % index
        write(directory / name, 16, 40 if old else 1, now)
        if old and name.endswith('.log'):
            expected.add(str(directory / name))
    deep = root / 'deep'
    for level in range(60):
        deep = deep / ('n%02d' % level)
    write(deep / 'bottom.log', 100, 40, now)
    expected.add(str(deep / 'bottom.log'))
    write(root / 'журнал' / 'ログ-古い.log', 100, 40, now)
    expected.add(str(root / 'журнал' / 'ログ-古い.log'))
    write(root / 'naïve café.log', 100, 40, now)
    expected.add(str(root / 'naïve café.log'))
    for name in ('keep/a.log', 'keep/deeper/b.log'):
        write(root / name, 100, 40, now)  # protected directory
    write(root / 'audit.log', 100, 40, now)  # protected file
    write(outside / 'precious.log', 100, 40, now)
    write(outside / 'inside-trap' / 'other.log', 100, 40, now)
    (root / 'trap-dir').symlink_to(outside)
    (root / 'trap-file.log').symlink_to(outside / 'precious.log')
    (root / 'd00' / 'loop').symlink_to(root)
    write(root / 'held.log', 5000, 40, now)
    expected.add(str(root / 'held.log'))
    return expected


def digest(top):
    """{path: sha256} of every regular file under top, symlinks not followed."""
    result = {}
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                result[path] = 'link:' + os.readlink(path)
                continue
            with open(path, 'rb') as handle:
                result[path] = hashlib.sha256(handle.read()).hexdigest()
    return result


def manifest_paths(path):
    return [line.split('\t', 2)[2] for line in Path(path).read_text(encoding='utf-8').splitlines()]


def cleanup(tmp_path, check=False, expect_rc=0, **extra):
    return run_playbook(CLEANUP, tmp_path, extra_vars=dict(NO_SIDE_STEPS, **extra), check=check, expect_rc=expect_rc)


def test_a_big_tree_exactly_the_selected_files_go(tmp_path):
    now = time.time()
    root, outside = tmp_path / 'root', tmp_path / 'outside'
    expected = build_tree(root, outside, now)
    holder = subprocess.Popen([sys.executable, '-c', 'import sys,time; f=open(sys.argv[1]); print("open", flush=True); time.sleep(120)',
                               str(root / 'held.log')], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'open'

        def tree():
            return {**digest(root), **digest(outside)}

        before = tree()
        options = dict(disk_cleanup_roots=[str(root)], disk_cleanup_patterns=['*.log'], disk_cleanup_min_age='30d',
                       disk_cleanup_protected=[str(root / 'keep'), str(root / 'audit.log')], disk_cleanup_report_limit=10)

        planned = cleanup(tmp_path, check=True, disk_cleanup_manifest=str(tmp_path / 'check.tsv'), **options).task(REMOVE)
        assert planned['changed'] is True and planned['removed_files'] == len(expected) and planned['files_truncated'] is True
        assert set(manifest_paths(tmp_path / 'check.tsv')) == expected
        assert tree() == before

        done = cleanup(tmp_path, disk_cleanup_manifest=str(tmp_path / 'real.tsv'), **options).task(REMOVE)
        assert sorted(manifest_paths(tmp_path / 'real.tsv')) == sorted(manifest_paths(tmp_path / 'check.tsv'))
        assert done['removed_files'] == len(expected) and done['roots'][0]['symlinks'] == 3 and done['roots'][0]['protected'] >= 2
        after = tree()
        survivors = {path: value for path, value in before.items() if path not in expected}
        assert {path: after.get(path) for path in survivors} == survivors  # protected, young, other names, symlink targets
        assert not expected & set(after)
        held = [item for item in done['deleted_open'] if item['path'] == str(root / 'held.log')]
        assert held and held[0]['bytes'] == 5000 and held[0]['holders'][0]['pid'] == holder.pid and held[0]['truncated'] is False

        again = cleanup(tmp_path, **options).task(REMOVE)
        assert again['changed'] is False and again['removed_files'] == 0
    finally:
        holder.kill()
        holder.wait()


def test_dangerous_roots_are_refused_with_nothing_deleted(tmp_path):
    run = cleanup(tmp_path, expect_rc=FAILED_TASK, disk_cleanup_roots=['/var'])
    failed = run.task('Plan the cleanup')
    assert 'root /var' in failed['msg'] and 'never cleaned as a whole' in failed['msg']


@pytest.fixture(name='tmpfs')
def tmpfs_fixture(tmp_path):
    """A real 64 MiB tmpfs (needs root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    mountpoint = tmp_path / 'tmpfs'
    mountpoint.mkdir()
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', str(mountpoint)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip('cannot mount a tmpfs here: %s' % proc.stderr.strip())
    try:
        yield mountpoint
    finally:
        subprocess.run(['umount', str(mountpoint)], check=False)


def free_bytes(path):
    vfs = os.statvfs(path)
    return vfs.f_bavail * vfs.f_frsize


def test_the_free_space_target_stops_deletion_at_the_right_file(tmp_path, tmpfs):
    now = time.time()
    logs = tmpfs / 'logs'
    mib = 1024 * 1024
    for index in range(50):
        write(logs / ('app.log.%02d' % index), mib, 100 - index, now)  # app.log.00 oldest
    write(logs / 'current.log', 4 * mib, 0, now)
    vfs = os.statvfs(tmpfs)
    size = (vfs.f_blocks - vfs.f_bfree + vfs.f_bavail) * vfs.f_frsize
    need = size * 0.5 - free_bytes(tmpfs)
    count = int(-(-need // mib))  # each file frees exactly 1 MiB on tmpfs
    assert 0 < count < 50
    options = dict(disk_cleanup_roots=[str(logs)], disk_cleanup_patterns=['*.log.*'], disk_cleanup_min_age='1d', disk_cleanup_target_free_percent=50,
                   disk_cleanup_require_target=True, disk_cleanup_report_limit=100)

    planned = cleanup(tmp_path, check=True, **options).task(REMOVE)
    assert [os.path.basename(f['path']) for f in planned['files']] == ['app.log.%02d' % i for i in range(count)]
    assert len(list(logs.iterdir())) == 51

    done = cleanup(tmp_path, **options).task(REMOVE)
    assert [f['path'] for f in done['files']] == [f['path'] for f in planned['files']]
    assert sorted(p.name for p in logs.iterdir()) == ['app.log.%02d' % i for i in range(count, 50)] + ['current.log']
    fs = done['filesystems'][0]
    assert fs['target_reached'] is True and fs['after']['free_percent'] >= 50 and fs['before']['free_percent'] < 50
    assert free_bytes(tmpfs) - mib < size * 0.5  # one file fewer would not have been enough

    again = cleanup(tmp_path, **options).task(REMOVE)
    assert again['changed'] is False and 'already meets' in again['filesystems'][0]['reason']


def test_a_missed_target_fails_the_verify_when_required(tmp_path, tmpfs):
    now = time.time()
    write(tmpfs / 'logs' / 'old.log.1', 1024 * 1024, 10, now)
    write(tmpfs / 'big.bin', 50 * 1024 * 1024, 10, now)
    run = cleanup(tmp_path, expect_rc=FAILED_TASK, disk_cleanup_roots=[str(tmpfs / 'logs')], disk_cleanup_patterns=['*.log.*'],
                  disk_cleanup_min_age='1d', disk_cleanup_target_free_percent=50, disk_cleanup_require_target=True)
    assert 'was not reached' in run.task('Refuse a cleanup that missed its free-space target')['msg']
    assert not (tmpfs / 'logs' / 'old.log.1').exists() and (tmpfs / 'big.bin').exists()


@pytest.mark.skipif(shutil.which('logrotate') is None, reason='logrotate is not installed (apt-get install logrotate)')
def test_the_logrotate_policy_is_validated_and_declarative(tmp_path):
    logs = tmp_path / 'logs'
    logs.mkdir()
    policy_dir = tmp_path / 'logrotate.d'
    policy_dir.mkdir()
    options = dict(disk_cleanup_roots=[str(logs)], disk_cleanup_patterns=['*.log', 'sub/*.log'], disk_cleanup_logrotate=True,
                   disk_cleanup_logrotate_dir=str(policy_dir), disk_cleanup_logrotate_name='app')
    checked = cleanup(tmp_path, check=True, **options)
    assert checked.task('Write the logrotate policy')['changed'] is True and not (policy_dir / 'app').exists()
    written = cleanup(tmp_path, **options).task('Write the logrotate policy')
    assert written['changed'] is True
    policy = (policy_dir / 'app').read_text()
    assert '%s/*.log\n' % logs in policy and 'sub/*.log' not in policy
    assert 'copytruncate' in policy and 'rotate 7' in policy and 'maxsize 100M' in policy
    assert subprocess.run(['logrotate', '-d', str(policy_dir / 'app')], capture_output=True, check=False).returncode == 0
    assert cleanup(tmp_path, **options).task('Write the logrotate policy')['changed'] is False


@pytest.mark.kubernetes
@pytest.mark.simulator_only
def test_disk_full_expands_the_claim_when_cleaning_is_not_enough(kube, namespace, tmp_path, tmpfs):
    now = time.time()
    write(tmpfs / 'data' / 'old.log.old', 1024 * 1024, 40, now)
    write(tmpfs / 'data' / 'db.bin', 50 * 1024 * 1024, 40, now)
    class_name = 'sre-disk-full-%s' % uuid.uuid4().hex[:6]
    kube.kubectl('apply', '-f', '-', input=json.dumps({'apiVersion': 'storage.k8s.io/v1', 'kind': 'StorageClass', 'metadata': {'name': class_name},
                                                      'provisioner': 'rancher.io/local-path', 'allowVolumeExpansion': True}))
    try:
        for item in ({'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim', 'metadata': {'name': 'omendb-data', 'namespace': namespace},
                      'spec': {'storageClassName': class_name, 'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': '100Gi'}}}},
                     {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'omendb', 'namespace': namespace},
                      'spec': {'containers': [{'name': 'db', 'image': 'registry.k8s.io/pause:3.10'}],
                               'volumes': [{'name': 'data', 'persistentVolumeClaim': {'claimName': 'omendb-data'}}]}}):
            kube.kubectl('apply', '-f', '-', input=json.dumps(item))
        wait_for(lambda: kube.json('pvc', 'omendb-data', '-n', namespace).get('status', {}).get('phase') == 'Bound', 60, 'the claim bound')
        extra = dict(kubeconfig=str(kube.kubeconfig), disk_full_roots=[str(tmpfs / 'data')], disk_full_namespace=namespace,
                     disk_full_pvc='omendb-data', disk_full_pvc_size='200Gi', disk_full_target_free_percent=50, disk_full_pvc_wait_timeout=60)
        checked = run_playbook(DISK_FULL, tmp_path, extra_vars=extra, check=True, env=kube.env)
        assert checked.task('Expand the claim')['changed'] is True and (tmpfs / 'data' / 'old.log.old').exists()
        assert kube.json('pvc', 'omendb-data', '-n', namespace)['spec']['resources']['requests']['storage'] == '100Gi'

        done = run_playbook(DISK_FULL, tmp_path, extra_vars=extra, env=kube.env)
        assert done.task('Remove the selected files')['removed_files'] == 1 and not (tmpfs / 'data' / 'old.log.old').exists()
        expanded = done.task('Expand the claim')
        assert expanded['changed'] is True and expanded['claim_after']['capacity'] == '200Gi'
        assert kube.json('pvc', 'omendb-data', '-n', namespace)['status']['capacity']['storage'] == '200Gi'
        assert not (tmpfs / 'data' / '.sre-runbooks-write-probe').exists()

        again = run_playbook(DISK_FULL, tmp_path, extra_vars=extra, env=kube.env)
        assert again.task('Remove the selected files')['changed'] is False and again.task('Expand the claim')['changed'] is False
    finally:
        kube.kubectl('delete', 'storageclass', class_name, '--ignore-not-found')
