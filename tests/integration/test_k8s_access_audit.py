"""sre.runbooks.k8s_access_audit through ansible-playbook against kubesim.

Access-log lines are appended to the pods' logs with kubesim's admin API (KubesimAdmin.append_pod_log), so
these tests are simulator only. The counts are asserted exactly as injected; a token in a query string and a
literal given in `redact` are searched for in the whole -vvv output and in every evidence file.
"""

import datetime
import json
import os
import stat
from pathlib import Path

import pytest

from tests.integration.conftest import FAILED_TASK, deploy, live_pods, simulator_only
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'access_audit.yml'
AUDIT = 'Audit the access logs'
TOKEN = 'tok-Leaked-7f3e9a1c5b'
LEAKED_KEY = 'sk-the-leaked-key-0c4d2e'
ATTACKER = '52.14.1.7'
SCANNER = '52.14.1.8'
USER = '52.14.1.9'
PRIVATE = '10.0.0.5'


def audit(kube, tmp_path, namespace, check=False, expect_rc=0, verbosity=0, **options):
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), **options)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc, verbosity=verbosity)


def clf(moment):
    return moment.strftime('%d/%b/%Y:%H:%M:%S +0000')


def combined(ip, status, path, moment, method='GET'):
    return '{0} - - [{1}] "{2} {3} HTTP/1.1" {4} 128 "-" "python-requests/2.32"'.format(ip, clf(moment), method, path, status)


def json_line(ip, status, path, moment, forwarded_for=None):
    entry = {'time': moment.strftime('%Y-%m-%dT%H:%M:%SZ'), 'remote_addr': ip, 'method': 'GET', 'path': path, 'status': status,
             'authorization': 'Bearer ' + LEAKED_KEY}
    if forwarded_for:
        entry['x_forwarded_for'] = forwarded_for
    return json.dumps(entry)


def own_lines(kube, namespace, pod):
    """The lines the pod's container wrote by itself (kubesim's synthesized start-up lines)."""
    return len([line for line in kube.kubectl('logs', pod, '-n', namespace).stdout.splitlines() if line.strip()])


def evidence_texts(path):
    texts = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root) / name
            texts[str(full.relative_to(path))] = full.read_text(encoding='utf-8')
    return texts


