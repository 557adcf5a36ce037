"""The collection as users get it: built, installed offline, run by name; and its AWX execution environment."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

from tests.integration.runner import REPO, ansible_env, run_playbook

BIN = Path(sys.executable).parent


def run(args, **kwargs):
    """Run a command from the repository; fail the test with its output if it fails."""
    proc = subprocess.run([str(a) for a in args], cwd=kwargs.pop('cwd', REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=300, **kwargs)
    assert proc.returncode == 0, '%s exited %d:\n%s' % (' '.join(map(str, args)), proc.returncode, proc.stdout[-4000:])
    return proc.stdout


def test_build_install_and_run_by_collection_name(tmp_path):
    run([BIN / 'ansible-galaxy', 'collection', 'build', '--output-path', tmp_path, REPO])
    [tarball] = tmp_path.glob('sre-runbooks-*.tar.gz')
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {'MANIFEST.json', 'FILES.json', 'meta/runtime.yml', 'plugins/modules/pg_activity_info.py',
            'playbooks/diagnose_db_connections.yml', 'meta/execution-environment.yml', 'requirements.txt'} <= names
    assert not [n for n in names if n.startswith(('.ci', 'evidence', 'context', '.cache', 'tests/output'))]

    installed = tmp_path / 'installed'
    # --force: this checkout is on ANSIBLE_COLLECTIONS_PATH, and would count as installed already.
    run([BIN / 'ansible-galaxy', 'collection', 'install', '--offline', '--no-deps', '--force', '-p', installed, tarball])
    # Only the installed copy and the dependencies: not this checkout.
    deps = os.environ['ANSIBLE_COLLECTIONS_PATH'].split(os.pathsep)[-1]
    env = ansible_env({'ANSIBLE_COLLECTIONS_PATH': os.pathsep.join([str(installed), deps])})
    doc = run([BIN / 'ansible-doc', '-t', 'module', 'sre.runbooks.pg_activity_info'], env=env)
    assert str(installed) in doc and 'login_password' in doc
    run([BIN / 'ansible-playbook', '-i', 'localhost,', '--syntax-check', 'sre.runbooks.diagnose_db_connections'], env=env, cwd=tmp_path)


def test_action_groups_name_existing_modules():
    groups = yaml.safe_load((REPO / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))['action_groups']
    assert set(groups) == {'k8s', 'postgres', 'aws'}
    for members in groups.values():
        for module in members:
            assert (REPO / 'plugins' / 'modules' / (module + '.py')).is_file(), module


def test_execution_environment_context(tmp_path):
    run([BIN / 'ansible-galaxy', 'collection', 'build', '--force', '--output-path', tmp_path, REPO])
    # ansible-builder resolves the definition's paths from its own directory, as in the repository.
    (tmp_path / 'meta').mkdir()
    for name in ('meta/execution-environment.yml', 'requirements.txt', 'bindep.txt'):
        (tmp_path / name).write_text((REPO / name).read_text(encoding='utf-8'), encoding='utf-8')
    run([BIN / 'ansible-builder', 'create', '-f', tmp_path / 'meta' / 'execution-environment.yml', '--context', tmp_path / 'context'],
        cwd=tmp_path)
    build = tmp_path / 'context' / '_build'
    assert list((build / 'collection').glob('sre-runbooks-*.tar.gz'))
    assert 'psycopg2' in (build / 'requirements.txt').read_text(encoding='utf-8')
    galaxy = yaml.safe_load((build / 'requirements.yml').read_text(encoding='utf-8'))
    assert {c['name'] for c in galaxy['collections']} == {
        'kubernetes.core', 'community.postgresql', 'amazon.aws', 'community.aws', 'community.general'}
    containerfile = next((tmp_path / 'context').glob('*file')).read_text(encoding='utf-8')
    assert 'ansible-galaxy collection install --offline /tmp/sre-runbooks/' in containerfile


def test_module_defaults_groups_apply(pg_cluster, tmp_path):
    run = run_playbook(REPO / 'tests' / 'integration' / 'playbooks' / 'action_groups.yml', tmp_path, extra_vars={'pg': pg_cluster.conninfo})
    result = run.task('Read connection activity with the group\'s defaults only')
    assert result['by_user'].get('sre', 0) >= 1
    assert '[WARNING]' not in run.output
