"""The unmodified kubectl 1.32 against the API under test: what a real 1.32 cluster answers.

These tests run against kubesim by default and, unchanged, against a real
cluster when KUBECONFIG names one. A failure against kubesim means kubesim
differs from Kubernetes: fix kubesim, not the test.
"""

import base64
import json
import re

import pytest

from tests.integration.conftest import (CHANGE_CAUSE, LAST_APPLIED, REVISION, ROLLOUT_TIMEOUT, b64, condition, controller_revisions, deploy, history, live_pods,
                                        manifest_text, owned_by, pod_ready, rollout_status, simulator_only, template_image, wait_for)

pytestmark = pytest.mark.kubernetes

PDB_BLOCKED = "Cannot evict pod as it would violate the pod's disruption budget"


# ---------------------------------------------------------------- apply, get, rollout

def test_apply_creates_a_deployment_that_rolls_out(kube, namespace):
    manifest = manifest_text('deployment.yaml', name='web', replicas=3, image='nginx:1.25')
    created = kube.kubectl('apply', '-n', namespace, '-f', '-', input=manifest)
    assert created.stdout.strip() == 'deployment.apps/web created'

    status = kube.kubectl('rollout', 'status', 'deploy/web', '-n', namespace, '--timeout=60s')
    assert status.returncode == 0
    assert 'deployment "web" successfully rolled out' in status.stdout

    again = kube.kubectl('apply', '-n', namespace, '-f', '-', input=manifest)
    assert again.stdout.strip() == 'deployment.apps/web unchanged'

    web = kube.json('deployment', 'web', '-n', namespace)
    assert web['apiVersion'] == 'apps/v1' and web['kind'] == 'Deployment'
    assert web['metadata']['namespace'] == namespace
    assert web['metadata']['generation'] == 1
    assert web['metadata']['annotations'][CHANGE_CAUSE] == 'deploy nginx:1.25'
    assert web['metadata']['annotations'][REVISION] == '1'
    applied = json.loads(web['metadata']['annotations'][LAST_APPLIED])
    assert applied['spec']['replicas'] == 3 and applied['metadata']['name'] == 'web'
    # Defaults the apiserver fills in.
    assert web['spec']['strategy'] == {'type': 'RollingUpdate', 'rollingUpdate': {'maxSurge': '25%', 'maxUnavailable': '25%'}}
    assert web['spec']['revisionHistoryLimit'] == 10
    assert web['spec']['progressDeadlineSeconds'] == 600
    assert web['status']['observedGeneration'] == 1
    assert web['status']['replicas'] == web['status']['readyReplicas'] == web['status']['availableReplicas'] == 3
    assert web['status']['updatedReplicas'] == 3
    assert condition(web, 'Available')['status'] == 'True'
    assert condition(web, 'Available')['reason'] == 'MinimumReplicasAvailable'
    assert condition(web, 'Progressing')['status'] == 'True'
    assert condition(web, 'Progressing')['reason'] == 'NewReplicaSetAvailable'

    image = kube.kubectl('get', 'deploy', 'web', '-n', namespace, '-o', 'jsonpath={.spec.template.spec.containers[0].image}')
    assert image.stdout == 'nginx:1.25'
    cause = kube.kubectl('get', 'deploy', 'web', '-n', namespace, '-o', r'jsonpath={.metadata.annotations.kubernetes\.io/change-cause}')
    assert cause.stdout == 'deploy nginx:1.25'
    names = kube.kubectl('get', 'pods', '-n', namespace, '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}')
    assert len(names.stdout.split()) == 3

    waited = kube.kubectl('wait', 'deploy/web', '-n', namespace, '--for=condition=Available', '--timeout=60s')
    assert waited.stdout.strip() == 'deployment.apps/web condition met'
    table = kube.kubectl('get', 'deploy', 'web', '-n', namespace).stdout.splitlines()
    assert table[0].split() == ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']
    assert table[1].split()[:4] == ['web', '3/3', '3', '3']
    table = kube.kubectl('get', 'pods', '-n', namespace, '-l', 'app=web').stdout.splitlines()
    assert table[0].split() == ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']
    assert len(table) == 4 and all(row.split()[1:4] == ['1/1', 'Running', '0'] for row in table[1:])


