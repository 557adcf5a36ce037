"""The unmodified kubernetes.core 6.2 modules through ansible-playbook against the API under test.

kubesim by default; the cluster of $KUBECONFIG when it names one. The
expectations are what the modules report against a real Kubernetes 1.32.
"""

import re
from pathlib import Path

import pytest

from tests.integration.runner import run_playbook
from tests.integration.conftest import REVISION, condition, deploy, history, live_pods, pod_ready, rollout_status, simulator_only, template_image, written_state

pytestmark = pytest.mark.kubernetes

PLAYBOOKS = Path(__file__).parent / 'playbooks'


def play(kube, tmp_path, playbook, namespace, check=False, expect_rc=0, **extra):
    """Run playbooks/k8s_<playbook>.yml with the namespace and kubeconfig as extra vars."""
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOKS / ('k8s_%s.yml' % playbook), tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


# ---------------------------------------------------------------- k8s

APPLY = 'Apply the web deployment'


def test_k8s_apply_creates_waits_and_is_idempotent(kube, namespace, tmp_path):
    created = play(kube, tmp_path, 'apply', namespace, wait_available=True).task(APPLY)
    assert created['changed'] is True
    assert created['method'] == 'apply'
    assert created['result']['metadata']['name'] == 'web'
    assert created['result']['status']['availableReplicas'] == 2
    assert condition(created['result'], 'Available')['status'] == 'True'
    assert 'duration' in created
    web = kube.json('deployment', 'web', '-n', namespace)
    assert 'kubectl.kubernetes.io/last-applied-configuration' in web['metadata']['annotations']
    assert web['spec']['replicas'] == 2

    again = play(kube, tmp_path, 'apply', namespace, wait_available=True).task(APPLY)
    assert again['changed'] is False
    assert written_state(kube.json('deployment', 'web', '-n', namespace)) == written_state(web)

    new_image = play(kube, tmp_path, 'apply', namespace, wait_available=True, image='nginx:1.26').task(APPLY)
    assert new_image['changed'] is True
    assert template_image(new_image['result']) == 'nginx:1.26'
    rollout_status(kube, namespace, 'deploy/web')
    web = kube.json('deployment', 'web', '-n', namespace)
    assert web['metadata']['annotations'][REVISION] == '2'
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=web')} == {'nginx:1.26'}

    assert play(kube, tmp_path, 'apply', namespace, image='nginx:1.26').task(APPLY)['changed'] is False


def test_k8s_apply_in_check_mode_reports_the_change_and_makes_none(kube, namespace, tmp_path):
    planned = play(kube, tmp_path, 'apply', namespace, check=True).task(APPLY)
    assert planned['changed'] is True
    assert not kube.exists('deployment', 'web', '-n', namespace)
    assert kube.json('replicasets', '-n', namespace)['items'] == []

    play(kube, tmp_path, 'apply', namespace, wait_available=True)
    before = kube.json('deployment', 'web', '-n', namespace)
    planned = play(kube, tmp_path, 'apply', namespace, check=True, replicas=4).task(APPLY)
    assert planned['changed'] is True
    after = kube.json('deployment', 'web', '-n', namespace)
    assert after['spec']['replicas'] == 2
    assert written_state(after) == written_state(before)


def test_k8s_state_patched_changes_once_and_never_creates(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=1)
    run = play(kube, tmp_path, 'patched', namespace, tier='frontend')
    labelled = run.task('Label the web deployment')
    assert labelled['changed'] is True
    assert labelled['result']['metadata']['labels'] == {'app': 'web', 'tier': 'frontend'}
    missing = run.task('Patch a deployment that does not exist')
    assert missing['changed'] is False
    assert any("was not found but will not be created as 'state' parameter has been set to 'patched'" in w for w in missing['warnings'])
    assert not kube.exists('deployment', 'absent', '-n', namespace)
    assert kube.json('deployment', 'web', '-n', namespace)['metadata']['labels'] == {'app': 'web', 'tier': 'frontend'}

    assert play(kube, tmp_path, 'patched', namespace, tier='frontend').task('Label the web deployment')['changed'] is False
    assert play(kube, tmp_path, 'patched', namespace, tier='backend').task('Label the web deployment')['changed'] is True
    assert kube.json('deployment', 'web', '-n', namespace)['metadata']['labels']['tier'] == 'backend'


# ---------------------------------------------------------------- k8s_info

def test_k8s_info_waits_for_available_and_lists_with_selectors(kube, namespace, tmp_path):
    kube.apply(namespace, 'deployment.yaml', name='web', replicas=3, image='nginx:1.25')  # no waiting here: k8s_info waits
    run = play(kube, tmp_path, 'info_wait', namespace)

    available = run.task('Wait for the web deployment to be available')
    assert available['changed'] is False and available['api_found'] is True
    (web,) = available['resources']
    assert condition(web, 'Available')['status'] == 'True'
    assert web['status']['availableReplicas'] == 3

    ready = run.task('Wait for the pods of the web deployment to be ready')['resources']
    assert len(ready) == 3 and all(pod_ready(p) for p in ready)
    running = run.task('List the running pods of the web deployment')['resources']
    assert sorted(p['metadata']['name'] for p in running) == sorted(p['metadata']['name'] for p in ready)

    absent = run.task('Read a deployment that does not exist')
    assert absent['resources'] == [] and absent['api_found'] is True


# ---------------------------------------------------------------- k8s_scale

SCALE = 'Scale the web deployment'


