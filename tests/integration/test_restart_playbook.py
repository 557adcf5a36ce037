"""The sre.runbooks.restart playbook (role sre.runbooks.restart) through ansible-playbook.

Against the Kubernetes API under test (kubesim, or the cluster of $KUBECONFIG)
and, for the health gate, a real Prometheus scraping the sample app. What the
role did is checked with kubectl, never only from its own result. Rate windows
are 15 s instead of the runbooks' 5 m; nothing here asserts a duration.
"""

import datetime

import pytest

from tests.integration.conftest import FAILED_TASK, deploy, deployment, live_pods, pod_ready, rollout_status, wait_for, written_state
from tests.integration.gate import ERROR_RATE, gate_vars
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.restart'
RESTART = 'Restart the workload and wait for the rollout'
SUMMARY = 'Summarise the restart'
REFUSE_WORKLOAD = 'Refuse a workload that cannot be read'
REFUSE_PLAN = 'Refuse a restart that cannot be done'
REFUSE_GATE = 'Refuse a gate configuration that cannot work'
GATE = 'Gate the service health'
UNHEALTHY = 'Fail when the service is unhealthy after the restart'
RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'


def play(kube, tmp_path, namespace, check=False, expect_rc=0, **extra):
    """Run the playbook on deployment `web` of `namespace`; the kubeconfig as the playbook's `kubeconfig` variable."""
    extra_vars = dict(restart_name='web', restart_namespace=namespace, kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def restarted_at(obj):
    return (obj['spec']['template']['metadata'].get('annotations') or {}).get(RESTARTED_AT)


def pod_names(kube, namespace):
    return {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')}


def all_new_and_ready(kube, namespace, old_names):
    pods = live_pods(kube, namespace, 'app=web')
    return len(pods) == 3 and all(pod_ready(p) for p in pods) and not {p['metadata']['name'] for p in pods} & old_names


def test_restart_in_check_mode_then_for_real(kube, namespace, tmp_path):
    deploy(kube, namespace)
    before = deployment(kube, namespace)
    old_pods = pod_names(kube, namespace)

    checked = play(kube, tmp_path, namespace, check=True)
    planned = checked.task(RESTART)
    assert planned['changed'] is True
    assert checked.task(SUMMARY)['msg'][0] == 'deployment %s/web: would restart every pod (revision 1)' % namespace
    assert checked.task(SUMMARY)['msg'][-1] == 'gate: no checks configured'
    assert written_state(deployment(kube, namespace)) == written_state(before)
    assert restarted_at(deployment(kube, namespace)) is None

    run = play(kube, tmp_path, namespace)
    done = run.task(RESTART)
    assert done['changed'] is True
    assert (done['from_revision'], done['revision']) == (1, 2)
    assert done['rollout']['state'] == 'complete'
    after = deployment(kube, namespace)
    assert restarted_at(after) == done['restarted_at']
    assert after['metadata']['annotations']['deployment.kubernetes.io/revision'] == '2'
    assert run.task(SUMMARY)['msg'][0] == 'deployment %s/web: restarted every pod, revision 1 -> 2' % namespace
    assert run.task('Record the result of the restart')['ansible_facts']['restart_result']['restarted_at'] == done['restarted_at']
    rollout_status(kube, namespace, 'deployment/web')
    wait_for(lambda: all_new_and_ready(kube, namespace, old_pods), 60, '3 new ready pods')


def test_restarted_after_makes_a_second_run_unchanged(kube, namespace, tmp_path):
    deploy(kube, namespace)
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)).strftime('%Y-%m-%dT%H:%M:%SZ')

    first = play(kube, tmp_path, namespace, restart_restarted_after=since)
    assert first.task(RESTART)['changed'] is True
    restarted = deployment(kube, namespace)
    stamp = restarted_at(restarted)
    assert stamp is not None and stamp >= since

    again = play(kube, tmp_path, namespace, restart_restarted_after=since)
    assert again.changed is False
    assert again.task(RESTART)['restarted_at'] == stamp
    assert again.task(SUMMARY)['msg'][0] == (
        'deployment %s/web: not restarted: its pods were last restarted at %s, after %s' % (namespace, stamp, since))
    assert written_state(deployment(kube, namespace)) == written_state(restarted)


def test_missing_workload_is_refused(kube, namespace, tmp_path):
    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK)
    assert run.failed_tasks == [REFUSE_WORKLOAD]
    msg = run.task(REFUSE_WORKLOAD)['msg']
    assert msg.startswith('Cannot restart deployment %s/web: ' % namespace)
    assert 'not found' in msg and 'Nothing was changed' in msg


def test_paused_deployment_is_refused_before_anything_changes(kube, namespace, tmp_path):
    deploy(kube, namespace)
    kube.kubectl('rollout', 'pause', 'deployment/web', '-n', namespace)
    before = deployment(kube, namespace)
    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK)
    assert run.failed_tasks == [REFUSE_PLAN]
    msg = run.task(REFUSE_PLAN)['msg']
    assert msg.startswith('Refusing to restart: ') and 'paused' in msg and msg.endswith('Nothing was changed.')
    assert written_state(deployment(kube, namespace)) == written_state(before)


def test_a_gate_that_cannot_work_is_refused_before_the_restart(kube, namespace, tmp_path):
    deploy(kube, namespace)
    before = deployment(kube, namespace)
    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, health_gate_prometheus_url='prometheus:9090')
    assert run.failed_tasks == [REFUSE_GATE]
    assert 'health_gate_prometheus_url is not an http:// or https:// URL' in run.task(REFUSE_GATE)['msg']
    assert not [r for r in run.results if r['task'] == RESTART]
    assert written_state(deployment(kube, namespace)) == written_state(before)


def test_gate_passes_after_the_restart_and_is_skipped_in_check_mode(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    deploy(kube, namespace)
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')

    checked = play(kube, tmp_path, namespace, check=True, **gate_vars(prometheus))
    assert not [r for r in checked.results if r['task'] == GATE]
    assert checked.task(SUMMARY)['msg'][-1] == 'gate: skipped in check mode'

    run = play(kube, tmp_path, namespace, **gate_vars(prometheus))
    gate = run.task(GATE)
    assert gate['passed'] is True, gate['summary']
    assert [c['name'] for c in gate['checks']] == ['error_rate', 'p95_latency']
    assert run.task(SUMMARY)['msg'][-1] == 'gate: %s' % gate['summary']
    assert run.failed_tasks == []


def test_failed_gate_fails_the_restart_unless_told_otherwise(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    deploy(kube, namespace)
    fresh_sample_app.set(error_rate=0.2)
    prometheus.wait_for_value(ERROR_RATE, lambda value: abs(value - 0.2) < 0.01, 'an error rate of 20%')

    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, **gate_vars(prometheus, health_gate_wait_timeout=0))
    gate = run.task(GATE)
    assert (gate['passed'], gate['failed_checks']) == (False, ['error_rate'])
    assert run.failed_tasks == [UNHEALTHY]
    msg = run.task(UNHEALTHY)['msg']
    assert msg.startswith('Restarted deployment %s/web, but the service is unhealthy: ' % namespace)
    assert gate['summary'] in msg
    # The restart itself is done.
    assert restarted_at(deployment(kube, namespace)) == run.task(RESTART)['restarted_at']

    recorded = play(kube, tmp_path, namespace, **gate_vars(prometheus, health_gate_wait_timeout=0, health_gate_fail_on_failure=False))
    assert recorded.task(GATE)['passed'] is False
    assert recorded.failed_tasks == []
    assert recorded.task(SUMMARY)['msg'][-1] == 'gate: %s' % recorded.task(GATE)['summary']
