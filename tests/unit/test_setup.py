"""The project's own set-up: clear messages for a bad environment, and the collection unpacker."""

import json
import os
import subprocess
import zipfile

from tests.integration.runner import REPO
from tests.setup.unpack_collections import unpack


def test_bootstrap_names_what_is_missing_and_how_to_install_it(tmp_path):
    env = dict(os.environ, SRE_NO_INSTALL='1', SRE_PG_BINDIR=str(tmp_path / 'no-postgres'))
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'bootstrap.sh')], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith('setup: missing %s/initdb' % (tmp_path / 'no-postgres'))
    assert 'apt-get install -y --no-install-recommends postgresql-15' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_unpack_takes_only_the_named_collections(tmp_path):
    wheel = tmp_path / 'ansible.whl'
    with zipfile.ZipFile(wheel, 'w') as archive:
        for name, version in (('kubernetes/core', '6.2.0'), ('community/mysql', '3.0.0')):
            archive.writestr('ansible_collections/%s/MANIFEST.json' % name, json.dumps({'collection_info': {'version': version}}))
            archive.writestr('ansible_collections/%s/plugins/modules/m.py' % name, '')
        archive.writestr('ansible-12.3.0.dist-info/METADATA', '')
    assert unpack(str(wheel), str(tmp_path / 'out'), ['kubernetes.core']) == {'kubernetes.core': '6.2.0'}
    assert (tmp_path / 'out/ansible_collections/kubernetes/core/plugins/modules/m.py').is_file()
    assert not (tmp_path / 'out/ansible_collections/community').exists()
    assert not (tmp_path / 'out/ansible-12.3.0.dist-info').exists()
