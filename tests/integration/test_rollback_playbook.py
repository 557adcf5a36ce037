"""The sre.runbooks.rollback playbook (role sre.runbooks.rollback) through ansible-playbook.

Against the Kubernetes API under test (kubesim, or the cluster of $KUBECONFIG)
and, for the health gate, a real Prometheus scraping the sample app. A bad
release is revision 2 running nginx:1.26-crashloop over a healthy revision 1
(nginx:1.25). Rate windows are 15 s instead of the runbooks' 5 m so that the
measurements settle quickly; nothing here asserts a duration.
"""


import json
import secrets

import pytest

from tests.integration.conftest import deploy, deployment, history, live_pods, pod_ready, rollout_status, template_image, wait_for, written_state
from tests.integration.gate import ERROR_RATE, gate_vars
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.rollback'
ROLLBACK = 'Roll back the workload and wait for the rollout'
GATE = 'Gate the service health'  # the task of the sre.runbooks.health_gate role the rollback role includes
STOP = 'Stop when the service is still unhealthy'
REFUSE_TARGET = 'Refuse a rollback target that does not exist'
REFUSE_WORKLOAD = 'Refuse a workload that cannot be read'
SUMMARY = 'Summarise the rollback'
BAD_IMAGE = 'nginx:1.26-crashloop'


