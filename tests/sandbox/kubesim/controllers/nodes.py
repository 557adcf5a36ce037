"""Nodes: seeding node-1..N, their conditions and taints (kubelet status + node lifecycle controller), pressure evictions.

config.node_pressure {"node-2": ["DiskPressure"]} turns a condition on. As in a real
cluster, the node lifecycle controller then taints the node
(node.kubernetes.io/disk-pressure:NoSchedule) and the kubelet's eviction manager
evicts the node's pods one at a time: phase Failed, reason Evicted, message
"The node was low on resource: ephemeral-storage. ...". "NotReady" in the list
makes the node NotReady (not-ready taints; its kubelet stops updating pods).
spec.unschedulable (kubectl cordon) adds node.kubernetes.io/unschedulable:NoSchedule.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..quantity import format_memory, parse_memory
from . import events
from .common import Controller, Obj, get_condition, is_active, modify, name_of, parse_time, qos_class, stamp, write_status
from .placement import (TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_NOT_READY, TAINT_PID_PRESSURE, TAINT_UNSCHEDULABLE,
                        internal_ip)

EPHEMERAL_STORAGE = '100Gi'
CONTAINER_RUNTIME = 'containerd://1.7.24'
KERNEL = '6.1.0-28-amd64'
OS_IMAGE = 'Debian GNU/Linux 12 (bookworm)'
# A heartbeat (lastHeartbeatTime) at most this often when nothing changes (the kubelet's nodeStatusReportFrequency is 5m).
HEARTBEAT_SECONDS = 60.0
PRESSURE_CONDITIONS = ('MemoryPressure', 'DiskPressure', 'PIDPressure')
# condition -> (True reason, True message, False reason, False message, taint, starved resource)
_CONDITIONS = {
    'MemoryPressure': ('KubeletHasInsufficientMemory', 'kubelet has insufficient memory available',
                       'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', TAINT_MEMORY_PRESSURE, 'memory'),
    'DiskPressure': ('KubeletHasDiskPressure', 'kubelet has disk pressure',
                     'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', TAINT_DISK_PRESSURE, 'ephemeral-storage'),
    'PIDPressure': ('KubeletHasInsufficientPID', 'kubelet has insufficient PID available',
                    'KubeletHasSufficientPID', 'kubelet has sufficient PID available', TAINT_PID_PRESSURE, 'pids'),
}
# The kubelet's node events when a condition flips: condition -> (event when True, event when False).
_CONDITION_EVENTS = {
    'MemoryPressure': ('NodeHasInsufficientMemory', 'NodeHasSufficientMemory'),
    'DiskPressure': ('NodeHasDiskPressure', 'NodeHasNoDiskPressure'),
    'PIDPressure': ('NodeHasInsufficientPID', 'NodeHasSufficientPID'),
    'Ready': ('NodeReady', 'NodeNotReady'),
}
SYSTEM_CRITICAL_PRIORITY = 2000000000


def node_name(index: int) -> str:
    """node-1, node-2, ..."""
    return f'node-{index}'


def node_index(node: Obj) -> int:
    """The number in node-N (its position for addresses and pod CIDRs); 0 for other names."""
    name = name_of(node)
    tail = name.rsplit('-', 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _uuid(seed: str) -> str:
    raw = _hex(seed, 32)
    return f'{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}'


def _conditions(now: str, pressure: set[str]) -> list[Obj]:
    result = []
    for type_ in PRESSURE_CONDITIONS:
        on = type_ in pressure
        true_reason, true_message, false_reason, false_message, _taint, _res = _CONDITIONS[type_]
        result.append({'type': type_, 'status': 'True' if on else 'False', 'lastHeartbeatTime': now, 'lastTransitionTime': now,
                       'reason': true_reason if on else false_reason, 'message': true_message if on else false_message})
    ready = 'NotReady' not in pressure
    result.append({'type': 'Ready', 'status': 'True' if ready else 'False', 'lastHeartbeatTime': now, 'lastTransitionTime': now,
                   'reason': 'KubeletReady' if ready else 'KubeletNotReady',
                   'message': 'kubelet is posting ready status' if ready else
                   'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady '
                   'message:Network plugin returns error: cni plugin not initialized'})
    return result


def node_object(sim: Any, index: int) -> Obj:
    """A Node as a kind worker's kubelet registers it."""
    cfg = sim.config
    name = node_name(index)
    now = stamp(sim.clock())
    resources = {'cpu': str(cfg.node_cpu), 'ephemeral-storage': EPHEMERAL_STORAGE, 'hugepages-1Gi': '0', 'hugepages-2Mi': '0',
                 'memory': str(cfg.node_memory), 'pods': str(cfg.node_pods)}
    cidr = f'10.244.{index}.0/24'
    return {
        'apiVersion': 'v1', 'kind': 'Node',
        'metadata': {
            'name': name,
            'labels': {'beta.kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
                       'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/worker': '',
                       'topology.kubernetes.io/zone': f'zone-{"abc"[(index - 1) % 3]}'},
            'annotations': {'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock',
                            'node.alpha.kubernetes.io/ttl': '0',
                            'volumes.kubernetes.io/controller-managed-attach-detach': 'true'},
        },
        'spec': {'podCIDR': cidr, 'podCIDRs': [cidr], 'providerID': f'kind://docker/kubesim/{name}'},
        'status': {
            'addresses': [{'address': f'172.18.0.{index + 1}', 'type': 'InternalIP'}, {'address': name, 'type': 'Hostname'}],
            'allocatable': dict(resources),
            'capacity': dict(resources),
            'conditions': _conditions(now, set(cfg.node_pressure.get(name, ()))),
            'daemonEndpoints': {'kubeletEndpoint': {'Port': 10250}},
            'nodeInfo': {'architecture': 'amd64', 'bootID': _uuid(f'boot/{name}'), 'containerRuntimeVersion': CONTAINER_RUNTIME,
                         'kernelVersion': KERNEL, 'kubeProxyVersion': cfg.kubelet_version, 'kubeletVersion': cfg.kubelet_version,
                         'machineID': _hex(f'machine/{name}', 32), 'operatingSystem': 'linux', 'osImage': OS_IMAGE,
                         'systemUUID': _uuid(f'system/{name}')},
        },
    }


