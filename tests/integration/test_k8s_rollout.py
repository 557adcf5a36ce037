"""sre.runbooks.k8s_rollout and k8s_rollout_info through ansible-playbook against the API under test.

kubesim by default; the cluster of $KUBECONFIG when it names one. Each change
is run in check mode (changed, nothing changed on the cluster), for real, and
again (changed=false). Waiting is done by the module or by `kubectl rollout
status` / wait_for, never by sleeping, and no test asserts a duration.
"""

import json
from pathlib import Path

import pytest

from tests.integration.conftest import (CHANGE_CAUSE, REVISION, controller_revisions, deploy, history, live_pods, pod_ready,
                                        rollout_status, simulator_only, template_image, wait_for, written_state)
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOKS = Path(__file__).parent / 'playbooks'
UNDO = 'Roll back the workload'
RESTART = 'Restart the workload'
INFO = 'Read the rollout of the workload'
RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
ROLLED_BACK_FROM = 'sre.runbooks/rolled-back-from'
ROLLED_BACK_TO = 'sre.runbooks/rolled-back-to'


def play(kube, tmp_path, playbook, namespace, check=False, diff=False, expect_rc=0, **extra):
    """Run playbooks/rollout_<playbook>.yml on the namespace; the kubeconfig goes as a variable and in K8S_AUTH_KUBECONFIG."""
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOKS / ('rollout_%s.yml' % playbook), tmp_path, extra_vars=extra_vars, check=check, diff=diff,
                        env=kube.env, expect_rc=expect_rc)


def web(kube, namespace):
    return kube.json('deployment', 'web', '-n', namespace)


def release(kube, namespace, image, replicas=3):
    """Apply a new image to the web deployment without waiting (it may never become ready)."""
    kube.apply(namespace, 'deployment.yaml', name='web', replicas=replicas, image=image)


def new_pods_not_ready(kube, namespace, image):
    """Pods of `image` exist and none is ready: a bad release (crash loop here, image pull errors on a real cluster)."""
    pods = [p for p in live_pods(kube, namespace, 'app=web') if p['spec']['containers'][0]['image'] == image]
    return pods and not any(pod_ready(p) for p in pods)


def images_of_pods(kube, namespace, selector='app=web'):
    return {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, selector)}


def bad_release(kube, namespace, image='nginx:1.26-crashloop'):
    """Revision 1 nginx:1.25 (healthy), revision 2 `image` (its new pods never become ready)."""
    deploy(kube, namespace)
    release(kube, namespace, image)
    wait_for(lambda: new_pods_not_ready(kube, namespace, image), 60, 'pods of %s that are not ready' % image)


# ---------------------------------------------------------------- undo

