"""The security incident playbooks api_key_leak, unauthorized_access and ddos, through ansible-playbook on kubesim.

Access-log lines are appended to the pods' logs with kubesim's admin API, so these tests are simulator only.
What the playbooks did is read back with kubectl (the Secret, the Ingress annotations, the replicas, the pods)
and from the evidence files; the revocation hook calls a local HTTP receiver. Every key the tests set is searched,
plain and base64, in the -vvv output and in every evidence file.
"""

import base64
import datetime
import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.integration.conftest import (FAILED_TASK, apply_object, deploy, deployment, live_pods, pod_ready, rollout_status, simulator_only,
                                        wait_for)
from tests.integration.notice_receiver import notice_receiver_fixture  # noqa: F401  # pylint: disable=unused-import
from tests.integration.runner import run_playbook

pytestmark = [pytest.mark.kubernetes, simulator_only]

LEAKED = 'sk_live_leaked_4f9a2c7e1b3d5a6f'
NEW = 'sk_live_fresh_0a1b2c3d4e5f6a7b'
ATTACKER, SCANNER, USER = '52.14.1.7', '52.14.1.8', '52.14.1.9'
PREFIX = 'nginx.ingress.kubernetes.io/'
INGRESS = {'apiVersion': 'networking.k8s.io/v1', 'kind': 'Ingress',
           'metadata': {'name': 'web', 'annotations': {PREFIX + 'proxy-body-size': '8m'}},
           'spec': {'rules': [{'http': {'paths': [{'path': '/', 'pathType': 'Prefix',
                                                   'backend': {'service': {'name': 'web', 'port': {'number': 80}}}}]}}]}}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def clf(moment):
    return moment.strftime('%d/%b/%Y:%H:%M:%S +0000')


def combined(ip, status, path, moment):
    return '{0} - - [{1}] "GET {2} HTTP/1.1" {3} 128 "-" "curl/8.5"'.format(ip, clf(moment), path, status)


def play(name, kube, tmp_path, namespace, check=False, expect_rc=0, **extra):
    """Run the playbook at -vvv with the incident timeline callback writing tmp_path/timeline.jsonl."""
    extra_vars = dict(workload_name='web', workload_namespace=namespace, kubeconfig=str(kube.kubeconfig))
    extra_vars.update(extra)
    env = dict(kube.env, ANSIBLE_CALLBACKS_ENABLED='result_recorder,sre.runbooks.incident_timeline',
               SRE_INCIDENT_TIMELINE=str(Path(tmp_path) / 'timeline.jsonl'))
    return run_playbook('sre.runbooks.' + name, tmp_path, extra_vars=extra_vars, check=check, env=env, expect_rc=expect_rc,
                        verbosity=3)


def texts_under(path):
    found = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            found[os.path.join(root, name)] = Path(root, name).read_text(encoding='utf-8', errors='replace')
    return found


def assert_never_shown(run, evidence, *values):
    """Not in the output, the recorded results, the evidence files, nor the incident timeline."""
    timeline = Path(evidence).parent / 'timeline.jsonl'
    assert timeline.exists() and timeline.read_text(encoding='utf-8').count('\n') > 10, 'the timeline callback wrote nothing'
    printed = run.output + json.dumps(run.results) + ''.join(texts_under(evidence).values()) + timeline.read_text(encoding='utf-8')
    for value in values:
        for form in (value, b64(value)):
            assert form not in printed, 'a key was printed or kept'


def annotations(kube, namespace):
    """The Ingress's ingress-nginx annotations and ours (kubectl's last-applied left out)."""
    found = kube.json('ingress', 'web', '-n', namespace)['metadata'].get('annotations') or {}
    return {k: v for k, v in found.items() if k.startswith(PREFIX) or k.startswith('sre.runbooks/')}


def pods(kube, namespace):
    return sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web'))


def inject(kube, namespace, lines_for):
    """Append to every web pod's log the lines lines_for(index) gives."""
    for index, pod in enumerate(pods(kube, namespace)):
        kube.admin.append_pod_log(namespace, pod, lines_for(index))