def test_k8s_scale_up_and_down_and_wait(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)
    up = play(kube, tmp_path, 'scale', namespace, replicas=5).task(SCALE)
    assert up['changed'] is True
    assert up['result']['spec']['replicas'] == 5
    assert up['result']['status']['readyReplicas'] == up['result']['status']['availableReplicas'] == 5
    assert len(live_pods(kube, namespace, 'app=web')) == 5

    same = play(kube, tmp_path, 'scale', namespace, replicas=5).task(SCALE)
    assert same['changed'] is False

    down = play(kube, tmp_path, 'scale', namespace, replicas=1).task(SCALE)
    assert down['changed'] is True
    assert down['result']['spec']['replicas'] == 1
    assert down['result']['status']['replicas'] == down['result']['status']['availableReplicas'] == 1
    assert kube.json('deployment', 'web', '-n', namespace)['metadata']['annotations'][REVISION] == '1'


# ---------------------------------------------------------------- k8s_rollback

ROLLBACK = 'Roll back the web deployment'


def test_k8s_rollback_goes_to_the_revision_before_the_current_one(kube, namespace, tmp_path):
    deploy(kube, namespace)
    nothing = play(kube, tmp_path, 'rollback', namespace).task(ROLLBACK)
    assert nothing['changed'] is False
    assert nothing['rollback_info'][0]['warnings'] == ['No rollout history found for resource Deployment/web']

    kube.kubectl('set', 'image', 'deploy/web', 'nginx=nginx:1.26', '-n', namespace)
    rollout_status(kube, namespace, 'deploy/web')

    back = play(kube, tmp_path, 'rollback', namespace).task(ROLLBACK)
    assert back['changed'] is True
    rollout_status(kube, namespace, 'deploy/web')
    web = kube.json('deployment', 'web', '-n', namespace)
    assert template_image(web) == 'nginx:1.25'
    # The module replaced all annotations by {revision: 1}; the deployment controller then
    # re-numbers revision 1's ReplicaSet as 3 and the deployment follows.
    assert web['metadata']['annotations'] == {REVISION: '3'}
    assert sorted(history(kube, namespace, 'deploy/web')) == [2, 3]
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=web')} == {'nginx:1.25'}

    # Always current - 1: from 3 back to 2 (nginx:1.26), which becomes 4.
    forth = play(kube, tmp_path, 'rollback', namespace).task(ROLLBACK)
    assert forth['changed'] is True
    rollout_status(kube, namespace, 'deploy/web')
    web = kube.json('deployment', 'web', '-n', namespace)
    assert template_image(web) == 'nginx:1.26'
    assert web['metadata']['annotations'][REVISION] == '4'
    assert sorted(history(kube, namespace, 'deploy/web')) == [3, 4]


# ---------------------------------------------------------------- k8s_drain

def test_k8s_drain_then_uncordon(kube, namespace, tmp_path, uncordon):
    if len(kube.schedulable_nodes()) < 2:
        pytest.skip('draining needs at least 2 schedulable nodes, so that the evicted pods have somewhere to go')
    deploy(kube, namespace, replicas=2)
    pods = live_pods(kube, namespace, 'app=web')
    node = pods[0]['spec']['nodeName']
    ours = [p['metadata']['name'] for p in pods if p['spec']['nodeName'] == node]
    uncordon.append(node)

    run = play(kube, tmp_path, 'drain', namespace, node=node)
    drained = run.task('Drain the node')
    assert drained['changed'] is True
    match = re.fullmatch(r'node %s marked unschedulable\. (\d+) Pod\(s\) deleted from node\.' % re.escape(node), drained['result'])
    assert match, drained['result']
    assert int(match.group(1)) >= len(ours)
    assert run.task('Read the drained node')['resources'][0]['spec']['unschedulable'] is True
    assert run.task('List the pods of the namespace left on the node')['resources'] == []

    first = run.task('Uncordon the node')
    assert first['changed'] is True and first['result'] == 'node %s marked schedulable.' % node
    second = run.task('Uncordon the node again')
    assert second['changed'] is False and second['result'] == 'node %s already marked schedulable.' % node
    assert not run.task('Read the uncordoned node')['resources'][0]['spec'].get('unschedulable')

    rollout_status(kube, namespace, 'deploy/web')
    assert not {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')} & set(ours)


# ---------------------------------------------------------------- k8s_log, k8s_exec

def test_k8s_log_reads_a_pod_of_the_deployment(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=1)
    run = play(kube, tmp_path, 'log', namespace)
    log = run.task('Read the log of a pod of the web deployment')
    assert log['changed'] is False
    assert isinstance(log['log'], str)
    assert log['log_lines'] == log['log'].split('\n')
    assert [line for line in log['log_lines'] if line], 'an nginx container logs its start-up'
    tail = run.task('Read the last line of a web pod\'s log')
    assert len([line for line in tail['log_lines'] if line]) == 1
    assert tail['log_lines'][0] in log['log_lines']
    assert run.failed_tasks == ['Read the log of a pod that does not exist']
    absent = run.task('Read the log of a pod that does not exist')
    assert absent['msg'] == 'Pod %s/absent not found.' % namespace


@simulator_only
def test_k8s_exec_fails_clearly_on_kubesim(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=1)
    (pod,) = live_pods(kube, namespace, 'app=web')
    run = play(kube, tmp_path, 'exec', namespace, pod=pod['metadata']['name'], expect_rc=2)
    assert run.failed_tasks == ['Run a command in the web pod']
    result = run.task('Run a command in the web pod')
    assert result['msg'].startswith('Failed to execute on pod %s' % pod['metadata']['name'])
    assert 'exec' in result['msg'].split(' due to ', 1)[1].lower()
    assert 'not supported' in result['msg'].lower(), result['msg']
