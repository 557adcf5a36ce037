"""The incident scenario playbooks (crash_loop, high_error_rate, high_latency, memory_leak, pod_eviction, api_down) end to end.

Each test injects a fault with kubesim (image tag words, kubesim.io/* annotations,
node pressure), binds the sample app to the workload (tests/engines/app_binding.py:
errors from `-errors` images, latency when fewer pods are ready than the
sre-test/load needs, a service down without a ready pod), lets the real
Prometheus see it, runs the playbook with the real ansible-playbook, and checks
the remedy chosen and the end state. Rate windows are 15 s instead of the
runbooks' 5 m; nothing here asserts a duration.
"""


import pytest

from tests.engines.prometheus import JOB_NAME
from tests.integration.conftest import apply_object, deployment, history, live_pods, pod_ready, rollout_status, template_image, wait_for, written_state
from tests.integration.gate import ERROR_RATE, RATE_WINDOW, gate_vars
from tests.integration.runner import REPO, run_playbook

pytestmark = [pytest.mark.kubernetes, pytest.mark.simulator_only]

PLAYBOOKS = REPO / 'playbooks'
P95 = 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="%s"}[%s])))' % (JOB_NAME, RATE_WINDOW)


def manifest(name='web', replicas=2, image='nginx:1.25', annotations=None, resources=None, strategy=None):
    """A Deployment with one container `app`."""
    container = {'name': 'app', 'image': image, 'ports': [{'containerPort': 80}],
                 'resources': resources or {'requests': {'cpu': '10m', 'memory': '16Mi'}}}
    spec = {'replicas': replicas, 'selector': {'matchLabels': {'app': name}},
            'template': {'metadata': {'labels': {'app': name}, 'annotations': dict(annotations or {})},
                         'spec': {'terminationGracePeriodSeconds': 5, 'containers': [container]}}}
    if strategy:
        spec['strategy'] = {'type': strategy}
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment',
            'metadata': {'name': name, 'labels': {'app': name}, 'annotations': {'kubernetes.io/change-cause': 'deploy %s' % image}},
            'spec': spec}


