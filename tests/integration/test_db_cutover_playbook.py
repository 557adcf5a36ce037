"""The sre.runbooks.db_cutover playbook: point an application's DATABASE_URL at a restored database.

The restored database is a real PostgreSQL 15 the tests start (the role refuses
one that does not answer); the application is a Deployment on the Kubernetes API
under test (kubesim, or the cluster of $KUBECONFIG). What the playbook did is
read back with kubectl: the Secret's bytes, the pod template, the pods.
"""

import base64
import json

import boto3
import pytest

from tests.engines.ports import free_port
from tests.integration.conftest import (FAILED_TASK, apply_object, deploy, deployment, live_pods, pod_ready, wait_for,
                                        written_state)
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.db_cutover'
PASSWORD = 'c0rrect-h0rse:b@ttery'
OLD_URL = 'postgresql://orders:c0rrect-h0rse%3Ab%40ttery@db-old.internal:5432/orders?sslmode=prefer&application_name=api'
REPOINT = 'Repoint the connection string'
SUMMARY = 'Summarise the cutover'
CHANGED_AT = 'sre.runbooks/database-url-changed-at'
RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'


def play(kube, tmp_path, namespace, db, check=False, diff=False, expect_rc=0, **extra):
    extra_vars = dict(db_cutover_name='web', db_cutover_namespace=namespace, db_cutover_host=db.host,
                      db_cutover_port=db.port, kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, diff=diff, env=kube.env, expect_rc=expect_rc)


def make_secret(kube, namespace, url=OLD_URL):
    apply_object(kube, namespace, {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'orders-db'}, 'type': 'Opaque',
                                   'data': {'DATABASE_URL': base64.b64encode(url.encode()).decode(),
                                            'READONLY_URL': base64.b64encode(b'postgresql://ro:x@replica/orders').decode()}})


def secret(kube, namespace):
    return kube.json('secret', 'orders-db', '-n', namespace)


def secret_url(kube, namespace, key='DATABASE_URL'):
    return base64.b64decode(secret(kube, namespace)['data'][key]).decode()


