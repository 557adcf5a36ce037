"""The kubelet: what happens to a pod once it is bound to a node, and its container logs.

Each bound pod goes ContainerCreating -> running (config.pod_start_seconds after
the kubelet first saw it) -> ready (config.pod_ready_seconds later), with the
status a real kubelet writes (conditions PodReadyToStartContainers, Initialized,
Ready, ContainersReady, PodScheduled; containerStatuses; podIP, hostIP,
startTime, qosClass) and its events (Pulling, Pulled, Created, Started, and
Killing when the pod goes away). At most one step per container per tick.

Faults (see config.POD_FAULTS and faults.container_fault):
  crashloop    runs briefly, exits 1 (Error), waits in CrashLoopBackOff, restarts after
               config.crashloop_backoff_seconds with restartCount + 1; lastState keeps the last exit
  oom          the same with OOMKilled / exit 137 (and an OOMKilling node event)
  never-ready  runs, never ready; an Unhealthy "Readiness probe failed" event every back-off period
  image-pull   ErrImagePull, then ImagePullBackOff, alternating every back-off period; the pod stays Pending
A container with kubesim.io/memory-leak grows by that much a second of uptime and is
OOMKilled once above its memory limit; it restarts from the bottom, leaking again.
The CrashLoopBackOff message shows the real back-off (10s doubling to 5m0s)
while the simulator waits config.crashloop_backoff_seconds.

Pods on a node that is missing or NotReady are left as they are.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime
import hashlib
import ipaddress
from typing import Any

from .. import errors
from ..quantity import parse_memory
from . import events
from .common import (Controller, Obj, go_duration, is_active, name_of, parse_time, qos_class, stamp, write_status)
from .faults import container_fault, container_id, image_id, image_size, leak_exhausted, normalized_image
from .placement import internal_ip, node_is_ready

COMPONENT = 'kubelet'
MAX_BACKOFF_SECONDS = 300
KUBELET_CONDITIONS = ('PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady')


@dataclasses.dataclass
class _Container:
    """The kubelet's memory of one container (precise times; the status has whole seconds)."""

    started_at: float | None = None
    next_at: float | None = None
    probe_at: float | None = None
    # What the running instance read from Secrets when it started (see secrets_seen()).
    secrets: list[Obj] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Pod:
    seen: float
    node: str
    pod: Obj
    containers: dict[str, _Container] = dataclasses.field(default_factory=dict)


def _crash_after(cfg: Any) -> float:
    """How long a crashing container runs: short, and always before it could become ready."""
    return min(float(cfg.pod_ready_seconds), float(cfg.crashloop_backoff_seconds)) / 2


def _pull_duration(seconds: float) -> str:
    """A pull time as Go prints a time.Duration: 523ms, 1.2s."""
    if seconds < 1:
        return f'{max(1, round(seconds * 1000))}ms'
    return f'{seconds:.3f}'.rstrip('0').rstrip('.') + 's'


def _running(cs: Obj) -> Obj | None:
    return (cs.get('state') or {}).get('running')


def _waiting(cs: Obj) -> Obj | None:
    return (cs.get('state') or {}).get('waiting')


def _terminated(cs: Obj) -> Obj | None:
    return (cs.get('state') or {}).get('terminated')


def _init_done(cs: Obj) -> bool:
    """An init container that completed (exit 0), or a sidecar that runs and is ready."""
    terminated = _terminated(cs)
    if terminated is not None:
        return terminated.get('exitCode') == 0
    return _running(cs) is not None and bool(cs.get('ready'))


def _condition(old: dict[str, Obj], type_: str, status: str, now: str, reason: str | None = None, message: str | None = None) -> Obj:
    cond: Obj = {'type': type_, 'status': status, 'lastProbeTime': None, 'lastTransitionTime': now}
    prev = old.get(type_)
    if prev is not None and prev.get('status') == status and prev.get('lastTransitionTime'):
        cond['lastTransitionTime'] = prev['lastTransitionTime']
    if reason:
        cond['reason'] = reason
    if message:
        cond['message'] = message
    return cond