@simulator_only
def test_audit_counts_the_window_and_never_keeps_the_token(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    pods = sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web'))
    assert len(pods) == 2
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    since = now - datetime.timedelta(minutes=10)
    old = now - datetime.timedelta(hours=2)
    first, second = pods
    # pod 1: the attacker tries the leaked token 25 times (401), the scanner gets 403 on /admin 6 times, a user is served,
    # and the same attacker's lines of two hours ago are outside the window
    kube.admin.append_pod_log(namespace, first, [combined(ATTACKER, 401, '/api/orders?api_key=' + TOKEN + '&page=1', now)] * 25
                              + [combined(SCANNER, 403, '/admin', now)] * 6
                              + [combined(USER, 200, '/api/orders?page=2', now)] * 10
                              + [combined(ATTACKER, 401, '/api/orders?token=' + TOKEN, old)] * 7
                              + ['panic: not an access line', 'GET /health 200'])
    # pod 2: JSON lines behind a proxy (X-Forwarded-For names the client), a private address over the threshold, a 500
    kube.admin.append_pod_log(namespace, second, [json_line('10.244.0.10', 401, '/api/pay?key=' + TOKEN, now, ATTACKER)] * 5
                              + [json_line(PRIVATE, 403, '/internal', now)] * 30
                              + [json_line(USER, 500, '/api/pay', now)]
                              + [json_line(USER, 200, '/api/pay', old)])
    own = own_lines(kube, namespace, first) - 50 + own_lines(kube, namespace, second) - 37
    evidence = tmp_path / 'evidence'

    checked = audit(kube, tmp_path, namespace, check=True, workload='web', window_since=since.strftime('%Y-%m-%dT%H:%M:%SZ'),
                    redact=[LEAKED_KEY], dest=str(evidence)).task(AUDIT)
    assert checked['changed'] is False and checked['requests'] == 25 + 6 + 10 + 5 + 30 + 1
    assert not evidence.exists(), 'check mode wrote files'

    run = audit(kube, tmp_path, namespace, verbosity=3, workload='web', window_since=since.strftime('%Y-%m-%dT%H:%M:%SZ'),
                redact=[LEAKED_KEY], dest=str(evidence))
    result = run.task(AUDIT)
    assert result['changed'] is False
    assert sorted(s['pod'] for s in result['sources']) == pods and result['not_read'] == []
    assert result['requests'] == 77
    assert result['lines_outside_window'] == 8
    assert result['lines_unparsed'] == 2 + own
    assert result['unauthorized'] == 30 and result['forbidden'] == 36
    assert result['by_status'] == {'200': 10, '401': 30, '403': 36, '500': 1}
    assert result['by_status_class'] == {'1xx': 0, '2xx': 10, '3xx': 0, '4xx': 66, '5xx': 1}
    assert result['top_clients'][0] == {'ip': PRIVATE, 'requests': 30, 'denied': 30, 'unauthorized': 0, 'forbidden': 30}
    assert result['top_clients'][1] == {'ip': ATTACKER, 'requests': 30, 'denied': 30, 'unauthorized': 30, 'forbidden': 0}
    assert [c['ip'] for c in result['top_denied_clients']] == [PRIVATE, ATTACKER, SCANNER]
    assert {'path': '/api/orders', 'requests': 35, 'denied': 25} in result['top_paths']
    assert result['peak']['requests_per_second'] == 77 and result['peak']['at'] == now.strftime('%Y-%m-%dT%H:%M:%SZ')
    # the attacker is over the 401/403 threshold (20); the private address too, but is never suggested unless asked
    assert result['block_cidrs'] == [ATTACKER + '/32']
    assert result['window'] == {'since': since.strftime('%Y-%m-%dT%H:%M:%SZ'), 'before': None}

    path = Path(result['evidence_dir'])
    assert path.parent == evidence and stat.S_IMODE(path.stat().st_mode) == 0o700
    texts = evidence_texts(path)
    assert sorted(texts) == ['audit.json', 'blocklist.txt', 'denied.log', 'summary.txt'] == result['files']
    assert all(stat.S_IMODE((path / name).stat().st_mode) == 0o600 for name in texts)
    assert texts['blocklist.txt'] == ATTACKER + '/32\n'
    assert len(texts['denied.log'].splitlines()) == 66
    assert json.loads(texts['audit.json'])['unauthorized'] == 30
    assert '<redacted>' in texts['denied.log'] and 'page=1' in texts['denied.log']
    for where, text in [('stdout -vvv', run.output)] + sorted(texts.items()):
        assert TOKEN not in text, 'the query-string token is in ' + where
        assert LEAKED_KEY not in text, 'the redacted literal is in ' + where


@simulator_only
def test_window_end_selector_private_addresses_and_refusals(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=1)
    pod = live_pods(kube, namespace, 'app=web')[0]['metadata']['name']
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    early, late = now - datetime.timedelta(minutes=30), now - datetime.timedelta(minutes=5)
    kube.admin.append_pod_log(namespace, pod, [combined(PRIVATE, 200, '/', early)] * 3
                              + [combined(PRIVATE, 200, '/', late)] * 4 + [combined(USER, 404, '/x', now)])
    result = audit(kube, tmp_path, namespace, label_selectors=['app=web'], window_since=(now - datetime.timedelta(hours=1)).isoformat(),
                   window_before=(now - datetime.timedelta(minutes=1)).isoformat(), block_min_requests=5, block_private=True).task(AUDIT)
    assert result['requests'] == 7 and result['lines_outside_window'] == 1 and result['by_status'] == {'200': 7}
    assert result['block_cidrs'] == [PRIVATE + '/32'] and result['evidence_dir'] is None and result['files'] == []
    # since_seconds: the lines of 30 minutes ago are outside
    assert audit(kube, tmp_path, namespace, workload='web', since_seconds=600).task(AUDIT)['requests'] == 5

    run = audit(kube, tmp_path, namespace, workload='web', window_since='yesterday', expect_rc=FAILED_TASK)
    assert run.failed_tasks == [AUDIT]
    refused = run.task(AUDIT)
    assert refused['msg'].startswith('Failed to audit the access logs of deployment {0}/web: since: '.format(namespace))
    assert 'RFC 3339' in refused['msg']
    refused = audit(kube, tmp_path, namespace, workload='web', block_exclude=['10.0.0.0/33'], expect_rc=FAILED_TASK).task(AUDIT)
    assert 'not an IP address or CIDR: 10.0.0.0/33' in refused['msg']
    missing = audit(kube, tmp_path, namespace, label_selectors=['app=nothing'], expect_rc=FAILED_TASK).task(AUDIT)
    assert missing['msg'] == 'Failed to audit the access logs of pods app=nothing in namespace {0}: no pod found'.format(namespace)
