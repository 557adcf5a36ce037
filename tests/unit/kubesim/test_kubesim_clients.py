"""The unmodified clients against kubesim in its own process: kubectl 1.32 and the kubernetes Python dynamic client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.dynamic import DynamicClient

from tests.engines.kube import KubeTarget
from tests.sandbox import kubesim

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""
NODE_AND_POD = """\
apiVersion: v1
kind: Node
metadata: {name: node-drain}
---
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: default}
spec:
  nodeName: node-drain
  containers: [{name: app, image: nginx}]
"""


@pytest.fixture(scope='module', name='target')
def target_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeTarget]:
    """kubesim without controllers: objects stay exactly as the clients leave them."""
    target = kubesim.start(tmp_path_factory.mktemp('kubesim'), controllers=False)
    yield target
    target.close()


@pytest.fixture(name='admin')
def admin_fixture(target: KubeTarget) -> kubesim.KubesimAdmin:
    """The admin client, with the simulator reset for each test."""
    admin = kubesim.KubesimAdmin.from_kubeconfig(target.kubeconfig)
    admin.reset()
    return admin


def kubectl(target: KubeTarget, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run kubectl against the target (its discovery cache next to the kubeconfig); assert its exit status."""
    binary = shutil.which('kubectl')
    if binary is None:
        pytest.fail('kubectl is not installed: run `make setup` (it installs the Debian package)', pytrace=False)
    env = dict(os.environ, **target.env(), KUBECACHEDIR=str(target.kubeconfig.parent / 'kube-cache'))
    result = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert (result.returncode == 0) == ok, f'kubectl {" ".join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}'
    return result


def get_json(target: KubeTarget, *args: str) -> Any:
    return json.loads(kubectl(target, 'get', *args, '-o', 'json').stdout)


@pytest.mark.usefixtures('admin')
def test_kubectl_version_and_api_resources(target: KubeTarget) -> None:
    version = json.loads(kubectl(target, 'version', '-o', 'json').stdout)
    assert version['serverVersion']['gitVersion'] == 'v1.32.0'
    resources = kubectl(target, 'api-resources').stdout
    rows = [line.split() for line in resources.splitlines()[1:]]
    assert ['deployments', 'deploy', 'apps/v1', 'true', 'Deployment'] in rows
    assert ['nodes', 'no', 'v1', 'false', 'Node'] in rows
    assert ['nodes', 'metrics.k8s.io/v1beta1', 'false', 'NodeMetrics'] in rows
    assert 'pods' in kubectl(target, 'api-resources', '--api-group=metrics.k8s.io', '-o', 'name').stdout


@pytest.mark.usefixtures('admin')
def test_kubectl_deployment_lifecycle(target: KubeTarget) -> None:
    assert 'deployment.apps/web created' in kubectl(target, 'apply', '-f', '-', stdin=DEPLOYMENT).stdout
    assert 'deployment.apps/web unchanged' in kubectl(target, 'apply', '-f', '-', stdin=DEPLOYMENT).stdout
    deploy = get_json(target, 'deploy', 'web')
    assert deploy['spec']['replicas'] == 1 and 'kubectl.kubernetes.io/last-applied-configuration' in deploy['metadata']['annotations']
    table = kubectl(target, 'get', 'deploy').stdout.splitlines()
    assert table[0].split() == ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'] and table[1].split()[:2] == ['web', '0/1']

    kubectl(target, 'scale', 'deploy', 'web', '--replicas=3')
    assert get_json(target, 'deploy', 'web')['spec']['replicas'] == 3
    kubectl(target, 'apply', '-f', '-', stdin=DEPLOYMENT.replace('nginx:1.27', 'nginx:1.28'))
    deploy = get_json(target, 'deploy', 'web')
    assert deploy['spec']['template']['spec']['containers'][0]['image'] == 'nginx:1.28' and deploy['spec']['replicas'] == 1

    kubectl(target, 'patch', 'deploy', 'web', '--type', 'merge', '-p', '{"metadata": {"labels": {"tier": "front"}}}')
    again = kubectl(target, 'patch', 'deploy', 'web', '--type', 'merge', '-p', '{"metadata": {"labels": {"tier": "front"}}}')
    assert again.stdout.strip() == 'deployment.apps/web patched (no change)'
    kubectl(target, 'patch', 'deploy', 'web', '--type', 'json', '-p', '[{"op": "replace", "path": "/spec/replicas", "value": 2}]')
    kubectl(target, 'patch', 'deploy', 'web', '--type', 'strategic', '-p',
            '{"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}}')
    deploy = get_json(target, 'deploy', 'web')
    assert deploy['metadata']['labels'] == {'app': 'web', 'tier': 'front'} and deploy['spec']['replicas'] == 2
    assert [c['name'] for c in deploy['spec']['template']['spec']['containers']] == ['sidecar', 'web']
    failed = kubectl(target, 'patch', 'deploy', 'web', '--type', 'json', '-p', '[{"op": "test", "path": "/spec/replicas", "value": 7}]', ok=False)
    assert 'The Deployment "web" is invalid' in failed.stderr

    assert 'deployment.apps "web" deleted' in kubectl(target, 'delete', 'deploy', 'web').stdout
    assert 'NotFound' in kubectl(target, 'get', 'deploy', 'web', ok=False).stderr


