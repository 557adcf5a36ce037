"""The apiserver's defaulting (SetDefaults_* of k8s.io/kubernetes/pkg/apis/*/v1), as pure functions.

`apply_defaults(kind, obj)` returns a defaulted deep copy; the HTTP layer calls it
before storing on create, replace and patch, so that kubectl apply and the
kubernetes.core modules diff against what a real cluster would have stored. The
controllers call it too, on what they read, so that objects written straight into
the store (tests) behave the same.

Only defaults are here, not what admission plugins or registry strategies add
from other state (a Service's clusterIP, a Job's generated selector, the service
account token volume).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

DEFAULT_TERMINATION_GRACE_PERIOD = 30
SECRET_DEFAULT_MODE = 0o644  # 420, as configMap/secret/projected/downwardAPI volumes default it
# DefaultTolerationSeconds admission: every pod tolerates a not-ready or unreachable node for 5 minutes.
DEFAULT_TOLERATION_SECONDS = 300


def apply_defaults(kind: str, obj: Obj) -> Obj:
    """A copy of obj with the apiserver's defaults for that kind filled in; kinds without defaults come back unchanged."""
    result = copy.deepcopy(obj)
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None and isinstance(result, dict):
        defaulter(result)
    return result


# -- core/v1 pod templates -----------------------------------------------------------------------------


def image_tag(image: str) -> tuple[str, str, str]:
    """parsers.ParseImageName: (repository, tag, digest); the tag defaults to "latest" when neither tag nor digest is given."""
    name, _at, digest = image.partition('@')
    last = name.rsplit('/', 1)[-1]
    tag = ''
    if ':' in last:
        name, tag = name.rsplit(':', 1)
    if not tag and not digest:
        tag = 'latest'
    return name, tag, digest


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault('timeoutSeconds', 1)
    probe.setdefault('periodSeconds', 10)
    probe.setdefault('successThreshold', 1)
    probe.setdefault('failureThreshold', 3)
    http_get = probe.get('httpGet')
    if isinstance(http_get, dict):
        http_get.setdefault('scheme', 'HTTP')
        http_get.setdefault('path', '/')
    grpc = probe.get('grpc')
    if isinstance(grpc, dict):
        grpc.setdefault('service', '')