def test_scale_keeps_the_revision_and_rolls_out(kube, namespace):
    deploy(kube, namespace)
    scaled = kube.kubectl('scale', 'deploy/web', '--replicas=5', '-n', namespace)
    assert scaled.stdout.strip() == 'deployment.apps/web scaled'
    assert 'deployment "web" successfully rolled out' in rollout_status(kube, namespace, 'deploy/web')

    web = kube.json('deployment', 'web', '-n', namespace)
    assert web['spec']['replicas'] == 5
    assert web['status']['readyReplicas'] == 5 and web['status']['availableReplicas'] == 5
    assert web['metadata']['annotations'][REVISION] == '1'  # scaling is no new revision
    replicasets = kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items']
    assert len(replicasets) == 1
    assert replicasets[0]['spec']['replicas'] == 5
    assert len(live_pods(kube, namespace, 'app=web')) == 5
    assert list(history(kube, namespace, 'deploy/web')) == [1]


def test_set_image_history_undo_and_undo_to_revision(kube, namespace):
    deploy(kube, namespace)
    updated = kube.kubectl('set', 'image', 'deploy/web', 'nginx=nginx:1.26', '-n', namespace)
    assert updated.stdout.strip() == 'deployment.apps/web image updated'
    assert 'deployment "web" successfully rolled out' in rollout_status(kube, namespace, 'deploy/web')
    kube.kubectl('annotate', 'deploy/web', '--overwrite', '%s=set image nginx:1.26' % CHANGE_CAUSE, '-n', namespace)

    # The deployment controller copies the change cause to the new ReplicaSet, which history reads.
    revisions = wait_for(lambda: (h := history(kube, namespace, 'deploy/web')).get(2) == 'set image nginx:1.26' and h,
                         30, 'revision 2 to show the new change cause')
    assert revisions == {1: 'deploy nginx:1.25', 2: 'set image nginx:1.26'}
    web = kube.json('deployment', 'web', '-n', namespace)
    assert web['metadata']['annotations'][REVISION] == '2'
    assert len(kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items']) == 2
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=web')} == {'nginx:1.26'}

    detail = kube.kubectl('rollout', 'history', 'deploy/web', '--revision=2', '-n', namespace).stdout
    assert 'deployment.apps/web with revision #2' in detail
    assert 'nginx:1.26' in detail and 'nginx:1.25' not in detail

    undone = kube.kubectl('rollout', 'undo', 'deploy/web', '-n', namespace)
    assert undone.stdout.strip() == 'deployment.apps/web rolled back'
    rollout_status(kube, namespace, 'deploy/web')
    web = kube.json('deployment', 'web', '-n', namespace)
    assert template_image(web) == 'nginx:1.25'
    # Rolling back re-uses revision 1's ReplicaSet under the next number: 1 leaves the history, 3 appears.
    assert web['metadata']['annotations'][REVISION] == '3'
    assert web['metadata']['annotations'][CHANGE_CAUSE] == 'deploy nginx:1.25'  # undo copies it from the ReplicaSet
    assert history(kube, namespace, 'deploy/web') == {2: 'set image nginx:1.26', 3: 'deploy nginx:1.25'}
    replicasets = kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items']
    assert len(replicasets) == 2
    current = [rs for rs in replicasets if rs['metadata']['annotations'][REVISION] == '3']
    assert len(current) == 1 and template_image(current[0]) == 'nginx:1.25'
    assert current[0]['metadata']['annotations']['deployment.kubernetes.io/revision-history'] == '1'
    assert current[0]['status']['readyReplicas'] == 3

    to_two = kube.kubectl('rollout', 'undo', 'deploy/web', '--to-revision=2', '-n', namespace)
    assert to_two.stdout.strip() == 'deployment.apps/web rolled back'
    rollout_status(kube, namespace, 'deploy/web')
    web = kube.json('deployment', 'web', '-n', namespace)
    assert template_image(web) == 'nginx:1.26'
    assert web['metadata']['annotations'][REVISION] == '4'
    assert history(kube, namespace, 'deploy/web') == {3: 'deploy nginx:1.25', 4: 'set image nginx:1.26'}
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=web')} == {'nginx:1.26'}

    missing = kube.kubectl('rollout', 'undo', 'deploy/web', '--to-revision=1', '-n', namespace, check=False)
    assert missing.returncode != 0
    assert 'unable to find specified revision 1 in history' in missing.stderr


@simulator_only
def test_rollout_status_fails_when_the_new_pods_crash_past_the_progress_deadline(kube, namespace):
    deploy(kube, namespace)
    kube.kubectl('patch', 'deploy', 'web', '-n', namespace, '--type', 'merge', '-p', '{"spec":{"progressDeadlineSeconds":3}}')
    kube.kubectl('set', 'image', 'deploy/web', 'nginx=nginx:1.26-crashloop', '-n', namespace)
    status = kube.kubectl('rollout', 'status', 'deploy/web', '-n', namespace, '--timeout=%s' % ROLLOUT_TIMEOUT, check=False)
    assert status.returncode == 1
    assert 'error: deployment "web" exceeded its progress deadline' in status.stderr
    web = kube.json('deployment', 'web', '-n', namespace)
    assert condition(web, 'Progressing')['status'] == 'False'
    assert condition(web, 'Progressing')['reason'] == 'ProgressDeadlineExceeded'
    # 25% of 3 replicas: maxSurge rounds up to 1, maxUnavailable down to 0. One new pod, the three old ones keep serving.
    assert web['status']['availableReplicas'] == 3 and web['status']['updatedReplicas'] == 1
    crashing = [p for p in live_pods(kube, namespace, 'app=web') if p['spec']['containers'][0]['image'] == 'nginx:1.26-crashloop']
    assert len(crashing) == 1 and not pod_ready(crashing[0])

    kube.kubectl('rollout', 'undo', 'deploy/web', '-n', namespace)
    assert 'deployment "web" successfully rolled out' in rollout_status(kube, namespace, 'deploy/web')
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=web')} == {'nginx:1.25'}


def test_rollout_restart_rolls_out_a_new_revision(kube, namespace):
    deploy(kube, namespace)
    old_pods = {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')}
    restarted = kube.kubectl('rollout', 'restart', 'deploy/web', '-n', namespace)
    assert restarted.stdout.strip() == 'deployment.apps/web restarted'
    assert 'deployment "web" successfully rolled out' in rollout_status(kube, namespace, 'deploy/web')

    web = kube.json('deployment', 'web', '-n', namespace)
    annotations = web['spec']['template']['metadata'].get('annotations', {})
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)', annotations.get('kubectl.kubernetes.io/restartedAt', '')), annotations
    assert web['metadata']['annotations'][REVISION] == '2'
    assert template_image(web) == 'nginx:1.25'
    assert list(history(kube, namespace, 'deploy/web')) == [1, 2]
    new_pods = live_pods(kube, namespace, 'app=web')
    assert len(new_pods) == 3 and not old_pods & {p['metadata']['name'] for p in new_pods}
    assert all('kubectl.kubernetes.io/restartedAt' in p['metadata'].get('annotations', {}) for p in new_pods)


def test_pods_of_a_deployment_are_running_ready_and_owned_by_their_replicaset(kube, namespace):
    web = deploy(kube, namespace)
    replicasets = kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items']
    assert len(replicasets) == 1
    rs = replicasets[0]
    pod_hash = rs['metadata']['labels']['pod-template-hash']
    assert rs['metadata']['name'] == 'web-%s' % pod_hash
    assert rs['spec']['selector']['matchLabels'] == {'app': 'web', 'pod-template-hash': pod_hash}
    owner = rs['metadata']['ownerReferences'][0]
    assert (owner['apiVersion'], owner['kind'], owner['name'], owner['uid']) == ('apps/v1', 'Deployment', 'web', web['metadata']['uid'])
    assert owner['controller'] is True and owner['blockOwnerDeletion'] is True
    assert rs['metadata']['annotations'][REVISION] == '1'
    assert rs['metadata']['annotations']['deployment.kubernetes.io/desired-replicas'] == '3'

    nodes = {n['metadata']['name'] for n in kube.json('nodes')['items']}
    pods = kube.json('pods', '-l', 'app=web', '-n', namespace)['items']
    assert len(pods) == 3
    for pod in pods:
        assert pod['metadata']['name'].startswith('web-%s-' % pod_hash)
        assert pod['metadata']['generateName'] == 'web-%s-' % pod_hash
        assert pod['metadata']['labels'] == {'app': 'web', 'pod-template-hash': pod_hash}
        ref = pod['metadata']['ownerReferences'][0]
        assert (ref['apiVersion'], ref['kind'], ref['name'], ref['uid']) == ('apps/v1', 'ReplicaSet', rs['metadata']['name'], rs['metadata']['uid'])
        assert ref['controller'] is True and ref['blockOwnerDeletion'] is True
        assert pod['status']['phase'] == 'Running'
        for kind in ('PodScheduled', 'Initialized', 'ContainersReady', 'Ready'):
            assert condition(pod, kind).get('status') == 'True', (kind, pod['status'])
        assert pod['spec']['nodeName'] in nodes
        assert pod['status']['podIP'] and pod['status']['hostIP']
        assert pod['status']['qosClass'] == 'Burstable'
        (container,) = pod['status']['containerStatuses']
        assert container['name'] == 'nginx' and container['ready'] is True and container['started'] is True
        assert container['restartCount'] == 0 and 'startedAt' in container['state']['running']


# ---------------------------------------------------------------- nodes: cordon, drain

def test_cordon_keeps_new_pods_off_a_node_until_uncordon(kube, namespace, uncordon):
    node = kube.schedulable_nodes()[0]
    uncordon.append(node)
    assert kube.kubectl('cordon', node).stdout.strip() == 'node/%s cordoned' % node
    assert kube.json('node', node)['spec']['unschedulable'] is True
    listed = kube.kubectl('get', 'node', node, '--no-headers').stdout.split()
    assert listed[1] == 'Ready,SchedulingDisabled'
    assert kube.kubectl('cordon', node).stdout.strip() == 'node/%s already cordoned' % node

    kube.apply(namespace, 'pinned.yaml', name='pinned', node=node)
    pending = wait_for(lambda: [p for p in live_pods(kube, namespace, 'app=pinned') if condition(p, 'PodScheduled').get('reason') == 'Unschedulable'],
                       30, 'the pinned pod to be reported Unschedulable')
    assert pending[0]['status']['phase'] == 'Pending'
    assert condition(pending[0], 'PodScheduled')['status'] == 'False'
    assert not pending[0]['spec'].get('nodeName')

    assert kube.kubectl('uncordon', node).stdout.strip() == 'node/%s uncordoned' % node
    assert not kube.json('node', node)['spec'].get('unschedulable')
    rollout_status(kube, namespace, 'deploy/pinned')
    (pod,) = live_pods(kube, namespace, 'app=pinned')
    assert pod['spec']['nodeName'] == node and pod_ready(pod)


def test_drain_waits_for_the_disruption_budget_then_empties_the_node(kube, namespace, uncordon, tmp_path):
    if len(kube.schedulable_nodes()) < 2:
        pytest.skip('draining needs at least 2 schedulable nodes, so that the evicted pods have somewhere to go')
    deploy(kube, namespace, name='guarded', replicas=3)
    kube.apply(namespace, 'pdb.yaml', name='guarded', min_available=3)
    kube.kubectl('wait', 'pdb/guarded', '-n', namespace, '--for=jsonpath={.status.currentHealthy}=3', '--timeout=60s')
    pdb = kube.json('pdb', 'guarded', '-n', namespace)
    assert pdb['status']['disruptionsAllowed'] == 0 and pdb['status']['desiredHealthy'] == 3
    assert pdb['status']['expectedPods'] == 3

    per_node = {}
    for pod in live_pods(kube, namespace, 'app=guarded'):
        per_node.setdefault(pod['spec']['nodeName'], []).append(pod['metadata']['name'])
    node = max(per_node, key=lambda name: len(per_node[name]))
    uncordon.append(node)

    log_path = tmp_path / 'drain.log'
    with open(log_path, 'w', encoding='utf-8') as log:
        drain = kube.popen('drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=180s', stdout=log)
    try:
        wait_for(lambda: PDB_BLOCKED in log_path.read_text(encoding='utf-8'), 60, 'kubectl drain to report the disruption budget')
        assert drain.poll() is None, 'drain finished while the budget forbids any eviction:\n' + log_path.read_text(encoding='utf-8')
        assert kube.json('node', node)['spec']['unschedulable'] is True
        assert sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'app=guarded') if p['spec']['nodeName'] == node) == sorted(per_node[node])

        kube.kubectl('patch', 'pdb', 'guarded', '-n', namespace, '--type', 'merge', '-p', '{"spec":{"minAvailable":2}}')
        assert drain.wait(timeout=200) == 0, log_path.read_text(encoding='utf-8')
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
    output = log_path.read_text(encoding='utf-8')
    assert 'node/%s cordoned' % node in output
    assert 'node/%s drained' % node in output
    for name in per_node[node]:
        assert 'evicting pod %s/%s' % (namespace, name) in output

    assert kube.json('node', node)['spec']['unschedulable'] is True
    left = [p for p in kube.json('pods', '--all-namespaces', '--field-selector', 'spec.nodeName=%s' % node)['items']
            if not any(ref['kind'] == 'DaemonSet' for ref in p['metadata'].get('ownerReferences', []))
            and 'kubernetes.io/config.mirror' not in p['metadata'].get('annotations', {})
            and p['status'].get('phase') not in ('Succeeded', 'Failed')]
    assert left == [], [(p['metadata']['namespace'], p['metadata']['name']) for p in left]

    kube.kubectl('wait', 'deploy/guarded', '-n', namespace, '--for=jsonpath={.status.availableReplicas}=3', '--timeout=90s')
    rollout_status(kube, namespace, 'deploy/guarded')
    pods = live_pods(kube, namespace, 'app=guarded')
    assert len(pods) == 3 and all(pod_ready(p) and p['spec']['nodeName'] != node for p in pods)


