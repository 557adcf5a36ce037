"""OpenShift DeploymentConfigs (apps.openshift.io/v1) through k8s_rollout, k8s_rollout_info and k8s_workload_scale.

Against kubesim's `openshift` flavour, switched on for this module and back
off afterwards (a flavour change resets the simulator, so nothing of other
modules is touched while they run); against a real cluster only when it
serves apps.openshift.io, else skipped. Each change runs in check mode
(changed, nothing changed on the cluster), for real, and again (changed=false).
Waiting is done by the modules or by wait_for, never by sleeping.
"""

from pathlib import Path

import pytest

from tests.integration.conftest import live_pods, pod_ready, template_image, wait_for, written_state
from tests.integration.openshift import deploymentconfig, openshift, phase, wait_complete  # noqa: F401 pylint: disable=unused-import
from tests.integration.runner import run_playbook

pytestmark = [pytest.mark.kubernetes, pytest.mark.usefixtures('openshift')]

PLAYBOOKS = Path(__file__).parent / 'playbooks'
UNDO = 'Roll back the workload'
RESTART = 'Restart the workload'
INFO = 'Read the rollout of the workload'
SCALE = 'Scale the workload'
ROLLED_BACK_FROM = 'sre.runbooks/rolled-back-from'
GOOD = 'nginx:1.25'
BAD = 'nginx:1.26-crashloop'


def dc(kube, namespace, name='web'):
    return kube.json('deploymentconfig', name, '-n', namespace)


def pods(kube, namespace, name='web'):
    return live_pods(kube, namespace, 'deploymentconfig=%s' % name)


def new_pods_not_ready(kube, namespace, version, name='web'):
    mine = [p for p in pods(kube, namespace, name) if p['metadata']['labels'].get('deployment') == '%s-%d' % (name, version)]
    return mine and not any(pod_ready(p) for p in mine)


def bad_release(kube, namespace):
    """Version 1 nginx:1.25 (complete), version 2 a crash-looping image (image pull errors on a real cluster)."""
    deploymentconfig(kube, namespace)
    wait_complete(kube, namespace, 1)
    deploymentconfig(kube, namespace, image=BAD)
    wait_for(lambda: new_pods_not_ready(kube, namespace, 2), 60, 'pods of version 2 that are not ready')


def play(kube, tmp_path, playbook, namespace, check=False, diff=False, expect_rc=0, **extra):
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), kind='DeploymentConfig', **extra)
    return run_playbook(PLAYBOOKS / ('%s.yml' % playbook), tmp_path, extra_vars=extra_vars, check=check, diff=diff,
                        env=kube.env, expect_rc=expect_rc)


