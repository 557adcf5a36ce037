"""The default scheduler: binds Pending pods to nodes, or says why it cannot.

Filters run in the default profile's order and a node fails on the first that
rejects it: NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector and
required affinity), NodePorts, NodeResourcesFit (pods, cpu, memory, storage,
extended resources). Among the nodes left, the one with the fewest pods of the
same owner (default topology spreading), then the least requested (with the
scheduler's non-zero defaults for pods without requests), then by name.

When no node fits: condition PodScheduled=False reason Unschedulable and a
FailedScheduling Warning, with the message the real one writes, e.g.
`0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/3 nodes are
available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..`
(the double full stop is the real scheduler's). Preemption itself is not simulated.
"""

from __future__ import annotations

from collections import Counter

from . import events
from .common import Controller, Obj, controller_of, get_condition, is_active, name_of, qos_class, write_status
from .placement import (TAINT_UNSCHEDULABLE, Resources, allocatable, host_ports, matches_node_affinity, non_zero_requests,
                        pod_requests, taint_text, tolerates, untolerated_taint)

SCHEDULER_NAME = 'default-scheduler'
NOT_HELPFUL = 'Preemption is not helpful for scheduling'
NO_VICTIMS = 'No preemption victims found for incoming pod'
# A pod that stays unschedulable gets its FailedScheduling event again this often (the real one retries on cluster events
# and at the latest every 5 minutes).
RETRY_EVENT_SECONDS = 60.0


class _NodeState:
    """A node with what is already placed on it."""

    def __init__(self, node: Obj) -> None:
        self.node = node
        self.name = name_of(node)
        self.allocatable = allocatable(node)
        self.requested = Resources()
        self.non_zero_cpu = 0
        self.non_zero_memory = 0.0
        self.ports: set[tuple[str, str, int]] = set()
        self.owners: Counter[str] = Counter()

    def place(self, pod: Obj) -> None:
        """Count a pod as running here."""
        spec = pod.get('spec') or {}
        self.requested.add(pod_requests(spec))
        cpu, memory = non_zero_requests(spec)
        self.non_zero_cpu += cpu
        self.non_zero_memory += memory
        self.ports |= host_ports(spec)
        ref = controller_of(pod)
        if ref is not None:
            self.owners[ref.get('uid', '')] += 1

    def filter(self, pod: Obj) -> tuple[list[str], bool]:
        """Why the pod does not fit ([] when it does), and whether preemption could help (resolvable)."""
        spec = pod.get('spec') or {}
        tolerations = spec.get('tolerations') or []
        node_spec = self.node.get('spec') or {}
        if node_spec.get('unschedulable'):
            taint = {'key': TAINT_UNSCHEDULABLE, 'effect': 'NoSchedule'}
            if not any(tolerates(t, taint) for t in tolerations):
                return ['node(s) were unschedulable'], False
        taint = untolerated_taint(node_spec.get('taints') or [], tolerations)
        if taint is not None:
            return [f'node(s) had untolerated taint {taint_text(taint)}'], False
        if not matches_node_affinity(spec, self.node):
            return ["node(s) didn't match Pod's node affinity/selector"], False
        wanted_ports = host_ports(spec)
        if any(port in self.ports for port in wanted_ports):
            return ["node(s) didn't have free ports for the requested pod ports"], True
        need = pod_requests(spec)
        have, used = self.allocatable, self.requested
        reasons = []
        if used.pods + 1 > have.pods:
            reasons.append('Too many pods')
        if need.milli_cpu and used.milli_cpu + need.milli_cpu > have.milli_cpu:
            reasons.append('Insufficient cpu')
        if need.memory and used.memory + need.memory > have.memory:
            reasons.append('Insufficient memory')
        if need.ephemeral_storage and used.ephemeral_storage + need.ephemeral_storage > have.ephemeral_storage:
            reasons.append('Insufficient ephemeral-storage')
        for name, value in sorted(need.scalar.items()):
            if value and used.scalar.get(name, 0) + value > have.scalar.get(name, 0):
                reasons.append(f'Insufficient {name}')
        return reasons, True

    def score(self, pod: Obj) -> tuple:
        """Lower is better: same-owner pods here, then (negated) least-requested share, then the name."""
        spec = pod.get('spec') or {}
        cpu, memory = non_zero_requests(spec)
        have = self.allocatable
        cpu_free = (have.milli_cpu - self.non_zero_cpu - cpu) / have.milli_cpu if have.milli_cpu else 0
        mem_free = (have.memory - self.non_zero_memory - memory) / have.memory if have.memory else 0
        ref = controller_of(pod)
        same_owner = self.owners.get(ref.get('uid', ''), 0) if ref is not None else 0
        return (same_owner, -(cpu_free + mem_free) / 2, self.name)


