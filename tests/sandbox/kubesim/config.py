"""The knobs a test can turn: timings, fault injection, metrics. Changed at run time through /kubesim/config."""

from __future__ import annotations

import dataclasses
from typing import Any

# Faults a pod template can ask for, with the annotation `kubesim.io/fault: <name>` on the
# pod (template) or as a dash-separated word in an image tag (`shop:v2-crashloop`):
#   crashloop    the container exits 1 after starting; CrashLoopBackOff, restartCount rising, previous logs
#   never-ready  the container runs but its readiness probe never passes
#   oom          the container is OOMKilled (exit 137) once it runs (also when kubesim.io/memory-usage > limit)
#   image-pull   ErrImagePull, then ImagePullBackOff
POD_FAULTS = ('crashloop', 'never-ready', 'oom', 'image-pull')
FAULT_ANNOTATION = 'kubesim.io/fault'
# Memory a container uses (a quantity, e.g. "300Mi"); above its limit it is OOMKilled. Also fed to metrics.k8s.io.
MEMORY_USAGE_ANNOTATION = 'kubesim.io/memory-usage'
# CPU a container uses (e.g. "250m"), for metrics.k8s.io.
CPU_USAGE_ANNOTATION = 'kubesim.io/cpu-usage'
# A memory leak: memory the container adds per second of uptime (e.g. "20Mi"), on top of kubesim.io/memory-usage.
# Above its memory limit the container is OOMKilled; a restart (of the container or the pod) starts it from the bottom again.
MEMORY_LEAK_ANNOTATION = 'kubesim.io/memory-leak'
# A load shared by the pods of one controller (e.g. "2" cores): each running pod of the same owner that carries the
# annotation uses load / their number of CPU in metrics.k8s.io, so scaling out lowers every pod's CPU.
CPU_LOAD_ANNOTATION = 'kubesim.io/cpu-load'


@dataclasses.dataclass
class Config:
    """Simulator settings; every field can be changed at run time with PATCH /kubesim/config."""

    flavour: str = ''  # 'openshift' also serves apps.openshift.io/v1 DeploymentConfigs
    # The nodes a fresh (or reset) simulator starts with: node-1 .. node-N.
    nodes: int = 3
    node_cpu: str = '4'
    node_memory: str = '8Gi'
    node_pods: int = 110
    kubelet_version: str = 'v1.32.0'
    # Controller loop period.
    tick_seconds: float = 0.05
    # Pod lifecycle: Pending -> Running after start, Ready after ready more seconds.
    pod_start_seconds: float = 0.2
    pod_ready_seconds: float = 0.2
    # A crash-looping container restarts after this back-off (the real one starts at 10 s).
    crashloop_backoff_seconds: float = 0.5
    # API faults: the share of requests (0..1) answered with one of api_fault_codes, and
    # added latency; only for paths starting with api_fault_path_prefix (kubesim's own /kubesim never).
    api_fault_rate: float = 0.0
    api_fault_codes: tuple[int, ...] = (500, 503, 429)
    api_fault_path_prefix: str = '/'
    api_latency_seconds: float = 0.0
    # HPA: the metric value the HPA controller sees, per "namespace/hpa-name", as a percentage
    # of the target (e.g. 150 means 1.5 x the target utilisation).
    hpa_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    # Node conditions forced on by tests: {"node-name": ["DiskPressure", "MemoryPressure"]}.
    node_pressure: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown fields raise KeyError naming them."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise KeyError(', '.join(unknown))
        for name, value in changes.items():
            if name == 'api_fault_codes':
                value = tuple(value)
            elif isinstance(fields[name].default, float):
                value = float(value)  # JSON has one number type: 60 means 60.0 here
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data."""
        return dataclasses.asdict(self)
