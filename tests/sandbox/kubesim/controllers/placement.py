"""Where a pod may run: taints and tolerations, node selectors and affinity, resource requests (scheduler and DaemonSets)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..quantity import parse_decimal, parse_quantity
from .common import Obj, container_resources, get_condition

# Taints the node lifecycle controller puts on nodes (all NoSchedule; not-ready also NoExecute).
TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable'
TAINT_NOT_READY = 'node.kubernetes.io/not-ready'
TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable'
TAINT_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure'
TAINT_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure'
TAINT_PID_PRESSURE = 'node.kubernetes.io/pid-pressure'
TAINT_NETWORK_UNAVAILABLE = 'node.kubernetes.io/network-unavailable'
# The scheduler scores pods without requests as if they asked for this much (schedutil.DefaultMilliCPURequest, DefaultMemoryRequest).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.get('effect') and toleration['effect'] != taint.get('effect'):
        return False
    if toleration.get('key') and toleration['key'] != taint.get('key'):
        return False
    operator = toleration.get('operator') or 'Equal'
    if operator == 'Exists':
        return True
    if operator == 'Equal':
        return (toleration.get('value') or '') == (taint.get('value') or '')
    return False


def untolerated_taint(taints: Iterable[Obj], tolerations: Iterable[Obj], effects: tuple[str, ...] = ('NoSchedule', 'NoExecute')) -> Obj | None:
    """v1helper.FindMatchingUntoleratedTaint for the given effects."""
    tolerations = list(tolerations or ())
    for taint in taints or ():
        if taint.get('effect') not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def taint_text(taint: Obj) -> str:
    """A taint as the scheduler's message writes it: `{key: value}`."""
    return '{%s: %s}' % (taint.get('key', ''), taint.get('value', ''))


def _requirement_matches(requirement: Obj, value: str | None) -> bool:
    operator = requirement.get('operator')
    values = [str(v) for v in requirement.get('values') or ()]
    if operator == 'In':
        return value is not None and value in values
    if operator == 'NotIn':
        return value is None or value not in values
    if operator == 'Exists':
        return value is not None
    if operator == 'DoesNotExist':
        return value is None
    if operator in ('Gt', 'Lt') and value is not None and len(values) == 1:
        try:
            left, right = int(value), int(values[0])
        except ValueError:
            return False
        return left > right if operator == 'Gt' else left < right
    return False


def node_selector_term_matches(term: Obj, node: Obj) -> bool:
    """One NodeSelectorTerm: all matchExpressions (labels) and matchFields (metadata.name); an empty term matches nothing."""
    expressions = term.get('matchExpressions') or []
    fields = term.get('matchFields') or []
    if not expressions and not fields:
        return False
    labels = node['metadata'].get('labels') or {}
    for requirement in expressions:
        if not _requirement_matches(requirement, labels.get(requirement.get('key', ''))):
            return False
    for requirement in fields:
        value = node['metadata']['name'] if requirement.get('key') == 'metadata.name' else None
        if not _requirement_matches(requirement, value):
            return False
    return True


def matches_node_affinity(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution node affinity (NodeAffinity filter)."""
    labels = node['metadata'].get('labels') or {}
    for key, value in (pod_spec.get('nodeSelector') or {}).items():
        if labels.get(key) != value:
            return False
    required = (((pod_spec.get('affinity') or {}).get('nodeAffinity') or {})
                .get('requiredDuringSchedulingIgnoredDuringExecution'))
    if required is None:
        return True
    terms = required.get('nodeSelectorTerms') or []
    return any(node_selector_term_matches(term, node) for term in terms)


def node_is_ready(node: Obj) -> bool:
    """Whether the node's Ready condition is True."""
    cond = get_condition(node.get('status'), 'Ready')
    return cond is not None and cond.get('status') == 'True'


def internal_ip(node: Obj) -> str:
    """The node's InternalIP address ('' when it has none)."""
    for address in (node.get('status') or {}).get('addresses') or ():
        if address.get('type') == 'InternalIP':
            return address.get('address', '')
    return ''


@dataclasses.dataclass
class Resources:
    """Requested or allocatable amounts: CPU in millicores, memory and ephemeral storage in bytes, pods, extended resources."""

    milli_cpu: int = 0
    memory: float = 0
    ephemeral_storage: float = 0
    pods: int = 0
    scalar: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, other: Resources) -> None:
        """Add other into this."""
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.pods += other.pods
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + value


