#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_ingress_guard
short_description: Apply temporary ingress-nginx rate limits and source blocks to an Ingress, and restore exactly what was there
version_added: 0.1.0
description:
  - Applies the runbooks' temporary mitigations for a DDoS, unauthorized access or high latency to an Ingress served by
    ingress-nginx, as annotations, and later puts back exactly the annotations that were there before.
  - O(state=applied) sets any of the rate limits (O(limit_rps), O(limit_rpm), O(limit_connections),
    O(limit_burst_multiplier)), a O(denylist) of sources (C(denylist-source-range)) and an O(allowlist) of the only sources
    let in (C(allowlist-source-range)). The runbooks' C(kubectl annotate ingress ... rate-limit="10" --overwrite) names an
    annotation ingress-nginx does not have; its per-client rate limit is C(limit-rps).
  - The first apply saves the previous value of each annotation it sets, or that it was absent, as JSON in the Ingress's
    C(sre.runbooks/saved-annotations) annotation. A later apply that sets more annotations saves those too, and never
    overwrites what was saved. O(state=restored) sets the saved values back, removes the annotations that were absent
    and removes C(sre.runbooks/saved-annotations).
  - Declarative. Applying the same options again, or restoring an Ingress that has nothing saved, reports C(changed=false).
    The wanted values are computed from the saved originals, so each apply states the whole mitigation (for example
    the whole O(denylist)), not an increment.
  - Refuses bad input before it changes anything, such as an invalid CIDR, a rate below 1, or a C(sre.runbooks/saved-annotations)
    that is not its own JSON. The patch carries the Ingress's C(resourceVersion), so a concurrent change makes it fail
    instead of being overwritten.
  - In check mode, the patch is sent with the server-side dry run, so the API server validates it but stores nothing.
