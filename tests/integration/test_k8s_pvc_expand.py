"""sre.runbooks.k8s_pvc_expand through ansible-playbook against the API under test (kubesim's volume controller, or a cluster).

Check mode changes nothing; the real run waits through Resizing and FileSystemResizePending until the capacity is the
new size; a second run changes nothing; a class without allowVolumeExpansion and a shrink are refused with nothing
changed. The claim is read back with kubectl.
"""

import json
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import FAILED_TASK, wait_for
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'pvc_expand.yml'
TASK = 'Expand the claim'


def expand(kube, tmp_path, namespace, claim, size, check=False, expect_rc=0, **extra):
    extra_vars = dict(ns=namespace, kubeconfig=str(kube.kubeconfig), claim=claim, size=size, **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, diff=True, env=kube.env, expect_rc=expect_rc)


def storage_class(kube, expandable):
    name = 'sre-%s-%s' % ('grow' if expandable else 'fixed', uuid.uuid4().hex[:6])
    body = {'apiVersion': 'storage.k8s.io/v1', 'kind': 'StorageClass', 'metadata': {'name': name},
            'provisioner': 'rancher.io/local-path', 'reclaimPolicy': 'Delete', 'volumeBindingMode': 'Immediate'}
    if expandable:
        body['allowVolumeExpansion'] = True
    kube.kubectl('apply', '-f', '-', input=json.dumps(body))
    return name


def bound_claim(kube, namespace, class_name, size='1Gi', with_pod=True):
    items = [{'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim', 'metadata': {'name': 'data', 'namespace': namespace},
              'spec': {'storageClassName': class_name, 'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': size}}}}]
    if with_pod:
        items.append({'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'db', 'namespace': namespace},
                      'spec': {'containers': [{'name': 'db', 'image': 'registry.k8s.io/pause:3.10'}],
                               'volumes': [{'name': 'data', 'persistentVolumeClaim': {'claimName': 'data'}}]}})
    for item in items:
        kube.kubectl('apply', '-f', '-', input=json.dumps(item))
    wait_for(lambda: claim(kube, namespace).get('status', {}).get('phase') == 'Bound', 60, 'the claim bound')
    if with_pod:
        kube.kubectl('wait', '-n', namespace, '--for=condition=Ready', 'pod/db', '--timeout=60s')


def claim(kube, namespace):
    return kube.json('pvc', 'data', '-n', namespace)


@pytest.mark.simulator_only
def test_expand_check_real_and_again(kube, namespace, tmp_path):
    class_name = storage_class(kube, expandable=True)
    try:
        bound_claim(kube, namespace, class_name)
        checked = expand(kube, tmp_path, namespace, 'data', '2Gi', check=True).task(TASK)
        assert checked['changed'] is True and checked['actions'] == ['expand PersistentVolumeClaim %s/data from 1Gi to 2Gi' % namespace]
        assert claim(kube, namespace)['spec']['resources']['requests']['storage'] == '1Gi'

        done = expand(kube, tmp_path, namespace, 'data', '2Gi').task(TASK)
        assert done['changed'] is True and done['claim_after']['state'] == 'done' and done['claim_after']['capacity'] == '2Gi'
        assert done['claim_before']['capacity'] == '1Gi'
        assert set(done['stages']) <= {'Resizing', 'FileSystemResizePending'}
        now = claim(kube, namespace)
        assert now['status']['capacity']['storage'] == '2Gi' and now['spec']['resources']['requests']['storage'] == '2Gi'
        reasons = [e['reason'] for e in kube.json('events', '-n', namespace)['items'] if e['involvedObject']['name'] == 'data']
        assert {'Resizing', 'FileSystemResizeRequired', 'FileSystemResizeSuccessful'} <= set(reasons)

        again = expand(kube, tmp_path, namespace, 'data', '2Gi').task(TASK)
        assert again['changed'] is False and again['actions'] == [] and again['claim_after']['state'] == 'done'

        shrink = expand(kube, tmp_path, namespace, 'data', '1Gi', expect_rc=FAILED_TASK).task(TASK)
        assert 'never shrunk' in shrink['msg']
    finally:
        kube.kubectl('delete', 'storageclass', class_name, '--ignore-not-found')


@pytest.mark.simulator_only
def test_non_expandable_class_is_refused_and_the_apiserver_agrees(kube, namespace, tmp_path):
    class_name = storage_class(kube, expandable=False)
    try:
        bound_claim(kube, namespace, class_name, with_pod=False)
        for check in (True, False):
            refused = expand(kube, tmp_path, namespace, 'data', '5Gi', check=check, expect_rc=FAILED_TASK).task(TASK)
            assert 'does not allow volume expansion' in refused['msg'] and refused['changed'] is False
        assert claim(kube, namespace)['spec']['resources']['requests']['storage'] == '1Gi'
        # What the apiserver itself answers when asked anyway (kubectl patch, as the runbook does).
        direct = kube.kubectl('patch', 'pvc', 'data', '-n', namespace, '-p', '{"spec":{"resources":{"requests":{"storage":"5Gi"}}}}', check=False)
        assert direct.returncode != 0
        assert ('only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize'
                in direct.stderr)
    finally:
        kube.kubectl('delete', 'storageclass', class_name, '--ignore-not-found')


@pytest.mark.simulator_only
def test_file_system_resize_pending_without_a_pod_times_out_saying_so(kube, namespace, tmp_path):
    class_name = storage_class(kube, expandable=True)
    try:
        bound_claim(kube, namespace, class_name, with_pod=False)
        stuck = expand(kube, tmp_path, namespace, 'data', '3Gi', wait_timeout=3, expect_rc=FAILED_TASK).task(TASK)
        assert 'file_system_resize_pending' in stuck['msg'] and 'when a pod mounts the claim' in stuck['msg']
    finally:
        kube.kubectl('delete', 'storageclass', class_name, '--ignore-not-found')