@pytest.fixture(name='leaky_api')
def leaky_api_fixture(kube, namespace):
    """Deployment web reading API_KEY from Secret payment-provider; its logs show the leaked key tried from outside."""
    apply_object(kube, namespace, {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'payment-provider'},
                                   'data': {'API_KEY': b64(LEAKED)}})
    deploy(kube, namespace, replicas=2)
    web = deployment(kube, namespace)
    web['spec']['template']['spec']['containers'][0]['env'] = [
        {'name': 'API_KEY', 'valueFrom': {'secretKeyRef': {'name': 'payment-provider', 'key': 'API_KEY'}}}]
    apply_object(kube, namespace, {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web', 'labels': {'app': 'web'}},
                                   'spec': web['spec']})
    rollout_status(kube, namespace, 'deployment/web')
    wait_for(lambda: len(pods(kube, namespace)) == 2 and all(pod_ready(p) for p in live_pods(kube, namespace, 'app=web'))
             and deployment(kube, namespace)['status'].get('updatedReplicas') == 2, 90, 'web on its Secret')
    apply_object(kube, namespace, INGRESS)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    inject(kube, namespace, lambda index: [combined(ATTACKER, 401, '/v1/charges?api_key=' + LEAKED, now)] * (15 + index)
           + [combined(SCANNER, 403, '/admin', now)] * 3 + [combined(USER, 200, '/v1/charges', now)] * 10)
    return now


def test_api_key_leak_audits_rotates_revokes_and_keeps_no_key(kube, namespace, tmp_path, leaky_api, notice_receiver):
    receiver = notice_receiver
    since = (leaky_api - datetime.timedelta(minutes=5)).strftime('%Y-%m-%dT%H:%M:%SZ')
    evidence = tmp_path / 'evidence'
    common = dict(secret_rotation_name='payment-provider', secret_rotation_key='API_KEY', secret_rotation_value=NEW,
                  api_key_leak_since=since, api_key_leak_leaked_value=LEAKED, api_key_leak_evidence_dir=str(evidence),
                  secret_rotation_revoke_uri={'url': receiver.url + '/revoke', 'method': 'POST', 'body_format': 'json',
                                              'body': {'key_id': 'kid_123'}, 'status_code': [200]},
                  api_key_leak_notify_targets=[{'type': 'webhook', 'name': 'security', 'url': receiver.url + '/security'}])
    checked = play('api_key_leak', kube, tmp_path, namespace, check=True, **common)
    assert 'check mode: nothing changed' in checked.task('Summarise the response')['msg']
    assert base64.b64decode(kube.json('secret', 'payment-provider', '-n', namespace)['data']['API_KEY']).decode() == LEAKED
    assert receiver.requests == []

    old_pods = set(pods(kube, namespace))
    run = play('api_key_leak', kube, tmp_path, namespace, **common)
    audit = run.task('Audit the access logs of the leak window')
    assert (audit['unauthorized'], audit['forbidden'], audit['requests']) == (15 + 16, 6, 31 + 6 + 20)
    assert audit['top_denied_clients'][0]['ip'] == ATTACKER
    # rotated, restarted, verified; the old key revoked once, after that
    assert base64.b64decode(kube.json('secret', 'payment-provider', '-n', namespace)['data']['API_KEY']).decode() == NEW
    wait_for(lambda: not set(pods(kube, namespace)) & old_pods and len(pods(kube, namespace)) == 2, 90, 'new web pods')
    for pod in pods(kube, namespace):
        seen = [e['sha256'] for entries in kube.admin.pod_secrets(namespace, pod).values() for e in entries]
        assert seen == [hashlib.sha256(NEW.encode()).hexdigest()]
    assert [r['body'] for r in receiver.requests_to('/revoke')] == [{'key_id': 'kid_123'}]
    [notice] = [r['body'] for r in receiver.requests_to('/security')]
    assert '31 x 401, 6 x 403' in notice['text'] and 'rotated, version 0 -> 1' in notice['text']
    assert LEAKED not in json.dumps(notice) and NEW not in json.dumps(notice)
    message = run.task('Summarise the response')['msg']
    assert '31 x 401, 6 x 403' in message and 'rotated, version 0 -> 1' in message and 'old key revoked: by POST' in message
    report_dir = next(evidence.glob('*_api_key_leak_%s_web' % namespace))
    report = json.loads((report_dir / 'report.json').read_text(encoding='utf-8'))
    assert report['audit']['unauthorized'] == 31 and report['rotation']['version_after'] == 1
    assert report['rotation']['checksum_after'] == hashlib.sha256(NEW.encode()).hexdigest()[:16]
    assert (report_dir.stat().st_mode & 0o777) == 0o700
    assert_never_shown(run, evidence, LEAKED, NEW)

    again = play('api_key_leak', kube, tmp_path, namespace, **common)
    assert again.task('Rotate the key')['changed'] is False
    assert len(receiver.requests_to('/revoke')) == 1  # not revoked twice
    assert_never_shown(again, evidence, LEAKED, NEW)


