"""The sre.runbooks.rotate_secret playbook (role sre.runbooks.secret_rotation) through ansible-playbook.

Against the Kubernetes API under test (kubesim, or the cluster of $KUBECONFIG). What
the rotation did is read back with kubectl: the Secret's bytes, its backups, the pods.
On kubesim the test also asks each new pod's kubelet which value it read at its start
(`/kubesim/pods/<ns>/<pod>/secrets`: SHA-256 only). Every value the test sets is
searched for, plain and base64, in everything ansible-playbook printed at -vvv.
"""

import base64
import hashlib
import json
import string

import boto3
import pytest

from tests.engines.ports import free_port
from tests.integration.conftest import FAILED_TASK, apply_object, deploy, live_pods, pod_ready, rollout_status, wait_for
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.rotate_secret'
OLD = 'leaked-key-0f1e2d3c4b5a69788796'
NEW = 'fresh-key-a1b2c3d4e5f60718293a'
ROTATE = 'Rotate the key'
SUMMARY = 'Summarise the rotation'
VERSION = 'sre.runbooks/secret-version'


def b64(text):
    return base64.b64encode(text.encode()).decode()


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def play(kube, tmp_path, namespace, check=False, expect_rc=0, verbosity=3, **extra):
    extra_vars = dict(secret_rotation_name='api-key', secret_rotation_namespace=namespace, secret_rotation_key='API_KEY',
                      kubeconfig=str(kube.kubeconfig))
    extra_vars.update(extra)
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc, verbosity=verbosity)
    return run


def assert_never_shown(run, *values):
    printed = run.output + json.dumps(run.results)
    for value in values:
        for form in (value, b64(value)):
            assert form not in printed, 'a secret value was printed'


@pytest.fixture(name='consumers')
def consumers_fixture(kube, namespace):
    """Secret api-key read by Deployment web (env, 3 pods), Deployment worker (a volume, 1 pod) and CronJob report (envFrom)."""
    apply_object(kube, namespace, {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'api-key'}, 'type': 'Opaque',
                                   'data': {'API_KEY': b64(OLD), 'CLIENT_ID': b64('client-7')}})
    deploy(kube, namespace, replicas=3)
    web = kube.json('deployment', 'web', '-n', namespace)
    web['spec']['template']['spec']['containers'][0]['env'] = [
        {'name': 'API_KEY', 'valueFrom': {'secretKeyRef': {'name': 'api-key', 'key': 'API_KEY'}}}]
    apply_object(kube, namespace, {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web', 'labels': {'app': 'web'}},
                                   'spec': web['spec']})
    worker = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'worker'}, 'spec': {
        'replicas': 1, 'selector': {'matchLabels': {'app': 'worker'}},
        'template': {'metadata': {'labels': {'app': 'worker'}}, 'spec': {
            'terminationGracePeriodSeconds': 5,
            'containers': [{'name': 'w', 'image': 'busybox:1.36', 'volumeMounts': [{'name': 'creds', 'mountPath': '/creds'}]}],
            'volumes': [{'name': 'creds', 'secret': {'secretName': 'api-key'}}]}}}}
    apply_object(kube, namespace, worker)
    apply_object(kube, namespace, {'apiVersion': 'batch/v1', 'kind': 'CronJob', 'metadata': {'name': 'report'}, 'spec': {
        'schedule': '0 3 * * *', 'jobTemplate': {'spec': {'template': {'spec': {
            'restartPolicy': 'OnFailure', 'containers': [{'name': 'job', 'image': 'busybox:1.36', 'envFrom': [{'secretRef': {'name': 'api-key'}}]}]}}}}}})
    # The env change rolls web out again: wait for that rollout to finish, not just for 3 ready pods of either revision.
    rollout_status(kube, namespace, 'deployment/web')
    rollout_status(kube, namespace, 'deployment/worker')
    wait_for(lambda: settled(kube, namespace, 'web', 3) and settled(kube, namespace, 'worker', 1), 90, 'consumers ready')
    return {'web': pod_names(kube, namespace, 'web'), 'worker': pod_names(kube, namespace, 'worker')}