def pods_of(kube, namespace):
    return {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')}


def all_new_and_ready(kube, namespace, old, count=3):
    pods = live_pods(kube, namespace, 'app=web')
    return len(pods) == count and all(pod_ready(p) for p in pods) and not {p['metadata']['name'] for p in pods} & old


def template_annotations(obj):
    return obj['spec']['template']['metadata'].get('annotations') or {}


def test_secret_cutover_check_mode_real_run_and_second_run(kube, namespace, tmp_path, pg_cluster):
    deploy(kube, namespace)
    make_secret(kube, namespace)
    before, old_pods = secret(kube, namespace), pods_of(kube, namespace)
    new_url = OLD_URL.replace('db-old.internal:5432', '%s:%d' % (pg_cluster.host, pg_cluster.port))

    checked = play(kube, tmp_path, namespace, pg_cluster, check=True, diff=True, db_cutover_secret='orders-db')
    planned = checked.task(REPOINT)
    assert planned['changed'] is True
    assert planned['endpoint_before'] == {'host': 'db-old.internal', 'port': 5432, 'database': 'orders'}
    assert planned['endpoint_after'] == {'host': pg_cluster.host, 'port': pg_cluster.port, 'database': 'orders'}
    assert planned['diff']['after'] == {'key DATABASE_URL of Secret %s/orders-db' % namespace: new_url.replace(
        'c0rrect-h0rse%3Ab%40ttery', '********')}
    assert secret(kube, namespace)['data'] == before['data']
    assert CHANGED_AT not in (secret(kube, namespace)['metadata'].get('annotations') or {})
    assert RESTARTED_AT not in template_annotations(deployment(kube, namespace))

    run = play(kube, tmp_path, namespace, pg_cluster, db_cutover_secret='orders-db')
    done = run.task(REPOINT)
    assert done['changed'] is True
    # only host and port changed: user, the percent-encoded password and the parameters are byte for byte the same
    assert secret_url(kube, namespace) == new_url
    assert secret_url(kube, namespace, 'READONLY_URL') == 'postgresql://ro:x@replica/orders'
    changed_at = secret(kube, namespace)['metadata']['annotations'][CHANGED_AT]
    assert changed_at == done['changed_at']
    # the pods read the Secret at start: every one was replaced, after the change
    assert template_annotations(deployment(kube, namespace))[RESTARTED_AT] >= changed_at
    wait_for(lambda: all_new_and_ready(kube, namespace, old_pods), 60, '3 new ready pods')
    result = run.task('Record the cutover')['ansible_facts']['db_cutover_result']
    assert result['restarted'] is True and result['rollout']['state'] == 'complete'
    assert PASSWORD not in run.output and 'c0rrect-h0rse%3Ab%40ttery' not in run.output

    settled = written_state(deployment(kube, namespace))
    again = play(kube, tmp_path, namespace, pg_cluster, db_cutover_secret='orders-db')
    assert again.changed is False
    assert 'already pointed at' in again.task(SUMMARY)['msg'][0]
    assert written_state(deployment(kube, namespace)) == settled
    assert secret_url(kube, namespace) == new_url


def test_a_restart_missed_by_an_interrupted_run_is_made_by_the_next(kube, namespace, tmp_path, pg_cluster):
    deploy(kube, namespace)
    make_secret(kube, namespace)
    old_pods = pods_of(kube, namespace)
    # The first run changed the Secret and stopped before the restart.
    play(kube, tmp_path, namespace, pg_cluster, db_cutover_secret='orders-db', db_cutover_restart=False)
    assert pods_of(kube, namespace) == old_pods

    run = play(kube, tmp_path, namespace, pg_cluster, db_cutover_secret='orders-db')
    assert run.task(REPOINT)['changed'] is False
    assert run.task('Restart the workload and wait for the rollout')['changed'] is True
    wait_for(lambda: all_new_and_ready(kube, namespace, old_pods), 60, '3 new ready pods')


def test_env_cutover_rolls_out_once(kube, namespace, tmp_path, pg_cluster):
    deploy(kube, namespace)
    web = deployment(kube, namespace)
    container = web['spec']['template']['spec']['containers'][0]
    old_dsn = "host=db-old port=5432 dbname=orders user=api password='%s'" % PASSWORD
    container['env'] = [{'name': 'LOG_LEVEL', 'value': 'info'}, {'name': 'DATABASE_URL', 'value': old_dsn}]
    apply_object(kube, namespace, {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web', 'labels': {'app': 'web'}},
                                   'spec': web['spec']})
    wait_for(lambda: all_new_and_ready(kube, namespace, set()) and deployment(kube, namespace)['metadata']['annotations'][
        'deployment.kubernetes.io/revision'] == '2', 60, 'revision 2 rolled out')
    old_pods = pods_of(kube, namespace)

    run = play(kube, tmp_path, namespace, pg_cluster, db_cutover_database='orders_restored')
    assert run.task(REPOINT)['changed'] is True
    after = deployment(kube, namespace)
    env = after['spec']['template']['spec']['containers'][0]['env']
    assert env == [{'name': 'LOG_LEVEL', 'value': 'info'},
                   {'name': 'DATABASE_URL', 'value': "host=%s port=%d dbname=orders_restored user=api password='%s'"
                    % (pg_cluster.host, pg_cluster.port, PASSWORD)}]
    # the env change rolled the pods out; the restart found them new enough: one new revision, not two
    assert after['metadata']['annotations']['deployment.kubernetes.io/revision'] == '3'
    assert run.task('Restart the workload and wait for the rollout')['changed'] is False
    wait_for(lambda: all_new_and_ready(kube, namespace, old_pods), 60, '3 new ready pods')
    assert PASSWORD not in run.output

    again = play(kube, tmp_path, namespace, pg_cluster, db_cutover_database='orders_restored')
    assert again.changed is False


def test_refusals_change_nothing(kube, namespace, tmp_path, pg_cluster):
    deploy(kube, namespace)
    make_secret(kube, namespace)
    before = secret(kube, namespace)

    class Nothing:  # a port nobody listens on
        host, port = '127.0.0.1', free_port()

    down = play(kube, tmp_path, namespace, Nothing, db_cutover_secret='orders-db', db_cutover_probe_timeout=1, expect_rc=FAILED_TASK)
    assert 'does not accept connections from this machine' in down.task(
        'Refuse to point the application at a database that does not answer')['msg']

    missing = play(kube, tmp_path, namespace, pg_cluster, db_cutover_secret='orders-db', db_cutover_key='DB_URL', expect_rc=FAILED_TASK)
    assert 'has no key DB_URL (it has: DATABASE_URL, READONLY_URL)' in missing.task('Refuse a change that cannot be made')['msg']

    web = deployment(kube, namespace)
    web['spec']['template']['spec']['containers'][0]['env'] = [
        {'name': 'DATABASE_URL', 'valueFrom': {'secretKeyRef': {'name': 'orders-db', 'key': 'DATABASE_URL'}}}]
    apply_object(kube, namespace, {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web'}, 'spec': web['spec']})
    settled = written_state(deployment(kube, namespace))
    from_secret = play(kube, tmp_path, namespace, pg_cluster, expect_rc=FAILED_TASK)
    assert ('comes from key DATABASE_URL of Secret orders-db: repoint the Secret (secret=orders-db, key=DATABASE_URL)'
            in from_secret.task('Refuse a change that cannot be made')['msg'])
    assert secret(kube, namespace)['data'] == before['data']
    assert written_state(deployment(kube, namespace)) == settled
    for run in (down, missing, from_secret):
        assert PASSWORD not in run.output


def test_a_failing_gate_puts_the_old_endpoint_back(kube, namespace, tmp_path, pg_cluster):
    deploy(kube, namespace)
    make_secret(kube, namespace)
    run = play(kube, tmp_path, namespace, pg_cluster, db_cutover_secret='orders-db', expect_rc=FAILED_TASK,
               health_gate_http_checks=[{'url': 'http://127.0.0.1:%d/health' % free_port(), 'name': 'api health'}],
               health_gate_wait_timeout=2, health_gate_retry_interval=1)
    reverted = run.task('Put the old endpoint back')
    assert reverted['changed'] is True
    assert reverted['endpoint_after'] == {'host': 'db-old.internal', 'port': 5432, 'database': 'orders'}
    assert secret_url(kube, namespace) == OLD_URL
    message = run.task('Fail with what was done')['msg']
    assert 'points at db-old.internal:5432 again and the pods were restarted on it' in message
    assert run.task('Restart the application on the old database')['changed'] is True
    assert json.dumps(run.results).count(PASSWORD) == 0


def test_rds_restore_then_cutover_on_moto(kube, namespace, tmp_path, aws_env):  # pylint: disable=unused-argument
    """The runbook's RDS path: restore-db-instance-to-point-in-time, then DATABASE_URL to the new endpoint, restart."""
    boto3.client('rds').create_db_instance(DBInstanceIdentifier='orders-prod', DBInstanceClass='db.t3.micro', Engine='postgres',
                                           MasterUsername='orders', MasterUserPassword='not-a-real-secret-1', AllocatedStorage=20,
                                           BackupRetentionPeriod=7)
    deploy(kube, namespace)
    make_secret(kube, namespace)
    old_pods = pods_of(kube, namespace)
    restore = run_playbook('sre.runbooks.db_pitr_restore', tmp_path, extra_vars=dict(
        db_restore_method='rds', db_restore_rds_source='orders-prod', db_restore_rds_target='orders-restore',
        db_restore_rds_wait_sleep=1, aws_region='us-east-1'))
    endpoint = restore.task('Record the result of the restore')['ansible_facts']['db_restore_endpoint']
    assert endpoint['host'].startswith('orders-restore.') and endpoint['port'] == 5432

    # moto's endpoint has no server behind it: the probe is off, as the role's docs say for an unreachable network
    run = play(kube, tmp_path, namespace, type('Endpoint', (), endpoint), db_cutover_secret='orders-db', db_cutover_probe=False)
    assert run.task(REPOINT)['endpoint_after'] == {'host': endpoint['host'], 'port': 5432, 'database': 'orders'}
    assert secret_url(kube, namespace) == OLD_URL.replace('db-old.internal', endpoint['host'])
    wait_for(lambda: all_new_and_ready(kube, namespace, old_pods), 60, '3 new ready pods')
    assert play(kube, tmp_path, namespace, type('Endpoint', (), endpoint), db_cutover_secret='orders-db',
                db_cutover_probe=False).changed is False
