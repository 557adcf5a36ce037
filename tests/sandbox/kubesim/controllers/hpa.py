"""The HorizontalPodAutoscaler controller (autoscaling/v2), as pkg/controller/podautoscaler computes it.

The metric comes from config.hpa_metrics["<namespace>/<hpa name>"]: the value the
controller sees as a percentage of the target (150 = 1.5 x the target). Then as the
real one: desired = ceil(current * ratio) unless the ratio is within the 10%
tolerance, clamped to minReplicas/maxReplicas and to the scale-up limit
(max(2 x current, 4) without spec.behavior, the behavior's policies with it); the
target's spec.replicas is set whenever it differs (so a manual scale is undone),
with SuccessfulRescale events and the AbleToScale / ScalingActive / ScalingLimited
conditions. No metric configured: ScalingActive False (FailedGetResourceMetric) and
no change, but replicas outside min/max are still brought back within them.

Stabilization: spec.behavior's windows are honoured (the apiserver defaults
scaleDown to 300 s once spec.behavior is given). Without spec.behavior the real
controller applies its --horizontal-pod-autoscaler-downscale-stabilization of 5
minutes; the simulator uses 0 there so that scale-downs show at once.
"""

from __future__ import annotations

import math
from typing import Any

from .. import errors
from ..quantity import format_cpu, format_decimal, parse_quantity
from . import events
from .common import Controller, Obj, name_of, namespace_of, write_status
from .defaults import apply_defaults, scale_down_rules, scale_up_rules
from .placement import pod_requests

COMPONENT = 'horizontal-pod-autoscaler'
TOLERANCE = 0.1
# The real default is 300 s (see the module docstring).
DEFAULT_DOWNSCALE_STABILIZATION_SECONDS = 0.0


def _set_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str, now: str) -> None:
    """setConditionInList: in place; lastTransitionTime changes with the status."""
    for cond in conditions:
        if cond.get('type') == type_:
            if cond.get('status') != status:
                cond['lastTransitionTime'] = now
            cond.update({'status': status, 'reason': reason, 'message': message})
            return
    conditions.append({'type': type_, 'status': status, 'lastTransitionTime': now, 'reason': reason, 'message': message})


def metric_name(metric: Obj) -> str:
    """How the controller names a metric in reasons and conditions."""
    type_ = metric.get('type')
    if type_ in ('Resource', 'ContainerResource'):
        source = metric.get('resource' if type_ == 'Resource' else 'containerResource') or {}
        what = 'resource' if type_ == 'Resource' else 'container resource'
        if (source.get('target') or {}).get('type') == 'Utilization':
            return f'{source.get("name")} {what} utilization (percentage of request)'
        return f'{source.get("name")} {what}'
    if type_ == 'Pods':
        return f'pods metric {((metric.get("pods") or {}).get("metric") or {}).get("name")}'
    if type_ == 'Object':
        source = metric.get('object') or {}
        return f'{(source.get("describedObject") or {}).get("kind")} metric {(source.get("metric") or {}).get("name")}'
    if type_ == 'External':
        return f'external metric {((metric.get("external") or {}).get("metric") or {}).get("name")}(nil)'
    return f'{type_} metric'


def _scaled(quantity: Any, ratio: float, cpu: bool) -> str:
    value = parse_quantity(quantity) * ratio
    return format_cpu(value) if cpu else format_decimal(round(value))


def current_metric(metric: Obj, percent: float, template_spec: Obj) -> Obj:
    """The status.currentMetrics entry for a metric seen at `percent` of its target."""
    ratio = percent / 100
    type_ = metric.get('type')
    key = {'Resource': 'resource', 'ContainerResource': 'containerResource', 'Pods': 'pods', 'Object': 'object',
           'External': 'external'}.get(type_ or '', 'resource')
    source = metric.get(key) or {}
    target = source.get('target') or {}
    current: Obj = {}
    if target.get('type') == 'Utilization':
        utilization = int(round(int(target.get('averageUtilization') or 0) * ratio))
        current['averageUtilization'] = utilization
        requests = pod_requests(template_spec)
        name = source.get('name')
        if name == 'cpu':
            per_pod = (requests.milli_cpu or 100) / 1000
            current['averageValue'] = format_cpu(per_pod * utilization / 100)
        elif name == 'memory':
            current['averageValue'] = format_decimal(round((requests.memory or 256 * 2 ** 20) * utilization / 100))
    elif target.get('type') == 'AverageValue':
        current['averageValue'] = _scaled(target.get('averageValue') or 0, ratio, source.get('name') == 'cpu')
    else:
        current['value'] = _scaled(target.get('value') or 0, ratio, False)
    entry: Obj = {'type': type_}
    inner = {k: v for k, v in source.items() if k != 'target'}
    inner['current'] = current
    entry[key] = inner
    return entry


