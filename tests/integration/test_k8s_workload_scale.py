"""sre.runbooks.k8s_workload_scale through ansible-playbook against the API under test.

kubesim by default; the cluster of $KUBECONFIG when it names one. Check mode,
the real run and a second run reporting changed=false; the guard, the HPA
policies and the OOM fix by vertical scaling. What the module did is checked
with kubectl, never only from its own result.
"""

import json
from pathlib import Path

import pytest

from tests.integration.runner import run_playbook
from tests.integration.conftest import deploy, hpa_settled, live_pods, pod_ready, rollout_status, simulator_only, wait_for, written_state

pytestmark = pytest.mark.kubernetes

PLAYBOOKS = Path(__file__).parent / 'playbooks'
SCALE = 'Scale the workload'
FIX = 'Raise the memory limit of the app container'
CHANGE_ANNOTATION = 'sre.runbooks/last-scale-change'
FAILED_TASK = 2  # ansible-playbook's exit status when a task failed


def scale(kube, tmp_path, namespace, check=False, diff=False, expect_rc=0, **options):
    """Run playbooks/scale_workload.yml with the namespace, the kubeconfig and the module's options as extra vars."""
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), **options)
    return run_playbook(PLAYBOOKS / 'scale_workload.yml', tmp_path, extra_vars=extra_vars, check=check, diff=diff, env=kube.env,
                        expect_rc=expect_rc)


def web(kube, namespace, name='web'):
    return kube.json('deployment', name, '-n', namespace)


def apply_json(kube, namespace, obj):
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(obj))


def hpa(name, minimum=2, maximum=10):
    """An autoscaling/v2 HPA on Deployment `name`, on CPU (the runbook's: minReplicas 2, maxReplicas 10, 70%)."""
    return {
        'apiVersion': 'autoscaling/v2', 'kind': 'HorizontalPodAutoscaler', 'metadata': {'name': name},
        'spec': {
            'scaleTargetRef': {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': name},
            'minReplicas': minimum, 'maxReplicas': maximum,
            'metrics': [{'type': 'Resource', 'resource': {'name': 'cpu', 'target': {'type': 'Utilization', 'averageUtilization': 70}}}],
        },
    }


def ready_pods(kube, namespace, selector):
    pods = live_pods(kube, namespace, selector)
    return pods if pods and all(pod_ready(p) for p in pods) else []


# ---------------------------------------------------------------- absolute counts

def test_scale_absolute_in_check_mode_then_for_real_then_unchanged(kube, namespace, tmp_path):
    before = deploy(kube, namespace, replicas=2)

    planned = scale(kube, tmp_path, namespace, check=True, diff=True, replicas=4).task(SCALE)
    assert planned['changed'] is True
    assert planned['actions'] == ['scale Deployment %s/web from 2 to 4 replicas' % namespace]
    assert (planned['replicas_before'], planned['replicas_after'], planned['clamped'], planned['hpa']) == (2, 4, False, None)
    assert planned['diff'] == {'before': {'replicas': 2}, 'after': {'replicas': 4}}
    unchanged = web(kube, namespace)
    assert unchanged['spec']['replicas'] == 2
    assert written_state(unchanged) == written_state(before)
    assert len(live_pods(kube, namespace, 'app=web')) == 2

    scaled = scale(kube, tmp_path, namespace, replicas=4).task(SCALE)
    assert scaled['changed'] is True
    assert (scaled['replicas_before'], scaled['replicas_after'], scaled['ready_replicas']) == (2, 4, 4)
    after = web(kube, namespace)
    assert after['spec']['replicas'] == 4
    assert after['status']['readyReplicas'] == after['status']['availableReplicas'] == 4
    assert len(ready_pods(kube, namespace, 'app=web')) == 4

    again = scale(kube, tmp_path, namespace, replicas=4).task(SCALE)
    assert again['changed'] is False and again['actions'] == []
    assert written_state(web(kube, namespace)) == written_state(after)


def test_scale_below_the_minimum_is_refused_and_changes_nothing(kube, namespace, tmp_path):
    before = deploy(kube, namespace, replicas=3)
    run = scale(kube, tmp_path, namespace, replicas=1, expect_rc=FAILED_TASK)
    assert run.failed_tasks == [SCALE]
    refused = run.task(SCALE)
    assert refused['msg'] == ('Failed to scale Deployment %s/web: replicas 1 is below min_replicas 2: the runbooks never scale below 2 '
                              'replicas, for availability. Set min_replicas to go lower on purpose (min_replicas: 0 to stop the workload)'
                              % namespace)
    after = web(kube, namespace)
    assert after['spec']['replicas'] == 3
    assert written_state(after) == written_state(before)

    syntax = scale(kube, tmp_path, namespace, change='2x', expect_rc=FAILED_TASK).task(SCALE)
    assert "change '2x' is not a relative change" in syntax['msg']
    assert written_state(web(kube, namespace)) == written_state(before)


# ---------------------------------------------------------------- relative changes

def test_scale_relative_applied_once_and_clamped_to_the_cap(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)

    plus = scale(kube, tmp_path, namespace, change='+2').task(SCALE)
    assert plus['changed'] is True
    assert (plus['replicas_before'], plus['replicas_requested'], plus['replicas_after'], plus['clamped']) == (2, 4, 4, False)
    deployment = web(kube, namespace)
    assert deployment['spec']['replicas'] == 4 and deployment['status']['readyReplicas'] == 4
    assert json.loads(deployment['metadata']['annotations'][CHANGE_ANNOTATION]) == {'change': '+2', 'from': 2, 'to': 4, 'clamped': False}

    # The same change again is already applied: no "+2" on top (unlike k8s_rollback's "current - 1").
    again = scale(kube, tmp_path, namespace, change='+2').task(SCALE)
    assert again['changed'] is False and again['replicas_after'] == 4
    assert web(kube, namespace)['spec']['replicas'] == 4

    doubled = scale(kube, tmp_path, namespace, change='x2', max_replicas=6).task(SCALE)
    assert doubled['changed'] is True
    assert (doubled['replicas_before'], doubled['replicas_requested'], doubled['replicas_after'], doubled['clamped']) == (4, 8, 6, True)
    assert 'change x2 from 4 replicas asks for 8; clamped to 6 (max_replicas 6)' in doubled['warnings']
    assert web(kube, namespace)['spec']['replicas'] == 6
    assert len(ready_pods(kube, namespace, 'app=web')) == 6

    # An absolute count forgets the recorded change: "+2" would apply again afterwards.
    assert scale(kube, tmp_path, namespace, replicas=5).task(SCALE)['replicas_after'] == 5
    assert CHANGE_ANNOTATION not in web(kube, namespace)['metadata'].get('annotations', {})


def test_scale_a_statefulset(kube, namespace, tmp_path):
    kube.apply(namespace, 'headless-service.yaml', name='db')
    kube.apply(namespace, 'statefulset.yaml', name='db', image='nginx:1.25')
    rollout_status(kube, namespace, 'statefulset/db')

    scaled = scale(kube, tmp_path, namespace, kind='StatefulSet', workload='db', change='+1').task(SCALE)
    assert scaled['changed'] is True and (scaled['replicas_after'], scaled['ready_replicas']) == (3, 3)
    sts = kube.json('statefulset', 'db', '-n', namespace)
    assert sts['spec']['replicas'] == 3 and sts['status']['readyReplicas'] == 3
    assert sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'app=db')) == ['db-0', 'db-1', 'db-2']
    assert scale(kube, tmp_path, namespace, kind='StatefulSet', workload='db', replicas=3).task(SCALE)['changed'] is False