# ---------------------------------------------------------------- apply and patch

def _secret_yaml(kube, namespace, value):
    return kube.kubectl('create', 'secret', 'generic', 'api-key', '--from-literal=key=%s' % value, '--dry-run=client', '-o', 'yaml', '-n', namespace).stdout


def test_secret_from_dry_run_yaml_is_created_then_updated_by_apply(kube, namespace):
    created = kube.kubectl('apply', '-n', namespace, '-f', '-', input=_secret_yaml(kube, namespace, 's3cr3t'))
    assert created.stdout.strip() == 'secret/api-key created'
    secret = kube.json('secret', 'api-key', '-n', namespace)
    assert secret['type'] == 'Opaque'
    assert secret['data'] == {'key': b64('s3cr3t')}
    applied = json.loads(secret['metadata']['annotations'][LAST_APPLIED])
    assert (applied['apiVersion'], applied['kind'], applied['metadata']['name']) == ('v1', 'Secret', 'api-key')
    assert applied['data'] == {'key': b64('s3cr3t')}
    assert 'resourceVersion' not in applied['metadata']

    updated = kube.kubectl('apply', '-n', namespace, '-f', '-', input=_secret_yaml(kube, namespace, 'r0t4t3d'))
    assert updated.stdout.strip() == 'secret/api-key configured'
    rotated = kube.json('secret', 'api-key', '-n', namespace)
    assert rotated['data'] == {'key': b64('r0t4t3d')}
    assert rotated['metadata']['uid'] == secret['metadata']['uid']
    assert int(rotated['metadata']['resourceVersion']) > int(secret['metadata']['resourceVersion'])
    assert json.loads(rotated['metadata']['annotations'][LAST_APPLIED])['data'] == {'key': b64('r0t4t3d')}
    value = kube.kubectl('get', 'secret', 'api-key', '-n', namespace, '-o', 'jsonpath={.data.key}').stdout
    assert base64.b64decode(value).decode() == 'r0t4t3d'

    # The same again: the dry-run YAML's `creationTimestamp: null` differs in type from the live
    # timestamp, so kubectl still sends {"metadata":{"creationTimestamp":null}} and says "configured";
    # the apiserver keeps the creation timestamp, the object does not change and is not written.
    same = kube.kubectl('apply', '-n', namespace, '-f', '-', input=_secret_yaml(kube, namespace, 'r0t4t3d'))
    assert same.stdout.strip() == 'secret/api-key configured'
    unchanged = kube.json('secret', 'api-key', '-n', namespace)
    assert unchanged['metadata']['resourceVersion'] == rotated['metadata']['resourceVersion']
    assert unchanged['metadata']['creationTimestamp'] == secret['metadata']['creationTimestamp']


