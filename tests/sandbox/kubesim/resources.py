"""The resource types the simulator serves, with what discovery says about each."""

from __future__ import annotations

import dataclasses

STANDARD_VERBS = ('create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch')
READ_VERBS = ('get', 'list')
# Every resource supports these field selectors; some support more (see ResourceType.fields).
COMMON_FIELDS = frozenset({'metadata.name', 'metadata.namespace'})


@dataclasses.dataclass(frozen=True)
class Subresource:
    """A subresource as discovery lists it: `deployments/scale` is autoscaling/v1 Scale."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # None: the parent's group and version
    version: str | None = None


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One resource of one group version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    subresources: tuple[Subresource, ...] = ()
    categories: tuple[str, ...] = ()
    fields: frozenset[str] = frozenset()
    flavour: str = ''  # '' always served; 'openshift' only when the simulator runs with that flavour

    @property
    def api_version(self) -> str:
        """`apps/v1`, or `v1` for the core group."""
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def singular(self) -> str:
        """The singular name discovery reports."""
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        """Kind of a list response."""
        return self.kind + 'List'

    @property
    def qualified(self) -> str:
        """`deployments.apps`, or `pods` for the core group, as messages name it."""
        return f'{self.plural}.{self.group}' if self.group else self.plural

    @property
    def field_selectors(self) -> frozenset[str]:
        """The field labels a list of this resource may be filtered by."""
        return COMMON_FIELDS | self.fields

    def subresource(self, name: str) -> Subresource | None:
        """The named subresource, if served."""
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def discovery(self) -> list[dict]:
        """The APIResource entries for this resource and its subresources."""
        entries = [{
            'name': self.plural, 'singularName': self.singular, 'namespaced': self.namespaced, 'kind': self.kind,
            'verbs': list(self.verbs), **({'shortNames': list(self.short_names)} if self.short_names else {}),
            **({'categories': list(self.categories)} if self.categories else {}),
        }]
        for sub in self.subresources:
            entry = {'name': f'{self.plural}/{sub.name}', 'singularName': '', 'namespaced': self.namespaced, 'kind': sub.kind, 'verbs': list(sub.verbs)}
            if sub.group is not None:
                entry['group'] = sub.group
                entry['version'] = sub.version
            entries.append(entry)
        return entries


STATUS = Subresource('status', '', ('get', 'patch', 'update'))  # kind filled per resource in _status()
SCALE = Subresource('scale', 'Scale', ('get', 'patch', 'update'), 'autoscaling', 'v1')
ALL = ('all',)


def _with_status(kind: str, *more: Subresource) -> tuple[Subresource, ...]:
    return (Subresource('status', kind, STATUS.verbs), *more)


def _resource(group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kwargs) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, **kwargs)


RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    _resource('', 'v1', 'Namespace', 'namespaces', False, short_names=('ns',), verbs=('create', 'delete', 'get', 'list', 'patch', 'update', 'watch'),
              subresources=_with_status('Namespace'), fields=frozenset({'status.phase'})),
    _resource('', 'v1', 'Node', 'nodes', False, short_names=('no',), subresources=_with_status('Node'), fields=frozenset({'spec.unschedulable'})),
    _resource('', 'v1', 'Pod', 'pods', short_names=('po',), categories=ALL,
              subresources=_with_status('Pod',
                                        Subresource('log', 'Pod', ('get',)),
                                        Subresource('eviction', 'Eviction', ('create',), 'policy', 'v1'),
                                        Subresource('exec', 'PodExecOptions', ('create', 'get'))),
              fields=frozenset({'spec.nodeName', 'status.phase', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName',
                                'status.podIP', 'status.nominatedNodeName', 'spec.hostNetwork'})),
    _resource('', 'v1', 'Service', 'services', short_names=('svc',), categories=ALL, subresources=_with_status('Service')),
    _resource('', 'v1', 'Endpoints', 'endpoints', short_names=('ep',)),
    _resource('', 'v1', 'Secret', 'secrets', fields=frozenset({'type'})),
    _resource('', 'v1', 'ConfigMap', 'configmaps', short_names=('cm',)),
    _resource('', 'v1', 'ServiceAccount', 'serviceaccounts', short_names=('sa',)),
    _resource('', 'v1', 'Event', 'events', short_names=('ev',),
              fields=frozenset({'involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
                                'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath',
                                'reason', 'reportingComponent', 'source', 'type'})),
    _resource('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', short_names=('pvc',), subresources=_with_status('PersistentVolumeClaim')),
    _resource('', 'v1', 'PersistentVolume', 'persistentvolumes', False, short_names=('pv',), subresources=_with_status('PersistentVolume')),
    _resource('', 'v1', 'ReplicationController', 'replicationcontrollers', short_names=('rc',), categories=ALL,
              subresources=_with_status('ReplicationController', SCALE)),
    # apps/v1
    _resource('apps', 'v1', 'Deployment', 'deployments', short_names=('deploy',), categories=ALL, subresources=_with_status('Deployment', SCALE)),
    _resource('apps', 'v1', 'ReplicaSet', 'replicasets', short_names=('rs',), categories=ALL, subresources=_with_status('ReplicaSet', SCALE),
              fields=frozenset({'status.replicas'})),
    _resource('apps', 'v1', 'StatefulSet', 'statefulsets', short_names=('sts',), categories=ALL, subresources=_with_status('StatefulSet', SCALE)),
    _resource('apps', 'v1', 'DaemonSet', 'daemonsets', short_names=('ds',), categories=ALL, subresources=_with_status('DaemonSet')),
    _resource('apps', 'v1', 'ControllerRevision', 'controllerrevisions'),
    # batch/v1 (stored, not run: Secret consumers and restarts look at their pod templates)
    _resource('batch', 'v1', 'Job', 'jobs', categories=ALL, subresources=_with_status('Job')),
    _resource('batch', 'v1', 'CronJob', 'cronjobs', short_names=('cj',), categories=ALL, subresources=_with_status('CronJob')),
    # autoscaling, policy, networking, storage
    _resource('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', short_names=('hpa',), categories=ALL,
              subresources=_with_status('HorizontalPodAutoscaler')),
    _resource('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', short_names=('pdb',), subresources=_with_status('PodDisruptionBudget')),
    _resource('networking.k8s.io', 'v1', 'Ingress', 'ingresses', short_names=('ing',), subresources=_with_status('Ingress')),
    _resource('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', False, short_names=('sc',)),
    # metrics-server's API, for `kubectl top`
    _resource('metrics.k8s.io', 'v1beta1', 'PodMetrics', 'pods', verbs=READ_VERBS),
    _resource('metrics.k8s.io', 'v1beta1', 'NodeMetrics', 'nodes', False, verbs=READ_VERBS),
    # OpenShift
    _resource('apps.openshift.io', 'v1', 'DeploymentConfig', 'deploymentconfigs', short_names=('dc',), categories=ALL,
              subresources=_with_status('DeploymentConfig', Subresource('scale', 'Scale', SCALE.verbs, 'extensions', 'v1beta1'),
                                        Subresource('instantiate', 'DeploymentRequest', ('create',)),
                                        Subresource('rollback', 'DeploymentConfigRollback', ('create',))),
              flavour='openshift'),
)


class Registry:
    """Look-ups over the resources served in one flavour ('' or 'openshift')."""

    def __init__(self, flavour: str = '') -> None:
        self.flavour = flavour
        self.resources = tuple(r for r in RESOURCES if r.flavour in ('', flavour))
        self._by_path = {(r.group, r.version, r.plural): r for r in self.resources}
        self._by_kind = {(r.api_version, r.kind): r for r in self.resources}

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at /apis/<group>/<version>/<plural> (group '' is /api/v1)."""
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource for an object's apiVersion and kind."""
        return self._by_kind.get((api_version, kind))

    def get(self, api_version: str, kind: str) -> ResourceType:
        """Like by_kind, for kinds the simulator itself serves (a KeyError is a bug)."""
        return self._by_kind[(api_version, kind)]

    def group_versions(self) -> dict[str, list[str]]:
        """Served versions per group, the preferred first ('' is the core group)."""
        result: dict[str, list[str]] = {}
        for res in self.resources:
            versions = result.setdefault(res.group, [])
            if res.version not in versions:
                versions.append(res.version)
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """The resources of one group version, in registration order."""
        return [r for r in self.resources if r.group == group and r.version == version]