def play(name, kube, namespace, tmp_path, check=False, expect_rc=0, **extra):
    extra_vars = dict(workload_name='web', workload_namespace=namespace, kubeconfig=str(kube.kubeconfig),
                      diagnostics_dest=str(tmp_path / 'evidence'), restart_wait_timeout=60, rollback_wait_timeout=60,
                      scale_wait_timeout=60, **extra)
    return run_playbook(PLAYBOOKS / ('%s.yml' % name), tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def ran(run, name):
    """Whether a task called `name` ran (not skipped) on localhost."""
    return any(r['task'] == name and r['status'] != 'skipped' for r in run.results)


def last_gate(run):
    """The result of the last health gate of the run (the scenario measures first, then each fix gates again)."""
    gates = [r['result'] for r in run.results if r['task'] == 'Gate the service health' and r['status'] != 'skipped']
    assert gates, run.output[-4000:]
    return gates[-1]


def summary(run, title):
    return run.task(title)['msg']


def ready_pods(kube, namespace):
    return [p for p in live_pods(kube, namespace, 'app=web') if pod_ready(p)]


def restarts(pod):
    return sum(cs.get('restartCount', 0) for cs in pod['status'].get('containerStatuses') or [])


# -- crash_loop ---------------------------------------------------------------------------------------------------------


def test_crash_loop_oom_raises_the_memory_limit_and_does_not_roll_back(kube, namespace, tmp_path, bind_app, prometheus):
    limited = {'requests': {'cpu': '10m', 'memory': '64Mi'}, 'limits': {'memory': '128Mi'}}
    apply_object(kube, namespace, manifest(resources=limited))
    rollout_status(kube, namespace, 'deployment/web')
    # Revision 2 needs more memory than its limit: OOMKilled, a deploy ago.
    apply_object(kube, namespace, manifest(resources=limited, annotations={'kubesim.io/memory-usage': '200Mi'}))
    wait_for(lambda: any(restarts(p) >= 1 for p in live_pods(kube, namespace, 'app=web')), 60, 'an OOMKilled restart')
    bind_app(namespace, 'web')

    run = play('crash_loop', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert ran(run, 'Raise the memory limits')
    assert not ran(run, 'Roll back to the revision before the deploy') and not ran(run, 'Restart the workload')
    msg = summary(run, 'Summarise the crash loop')
    assert msg[0].startswith('found: ') and 'OOMKilled' in msg[0]
    assert "raised the memory limit {'app': '128Mi'} -> {'app': {'limits': {'memory': '256Mi'}}}" in msg[1]
    assert msg[2].startswith('verification: gate: ') and last_gate(run)['passed'] is True
    fixed = deployment(kube, namespace)
    assert fixed['spec']['template']['spec']['containers'][0]['resources']['limits']['memory'] == '256Mi'
    assert fixed['spec']['template']['metadata']['annotations']['kubesim.io/memory-usage'] == '200Mi'  # not rolled back
    assert fixed['metadata']['annotations']['deployment.kubernetes.io/revision'] == '3'
    wait_for(lambda: len(ready_pods(kube, namespace)) == 2 and len(live_pods(kube, namespace, 'app=web')) == 2, 60, '2 ready pods, the OOMKilled gone')

    # Idempotent: the raised pods do not crash, so a second run finds nothing to fix and doubles nothing.
    again = play('crash_loop', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert again.task('Choose the fix')['ansible_facts']['__crash_loop_fix'] == 'none'
    assert again.changed is False
    assert summary(again, 'Summarise the crash loop')[1] == 'done: nothing (no crashing container found)'
    assert written_state(deployment(kube, namespace)) == written_state(fixed)


def test_crash_loop_right_after_a_deploy_rolls_back_to_the_previous_revision(kube, namespace, tmp_path, bind_app, prometheus):
    apply_object(kube, namespace, manifest())
    rollout_status(kube, namespace, 'deployment/web')
    apply_object(kube, namespace, manifest(image='nginx:1.26-crashloop'))
    wait_for(lambda: any(restarts(p) >= 1 for p in live_pods(kube, namespace, 'app=web')), 60, 'a crash-looping pod')
    bind_app(namespace, 'web')

    run = play('crash_loop', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert ran(run, 'Roll back to the revision before the deploy')
    assert not ran(run, 'Raise the memory limits') and not ran(run, 'Restart the workload')
    assert 'rolled back from revision 2 to revision 1' in summary(run, 'Summarise the crash loop')[1]
    assert template_image(deployment(kube, namespace)) == 'nginx:1.25'
    assert history(kube, namespace, 'deployment/web') == {2: 'deploy nginx:1.26-crashloop', 3: 'deploy nginx:1.25'}


def test_crash_loop_in_check_mode_changes_nothing(kube, namespace, tmp_path):
    apply_object(kube, namespace, manifest())
    rollout_status(kube, namespace, 'deployment/web')
    apply_object(kube, namespace, manifest(image='nginx:1.26-crashloop'))
    wait_for(lambda: any(restarts(p) >= 1 for p in live_pods(kube, namespace, 'app=web')), 60, 'a crash-looping pod')
    before = deployment(kube, namespace)

    run = play('crash_loop', kube, namespace, tmp_path, check=True)
    assert ran(run, 'Roll back to the revision before the deploy')
    assert summary(run, 'Summarise the crash loop')[1].endswith('(check mode: nothing changed)')
    assert written_state(deployment(kube, namespace)) == written_state(before)
    assert not (tmp_path / 'evidence').exists() or not any((tmp_path / 'evidence').iterdir())


# -- api_down -----------------------------------------------------------------------------------------------------------


def down_release(kube, namespace, previous=True):
    """Recreate strategy: every pod of the crash-looping release is down at once (the API is completely down)."""
    if previous:
        apply_object(kube, namespace, manifest(strategy='Recreate'))
        rollout_status(kube, namespace, 'deployment/web')
    apply_object(kube, namespace, manifest(image='nginx:1.26-crashloop', strategy='Recreate'))
    wait_for(lambda: live_pods(kube, namespace, 'app=web') and not ready_pods(kube, namespace)
             and all(p['spec']['containers'][0]['image'].endswith('crashloop') for p in live_pods(kube, namespace, 'app=web')),
             60, 'no ready pod')


def test_api_down_goes_on_to_the_next_fix_until_the_rollback_brings_it_back(kube, namespace, tmp_path, bind_app, prometheus):
    down_release(kube, namespace)
    bind_app(namespace, 'web')
    prometheus.wait_for_value(ERROR_RATE, lambda value: value > 0.5, 'the error rate of a service that is down')

    run = play('api_down', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert ran(run, 'Restart the pods') and ran(run, 'Scale up the replicas') and ran(run, 'Roll back the recent deployment')
    msg = summary(run, 'Summarise the recovery')
    assert msg[2] == 'done: restart, then scale_up, then rollback'
    outcome = run.task('Record the outcome')['ansible_facts']['api_down_result']
    assert outcome['healthy_before'] is False and outcome['recovered'] is True
    tried = outcome['tried']
    assert [(t['fix'], t['ok']) for t in tried] == [('restart', False), ('scale_up', False), ('rollback', True)]
    assert 'CrashLoopBackOff' in tried[0]['error'] and '0 of 5 replicas ready' in tried[1]['error']
    assert tried[2]['error'] is None and tried[2]['gate'] == last_gate(run)['summary']
    assert msg[3].startswith('verification: restart did not recover (') and 'rollback recovered (gate: ' in msg[3]
    assert template_image(deployment(kube, namespace)) == 'nginx:1.25'
    assert last_gate(run)['passed'] is True

    # Idempotent: the gate finds the service healthy, so a second run leaves it alone.
    recovered = deployment(kube, namespace)
    again = play('api_down', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    outcome = again.task('Record the outcome')['ansible_facts']['api_down_result']
    assert outcome['healthy_before'] is True and outcome['tried'] == [] and outcome['recovered'] is True
    assert again.changed is False and summary(again, 'Summarise the recovery')[2] == 'done: nothing, the service is healthy'
    assert written_state(deployment(kube, namespace)) == written_state(recovered)


def test_api_down_without_a_health_gate_is_refused_before_anything_changes(kube, namespace, tmp_path):
    down_release(kube, namespace)
    before = deployment(kube, namespace)

    run = play('api_down', kube, namespace, tmp_path, expect_rc=2)
    refused = 'Refuse to try fixes that cannot be verified'
    assert run.failed_tasks == [refused]
    assert 'Give a health gate' in run.task(refused)['msg'] and 'Nothing was changed.' in run.task(refused)['msg']
    assert not ran(run, 'Restart the pods') and not ran(run, 'Scale up the replicas') and run.changed is False
    assert written_state(deployment(kube, namespace)) == written_state(before)


def test_api_down_does_not_scale_down_a_workload_running_more_replicas(kube, namespace, tmp_path, bind_app, prometheus):
    apply_object(kube, namespace, manifest(replicas=6, strategy='Recreate'))
    rollout_status(kube, namespace, 'deployment/web')
    apply_object(kube, namespace, manifest(replicas=6, image='nginx:1.26-crashloop', strategy='Recreate'))
    wait_for(lambda: live_pods(kube, namespace, 'app=web') and not ready_pods(kube, namespace), 60, 'no ready pod')
    bind_app(namespace, 'web')

    run = play('api_down', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert not ran(run, 'Scale up the replicas') and ran(run, 'Roll back the recent deployment')
    outcome = run.task('Record the outcome')['ansible_facts']['api_down_result']
    assert [t['fix'] for t in outcome['tried']] == ['restart', 'rollback'] and outcome['recovered'] is True
    assert outcome['skipped'] == ['scale_up (already 6 replicas, at least 5)']
    assert deployment(kube, namespace)['spec']['replicas'] == 6


def test_api_down_escalates_when_no_quick_fix_works(kube, namespace, tmp_path, bind_app, prometheus):
    down_release(kube, namespace, previous=False)  # nothing to roll back to
    bind_app(namespace, 'web')

    run = play('api_down', kube, namespace, tmp_path, expect_rc=2, **gate_vars(prometheus, wait_timeout=0))
    escalate = 'Escalate when no quick fix brought the service back'
    assert run.failed_tasks[-1] == escalate
    msg = run.task(escalate)['msg']
    assert 'is still down after trying restart, scale_up, rollback' in msg and 'Escalate: page the next level' in msg


# -- high_error_rate ----------------------------------------------------------------------------------------------------


def test_high_error_rate_right_after_a_deploy_rolls_back(kube, namespace, tmp_path, bind_app, prometheus):
    apply_object(kube, namespace, manifest())
    rollout_status(kube, namespace, 'deployment/web')
    apply_object(kube, namespace, manifest(image='nginx:1.26-errors'))  # runs fine, answers 50% errors
    rollout_status(kube, namespace, 'deployment/web')
    bind_app(namespace, 'web')
    prometheus.wait_for_value(ERROR_RATE, lambda value: value > 0.2, 'the error rate of the errors release')

    run = play('high_error_rate', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert ran(run, 'Roll back to the revision before the deploy')
    msg = summary(run, 'Summarise the error rate')
    assert 'error_rate' in msg[0] and 'rolled back from revision 2 to revision 1' in msg[1]
    assert msg[2].startswith('verification: gate: ')
    assert template_image(deployment(kube, namespace)) == 'nginx:1.25'
    assert prometheus.query_value(ERROR_RATE) < 0.01


def test_high_error_rate_without_a_recent_deploy_fails_without_changing_anything(kube, namespace, tmp_path, bind_app, prometheus):
    apply_object(kube, namespace, manifest(image='nginx:1.26-errors'))
    rollout_status(kube, namespace, 'deployment/web')
    bind_app(namespace, 'web')
    prometheus.wait_for_value(ERROR_RATE, lambda value: value > 0.2, 'the error rate of the errors release')
    before = deployment(kube, namespace)

    run = play('high_error_rate', kube, namespace, tmp_path, expect_rc=2, **gate_vars(prometheus, wait_timeout=0))
    failed = 'Fail when the errors are not explained by a recent deploy'
    assert run.failed_tasks == [failed]
    assert 'a rollback is not the fix. Nothing was changed.' in run.task(failed)['msg']
    assert written_state(deployment(kube, namespace)) == written_state(before)


# -- high_latency -------------------------------------------------------------------------------------------------------


def test_high_latency_under_cpu_contention_scales_out(kube, namespace, tmp_path, bind_app, prometheus):
    # 2 cores of load over pods requesting 500m each; the traffic needs 4 ready pods.
    busy = {'kubesim.io/cpu-load': '2', 'sre-test/load': '4'}
    apply_object(kube, namespace, manifest(annotations=busy, resources={'requests': {'cpu': '500m', 'memory': '16Mi'}}))
    rollout_status(kube, namespace, 'deployment/web')
    bind_app(namespace, 'web')
    prometheus.wait_for_value(P95, lambda value: value > 2, 'a P95 latency above 2 s')

    run = play('high_latency', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=90))
    assert ran(run, 'Add replicas within the guard')
    assert not ran(run, 'Set the ingress rate limit')
    msg = summary(run, 'Summarise the latency')
    assert 'p95_latency' in msg[0]
    assert msg[1].startswith('contention: web-') and '"cpu_percent_of_request": 200.0' in msg[1]
    assert msg[2] == 'done: scaled 2 -> 5 replicas'
    assert deployment(kube, namespace)['spec']['replicas'] == 5
    assert last_gate(run)['passed'] is True


def test_high_latency_without_contention_rate_limits_the_ingress(kube, namespace, tmp_path, bind_app, prometheus):
    # 100 requests a second need 6 pods; the rate limit admits 50, which the 3 pods carry.
    quiet = {'sre-test/load': '6', 'sre-test/rps': '100', 'kubesim.io/cpu-usage': '2m'}  # 20% of the 10m request: no contention
    apply_object(kube, namespace, manifest(replicas=3, annotations=quiet))
    rollout_status(kube, namespace, 'deployment/web')
    ingress = {'apiVersion': 'networking.k8s.io/v1', 'kind': 'Ingress', 'metadata': {'name': 'web'},
               'spec': {'rules': [{'http': {'paths': [{'path': '/', 'pathType': 'Prefix',
                                                       'backend': {'service': {'name': 'web', 'port': {'number': 80}}}}]}}]}}
    apply_object(kube, namespace, ingress)
    bind_app(namespace, 'web', ingress='web')
    prometheus.wait_for_value(P95, lambda value: value > 2, 'a P95 latency above 2 s')

    checked = play('high_latency', kube, namespace, tmp_path, check=True, high_latency_ingress_name='web', **gate_vars(prometheus, wait_timeout=90))
    assert checked.task('Set the ingress rate limit')['changed'] is True
    assert 'nginx.ingress.kubernetes.io/limit-rps' not in (kube.json('ingress', 'web', '-n', namespace)['metadata'].get('annotations') or {})

    run = play('high_latency', kube, namespace, tmp_path, high_latency_ingress_name='web', **gate_vars(prometheus, wait_timeout=90))
    assert not ran(run, 'Add replicas within the guard')
    assert run.task('Set the ingress rate limit')['changed'] is True
    assert kube.json('ingress', 'web', '-n', namespace)['metadata']['annotations']['nginx.ingress.kubernetes.io/limit-rps'] == '50'
    assert 'limit-rps=50 (temporary' in summary(run, 'Summarise the latency')[2]
    assert last_gate(run)['passed'] is True


# -- memory_leak --------------------------------------------------------------------------------------------------------


def test_memory_leak_restarts_and_raises_the_limit_after_oom_kills(kube, namespace, tmp_path, bind_app, prometheus):
    leak = {'kubesim.io/memory-usage': '60Mi', 'kubesim.io/memory-leak': '10Mi'}  # 128Mi after 6.8 s of uptime
    apply_object(kube, namespace, manifest(annotations=leak, resources={'requests': {'cpu': '10m', 'memory': '64Mi'}, 'limits': {'memory': '128Mi'}}))
    wait_for(lambda: any(restarts(p) >= 1 for p in live_pods(kube, namespace, 'app=web')), 60, 'an OOMKilled restart')
    bind_app(namespace, 'web')

    run = play('memory_leak', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=30))
    assert ran(run, 'Raise the memory limits')
    assert not ran(run, 'Restart every pod to reclaim the leaked memory')  # the raise rolls the pods: not twice
    msg = summary(run, 'Summarise the memory leak')
    assert 'OOMKilled' in msg[0]
    assert msg[1] == "done: raised the memory limit {'app': '128Mi'} -> {'app': {'limits': {'memory': '256Mi'}}} (its rollout replaced every pod)"
    fixed = deployment(kube, namespace)
    assert fixed['spec']['template']['spec']['containers'][0]['resources']['limits']['memory'] == '256Mi'
    assert 'kubectl.kubernetes.io/restartedAt' not in fixed['spec']['template']['metadata']['annotations']


def test_memory_leak_never_raises_the_limit_above_the_cap(kube, namespace, tmp_path):
    leak = {'kubesim.io/memory-usage': '60Mi', 'kubesim.io/memory-leak': '10Mi'}
    apply_object(kube, namespace, manifest(annotations=leak, resources={'requests': {'cpu': '10m', 'memory': '64Mi'}, 'limits': {'memory': '128Mi'}}))
    wait_for(lambda: any(restarts(p) >= 1 for p in live_pods(kube, namespace, 'app=web')), 60, 'an OOMKilled restart')
    before = deployment(kube, namespace)

    run = play('memory_leak', kube, namespace, tmp_path, expect_rc=2, memory_leak_memory_cap='128Mi')
    assert run.failed_tasks[0] == 'Refuse when there is no memory limit to raise'
    assert "the memory limit {'app': '128Mi'} is already at the cap of 128Mi" in summary(run, 'Summarise the memory leak')[2]
    assert written_state(deployment(kube, namespace)) == written_state(before)


def test_memory_leak_without_oom_only_restarts(kube, namespace, tmp_path, bind_app, prometheus):
    leak = {'kubesim.io/memory-usage': '940Mi', 'kubesim.io/memory-leak': '64Ki'}  # 92% of the 1Gi limit, 20 minutes from it
    apply_object(kube, namespace, manifest(annotations=leak, resources={'requests': {'cpu': '10m', 'memory': '64Mi'}, 'limits': {'memory': '1Gi'}}))
    rollout_status(kube, namespace, 'deployment/web')
    bind_app(namespace, 'web')

    run = play('memory_leak', kube, namespace, tmp_path, **gate_vars(prometheus, wait_timeout=30))
    assert ran(run, 'Restart every pod to reclaim the leaked memory')
    assert not ran(run, 'Raise the memory limits')
    assert summary(run, 'Summarise the memory leak')[1] == 'done: restarted every pod (memory limit left as it is)'
    assert deployment(kube, namespace)['spec']['template']['spec']['containers'][0]['resources']['limits']['memory'] == '1Gi'


def test_memory_leak_below_the_threshold_changes_nothing(kube, namespace, tmp_path):
    leak = {'kubesim.io/memory-usage': '20Mi', 'kubesim.io/memory-leak': '1Mi'}  # hours away from the 1Gi limit
    apply_object(kube, namespace, manifest(annotations=leak, resources={'requests': {'cpu': '10m', 'memory': '64Mi'}, 'limits': {'memory': '1Gi'}}))
    rollout_status(kube, namespace, 'deployment/web')
    before = deployment(kube, namespace)

    run = play('memory_leak', kube, namespace, tmp_path)
    assert not ran(run, 'Restart every pod to reclaim the leaked memory') and not ran(run, 'Raise the memory limits')
    assert summary(run, 'Summarise the memory leak')[1] == 'done: nothing (no OOM kill, memory use below 90% of the limit)'
    assert run.changed is False
    assert written_state(deployment(kube, namespace)) == written_state(before)


# -- pod_eviction -------------------------------------------------------------------------------------------------------


def test_pod_eviction_reports_the_node_pressure_and_the_burstable_pods(kube, namespace, tmp_path):
    apply_object(kube, namespace, manifest(replicas=1, resources={'requests': {'cpu': '10m', 'memory': '16Mi'}, 'limits': {'memory': '64Mi'}}))
    rollout_status(kube, namespace, 'deployment/web')
    node = live_pods(kube, namespace, 'app=web')[0]['spec']['nodeName']
    kube.admin.config(node_pressure={node: ['MemoryPressure']})
    try:
        wait_for(lambda: any(p['status'].get('reason') == 'Evicted' for p in kube.json('pods', '-n', namespace)['items']), 60, 'an evicted pod')
        run = play('pod_eviction', kube, namespace, tmp_path)
    finally:
        kube.admin.config(node_pressure={})
    report = run.task('Summarise the evictions')['msg']
    assert report[0].startswith('evicted pods: pod/web-')
    assert 'node/%s: MemoryPressure' % node in report[1]
    assert report[2].endswith('evicted first): deployment/web')
    assert 'relieve the node pressure' in report[3] and 'set requests equal to limits' in report[3]
    assert run.changed is False