def pod_names(kube, namespace, app):
    return {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=' + app)}


def settled(kube, namespace, app, count, not_in=()):
    pods = live_pods(kube, namespace, 'app=' + app)
    return len(pods) == count and all(pod_ready(p) for p in pods) and not {p['metadata']['name'] for p in pods} & set(not_in)


def secret(kube, namespace, name='api-key'):
    return kube.json('secret', name, '-n', namespace)


def value(kube, namespace, name='api-key', key='API_KEY'):
    return base64.b64decode(secret(kube, namespace, name)['data'][key]).decode()


def seen_by_pods(kube, namespace, app):
    """sha256 of API_KEY as each pod of `app` read it at its start (kubesim only)."""
    if not kube.is_simulator:
        return None
    seen = set()
    for name in pod_names(kube, namespace, app):
        for entries in kube.admin.pod_secrets(namespace, name).values():
            seen.update(e['sha256'] for e in entries if e['key'] == 'API_KEY')
    return seen


def test_rotation_check_mode_real_run_and_second_run(kube, namespace, tmp_path, consumers):
    checked = play(kube, tmp_path, namespace, check=True, secret_rotation_value=NEW)
    assert checked.task(ROTATE)['changed'] is True
    assert 'would rotate version 0 -> 1' in checked.task(SUMMARY)['msg'][0]
    assert value(kube, namespace) == OLD and not kube.exists('secret', 'api-key-v0', '-n', namespace)
    assert pod_names(kube, namespace, 'web') == consumers['web']
    assert_never_shown(checked, OLD, NEW)

    run = play(kube, tmp_path, namespace, secret_rotation_value=NEW)
    rotated = run.task(ROTATE)
    assert rotated['changed'] is True and (rotated['version_before'], rotated['version_after']) == (0, 1)
    assert rotated['checksums_after']['API_KEY'] == sha(NEW)[:16]
    assert [(c['kind'], c['name'], c['restartable']) for c in rotated['consumers']] == [
        ('CronJob', 'report', False), ('Deployment', 'web', True), ('Deployment', 'worker', True)]
    # the Secret holds the new value, the other key untouched; the backup holds the old one
    assert value(kube, namespace) == NEW and value(kube, namespace, key='CLIENT_ID') == 'client-7'
    assert secret(kube, namespace)['metadata']['annotations'][VERSION] == '1'
    assert value(kube, namespace, 'api-key-v0') == OLD
    assert secret(kube, namespace, 'api-key-v0')['metadata']['labels'] == {'sre.runbooks/backup-of': 'api-key'}
    # every pod of both restartable consumers was replaced and reads the new value
    wait_for(lambda: settled(kube, namespace, 'web', 3, consumers['web']) and settled(kube, namespace, 'worker', 1, consumers['worker']),
             90, 'new ready pods')
    if kube.is_simulator:
        assert seen_by_pods(kube, namespace, 'web') == {sha(NEW)} and seen_by_pods(kube, namespace, 'worker') == {sha(NEW)}
    summary = run.task(SUMMARY)['msg']
    assert 'restarted: web, worker' in summary[2] and 'CronJob report' in summary[2]
    assert summary[4].startswith('old key revoked: no:')
    assert_never_shown(run, OLD, NEW)

    restarted = {app: pod_names(kube, namespace, app) for app in ('web', 'worker')}
    again = play(kube, tmp_path, namespace, secret_rotation_value=NEW)
    assert again.changed is False
    assert 'unchanged: it already holds this value' in again.task(SUMMARY)['msg'][0]
    assert {app: pod_names(kube, namespace, app) for app in ('web', 'worker')} == restarted
    assert_never_shown(again, OLD, NEW)


def test_a_failing_gate_puts_the_old_value_back_and_the_consumers_recover(kube, namespace, tmp_path, consumers):
    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, secret_rotation_value=NEW,
               health_gate_http_checks=[{'url': 'http://127.0.0.1:%d/health' % free_port(), 'name': 'api'}],
               health_gate_wait_timeout=2, health_gate_retry_interval=1)
    back = run.task('Put the previous version back')
    assert back['changed'] is True and back['to_version'] == 0
    assert value(kube, namespace) == OLD
    assert value(kube, namespace, 'api-key-v1') == NEW  # the failed version is kept too
    message = run.task('Fail with what was done')['msg']
    assert 'Version 0 (checksum %s) is back in place and the consumers were restarted on it (2 of 2 rolled out)' % sha(OLD)[:16] in message
    wait_for(lambda: settled(kube, namespace, 'web', 3, consumers['web']), 90, 'web recovered on new pods')
    if kube.is_simulator:
        assert seen_by_pods(kube, namespace, 'web') == {sha(OLD)}
    assert_never_shown(run, OLD, NEW)