def _failed_metric(metric: Obj) -> tuple[str, str]:
    """(reason, error) the controller reports when it gets no value for a metric."""
    type_ = metric.get('type')
    if type_ in ('Resource', 'ContainerResource'):
        source = metric.get('resource' if type_ == 'Resource' else 'containerResource') or {}
        name = source.get('name')
        reason = 'FailedGetResourceMetric' if type_ == 'Resource' else 'FailedGetContainerResourceMetric'
        if (source.get('target') or {}).get('type') == 'Utilization':
            return reason, (f'failed to get {name} utilization: unable to get metrics for resource {name}: '
                            'no metrics returned from resource metrics API')
        return reason, f'failed to get {name} usage: unable to get metrics for resource {name}: no metrics returned from resource metrics API'
    if type_ == 'Pods':
        name = ((metric.get('pods') or {}).get('metric') or {}).get('name')
        return 'FailedGetPodsMetric', f'unable to get metric {name}: unable to fetch metrics from custom metrics API: no metrics returned'
    if type_ == 'Object':
        name = ((metric.get('object') or {}).get('metric') or {}).get('name')
        return 'FailedGetObjectMetric', f'unable to get metric {name}: unable to fetch metrics from custom metrics API: no metrics returned'
    name = ((metric.get('external') or {}).get('metric') or {}).get('name')
    return 'FailedGetExternalMetric', f'unable to get external metric {name}: no metrics returned from external metrics API'


