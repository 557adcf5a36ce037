"""playbooks/node_pressure.yml against kubesim: report a node's pressure and consumers, evict its BestEffort pods.

kubesim's kubelet itself evicts pods one per tick under node_pressure (BestEffort first), as a real kubelet does,
so the module and the kubelet race for the BestEffort pods: the tests assert what holds either way (the report,
no BestEffort pod left running on the node, only BestEffort pods evicted by the module, a second run unchanged).
"""

import json
from pathlib import Path

import pytest

from tests.integration.conftest import wait_for
from tests.integration.runner import run_playbook

pytestmark = [pytest.mark.kubernetes, pytest.mark.simulator_only]

PLAYBOOK = Path(__file__).resolve().parents[2] / 'playbooks' / 'node_pressure.yml'


def workload(namespace, name, node, resources=None, replicas=2):
    container = {'name': 'app', 'image': 'registry.k8s.io/pause:3.10'}
    if resources:
        container['resources'] = resources
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': namespace},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': name}},
                     'template': {'metadata': {'labels': {'app': name}},
                                  'spec': {'nodeSelector': {'kubernetes.io/hostname': node}, 'containers': [container]}}}}


def running_on(kube, namespace, node):
    pods = kube.json('pods', '-n', namespace)['items']
    return [p for p in pods if p['spec'].get('nodeName') == node and p['status'].get('phase') == 'Running']


def play(kube, tmp_path, node, check=False, **extra):
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=dict(kubeconfig=str(kube.kubeconfig), node_pressure_node=node, **extra),
                        check=check, env=kube.env)


def test_report_then_evict_the_best_effort_pods(kube, namespace, tmp_path):
    node = 'node-3'
    kube.kubectl('apply', '-f', '-', input=json.dumps(workload(namespace, 'besteffort', node)))
    kube.kubectl('apply', '-f', '-', input=json.dumps(workload(namespace, 'burstable', node, {'requests': {'cpu': '10m', 'memory': '16Mi'}}, 1)))
    kube.kubectl('rollout', 'status', '-n', namespace, 'deployment/besteffort', '--timeout=60s')
    kube.kubectl('rollout', 'status', '-n', namespace, 'deployment/burstable', '--timeout=60s')
    best_effort = sorted('%s/%s' % (namespace, p['metadata']['name']) for p in running_on(kube, namespace, node)
                         if p['metadata']['labels']['app'] == 'besteffort')

    report = play(kube, tmp_path, node, node_pressure_evict_best_effort=True)
    read = report.task('Read the node\'s pressure and consumers')
    assert read['pressure'] == [] and sorted(p for p in read['best_effort'] if p.startswith(namespace)) == best_effort
    assert report.task('Summarise the node pressure')['msg'][0] == 'node %s: no pressure' % node
    assert report.changed is False

    kube.admin.config(node_pressure={node: ['MemoryPressure']})
    try:
        wait_for(lambda: kube.json('node', node)['spec'].get('taints'), 30, 'the pressure taint')
        checked = play(kube, tmp_path, node, check=True, node_pressure_evict_best_effort=True)
        assert checked.task('Read the node\'s pressure and consumers')['pressure'][0]['type'] == 'MemoryPressure'
        relieved = play(kube, tmp_path, node, node_pressure_evict_best_effort=True).task('Evict the BestEffort pods')
        assert set(relieved['evicted']) <= set(relieved['best_effort'])
        wait_for(lambda: not [p for p in running_on(kube, namespace, node) if p['metadata']['labels']['app'] == 'besteffort'], 60,
                 'no BestEffort pod running on the node')
        again = play(kube, tmp_path, node, node_pressure_evict_best_effort=True).task('Evict the BestEffort pods')
        assert again['changed'] is False and again['evicted'] == []
    finally:
        kube.admin.config(node_pressure={})