def play(kube, tmp_path, namespace, check=False, expect_rc=0, **extra):
    """Run the playbook on deployment `web` of `namespace`; the kubeconfig as the playbook's `kubeconfig` variable."""
    extra_vars = dict(rollback_name='web', rollback_namespace=namespace, kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def bad_release(kube, namespace):
    """Revision 1 nginx:1.25 (healthy), revision 2 nginx:1.26-crashloop (its new pods never become ready)."""
    deploy(kube, namespace)
    kube.apply(namespace, 'deployment.yaml', name='web', replicas=3, image=BAD_IMAGE)

    def new_pods_not_ready():
        pods = [p for p in live_pods(kube, namespace, 'app=web') if p['spec']['containers'][0]['image'] == BAD_IMAGE]
        return pods and not any(pod_ready(p) for p in pods)

    wait_for(new_pods_not_ready, 60, 'pods of %s that are not ready' % BAD_IMAGE)


def healthy_on(kube, namespace, image):
    pods = live_pods(kube, namespace, 'app=web')
    return len(pods) == 3 and all(pod_ready(p) and p['spec']['containers'][0]['image'] == image for p in pods)


def test_bad_release_rolled_back_in_check_mode_then_for_real_then_again(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    before = deployment(kube, namespace)

    checked = play(kube, tmp_path, namespace, check=True)
    planned = checked.task(ROLLBACK)
    assert planned['changed'] is True
    assert planned['actions'] == ['roll back deployment %s/web from revision 2 (%s) to revision 1 (nginx:1.25)' % (namespace, BAD_IMAGE)]
    assert 'would roll back from revision 2 to revision 1' in checked.task(SUMMARY)['msg'][0]
    assert checked.task(SUMMARY)['msg'][-1] == 'gate: no checks configured'
    assert checked.task('Record why the health gate did not run')['ansible_facts']['health_gate_result'] == {
        'passed': None, 'summary': 'no checks configured'}
    unchanged = deployment(kube, namespace)
    assert written_state(unchanged) == written_state(before)
    assert template_image(unchanged) == BAD_IMAGE

    run = play(kube, tmp_path, namespace)
    done = run.task(ROLLBACK)
    assert done['changed'] is True
    assert (done['from_revision'], done['to_revision'], done['revision']) == (2, 1, 3)
    assert done['images_before'] == {'nginx': BAD_IMAGE}
    assert done['images_after'] == {'nginx': 'nginx:1.25'}
    assert done['rollout']['state'] == 'complete'
    assert run.task('Record the result of the rollback')['ansible_facts']['rollback_result']['revision'] == 3
    summary = run.task(SUMMARY)['msg']
    assert 'rolled back from revision 2 to revision 1 (numbered 3 now)' in summary[0]
    assert summary[1] == "images before: {'nginx': '%s'}" % BAD_IMAGE
    assert summary[2] == "images after: {'nginx': 'nginx:1.25'}"
    rolled_back = deployment(kube, namespace)
    assert template_image(rolled_back) == 'nginx:1.25'
    assert rolled_back['metadata']['annotations']['deployment.kubernetes.io/revision'] == '3'
    assert history(kube, namespace, 'deployment/web') == {2: 'deploy %s' % BAD_IMAGE, 3: 'deploy nginx:1.25'}
    rollout_status(kube, namespace, 'deployment/web')
    wait_for(lambda: healthy_on(kube, namespace, 'nginx:1.25'), 60, '3 ready pods on nginx:1.25')

    again = play(kube, tmp_path, namespace)
    assert again.changed is False
    assert again.task(ROLLBACK)['revision'] == 3
    assert 'already at the rollback target, revision 3' in again.task(SUMMARY)['msg'][0]
    assert written_state(deployment(kube, namespace)) == written_state(rolled_back)


def test_unknown_revision_is_refused_before_anything_changes(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    before = deployment(kube, namespace)

    run = play(kube, tmp_path, namespace, rollback_to_revision=7, expect_rc=2)
    assert run.failed_tasks == [REFUSE_TARGET]
    assert run.changed is False
    msg = run.task(REFUSE_TARGET)['msg']
    assert msg == ('Refusing to roll back: Failed to roll back deployment %s/web: revision 7 not found; '
                   'available revisions: 1 (nginx:1.25), 2 (%s). Nothing was changed.' % (namespace, BAD_IMAGE))
    assert written_state(deployment(kube, namespace)) == written_state(before)


def test_missing_workload_is_refused(kube, namespace, tmp_path):
    run = play(kube, tmp_path, namespace, expect_rc=2)
    assert run.failed_tasks == [REFUSE_WORKLOAD]
    msg = run.task(REFUSE_WORKLOAD)['msg']
    assert msg.startswith('Cannot roll back deployment %s/web: ' % namespace)
    assert 'not found' in msg and 'Nothing was changed' in msg


def test_prometheus_gate_passes_on_a_healthy_service(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    bad_release(kube, namespace)
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')

    run = play(kube, tmp_path, namespace, **gate_vars(prometheus))
    gate = run.task(GATE)
    assert gate['passed'] is True, gate['summary']
    assert [check['name'] for check in gate['checks']] == ['error_rate', 'p95_latency']
    assert gate['checks'][0]['query'] == ERROR_RATE
    assert run.task(SUMMARY)['msg'][-1] == 'gate: %s' % gate['summary']
    assert template_image(deployment(kube, namespace)) == 'nginx:1.25'


def test_failed_gate_stops_with_the_gate_summary(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    bad_release(kube, namespace)
    fresh_sample_app.set(error_rate=0.2)
    prometheus.wait_for_value(ERROR_RATE, lambda value: abs(value - 0.2) < 0.01, 'an error rate of 20%')

    run = play(kube, tmp_path, namespace, expect_rc=2, **gate_vars(prometheus, health_gate_wait_timeout=0))
    gate = run.task(GATE)
    assert gate['passed'] is False
    assert gate['failed_checks'] == ['error_rate']
    assert run.failed_tasks == [STOP]
    msg = run.task(STOP)['msg']
    assert msg.startswith('Rolled back deployment %s/web to revision 3, but the service is still unhealthy: ' % namespace)
    assert gate['summary'] in msg
    assert 'rollback_on_gate_failure=stop' in msg
    # The rollback itself is left in place: the next step is a person's decision.
    assert template_image(deployment(kube, namespace)) == 'nginx:1.25'


def test_failed_gate_with_page_says_to_page_the_next_level(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    bad_release(kube, namespace)
    fresh_sample_app.set(error_rate=0.2)
    prometheus.wait_for_value(ERROR_RATE, lambda value: abs(value - 0.2) < 0.01, 'an error rate of 20%')

    run = play(kube, tmp_path, namespace, expect_rc=2,
               **gate_vars(prometheus, health_gate_wait_timeout=0, rollback_on_gate_failure='page'))
    page = 'Ask for the next level when the service is still unhealthy'
    assert run.failed_tasks == [page]
    msg = run.task(page)['msg']
    assert run.task(GATE)['summary'] in msg
    assert 'page the next level: ' in msg


def test_failed_gate_with_further_rolls_back_one_more_revision(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    deploy(kube, namespace)  # revision 1, nginx:1.25
    kube.apply(namespace, 'deployment.yaml', name='web', replicas=3, image='nginx:1.26')  # revision 2
    rollout_status(kube, namespace, 'deployment/web')
    kube.apply(namespace, 'deployment.yaml', name='web', replicas=3, image=BAD_IMAGE)  # revision 3
    fresh_sample_app.set(error_rate=0.2)  # the service stays unhealthy whatever runs
    prometheus.wait_for_value(ERROR_RATE, lambda value: abs(value - 0.2) < 0.01, 'an error rate of 20%')

    further = 'Roll back further and wait for the rollout'
    still = 'Stop when the service is still unhealthy after the further rollback'
    run = play(kube, tmp_path, namespace, expect_rc=2,
               **gate_vars(prometheus, health_gate_wait_timeout=0, rollback_on_gate_failure='further'))
    assert run.task(ROLLBACK)['images_after'] == {'nginx': 'nginx:1.26'}
    went = run.task(further)
    assert went['changed'] is True
    assert (went['to_revision'], went['images_after']) == (1, {'nginx': 'nginx:1.25'})
    assert run.failed_tasks == [still]
    msg = run.task(still)['msg']
    assert 'give rollback_to_revision=1' in msg
    assert template_image(deployment(kube, namespace)) == 'nginx:1.25'


def test_gate_is_skipped_in_check_mode(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    bad_release(kube, namespace)
    checked = play(kube, tmp_path, namespace, check=True, **gate_vars(prometheus))
    assert checked.task(ROLLBACK)['changed'] is True
    assert not [r for r in checked.results if r['task'] == GATE]
    assert checked.task(SUMMARY)['msg'][-1] == 'gate: skipped in check mode'
    assert template_image(deployment(kube, namespace)) == BAD_IMAGE


def test_a_gate_that_cannot_work_is_refused_before_the_rollback(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    before = deployment(kube, namespace)
    refuse = 'Refuse a gate configuration that cannot work'
    run = play(kube, tmp_path, namespace, expect_rc=2, health_gate_http_checks=[{'url': 'web.shop.svc/health'}])
    assert run.failed_tasks == [refuse]
    assert 'health_gate_http_checks: 1 check(s) without an http:// or https:// url' in run.task(refuse)['msg']
    assert not [r for r in run.results if r['task'] == ROLLBACK]
    assert written_state(deployment(kube, namespace)) == written_state(before)


def test_no_prometheus_token_appears_in_the_output_at_vvv(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    bad_release(kube, namespace)
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')
    token = 'tok-' + secrets.token_hex(12)
    tenant = 'tenant-' + secrets.token_hex(12)
    extra_vars = dict(rollback_name='web', rollback_namespace=namespace, kubeconfig=str(kube.kubeconfig),
                      **gate_vars(prometheus, health_gate_prometheus_token=token, health_gate_prometheus_headers={'X-Scope-OrgID': tenant}))
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, env=kube.env, verbosity=3)
    assert run.task(GATE)['passed'] is True, run.task(GATE)['summary']
    recorded = json.dumps(run.results)
    for secret in (token, tenant):
        assert secret not in run.output
        assert secret not in recorded
