"""The sre.runbooks.scale playbook (role sre.runbooks.scale) through ansible-playbook.

Against the Kubernetes API under test (kubesim, or the cluster of $KUBECONFIG)
and, for the health gate, a real Prometheus scraping the sample app. Check
mode, the real run and a second run reporting changed=false; the runbook's
minimum of 2 replicas; an HPA-owned Deployment scaled through the HPA's
bounds; the OOM fix by vertical scaling. What the role did is checked with
kubectl, never only from its own result.
"""


import pytest

from tests.engines.prometheus import JOB_NAME
from tests.integration.conftest import (
    FAILED_TASK, apply_object, deploy, deployment, hpa_settled, live_pods, pod_ready, rollout_status, simulator_only, wait_for, written_state,
)
from tests.integration.gate import ERROR_RATE, RATE_WINDOW
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.scale'
SCALE = 'Scale the workload and wait for the ready replicas'
PLAN = 'Plan the scale'
SUMMARY = 'Summarise the scale'
REFUSE = 'Refuse a scale that breaks a guard'
REFUSE_INPUT = 'Refuse a scale without a target'
GATE = 'Gate the service health'


def play(kube, tmp_path, namespace, check=False, expect_rc=0, name='web', **extra):
    """Run the playbook on deployment `name` of `namespace`; the kubeconfig as the playbook's `kubeconfig` variable."""
    extra_vars = dict(scale_name=name, scale_namespace=namespace, kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def hpa(name, minimum, maximum):
    """An autoscaling/v2 HPA on Deployment `name`, on CPU at the runbook's 70%."""
    return {
        'apiVersion': 'autoscaling/v2', 'kind': 'HorizontalPodAutoscaler', 'metadata': {'name': name},
        'spec': {
            'scaleTargetRef': {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': name},
            'minReplicas': minimum, 'maxReplicas': maximum,
            'metrics': [{'type': 'Resource', 'resource': {'name': 'cpu', 'target': {'type': 'Utilization', 'averageUtilization': 70}}}],
        },
    }


def ready_count(kube, namespace, selector='app=web'):
    """The number of live pods when all are ready, else -1."""
    pods = live_pods(kube, namespace, selector)
    return len(pods) if all(pod_ready(p) for p in pods) else -1


def test_scale_in_check_mode_then_for_real_then_unchanged(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    before = deployment(kube, namespace)

    checked = play(kube, tmp_path, namespace, check=True, scale_replicas=4)
    planned = checked.task(SCALE)
    assert planned['changed'] is True
    assert planned['actions'] == ['scale Deployment %s/web from 2 to 4 replicas' % namespace]
    assert checked.task(SUMMARY)['msg'][0] == 'Deployment %s/web: would go from 2 to 4 replicas' % namespace
    assert checked.task(SUMMARY)['msg'][-1] == 'gate: no checks configured'
    assert written_state(deployment(kube, namespace)) == written_state(before)

    run = play(kube, tmp_path, namespace, scale_replicas=4)
    done = run.task(SCALE)
    assert (done['changed'], done['replicas_before'], done['replicas_after'], done['ready_replicas']) == (True, 2, 4, 4)
    assert run.task(SUMMARY)['msg'][0] == 'Deployment %s/web: from 2 to 4 replicas, 4 ready' % namespace
    assert run.task('Record the result of the scale')['ansible_facts']['scale_result']['replicas_after'] == 4
    scaled = deployment(kube, namespace)
    assert scaled['spec']['replicas'] == 4
    rollout_status(kube, namespace, 'deployment/web')
    wait_for(lambda: ready_count(kube, namespace) == 4, 60, '4 ready pods')

    again = play(kube, tmp_path, namespace, scale_replicas=4)
    assert again.changed is False
    assert again.task(SUMMARY)['msg'][0] == 'Deployment %s/web: already as asked, 4 replicas' % namespace
    assert written_state(deployment(kube, namespace)) == written_state(scaled)


def test_the_minimum_guard_refuses_and_clamps(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=3)
    before = deployment(kube, namespace)

    refused = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, scale_replicas=1)
    assert refused.failed_tasks == [REFUSE]
    assert refused.changed is False
    msg = refused.task(REFUSE)['msg']
    assert msg.startswith('Refusing to scale: Failed to scale Deployment %s/web: replicas 1 is below min_replicas 2' % namespace)
    assert msg.endswith('Nothing was changed.')
    assert not [r for r in refused.results if r['task'] == SCALE]
    assert written_state(deployment(kube, namespace)) == written_state(before)

    # A relative change is clamped at the minimum instead: 3 - 5 stops at 2.
    clamped = play(kube, tmp_path, namespace, scale_change='-5')
    done = clamped.task(SCALE)
    assert (done['replicas_requested'], done['replicas_after'], done['clamped']) == (-2, 2, True)
    assert clamped.task(SUMMARY)['msg'][0] == (
        'Deployment %s/web: from 3 to 2 replicas, 2 ready (asked for -2, clamped into 2..50)' % namespace)
    assert deployment(kube, namespace)['spec']['replicas'] == 2
    assert play(kube, tmp_path, namespace, scale_change='-5').changed is False


def test_replicas_and_change_together_or_neither_are_refused(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    both = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, scale_replicas=3, scale_change='+1')
    assert both.failed_tasks == [REFUSE_INPUT]
    assert both.task(REFUSE_INPUT)['msg'] == (
        'Refusing to scale deployment %s/web: give scale_replicas or scale_change, not both. Nothing was changed.' % namespace)
    neither = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK)
    assert neither.task(REFUSE_INPUT)['msg'] == (
        'Refusing to scale deployment %s/web: give scale_replicas, scale_change or scale_resources. Nothing was changed.' % namespace)
    assert deployment(kube, namespace)['spec']['replicas'] == 2


def test_missing_workload_is_refused(kube, namespace, tmp_path):
    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, scale_replicas=3)
    assert run.failed_tasks == [REFUSE]
    msg = run.task(REFUSE)['msg']
    assert msg == 'Refusing to scale: Failed to scale Deployment %s/web: it does not exist. Nothing was changed.' % namespace


