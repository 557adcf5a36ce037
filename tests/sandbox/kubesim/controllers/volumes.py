"""Volumes: dynamic provisioning and binding of PersistentVolumeClaims, and volume expansion, with the apiserver's resize admission.

- A Pending claim whose StorageClass exists (spec.storageClassName, or the class
  annotated storageclass.kubernetes.io/is-default-class=true) gets a
  PersistentVolume `pvc-<claim uid>` of the requested size and is Bound (phase,
  accessModes, capacity), as the external provisioner and the PV controller do;
  events ProvisioningSucceeded. A missing class: ProvisioningFailed, stays Pending.
  volumeBindingMode WaitForFirstConsumer is not waited for (binds at once).
- Expansion (external-resizer, then the kubelet), for a Bound claim whose request
  grew above status.capacity: condition Resizing and allocatedResourceStatuses
  ControllerResizeInProgress; after RESIZE_STEP_SECONDS the volume (PV capacity)
  is expanded and the claim shows FileSystemResizePending (NodeResizePending);
  the kubelet then grows the file system of a volume that a Running pod mounts
  (after another step): status.capacity is the new size, the conditions go,
  event FileSystemResizeSuccessful. Without a running pod the claim stays
  FileSystemResizePending, as with a CSI driver that needs node expansion.
- admit(): what the apiserver says to a claim update: a smaller request is
  Invalid ("field can not be less than previous value"); a changed spec of an
  unbound claim is Invalid; a larger request of a claim whose class does not
  allowVolumeExpansion is Forbidden, in the PersistentVolumeClaimResize
  admission plugin's words.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..quantity import parse_memory
from . import events
from .common import Controller, Obj, is_deleting, name_of, namespace_of, phase, write_status

DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class'
RESIZE_STEP_SECONDS = 0.3
RESIZE_FORBIDDEN = 'only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize'
FS_RESIZE_PENDING_MESSAGE = 'Waiting for user to (re-)start a pod to finish file system resize of volume on node.'


def _request(claim: Obj) -> str | None:
    return (((claim.get('spec') or {}).get('resources') or {}).get('requests') or {}).get('storage')


def _capacity(claim: Obj) -> str | None:
    return ((claim.get('status') or {}).get('capacity') or {}).get('storage')


def storage_class(sim: Any, name: str | None) -> Obj | None:
    """The named StorageClass, or the default class when name is None."""
    res = sim.registry.get('storage.k8s.io/v1', 'StorageClass')
    if name:
        return sim.store.find(res, None, name)
    for sc in sim.store.items(res):
        if (sc['metadata'].get('annotations') or {}).get(DEFAULT_CLASS_ANNOTATION) == 'true':
            return sc
    return None


def admit(sim: Any, kind: str, new: Obj) -> None:
    """Validation and PersistentVolumeClaimResize admission of a claim update (create and status writes are not checked)."""
    if kind != 'PersistentVolumeClaim':
        return
    meta = new.get('metadata') or {}
    old = sim.store.find(sim.registry.get('v1', 'PersistentVolumeClaim'), meta.get('namespace'), meta.get('name', ''))
    if old is None:
        return
    name = name_of(old)
    old_request, new_request = _request(old), _request(new)
    old_bytes, new_bytes = parse_memory(old_request), parse_memory(new_request)
    if new_bytes < old_bytes:
        raise errors.ApiError(422, 'Invalid', f'PersistentVolumeClaim "{name}" is invalid: spec.resources.requests.storage: Forbidden: '
                                              'field can not be less than previous value',
                              {'name': name, 'kind': 'PersistentVolumeClaim', 'causes': [
                                  {'reason': 'FieldValueForbidden', 'message': 'Forbidden: field can not be less than previous value',
                                   'field': 'spec.resources.requests.storage'}]})
    if new_bytes == old_bytes:
        return
    if phase(old) != 'Bound':
        message = 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'
        raise errors.ApiError(422, 'Invalid', f'PersistentVolumeClaim "{name}" is invalid: spec: Forbidden: {message}',
                              {'name': name, 'kind': 'PersistentVolumeClaim',
                               'causes': [{'reason': 'FieldValueForbidden', 'message': f'Forbidden: {message}', 'field': 'spec'}]})
    sc = storage_class(sim, (old.get('spec') or {}).get('storageClassName'))
    if sc is None or sc.get('allowVolumeExpansion') is not True:
        raise errors.ApiError(403, 'Forbidden', f'persistentvolumeclaims "{name}" is forbidden: {RESIZE_FORBIDDEN}',
                              {'name': name, 'kind': 'persistentvolumeclaims'})


class VolumeController(Controller):
    """Provisions and binds claims, and expands them (the external provisioner and resizer, the PV controller, the kubelet)."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self._step_at: dict[str, float] = {}  # claim uid -> when its resize last moved a step

    def reconcile(self) -> None:
        claims = self.res('v1', 'PersistentVolumeClaim')
        self.each(list(self.store.items(claims)), self._sync)

    def _sync(self, claim: Obj) -> None:
        if is_deleting(claim):
            return
        if phase(claim) != 'Bound':
            self._provision(claim)
            return
        if parse_memory(_request(claim)) > parse_memory(_capacity(claim) or _request(claim)):
            self._resize(claim)
        else:
            self._step_at.pop(claim['metadata']['uid'], None)

    # -- provisioning -------------------------------------------------------------------------------------------

    def _provision(self, claim: Obj) -> None:
        spec = claim.get('spec') or {}
        claims = self.res('v1', 'PersistentVolumeClaim')
        sc = storage_class(self.sim, spec.get('storageClassName'))
        if sc is None:
            if (claim.get('status') or {}).get('phase') != 'Pending':
                write_status(self.sim, claims, claim, {'phase': 'Pending'})
                wanted = spec.get('storageClassName')
                message = (f'storageclass.storage.k8s.io "{wanted}" not found' if wanted
                           else 'no persistent volumes available for this claim and no storage class is set')
                events.record(self.sim, claim, 'Warning' if wanted else 'Normal', 'ProvisioningFailed' if wanted else 'FailedBinding', message,
                              'persistentvolume-controller')
            return
        volume_name = f'pvc-{claim["metadata"]["uid"]}'
        size = _request(claim) or '1Gi'
        access = spec.get('accessModes') or ['ReadWriteOnce']
        provisioner = sc.get('provisioner') or 'kubernetes.io/no-provisioner'
        pvs = self.res('v1', 'PersistentVolume')
        if self.store.find(pvs, None, volume_name) is None:
            pv = self.store.create(pvs, {
                'apiVersion': 'v1', 'kind': 'PersistentVolume',
                'metadata': {'name': volume_name, 'annotations': {'pv.kubernetes.io/provisioned-by': provisioner},
                             'finalizers': ['kubernetes.io/pv-protection']},
                'spec': {'capacity': {'storage': size}, 'accessModes': access, 'storageClassName': name_of(sc),
                         'persistentVolumeReclaimPolicy': sc.get('reclaimPolicy') or 'Delete', 'volumeMode': spec.get('volumeMode') or 'Filesystem',
                         'csi': {'driver': provisioner, 'volumeHandle': volume_name},
                         'claimRef': {'kind': 'PersistentVolumeClaim', 'apiVersion': 'v1', 'namespace': namespace_of(claim),
                                      'name': name_of(claim), 'uid': claim['metadata']['uid']}},
            })
            write_status(self.sim, pvs, pv, {'phase': 'Bound'})
        current = self.store.get(claims, namespace_of(claim), name_of(claim))
        current['spec']['volumeName'] = volume_name
        current['spec'].setdefault('storageClassName', name_of(sc))
        current['metadata'].setdefault('annotations', {}).update({
            'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes',
            'volume.kubernetes.io/storage-provisioner': provisioner, 'volume.beta.kubernetes.io/storage-provisioner': provisioner})
        current['metadata'].pop('resourceVersion', None)
        bound = self.store.update(claims, current)
        write_status(self.sim, claims, bound, {'phase': 'Bound', 'accessModes': access, 'capacity': {'storage': size}})
        events.record(self.sim, claim, 'Normal', 'ProvisioningSucceeded', f'Successfully provisioned volume {volume_name}', provisioner)

    # -- expansion ----------------------------------------------------------------------------------------------

    def _due(self, uid: str) -> bool:
        last = self._step_at.get(uid)
        return last is None or self.now() - last >= RESIZE_STEP_SECONDS

    def _moved(self, uid: str) -> None:
        self._step_at[uid] = self.now()

    def _mounted_by_running_pod(self, claim: Obj) -> Obj | None:
        pods = self.res('v1', 'Pod')
        for pod in self.store.items(pods, namespace_of(claim)):
            if phase(pod) != 'Running' or is_deleting(pod):
                continue
            for volume in (pod.get('spec') or {}).get('volumes') or ():
                if ((volume or {}).get('persistentVolumeClaim') or {}).get('claimName') == name_of(claim):
                    return pod
        return None

    def _resize(self, claim: Obj) -> None:
        uid = claim['metadata']['uid']
        claims = self.res('v1', 'PersistentVolumeClaim')
        status = dict(claim.get('status') or {})
        conditions = [c for c in status.get('conditions') or () if c.get('type') not in ('Resizing', 'FileSystemResizePending')]
        current = {c.get('type') for c in status.get('conditions') or ()}
        wanted = _request(claim)
        volume = (claim.get('spec') or {}).get('volumeName') or ''
        sc = storage_class(self.sim, (claim.get('spec') or {}).get('storageClassName'))
        resizer = f'external-resizer {(sc or {}).get("provisioner") or "unknown"}'
        if not self._due(uid):
            return
        now = self.stamp()
        if 'Resizing' not in current and 'FileSystemResizePending' not in current:
            status.update(conditions=conditions + [{'type': 'Resizing', 'status': 'True', 'lastProbeTime': None, 'lastTransitionTime': now}],
                          allocatedResources={'storage': wanted}, allocatedResourceStatuses={'storage': 'ControllerResizeInProgress'})
            write_status(self.sim, claims, claim, status)
            events.record(self.sim, claim, 'Normal', 'Resizing', f'External resizer is resizing volume {volume}', resizer)
            self._moved(uid)
        elif 'Resizing' in current:
            pvs = self.res('v1', 'PersistentVolume')
            pv = self.store.find(pvs, None, volume)
            if pv is not None:
                pv['spec']['capacity'] = {'storage': wanted}
                pv['metadata'].pop('resourceVersion', None)
                self.store.update(pvs, pv)
            status.update(conditions=conditions + [{'type': 'FileSystemResizePending', 'status': 'True', 'lastProbeTime': None,
                                                    'lastTransitionTime': now, 'message': FS_RESIZE_PENDING_MESSAGE}],
                          allocatedResources={'storage': wanted}, allocatedResourceStatuses={'storage': 'NodeResizePending'})
            write_status(self.sim, claims, claim, status)
            events.record(self.sim, claim, 'Normal', 'FileSystemResizeRequired', 'Require file system resize of volume on node', resizer)
            self._moved(uid)
        else:
            pod = self._mounted_by_running_pod(claim)
            if pod is None:
                return
            status['capacity'] = dict(status.get('capacity') or {}, storage=wanted)
            status['conditions'] = conditions
            if not conditions:
                status.pop('conditions')
            status.pop('allocatedResourceStatuses', None)
            status['allocatedResources'] = {'storage': wanted}
            write_status(self.sim, claims, claim, status)
            node = (pod.get('spec') or {}).get('nodeName') or ''
            events.record(self.sim, claim, 'Normal', 'FileSystemResizeSuccessful',
                          f'MountVolume.NodeExpandVolume succeeded for volume "{volume}" {node}', 'kubelet', host=node)
            self._moved(uid)


def build(sim: Any) -> list[Any]:
    """The volume controller."""
    return [VolumeController(sim)]
