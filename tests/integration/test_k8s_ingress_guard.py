"""sre.runbooks.k8s_ingress_guard through ansible-playbook against the API under test.

Check mode changes nothing; apply; apply again (changed=false); restore to exactly the annotations that were
there; restore again (changed=false); bad input refused before any change. What the module did is read back
with kubectl, never only from its own result.
"""

import json
from pathlib import Path

import pytest

from tests.integration.conftest import FAILED_TASK
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'ingress_guard.yml'
GUARD = 'Guard the ingress'
PREFIX = 'nginx.ingress.kubernetes.io/'
SAVED = 'sre.runbooks/saved-annotations'


def guard(kube, tmp_path, namespace, check=False, diff=False, expect_rc=0, **options):
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), **options)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, diff=diff, env=kube.env, expect_rc=expect_rc)


def ingress(name='web', annotations=None):
    return {'apiVersion': 'networking.k8s.io/v1', 'kind': 'Ingress', 'metadata': {'name': name, 'annotations': annotations or {}},
            'spec': {'ingressClassName': 'nginx', 'rules': [{'host': 'shop.example.com', 'http': {'paths': [
                {'path': '/', 'pathType': 'Prefix', 'backend': {'service': {'name': 'web', 'port': {'number': 80}}}}]}}]}}


def annotations(kube, namespace, name='web'):
    return kube.json('ingress', name, '-n', namespace)['metadata'].get('annotations') or {}


def test_apply_again_restore_and_again(kube, namespace, tmp_path):
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(ingress(annotations={
        PREFIX + 'limit-rps': '50', PREFIX + 'denylist-source-range': '192.0.2.0/24', PREFIX + 'rewrite-target': '/'})))
    original = annotations(kube, namespace)
    mitigation = dict(limit_rps=10, limit_connections=20, denylist=['52.14.1.7', '52.14.2.0/24'])

    checked = guard(kube, tmp_path, namespace, check=True, diff=True, **mitigation).task(GUARD)
    assert checked['changed'] is True and len(checked['actions']) == 4
    assert checked['annotations'][PREFIX + 'limit-rps'] == '10'  # as the dry run answered
    assert checked['diff']['before'][PREFIX + 'limit-rps'] == '50' and checked['diff']['after'][PREFIX + 'limit-rps'] == '10'
    assert annotations(kube, namespace) == original

    applied = guard(kube, tmp_path, namespace, **mitigation).task(GUARD)
    assert applied['changed'] is True
    now = annotations(kube, namespace)
    assert now[PREFIX + 'limit-rps'] == '10' and now[PREFIX + 'limit-connections'] == '20'
    assert now[PREFIX + 'denylist-source-range'] == '192.0.2.0/24,52.14.1.7/32,52.14.2.0/24'
    assert now[PREFIX + 'rewrite-target'] == '/'
    assert json.loads(now[SAVED]) == {PREFIX + 'limit-rps': '50', PREFIX + 'limit-connections': None,
                                      PREFIX + 'denylist-source-range': '192.0.2.0/24'}
    assert applied['saved'] == json.loads(now[SAVED])

    again = guard(kube, tmp_path, namespace, **mitigation).task(GUARD)
    assert again['changed'] is False and again['actions'] == []
    assert annotations(kube, namespace) == now

    checked = guard(kube, tmp_path, namespace, check=True, guard_state='restored').task(GUARD)
    assert checked['changed'] is True and annotations(kube, namespace) == now

    restored = guard(kube, tmp_path, namespace, guard_state='restored').task(GUARD)
    assert restored['changed'] is True
    assert annotations(kube, namespace) == original

    again = guard(kube, tmp_path, namespace, guard_state='restored').task(GUARD)
    assert again['changed'] is False and again['actions'] == []
    assert annotations(kube, namespace) == original


def test_allowlist_and_refusals_change_nothing(kube, namespace, tmp_path):
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(ingress()))
    original = annotations(kube, namespace)

    for options, message in ((dict(denylist=['52.14.1.7', '10.0.0.0/33']), "denylist: not an IP address or CIDR: '10.0.0.0/33'"),
                             (dict(limit_rps=0), 'limit_rps must be 1 or more, got 0'),
                             (dict(), 'state=applied needs at least one of')):
        run = guard(kube, tmp_path, namespace, expect_rc=FAILED_TASK, **options)
        assert run.failed_tasks == [GUARD]
        assert message in run.task(GUARD)['msg']
        assert annotations(kube, namespace) == original

    missing = guard(kube, tmp_path, namespace, ingress='nope', limit_rps=5, expect_rc=FAILED_TASK).task(GUARD)
    assert missing['msg'] == 'Failed to read ingress {0}/nope: it does not exist'.format(namespace)

    applied = guard(kube, tmp_path, namespace, allowlist=['198.51.100.0/24', '52.14.1.7']).task(GUARD)
    assert applied['changed'] is True
    assert annotations(kube, namespace)[PREFIX + 'allowlist-source-range'] == '198.51.100.0/24,52.14.1.7/32'
    assert guard(kube, tmp_path, namespace, guard_state='restored').task(GUARD)['changed'] is True
    assert annotations(kube, namespace) == original

    # a saved annotation the module did not write is refused before any change
    kube.kubectl('annotate', 'ingress', 'web', '-n', namespace, SAVED + '=not-json')
    tampered = annotations(kube, namespace)
    refused = guard(kube, tmp_path, namespace, guard_state='restored', expect_rc=FAILED_TASK).task(GUARD)
    assert 'fix or remove it by hand' in refused['msg'] and 'nothing was changed' in refused['msg']
    assert annotations(kube, namespace) == tampered