def test_hpa_owned_deployment_is_scaled_through_the_hpa_bounds(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    apply_object(kube, namespace, hpa('web', 2, 4))
    if kube.admin is not None:
        # Low load: left alone, the HPA would take any manual scale-up back down to its minimum.
        kube.admin.config(hpa_metrics={'%s/web' % namespace: 50})

    checked = play(kube, tmp_path, namespace, check=True, scale_replicas=6)
    assert checked.task(SCALE)['hpa'] == {'name': 'web', 'policy': 'adjust', 'min_replicas_before': 2, 'min_replicas_after': 6,
                                          'max_replicas_before': 4, 'max_replicas_after': 6}
    bounds = kube.json('hpa', 'web', '-n', namespace)['spec']
    assert (bounds['minReplicas'], bounds['maxReplicas']) == (2, 4)
    assert deployment(kube, namespace)['spec']['replicas'] == 2

    run = play(kube, tmp_path, namespace, scale_replicas=6)
    done = run.task(SCALE)
    assert done['changed'] is True and done['replicas_after'] == 6
    assert run.task(SUMMARY)['msg'][1] == 'hpa: web minReplicas 2 -> 6, maxReplicas 4 -> 6 (adjust)'

    wait_for(hpa_settled(kube, namespace, 6), 60, 'the HPA to observe its new bounds')
    if kube.admin is not None:
        for _tick in range(5):
            kube.admin.tick()
    bounds = kube.json('hpa', 'web', '-n', namespace)['spec']
    assert (bounds['minReplicas'], bounds['maxReplicas']) == (6, 6)
    assert deployment(kube, namespace)['spec']['replicas'] == 6
    rollout_status(kube, namespace, 'deployment/web')
    wait_for(lambda: ready_count(kube, namespace) == 6, 60, '6 ready pods')

    assert play(kube, tmp_path, namespace, scale_replicas=6).changed is False


def test_hpa_policy_refuse_is_refused_in_the_precheck(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    apply_object(kube, namespace, hpa('web', 2, 10))
    run = play(kube, tmp_path, namespace, expect_rc=FAILED_TASK, scale_replicas=5, scale_hpa_policy='refuse')
    assert run.failed_tasks == [REFUSE]
    assert 'HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 10) targets Deployment %s/web' % namespace in run.task(REFUSE)['msg']
    assert not [r for r in run.results if r['task'] == SCALE]
    assert kube.json('hpa', 'web', '-n', namespace)['spec']['minReplicas'] == 2
    assert deployment(kube, namespace)['spec']['replicas'] == 2


def oom_deployment(name):
    """A Deployment whose container uses 300Mi of memory (kubesim.io/memory-usage) under a limit of 256Mi."""
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'labels': {'app': name}},
        'spec': {
            'replicas': 2, 'selector': {'matchLabels': {'app': name}},
            'template': {
                'metadata': {'labels': {'app': name}, 'annotations': {'kubesim.io/memory-usage': '300Mi'}},
                'spec': {'terminationGracePeriodSeconds': 5, 'containers': [{
                    'name': 'app', 'image': 'nginx:1.25',
                    'resources': {'requests': {'cpu': '10m', 'memory': '128Mi'}, 'limits': {'memory': '256Mi'}}}]},
            },
        },
    }