def _container(container: Any, host_network: bool) -> None:
    if not isinstance(container, dict):
        return
    if not container.get('imagePullPolicy'):
        _name, tag, _digest = image_tag(str(container.get('image') or ''))
        container['imagePullPolicy'] = 'Always' if tag == 'latest' else 'IfNotPresent'
    container.setdefault('terminationMessagePath', '/dev/termination-log')
    container.setdefault('terminationMessagePolicy', 'File')
    container.setdefault('resources', {})
    for port in container.get('ports') or ():
        if isinstance(port, dict):
            port.setdefault('protocol', 'TCP')
            if host_network and 'containerPort' in port:
                port.setdefault('hostPort', port['containerPort'])
    for key in ('livenessProbe', 'readinessProbe', 'startupProbe'):
        _probe(container.get(key))
    for env in container.get('env') or ():
        field_ref = ((env or {}).get('valueFrom') or {}).get('fieldRef') if isinstance(env, dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault('apiVersion', 'v1')


def _volume(volume: Any) -> None:
    if not isinstance(volume, dict):
        return
    sources = [k for k in volume if k != 'name']
    if not sources:
        volume['emptyDir'] = {}
    for key in ('secret', 'configMap', 'projected', 'downwardAPI'):
        source = volume.get(key)
        if isinstance(source, dict):
            source.setdefault('defaultMode', SECRET_DEFAULT_MODE)
    host_path = volume.get('hostPath')
    if isinstance(host_path, dict):
        host_path.setdefault('type', '')


def pod_spec_defaults(spec: Obj) -> Obj:
    """SetDefaults_PodSpec and its containers, probes, ports and volumes (in place; returned for chaining)."""
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('dnsPolicy', 'ClusterFirst')
    spec.setdefault('securityContext', {})
    spec.setdefault('terminationGracePeriodSeconds', DEFAULT_TERMINATION_GRACE_PERIOD)
    spec.setdefault('schedulerName', 'default-scheduler')
    host_network = bool(spec.get('hostNetwork'))
    for key in ('containers', 'initContainers', 'ephemeralContainers'):
        for container in spec.get(key) or ():
            _container(container, host_network)
    for volume in spec.get('volumes') or ():
        _volume(volume)
    return spec


def pod_template_defaults(template: Any) -> Any:
    """A PodTemplateSpec: its spec defaulted, and metadata.creationTimestamp null as the Go serialisation writes it."""
    if not isinstance(template, dict):
        return template
    metadata = template.setdefault('metadata', {})
    if isinstance(metadata, dict):
        metadata.setdefault('creationTimestamp', None)
    spec = template.setdefault('spec', {})
    if isinstance(spec, dict):
        pod_spec_defaults(spec)
    return template


def _pod(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    pod_spec_defaults(spec)
    for key in ('containers', 'initContainers'):
        for container in spec.get(key) or ():
            resources = container.get('resources') if isinstance(container, dict) else None
            if isinstance(resources, dict) and resources.get('limits'):
                requests = resources.setdefault('requests', {})
                for name, value in resources['limits'].items():
                    requests.setdefault(name, value)
    spec.setdefault('enableServiceLinks', True)
    # Admission: ServiceAccount, Priority and DefaultTolerationSeconds.
    spec.setdefault('serviceAccountName', spec.get('serviceAccount') or 'default')
    spec.setdefault('serviceAccount', spec['serviceAccountName'])
    if 'priorityClassName' not in spec:
        spec.setdefault('priority', 0)
    spec.setdefault('preemptionPolicy', 'PreemptLowerPriority')
    tolerations = spec.setdefault('tolerations', [])
    for key in ('node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'):
        if not any(isinstance(t, dict) and t.get('key') == key and t.get('effect') in (None, '', 'NoExecute') for t in tolerations):
            tolerations.append({'key': key, 'operator': 'Exists', 'effect': 'NoExecute', 'tolerationSeconds': DEFAULT_TOLERATION_SECONDS})


# -- apps/v1 ------------------------------------------------------------------------------------------------


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    spec.setdefault('replicas', 1)
    strategy = spec.setdefault('strategy', {})
    strategy.setdefault('type', 'RollingUpdate')
    if strategy['type'] == 'RollingUpdate':
        rolling = strategy.get('rollingUpdate')
        if not isinstance(rolling, dict):
            rolling = strategy['rollingUpdate'] = {}
        rolling.setdefault('maxUnavailable', '25%')
        rolling.setdefault('maxSurge', '25%')
    spec.setdefault('revisionHistoryLimit', 10)
    spec.setdefault('progressDeadlineSeconds', 600)
    pod_template_defaults(spec.setdefault('template', {}))


def _replica_set(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    spec.setdefault('replicas', 1)
    pod_template_defaults(spec.setdefault('template', {}))


def _stateful_set(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    spec.setdefault('podManagementPolicy', 'OrderedReady')
    strategy = spec.setdefault('updateStrategy', {})
    if not strategy.get('type'):
        strategy['type'] = 'RollingUpdate'
        strategy.setdefault('rollingUpdate', {})
    if strategy['type'] == 'RollingUpdate' and isinstance(strategy.get('rollingUpdate'), dict):
        strategy['rollingUpdate'].setdefault('partition', 0)
    retention = spec.setdefault('persistentVolumeClaimRetentionPolicy', {})
    retention.setdefault('whenDeleted', 'Retain')
    retention.setdefault('whenScaled', 'Retain')
    spec.setdefault('replicas', 1)
    spec.setdefault('revisionHistoryLimit', 10)
    pod_template_defaults(spec.setdefault('template', {}))
    for claim in spec.get('volumeClaimTemplates') or ():
        if isinstance(claim, dict):
            claim.setdefault('apiVersion', 'v1')
            claim.setdefault('kind', 'PersistentVolumeClaim')
            claim.setdefault('metadata', {}).setdefault('creationTimestamp', None)
            claim.setdefault('spec', {}).setdefault('volumeMode', 'Filesystem')
            claim.setdefault('status', {'phase': 'Pending'})


def _daemon_set(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    strategy = spec.setdefault('updateStrategy', {})
    strategy.setdefault('type', 'RollingUpdate')
    if strategy['type'] == 'RollingUpdate':
        rolling = strategy.get('rollingUpdate')
        if not isinstance(rolling, dict):
            rolling = strategy['rollingUpdate'] = {}
        rolling.setdefault('maxUnavailable', 1)
        rolling.setdefault('maxSurge', 0)
    spec.setdefault('revisionHistoryLimit', 10)
    pod_template_defaults(spec.setdefault('template', {}))


# -- core/v1 others -----------------------------------------------------------------------------------------


def _replication_controller(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    template = spec.get('template')
    labels = (template or {}).get('metadata', {}).get('labels') if isinstance(template, dict) else None
    if labels:
        if not spec.get('selector'):
            spec['selector'] = dict(labels)
        meta = obj.setdefault('metadata', {})
        if not meta.get('labels'):
            meta['labels'] = dict(labels)
    spec.setdefault('replicas', 1)
    if isinstance(template, dict):
        pod_template_defaults(template)


def _service(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    spec.setdefault('sessionAffinity', 'None')
    if spec['sessionAffinity'] == 'None':
        spec.pop('sessionAffinityConfig', None)
    elif spec['sessionAffinity'] == 'ClientIP':
        spec.setdefault('sessionAffinityConfig', {}).setdefault('clientIP', {}).setdefault('timeoutSeconds', 10800)
    spec.setdefault('type', 'ClusterIP')
    for port in spec.get('ports') or ():
        if isinstance(port, dict):
            port.setdefault('protocol', 'TCP')
            if port.get('targetPort') in (None, 0, '') and 'port' in port:
                port['targetPort'] = port['port']
    if spec['type'] in ('NodePort', 'LoadBalancer'):
        spec.setdefault('externalTrafficPolicy', 'Cluster')
    if spec['type'] in ('ClusterIP', 'NodePort', 'LoadBalancer'):
        spec.setdefault('internalTrafficPolicy', 'Cluster')
        # Set by the registry together with the cluster IP; pure here since the simulator is single-stack IPv4.
        spec.setdefault('ipFamilies', ['IPv4'])
        spec.setdefault('ipFamilyPolicy', 'SingleStack')
    if spec['type'] == 'LoadBalancer':
        spec.setdefault('allocateLoadBalancerNodePorts', True)


def _persistent_volume_claim(obj: Obj) -> None:
    obj.setdefault('spec', {}).setdefault('volumeMode', 'Filesystem')


def _node(obj: Obj) -> None:
    # The apiserver always returns a spec; kubernetes.core.k8s_drain reads spec.unschedulable from it.
    obj.setdefault('spec', {})


def _namespace(obj: Obj) -> None:
    meta = obj.setdefault('metadata', {})
    if meta.get('name'):
        meta.setdefault('labels', {})['kubernetes.io/metadata.name'] = meta['name']
    obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])


# -- batch/v1 ------------------------------------------------------------------------------------------------


def _job(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    if 'completions' not in spec and 'parallelism' not in spec:
        spec['completions'] = 1
    spec.setdefault('parallelism', 1)
    spec.setdefault('backoffLimit', 2147483647 if spec.get('backoffLimitPerIndex') is not None else 6)
    labels = (spec.get('template') or {}).get('metadata', {}).get('labels')
    meta = obj.setdefault('metadata', {})
    if labels and not meta.get('labels'):
        meta['labels'] = dict(labels)
    spec.setdefault('completionMode', 'NonIndexed')
    spec.setdefault('suspend', False)
    spec.setdefault('podReplacementPolicy', 'Failed' if spec.get('podFailurePolicy') else 'TerminatingOrFailed')
    pod_template_defaults(spec.setdefault('template', {}))


def _cron_job(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    spec.setdefault('concurrencyPolicy', 'Allow')
    spec.setdefault('suspend', False)
    spec.setdefault('successfulJobsHistoryLimit', 3)
    spec.setdefault('failedJobsHistoryLimit', 1)
    job_template = spec.setdefault('jobTemplate', {})
    job_template.setdefault('metadata', {}).setdefault('creationTimestamp', None)
    pod_template_defaults(job_template.setdefault('spec', {}).setdefault('template', {}))


# -- autoscaling/v2 --------------------------------------------------------------------------------------------


def scale_up_rules(rules: Obj | None) -> Obj:
    """GenerateHPAScaleUpRules: the defaults merged under what the user gave."""
    rules = dict(rules or {})
    rules.setdefault('stabilizationWindowSeconds', 0)
    rules.setdefault('selectPolicy', 'Max')
    rules.setdefault('policies', [{'type': 'Pods', 'value': 4, 'periodSeconds': 15},
                                  {'type': 'Percent', 'value': 100, 'periodSeconds': 15}])
    return rules


def scale_down_rules(rules: Obj | None) -> Obj:
    """GenerateHPAScaleDownRules: the defaults merged under what the user gave."""
    rules = dict(rules or {})
    rules.setdefault('stabilizationWindowSeconds', 300)
    rules.setdefault('selectPolicy', 'Max')
    rules.setdefault('policies', [{'type': 'Percent', 'value': 100, 'periodSeconds': 15}])
    return rules


def _horizontal_pod_autoscaler(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    spec.setdefault('minReplicas', 1)
    if not spec.get('metrics'):
        spec['metrics'] = [{'type': 'Resource', 'resource': {'name': 'cpu', 'target': {'type': 'Utilization', 'averageUtilization': 80}}}]
    behavior = spec.get('behavior')
    if isinstance(behavior, dict):
        behavior['scaleUp'] = scale_up_rules(behavior.get('scaleUp'))
        behavior['scaleDown'] = scale_down_rules(behavior.get('scaleDown'))


# -- apps.openshift.io/v1 ----------------------------------------------------------------------------------------


def _zero(value: Any) -> bool:
    return value in (0, '0%', '0')


def _deployment_config(obj: Obj) -> None:
    spec = obj.setdefault('spec', {})
    if spec.get('triggers') is None:
        spec['triggers'] = [{'type': 'ConfigChange'}]
    template = spec.get('template')
    if not spec.get('selector') and isinstance(template, dict) and (template.get('metadata') or {}).get('labels'):
        spec['selector'] = dict(template['metadata']['labels'])
    spec.setdefault('replicas', 0)
    spec.setdefault('test', False)
    spec.setdefault('revisionHistoryLimit', 10)
    strategy = spec.setdefault('strategy', {})
    strategy.setdefault('type', 'Rolling')
    if strategy['type'] == 'Rolling':
        params = strategy.setdefault('rollingParams', {})
        params.setdefault('intervalSeconds', 1)
        params.setdefault('updatePeriodSeconds', 1)
        params.setdefault('timeoutSeconds', 600)
        if 'maxUnavailable' not in params and 'maxSurge' not in params:
            params['maxUnavailable'] = '25%'
            params['maxSurge'] = '25%'
        elif 'maxUnavailable' not in params and _zero(params.get('maxSurge')):
            params['maxUnavailable'] = '25%'
        elif 'maxSurge' not in params and _zero(params.get('maxUnavailable')):
            params['maxSurge'] = '25%'
    elif strategy['type'] == 'Recreate':
        strategy.setdefault('recreateParams', {}).setdefault('timeoutSeconds', 600)
    strategy.setdefault('resources', {})
    strategy.setdefault('activeDeadlineSeconds', 21600)
    for trigger in spec['triggers'] or ():
        params = trigger.get('imageChangeParams') if isinstance(trigger, dict) else None
        if isinstance(params, dict):
            source = params.setdefault('from', {})
            source.setdefault('kind', 'ImageStreamTag')
            if obj.get('metadata', {}).get('namespace'):
                source.setdefault('namespace', obj['metadata']['namespace'])
    if isinstance(template, dict):
        pod_template_defaults(template)


_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    'Pod': _pod,
    'PodTemplate': lambda obj: pod_template_defaults(obj.setdefault('template', {})),
    'Deployment': _deployment,
    'ReplicaSet': _replica_set,
    'StatefulSet': _stateful_set,
    'DaemonSet': _daemon_set,
    'ReplicationController': _replication_controller,
    'Service': _service,
    'PersistentVolumeClaim': _persistent_volume_claim,
    'Namespace': _namespace,
    'Node': _node,
    'Job': _job,
    'CronJob': _cron_job,
    'HorizontalPodAutoscaler': _horizontal_pod_autoscaler,
    'DeploymentConfig': _deployment_config,
}
