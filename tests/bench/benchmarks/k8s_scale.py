"""k8s_workload_scale over 50 deployments in one play, against a `kubectl scale` loop, on kubesim."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bench.harness import Benchmark
from tests.sandbox.kubesim import start

COUNT = 50
PLAYBOOK = Path(__file__).resolve().parents[1] / 'playbooks' / 'scale_many.yml'


def _deployment(index):
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'd%d' % index, 'namespace': 'bench'},
        'spec': {'replicas': 2, 'selector': {'matchLabels': {'app': 'd%d' % index}},
                 'template': {'metadata': {'labels': {'app': 'd%d' % index}},
                              'spec': {'containers': [{'name': 'pause', 'image': 'registry.k8s.io/pause:3.10'}]}}},
    }


def benchmarks(stack, workdir):
    """kubesim with 50 two-replica deployments; each side scales all of them, ours to 3 and kubectl back to 2."""
    target = start(Path(workdir) / 'kubesim')
    stack.callback(target.close)
    env = dict(os.environ, KUBECONFIG=str(target.kubeconfig), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    items = [{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'bench'}}] + [_deployment(i) for i in range(1, COUNT + 1)]
    subprocess.run(['kubectl', 'apply', '-f', '-'], input=json.dumps(items[0]), env=env, text=True, check=True, stdout=subprocess.DEVNULL)
    # One List in one request; kubectl cannot validate the List kind itself, hence --validate=false.
    subprocess.run(['kubectl', 'apply', '--validate=false', '-f', '-'], input=json.dumps({'apiVersion': 'v1', 'kind': 'List', 'items': items[1:]}),
                   env=env, text=True, check=True, stdout=subprocess.DEVNULL)
    extra = json.dumps({'kubeconfig': str(target.kubeconfig), 'count': COUNT, 'replicas': 3})
    ours = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(PLAYBOOK), '-e', extra]
    raw = ['bash', '-c', 'for i in $(seq 1 %d); do kubectl scale deployment/d$i -n bench --replicas=2; done' % COUNT]
    return [Benchmark('scale 50 deployments', 'kubectl scale, one deployment at a time', ours, raw, env, rounds=3)]