def test_apply_adds_the_missing_last_applied_annotation_with_a_warning(kube, namespace):
    secret = {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'legacy'}, 'stringData': {'token': 'one'}}
    # `kubectl create -f` (JSON, unlike `kubectl create secret`) stores no last-applied annotation.
    assert kube.kubectl('create', '-n', namespace, '-f', '-', input=json.dumps(secret)).stdout.strip() == 'secret/legacy created'
    before = kube.json('secret', 'legacy', '-n', namespace)
    assert LAST_APPLIED not in before['metadata'].get('annotations', {})
    assert before['data'] == {'token': b64('one')} and 'stringData' not in before

    secret['stringData'] = {'token': 'two'}
    applied = kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(secret))
    assert applied.stdout.strip() == 'secret/legacy configured'
    assert 'is missing the kubectl.kubernetes.io/last-applied-configuration annotation' in applied.stderr
    after = kube.json('secret', 'legacy', '-n', namespace)
    assert after['data'] == {'token': b64('two')}
    assert json.loads(after['metadata']['annotations'][LAST_APPLIED])['stringData'] == {'token': 'two'}


def test_strategic_merge_patch_adds_an_env_var_and_keeps_the_rest(kube, namespace):
    kube.apply(namespace, 'two-containers.yaml', name='patchme')
    rollout_status(kube, namespace, 'deploy/patchme')
    patch = {'spec': {'template': {'spec': {'containers': [{'name': 'app', 'env': [{'name': 'B', 'value': '2'}]}]}}}}
    patched = kube.kubectl('patch', 'deploy', 'patchme', '-n', namespace, '--type', 'strategic', '-p', json.dumps(patch))
    assert patched.stdout.strip() == 'deployment.apps/patchme patched'

    containers = {c['name']: c for c in kube.json('deployment', 'patchme', '-n', namespace)['spec']['template']['spec']['containers']}
    assert list(containers) == ['app', 'sidecar']
    assert {e['name']: e['value'] for e in containers['app']['env']} == {'A': '1', 'B': '2'}
    assert containers['app']['image'] == 'nginx:1.25'
    assert containers['sidecar']['image'] == 'registry.k8s.io/pause:3.10'
    rollout_status(kube, namespace, 'deploy/patchme')
    assert all({e['name'] for e in p['spec']['containers'][0]['env']} == {'A', 'B'} for p in live_pods(kube, namespace, 'app=patchme'))

    again = kube.kubectl('patch', 'deploy', 'patchme', '-n', namespace, '--type', 'strategic', '-p', json.dumps(patch))
    assert again.stdout.strip() == 'deployment.apps/patchme patched (no change)'