options:
  namespace:
    description: Namespace of the Ingress.
    type: str
    required: true
  name:
    description: Name of the Ingress (C(networking.k8s.io/v1)).
    type: str
    required: true
  state:
    description:
      - V(applied) sets the mitigations given, saving the previous values first.
      - V(restored) puts back the saved values, whatever mitigations were applied. The mitigation options are ignored.
    type: str
    choices: [applied, restored]
    default: applied
  limit_rps:
    description:
      - Requests per second accepted from one client address (C(limit-rps)). Above it, ingress-nginx answers 503
        (its C(limit-req-status-code)). The burst is this times O(limit_burst_multiplier).
      - The runbooks use 10 during a DDoS and 50 as a high-latency mitigation.
    type: int
  limit_rpm:
    description: Requests per minute accepted from one client address (C(limit-rpm)).
    type: int
  limit_connections:
    description: Concurrent connections from one client address (C(limit-connections)).
    type: int
  limit_burst_multiplier:
    description: Burst size as a multiple of the rate limits (C(limit-burst-multiplier); ingress-nginx's default is 5).
    type: int
  denylist:
    description:
      - Addresses or CIDRs denied (C(denylist-source-range)); ingress-nginx answers 403. An address is written as a C(/32)
        or C(/128) CIDR.
      - The entries the Ingress had before the first apply are kept, so a permanent block is never lifted.
      - Give the whole temporary list each time. The block list of M(sre.runbooks.k8s_access_audit)
        (RV(sre.runbooks.k8s_access_audit#module:block_cidrs)) fits here.
    type: list
    elements: str
  allowlist:
    description:
      - The only addresses or CIDRs let in; ingress-nginx answers 403 to the others. It replaces an allowlist the Ingress
        had (restored afterwards).
      - Make sure it includes the sources the service needs (health checks, partners, the office), or everyone else is cut off.
    type: list
    elements: str
  allowlist_annotation:
    description:
      - The annotation the O(allowlist) is written to.
      - V(allowlist-source-range) is the name current ingress-nginx releases read, with V(whitelist-source-range) still
        read as an alias of it. Choose V(whitelist-source-range) for controllers released before the rename, which read only that one.
    type: str
    choices: [allowlist-source-range, whitelist-source-range]
    default: allowlist-source-range
  annotation_prefix:
    description: The annotation prefix of the ingress-nginx controller (its C(--annotations-prefix) flag).
    type: str
    default: nginx.ingress.kubernetes.io
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) and C(patch) on C(ingresses) in C(networking.k8s.io).
  - Only ingress-nginx reads these annotations. Other controllers ignore them and the module cannot tell, so it is up to
    the caller to target an Ingress that ingress-nginx serves (its C(ingressClassName)).
  - Rate limits and source lists act per client address as ingress-nginx sees it. Behind a load balancer that does not
    keep the client address (C(externalTrafficPolicy) C(Cluster) without the PROXY protocol or C(use-forwarded-headers)), every client
    looks the same and a rate limit or an allowlist applies to all of them together.
  - A deploy of the Ingress from Git or Helm overwrites the annotations; restore before, or apply again after.
seealso:
  - module: sre.runbooks.k8s_access_audit
  - name: ingress-nginx annotations
    description: Rate limiting, allowlist and denylist source ranges.
    link: https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
requirements:
  - kubernetes >= 24.2.0
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Aggressive rate limit during a DDoS (the runbook's rate-limit=10)
  sre.runbooks.k8s_ingress_guard:
    namespace: shop
    name: api
    limit_rps: 10
    limit_connections: 20

- name: Also deny the top talkers the audit found
  sre.runbooks.k8s_ingress_guard:
    namespace: shop
    name: api
    limit_rps: 10
    limit_connections: 20
    denylist: "{{ audit.block_cidrs }}"

- name: Let only the office and the partner in during an unauthorized access
  sre.runbooks.k8s_ingress_guard:
    namespace: shop
    name: admin
    allowlist:
      - 198.51.100.0/24
      - 52.14.1.7

- name: After the attack, put back exactly what was there
  sre.runbooks.k8s_ingress_guard:
    namespace: shop
    name: api
    state: restored
"""

RETURN = r"""
ingress:
  description: The Ingress, as messages name it.
  returned: success
  type: str
  sample: ingress shop/api
annotations:
  description: The annotations the module manages (rate limits, source ranges, the saved values) after the run; in check mode, as the dry run would leave them.
  returned: success
  type: dict
  sample: {"nginx.ingress.kubernetes.io/limit-rps": "10", "sre.runbooks/saved-annotations": "{\"nginx.ingress.kubernetes.io/limit-rps\":\"50\"}"}
saved:
  description:
    - The previous values saved for a restore, V(null) for an annotation that was absent. Empty when nothing is saved.
    - After a restore, the values that were put back.
  returned: success
  type: dict
  sample: {"nginx.ingress.kubernetes.io/limit-rps": "50", "nginx.ingress.kubernetes.io/denylist-source-range": null}
actions:
  description: What the module did, or in check mode would do, one sentence per annotation. Empty when nothing needed changing.
  returned: success
  type: list
  elements: str
  sample:
    - set annotation nginx.ingress.kubernetes.io/limit-rps from '50' to '10'
    - save the previous values of nginx.ingress.kubernetes.io/limit-rps in sre.runbooks/saved-annotations
diff:
  description: The managed annotations before and after, when run with C(--diff).
  returned: when diff mode is on
  type: dict
"""

import json

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.ingress_guard import (
    ALLOWLIST_ANNOTATIONS,
    DEFAULT_PREFIX,
    SAVED_ANNOTATION,
    STATES,
    managed_view,
    option_problems,
    plan_guard,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import api_error_text, describe, metadata_of

INGRESS_API = "networking.k8s.io/v1"
MERGE = "application/merge-patch+json"
FIELD_MANAGER = "sre.runbooks"


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", choices=list(STATES), default="applied"),
        limit_rps=dict(type="int"),
        limit_rpm=dict(type="int"),
        limit_connections=dict(type="int"),
        limit_burst_multiplier=dict(type="int"),
        denylist=dict(type="list", elements="str"),
        allowlist=dict(type="list", elements="str"),
        allowlist_annotation=dict(type="str", choices=list(ALLOWLIST_ANNOTATIONS), default=ALLOWLIST_ANNOTATIONS[0]),
        annotation_prefix=dict(type="str", default=DEFAULT_PREFIX),
    )
    return spec


def target_of(params):
    return describe("Ingress", params["namespace"], params["name"])


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("guard" if module.params["state"] == "applied" else "restore", target_of(module.params), "; ".join(problems))


def _call(action, what, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # pylint: disable=broad-exception-caught
        if getattr(error, "status", None) == 404 and action == "read":
            raise RunbookError("read", what, "it does not exist") from error
        raise RunbookError(action, what, api_error_text(error)) from error


def guard(module, client):
    params = module.params
    target = target_of(params)
    resource = _call("find the API of", "{0} Ingress".format(INGRESS_API), client.resource, "Ingress", INGRESS_API)
    ingress = _call("read", target, client.get, resource, name=params["name"], namespace=params["namespace"]).to_dict()
    annotations = metadata_of(ingress).get("annotations") or {}
    try:
        plan = plan_guard(annotations, params)
    except ValueError as error:
        raise RunbookError("restore" if params["state"] == "restored" else "guard", target, "{0}; nothing was changed".format(error)) from error
    after = annotations
    if plan["patch"] is not None:
        body = json.loads(json.dumps(plan["patch"]))
        # A concurrent change (another run, a deploy) makes the patch fail with 409 instead of being overwritten.
        body["metadata"]["resourceVersion"] = metadata_of(ingress).get("resourceVersion")
        # The client adds dry_run=All in check mode.
        written = _call("patch", target, client.patch, resource, body, name=params["name"], namespace=params["namespace"],
                        content_type=MERGE, field_manager=FIELD_MANAGER).to_dict()
        after = metadata_of(written).get("annotations") or {}
    prefix = params["annotation_prefix"]
    changed = managed_view(after, prefix) != managed_view(annotations, prefix) or (SAVED_ANNOTATION in after) != (SAVED_ANNOTATION in annotations)
    return module.result(changed=changed, actions=plan["actions"], before=plan["before"], after=plan["after"], ingress=target,
                         annotations=managed_view(after, prefix), saved=plan["saved"])


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(guard, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