# ---------------------------------------------------------------- HPA

def test_hpa_is_adjusted_so_the_new_count_holds(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    apply_json(kube, namespace, hpa('web'))
    if kube.admin is not None:
        # Low load: left alone, the HPA would take any manual scale-up back down to its minimum.
        kube.admin.config(hpa_metrics={'%s/web' % namespace: 50})

    planned = scale(kube, tmp_path, namespace, check=True, replicas=6).task(SCALE)
    assert planned['changed'] is True
    assert planned['hpa'] == {'name': 'web', 'policy': 'adjust', 'min_replicas_before': 2, 'min_replicas_after': 6,
                              'max_replicas_before': 10, 'max_replicas_after': 10}
    assert kube.json('hpa', 'web', '-n', namespace)['spec']['minReplicas'] == 2
    assert web(kube, namespace)['spec']['replicas'] == 2

    scaled = scale(kube, tmp_path, namespace, replicas=6).task(SCALE)
    assert scaled['changed'] is True
    assert scaled['actions'] == ['set minReplicas of HorizontalPodAutoscaler %s/web from 2 to 6' % namespace,
                                 'scale Deployment %s/web from 2 to 6 replicas' % namespace]
    assert scaled['hpa']['min_replicas_after'] == 6 and scaled['replicas_after'] == 6

    # The HPA has seen its new bounds and wants 6; several controller passes later the count still holds.
    wait_for(hpa_settled(kube, namespace, 6), 60, 'the HPA to observe minReplicas 6')
    if kube.admin is not None:
        for _tick in range(5):
            kube.admin.tick()
    bounds = kube.json('hpa', 'web', '-n', namespace)['spec']
    assert (bounds['minReplicas'], bounds['maxReplicas']) == (6, 10)
    assert web(kube, namespace)['spec']['replicas'] == 6
    rollout_status(kube, namespace, 'deployment/web')
    assert len(ready_pods(kube, namespace, 'app=web')) == 6

    assert scale(kube, tmp_path, namespace, replicas=6).task(SCALE)['changed'] is False


def test_hpa_policy_refuse_names_the_hpa_and_changes_nothing(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    apply_json(kube, namespace, hpa('web'))
    before = web(kube, namespace)['spec']['replicas']
    refused = scale(kube, tmp_path, namespace, replicas=8, hpa_policy='refuse', expect_rc=FAILED_TASK).task(SCALE)
    assert refused['msg'] == ('Failed to scale Deployment %s/web: HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 10) targets '
                              'Deployment %s/web and would override a manual scale to 8; use hpa_policy=adjust to move its bounds, '
                              'or change the HPA yourself' % (namespace, namespace))
    assert kube.json('hpa', 'web', '-n', namespace)['spec']['minReplicas'] == 2
    assert web(kube, namespace)['spec']['replicas'] == before


@simulator_only
def test_hpa_policy_ignore_warns_and_the_hpa_overrides(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    apply_json(kube, namespace, hpa('web'))
    kube.admin.config(hpa_metrics={'%s/web' % namespace: 50})
    ignored = scale(kube, tmp_path, namespace, replicas=8, hpa_policy='ignore', wait_ready=False).task(SCALE)
    assert ignored['changed'] is True and ignored['hpa']['min_replicas_after'] == 2
    assert any('HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 10) targets Deployment %s/web: it will set the replica count back from 8'
               % namespace in w for w in ignored['warnings'])
    # As warned: the HPA takes the count back to its minimum.
    wait_for(lambda: web(kube, namespace)['spec']['replicas'] == 2, 60, 'the HPA to set the count back to 2')


# ---------------------------------------------------------------- vertical scaling

def oom_deployment(name, limit='256Mi', usage='300Mi'):
    """A Deployment whose container uses `usage` of memory (kubesim.io/memory-usage) under a limit of `limit`."""
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'labels': {'app': name}},
        'spec': {
            'replicas': 2, 'selector': {'matchLabels': {'app': name}},
            'template': {
                'metadata': {'labels': {'app': name}, 'annotations': {'kubesim.io/memory-usage': usage}},
                'spec': {'terminationGracePeriodSeconds': 5, 'containers': [{
                    'name': 'app', 'image': 'nginx:1.25',
                    'resources': {'requests': {'cpu': '10m', 'memory': '128Mi'}, 'limits': {'memory': limit}}}]},
            },
        },
    }


def oom_killed(pod):
    return any((cs.get('lastState', {}).get('terminated') or {}).get('reason') == 'OOMKilled' for cs in pod['status'].get('containerStatuses', []))


@simulator_only
def test_raising_the_memory_limit_stops_the_oom_kills(kube, namespace, tmp_path):
    apply_json(kube, namespace, oom_deployment('api'))
    wait_for(lambda: [p for p in live_pods(kube, namespace, 'app=api') if oom_killed(p)], 60, 'the api pods to be OOMKilled')
    before = kube.json('deployment', 'api', '-n', namespace)

    def fix(check=False):
        extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), workload='api', memory_limit='512Mi')
        return run_playbook(PLAYBOOKS / 'scale_oom_fix.yml', tmp_path, extra_vars=extra_vars, check=check, env=kube.env)

    planned = fix(check=True).task(FIX)
    assert planned['changed'] is True
    assert planned['actions'] == ['set limits.memory of container app in Deployment %s/api from 256Mi to 512Mi' % namespace]
    assert planned['resources_before'] == {'app': {'limits': {'memory': '256Mi'}}}
    assert planned['resources_after'] == {'app': {'limits': {'memory': '512Mi'}}}
    unchanged = kube.json('deployment', 'api', '-n', namespace)
    assert unchanged['metadata']['generation'] == before['metadata']['generation']
    assert unchanged['spec']['template']['spec']['containers'][0]['resources']['limits']['memory'] == '256Mi'

    run = fix()
    fixed = run.task(FIX)
    assert fixed['changed'] is True
    assert fixed['resources_after'] == {'app': {'limits': {'memory': '512Mi'}}}
    assert fixed['ready_replicas'] == 2
    rollout_status(kube, namespace, 'deployment/api')
    pods = live_pods(kube, namespace, 'app=api')
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    assert {p['spec']['containers'][0]['resources']['limits']['memory'] for p in pods} == {'512Mi'}
    assert not any(oom_killed(p) for p in pods)
    assert all(cs['restartCount'] == 0 for p in pods for cs in p['status']['containerStatuses'])
    listed = run.task('List the pods after the fix')['resources']
    assert sorted(p['metadata']['name'] for p in listed) == sorted(p['metadata']['name'] for p in pods)

    assert fix().task(FIX)['changed'] is False


def test_pods_that_stay_pending_fail_the_wait_with_the_scheduler_reason(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    # No node has 100 CPUs to give: the new pods stay Pending, Unschedulable.
    run = scale(kube, tmp_path, namespace, resources={'nginx': {'requests': {'cpu': '100'}}}, wait_timeout=10, expect_rc=FAILED_TASK)
    failed = run.task(SCALE)
    assert failed['msg'].startswith('Failed to wait for Deployment %s/web: ' % namespace)
    assert 'Pending, Unschedulable: 0/' in failed['msg'] and 'Insufficient cpu' in failed['msg']
    # It says what it did before the wait failed.
    assert failed['changed'] is True
    assert failed['actions'] == ['set requests.cpu of container nginx in Deployment %s/web from 10m to 100' % namespace]
    assert web(kube, namespace)['spec']['template']['spec']['containers'][0]['resources']['requests']['cpu'] == '100'