class HPAController(Controller):
    """autoscaling/v2 HorizontalPodAutoscalers on anything with a scale subresource."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.recommendations: dict[str, list[tuple[float, int]]] = {}
        self.scale_up_events: dict[str, list[tuple[float, int]]] = {}
        self.scale_down_events: dict[str, list[tuple[float, int]]] = {}
        self.reported: dict[str, str] = {}

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        hpas = list(self.store.items(self.res('autoscaling/v2', 'HorizontalPodAutoscaler')))
        self.each(hpas, self.sync)
        live = {f'{namespace_of(h)}/{name_of(h)}' for h in hpas}
        for memory in (self.recommendations, self.scale_up_events, self.scale_down_events, self.reported):
            for key in [k for k in memory if k not in live]:
                del memory[key]

    def _event(self, hpa: Obj, type_: str, reason: str, message: str, once: bool = False) -> None:
        key = f'{namespace_of(hpa)}/{name_of(hpa)}'
        if once and self.reported.get(key) == f'{reason}:{message}':
            return
        self.reported[key] = f'{reason}:{message}'
        events.record(self.sim, hpa, type_, reason, message, COMPONENT)

    def sync(self, stored: Obj) -> None:
        """reconcileAutoscaler."""
        hpa = apply_defaults('HorizontalPodAutoscaler', stored)
        spec = hpa['spec']
        key = f'{namespace_of(hpa)}/{name_of(hpa)}'
        now = self.now()
        stamp = self.stamp()
        old_status = stored.get('status') or {}
        conditions = [dict(c) for c in old_status.get('conditions') or ()]
        status: Obj = {'observedGeneration': hpa['metadata'].get('generation', 1)}
        if old_status.get('lastScaleTime'):
            status['lastScaleTime'] = old_status['lastScaleTime']
        ref = spec.get('scaleTargetRef') or {}
        target_res = self.sim.registry.by_kind(ref.get('apiVersion', ''), ref.get('kind', ''))
        target = None
        if target_res is not None and target_res.subresource('scale') is not None:
            target = self.store.find(target_res, namespace_of(hpa), ref.get('name', ''))
        if target is None:
            if target_res is None:
                error = f'no matches for kind "{ref.get("kind")}" in group "{ref.get("apiVersion", "").rpartition("/")[0]}"'
            else:
                error = errors.not_found(target_res.group, target_res.plural, ref.get('name', '')).message
            _set_condition(conditions, 'AbleToScale', 'False', 'FailedGetScale',
                           f"the HPA controller was unable to get the target's current scale: {error}", stamp)
            self._event(hpa, 'Warning', 'FailedGetScale', error, once=True)
            status.update({'currentReplicas': int(old_status.get('currentReplicas') or 0), 'desiredReplicas': 0, 'conditions': conditions})
            self._write(stored, status)
            return
        target_spec = target.get('spec') or {}
        current = int(target_spec.get('replicas', 0 if target_res.kind == 'DeploymentConfig' else 1))
        minimum = int(spec.get('minReplicas', 1))
        maximum = int(spec.get('maxReplicas', minimum))
        _set_condition(conditions, 'AbleToScale', 'True', 'SucceededGetScale', "the HPA controller was able to get the target's current scale",
                       stamp)
        self.recommendations.setdefault(key, [(now, current)])
        metrics = spec.get('metrics') or []
        rescale_reason = ''
        current_metrics: list[Obj] = []
        rescale = False
        if current == 0 and minimum != 0:
            desired = 0
            _set_condition(conditions, 'ScalingActive', 'False', 'ScalingDisabled', 'scaling is disabled since the replica count of the target is zero',
                           stamp)
        elif current > maximum:
            rescale_reason, desired = 'Current number of replicas above Spec.MaxReplicas', maximum
            rescale = desired != current
        elif current < minimum:
            rescale_reason, desired = 'Current number of replicas below Spec.MinReplicas', minimum
            rescale = desired != current
        else:
            percent = self.config.hpa_metrics.get(key)
            if percent is None or not metrics:
                reason, error = _failed_metric(metrics[0] if metrics else {'type': 'Resource', 'resource': {'name': 'cpu'}})
                _set_condition(conditions, 'ScalingActive', 'False', reason, f'the HPA was unable to compute the replica count: {error}', stamp)
                self._event(hpa, 'Warning', reason, error, once=True)
                status.update({'currentReplicas': current, 'desiredReplicas': int(old_status.get('desiredReplicas') or current),
                               'conditions': conditions})
                self._write(stored, status)
                return
            ratio = float(percent) / 100
            proposal = current if abs(ratio - 1.0) <= TOLERANCE else int(math.ceil(ratio * current))
            template_spec = ((target_spec.get('template') or {}).get('spec')) or {}
            current_metrics = [current_metric(m, float(percent), template_spec) for m in metrics]
            name = metric_name(metrics[0])
            _set_condition(conditions, 'ScalingActive', 'True', 'ValidMetricFound',
                           f'the HPA was able to successfully calculate a replica count from {name}', stamp)
            rescale_reason = f'{name} above target' if proposal > current else 'All metrics below target'
            if spec.get('behavior') is None:
                desired = self._normalize(key, conditions, current, proposal, minimum, maximum, now, stamp)
            else:
                desired = self._normalize_with_behavior(key, hpa, conditions, current, proposal, minimum, maximum, now, stamp)
            rescale = desired != current
        if rescale:
            self._scale(target_res, target, desired)
            _set_condition(conditions, 'AbleToScale', 'True', 'SucceededRescale', f'the HPA controller was able to update the target scale to {desired}',
                           stamp)
            self._event(hpa, 'Normal', 'SuccessfulRescale', f'New size: {desired}; reason: {rescale_reason}')
            if spec.get('behavior') is not None:
                events_ = self.scale_up_events if desired > current else self.scale_down_events
                events_.setdefault(key, []).append((now, abs(desired - current)))
            status['lastScaleTime'] = stamp
        else:
            desired = current if not (current == 0 and minimum != 0) else 0
        status.update({'currentReplicas': current, 'desiredReplicas': desired})
        if current_metrics:
            status['currentMetrics'] = current_metrics
        status['conditions'] = conditions
        self._write(stored, status)

    def _write(self, stored: Obj, status: Obj) -> None:
        if not status.get('currentReplicas'):
            status.pop('currentReplicas', None)
        write_status(self.sim, self.res('autoscaling/v2', 'HorizontalPodAutoscaler'), stored, status)

    def _scale(self, res: Any, target: Obj, replicas: int) -> None:
        current = self.store.get(res, namespace_of(target), name_of(target))
        current.setdefault('spec', {})['replicas'] = replicas
        current['metadata'].pop('resourceVersion', None)
        self.store.update(res, current)

    # -- without spec.behavior -------------------------------------------------------------------------------------

    def _normalize(self, key: str, conditions: list[Obj], current: int, proposal: int, minimum: int, maximum: int, now: float,
                   stamp: str) -> int:
        """normalizeDesiredReplicas: stabilization, then the min/max and scale-up limits."""
        stabilized = proposal
        window = DEFAULT_DOWNSCALE_STABILIZATION_SECONDS
        history = self.recommendations.setdefault(key, [])
        if window > 0:
            stabilized = max([proposal] + [r for t, r in history if t > now - window])
        history[:] = [(t, r) for t, r in history if window > 0 and t > now - window] + [(now, proposal)]
        if stabilized != proposal:
            _set_condition(conditions, 'AbleToScale', 'True', 'ScaleDownStabilized',
                           'recent recommendations were higher than current one, applying the highest recent recommendation', stamp)
        else:
            _set_condition(conditions, 'AbleToScale', 'True', 'ReadyForNewScale', 'recommended size matches current size', stamp)
        scale_up_limit = max(2 * current, 4)
        if maximum > scale_up_limit:
            allowed_max, limit_reason, limit_message = scale_up_limit, 'ScaleUpLimit', \
                'the desired replica count is increasing faster than the maximum scale rate'
        else:
            allowed_max, limit_reason, limit_message = maximum, 'TooManyReplicas', 'the desired replica count is more than the maximum replica count'
        if stabilized < minimum:
            desired, limit_reason, limit_message = minimum, 'TooFewReplicas', 'the desired replica count is less than the minimum replica count'
        elif stabilized > allowed_max:
            desired = allowed_max
        else:
            desired, limit_reason, limit_message = stabilized, 'DesiredWithinRange', 'the desired count is within the acceptable range'
        _set_condition(conditions, 'ScalingLimited', 'False' if desired == stabilized else 'True', limit_reason, limit_message, stamp)
        return desired

    # -- with spec.behavior ------------------------------------------------------------------------------------------

    def _normalize_with_behavior(self, key: str, hpa: Obj, conditions: list[Obj], current: int, proposal: int, minimum: int, maximum: int,
                                 now: float, stamp: str) -> int:
        """normalizeDesiredReplicasWithBehaviors: stabilization windows and scaling policies."""
        behavior = hpa['spec'].get('behavior') or {}
        up_rules = scale_up_rules(behavior.get('scaleUp'))
        down_rules = scale_down_rules(behavior.get('scaleDown'))
        up_cutoff = now - float(up_rules.get('stabilizationWindowSeconds') or 0)
        down_cutoff = now - float(down_rules.get('stabilizationWindowSeconds') or 0)
        history = self.recommendations.setdefault(key, [])
        up_recommendation = down_recommendation = proposal
        for when, value in history:
            if when > up_cutoff:
                up_recommendation = min(value, up_recommendation)
            if when > down_cutoff:
                down_recommendation = max(value, down_recommendation)
        stabilized = max(current, up_recommendation)
        stabilized = min(stabilized, down_recommendation)
        history[:] = [(t, r) for t, r in history if t > min(up_cutoff, down_cutoff)] + [(now, proposal)]
        if stabilized != proposal:
            if proposal >= current:
                _set_condition(conditions, 'AbleToScale', 'True', 'ScaleUpStabilized',
                               'recent recommendations were lower than current one, applying the lowest recent recommendation', stamp)
            else:
                _set_condition(conditions, 'AbleToScale', 'True', 'ScaleDownStabilized',
                               'recent recommendations were higher than current one, applying the highest recent recommendation', stamp)
        else:
            _set_condition(conditions, 'AbleToScale', 'True', 'ReadyForNewScale', 'recommended size matches current size', stamp)
        desired, reason, message = stabilized, 'DesiredWithinRange', 'the desired count is within the acceptable range'
        if stabilized > current:
            limit = max(current, self._limit(key, current, up_rules, now, up=True))
            if maximum > limit:
                allowed, reason_, message_ = limit, 'ScaleUpLimit', 'the desired replica count is increasing faster than the maximum scale rate'
            else:
                allowed, reason_, message_ = maximum, 'TooManyReplicas', 'the desired replica count is more than the maximum replica count'
            if stabilized > allowed:
                desired, reason, message = allowed, reason_, message_
        elif stabilized < current:
            limit = min(current, self._limit(key, current, down_rules, now, up=False))
            if minimum < limit:
                allowed, reason_, message_ = limit, 'ScaleDownLimit', 'the desired replica count is decreasing faster than the maximum scale rate'
            else:
                allowed, reason_, message_ = minimum, 'TooFewReplicas', 'the desired replica count is less than the minimum replica count'
            if stabilized < allowed:
                desired, reason, message = allowed, reason_, message_
        _set_condition(conditions, 'ScalingLimited', 'False' if desired == stabilized else 'True', reason, message, stamp)
        return desired

    def _limit(self, key: str, current: int, rules: Obj, now: float, up: bool) -> int:
        """calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors."""
        select = rules.get('selectPolicy') or 'Max'
        if select == 'Disabled':
            return current
        results = []
        for policy in rules.get('policies') or ():
            period = float(policy.get('periodSeconds') or 0)
            added = sum(n for t, n in self.scale_up_events.get(key, []) if t > now - period)
            deleted = sum(n for t, n in self.scale_down_events.get(key, []) if t > now - period)
            start = current - added + deleted
            value = int(policy.get('value') or 0)
            if policy.get('type') == 'Pods':
                results.append(start + value if up else start - value)
            elif up:
                results.append(int(math.ceil(start * (1 + value / 100))))
            else:
                results.append(int(start * (1 - value / 100)))
        if not results:
            return current
        if up:
            return min(results) if select == 'Min' else max(results)
        return max(results) if select == 'Min' else min(results)
