"""Draining a node with 100 pods: sre.runbooks.node_drain (k8s_node_drain) against `kubectl drain`, on kubesim.

Both sides drain node-1 of the same 100 pods (one Deployment, no disruption budget, so the
comparison is the eviction mechanics, not back-off policy). `kubectl drain` returns when the
pods are gone; ours also waits until their replacements are Ready on the other nodes, as it
does in production. `prepare` (untimed) puts the 100 pods back on node-1: uncordon it, cordon
the others, delete the pods elsewhere so the ReplicaSet recreates them on node-1, wait for
all 100 Ready there, uncordon the others.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bench.harness import Benchmark
from tests.sandbox.kubesim import start

PODS = 100
NODE = 'node-1'
OTHERS = 'node-2 node-3'
PLAYBOOK = Path(__file__).resolve().parents[3] / 'playbooks' / 'node_drain.yml'

PREPARE = r'''
set -e
kubectl uncordon {node} >/dev/null
kubectl cordon {others} >/dev/null
kubectl delete pods -n bench --field-selector spec.nodeName!={node} --wait=false >/dev/null
for i in $(seq 1 600); do
  ready=$(kubectl get pods -n bench --field-selector spec.nodeName={node} \
          -o jsonpath='{{range .items[*]}}{{.status.conditions[?(@.type=="Ready")].status}}{{"\n"}}{{end}}' | grep -c True || true)
  [ "$ready" -ge {pods} ] && break
  sleep 0.2
done
[ "$ready" -ge {pods} ] || {{ echo "only $ready of {pods} pods Ready on {node}"; exit 1; }}
kubectl uncordon {others} >/dev/null
'''.format(node=NODE, others=OTHERS, pods=PODS)


def _deployment():
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'many', 'namespace': 'bench'},
        'spec': {'replicas': PODS, 'selector': {'matchLabels': {'app': 'many'}},
                 'template': {'metadata': {'labels': {'app': 'many'}},
                              'spec': {'terminationGracePeriodSeconds': 0,
                                       'containers': [{'name': 'pause', 'image': 'registry.k8s.io/pause:3.10',
                                                       'resources': {'requests': {'cpu': '1m', 'memory': '1Mi'}}}]}}},
    }


def benchmarks(stack, workdir):
    """kubesim with 100 pods of one Deployment on node-1; each side drains node-1."""
    target = start(Path(workdir) / 'kubesim-drain')
    stack.callback(target.close)
    env = dict(os.environ, KUBECONFIG=str(target.kubeconfig), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')

    def kubectl(*args, data=None):
        subprocess.run(['kubectl', *args], input=data, env=env, text=True, check=True, stdout=subprocess.DEVNULL)

    kubectl('apply', '-f', '-', data=json.dumps({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'bench'}}))
    kubectl('cordon', *OTHERS.split())
    kubectl('apply', '-f', '-', data=json.dumps(_deployment()))
    kubectl('rollout', 'status', 'deployment/many', '-n', 'bench', '--timeout=300s')
    kubectl('uncordon', *OTHERS.split())
    extra = json.dumps({'kubeconfig': str(target.kubeconfig), 'node_drain_name': NODE})
    ours = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(PLAYBOOK), '-e', extra]
    raw = ['kubectl', 'drain', NODE, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=300s']
    return [Benchmark('drain a node of 100 pods', 'kubectl drain --ignore-daemonsets --delete-emptydir-data', ours, raw, env,
                      rounds=3, prepare=['bash', '-c', PREPARE])]
