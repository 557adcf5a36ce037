"""kubesim's controllers: what kube-controller-manager, kube-scheduler and the kubelets do, on the simulator's store.

`build(sim)` gives them in tick order (the simulator calls each one's reconcile()
every config.tick_seconds, on one asyncio loop); `nodes.seed_nodes(sim)` creates
the nodes of a fresh simulator. The HTTP layer calls:

- `defaults.apply_defaults(kind, obj)` before storing on create, replace and patch;
- `disruption.evict(sim, namespace, pod_name, eviction)` for pods/eviction;
- `kubelet.pod_log(sim, namespace, pod_name, container, previous, tail_lines)` for pods/log;
- `metrics.pod_metrics(sim, namespace, name)` and `metrics.node_metrics(sim, name)` for metrics.k8s.io.
"""

from __future__ import annotations

from typing import Any

from . import (daemonsets, defaults, deployments, disruption, events, hpa, kubelet, metrics, nodes, openshift, replicasets, scheduler,
               statefulsets, volumes)
from .defaults import apply_defaults
from .deployments import DeploymentController
from .disruption import DisruptionController, evict
from .hpa import HPAController
from .kubelet import Kubelet, pod_log
from .metrics import node_metrics, pod_metrics
from .nodes import NodeController, seed_nodes
from .replicasets import ReplicaSetController, ReplicationManager
from .scheduler import Scheduler

__all__ = [
    'build', 'apply_defaults', 'evict', 'pod_log', 'pod_metrics', 'node_metrics', 'seed_nodes',
    'NodeController', 'Scheduler', 'Kubelet', 'DeploymentController', 'ReplicaSetController', 'ReplicationManager',
    'HPAController', 'DisruptionController',
    'daemonsets', 'defaults', 'deployments', 'disruption', 'events', 'hpa', 'kubelet', 'metrics', 'nodes', 'openshift', 'replicasets',
    'scheduler', 'statefulsets', 'volumes',
]


def build(sim: Any) -> list[Any]:
    """The controllers in tick order: nodes, scheduler, kubelet, deployments, replica sets (and replication controllers),
    stateful sets, daemon sets, HPA, disruption budgets, volumes (claims bound and expanded), and DeploymentConfigs with the openshift flavour."""
    controllers: list[Any] = [NodeController(sim), Scheduler(sim), Kubelet(sim), DeploymentController(sim)]
    controllers += replicasets.build(sim)
    controllers += statefulsets.build(sim)
    controllers += daemonsets.build(sim)
    controllers += [HPAController(sim), DisruptionController(sim)]
    controllers += volumes.build(sim)
    if getattr(sim.config, 'flavour', '') == 'openshift':
        controllers += openshift.build(sim)
    return controllers