def test_generated_value_once_since_the_leak_then_rolled_back(kube, namespace, tmp_path, consumers):  # pylint: disable=unused-argument
    leak_found = kube.json('secret', 'api-key', '-n', namespace)['metadata']['creationTimestamp']
    generated = dict(secret_rotation_generate=True, secret_rotation_generate_length=40, secret_rotation_generate_charset='urlsafe',
                     secret_rotation_rotated_after=leak_found)
    first = play(kube, tmp_path, namespace, **generated)
    new = value(kube, namespace)
    assert len(new) == 40 and set(new) <= set(string.ascii_letters + string.digits + '-_') and new != OLD
    assert first.task(ROTATE)['checksums_after']['API_KEY'] == sha(new)[:16]
    assert_never_shown(first, OLD, new)
    assert play(kube, tmp_path, namespace, **generated).changed is False
    assert value(kube, namespace) == new

    rolled = play(kube, tmp_path, namespace, secret_rotation_state='rolled_back')
    assert rolled.task('Put the earlier version back')['to_version'] == 0
    assert value(kube, namespace) == OLD
    wait_for(lambda: seen_by_pods(kube, namespace, 'web') in (None, {sha(OLD)}) and settled(kube, namespace, 'web', 3), 90,
             'web back on the old value')
    assert play(kube, tmp_path, namespace, secret_rotation_state='rolled_back').changed is False
    assert_never_shown(rolled, OLD, new)


def test_refusals_change_nothing(kube, namespace, tmp_path, consumers):  # pylint: disable=unused-argument
    missing = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, secret_rotation_name='nope', secret_rotation_value=NEW)
    assert 'Failed to read Secret %s/nope' % namespace in missing.task('Refuse a rotation that cannot be done')['msg']
    both = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, secret_rotation_value=NEW, secret_rotation_generate=True)
    assert 'exactly one source of the new value' in both.task('Refuse a rotation without its Secret, key and new value')['msg']
    assert value(kube, namespace) == OLD and not kube.exists('secret', 'api-key-v0', '-n', namespace)
    assert_never_shown(missing, NEW)
    assert_never_shown(both, NEW)


def test_the_value_comes_from_aws_secrets_manager_after_its_rotation(kube, namespace, tmp_path, consumers, aws_env):  # pylint: disable=unused-argument
    """Secrets Manager rotated first (sre.runbooks.aws_secret_rotate), then its AWSCURRENT value synced into the Kubernetes Secret."""
    sm = boto3.client('secretsmanager')
    sm.create_secret(Name='shop/payment', SecretString=json.dumps({'API_KEY': OLD, 'region': 'eu'}))
    aws_play = tmp_path / 'aws-rotate.yml'
    aws_play.write_text(json.dumps([{'name': 'Rotate in Secrets Manager', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'Rotate', 'sre.runbooks.aws_secret_rotate': {'secret_id': 'shop/payment', 'json_key': 'API_KEY', 'value': NEW,
                                                              'region': 'us-east-1'}}]}]), encoding='utf-8')
    rotated_in_aws = run_playbook(aws_play, tmp_path, verbosity=3)
    assert rotated_in_aws.task('Rotate')['changed'] is True

    run = play(kube, tmp_path, namespace, secret_rotation_aws_secret_id='shop/payment', secret_rotation_aws_json_key='API_KEY',
               aws_region='us-east-1')
    assert run.task(ROTATE)['checksums_after']['API_KEY'] == sha(NEW)[:16]
    assert value(kube, namespace) == NEW
    wait_for(lambda: settled(kube, namespace, 'web', 3, consumers['web']), 90, 'web on new pods')
    if kube.is_simulator:
        assert seen_by_pods(kube, namespace, 'web') == {sha(NEW)}
    assert play(kube, tmp_path, namespace, secret_rotation_aws_secret_id='shop/payment', secret_rotation_aws_json_key='API_KEY',
                aws_region='us-east-1').changed is False
    assert_never_shown(rotated_in_aws, OLD, NEW)
    assert_never_shown(run, OLD, NEW)