def pod_phase(spec: Obj, statuses: list[Obj], initialized: bool) -> str:
    """getPhase: Pending until every container started; Running while one runs or restarts; Succeeded/Failed when all stopped."""
    if not initialized:
        return 'Pending'
    running = waiting = stopped = succeeded = 0
    for cs in statuses:
        if _running(cs):
            running += 1
        elif _terminated(cs):
            stopped += 1
            succeeded += 1 if _terminated(cs).get('exitCode') == 0 else 0
        elif (cs.get('lastState') or {}).get('terminated'):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return 'Pending'
    if running:
        return 'Running'
    if stopped:
        policy = spec.get('restartPolicy') or 'Always'
        if policy == 'Always':
            return 'Running'
        if succeeded == stopped:
            return 'Succeeded'
        return 'Failed' if policy == 'Never' else 'Running'
    return 'Pending'


class Kubelet(Controller):
    """Every node's kubelet, in one loop."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.pods: dict[str, _Pod] = {}
        self.images: dict[str, set[str]] = {}  # node -> images pulled there

    # -- loop -----------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        nodes = {name_of(n): n for n in self.store.items(self.res('v1', 'Node'))}
        pods = list(self.store.items(self.res('v1', 'Pod')))
        used_ips: dict[str, set[str]] = {}
        for pod in pods:
            node = (pod.get('spec') or {}).get('nodeName')
            if node and is_active(pod) and (pod.get('status') or {}).get('podIP'):
                used_ips.setdefault(node, set()).add(pod['status']['podIP'])
        present = set()
        for pod in pods:
            uid = pod['metadata']['uid']
            node_name = (pod.get('spec') or {}).get('nodeName')
            if not node_name:
                continue
            present.add(uid)
            if not is_active(pod):
                self.pods.pop(uid, None)  # terminal: nothing left to run
                continue
            node = nodes.get(node_name)
            if node is None or not node_is_ready(node):
                continue
            self.each([pod], lambda p, n=node: self.sync_pod(p, n, used_ips.setdefault(name_of(n), set())))
        for uid in [u for u in self.pods if u not in present]:
            self._killed(self.pods.pop(uid))

    def _killed(self, memory: _Pod) -> None:
        """The pod was deleted: its running containers are stopped (Killing events)."""
        pod = memory.pod
        for cs in (pod.get('status') or {}).get('containerStatuses') or ():
            if _running(cs):
                events.record(self.sim, pod, 'Normal', 'Killing', f'Stopping container {cs["name"]}', COMPONENT, host=memory.node,
                              field_path=f'spec.containers{{{cs["name"]}}}')

    # -- one pod -------------------------------------------------------------------------------------

    def _memory(self, pod: Obj, node: str, now: float) -> tuple[_Pod, bool]:
        uid = pod['metadata']['uid']
        memory = self.pods.get(uid)
        if memory is not None:
            return memory, False
        status = pod.get('status') or {}
        started = parse_time(status.get('startTime'))
        memory = _Pod(seen=started if started is not None else now, node=node, pod=pod)
        for cs in status.get('containerStatuses') or ():  # a kubelet that restarts: rebuild from the status
            run = _running(cs) or {}
            last = ((cs.get('lastState') or {}).get('terminated') or {})
            memory.containers[cs['name']] = _Container(
                started_at=parse_time(run.get('startedAt')),
                next_at=(parse_time(last.get('finishedAt')) or now) + float(self.config.crashloop_backoff_seconds))
        self.pods[uid] = memory
        return memory, started is None

    def sync_pod(self, pod: Obj, node: Obj, used_ips: set[str]) -> None:
        """Advance the pod's containers one step and write the status the kubelet would."""
        now = self.now()
        node_name = name_of(node)
        memory, first = self._memory(pod, node_name, now)
        spec = pod.get('spec') or {}
        status = copy.deepcopy(pod.get('status') or {})
        pending_events: list[tuple[str, str, str, str | None]] = []  # type, reason, message, fieldPath
        cache = self.images.setdefault(node_name, set())
        if first:
            status['startTime'] = stamp(memory.seen)
            for container in list(spec.get('initContainers') or []) + list(spec.get('containers') or []):
                if self._needs_pull(container, cache):
                    pending_events.append(('Normal', 'Pulling', f'Pulling image "{container.get("image")}"', _field(container, spec)))
        host_ip = internal_ip(node)
        if host_ip:
            status['hostIP'] = host_ip
            status['hostIPs'] = [{'ip': host_ip}]
        status.setdefault('qosClass', qos_class(spec))
        start_due = now >= memory.seen + float(self.config.pod_start_seconds)
        if start_due and not status.get('podIP'):
            ip = host_ip if spec.get('hostNetwork') else self._allocate_ip(node, used_ips)
            if ip:
                status['podIP'] = ip
                status['podIPs'] = [{'ip': ip}]
        init_statuses = self._init_containers(pod, spec, status, memory, start_due, now, pending_events, cache)
        initialized = all(_init_done(cs) for cs in init_statuses)
        old = {cs.get('name'): cs for cs in status.get('containerStatuses') or ()}
        statuses = []
        for container in spec.get('containers') or ():
            cs = old.get(container.get('name')) or self._creating(container)
            if initialized:
                cs = self._step(pod, node_name, container, cs, memory, start_due, now, pending_events, cache)
            statuses.append(cs)
        status['containerStatuses'] = statuses
        if init_statuses:
            status['initContainerStatuses'] = init_statuses
        phase = pod_phase(spec, statuses, initialized)
        status['phase'] = phase
        status['conditions'] = self._conditions(status, phase, start_due, init_statuses, statuses, now)
        stored = write_status(self.sim, self.res('v1', 'Pod'), pod, status)
        memory.pod = stored
        for type_, reason, message, field_path in pending_events:
            events.record(self.sim, stored, type_, reason, message, COMPONENT, host=node_name, field_path=field_path)

    def _needs_pull(self, container: Obj, cache: set[str]) -> bool:
        policy = container.get('imagePullPolicy') or 'IfNotPresent'
        if policy == 'Never':
            return False
        return policy == 'Always' or container.get('image') not in cache

    def _allocate_ip(self, node: Obj, used: set[str]) -> str:
        cidr = (node.get('spec') or {}).get('podCIDR')
        if not cidr:
            return ''
        network = ipaddress.ip_network(cidr, strict=False)
        for offset, address in enumerate(network.hosts()):
            if offset == 0:
                continue  # .1 is the node's bridge
            text = str(address)
            if text not in used:
                used.add(text)
                return text
        return ''

    def _creating(self, container: Obj) -> Obj:
        return {'name': container.get('name'), 'state': {'waiting': {'reason': 'ContainerCreating'}}, 'lastState': {},
                'ready': False, 'restartCount': 0, 'image': container.get('image'), 'imageID': '', 'started': False}

    # -- containers ------------------------------------------------------------------------------------

    def _init_containers(self, pod: Obj, spec: Obj, status: Obj, memory: _Pod, start_due: bool, now: float,
                         pending: list, cache: set[str]) -> list[Obj]:
        """Init containers run to completion (exit 0) when the pod starts; sidecars (restartPolicy Always) keep running."""
        result = []
        old = {cs.get('name'): cs for cs in status.get('initContainerStatuses') or ()}
        for container in spec.get('initContainers') or ():
            cs = old.get(container.get('name')) or self._creating(container)
            if start_due and _waiting(cs):
                cs = self._start(pod, container, cs, memory, now, pending, cache, spec)
                if container.get('restartPolicy') != 'Always':
                    run = _running(cs) or {}
                    cs = {**cs, 'state': {'terminated': {'exitCode': 0, 'reason': 'Completed', 'startedAt': run.get('startedAt'),
                                                         'finishedAt': stamp(now), 'containerID': cs.get('containerID')}},
                          'ready': True, 'started': False}
                else:
                    cs = {**cs, 'ready': True}
            result.append(cs)
        return result

    def _step(self, pod: Obj, node: str, container: Obj, cs: Obj, memory: _Pod, start_due: bool, now: float,
              pending: list, cache: set[str]) -> Obj:
        """One transition of one container, if one is due."""
        cfg = self.config
        spec = pod.get('spec') or {}
        name = container.get('name', '')
        fault = container_fault(pod, container)
        mem = memory.containers.setdefault(name, _Container())
        backoff = float(cfg.crashloop_backoff_seconds)
        waiting = _waiting(cs)
        if waiting is not None:
            reason = waiting.get('reason')
            due = mem.next_at is None or now >= mem.next_at
            if reason == 'ContainerCreating':
                return self._start(pod, container, cs, memory, now, pending, cache, spec) if start_due else cs
            if reason == 'ErrImagePull' and due:
                mem.next_at = now + backoff
                image = container.get('image')
                pending.append(('Normal', 'BackOff', f'Back-off pulling image "{image}"', _field(container, spec)))
                pending.append(('Warning', 'Failed', 'Error: ImagePullBackOff', _field(container, spec)))
                return {**cs, 'state': {'waiting': {'reason': 'ImagePullBackOff', 'message': f'Back-off pulling image "{image}"'}}}
            if reason == 'ImagePullBackOff' and due:
                pending.append(('Normal', 'Pulling', f'Pulling image "{container.get("image")}"', _field(container, spec)))
                return self._start(pod, container, cs, memory, now, pending, cache, spec)
            if reason == 'CrashLoopBackOff' and due:
                return self._restart(pod, container, cs, memory, now, pending)
            return cs
        running = _running(cs)
        if running is None:
            return cs
        started = mem.started_at if mem.started_at is not None else (parse_time(running.get('startedAt')) or now)
        if fault in ('crashloop', 'oom'):
            if now >= started + _crash_after(cfg):
                return self._crash(pod, node, container, cs, memory, now, pending, oom=fault == 'oom')
            return cs
        if fault is None and leak_exhausted(pod, container, now - started):
            return self._crash(pod, node, container, cs, memory, now, pending, oom=True)
        if fault == 'never-ready':
            if mem.probe_at is None or now >= mem.probe_at:
                if now >= started + float(cfg.pod_ready_seconds):
                    pending.append(('Warning', 'Unhealthy', _probe_failure(container, pod), _field(container, spec)))
                    mem.probe_at = now + backoff
            return {**cs, 'ready': False} if cs.get('ready') else cs
        if not cs.get('ready') and now >= started + float(cfg.pod_ready_seconds):
            return {**cs, 'ready': True}
        return cs

    def _start(self, pod: Obj, container: Obj, cs: Obj, memory: _Pod, now: float, pending: list, cache: set[str], spec: Obj) -> Obj:
        """Pull (or fail to) and start a container."""
        name = container.get('name', '')
        image = str(container.get('image') or '')
        field = _field(container, spec)
        mem = memory.containers.setdefault(name, _Container())
        if container_fault(pod, container) == 'image-pull':
            ref = normalized_image(image)
            error = (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": {ref}: not found')
            message = f'rpc error: code = NotFound desc = {error}'
            pending.append(('Warning', 'Failed', f'Failed to pull image "{image}": {message}', field))
            pending.append(('Warning', 'Failed', 'Error: ErrImagePull', field))
            mem.next_at = now + float(self.config.crashloop_backoff_seconds)
            return {**cs, 'state': {'waiting': {'reason': 'ErrImagePull', 'message': message}}, 'image': image, 'imageID': ''}
        if self._needs_pull(container, cache):
            took = max(float(self.config.pod_start_seconds), 0.001)
            pending.append(('Normal', 'Pulled', f'Successfully pulled image "{image}" in {_pull_duration(took)} '
                                                f'({_pull_duration(took)} including waiting). Image size: {image_size(image)} bytes.', field))
        else:
            pending.append(('Normal', 'Pulled', f'Container image "{image}" already present on machine', field))
        cache.add(image)
        attempt = int(cs.get('restartCount') or 0)
        pending.append(('Normal', 'Created', f'Created container: {name}', field))
        pending.append(('Normal', 'Started', f'Started container {name}', field))
        mem.started_at = now
        mem.next_at = None
        mem.secrets = self._read_secrets(pod, container)
        return {**cs, 'state': {'running': {'startedAt': stamp(now)}}, 'ready': False, 'started': True,
                'image': normalized_image(image), 'imageID': image_id(image),
                'containerID': container_id(pod['metadata']['uid'], name, attempt)}

    def _read_secrets(self, pod: Obj, container: Obj) -> list[Obj]:
        """The Secret values a container reads at its start: env valueFrom.secretKeyRef, envFrom secretRef, and the
        secret and projected volumes it mounts; each as {via, secret, key, sha256} (sha256 None: missing).

        A real kubelet fixes env values at the start and refreshes mounted volumes later; here both are what the
        container saw when it started, which is what a restart after a rotation has to change.
        """
        namespace = pod['metadata'].get('namespace')
        res = self.res('v1', 'Secret')

        def data_of(name: str) -> dict[str, str] | None:
            found = self.store.find(res, namespace, name)
            return None if found is None else dict(found.get('data') or {})

        def seen(via: str, name: str, key: str) -> Obj:
            data = data_of(name) or {}
            value = base64.b64decode(data[key]) if key in data else None
            return {'via': via, 'secret': name, 'key': key, 'sha256': hashlib.sha256(value).hexdigest() if value is not None else None}

        result = []
        for entry in container.get('env') or []:
            ref = (entry.get('valueFrom') or {}).get('secretKeyRef')
            if ref:
                result.append(seen(f'env {entry.get("name")}', ref.get('name'), ref.get('key')))
        for source in container.get('envFrom') or []:
            ref = source.get('secretRef')
            if ref:
                for key in sorted(data_of(ref.get('name')) or {}):
                    result.append(seen(f'envFrom {source.get("prefix") or ""}{key}', ref.get('name'), key))
        mounted = {m.get('name'): m.get('mountPath') for m in container.get('volumeMounts') or []}
        for volume in (pod.get('spec') or {}).get('volumes') or []:
            if volume.get('name') not in mounted:
                continue
            sources = [volume['secret']] if volume.get('secret') else [
                s['secret'] for s in (volume.get('projected') or {}).get('sources') or [] if s.get('secret')]
            for source in sources:
                name = source.get('secretName') or source.get('name')
                keys = [item.get('key') for item in source.get('items') or []] or sorted(data_of(name) or {})
                for key in keys:
                    result.append(seen(f'volume {mounted[volume.get("name")]}/{key}', name, key))
        return result

    def secrets_seen(self, namespace: str, pod_name: str) -> dict[str, list[Obj]] | None:
        """For each running container of the pod, the Secret values it read when it started; None for an unknown pod."""
        for memory in self.pods.values():
            meta = memory.pod.get('metadata') or {}
            if meta.get('namespace') == namespace and meta.get('name') == pod_name:
                return {name: list(container.secrets) for name, container in memory.containers.items()}
        return None

    def _crash(self, pod: Obj, node: str, container: Obj, cs: Obj, memory: _Pod, now: float, pending: list, oom: bool) -> Obj:
        """The container exits: exit 1 (Error) or 137 (OOMKilled); back-off before the restart."""
        spec = pod.get('spec') or {}
        name = container.get('name', '')
        mem = memory.containers.setdefault(name, _Container())
        running = _running(cs) or {}
        code, reason = (137, 'OOMKilled') if oom else (1, 'Error')
        terminated = {'exitCode': code, 'reason': reason, 'startedAt': running.get('startedAt'), 'finishedAt': stamp(now),
                      'containerID': cs.get('containerID')}
        if oom:
            self._oom_event(pod, node, container)
        policy = spec.get('restartPolicy') or 'Always'
        if policy == 'Never':
            mem.next_at = None
            return {**cs, 'state': {'terminated': terminated}, 'ready': False, 'started': False}
        restarts = int(cs.get('restartCount') or 0)
        shown = go_duration(min(10 * 2 ** restarts, MAX_BACKOFF_SECONDS))
        pod_ref = f'{name_of(pod)}_{pod["metadata"].get("namespace")}({pod["metadata"]["uid"]})'
        pending.append(('Warning', 'BackOff', f'Back-off restarting failed container {name} in pod {pod_ref}', _field(container, spec)))
        mem.next_at = now + float(self.config.crashloop_backoff_seconds)
        return {**cs, 'state': {'waiting': {'reason': 'CrashLoopBackOff',
                                            'message': f'back-off {shown} restarting failed container={name} pod={pod_ref}'}},
                'lastState': {'terminated': terminated}, 'ready': False, 'started': False}

    def _restart(self, pod: Obj, container: Obj, cs: Obj, memory: _Pod, now: float, pending: list) -> Obj:
        """The back-off is over: the container starts again with restartCount + 1."""
        spec = pod.get('spec') or {}
        name = container.get('name', '')
        image = str(container.get('image') or '')
        field = _field(container, spec)
        restarts = int(cs.get('restartCount') or 0) + 1
        pending.append(('Normal', 'Pulled', f'Container image "{image}" already present on machine', field))
        pending.append(('Normal', 'Created', f'Created container: {name}', field))
        pending.append(('Normal', 'Started', f'Started container {name}', field))
        mem = memory.containers.setdefault(name, _Container())
        mem.started_at = now
        mem.next_at = None
        mem.secrets = self._read_secrets(pod, container)
        return {**cs, 'state': {'running': {'startedAt': stamp(now)}}, 'ready': False, 'started': True, 'restartCount': restarts,
                'image': normalized_image(image), 'imageID': image_id(image),
                'containerID': container_id(pod['metadata']['uid'], name, restarts)}

    def _oom_event(self, pod: Obj, node: str, container: Obj) -> None:
        """The kernel's OOM kill as node-problem-detector reports it, on the node."""
        node_obj = self.store.find(self.res('v1', 'Node'), None, node)
        if node_obj is None:
            return
        pid = 1000 + int(hashlib.sha256(pod['metadata']['uid'].encode()).hexdigest()[:4], 16) % 30000
        limit = ((container.get('resources') or {}).get('limits') or {}).get('memory', '')
        process = (container.get('command') or [container.get('name', 'app')])[0].rsplit('/', 1)[-1]
        message = (f'Memory cgroup out of memory: Killed process {pid} ({process}) total-vm:1048576kB, anon-rss:{_kb(limit)}kB, '
                   'file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1024kB oom_score_adj:1000')
        events.record(self.sim, node_obj, 'Warning', 'OOMKilling', message, 'kernel-monitor', host=node)

    # -- status ------------------------------------------------------------------------------------------

    def _conditions(self, status: Obj, phase: str, sandbox: bool, init_statuses: list[Obj], statuses: list[Obj], now: float) -> list[Obj]:
        old = {c.get('type'): c for c in status.get('conditions') or ()}
        text = stamp(now)
        result = [_condition(old, 'PodReadyToStartContainers', 'True' if sandbox else 'False', text)]
        incomplete = [cs['name'] for cs in init_statuses if not _init_done(cs)]
        if incomplete:
            result.append(_condition(old, 'Initialized', 'False', text, 'ContainersNotInitialized',
                                     f'containers with incomplete status: [{" ".join(incomplete)}]'))
        else:
            result.append(_condition(old, 'Initialized', 'True', text))
        unready = [cs['name'] for cs in statuses if not cs.get('ready')]
        for type_ in ('Ready', 'ContainersReady'):
            if phase in ('Failed', 'Succeeded'):
                result.append(_condition(old, type_, 'False', text, 'PodFailed' if phase == 'Failed' else 'PodCompleted'))
            elif unready:
                result.append(_condition(old, type_, 'False', text, 'ContainersNotReady',
                                         f'containers with unready status: [{" ".join(unready)}]'))
            else:
                result.append(_condition(old, type_, 'True', text))
        result.append(old.get('PodScheduled') or _condition(old, 'PodScheduled', 'True', text))
        result += [c for t, c in old.items() if t not in KUBELET_CONDITIONS and t != 'PodScheduled']
        return result


def _field(container: Obj, spec: Obj) -> str:
    """The event fieldPath of a container: spec.containers{web} or spec.initContainers{init}."""
    name = container.get('name', '')
    if any(c.get('name') == name for c in spec.get('initContainers') or ()):
        return f'spec.initContainers{{{name}}}'
    return f'spec.containers{{{name}}}'


def _kb(quantity: str) -> int:
    try:
        return int(parse_memory(quantity) / 1024) if quantity else 262144
    except ValueError:
        return 262144


def _probe_failure(container: Obj, pod: Obj) -> str:
    probe = container.get('readinessProbe') or {}
    pod_ip = (pod.get('status') or {}).get('podIP') or '10.244.0.2'
    if probe.get('tcpSocket'):
        return f'Readiness probe failed: dial tcp {pod_ip}:{probe["tcpSocket"].get("port")}: connect: connection refused'
    if probe.get('exec'):
        return 'Readiness probe failed: '
    return 'Readiness probe failed: HTTP probe failed with statuscode: 503'


# -- logs ------------------------------------------------------------------------------------------------------


def _instance_lines(pod: Obj, container: Obj, started: str, attempt: int, outcome: str | None) -> list[str]:
    """The deterministic log of one run of a container. outcome: None (still running), or the termination reason."""
    name = container.get('name', '')
    image = container.get('image', '')
    fault = container_fault(pod, container)
    port = next((p.get('containerPort') for p in container.get('ports') or () if p.get('containerPort')), 8080)
    namespace = pod['metadata'].get('namespace')
    lines = [f'{started} INFO  starting {name} (image {image}), attempt {attempt}',
             f'{started} INFO  pod {namespace}/{name_of(pod)} on node {(pod.get("spec") or {}).get("nodeName")}',
             f'{started} INFO  listening on :{port}']
    if fault == 'crashloop' or outcome == 'Error':
        lines += [f'{started} ERROR failed to connect to database: dial tcp 10.96.0.42:5432: connect: connection refused',
                  f'{started} FATAL {name} exiting: unrecoverable error (exit status 1)']
    elif fault == 'oom' or outcome == 'OOMKilled':
        lines += [f'{started} INFO  warming up cache', f'{started} WARN  memory usage above 90% of limit']
    elif fault == 'never-ready':
        lines += [f'{started} WARN  readiness check failing: dependency unavailable']
    else:
        lines += [f'{started} INFO  ready to serve requests']
    return lines


def _log_instance(sim: Any, namespace: str, pod_name: str, container: str | None, previous: bool) -> tuple[Obj, Obj, str, int, str | None]:
    """The run of a container whose log is asked for: (pod, container spec, startedAt, attempt, outcome), or the ApiError the
    apiserver/kubelet answers. The attempt numbers the runs, so appended lines (append_log) stay with their run."""
    pod = sim.store.get(sim.registry.get('v1', 'Pod'), namespace, pod_name)
    spec = pod.get('spec') or {}
    names = [c.get('name') for c in spec.get('containers') or ()]
    init_names = [c.get('name') for c in spec.get('initContainers') or ()]
    ephemeral = [c.get('name') for c in spec.get('ephemeralContainers') or ()]
    if not container:
        if len(names) == 1:
            container = names[0]
        else:
            message = f'a container name must be specified for pod {pod_name}, choose one of: [{" ".join(names)}]'
            if init_names:
                message += f' or one of the init containers: [{" ".join(init_names)}]'
            if ephemeral:
                message += f' or one of the ephemeral containers: [{" ".join(ephemeral)}]'
            raise errors.bad_request(message)
    if container not in names + init_names + ephemeral:
        raise errors.bad_request(f'container {container} is not valid for pod {pod_name}')
    if not spec.get('nodeName'):
        raise _NotScheduled()
    status = pod.get('status') or {}
    all_statuses = list(status.get('containerStatuses') or []) + list(status.get('initContainerStatuses') or [])
    cs = next((s for s in all_statuses if s.get('name') == container), None)
    where = f'container "{container}" in pod "{pod_name}"'
    if cs is None:
        raise errors.bad_request(f'{where} is waiting to start: ContainerCreating')
    container_spec = next(c for c in list(spec.get('containers') or []) + list(spec.get('initContainers') or [])
                          + list(spec.get('ephemeralContainers') or []) if c.get('name') == container)
    last = (cs.get('lastState') or {}).get('terminated')
    restarts = int(cs.get('restartCount') or 0)
    running, terminated, waiting = _running(cs), _terminated(cs), _waiting(cs)
    if previous:
        if not last or not last.get('containerID'):
            raise errors.bad_request(f'previous terminated {where} not found')
        return pod, container_spec, last.get('startedAt') or '', restarts - 1 if running else restarts, last.get('reason')
    if running is not None:
        return pod, container_spec, running.get('startedAt') or '', restarts, None
    if terminated is not None:
        if terminated.get('containerID'):
            return pod, container_spec, terminated.get('startedAt') or '', restarts, terminated.get('reason')
        if last and last.get('containerID'):
            return pod, container_spec, last.get('startedAt') or '', restarts, last.get('reason')
        raise errors.bad_request(f'{where} is terminated')
    if last is not None:
        if not last.get('containerID'):
            raise errors.bad_request(f'{where} is terminated')
        return pod, container_spec, last.get('startedAt') or '', restarts, last.get('reason')
    if waiting is not None:
        reason = waiting.get('reason')
        if reason == 'ErrImagePull':
            raise errors.bad_request(f"{where} is waiting to start: image can't be pulled")
        if reason == 'ImagePullBackOff':
            raise errors.bad_request(f'{where} is waiting to start: trying and failing to pull image')
        raise errors.bad_request(f'{where} is waiting to start: {reason}')
    raise errors.bad_request(f'{where} is waiting to start - no logs yet')


class _NotScheduled(Exception):
    """The pod has no node: its log is empty (the apiserver answers "")."""


def _log_key(pod: Obj, container: Obj, attempt: int) -> tuple[str, str, str, str, int]:
    meta = pod['metadata']
    return (meta.get('namespace') or '', meta.get('name') or '', meta.get('uid') or '', container.get('name') or '', attempt)


def rfc3339_nano(seconds: float) -> str:
    """A log timestamp as the kubelet prefixes it (Go's RFC3339Nano: trailing zeros of the fraction dropped)."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    fraction = f'{moment.microsecond:06d}000'.rstrip('0')
    return moment.strftime('%Y-%m-%dT%H:%M:%S') + (f'.{fraction}' if fraction else '') + 'Z'


def append_log(sim: Any, namespace: str, pod_name: str, container: str | None, lines: list[str], at: float | None = None,
               previous: bool = False) -> dict[str, Any]:
    """Append lines to the log of a container's current run (or, with previous, of its last terminated run), written at `at`
    (epoch seconds; default now; not before the run started). The pod log API returns them after the run's own lines, in time order, with their time
    for timestamps/sinceSeconds/sinceTime. Same errors as reading the log: a container that never ran has no log to append to."""
    try:
        pod, container_spec, started, attempt, _outcome = _log_instance(sim, namespace, pod_name, container, previous)
    except _NotScheduled:
        raise errors.bad_request(f'pod {pod_name} is not scheduled: its containers have no log yet') from None
    when = sim.clock() if at is None else float(at)
    started_at = parse_time(started)
    if started_at is not None and when < started_at:
        raise errors.bad_request(f'time {rfc3339_nano(when)} is before the container started ({started}): it cannot have written that line')
    entries = sim.pod_logs.setdefault(_log_key(pod, container_spec, attempt), [])
    entries.extend((when, str(line)) for line in lines)
    return {'namespace': namespace, 'pod': pod_name, 'container': container_spec.get('name'), 'attempt': attempt,
            'appended': len(lines), 'time': rfc3339_nano(when)}


def pod_log(sim: Any, namespace: str, pod_name: str, container: str | None, previous: bool, tail_lines: int | None,
            since_seconds: int | None = None, since_time: str | None = None, timestamps: bool = False) -> str:
    """GET /api/v1/namespaces/<ns>/pods/<pod>/log: the container's log text, or the ApiError the apiserver/kubelet answers.

    As the kubelet reads a log file: tailLines first, then the lines written before sinceSeconds/sinceTime are left out;
    timestamps prefixes each line with its time (RFC3339Nano)."""
    if since_seconds is not None and since_time:
        raise errors.bad_request('PodLogOptions is invalid: at most one of `sinceTime` or `sinceSeconds` may be specified')
    if since_seconds is not None and since_seconds < 1:
        raise errors.bad_request(f'PodLogOptions is invalid: sinceSeconds: Invalid value: {since_seconds}: must be greater than 0')
    since = None
    if since_time:
        since = parse_time(since_time)
        if since is None:
            raise errors.bad_request(f'sinceTime: Invalid value: "{since_time}": must be an RFC 3339 time')
    elif since_seconds is not None:
        since = sim.clock() - since_seconds
    try:
        pod, container_spec, started, attempt, outcome = _log_instance(sim, namespace, pod_name, container, previous)
    except _NotScheduled:
        return ''
    started_at = parse_time(started) or 0.0
    entries = [(started_at, line) for line in _instance_lines(pod, container_spec, started, attempt, outcome)]
    entries += sim.pod_logs.get(_log_key(pod, container_spec, attempt), [])
    entries.sort(key=lambda entry: entry[0])  # stable: a run's own lines first, appended lines in the order given
    if tail_lines is not None:
        entries = entries[-tail_lines:] if tail_lines > 0 else []
    if since is not None:
        # compared in microseconds, the resolution of the timestamps written (the kubelet's are nanoseconds)
        entries = [entry for entry in entries if round(entry[0] * 1e6) >= round(since * 1e6)]
    if timestamps:
        return ''.join(f'{rfc3339_nano(when)} {line}\n' for when, line in entries)
    return ''.join(f'{line}\n' for _when, line in entries)