def test_merge_patch_sets_and_removes_labels(kube, namespace):
    kube.apply(namespace, 'two-containers.yaml', name='patchme')
    patched = kube.kubectl('patch', 'deploy', 'patchme', '-n', namespace, '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":"frontend","team":null}}}')
    assert patched.stdout.strip() == 'deployment.apps/patchme patched'
    obj = kube.json('deployment', 'patchme', '-n', namespace)
    assert obj['metadata']['labels'] == {'app': 'patchme', 'tier': 'frontend'}
    assert obj['metadata']['generation'] == 1  # metadata changes are no new generation
    assert kube.kubectl('get', 'deploy', '-n', namespace, '-l', 'tier=frontend', '-o', 'name').stdout.split() == ['deployment.apps/patchme']


def test_json_patch_replaces_the_replicas(kube, namespace):
    kube.apply(namespace, 'two-containers.yaml', name='patchme')
    patched = kube.kubectl('patch', 'deploy', 'patchme', '-n', namespace, '--type', 'json', '-p', '[{"op":"replace","path":"/spec/replicas","value":4}]')
    assert patched.stdout.strip() == 'deployment.apps/patchme patched'
    rollout_status(kube, namespace, 'deploy/patchme')
    obj = kube.json('deployment', 'patchme', '-n', namespace)
    assert obj['spec']['replicas'] == 4 and obj['status']['readyReplicas'] == 4

    failed = kube.kubectl('patch', 'deploy', 'patchme', '-n', namespace, '--type', 'json',
                          '-p', '[{"op":"test","path":"/spec/replicas","value":9},{"op":"replace","path":"/spec/replicas","value":1}]', check=False)
    assert failed.returncode != 0
    assert kube.json('deployment', 'patchme', '-n', namespace)['spec']['replicas'] == 4


