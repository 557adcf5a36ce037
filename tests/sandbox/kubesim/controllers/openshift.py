"""OpenShift DeploymentConfigs (apps.openshift.io/v1): the DC controller, its config-change trigger and the deployer.

Each version is a ReplicationController `<dc>-<latestVersion>` with the annotations
`oc` reads: openshift.io/deployment-config.name, openshift.io/deployment-config.latest-version,
openshift.io/deployment.phase (New, Running, Complete, Failed), openshift.io/encoded-deployment-config
(the DC as JSON; `oc rollout undo` takes the old template from it), openshift.io/deployment.replicas,
kubectl.kubernetes.io/desired-replicas, openshift.io/deployment.status-reason. Its pods carry
`deploymentconfig=<dc>` and `deployment=<rc>`. A template change (ConfigChange trigger)
or a status.latestVersion raised by `oc rollout latest` makes a new version; the
Rolling strategy scales the new RC up and the old ones down within maxSurge /
maxUnavailable, Recreate scales the old ones to 0 first. A version that does not
complete within the strategy's timeoutSeconds is Failed and the last complete one
is scaled back up. No deployer pods are run: the controller does their work.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .. import errors
from ..selectors import label_selector_from_set
from . import events
from .common import (Controller, Obj, controller_ref, created_at, int_annotation, is_controlled_by, modify, name_of, namespace_of,
                     scaled_value, write_status)
from .defaults import apply_defaults
from .deployments import equal_ignore_hash

COMPONENT = 'deploymentconfig-controller'
DC_NAME = 'openshift.io/deployment-config.name'
VERSION = 'openshift.io/deployment-config.latest-version'
PHASE = 'openshift.io/deployment.phase'
ENCODED = 'openshift.io/encoded-deployment-config'
REPLICAS = 'openshift.io/deployment.replicas'
DESIRED = 'kubectl.kubernetes.io/desired-replicas'
STATUS_REASON = 'openshift.io/deployment.status-reason'
DEPLOYER_POD = 'openshift.io/deployer-pod.name'
DEPLOYMENT_NAME = 'openshift.io/deployment.name'
LABEL_DC = 'deploymentconfig'
LABEL_DEPLOYMENT = 'deployment'


def phase_of(rc: Obj) -> str:
    """openshift.io/deployment.phase."""
    return (rc['metadata'].get('annotations') or {}).get(PHASE, 'New')


def version_of(rc: Obj) -> int:
    """openshift.io/deployment-config.latest-version."""
    return int_annotation(rc, VERSION) or 0


def decoded_template(rc: Obj) -> Obj | None:
    """The DC template a version was made from (what `oc rollout undo` reads)."""
    try:
        config = json.loads((rc['metadata'].get('annotations') or {}).get(ENCODED) or 'null')
    except ValueError:
        return None
    return ((config or {}).get('spec') or {}).get('template')


def _replicas(obj: Obj) -> int:
    return int((obj.get('spec') or {}).get('replicas') or 0)


def _available(obj: Obj) -> int:
    return int((obj.get('status') or {}).get('availableReplicas') or 0)


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> Obj:
    cond = {'type': type_, 'status': status, 'lastUpdateTime': now, 'lastTransitionTime': now, 'message': message}
    if reason:
        cond['reason'] = reason
    return cond


def _set_condition(status: Obj, cond: Obj) -> None:
    conditions = status.setdefault('conditions', [])
    current = next((c for c in conditions if c.get('type') == cond['type']), None)
    if current is not None and current.get('status') == cond['status'] and current.get('reason') == cond.get('reason') \
            and current.get('message') == cond['message']:
        return
    if current is not None and current.get('status') == cond['status']:
        cond = {**cond, 'lastTransitionTime': current.get('lastTransitionTime')}
    status['conditions'] = [c for c in conditions if c.get('type') != cond['type']] + [cond]


class DeploymentConfigController(Controller):
    """apps.openshift.io/v1 DeploymentConfigs (served only with config.flavour 'openshift')."""

    def reconcile(self) -> None:
        """One pass over every object of the kind."""
        res = self.sim.registry.by_kind('apps.openshift.io/v1', 'DeploymentConfig')
        if res is None:
            return
        self.each(list(self.store.items(res)), self.sync)

    def sync(self, stored: Obj) -> None:
        """One DeploymentConfig: trigger, create, roll out, scale, prune, status."""
        dc_res = self.res('apps.openshift.io/v1', 'DeploymentConfig')
        rc_res = self.res('v1', 'ReplicationController')
        dc = apply_defaults('DeploymentConfig', stored)
        spec = dc['spec']
        status = copy.deepcopy(stored.get('status') or {})
        latest_version = int(status.get('latestVersion') or 0)
        rcs = sorted([rc for rc in self.store.items(rc_res, namespace_of(dc)) if is_controlled_by(rc, dc)], key=version_of)
        latest = next((rc for rc in rcs if version_of(rc) == latest_version), None)
        config_trigger = any((t or {}).get('type') == 'ConfigChange' for t in spec.get('triggers') or ())
        if not spec.get('paused') and config_trigger and spec.get('template'):
            if latest_version == 0 or (latest is not None and not equal_ignore_hash(decoded_template(latest), spec['template'])):
                latest_version += 1
                status['latestVersion'] = latest_version
                status['details'] = {'message': 'config change', 'causes': [{'type': 'ConfigChange'}]}
                latest = None
        if latest is None and latest_version > 0 and not spec.get('paused') and spec.get('template'):
            dc['status'] = {**status, 'latestVersion': latest_version}
            latest = self._create_rc(dc, status)
            rcs.append(latest)
            status = {**status, 'latestVersion': latest_version, 'observedGeneration': dc['metadata'].get('generation', 1)}
            write_status(self.sim, dc_res, stored, {**(stored.get('status') or {}), **status})
        if latest is not None:
            self._deploy(dc, latest, [rc for rc in rcs if rc is not latest])
            self._prune(dc, [rc for rc in rcs if rc is not latest])
        self._status(dc, status, latest)

    def _create_rc(self, dc: Obj, status: Obj) -> Obj:
        """MakeDeployment."""
        rc_res = self.res('v1', 'ReplicationController')
        spec = dc['spec']
        version = int(status['latestVersion'])
        name = f'{name_of(dc)}-{version}'
        template = copy.deepcopy(spec['template'])
        meta = template.setdefault('metadata', {})
        meta['labels'] = {**(meta.get('labels') or {}), LABEL_DC: name_of(dc), LABEL_DEPLOYMENT: name}
        meta['annotations'] = {**(meta.get('annotations') or {}), DEPLOYMENT_NAME: name, DC_NAME: name_of(dc), VERSION: str(version)}
        selector = {**(spec.get('selector') or {}), LABEL_DC: name_of(dc), LABEL_DEPLOYMENT: name}
        encoded = copy.deepcopy(dc)
        encoded['status'] = {**status, 'latestVersion': version}
        for key in ('resourceVersion', 'managedFields'):
            encoded['metadata'].pop(key, None)
        annotations = {DC_NAME: name_of(dc), ENCODED: json.dumps(encoded, separators=(',', ':')), PHASE: 'New', VERSION: str(version),
                       DESIRED: str(_replicas(dc)), REPLICAS: '0', DEPLOYER_POD: f'{name}-deploy'}
        message = (status.get('details') or {}).get('message')
        if message:
            annotations[STATUS_REASON] = message
        body = {'apiVersion': 'v1', 'kind': 'ReplicationController',
                'metadata': {'name': name, 'namespace': namespace_of(dc), 'annotations': annotations,
                             'labels': {**(dc['metadata'].get('labels') or {}), DC_NAME: name_of(dc)},
                             'ownerReferences': [controller_ref(dc)]},
                'spec': {'replicas': 0, 'selector': selector, 'template': template}}
        if spec.get('minReadySeconds'):
            body['spec']['minReadySeconds'] = spec['minReadySeconds']
        try:
            created = self.store.create(rc_res, body)
        except errors.ApiError as exc:
            if exc.code != 409:
                raise
            created = self.store.get(rc_res, namespace_of(dc), name)
        events.record(self.sim, dc, 'Normal', 'DeploymentCreated', f'Created new replication controller "{name}" for version {version}',
                      COMPONENT)
        return created

    # -- the deployer -----------------------------------------------------------------------------------------------

    def _annotate(self, rc: Obj, values: dict[str, str]) -> Obj:
        def change(obj: Obj) -> None:
            obj['metadata'].setdefault('annotations', {}).update(values)

        updated = modify(self.sim, self.res('v1', 'ReplicationController'), rc, change)
        rc.clear()
        rc.update(updated)
        return rc

    def _scale(self, rc: Obj, replicas: int) -> None:
        if _replicas(rc) == replicas:
            return

        def change(obj: Obj) -> None:
            obj.setdefault('spec', {})['replicas'] = replicas

        updated = modify(self.sim, self.res('v1', 'ReplicationController'), rc, change)
        rc.clear()
        rc.update(updated)

    def _deploy(self, dc: Obj, latest: Obj, old: list[Obj]) -> None:
        spec = dc['spec']
        desired = _replicas(dc)
        state = phase_of(latest)
        if state == 'New':
            self._annotate(latest, {PHASE: 'Running'})
            return
        if state == 'Complete':
            self._scale(latest, desired)
            self._annotate(latest, {REPLICAS: str(desired), DESIRED: str(desired)})
            for rc in old:
                self._scale(rc, 0)
            return
        if state == 'Failed':
            self._scale(latest, 0)
            complete = [rc for rc in old if phase_of(rc) == 'Complete']
            if complete and _replicas(complete[-1]) == 0:
                self._scale(complete[-1], int_annotation(complete[-1], REPLICAS) or desired)
            return
        strategy = spec.get('strategy') or {}
        params = strategy.get('rollingParams') or strategy.get('recreateParams') or {}
        started = created_at(latest)
        if started and started + float(params.get('timeoutSeconds') or 600) < self.now():
            self._annotate(latest, {PHASE: 'Failed'})
            events.record(self.sim, dc, 'Warning', 'DeploymentFailed', f'Failed to rollout replication controller "{name_of(latest)}"',
                          COMPONENT)
            return
        active_old = [rc for rc in old if _replicas(rc) > 0]
        if strategy.get('type') == 'Recreate':
            for rc in active_old:
                self._scale(rc, 0)
            if any(int((rc.get('status') or {}).get('replicas') or 0) for rc in old):
                return
            self._scale(latest, desired)
        else:
            self._rolling(latest, active_old, desired, params)
        if _replicas(latest) == desired and _available(latest) >= desired and not any(_replicas(rc) for rc in old):
            self._annotate(latest, {PHASE: 'Complete', REPLICAS: str(desired)})

    def _rolling(self, new: Obj, old: list[Obj], desired: int, params: Obj) -> None:
        """The rolling strategy: surge the new RC up, then scale old ones down as new pods become available."""
        surge = scaled_value(params.get('maxSurge'), desired, True)
        unavailable = scaled_value(params.get('maxUnavailable'), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        total = _replicas(new) + sum(_replicas(rc) for rc in old)
        if _replicas(new) < desired and total < desired + surge:
            self._scale(new, _replicas(new) + min(desired + surge - total, desired - _replicas(new)))
            return
        if not old:
            return
        min_available = desired - unavailable
        new_unavailable = _replicas(new) - _available(new)
        budget = total - min_available - new_unavailable
        if budget <= 0:
            return
        for rc in sorted(old, key=version_of):
            if budget <= 0:
                break
            step = min(_replicas(rc), budget)
            unhealthy = _replicas(rc) - _available(rc)
            available_surplus = _available(new) + sum(_available(r) for r in old) - min_available
            step = min(step, max(unhealthy, available_surplus))
            if step <= 0:
                continue
            self._scale(rc, _replicas(rc) - step)
            budget -= step

    def _prune(self, dc: Obj, old: list[Obj]) -> None:
        limit = int(dc['spec'].get('revisionHistoryLimit', 10))
        done = [rc for rc in old if phase_of(rc) in ('Complete', 'Failed') and _replicas(rc) == 0]
        for rc in sorted(done, key=version_of)[:max(0, len(done) - limit)]:
            try:
                self.store.delete(self.res('v1', 'ReplicationController'), namespace_of(rc), name_of(rc))
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise

    # -- status ---------------------------------------------------------------------------------------------------------

    def _status(self, dc: Obj, status: Obj, latest: Obj | None) -> None:
        rc_res = self.res('v1', 'ReplicationController')
        rcs = [rc for rc in self.store.items(rc_res, namespace_of(dc)) if is_controlled_by(rc, dc)]
        if latest is not None:
            latest = next((rc for rc in rcs if name_of(rc) == name_of(latest)), latest)
        now = self.stamp()
        new = copy.deepcopy(status)
        count = {'replicas': 0, 'availableReplicas': 0, 'readyReplicas': 0}
        for rc in rcs:
            for key in count:
                count[key] += int((rc.get('status') or {}).get(key) or 0)
        new.update(count)
        new['latestVersion'] = int(status.get('latestVersion') or 0)
        new['observedGeneration'] = dc['metadata'].get('generation', 1)
        new['updatedReplicas'] = int((latest.get('status') or {}).get('replicas') or 0) if latest is not None else 0
        new['unavailableReplicas'] = max(0, sum(_replicas(rc) for rc in rcs) - count['availableReplicas'])
        if not new['readyReplicas']:
            new.pop('readyReplicas')
        desired = _replicas(dc)
        params = ((dc['spec'].get('strategy') or {}).get('rollingParams')) or {}
        unavailable = scaled_value(params.get('maxUnavailable'), desired, False) if params else 0
        if count['availableReplicas'] >= desired - unavailable and (count['availableReplicas'] > 0 or desired == 0):
            _set_condition(new, _condition('Available', 'True', '', 'Deployment config has minimum availability.', now))
        else:
            _set_condition(new, _condition('Available', 'False', '', 'Deployment config does not have minimum availability.', now))
        if latest is not None:
            state = phase_of(latest)
            if state == 'New':
                _set_condition(new, _condition('Progressing', 'Unknown', '',
                                               f'replication controller "{name_of(latest)}" is waiting for pod "{name_of(latest)}-deploy" to run', now))
            elif state == 'Running':
                _set_condition(new, _condition('Progressing', 'True', 'ReplicationControllerUpdated',
                                               f'replication controller "{name_of(latest)}" is progressing', now))
            elif state == 'Complete':
                _set_condition(new, _condition('Progressing', 'True', 'NewReplicationControllerAvailable',
                                               f'replication controller "{name_of(latest)}" successfully rolled out', now))
            elif state == 'Failed':
                _set_condition(new, _condition('Progressing', 'False', 'ProgressDeadlineExceeded',
                                               f'replication controller "{name_of(latest)}" has failed progressing', now))
        current = self.store.find(self.res('apps.openshift.io/v1', 'DeploymentConfig'), namespace_of(dc), name_of(dc))
        if current is not None and current.get('status') != new:
            write_status(self.sim, self.res('apps.openshift.io/v1', 'DeploymentConfig'), current, new)


def pods_of(sim: Any, rc: Obj) -> list[Obj]:
    """The pods an RC selects (for tests and tools)."""
    selector = label_selector_from_set((rc.get('spec') or {}).get('selector') or {})
    return [p for p in sim.store.items(sim.registry.get('v1', 'Pod'), namespace_of(rc)) if selector.matches(p['metadata'].get('labels') or {})]


def build(sim: Any) -> list[Controller]:
    """The DeploymentConfig controller (does nothing unless the registry serves DeploymentConfigs)."""
    return [DeploymentConfigController(sim)]