def test_unauthorized_access_blocks_at_the_ingress_and_restores(kube, namespace, tmp_path, leaky_api):  # pylint: disable=unused-argument
    evidence = tmp_path / 'evidence'
    common = dict(unauthorized_access_evidence_dir=str(evidence), unauthorized_access_block_cidrs=['198.51.100.0/24'])
    checked = play('unauthorized_access', kube, tmp_path, namespace, check=True, **common)
    assert checked.task('Block the sources at the ingress')['changed'] is True
    assert annotations(kube, namespace) == {PREFIX + 'proxy-body-size': '8m'}

    run = play('unauthorized_access', kube, tmp_path, namespace, **common)
    audit = run.task('Audit the access logs')
    assert audit['unauthorized'] == 31 and [b['ip'] for b in audit['block_list']] == [ATTACKER]
    now = annotations(kube, namespace)
    assert now[PREFIX + 'denylist-source-range'].split(',') == ['198.51.100.0/24', ATTACKER + '/32']
    assert now[PREFIX + 'proxy-body-size'] == '8m'
    assert 'denylist 198.51.100.0/24,%s/32' % ATTACKER in run.task('Summarise the response')['msg']
    assert 'not rotated (no secret_rotation_name)' in run.task('Summarise the response')['msg']
    assert play('unauthorized_access', kube, tmp_path, namespace, **common).task('Block the sources at the ingress')['changed'] is False
    assert_never_shown(run, evidence, LEAKED)

    lifted = play('unauthorized_access', kube, tmp_path, namespace, unauthorized_access_action='restore')
    assert lifted.task('Lift the block (put back the Ingress annotations saved by the block)')['changed'] is True
    assert annotations(kube, namespace) == {PREFIX + 'proxy-body-size': '8m'}


def test_ddos_rate_limits_blocks_scales_and_restores(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    apply_object(kube, namespace, INGRESS)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    # two attackers flood, a user browses; 1200 and 1500 requests are above the block threshold (1000)
    inject(kube, namespace, lambda index: [combined(ATTACKER, 200, '/', now)] * 600 + [combined(SCANNER, 200, '/search', now)] * 750
           + [combined(USER, 200, '/cart', now)] * 20)
    evidence = tmp_path / 'evidence'
    checked = play('ddos', kube, tmp_path, namespace, check=True, ddos_evidence_dir=str(evidence))
    assert checked.task('Rate-limit aggressively and block the attack sources at the ingress')['changed'] is True
    assert annotations(kube, namespace) == {PREFIX + 'proxy-body-size': '8m'}
    assert deployment(kube, namespace)['spec']['replicas'] == 2

    run = play('ddos', kube, tmp_path, namespace, ddos_evidence_dir=str(evidence))
    applied = annotations(kube, namespace)
    assert applied[PREFIX + 'limit-rps'] == '10' and applied[PREFIX + 'limit-connections'] == '20'
    assert sorted(applied[PREFIX + 'denylist-source-range'].split(',')) == [ATTACKER + '/32', SCANNER + '/32']
    assert deployment(kube, namespace)['spec']['replicas'] == 10
    wait_for(lambda: deployment(kube, namespace)['status'].get('readyReplicas') == 10, 90, '10 ready replicas')
    report = json.loads(next(evidence.glob('*_ddos_%s_web/report.json' % namespace)).read_text(encoding='utf-8'))
    assert report['requests'] == 2 * 1370 and report['replicas'] == 10
    assert [c['ip'] for c in report['top_clients'][:2]] == [SCANNER, ATTACKER]

    again = play('ddos', kube, tmp_path, namespace, ddos_evidence_dir=str(evidence))
    assert again.task('Rate-limit aggressively and block the attack sources at the ingress')['changed'] is False
    assert deployment(kube, namespace)['spec']['replicas'] == 10

    restored = play('ddos', kube, tmp_path, namespace, ddos_action='restore', ddos_restore_replicas=3)
    assert restored.task('Put the Ingress annotations back as they were')['changed'] is True
    assert annotations(kube, namespace) == {PREFIX + 'proxy-body-size': '8m'}
    assert deployment(kube, namespace)['spec']['replicas'] == 3
    assert play('ddos', kube, tmp_path, namespace, ddos_action='restore', ddos_restore_replicas=3).changed is False


def test_refusals(kube, namespace, tmp_path):
    for name in ('api_key_leak', 'unauthorized_access', 'ddos'):
        run = play(name, kube, tmp_path, namespace, expect_rc=FAILED_TASK, workload_name='')
        assert run.failed_tasks and 'Nothing was changed' in run.results[-1]['result']['msg']