def seed_nodes(sim: Any) -> None:
    """Create node-1..node-N (config.nodes); nodes that exist are left alone."""
    res = sim.registry.get('v1', 'Node')
    controllers = [c for c in getattr(sim, 'controllers', ()) if isinstance(c, NodeController)]
    for index in range(1, int(sim.config.nodes) + 1):
        name = node_name(index)
        if sim.store.find(res, None, name) is None:
            sim.store.create(res, node_object(sim, index))
            for controller in controllers:  # what the node was created with counts as applied
                controller.applied[name] = frozenset(sim.config.node_pressure.get(name, ()))


def eviction_message(node: Obj, resource: str) -> str:
    """What the eviction manager writes into an evicted pod's status.message (evictionMessage)."""
    message = f'The node was low on resource: {resource}. '
    if resource == 'ephemeral-storage':
        capacity = parse_memory(((node.get('status') or {}).get('capacity') or {}).get('ephemeral-storage') or EPHEMERAL_STORAGE)
        message += f'Threshold quantity: {format_memory(capacity * 0.1)}, available: {format_memory(capacity * 0.09)}. '
    elif resource == 'memory':
        message += 'Threshold quantity: 100Mi, available: 80Mi. '
    return message


class NodeController(Controller):
    """Node conditions from config.node_pressure, condition and cordon taints, and the kubelet's pressure evictions."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.applied: dict[str, frozenset[str]] = {}  # node -> the node_pressure entries last applied

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        nodes = self.res('v1', 'Node')
        self.each(list(self.store.items(nodes)), self.sync)

    def sync(self, node: Obj) -> None:
        """One node: conditions, taints, evictions."""
        name = name_of(node)
        wanted = set(self.config.node_pressure.get(name, ()))
        now = self.now()
        node = self._sync_kubelet_restart(node, wanted, now)
        node = self._sync_conditions(node, wanted, now)
        node = self._sync_taints(node)
        for type_ in PRESSURE_CONDITIONS:
            cond = get_condition(node.get('status'), type_)
            if cond is not None and cond.get('status') == 'True':
                self._evict_one(node, _CONDITIONS[type_][5])
                break

    def _sync_kubelet_restart(self, node: Obj, wanted: set[str], now: float) -> Obj:
        """A kubelet restart (Simulator.restart_kubelet): the node is NotReady until it ends, then the kubelet
        reports its (new) version and Ready again, with the kubelet's "Starting kubelet." event."""
        name = name_of(node)
        restart = getattr(self.sim, 'kubelet_restarts', {}).get(name)
        if restart is None:
            return node
        if now < restart['until']:
            wanted.add('NotReady')
            return node
        del self.sim.kubelet_restarts[name]
        status = dict(node.get('status') or {})
        info = dict(status.get('nodeInfo') or {})
        info.update({'kubeletVersion': restart['version'], 'kubeProxyVersion': restart['version']})
        status['nodeInfo'] = info
        node = write_status(self.sim, self.res('v1', 'Node'), node, status)
        events.record(self.sim, node, 'Normal', 'Starting', 'Starting kubelet.', 'kubelet', host=name)
        return node

    def _sync_conditions(self, node: Obj, wanted: set[str], now: float) -> Obj:
        """Conditions from config.node_pressure. A condition someone else changed (a test patching the node's
        status, e.g. Ready=False) is kept until config.node_pressure changes for that node."""
        nodes = self.res('v1', 'Node')
        name = name_of(node)
        status = dict(node.get('status') or {})
        old = {c.get('type'): c for c in status.get('conditions') or ()}
        applied = self.applied.get(name)
        if applied is None:  # first sight: what the stored conditions say is what was last applied
            applied = frozenset([t for t in PRESSURE_CONDITIONS if (old.get(t) or {}).get('status') == 'True']
                                + (['NotReady'] if 'Ready' in old and old['Ready'].get('status') != 'True' else []))
        config_changed = applied != frozenset(wanted)
        self.applied[name] = frozenset(wanted)
        fresh = {c['type']: c for c in _conditions(stamp(now), wanted)}
        changed = []
        conditions = []
        for type_ in (*PRESSURE_CONDITIONS, 'Ready'):
            new = fresh[type_]
            prev = old.get(type_)
            if prev is not None and prev.get('status') == new['status']:
                new = {**prev, 'reason': new['reason'], 'message': new['message']}
            elif prev is not None and not config_changed:
                new = prev
            elif prev is not None:
                changed.append((type_, new['status'] == 'True'))
            conditions.append(new)
        ready = next(c for c in conditions if c['type'] == 'Ready').get('status') == 'True'
        if ready:  # a NotReady node's kubelet is not posting heartbeats
            beats = [parse_time(c.get('lastHeartbeatTime')) or 0 for c in conditions]
            if changed or min(beats) + HEARTBEAT_SECONDS <= now:
                conditions = [{**c, 'lastHeartbeatTime': stamp(now)} for c in conditions]
        # Conditions the simulator does not manage (a test may add one) stay.
        conditions += [c for t, c in old.items() if t not in fresh]
        status['conditions'] = conditions
        if status != node.get('status'):
            node = write_status(self.sim, nodes, node, status)
        for type_, on in changed:
            on_event, off_event = _CONDITION_EVENTS[type_]
            reason = on_event if on else off_event
            events.record(self.sim, node, 'Normal', reason, f'Node {name} status is now: {reason}', 'kubelet', host=name)
        return node

    def _sync_taints(self, node: Obj) -> Obj:
        nodes = self.res('v1', 'Node')
        wanted: list[Obj] = []
        if node.get('spec', {}).get('unschedulable'):
            wanted.append({'key': TAINT_UNSCHEDULABLE, 'effect': 'NoSchedule'})
        for type_ in PRESSURE_CONDITIONS:
            cond = get_condition(node.get('status'), type_)
            if cond is not None and cond.get('status') == 'True':
                wanted.append({'key': _CONDITIONS[type_][4], 'effect': 'NoSchedule'})
        ready = get_condition(node.get('status'), 'Ready')
        if ready is not None and ready.get('status') != 'True':
            wanted.append({'key': TAINT_NOT_READY, 'effect': 'NoSchedule'})
            wanted.append({'key': TAINT_NOT_READY, 'effect': 'NoExecute', 'timeAdded': self.stamp()})
        managed = {TAINT_UNSCHEDULABLE, TAINT_NOT_READY, TAINT_MEMORY_PRESSURE, TAINT_DISK_PRESSURE, TAINT_PID_PRESSURE}
        current = list(node.get('spec', {}).get('taints') or [])
        keep = [t for t in current if t.get('key') not in managed]
        have = {(t.get('key'), t.get('effect')): t for t in current if t.get('key') in managed}
        taints = keep + [have.get((t['key'], t['effect']), t) for t in wanted]
        was_unschedulable = any(t.get('key') == TAINT_UNSCHEDULABLE for t in current)
        if taints == current:
            return node

        def change(obj: Obj) -> None:
            if taints:
                obj.setdefault('spec', {})['taints'] = taints
            else:
                obj.setdefault('spec', {}).pop('taints', None)

        node = modify(self.sim, nodes, node, change)
        is_unschedulable = bool(node.get('spec', {}).get('unschedulable'))
        if is_unschedulable != was_unschedulable:
            reason = 'NodeNotSchedulable' if is_unschedulable else 'NodeSchedulable'
            events.record(self.sim, node, 'Normal', reason, f'Node {name_of(node)} status is now: {reason}', 'kubelet', host=name_of(node))
        return node

    def _evict_one(self, node: Obj, resource: str) -> None:
        """The eviction manager: one pod per pass, BestEffort before Burstable before Guaranteed."""
        pods = self.res('v1', 'Pod')
        name = name_of(node)
        candidates = []
        for pod in self.store.items(pods):
            spec = pod.get('spec') or {}
            if spec.get('nodeName') != name or not is_active(pod):
                continue
            if any(ref.get('kind') == 'DaemonSet' for ref in pod['metadata'].get('ownerReferences') or ()):
                continue  # evicted DaemonSet pods come straight back to the same node; left alone here
            if int(spec.get('priority') or 0) >= SYSTEM_CRITICAL_PRIORITY:
                continue
            rank = {'BestEffort': 0, 'Burstable': 1, 'Guaranteed': 2}[qos_class(spec)]
            candidates.append((rank, -int(spec.get('priority') or 0), pod['metadata'].get('creationTimestamp') or '', name_of(pod), pod))
        if not candidates:
            return
        pod = sorted(candidates, key=lambda c: c[:4])[0][4]
        message = eviction_message(node, resource)
        now = self.stamp()
        events.record(self.sim, node, 'Warning', 'EvictionThresholdMet', f'Attempting to reclaim {resource}', 'kubelet', host=name)
        status = dict(pod.get('status') or {})
        status.update({'phase': 'Failed', 'reason': 'Evicted', 'message': message})
        statuses = []
        for cstatus in status.get('containerStatuses') or ():
            running = (cstatus.get('state') or {}).get('running')
            terminated = {'exitCode': 137, 'reason': 'Error', 'startedAt': (running or {}).get('startedAt'), 'finishedAt': now}
            if cstatus.get('containerID'):
                terminated['containerID'] = cstatus['containerID']
            statuses.append({**cstatus, 'state': {'terminated': terminated}, 'ready': False, 'started': False})
        if statuses:
            status['containerStatuses'] = statuses
        conditions = []
        for cond in status.get('conditions') or ():
            if cond.get('type') in ('Ready', 'ContainersReady'):
                changed = cond.get('status') != 'False'
                cond = {**cond, 'status': 'False', 'reason': 'PodFailed'}
                cond.pop('message', None)
                if changed:
                    cond['lastTransitionTime'] = now
            conditions.append(cond)
        conditions.insert(0, {'type': 'DisruptionTarget', 'status': 'True', 'lastProbeTime': None, 'lastTransitionTime': now,
                              'reason': 'TerminationByKubelet', 'message': message})
        status['conditions'] = conditions
        stored = write_status(self.sim, pods, pod, status)
        events.record(self.sim, stored, 'Warning', 'Evicted', message, 'kubelet', host=name)
        for container in (pod.get('spec') or {}).get('containers') or ():
            events.record(self.sim, stored, 'Normal', 'Killing', f'Stopping container {container.get("name")}', 'kubelet', host=name,
                          field_path=f'spec.containers{{{container.get("name")}}}')


def node_ip(node: Obj) -> str:
    """The node's InternalIP (re-exported for the kubelet)."""
    return internal_ip(node)