@pytest.mark.usefixtures('admin')
def test_kubectl_create_deployment_is_refused_with_a_hint(target: KubeTarget) -> None:
    result = kubectl(target, 'create', 'deployment', 'x', '--image=nginx', ok=False)
    assert 'the simulator only accepts JSON bodies' in result.stderr and 'kubectl apply -f' in result.stderr


@pytest.mark.usefixtures('admin')
def test_kubectl_drain_evicts_through_the_eviction_subresource(target: KubeTarget) -> None:
    kubectl(target, 'apply', '-f', '-', stdin=NODE_AND_POD)
    result = kubectl(target, 'drain', 'node-drain', '--force', '--timeout=20s')
    assert 'pod/lonely evicted' in result.stdout
    assert get_json(target, 'node', 'node-drain')['spec']['unschedulable'] is True
    assert get_json(target, 'pods')['items'] == []


@pytest.mark.usefixtures('admin')
def test_dynamic_client(target: KubeTarget, tmp_path: Path) -> None:
    api_client = kubernetes.config.new_client_from_config(config_file=str(target.kubeconfig))
    client = DynamicClient(api_client, cache_file=str(tmp_path / 'discovery.json'))
    deployments = client.resources.get(api_version='apps/v1', kind='Deployment')
    body = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'dyn', 'labels': {'app': 'dyn'}},
            'spec': {'replicas': 1, 'selector': {'matchLabels': {'app': 'dyn'}},
                     'template': {'metadata': {'labels': {'app': 'dyn'}}, 'spec': {'containers': [{'name': 'app', 'image': 'nginx'}]}}}}
    created = deployments.create(body=body, namespace='default')
    assert deployments.get(name='dyn', namespace='default').metadata.uid == created.metadata.uid
    patched = deployments.patch(name='dyn', namespace='default', body={'spec': {'replicas': 2}}, content_type='application/merge-patch+json')
    assert patched.spec.replicas == 2

    events: list[tuple[str, str, int]] = []

    def watch() -> None:
        for event in deployments.watch(namespace='default', timeout=2):
            events.append((event['type'], event['object'].metadata.name, event['object'].spec.replicas))

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    deployments.patch(name='dyn', namespace='default', body={'spec': {'replicas': 3}}, content_type='application/merge-patch+json')
    deployments.delete(name='dyn', namespace='default')
    watcher.join(timeout=10)
    assert events == [('ADDED', 'dyn', 2), ('MODIFIED', 'dyn', 3), ('DELETED', 'dyn', 3)]
    with pytest.raises(kubernetes.dynamic.exceptions.NotFoundError):
        deployments.get(name='dyn', namespace='default')


def test_admin_client_and_subprocess_lifecycle(tmp_path: Path) -> None:
    target = kubesim.start(tmp_path, flavour='openshift', controllers=False)
    try:
        admin = kubesim.KubesimAdmin.from_kubeconfig(target.kubeconfig)
        assert admin.config()['flavour'] == 'openshift'
        assert admin.config(api_latency_seconds=0.01)['api_latency_seconds'] == 0.01
        with pytest.raises(RuntimeError, match='unknown config fields: nope'):
            admin.config(nope=1)
        assert sorted(ns['metadata']['name'] for ns in admin.dump()['namespaces']) == ['default', 'kube-node-lease', 'kube-public', 'kube-system']
        assert admin.tick()['controllers'] == []
        assert (tmp_path / 'kubesim.log').exists() and target.source == 'kubesim'
        assert 'deploymentconfigs' in kubectl(target, 'api-resources', '--api-group=apps.openshift.io').stdout
    finally:
        target.close()
    with pytest.raises(RuntimeError):
        admin.reset()