def test_undo_a_bad_release_in_check_mode_then_for_real_then_again(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    # Added after revision 1: `kubectl rollout undo` would drop it, the module keeps it.
    kube.kubectl('annotate', 'deployment/web', 'team=payments', '-n', namespace)
    before = web(kube, namespace)

    planned = play(kube, tmp_path, 'undo', namespace, check=True, diff=True).task(UNDO)
    assert planned['changed'] is True
    assert planned['actions'] == ['roll back deployment %s/web from revision 2 (nginx:1.26-crashloop) to revision 1 (nginx:1.25)' % namespace]
    assert (planned['from_revision'], planned['to_revision'], planned['revision']) == (2, 1, 2)
    assert planned['images_before'] == {'nginx': 'nginx:1.26-crashloop'}
    assert planned['images_after'] == {'nginx': 'nginx:1.25'}
    assert template_image(planned['diff']['before']) == 'nginx:1.26-crashloop'
    assert template_image(planned['diff']['after']) == 'nginx:1.25'
    unchanged = web(kube, namespace)
    assert written_state(unchanged) == written_state(before)
    assert template_image(unchanged) == 'nginx:1.26-crashloop'
    assert ROLLED_BACK_FROM not in unchanged['metadata']['annotations']

    done = play(kube, tmp_path, 'undo', namespace).task(UNDO)
    assert done['changed'] is True
    assert done['actions'] == planned['actions']
    assert (done['from_revision'], done['to_revision'], done['revision']) == (2, 1, 3)
    assert done['images_after'] == {'nginx': 'nginx:1.25'}
    assert done['change_cause'] == 'deploy nginx:1.25'
    assert done['rollout']['state'] == 'complete' and done['rollout']['reason'] is None
    assert [(h['revision'], h['former_revisions'], h['images'], h['current']) for h in done['history']] == [
        (2, [], {'nginx': 'nginx:1.26-crashloop'}, False), (3, [1], {'nginx': 'nginx:1.25'}, True)]
    assert 'diff' not in done

    rolled_back = web(kube, namespace)
    annotations = rolled_back['metadata']['annotations']
    assert template_image(rolled_back) == 'nginx:1.25'
    assert annotations['team'] == 'payments'
    assert annotations[CHANGE_CAUSE] == 'deploy nginx:1.25'
    assert (annotations[ROLLED_BACK_FROM], annotations[ROLLED_BACK_TO], annotations[REVISION]) == ('2', '1', '3')
    pods = live_pods(kube, namespace, 'app=web')
    assert len(pods) == 3 and all(pod_ready(p) for p in pods)
    assert images_of_pods(kube, namespace) == {'nginx:1.25'}
    assert history(kube, namespace, 'deployment/web') == {2: 'deploy nginx:1.26-crashloop', 3: 'deploy nginx:1.25'}

    again = play(kube, tmp_path, 'undo', namespace).task(UNDO)
    assert again['changed'] is False and again['actions'] == []
    assert (again['from_revision'], again['revision']) == (3, 3)
    assert again['rollout']['state'] == 'complete'
    assert written_state(web(kube, namespace)) == written_state(rolled_back)

    # The same target named by its old number or by its image is already there too.
    assert play(kube, tmp_path, 'undo', namespace, to_revision=1).task(UNDO)['changed'] is False
    assert play(kube, tmp_path, 'undo', namespace, image='nginx:1.25').task(UNDO)['changed'] is False
    assert written_state(web(kube, namespace)) == written_state(rolled_back)


def test_undo_to_previous_goes_back_again_after_a_new_release(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    play(kube, tmp_path, 'undo', namespace)
    release(kube, namespace, 'nginx:1.26')  # revision 4, a fixed release
    rollout_status(kube, namespace, 'deployment/web')

    back = play(kube, tmp_path, 'undo', namespace).task(UNDO)
    assert back['changed'] is True
    assert (back['from_revision'], back['to_revision'], back['revision']) == (4, 3, 5)
    assert template_image(web(kube, namespace)) == 'nginx:1.25'
    assert play(kube, tmp_path, 'undo', namespace).task(UNDO)['changed'] is False


def test_unknown_revision_is_refused_before_anything_changes(kube, namespace, tmp_path):
    deploy(kube, namespace)
    release(kube, namespace, 'nginx:1.26')
    rollout_status(kube, namespace, 'deployment/web')
    before = web(kube, namespace)

    run = play(kube, tmp_path, 'undo', namespace, to_revision=7, expect_rc=2)
    assert run.failed_tasks == [UNDO]
    refused = run.task(UNDO)
    assert refused['msg'] == ('Failed to roll back deployment %s/web: revision 7 not found; '
                              'available revisions: 1 (nginx:1.25), 2 (nginx:1.26)' % namespace)
    assert refused['error']['object'] == 'deployment %s/web' % namespace
    assert refused.get('changed', False) is False
    assert written_state(web(kube, namespace)) == written_state(before)


def test_image_and_to_revision_targets_are_declarative(kube, namespace, tmp_path):
    deploy(kube, namespace)
    release(kube, namespace, 'nginx:1.26')
    rollout_status(kube, namespace, 'deployment/web')
    kube.kubectl('set', 'env', 'deployment/web', 'MODE=canary', '-n', namespace)  # revision 3: nginx:1.26 again, another template
    rollout_status(kube, namespace, 'deployment/web')

    to_image = play(kube, tmp_path, 'undo', namespace, image='nginx:1.25').task(UNDO)
    assert to_image['changed'] is True
    assert (to_image['from_revision'], to_image['to_revision'], to_image['revision']) == (3, 1, 4)
    assert template_image(web(kube, namespace)) == 'nginx:1.25'
    assert play(kube, tmp_path, 'undo', namespace, image='nginx:1.25').task(UNDO)['changed'] is False

    to_two = play(kube, tmp_path, 'undo', namespace, to_revision=2).task(UNDO)
    assert to_two['changed'] is True
    assert (to_two['from_revision'], to_two['to_revision'], to_two['revision']) == (4, 2, 5)
    rolled = web(kube, namespace)
    assert template_image(rolled) == 'nginx:1.26'
    assert 'env' not in rolled['spec']['template']['spec']['containers'][0]
    assert images_of_pods(kube, namespace) == {'nginx:1.26'}
    assert play(kube, tmp_path, 'undo', namespace, to_revision=2).task(UNDO)['changed'] is False
    # The newest revision running nginx:1.26 is the current one.
    assert play(kube, tmp_path, 'undo', namespace, image='nginx:1.26').task(UNDO)['changed'] is False


def test_paused_deployment_is_refused_unless_resumed(kube, namespace, tmp_path):
    deploy(kube, namespace)
    release(kube, namespace, 'nginx:1.26')
    rollout_status(kube, namespace, 'deployment/web')
    kube.kubectl('rollout', 'pause', 'deployment/web', '-n', namespace)
    before = web(kube, namespace)

    refused = play(kube, tmp_path, 'undo', namespace, expect_rc=2).task(UNDO)
    assert refused['msg'].startswith('Failed to roll back deployment %s/web: it is paused' % namespace)
    assert 'resume=true' in refused['msg']
    assert written_state(web(kube, namespace)) == written_state(before)

    planned = play(kube, tmp_path, 'undo', namespace, check=True, resume=True).task(UNDO)
    assert planned['changed'] is True
    assert planned['actions'][0] == 'resume deployment %s/web' % namespace
    assert web(kube, namespace)['spec']['paused'] is True

    resumed = play(kube, tmp_path, 'undo', namespace, resume=True).task(UNDO)
    assert resumed['changed'] is True
    assert resumed['actions'] == ['resume deployment %s/web' % namespace,
                                  'roll back deployment %s/web from revision 2 (nginx:1.26) to revision 1 (nginx:1.25)' % namespace]
    assert resumed['rollout']['state'] == 'complete'
    after = web(kube, namespace)
    assert not after['spec'].get('paused')
    assert template_image(after) == 'nginx:1.25'
    assert images_of_pods(kube, namespace) == {'nginx:1.25'}
    assert play(kube, tmp_path, 'undo', namespace, resume=True).task(UNDO)['changed'] is False


@simulator_only
def test_wait_fails_fast_when_new_pods_are_oom_killed(kube, namespace, tmp_path):
    bad_release(kube, namespace, image='nginx:1.26-oom')
    play(kube, tmp_path, 'undo', namespace)  # back on nginx:1.25 as revision 3

    run = play(kube, tmp_path, 'undo', namespace, image='nginx:1.26-oom', expect_rc=2)
    failed = run.task(UNDO)
    assert failed['changed'] is True
    assert failed['error']['action'] == 'roll out'
    assert failed['error']['details']['rollout']['reason'] == 'OOMKilled'
    failure = failed['error']['details']['rollout']['failures'][0]
    assert failure['reason'] == 'OOMKilled' and failure['container'] == 'nginx' and failure['exit_code'] == 137
    assert failure['pod'].startswith('web-')
    assert 'OOMKilled (exit code 137' in failed['msg']
    assert 'pod %s container nginx' % failure['pod'] in failed['msg']
    assert 'not complete after' not in failed['msg'], 'failed on the reason, not on the timeout'
    assert failed['msg'].endswith('Done by this task and left in place: roll back deployment %s/web from revision 3 (nginx:1.25) '
                                  'to revision 2 (nginx:1.26-oom). To go to another revision, run the task again with to_revision or image'
                                  % namespace)
    assert template_image(web(kube, namespace)) == 'nginx:1.26-oom'


# ---------------------------------------------------------------- restart

def test_restart_replaces_the_pods_once_per_restarted_after(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    before = web(kube, namespace)
    old_pods = {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')}

    planned = play(kube, tmp_path, 'restart', namespace, check=True).task(RESTART)
    assert planned['changed'] is True
    assert planned['actions'][0].startswith('restart deployment %s/web (kubectl.kubernetes.io/restartedAt=' % namespace)
    assert written_state(web(kube, namespace)) == written_state(before)

    restarted = play(kube, tmp_path, 'restart', namespace).task(RESTART)
    assert restarted['changed'] is True
    assert restarted['rollout']['state'] == 'complete'
    assert (restarted['from_revision'], restarted['revision']) == (1, 2)
    after = web(kube, namespace)
    assert after['spec']['template']['metadata']['annotations'][RESTARTED_AT] == restarted['restarted_at']
    assert after['metadata']['annotations'][REVISION] == '2'
    pods = live_pods(kube, namespace, 'app=web')
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    assert not {p['metadata']['name'] for p in pods} & old_pods

    again = play(kube, tmp_path, 'restart', namespace, restarted_after=restarted['restarted_at']).task(RESTART)
    assert again['changed'] is False and again['actions'] == []
    assert again['restarted_at'] == restarted['restarted_at']
    assert written_state(web(kube, namespace)) == written_state(after)


def test_the_diff_of_a_restart_never_shows_a_literal_secret(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    secret = 'pw-literal-4711'
    kube.kubectl('set', 'env', 'deployment/web', 'DB_PASSWORD=' + secret, 'LOG_LEVEL=debug', '-n', namespace)

    run = play(kube, tmp_path, 'restart', namespace, check=True, diff=True)
    planned = run.task(RESTART)
    assert planned['changed'] is True
    assert secret not in run.output and secret not in json.dumps(planned)
    for side in ('before', 'after'):
        env = planned['diff'][side]['spec']['template']['spec']['containers'][0]['env']
        assert {e['name']: e['value'] for e in env} == {'DB_PASSWORD': '<redacted>', 'LOG_LEVEL': 'debug'}
    # Only what is shown is redacted.
    env = web(kube, namespace)['spec']['template']['spec']['containers'][0]['env']
    assert {e['name']: e['value'] for e in env}['DB_PASSWORD'] == secret


# ---------------------------------------------------------------- StatefulSet

def test_statefulset_undo_through_controller_revisions(kube, namespace, tmp_path):
    kube.apply(namespace, 'headless-service.yaml', name='db')
    kube.apply(namespace, 'statefulset.yaml', name='db', image='nginx:1.25')
    rollout_status(kube, namespace, 'statefulset/db')
    kube.kubectl('set', 'image', 'statefulset/db', 'nginx=nginx:1.26', '-n', namespace)
    rollout_status(kube, namespace, 'statefulset/db')
    before = kube.json('statefulset', 'db', '-n', namespace)

    planned = play(kube, tmp_path, 'undo', namespace, check=True, kind='StatefulSet', workload='db').task(UNDO)
    assert planned['changed'] is True
    assert planned['actions'] == ['roll back statefulset %s/db from revision 2 (nginx:1.26) to revision 1 (nginx:1.25)' % namespace]
    assert written_state(kube.json('statefulset', 'db', '-n', namespace)) == written_state(before)

    done = play(kube, tmp_path, 'undo', namespace, kind='StatefulSet', workload='db').task(UNDO)
    assert done['changed'] is True
    assert (done['from_revision'], done['to_revision'], done['revision']) == (2, 1, 3)
    assert done['rollout']['state'] == 'complete'
    sts = kube.json('statefulset', 'db', '-n', namespace)
    assert template_image(sts) == 'nginx:1.25'
    assert sts['metadata']['annotations'][ROLLED_BACK_FROM] == '2'
    assert images_of_pods(kube, namespace, 'app=db') == {'nginx:1.25'}
    revisions = controller_revisions(kube, namespace, sts)
    assert sorted(revisions) == [2, 3]
    assert template_image(revisions[3]['data']) == 'nginx:1.25'
    assert [(h['revision'], h['name'], h['current']) for h in done['history']] == [
        (2, revisions[2]['metadata']['name'], False), (3, revisions[3]['metadata']['name'], True)]

    for extra in ({}, {'to_revision': 1}, {'image': 'nginx:1.25'}):
        again = play(kube, tmp_path, 'undo', namespace, kind='StatefulSet', workload='db', **extra).task(UNDO)
        assert again['changed'] is False, extra
    assert written_state(kube.json('statefulset', 'db', '-n', namespace)) == written_state(sts)


# ---------------------------------------------------------------- DaemonSet

def test_daemonset_undo_and_restart(kube, namespace, tmp_path):
    kube.apply(namespace, 'daemonset.yaml', name='agent', image='registry.k8s.io/pause:3.9')
    rollout_status(kube, namespace, 'daemonset/agent')
    kube.kubectl('set', 'image', 'daemonset/agent', 'agent=registry.k8s.io/pause:3.10', '-n', namespace)
    rollout_status(kube, namespace, 'daemonset/agent')
    nodes = len(kube.schedulable_nodes())

    done = play(kube, tmp_path, 'undo', namespace, kind='DaemonSet', workload='agent').task(UNDO)
    assert done['changed'] is True
    assert done['actions'] == ['roll back daemonset %s/agent from revision 2 (registry.k8s.io/pause:3.10) '
                               'to revision 1 (registry.k8s.io/pause:3.9)' % namespace]
    assert (done['from_revision'], done['to_revision'], done['revision']) == (2, 1, 3)
    assert done['rollout']['state'] == 'complete'
    assert template_image(kube.json('daemonset', 'agent', '-n', namespace)) == 'registry.k8s.io/pause:3.9'
    assert images_of_pods(kube, namespace, 'app=agent') == {'registry.k8s.io/pause:3.9'}
    assert len(live_pods(kube, namespace, 'app=agent')) == nodes
    assert play(kube, tmp_path, 'undo', namespace, kind='DaemonSet', workload='agent').task(UNDO)['changed'] is False

    restarted = play(kube, tmp_path, 'restart', namespace, kind='DaemonSet', workload='agent').task(RESTART)
    assert restarted['changed'] is True and restarted['revision'] == 4
    assert restarted['rollout']['state'] == 'complete'
    again = play(kube, tmp_path, 'restart', namespace, kind='DaemonSet', workload='agent',
                 restarted_after=restarted['restarted_at']).task(RESTART)
    assert again['changed'] is False


# ---------------------------------------------------------------- k8s_rollout_info

HPA = {
    'apiVersion': 'autoscaling/v2',
    'kind': 'HorizontalPodAutoscaler',
    'metadata': {'name': 'web'},
    'spec': {'scaleTargetRef': {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': 'web'}, 'minReplicas': 3, 'maxReplicas': 6,
             'metrics': [{'type': 'Resource', 'resource': {'name': 'cpu', 'target': {'type': 'Utilization', 'averageUtilization': 80}}}]},
}


def crashed_once(kube, namespace):
    """A pod of the crash-looping release whose container has terminated at least once."""
    for pod in live_pods(kube, namespace, 'app=web'):
        for status in pod['status'].get('containerStatuses') or []:
            if status['image'].endswith('nginx:1.26-crashloop') and status.get('lastState', {}).get('terminated'):
                return pod['metadata']['name']
    return None


@simulator_only
def test_rollout_info_explains_a_crash_looping_release(kube, namespace, tmp_path, real_backoff):
    bad_release(kube, namespace)
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(HPA))
    crashed = wait_for(lambda: crashed_once(kube, namespace), 60, 'a crash-looping container that terminated')

    info = play(kube, tmp_path, 'info', namespace, check=True).task(INFO)
    assert info['changed'] is False
    assert info['revision'] == 2 and info['images'] == {'nginx': 'nginx:1.26-crashloop'} and info['paused'] is False
    assert [(h['revision'], h['change_cause'], h['current']) for h in info['history']] == [
        (1, 'deploy nginx:1.25', False), (2, 'deploy nginx:1.26-crashloop', True)]
    assert info['rollout']['state'] == 'failed' and info['rollout']['reason'] == 'CrashLoopBackOff'
    assert 'container nginx: CrashLoopBackOff (last exit: Error, exit code 1' in info['rollout']['message']

    pods = {p['name']: p for p in info['pods']}
    assert {p['revision'] for p in pods.values()} == {1, 2}
    assert all(p['ready'] for p in pods.values() if p['revision'] == 1)
    last = pods[crashed]['containers'][0]['last_termination']
    assert last['reason'] == 'Error' and last['exit_code'] == 1
    assert pods[crashed]['ready'] is False

    assert info['events'], 'Warning events of the crash-looping pods'
    assert all(e['type'] == 'Warning' for e in info['events'])
    assert ('BackOff', 'Pod/' + crashed) in {(e['reason'], e['object']) for e in info['events']}
    assert info['hpa']['name'] == 'web' and info['hpa']['min_replicas'] == 3 and info['hpa']['max_replicas'] == 6

    limited = play(kube, tmp_path, 'info', namespace, events_limit=1).task(INFO)
    assert len(limited['events']) == 1

    run = play(kube, tmp_path, 'info', namespace, fail_on_failed_rollout=True, expect_rc=2)
    assert run.failed_tasks == ['Stop when the rollout is failing']
    assert run.task('Stop when the rollout is failing')['msg'].startswith('CrashLoopBackOff: new pods of deployment %s/web are failing' % namespace)


def test_rollout_info_of_a_healthy_statefulset(kube, namespace, tmp_path):
    kube.apply(namespace, 'headless-service.yaml', name='db')
    kube.apply(namespace, 'statefulset.yaml', name='db', image='nginx:1.25')
    rollout_status(kube, namespace, 'statefulset/db')

    info = play(kube, tmp_path, 'info', namespace, kind='StatefulSet', workload='db').task(INFO)
    assert info['rollout']['state'] == 'complete'
    assert info['revision'] == 1 and [h['revision'] for h in info['history']] == [1]
    assert sorted(p['name'] for p in info['pods']) == ['db-0', 'db-1']
    assert all(p['ready'] and p['revision'] == 1 and p['restarts'] == 0 for p in info['pods'])
    assert info['replicas']['ready'] == 2 and info['hpa'] is None