def test_undo_a_bad_version_in_check_mode_then_for_real_then_again(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    before = dc(kube, namespace)
    expected_triggers = ['ImageStreamTag %s/web:latest for containers nginx' % namespace] if kube.is_simulator else []

    planned = play(kube, tmp_path, 'rollout_undo', namespace, check=True, diff=True).task(UNDO)
    assert planned['changed'] is True
    assert planned['actions'][0] == 'roll back deploymentconfig %s/web from revision 2 (%s) to revision 1 (%s)' % (namespace, BAD, GOOD)
    assert planned['image_triggers_disabled'] == expected_triggers
    assert (planned['from_revision'], planned['to_revision'], planned['revision']) == (2, 1, 2)
    assert template_image(planned['diff']['before']) == BAD and template_image(planned['diff']['after']) == GOOD
    assert written_state(dc(kube, namespace)) == written_state(before)
    assert phase(kube, namespace, 3) is None

    done = play(kube, tmp_path, 'rollout_undo', namespace).task(UNDO)
    assert done['changed'] is True and done['actions'] == planned['actions']
    assert (done['from_revision'], done['to_revision'], done['revision']) == (2, 1, 3)
    assert done['images_after'] == {'nginx': GOOD}
    assert done['image_triggers_disabled'] == expected_triggers
    assert done['rollout']['state'] == 'complete'
    assert done['rollout']['message'] == 'replication controller "web-3" successfully rolled out'
    assert [(h['revision'], h['images'], h['current']) for h in done['history']] == [
        (1, {'nginx': GOOD}, False), (2, {'nginx': BAD}, False), (3, {'nginx': GOOD}, True)]
    assert done['history'][2]['phase'] == 'Complete'

    rolled_back = dc(kube, namespace)
    assert template_image(rolled_back) == GOOD
    assert rolled_back['metadata']['annotations'][ROLLED_BACK_FROM] == '2'
    assert [t['imageChangeParams']['automatic'] for t in rolled_back['spec']['triggers'] if t['type'] == 'ImageChange'] == (
        [False] if kube.is_simulator else [])
    running = pods(kube, namespace)
    assert len(running) == 3 and all(pod_ready(p) for p in running)
    assert {p['spec']['containers'][0]['image'] for p in running} == {GOOD}

    again = play(kube, tmp_path, 'rollout_undo', namespace).task(UNDO)
    assert again['changed'] is False and again['actions'] == []
    assert again['image_triggers_disabled'] == []
    assert (again['from_revision'], again['revision']) == (3, 3)
    assert play(kube, tmp_path, 'rollout_undo', namespace, to_revision=1).task(UNDO)['changed'] is False
    assert play(kube, tmp_path, 'rollout_undo', namespace, image=GOOD).task(UNDO)['changed'] is False
    assert written_state(dc(kube, namespace)) == written_state(rolled_back)
    assert phase(kube, namespace, 4) is None

    info = play(kube, tmp_path, 'rollout_info', namespace).task(INFO)
    assert info['revision'] == 3 and info['rollout']['state'] == 'complete'
    assert [(h['revision'], h['name'], h['current']) for h in info['history']] == [
        (1, 'web-1', False), (2, 'web-2', False), (3, 'web-3', True)]
    assert [h['change_cause'] for h in info['history']] == ['config change'] * 3
    assert len(info['pods']) == 3 and {p['revision'] for p in info['pods']} == {3}


def test_unknown_version_is_refused_before_anything_changes(kube, namespace, tmp_path):
    bad_release(kube, namespace)
    before = dc(kube, namespace)

    run = play(kube, tmp_path, 'rollout_undo', namespace, to_revision=99, expect_rc=2)
    assert run.failed_tasks == [UNDO]
    refused = run.task(UNDO)
    assert refused['msg'].startswith('Failed to roll back deploymentconfig %s/web: revision 99 not found; available revisions: '
                                     '1 (%s, Complete), 2 (%s, ' % (namespace, GOOD, BAD))
    assert refused.get('changed', False) is False
    after = dc(kube, namespace)
    assert written_state(after) == written_state(before)
    assert after['status']['latestVersion'] == 2 and phase(kube, namespace, 3) is None


def test_restart_deploys_a_new_version_once_per_restarted_after(kube, namespace, tmp_path):
    deploymentconfig(kube, namespace, image_trigger=False)
    wait_complete(kube, namespace, 1)
    old_pods = {p['metadata']['name'] for p in pods(kube, namespace)}

    planned = play(kube, tmp_path, 'rollout_restart', namespace, check=True).task(RESTART)
    assert planned['changed'] is True
    assert planned['actions'] == ['restart deploymentconfig %s/web: deploy version 2 of its current template, as oc rollout latest does' % namespace]
    assert dc(kube, namespace)['status']['latestVersion'] == 1 and phase(kube, namespace, 2) is None

    done = play(kube, tmp_path, 'rollout_restart', namespace).task(RESTART)
    assert done['changed'] is True
    assert (done['from_revision'], done['revision']) == (1, 2)
    assert done['rollout']['state'] == 'complete'
    assert phase(kube, namespace, 2) == 'Complete'
    assert [h['change_cause'] for h in done['history']] == ['config change', 'manual change']
    new_pods = {p['metadata']['name'] for p in pods(kube, namespace)}
    assert len(new_pods) == 3 and not new_pods & old_pods

    again = play(kube, tmp_path, 'rollout_restart', namespace, restarted_after=done['restarted_at']).task(RESTART)
    assert again['changed'] is False and again['actions'] == []
    assert dc(kube, namespace)['status']['latestVersion'] == 2


@pytest.mark.simulator_only
def test_restart_fails_fast_on_crash_looping_pods(kube, namespace, tmp_path):
    deploymentconfig(kube, namespace, image=BAD, image_trigger=False)
    wait_for(lambda: new_pods_not_ready(kube, namespace, 1), 60, 'pods of version 1 that are not ready')

    run = play(kube, tmp_path, 'rollout_restart', namespace, expect_rc=2)
    assert run.failed_tasks == [RESTART]
    failed = run.task(RESTART)
    assert failed['changed'] is True and failed['error']['action'] == 'roll out'
    assert failed['error']['details']['rollout']['reason'] == 'CrashLoopBackOff'
    assert 'restart deploymentconfig %s/web' % namespace in failed['msg']


@pytest.mark.simulator_only
def test_a_failed_version_fails_the_wait_with_its_phase(kube, namespace, tmp_path):
    # never-ready pods give no container failure to fail fast on: the deployer gives up after timeoutSeconds.
    deploymentconfig(kube, namespace, image='nginx:1.26-never-ready', image_trigger=False, timeout_seconds=2, replicas=2)
    wait_for(lambda: phase(kube, namespace, 1) == 'Failed', 60, 'version 1 to fail')

    info = play(kube, tmp_path, 'rollout_info', namespace).task(INFO)
    assert info['rollout']['state'] == 'failed' and info['rollout']['reason'] == 'DeploymentConfigFailed'
    assert info['history'][0]['phase'] == 'Failed'

    failed = play(kube, tmp_path, 'rollout_restart', namespace, expect_rc=2).task(RESTART)
    assert failed['error']['details']['rollout']['reason'] == 'DeploymentConfigFailed'
    assert 'version 2 of deploymentconfig %s/web (replication controller "web-2") failed' % namespace in failed['msg']
    # "previous" goes to a completed version only, and there is none.
    refused = play(kube, tmp_path, 'rollout_undo', namespace, expect_rc=2).task(UNDO)
    assert 'there is no completed version older than the current version 2' in refused['msg']


def test_scale_in_check_mode_then_for_real_then_unchanged_and_the_minimum_holds(kube, namespace, tmp_path):
    deploymentconfig(kube, namespace, image_trigger=False)
    wait_complete(kube, namespace, 1)
    before = dc(kube, namespace)

    planned = play(kube, tmp_path, 'scale_workload', namespace, check=True, replicas=5).task(SCALE)
    assert planned['changed'] is True
    assert planned['actions'] == ['scale DeploymentConfig %s/web from 3 to 5 replicas' % namespace]
    assert written_state(dc(kube, namespace)) == written_state(before)

    done = play(kube, tmp_path, 'scale_workload', namespace, replicas=5).task(SCALE)
    assert done['changed'] is True and (done['replicas_before'], done['replicas_after']) == (3, 5)
    assert dc(kube, namespace)['spec']['replicas'] == 5
    running = pods(kube, namespace)
    assert len(running) == 5 and all(pod_ready(p) for p in running)

    again = play(kube, tmp_path, 'scale_workload', namespace, replicas=5).task(SCALE)
    assert again['changed'] is False and again['actions'] == []

    scaled = dc(kube, namespace)
    refused = play(kube, tmp_path, 'scale_workload', namespace, replicas=1, expect_rc=2).task(SCALE)
    assert 'replicas 1 is below min_replicas 2' in refused['msg']
    assert written_state(dc(kube, namespace)) == written_state(scaled)
    assert len(pods(kube, namespace)) == 5