def _milli(value: object) -> int:
    exact = parse_decimal(value) * 1000  # type: ignore[arg-type]
    return int(exact) if exact == int(exact) else int(exact) + 1


def _resource_list(values: Obj) -> Resources:
    result = Resources()
    for name, value in (values or {}).items():
        if name == 'cpu':
            result.milli_cpu = _milli(value)
        elif name == 'memory':
            result.memory = parse_quantity(value)
        elif name == 'ephemeral-storage':
            result.ephemeral_storage = parse_quantity(value)
        elif name == 'pods':
            result.pods = int(parse_quantity(value))
        elif '/' in name or name.startswith('hugepages-'):
            result.scalar[name] = parse_quantity(value)
    return result


def pod_requests(pod_spec: Obj) -> Resources:
    """resourcehelper.PodRequests: the sum over containers, at least the largest init container, plus overhead."""
    total = Resources()
    for container in pod_spec.get('containers') or ():
        requests, _limits = container_resources(container)
        total.add(_resource_list(requests))
    for container in pod_spec.get('initContainers') or ():
        requests, _limits = container_resources(container)
        init = _resource_list(requests)
        total.milli_cpu = max(total.milli_cpu, init.milli_cpu)
        total.memory = max(total.memory, init.memory)
        total.ephemeral_storage = max(total.ephemeral_storage, init.ephemeral_storage)
        for name, value in init.scalar.items():
            total.scalar[name] = max(total.scalar.get(name, 0), value)
    total.add(_resource_list(pod_spec.get('overhead') or {}))
    total.pods = 1
    return total


def non_zero_requests(pod_spec: Obj) -> tuple[int, float]:
    """(millicores, bytes) as the scheduler's scoring counts them: containers without requests count as 100m and 200Mi."""
    milli, memory = 0, 0.0
    for container in pod_spec.get('containers') or ():
        requests, _limits = container_resources(container)
        milli += _milli(requests['cpu']) if 'cpu' in requests else DEFAULT_MILLI_CPU_REQUEST
        memory += parse_quantity(requests['memory']) if 'memory' in requests else DEFAULT_MEMORY_REQUEST
    return milli, memory


def allocatable(node: Obj) -> Resources:
    """The node's status.allocatable (capacity when allocatable is missing)."""
    status = node.get('status') or {}
    return _resource_list(status.get('allocatable') or status.get('capacity') or {})


def host_ports(pod_spec: Obj) -> set[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) of every container port with a hostPort."""
    ports = set()
    for container in pod_spec.get('containers') or ():
        for port in container.get('ports') or ():
            if port.get('hostPort'):
                ports.add((port.get('hostIP') or '0.0.0.0', port.get('protocol') or 'TCP', int(port['hostPort'])))
    return ports


# What DaemonSet pods tolerate on top of their template (util.AddOrUpdateDaemonPodTolerations).
DAEMON_TOLERATIONS = (
    {'key': TAINT_NOT_READY, 'operator': 'Exists', 'effect': 'NoExecute'},
    {'key': TAINT_UNREACHABLE, 'operator': 'Exists', 'effect': 'NoExecute'},
    {'key': TAINT_DISK_PRESSURE, 'operator': 'Exists', 'effect': 'NoSchedule'},
    {'key': TAINT_MEMORY_PRESSURE, 'operator': 'Exists', 'effect': 'NoSchedule'},
    {'key': TAINT_PID_PRESSURE, 'operator': 'Exists', 'effect': 'NoSchedule'},
    {'key': TAINT_UNSCHEDULABLE, 'operator': 'Exists', 'effect': 'NoSchedule'},
)
DAEMON_HOST_NETWORK_TOLERATION = {'key': TAINT_NETWORK_UNAVAILABLE, 'operator': 'Exists', 'effect': 'NoSchedule'}


def add_daemon_tolerations(pod_spec: Obj) -> Obj:
    """Add the DaemonSet tolerations to a pod spec (in place), replacing a toleration of the same key and effect."""
    tolerations = list(pod_spec.get('tolerations') or [])
    wanted = list(DAEMON_TOLERATIONS)
    if pod_spec.get('hostNetwork'):
        wanted.append(DAEMON_HOST_NETWORK_TOLERATION)
    for toleration in wanted:
        tolerations = [t for t in tolerations if not (t.get('key') == toleration['key'] and t.get('effect') == toleration['effect'])]
        tolerations.append(dict(toleration))
    pod_spec['tolerations'] = tolerations
    return pod_spec