# ---------------------------------------------------------------- delete

def test_delete_cascades_to_replicasets_and_pods_in_the_background(kube, namespace):
    deploy(kube, namespace)
    deleted = kube.kubectl('delete', 'deploy', 'web', '-n', namespace)
    assert deleted.stdout.strip() == 'deployment.apps "web" deleted'
    assert not kube.exists('deployment', 'web', '-n', namespace)
    wait_for(lambda: not kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items'], 60, 'the ReplicaSet to be garbage-collected')
    wait_for(lambda: not kube.json('pods', '-n', namespace, '-l', 'app=web')['items'], 90, 'the pods to be garbage-collected')


def test_delete_with_cascade_orphan_keeps_the_replicaset_and_its_pods(kube, namespace):
    deploy(kube, namespace)
    (rs,) = kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items']
    deleted = kube.kubectl('delete', 'deploy', 'web', '--cascade=orphan', '-n', namespace)
    assert deleted.stdout.strip() == 'deployment.apps "web" deleted'
    assert not kube.exists('deployment', 'web', '-n', namespace)
    orphan = wait_for(lambda: [r for r in kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items'] if not r['metadata'].get('ownerReferences')],
                      30, 'the ReplicaSet to lose its ownerReferences')
    assert [r['metadata']['uid'] for r in orphan] == [rs['metadata']['uid']]
    assert orphan[0]['spec']['replicas'] == 3
    pods = live_pods(kube, namespace, 'app=web')
    assert len(pods) == 3 and all(owned_by(p, rs) and pod_ready(p) for p in pods)


# ---------------------------------------------------------------- metrics

def _top(kube, *args):
    """`kubectl top ...` rows once metrics are served; skips on a real cluster without metrics-server."""
    proc = kube.kubectl('top', *args, check=False)
    if proc.returncode != 0:
        if 'Metrics API not available' in proc.stderr and not kube.is_simulator:
            pytest.skip('metrics-server is not installed on this cluster (kubectl top: Metrics API not available)')
        return None
    lines = proc.stdout.splitlines()
    return lines[0].split(), [line.split() for line in lines[1:]]


def test_top_pods_and_nodes_list_cpu_and_memory(kube, namespace):
    kube.apply(namespace, 'metered.yaml', name='metered', cpu='250m', memory='64Mi')
    rollout_status(kube, namespace, 'deploy/metered')
    names = {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=metered')}
    header, rows = wait_for(lambda: (top := _top(kube, 'pods', '-n', namespace)) and {r[0] for r in top[1]} >= names and top,
                            120, 'kubectl top pods to list the pods')
    assert header == ['NAME', 'CPU(cores)', 'MEMORY(bytes)']
    for row in rows:
        assert re.fullmatch(r'\d+m', row[1]) and re.fullmatch(r'\d+Mi', row[2]), row

    header, rows = wait_for(lambda: _top(kube, 'nodes'), 120, 'kubectl top nodes')
    assert header == ['NAME', 'CPU(cores)', 'CPU(%)', 'MEMORY(bytes)', 'MEMORY(%)']
    assert {r[0] for r in rows} == {n['metadata']['name'] for n in kube.json('nodes')['items']}


@simulator_only
def test_top_pods_reports_the_usage_annotations(kube, namespace):
    kube.apply(namespace, 'metered.yaml', name='metered', cpu='250m', memory='64Mi')
    rollout_status(kube, namespace, 'deploy/metered')
    names = {p['metadata']['name'] for p in live_pods(kube, namespace, 'app=metered')}
    rows = wait_for(lambda: (top := _top(kube, 'pods', '-n', namespace)) and {r[0] for r in top[1]} >= names and top, 30, 'kubectl top pods')[1]
    assert {r[0]: (r[1], r[2]) for r in rows} == {name: ('250m', '64Mi') for name in names}


# ---------------------------------------------------------------- what kubesim refuses

@simulator_only
def test_kubectl_create_deployment_is_refused_because_it_sends_protobuf(kube, namespace):
    proc = kube.kubectl('create', 'deployment', 'x', '--image=nginx', '-n', namespace, check=False)
    assert proc.returncode != 0
    assert 'protobuf' in proc.stderr.lower(), proc.stderr
    assert 'failed to create deployment' in proc.stderr
    assert not kube.exists('deployment', 'x', '-n', namespace)


# ---------------------------------------------------------------- StatefulSet, DaemonSet

def test_statefulset_rollout_history_and_undo(kube, namespace):
    kube.apply(namespace, 'headless-service.yaml', name='db')
    kube.apply(namespace, 'statefulset.yaml', name='db', image='nginx:1.25')
    status = rollout_status(kube, namespace, 'statefulset/db')
    assert 'partitioned roll out complete: 2 new pods have been updated...' in status
    sts = kube.json('statefulset', 'db', '-n', namespace)
    assert sts['spec']['updateStrategy'] == {'type': 'RollingUpdate', 'rollingUpdate': {'partition': 0}}
    assert sts['spec']['podManagementPolicy'] == 'OrderedReady'
    assert sts['status']['readyReplicas'] == 2 and sts['status']['currentRevision'] == sts['status']['updateRevision']
    pods = sorted(live_pods(kube, namespace, 'app=db'), key=lambda p: p['metadata']['name'])
    assert [p['metadata']['name'] for p in pods] == ['db-0', 'db-1']
    for pod in pods:
        assert pod_ready(pod) and owned_by(pod, sts)
        assert pod['metadata']['labels']['statefulset.kubernetes.io/pod-name'] == pod['metadata']['name']
        assert pod['metadata']['labels']['controller-revision-hash'] == sts['status']['updateRevision']
        assert pod['spec']['hostname'] == pod['metadata']['name'] and pod['spec']['subdomain'] == 'db'
    revisions = controller_revisions(kube, namespace, sts)
    assert list(revisions) == [1] and revisions[1]['metadata']['name'] == sts['status']['updateRevision']

    kube.kubectl('set', 'image', 'statefulset/db', 'nginx=nginx:1.26', '-n', namespace)
    rollout_status(kube, namespace, 'statefulset/db')
    sts = kube.json('statefulset', 'db', '-n', namespace)
    revisions = controller_revisions(kube, namespace, sts)
    assert sorted(revisions) == [1, 2]
    assert sts['status']['updateRevision'] == revisions[2]['metadata']['name']
    assert sorted(history(kube, namespace, 'statefulset/db')) == [1, 2]
    assert 'nginx:1.25' in kube.kubectl('rollout', 'history', 'statefulset/db', '--revision=1', '-n', namespace).stdout
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=db')} == {'nginx:1.26'}

    undone = kube.kubectl('rollout', 'undo', 'statefulset/db', '-n', namespace)
    assert undone.stdout.strip() == 'statefulset.apps/db rolled back'
    rollout_status(kube, namespace, 'statefulset/db')
    sts = kube.json('statefulset', 'db', '-n', namespace)
    assert template_image(sts) == 'nginx:1.25'
    revisions = controller_revisions(kube, namespace, sts)
    # The revision equal to the old template is re-used under the next number.
    assert sorted(revisions) == [2, 3]
    assert sts['status']['updateRevision'] == sts['status']['currentRevision'] == revisions[3]['metadata']['name']
    assert sorted(history(kube, namespace, 'statefulset/db')) == [2, 3]
    pods = live_pods(kube, namespace, 'app=db')
    assert len(pods) == 2
    assert all(p['spec']['containers'][0]['image'] == 'nginx:1.25' and pod_ready(p)
               and p['metadata']['labels']['controller-revision-hash'] == revisions[3]['metadata']['name'] for p in pods)


def _daemon_nodes(kube):
    """Nodes a DaemonSet without tolerations runs on: no NoSchedule/NoExecute taints but the node.kubernetes.io/ ones it tolerates."""
    return {n['metadata']['name'] for n in kube.json('nodes')['items']
            if not any(t.get('effect') in ('NoSchedule', 'NoExecute') and not t['key'].startswith('node.kubernetes.io/') for t in n['spec'].get('taints', []))}


def test_daemonset_rollout_history_and_undo(kube, namespace):
    nodes = _daemon_nodes(kube)
    kube.apply(namespace, 'daemonset.yaml', name='agent', image='registry.k8s.io/pause:3.9')
    assert 'daemon set "agent" successfully rolled out' in rollout_status(kube, namespace, 'daemonset/agent')
    ds = kube.json('daemonset', 'agent', '-n', namespace)
    assert ds['metadata']['annotations']['deprecated.daemonset.template.generation'] == '1'
    assert ds['status']['desiredNumberScheduled'] == ds['status']['numberReady'] == ds['status']['numberAvailable'] == len(nodes)
    pods = live_pods(kube, namespace, 'app=agent')
    assert sorted(p['spec']['nodeName'] for p in pods) == sorted(nodes)
    assert all(owned_by(p, ds) and pod_ready(p) for p in pods)
    assert list(controller_revisions(kube, namespace, ds)) == [1]

    kube.kubectl('set', 'image', 'daemonset/agent', 'agent=registry.k8s.io/pause:3.10', '-n', namespace)
    assert 'daemon set "agent" successfully rolled out' in rollout_status(kube, namespace, 'daemonset/agent')
    ds = kube.json('daemonset', 'agent', '-n', namespace)
    assert sorted(controller_revisions(kube, namespace, ds)) == [1, 2]
    assert sorted(history(kube, namespace, 'daemonset/agent')) == [1, 2]
    assert {p['spec']['containers'][0]['image'] for p in live_pods(kube, namespace, 'app=agent')} == {'registry.k8s.io/pause:3.10'}

    undone = kube.kubectl('rollout', 'undo', 'daemonset/agent', '-n', namespace)
    assert undone.stdout.strip() == 'daemonset.apps/agent rolled back'
    rollout_status(kube, namespace, 'daemonset/agent')
    ds = kube.json('daemonset', 'agent', '-n', namespace)
    assert template_image(ds) == 'registry.k8s.io/pause:3.9'
    revisions = controller_revisions(kube, namespace, ds)
    assert sorted(revisions) == [2, 3]
    assert sorted(history(kube, namespace, 'daemonset/agent')) == [2, 3]
    pods = live_pods(kube, namespace, 'app=agent')
    assert len(pods) == len(nodes)
    assert all(p['spec']['containers'][0]['image'] == 'registry.k8s.io/pause:3.9'
               and p['metadata']['labels']['controller-revision-hash'] == revisions[3]['metadata']['labels']['controller-revision-hash'] for p in pods)
