"""The AWX execution environment: `ansible-builder create` output from meta/execution-environment.yml.

No container engine runs here, so the image is not built: this checks the
build context ansible-builder generates (Containerfile, the Python and system
requirements, the Galaxy requirements and the collection tarball in it) and
that the definition agrees with galaxy.yml and the tested ansible-core.
"""

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__ as ANSIBLE_CORE_VERSION

from tests.integration.runner import REPO

BIN = Path(sys.executable).parent


def run(args, cwd):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


@pytest.fixture(scope='module', name='context')
def context_fixture(tmp_path_factory):
    work = tmp_path_factory.mktemp('ee')
    run([BIN / 'ansible-galaxy', 'collection', 'build', '--force', '--output-path', work, REPO], cwd=REPO)
    (work / 'meta').mkdir()
    for name in ('meta/execution-environment.yml', 'requirements.txt', 'bindep.txt'):
        (work / name).write_text((REPO / name).read_text(encoding='utf-8'), encoding='utf-8')
    run([BIN / 'ansible-builder', 'create', '-f', work / 'meta' / 'execution-environment.yml', '--context', work / 'context'], cwd=work)
    return work / 'context'


def container_file(context):
    """Containerfile (podman, the default) or Dockerfile (when ansible-builder finds no podman)."""
    [path] = [p for p in context.iterdir() if p.name in ('Containerfile', 'Dockerfile')]
    return path.read_text(encoding='utf-8')


def definition():
    return yaml.safe_load((REPO / 'meta' / 'execution-environment.yml').read_text(encoding='utf-8'))


def test_containerfile_stages(context):
    containerfile = container_file(context)
    base = definition()['images']['base_image']['name']
    assert 'ARG EE_BASE_IMAGE="%s"' % base in containerfile
    for stage in ('as base', 'as galaxy', 'as builder', 'as final'):
        assert stage in containerfile.lower(), stage
    assert 'ansible-galaxy collection install' in containerfile and '-r requirements.yml' in containerfile
    assert 'assemble' in containerfile  # bindep and the Python requirements into wheels
    # The collection itself is installed in the final stage, after the dependencies.
    final = containerfile.lower().split(' as final')[1]
    assert definition()['additional_build_steps']['append_final'][-1].lower() in final


def test_python_and_system_requirements(context):
    build = context / '_build'
    assert (build / 'requirements.txt').read_text(encoding='utf-8') == (REPO / 'requirements.txt').read_text(encoding='utf-8')
    assert (build / 'bindep.txt').read_text(encoding='utf-8') == (REPO / 'bindep.txt').read_text(encoding='utf-8')
    bindep = (build / 'bindep.txt').read_text(encoding='utf-8')
    assert 'libpq-devel [platform:rpm compile]' in bindep and 'postgresql [platform:rpm]' in bindep  # the base image is Fedora
    containerfile = container_file(context)
    core = definition()['dependencies']['ansible_core']['package_pip']
    assert core in containerfile or core.replace(' ', '') in containerfile.replace(' ', '')


def test_ansible_core_range_holds_the_tested_version():
    spec = definition()['dependencies']['ansible_core']['package_pip']
    low, high = spec.split('>=')[1].split(',')[0], spec.split('<')[1]
    assert LooseVersion(low) <= LooseVersion(ANSIBLE_CORE_VERSION) < LooseVersion(high), (spec, ANSIBLE_CORE_VERSION)


def test_galaxy_requirements_match_galaxy_yml(context):
    wanted = yaml.safe_load((REPO / 'galaxy.yml').read_text(encoding='utf-8'))['dependencies']
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text(encoding='utf-8'))
    assert {c['name']: c['version'] for c in galaxy['collections']} == wanted


def test_collection_in_the_context_carries_the_entry_points(context):
    [tarball] = (context / '_build' / 'collection').glob('sre-runbooks-*.tar.gz')
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {'playbooks/awx_configure.yml', 'awx/catalog.yml', 'awx/job_templates.yml',
            'extensions/eda/rulebooks/alerts.yml', 'meta/execution-environment.yml'} <= names
    assert {'playbooks/%s' % p.name for p in (REPO / 'playbooks').glob('*.yml')} <= names