def fit_error(total: int, node_reasons: dict[str, tuple[list[str], bool]], preemption_policy: str | None) -> str:
    """framework.FitError.Error() with the default preemption plugin's post-filter message."""
    if total == 0:
        return 'no nodes available to schedule pods'
    histogram: Counter[str] = Counter()
    for reasons, _resolvable in node_reasons.values():
        for reason in reasons:
            histogram[reason] += 1
    message = f'0/{total} nodes are available: ' + ', '.join(sorted(f'{count} {reason}' for reason, count in histogram.items())) + '.'
    if preemption_policy == 'Never':
        post = 'preemption: not eligible due to preemptionPolicy=Never.'
    else:
        counts: Counter[str] = Counter(NO_VICTIMS if resolvable else NOT_HELPFUL for _reasons, resolvable in node_reasons.values())
        post = f'preemption: 0/{total} nodes are available: ' + ', '.join(sorted(f'{n} {r}' for r, n in counts.items())) + '.'
    return f'{message} {post}.'


class Scheduler(Controller):
    """Binds Pending pods without a node (schedulerName default-scheduler), one pass over all of them per tick."""

    def __init__(self, sim) -> None:
        super().__init__(sim)
        self._reported: dict[str, tuple[str, float]] = {}  # pod uid -> (message, when) of the last FailedScheduling

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        node_res, pod_res = self.res('v1', 'Node'), self.res('v1', 'Pod')
        states = {name_of(n): _NodeState(n) for n in self.store.items(node_res)}
        pods = list(self.store.items(pod_res))
        pending = []
        for pod in pods:
            node = (pod.get('spec') or {}).get('nodeName')
            if node:
                if node in states and is_active(pod):
                    states[node].place(pod)
            elif is_active(pod) and (pod.get('spec') or {}).get('schedulerName', SCHEDULER_NAME) == SCHEDULER_NAME:
                pending.append(pod)
        pending.sort(key=lambda p: (-int((p.get('spec') or {}).get('priority') or 0), p['metadata'].get('creationTimestamp') or '', name_of(p)))
        live = set()
        for pod in pending:
            live.add(pod['metadata']['uid'])
            self.each([pod], lambda p: self._schedule(p, states))
        self._reported = {uid: v for uid, v in self._reported.items() if uid in live}

    def _schedule(self, pod: Obj, states: dict[str, _NodeState]) -> None:
        results = {name: state.filter(pod) for name, state in states.items()}
        feasible = [states[name] for name, (reasons, _r) in results.items() if not reasons]
        if feasible:
            best = min(feasible, key=lambda s: s.score(pod))
            self._bind(pod, best)
            best.place(pod)
            return
        message = fit_error(len(states), results, (pod.get('spec') or {}).get('preemptionPolicy'))
        self._unschedulable(pod, message)

    def _bind(self, pod: Obj, state: _NodeState) -> None:
        pod_res = self.res('v1', 'Pod')
        current = self.store.get(pod_res, pod['metadata']['namespace'], name_of(pod))
        current['spec']['nodeName'] = state.name
        current['metadata'].pop('resourceVersion', None)
        bound = self.store.update(pod_res, current)
        status = dict(bound.get('status') or {})
        status.setdefault('phase', 'Pending')
        conditions = [c for c in status.get('conditions') or () if c.get('type') != 'PodScheduled']
        conditions.append({'type': 'PodScheduled', 'status': 'True', 'lastProbeTime': None, 'lastTransitionTime': self.stamp()})
        status['conditions'] = conditions
        status.setdefault('qosClass', qos_class(bound.get('spec') or {}))
        bound = write_status(self.sim, pod_res, bound, status)
        self._reported.pop(pod['metadata']['uid'], None)
        events.record(self.sim, bound, 'Normal', 'Scheduled',
                      f'Successfully assigned {bound["metadata"]["namespace"]}/{name_of(bound)} to {state.name}', SCHEDULER_NAME)

    def _unschedulable(self, pod: Obj, message: str) -> None:
        pod_res = self.res('v1', 'Pod')
        uid = pod['metadata']['uid']
        now = self.now()
        last = self._reported.get(uid)
        cond = get_condition(pod.get('status'), 'PodScheduled')
        if last is not None and last[0] == message and now - last[1] < RETRY_EVENT_SECONDS and cond is not None \
                and cond.get('message') == message:
            return
        status = dict(pod.get('status') or {})
        status.setdefault('phase', 'Pending')
        status.setdefault('qosClass', qos_class(pod.get('spec') or {}))
        new = {'type': 'PodScheduled', 'status': 'False', 'lastProbeTime': None, 'lastTransitionTime': self.stamp(),
               'reason': 'Unschedulable', 'message': message}
        if cond is not None and cond.get('status') == 'False' and cond.get('lastTransitionTime'):
            new['lastTransitionTime'] = cond['lastTransitionTime']
        status['conditions'] = [c for c in status.get('conditions') or () if c.get('type') != 'PodScheduled'] + [new]
        stored = write_status(self.sim, pod_res, pod, status)
        events.record(self.sim, stored, 'Warning', 'FailedScheduling', message, SCHEDULER_NAME)
        self._reported[uid] = (message, now)
