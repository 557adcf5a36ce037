"""metrics.k8s.io/v1beta1, as metrics-server serves it for `kubectl top`.

PodMetrics for Running pods: per running container the usage from the pod's
kubesim.io/cpu-usage and kubesim.io/memory-usage annotations ("250m", "300Mi"; or
"web=250m,sidecar=10m" per container), else small deterministic figures. A container
with kubesim.io/memory-leak adds the leak times its uptime to its memory; one with
kubesim.io/cpu-load ("2") shares that CPU with the other running pods of its owner
carrying the same load (so scaling out lowers each pod's CPU). NodeMetrics for Ready
nodes: the node's pods plus what the system itself uses.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..config import CPU_LOAD_ANNOTATION, CPU_USAGE_ANNOTATION, MEMORY_USAGE_ANNOTATION
from ..quantity import QuantityError, format_cpu, format_memory_approx, parse_cpu, parse_memory
from .common import Obj, controller_of, name_of, parse_time, phase, stamp
from .faults import annotation_for, leaked_memory
from .placement import node_is_ready

API_VERSION = 'metrics.k8s.io/v1beta1'
WINDOW = '30s'
# What a node's system daemons and kubelet use on top of its pods.
NODE_BASE_CPU = 0.12
NODE_BASE_MEMORY = 640 * 2 ** 20


def _default_usage(pod: Obj, container: str) -> tuple[float, float]:
    digest = int(hashlib.sha256(f'{pod["metadata"].get("uid")}/{container}'.encode()).hexdigest()[:8], 16)
    return (1 + digest % 9) / 1000, (12 + (digest >> 8) % 40) * 2 ** 20


def _load_key(pod: Obj, container: str) -> tuple[str, str, str, str] | None:
    """What a container's kubesim.io/cpu-load is shared by: its namespace, owner (or pod), name and load value."""
    load = annotation_for(pod, CPU_LOAD_ANNOTATION, container)
    if not load:
        return None
    owner = controller_of(pod)
    return (pod['metadata'].get('namespace') or '', owner['uid'] if owner else f'pod/{name_of(pod)}', container, load)


def load_sharers(pods: list[Obj]) -> dict[tuple[str, str, str, str], int]:
    """How many running containers share each kubesim.io/cpu-load (see _load_key)."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for pod in pods:
        if phase(pod) != 'Running':
            continue
        for container in _running_containers(pod):
            key = _load_key(pod, container)
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
    return counts


def _started(pod: Obj, container: str) -> float | None:
    for cs in (pod.get('status') or {}).get('containerStatuses') or ():
        if cs.get('name') == container:
            return parse_time(((cs.get('state') or {}).get('running') or {}).get('startedAt'))
    return None


def container_usage(pod: Obj, container: str, now: float | None = None,
                    sharers: dict[tuple[str, str, str, str], int] | None = None) -> tuple[float, float]:
    """(cores, bytes) a container uses at `now` (the leak counts from its start; the cpu-load is split among `sharers`)."""
    cpu, memory = _default_usage(pod, container)
    key = _load_key(pod, container)
    if key is not None:
        try:
            cpu = parse_cpu(key[3]) / max((sharers or {}).get(key, 1), 1)
        except QuantityError:
            pass
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
    started = _started(pod, container)
    if now is not None and started is not None:
        leaked = leaked_memory(pod, container, now - started)
        if leaked is not None:
            memory = leaked
    return cpu, memory


def _running_containers(pod: Obj) -> list[str]:
    return [cs['name'] for cs in (pod.get('status') or {}).get('containerStatuses') or () if (cs.get('state') or {}).get('running')]


def pod_metrics(sim: Any, namespace: str | None, name: str | None) -> list[dict]:
    """PodMetrics of Running pods (one namespace or all; one name or all)."""
    clock = float(sim.clock())
    now = stamp(clock)
    result = []
    all_pods = list(sim.store.items(sim.registry.get('v1', 'Pod'), namespace or None))
    sharers = load_sharers(all_pods)
    for pod in all_pods:
        if name is not None and name_of(pod) != name:
            continue
        if phase(pod) != 'Running':
            continue
        containers = []
        for container in _running_containers(pod):
            cpu, memory = container_usage(pod, container, clock, sharers)
            containers.append({'name': container, 'usage': {'cpu': format_cpu(cpu), 'memory': format_memory_approx(memory)}})
        meta: Obj = {'name': name_of(pod), 'namespace': pod['metadata'].get('namespace'), 'creationTimestamp': now}
        if pod['metadata'].get('labels'):
            meta['labels'] = dict(pod['metadata']['labels'])
        result.append({'kind': 'PodMetrics', 'apiVersion': API_VERSION, 'metadata': meta, 'timestamp': now, 'window': WINDOW,
                       'containers': containers})
    return result


def node_metrics(sim: Any, name: str | None) -> list[dict]:
    """NodeMetrics of Ready nodes (one name or all)."""
    clock = float(sim.clock())
    now = stamp(clock)
    usage: dict[str, list[float]] = {}
    all_pods = list(sim.store.items(sim.registry.get('v1', 'Pod')))
    sharers = load_sharers(all_pods)
    for pod in all_pods:
        node = (pod.get('spec') or {}).get('nodeName')
        if not node or phase(pod) != 'Running':
            continue
        total = usage.setdefault(node, [0.0, 0.0])
        for container in _running_containers(pod):
            cpu, memory = container_usage(pod, container, clock, sharers)
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
