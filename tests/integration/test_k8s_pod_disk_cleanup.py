"""sre.runbooks.k8s_pod_disk_cleanup against the API under test.

kubesim has no container runtime and refuses pods/exec, so what runs here is everything up to the exec: the rules
checked before connecting (a dangerous root is refused without touching the cluster), the pod and container looked
up, the scanner command built inside the real module (AnsiballZ), and the exec refusal reported as a clear failure.
The scanner itself is proven in tests/unit/plugins/module_utils/storage/test_plan.py, which runs the same command
with a local python3 in place of the container's.
"""

import json
from pathlib import Path

import pytest

from tests.integration.conftest import FAILED_TASK
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'pod_disk_cleanup.yml'
TASK = 'Clean the pod'


def clean(kube, tmp_path, namespace, check=False, expect_rc=FAILED_TASK, **extra):
    extra_vars = dict(dict(ns=namespace, kubeconfig=str(kube.kubeconfig), pod='db'), **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc).task(TASK)


def test_dangerous_roots_are_refused_before_connecting(kube, namespace, tmp_path):
    refused = clean(kube, tmp_path, namespace, roots=['/tmp', '/etc'], kubeconfig='/nonexistent/kubeconfig')
    assert 'root /etc' in refused['msg'] and 'never cleaned' in refused['msg']


def test_a_missing_pod_is_named(kube, namespace, tmp_path):
    missing = clean(kube, tmp_path, namespace, roots=['/tmp'])
    assert missing['msg'] == 'Failed to clean pod %s/db: it does not exist' % namespace


@pytest.mark.simulator_only
def test_kubesim_refuses_the_exec_and_the_module_says_so(kube, namespace, tmp_path):
    kube.kubectl('apply', '-f', '-', input=json.dumps({
        'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'db', 'namespace': namespace},
        'spec': {'containers': [{'name': 'db', 'image': 'registry.k8s.io/pause:3.10'}]}}))
    kube.kubectl('wait', '-n', namespace, '--for=condition=Ready', 'pod/db', '--timeout=60s')
    for check in (True, False):
        failed = clean(kube, tmp_path, namespace, check=check, roots=['/tmp', '/var/log/omendb'], patterns=['*.log.old'])
        assert failed['msg'].startswith('Failed to exec the cleanup scanner in pod %s/db container db' % namespace), failed['msg']
        assert 'pods/exec is not supported by kubesim' in failed['msg']
