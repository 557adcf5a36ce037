#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_pvc_expand
short_description: Expand a PersistentVolumeClaim, never shrink it, and wait until its file system has the new size
version_added: 0.1.0
description:
  - Replaces the runbooks' C(kubectl patch pvc omendb-data -p '{"spec":{"resources":{"requests":{"storage":"200Gi"}}}}').
  - Refuses, before any change and with the reason, a claim whose StorageClass does not set C(allowVolumeExpansion=true)
    (the apiserver's PersistentVolumeClaimResize admission would refuse it too), a claim that is not Bound, and a size
    below the current request (a volume is never shrunk).
  - Raises C(spec.resources.requests.storage) with a merge patch guarded by the claim's resourceVersion.
  - Waits (O(wait)) for the resize, through the conditions C(Resizing) and C(FileSystemResizePending), until
    C(status.capacity.storage) reaches O(size). A file system resize needs a pod that mounts the claim; when none
    does, the claim stays C(FileSystemResizePending) and the module fails at O(wait_timeout) saying so.
  - Declarative. A claim already requesting O(size) is not patched (C(changed=false)); the wait still runs, so a
    second run also proves the capacity.
  - In check mode the patch is sent as a server-side dry run, so the apiserver's validation and admission answer, and nothing is stored.
options:
  namespace:
    description: Namespace of the claim.
    type: str
    required: true
  name:
    description: Name of the PersistentVolumeClaim.
    type: str
    required: true
  size:
    description: The storage the claim must have at least, a Kubernetes quantity (V(200Gi)).
    type: str
    required: true
  wait:
    description: Wait until C(status.capacity.storage) is at least O(size). Not done in check mode.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the resize.
    type: int
    default: 300
  wait_sleep:
    description: Seconds between two reads while waiting.
    type: int
    default: 2
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) and C(patch) on C(persistentvolumeclaims) and C(get) on C(storageclasses).
seealso:
  - module: sre.runbooks.disk_cleanup
  - name: Expanding Persistent Volumes Claims
    description: Kubernetes documentation.
    link: https://kubernetes.io/docs/concepts/storage/persistent-volumes/#expanding-persistent-volumes-claims
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Emergency PVC expansion of the runbook, refused for a class that cannot grow
  sre.runbooks.k8s_pvc_expand:
    namespace: omendb-prod
    name: omendb-data
    size: 200Gi
    wait_timeout: 600
"""

RETURN = r"""
claim_before:
  description: The claim before, C(requested), C(capacity), C(phase), C(state), C(conditions), C(volume), C(storage_class).
  returned: success
  type: dict
claim_after:
  description:
    - The claim after the wait (in check mode, as the dry run answered). C(state) is V(done) once the capacity is reached,
      else V(requested), V(resizing), V(file_system_resize_pending) or V(failed).
  returned: success
  type: dict
stages:
  description: The resize conditions seen while waiting, in order (V(Resizing), V(FileSystemResizePending)).
  returned: success
  type: list
  elements: str
actions:
  description: The change made (would be made, in check mode).
  returned: success
  type: list
  elements: str
diff:
  description: The claim's figures before and after, when run with C(--diff).
  returned: when diff mode is on
  type: dict
"""

import json
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.nodes import status_cause
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import parse_quantity
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.volumes import conditions, plan_expansion, report

MERGE = "application/merge-patch+json"
FIELD_MANAGER = "sre.runbooks"


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        size=dict(type="str", required=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        wait_sleep=dict(type="int", default=2),
    )
    return spec


def target_of(params):
    return "PersistentVolumeClaim {0}/{1}".format(params["namespace"], params["name"])


def check_options(module):
    params = module.params
    try:
        if parse_quantity(params["size"]) <= 0:
            raise ValueError("size must be more than 0")
    except ValueError as error:
        raise RunbookError("expand", target_of(params), str(error)) from error
    if params["wait_timeout"] < 0 or params["wait_sleep"] < 1:
        raise RunbookError("expand", target_of(params), "wait_timeout must be 0 or more and wait_sleep 1 or more seconds")


def _read(client, kind, api_version, name, namespace, what):
    try:
        return client.get(client.resource(kind, api_version), name=name, namespace=namespace).to_dict()
    except Exception as error:  # pylint: disable=broad-exception-caught
        if getattr(error, "status", None) == 404:
            return None
        raise RunbookError("read", what, status_cause(error)) from error


def expand(module, client):
    params = module.params
    target = target_of(params)
    pvc = _read(client, "PersistentVolumeClaim", "v1", params["name"], params["namespace"], target)
    if pvc is None:
        raise RunbookError("expand", target, "it does not exist")
    class_name = (pvc.get("spec") or {}).get("storageClassName")
    storage_class = _read(client, "StorageClass", "storage.k8s.io/v1", class_name, None, "StorageClass {0}".format(class_name)) if class_name else None
    plan = plan_expansion(pvc, storage_class, params["size"], target)
    if plan["refusal"]:
        raise RunbookError("expand", target, plan["refusal"], requested=report(pvc, params["size"])["requested"])
    before = report(pvc, params["size"])
    written = None
    if plan["patch"]:
        body = dict(plan["patch"], metadata={"resourceVersion": pvc["metadata"]["resourceVersion"]})
        try:
            # The client adds dry_run=All in check mode: validation and admission still answer.
            written = client.patch(client.resource("PersistentVolumeClaim", "v1"), body, name=params["name"], namespace=params["namespace"],
                                   content_type=MERGE, field_manager=FIELD_MANAGER).to_dict()
        except Exception as error:  # pylint: disable=broad-exception-caught
            raise RunbookError("expand", target, status_cause(error)) from error
    final = written or pvc
    stages = []
    if not module.check_mode and params["wait"]:
        final, stages = wait_for_capacity(client, params, target)
    after = report(final, params["size"])
    if module.check_mode and written is not None:
        after["state"] = "requested"
    actions = [plan["action"]] if plan["action"] else []
    return module.result(changed=written is not None, actions=actions, before=before, after=after, claim_before=before, claim_after=after, stages=stages)


def wait_for_capacity(client, params, target):
    deadline = time.monotonic() + params["wait_timeout"]
    stages = []
    while True:
        pvc = _read(client, "PersistentVolumeClaim", "v1", params["name"], params["namespace"], target)
        if pvc is None:
            raise RunbookError("wait for", target, "it was deleted while it was being expanded")
        for kind in conditions(pvc):
            if kind not in stages:
                stages.append(kind)
        state = report(pvc, params["size"])
        if state["state"] == "done":
            return pvc, stages
        if state["state"] == "failed" or time.monotonic() >= deadline:
            hint = ""
            if state["state"] == "file_system_resize_pending":
                hint = ": the volume is expanded, its file system grows when a pod mounts the claim (start or restart one)"
            raise RunbookError("wait for the expansion of", target, "capacity is {0}, not {1}, after {2} s; state {3}{4}; conditions {5}".format(
                state["capacity"], params["size"], params["wait_timeout"], state["state"], hint, json.dumps(state["conditions"])),
                after=state, stages=stages)
        time.sleep(min(params["wait_sleep"], max(0.1, deadline - time.monotonic())))


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(expand, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
