"""metrics.k8s.io/v1beta1, as metrics-server serves it for `kubectl top`.

PodMetrics for Running pods: per running container the usage from the pod's
kubesim.io/cpu-usage and kubesim.io/memory-usage annotations ("250m", "300Mi"; or
"web=250m,sidecar=10m" per container), else small deterministic figures. NodeMetrics
for Ready nodes: the node's pods plus what the system itself uses.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..config import CPU_USAGE_ANNOTATION, MEMORY_USAGE_ANNOTATION
from ..quantity import QuantityError, format_cpu, format_memory_approx, parse_cpu, parse_memory
from .common import Obj, name_of, phase, stamp
from .faults import annotation_for
from .placement import node_is_ready

API_VERSION = 'metrics.k8s.io/v1beta1'
WINDOW = '30s'
# What a node's system daemons and kubelet use on top of its pods.
NODE_BASE_CPU = 0.12
NODE_BASE_MEMORY = 640 * 2 ** 20


def _default_usage(pod: Obj, container: str) -> tuple[float, float]:
    digest = int(hashlib.sha256(f'{pod["metadata"].get("uid")}/{container}'.encode()).hexdigest()[:8], 16)
    return (1 + digest % 9) / 1000, (12 + (digest >> 8) % 40) * 2 ** 20


def container_usage(pod: Obj, container: str) -> tuple[float, float]:
    """(cores, bytes) a container uses."""
    cpu, memory = _default_usage(pod, container)
    cpu_text = annotation_for(pod, CPU_USAGE_ANNOTATION, container)
    memory_text = annotation_for(pod, MEMORY_USAGE_ANNOTATION, container)
    try:
        if cpu_text:
            cpu = parse_cpu(cpu_text)
    except QuantityError:
        pass
    try:
        if memory_text:
            memory = parse_memory(memory_text)
    except QuantityError:
        pass
    return cpu, memory


def _running_containers(pod: Obj) -> list[str]:
    return [cs['name'] for cs in (pod.get('status') or {}).get('containerStatuses') or () if (cs.get('state') or {}).get('running')]


def pod_metrics(sim: Any, namespace: str | None, name: str | None) -> list[dict]:
    """PodMetrics of Running pods (one namespace or all; one name or all)."""
    now = stamp(sim.clock())
    result = []
    for pod in sim.store.items(sim.registry.get('v1', 'Pod'), namespace or None):
        if name is not None and name_of(pod) != name:
            continue
        if phase(pod) != 'Running':
            continue
        containers = []
        for container in _running_containers(pod):
            cpu, memory = container_usage(pod, container)
            containers.append({'name': container, 'usage': {'cpu': format_cpu(cpu), 'memory': format_memory_approx(memory)}})
        meta: Obj = {'name': name_of(pod), 'namespace': pod['metadata'].get('namespace'), 'creationTimestamp': now}
        if pod['metadata'].get('labels'):
            meta['labels'] = dict(pod['metadata']['labels'])
        result.append({'kind': 'PodMetrics', 'apiVersion': API_VERSION, 'metadata': meta, 'timestamp': now, 'window': WINDOW,
                       'containers': containers})
    return result


def node_metrics(sim: Any, name: str | None) -> list[dict]:
    """NodeMetrics of Ready nodes (one name or all)."""
    now = stamp(sim.clock())
    usage: dict[str, list[float]] = {}
    for pod in sim.store.items(sim.registry.get('v1', 'Pod')):
        node = (pod.get('spec') or {}).get('nodeName')
        if not node or phase(pod) != 'Running':
            continue
        total = usage.setdefault(node, [0.0, 0.0])
        for container in _running_containers(pod):
            cpu, memory = container_usage(pod, container)
            total[0] += cpu
            total[1] += memory
    result = []
    for node in sim.store.items(sim.registry.get('v1', 'Node')):
        if name is not None and name_of(node) != name:
            continue
        if not node_is_ready(node):
            continue
        cpu, memory = usage.get(name_of(node), [0.0, 0.0])
        meta: Obj = {'name': name_of(node), 'creationTimestamp': now}
        if node['metadata'].get('labels'):
            meta['labels'] = dict(node['metadata']['labels'])
        result.append({'kind': 'NodeMetrics', 'apiVersion': API_VERSION, 'metadata': meta, 'timestamp': now, 'window': WINDOW,
                       'usage': {'cpu': format_cpu(NODE_BASE_CPU + cpu), 'memory': format_memory_approx(NODE_BASE_MEMORY + memory)}})
    return result