def oom_killed(pod):
    return any((cs.get('lastState', {}).get('terminated') or {}).get('reason') == 'OOMKilled' for cs in pod['status'].get('containerStatuses', []))


@simulator_only
def test_raising_the_memory_limit_stops_the_oom_kills(kube, namespace, tmp_path):
    apply_object(kube, namespace, oom_deployment('api'))
    wait_for(lambda: [p for p in live_pods(kube, namespace, 'app=api') if oom_killed(p)], 60, 'the api pods to be OOMKilled')
    resources = {'app': {'limits': {'memory': '512Mi'}}}

    run = play(kube, tmp_path, namespace, name='api', scale_resources=resources)
    done = run.task(SCALE)
    assert done['changed'] is True
    assert done['actions'] == ['set limits.memory of container app in Deployment %s/api from 256Mi to 512Mi' % namespace]
    assert done['ready_replicas'] == 2
    assert run.task(SUMMARY)['msg'][2] == "resources: {'app': {'limits': {'memory': '256Mi'}}} -> {'app': {'limits': {'memory': '512Mi'}}}"
    pods = live_pods(kube, namespace, 'app=api')
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    assert {p['spec']['containers'][0]['resources']['limits']['memory'] for p in pods} == {'512Mi'}
    assert not any(oom_killed(p) for p in pods)

    assert play(kube, tmp_path, namespace, name='api', scale_resources=resources).changed is False


def test_gate_passes_after_the_scale(kube, namespace, tmp_path, fresh_sample_app, prometheus):
    deploy(kube, namespace, replicas=2)
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')
    run = play(kube, tmp_path, namespace, scale_change='+1', health_gate_prometheus_url=prometheus.url, health_gate_job=JOB_NAME,
               health_gate_rate_window=RATE_WINDOW, health_gate_wait_timeout=30, health_gate_retry_interval=2,
               health_gate_http_checks=[{'url': fresh_sample_app.url + '/health', 'name': '/health'}])
    gate = run.task(GATE)
    assert gate['passed'] is True, gate['summary']
    assert [c['name'] for c in gate['checks']] == ['error_rate', 'p95_latency', '/health']
    assert run.task(SUMMARY)['msg'][-1] == 'gate: %s' % gate['summary']
    assert deployment(kube, namespace)['spec']['replicas'] == 3
