#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_workload_scale
short_description: Scale a Deployment, StatefulSet or DeploymentConfig within guards, aware of its HorizontalPodAutoscaler
version_added: 0.1.0
description:
  - Scales a Deployment, StatefulSet, ReplicaSet or OpenShift DeploymentConfig horizontally (the runbooks' C(kubectl scale --replicas=N)) to an absolute
    count O(replicas) or by a relative O(change), and vertically (C(kubectl set resources), the runbooks' fix for OOM kills)
    by setting the O(resources) of its containers.
  - Guards the count. An absolute O(replicas) outside O(min_replicas)..O(max_replicas) is refused. A relative O(change)
    is clamped into those bounds, and the result says so (RV(clamped), and a warning).
  - Never lets an autoscaler silently undo the scale. When an C(autoscaling/v2) HorizontalPodAutoscaler targets the workload,
    O(hpa_policy) decides whether to move the HPA's bounds so the new count holds, to refuse, or to scale anyway with a warning.
  - Declarative. A count already in place, resources already set and an HPA already adjusted give C(changed=false).
    A relative change is applied once. The module records it in the workload's C(sre.runbooks/last-scale-change)
    annotation, and a later run with the same O(change) finds it applied as long as the count is still the one it set.
  - Waits (O(wait)) until every replica is updated, ready and available. Resource changes roll out new pods, and the
    module checks that the new pods carry the new resources. If the wait times out, the module fails with the
    reason taken from the pods, such as the scheduler's message for pods that stay C(Pending) (C(Unschedulable),
    C(0/3 nodes are available, 3 Insufficient cpu)) or C(CrashLoopBackOff, last terminated OOMKilled).
  - Refuses bad input before it changes anything. This covers O(replicas) together with O(change), syntax errors in
    O(change), O(min_replicas) above O(max_replicas), negative counts, unknown containers, unparseable quantities and
    a limit below its request.
  - In check mode, writes are sent with the server-side dry run, so the API server validates them but stores nothing.
    The module returns the planned RV(actions) and the counts and resources it would set.
options:
  kind:
    description:
      - Kind of the workload, in C(apps/v1), or V(DeploymentConfig) in C(apps.openshift.io/v1) (OpenShift).
      - A DeploymentConfig is scaled through its C(spec.replicas), as C(oc scale dc/<name>) does; its controller passes
        the count on to the latest version's ReplicationController. An HPA targets it with
        C(scaleTargetRef.apiVersion) V(apps.openshift.io/v1). O(resources) changes its template, so its ConfigChange
        trigger deploys a new version; a paused DeploymentConfig or one without a ConfigChange trigger is refused.
      - A V(ReplicaSet) that a Deployment owns is refused, because the Deployment would set its count back. Scale the Deployment instead.
      - O(resources) is refused for a V(ReplicaSet), because a ReplicaSet does not replace its pods when its template changes.
    type: str
    choices: [Deployment, StatefulSet, ReplicaSet, DeploymentConfig]
    default: Deployment
  name:
    description: Name of the workload.
    type: str
    required: true
  namespace:
    description: Namespace of the workload. Required, so that an incident playbook never scales the default namespace by accident.
    type: str
    required: true
  replicas:
    description:
      - Absolute number of replicas wanted.
      - Refused when it is below O(min_replicas) or above O(max_replicas). Nothing is changed then.
      - Mutually exclusive with O(change).
    type: int
  change:
    description:
      - Relative change from the current C(spec.replicas).
      - V(+N) adds N replicas, and V(-N) removes N.
      - V(xF) or V(*F) multiplies by F. The result is rounded up, as the HPA rounds (C(ceil)), so V(x1.5) of 3 is 5
        and V(x0.5) of 5 is 3.
      - Quote the value. YAML reads an unquoted C(+2) as the number 2, which is refused because it has no sign.
      - The result is clamped into O(min_replicas)..O(max_replicas) and RV(clamped) is V(true). A count that is already
        outside those bounds is never moved further away from them, or the other way than asked.
      - Mutually exclusive with O(replicas).
    type: str
  min_replicas:
    description:
      - Lowest count the module scales to.
      - The default comes from the production runbook, which says never to scale below minimum replicas (2) for availability.
      - Set V(0) on purpose to stop a workload, as the data loss and restore procedures do (C(--replicas=0)).
    type: int
    default: 2
  max_replicas:
    description:
      - Highest count the module scales to. It catches a typo (C(200) for C(20)) or a runaway factor before it exhausts the cluster.
      - The largest count in the runbooks is 20, and the default leaves room above that.
    type: int
    default: 50
  hpa_policy:
    description:
      - What to do when a HorizontalPodAutoscaler (C(autoscaling/v2)) targets the workload. Its C(scaleTargetRef)
        names the workload's kind and name.
      - V(adjust) sets the HPA's C(minReplicas) to the new count and raises C(maxReplicas) to it when it is lower, so the
        HPA cannot scale below the count. The HPA can still add replicas above it under load. When the HPA already
        has that floor and has scaled above it, the count is left alone with a warning, because scaling down would
        only be undone. Scaling to V(0) leaves the HPA unchanged, because an HPA stops scaling a workload at 0
        replicas. The HPA keeps the new bounds; run the module again with the usual count to move them back.
      - V(refuse) fails, naming the HPA, when the count would change.
      - V(ignore) scales anyway and warns that the HPA will set the count back. With O(wait), the module fails if the HPA does so
        during the wait.
      - The policy applies to O(replicas) and O(change) only. O(resources) changes do not involve the HPA.
    type: str
    choices: [adjust, refuse, ignore]
    default: adjust
  resources:
    description:
      - Vertical scaling. Maps container names of the pod template to C(requests) and/or C(limits), each mapping
        V(cpu), V(memory) or V(ephemeral-storage) to a Kubernetes quantity (V(512Mi), V(1Gi), V(250m), V(0.5)).
      - Only the named values are changed, with a strategic merge patch. Other containers and other values stay as they are.
        Values are compared as quantities, so V(0.5Gi) matches V(512Mi).
      - Refused before anything changes for a container the template does not have, an unparseable or negative
        quantity, or a limit that would end up below its request.
      - Refused for a paused Deployment, and for a StatefulSet with C(OnDelete) updates or a partition, because their
        pods would keep the old resources.
      - The change rolls out new pods. With O(wait), the module waits for the rollout and checks the new pods' resources.
    type: dict
  wait:
    description:
      - Wait until the workload's C(spec.replicas) are all updated, ready and available. With O(resources), also check
        that every pod carries the new values.
      - The wait also runs when nothing changed, so a second run proves that the workload is healthy.
      - Not done in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait. When the time runs out, the module fails with the reason from the pods.
      - A Deployment whose progress deadline is exceeded fails at once.
      - The default is the runbooks' C(kubectl rollout status --timeout=300s).
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
  - The module does not change the workload's manifest in Git or Helm values. The next deploy from there sets the count and
    resources back, unless they are changed there too.
  - RBAC needs C(get) and C(patch) on the workload, C(list) and C(patch) on C(horizontalpodautoscalers), and C(list) on C(pods).
    If the HPAs cannot be listed, the module refuses to scale, unless O(hpa_policy=ignore).
seealso:
  - module: kubernetes.core.k8s_scale
  - name: Horizontal Pod Autoscaling
    description: How the HPA computes and bounds the replica count.
    link: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
  - name: Resource Management for Pods and Containers
    description: Requests, limits and quantities.
    link: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Scale the checkout deployment to 8 replicas (its HPA's minReplicas follows)
  sre.runbooks.k8s_workload_scale:
    namespace: shop
    name: checkout
    replicas: 8

- name: Scale an OpenShift DeploymentConfig to 4 replicas (oc scale dc/checkout --replicas=4)
  sre.runbooks.k8s_workload_scale:
    kind: DeploymentConfig
    namespace: shop
    name: checkout
    replicas: 4

- name: Add two replicas, never more than 20
  sre.runbooks.k8s_workload_scale:
    namespace: shop
    name: checkout
    change: "+2"
    max_replicas: 20
  register: scaled

- name: Say when the change was clamped
  ansible.builtin.debug:
    msg: "Asked for {{ scaled.replicas_requested }}, running {{ scaled.replicas_after }}"
  when: scaled.clamped

- name: Double the read replicas of a StatefulSet
  sre.runbooks.k8s_workload_scale:
    kind: StatefulSet
    namespace: db
    name: postgres-read
    change: "x2"

- name: Stop OOM kills, raising the memory limit to 512Mi
  sre.runbooks.k8s_workload_scale:
    namespace: shop
    name: checkout
    resources:
      app:
        requests:
          memory: 256Mi
        limits:
          memory: 512Mi
    wait_timeout: 600

- name: Stop writes during a data loss incident (scale to 0 on purpose)
  sre.runbooks.k8s_workload_scale:
    namespace: shop
    name: checkout
    replicas: 0
    min_replicas: 0

- name: Refuse to scale a workload an HPA manages
  sre.runbooks.k8s_workload_scale:
    namespace: shop
    name: checkout
    replicas: 5
    hpa_policy: refuse
"""

RETURN = r"""
replicas_before:
  description: C(spec.replicas) of the workload before the module ran.
  returned: success
  type: int
  sample: 3
replicas_requested:
  description:
    - The count asked for, before the guard. Equal to O(replicas), or the result of O(change) before clamping.
    - It differs from RV(replicas_after) when RV(clamped) is V(true).
  returned: success
  type: int
  sample: 60
replicas_after:
  description:
    - C(spec.replicas) after the module ran, as read back. In check mode, the count the dry run would set.
    - Above the count asked for when an adjusted HPA has scaled up under load.
  returned: success
  type: int
  sample: 5
ready_replicas:
  description: C(status.readyReplicas) when the module finished. After the wait, all of RV(replicas_after).
  returned: success
  type: int
  sample: 5
clamped:
  description: Whether the result of O(change) was clamped into O(min_replicas)..O(max_replicas). A warning says by which bound.
  returned: success
  type: bool
  sample: false
hpa:
  description:
    - The HorizontalPodAutoscaler that targets the workload, with its bounds before and after.
    - V(null) when none targets it, or when only O(resources) was given.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the HPA.
      type: str
      sample: checkout
    policy:
      description: The O(hpa_policy) applied.
      type: str
      sample: adjust
    min_replicas_before:
      description: C(spec.minReplicas) before.
      type: int
      sample: 2
    min_replicas_after:
      description: C(spec.minReplicas) after (or, in check mode, as it would be).
      type: int
      sample: 8
    max_replicas_before:
      description: C(spec.maxReplicas) before.
      type: int
      sample: 10
    max_replicas_after:
      description: C(spec.maxReplicas) after (or, in check mode, as it would be).
      type: int
      sample: 10
resources_before:
  description:
    - For each container named in O(resources), the requests and limits named there, before the module ran.
    - Empty when O(resources) is not given.
  returned: success
  type: dict
  sample: {"app": {"limits": {"memory": "256Mi"}}}
resources_after:
  description:
    - The same values after the module ran, read back from the pod template. In check mode, as the dry run would set them.
  returned: success
  type: dict
  sample: {"app": {"limits": {"memory": "512Mi"}}}
actions:
  description: What the module did, or in check mode would do, one sentence per write. Empty when nothing needed changing.
  returned: success
  type: list
  elements: str
  sample:
    - set minReplicas of HorizontalPodAutoscaler shop/checkout from 2 to 8
    - scale Deployment shop/checkout from 3 to 8 replicas
    - set limits.memory of container app in Deployment shop/checkout from 256Mi to 512Mi
diff:
  description: Replicas, HPA bounds and resources before and after, when run with C(--diff).
  returned: when diff mode is on
  type: dict
  sample:
    before: {"replicas": 3, "hpa": {"name": "checkout", "minReplicas": 2, "maxReplicas": 10}}
    after: {"replicas": 8, "hpa": {"name": "checkout", "minReplicas": 8, "maxReplicas": 10}}
"""

import json
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import api_version_of
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import (
    DEFAULT_MAX_REPLICAS,
    DEFAULT_MIN_REPLICAS,
    HPA_POLICIES,
    KINDS,
    containers_of,
    describe,
    guard_problems,
    hpa_bounds,
    parse_change,
    plan_scale,
    pod_selector,
    pod_problems,
    pods_missing_resources,
    resources_problems,
    rollout_status,
    spec_replicas,
)

# Runbook 004 waits for rollouts with `kubectl rollout status ... --timeout=300s`.
DEFAULT_WAIT_TIMEOUT = 300
DEFAULT_WAIT_SLEEP = 2
HPA_API = "autoscaling/v2"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
FIELD_MANAGER = "sre.runbooks"


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        kind=dict(type="str", default="Deployment", choices=list(KINDS)),
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        replicas=dict(type="int"),
        change=dict(type="str"),
        min_replicas=dict(type="int", default=DEFAULT_MIN_REPLICAS),
        max_replicas=dict(type="int", default=DEFAULT_MAX_REPLICAS),
        hpa_policy=dict(type="str", default="adjust", choices=list(HPA_POLICIES)),
        resources=dict(type="dict"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
        wait_sleep=dict(type="int", default=DEFAULT_WAIT_SLEEP),
    )
    return spec


def target_of(params):
    return describe(params["kind"], params["namespace"], params["name"])


def option_problems(params):
    """Everything wrong with the options alone, as sentences; empty when they are usable."""
    problems = guard_problems(params.get("replicas"), params["min_replicas"], params["max_replicas"])
    if params.get("change") is not None:
        try:
            parse_change(params["change"])
        except ValueError as error:
            problems.append(str(error))
    if params.get("resources") is not None:
        problems.extend(resources_problems(params["resources"]))
    if params["wait_timeout"] < 0:
        problems.append("wait_timeout must be 0 or more seconds, got {0}".format(params["wait_timeout"]))
    if params["wait_sleep"] < 1:
        problems.append("wait_sleep must be 1 or more seconds, got {0}".format(params["wait_sleep"]))
    return problems


def check_options(module):
    """Refuse bad input before connecting: nothing is read or written."""
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("scale", target_of(module.params), "; ".join(problems))


def api_cause(error):
    """The API server's message for a failed request (its Status), else the exception's text."""
    body = getattr(error, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
            if message:
                return message
        except (ValueError, AttributeError):
            pass
    return error


class Workloads(object):
    """The reads and writes of the module, each failing as a RunbookError naming its object."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.target = target_of(module.params)
        self._resources = {}

    def resource(self, kind, api_version):
        key = (kind, api_version)
        if key not in self._resources:
            try:
                self._resources[key] = self.client.resource(kind, api_version)
            except Exception as error:  # pylint: disable=broad-exception-caught
                raise RunbookError("find the API of", "{0} {1}".format(api_version, kind), api_cause(error)) from error
        return self._resources[key]

    def read(self):
        res = self.resource(self.params["kind"], api_version_of(self.params["kind"]))
        try:
            return self.client.get(res, name=self.params["name"], namespace=self.params["namespace"]).to_dict()
        except Exception as error:  # pylint: disable=broad-exception-caught
            if getattr(error, "status", None) == 404:
                raise RunbookError("scale", self.target, "it does not exist") from error
            raise RunbookError("read", self.target, api_cause(error)) from error

    def hpas(self):
        """The namespace's HPAs. Not seeing them means not knowing who would override the scale: refused unless ignored."""
        where = "HorizontalPodAutoscalers of namespace {0}".format(self.params["namespace"])
        try:
            res = self.client.resource("HorizontalPodAutoscaler", HPA_API)
            return self.client.get(res, namespace=self.params["namespace"]).to_dict().get("items") or []
        except Exception as error:  # pylint: disable=broad-exception-caught
            if self.params["hpa_policy"] == "ignore":
                self.module.warn("Could not list the {0} ({1}); scaling without checking them (hpa_policy=ignore)".format(where, api_cause(error)))
                return []
            raise RunbookError("list", where, "{0}; an HPA could override the scale, so the module does not scale blind "
                                              "(hpa_policy=ignore scales anyway)".format(api_cause(error))) from error

    def pods(self, workload):
        selector = pod_selector(workload)
        try:
            res = self.resource("Pod", "v1")
            return self.client.get(res, namespace=self.params["namespace"], label_selector=selector).to_dict().get("items") or []
        except RunbookError:
            raise
        except Exception as error:  # pylint: disable=broad-exception-caught
            raise RunbookError("list", "the pods of {0}".format(self.target), api_cause(error)) from error

    def patch(self, kind, api_version, name, body, content_type, what):
        res = self.resource(kind, api_version)
        try:
            # The client adds dry_run=All in check mode.
            return self.client.patch(res, body, name=name, namespace=self.params["namespace"], content_type=content_type,
                                     field_manager=FIELD_MANAGER).to_dict()
        except Exception as error:  # pylint: disable=broad-exception-caught
            raise RunbookError("patch", what, api_cause(error)) from error


def hpa_name(plan):
    return describe("HorizontalPodAutoscaler", plan["hpa_object"]["metadata"]["namespace"], plan["hpa_object"]["metadata"]["name"])


def restore_hpa(api, plan, error):
    """The workload patch failed after the HPA was adjusted: put the HPA's bounds back, and say so in the error."""
    minimum, maximum = hpa_bounds(plan["hpa_object"])
    body = {"spec": {"minReplicas": minimum, "maxReplicas": maximum}}
    name = hpa_name(plan)
    try:
        api.patch("HorizontalPodAutoscaler", HPA_API, plan["hpa_object"]["metadata"]["name"], body, MERGE, name)
        note = "{0} was set back to minReplicas {1}, maxReplicas {2}".format(name, minimum, maximum)
    except RunbookError as undo_error:
        note = "{0} was left adjusted and could not be set back ({1}); set it back with: kubectl patch hpa {2} -n {3} --type merge -p '{4}'".format(
            name, undo_error.cause_text, plan["hpa_object"]["metadata"]["name"], plan["hpa_object"]["metadata"]["namespace"], json.dumps(body))
    return RunbookError(error.action, error.obj, "{0}; {1}".format(error.cause_text, note), **error.details)


def record(module, done, actions):
    """Remember writes made for real, for the result of a later failure."""
    if not module.check_mode:
        done["changed"] = True
        done["actions"].extend(actions)


def overridden_by(plan):
    if plan["hpa"] is not None:
        return "HorizontalPodAutoscaler {0} sets it (hpa_policy={1})".format(plan["hpa"]["name"], plan["hpa"]["policy"])
    return "another controller or person changed it"


def wait_for_rollout(module, api, plan):
    """Poll until every replica is updated, ready and available; fail with the pods' reasons at the deadline."""
    params = module.params
    expected = plan["replicas_after"] if plan["horizontal"] else None
    # An adjusted HPA keeps its minReplicas as a floor and may add replicas under load: more is fine, fewer is not.
    hpa = plan["hpa"]
    floor = hpa["min_replicas_after"] if expected and hpa is not None and hpa["policy"] == "adjust" else None
    deadline = time.monotonic() + params["wait_timeout"]
    while True:
        workload = api.read()
        replicas = spec_replicas(workload)
        held = replicas == expected if floor is None else replicas >= floor
        if expected is not None and not held:
            raise RunbookError("hold the replica count of", api.target, "spec.replicas is now {0}, not the {1} it was scaled to: {2}".format(
                replicas, expected, overridden_by(plan)), replicas=replicas)
        done, message, hopeless = rollout_status(workload)
        if done:
            return workload
        remaining = deadline - time.monotonic()
        if hopeless or remaining <= 0:
            problems = pod_problems(api.pods(workload))
            cause = "{0} after waiting {1} s".format(message, params["wait_timeout"]) if not hopeless else message
            if problems:
                cause += ". " + "; ".join(problems)
            raise RunbookError("wait for", api.target, cause, status=workload.get("status") or {})
        time.sleep(min(params["wait_sleep"], remaining))


def resources_view(workload, wanted):
    """The requests and limits the resources option names, as the workload's template has them."""
    containers = dict((c.get("name"), c) for c in containers_of(workload))
    view = {}
    for name, sections in wanted.items():
        current = (containers.get(name) or {}).get("resources") or {}
        view[name] = dict((section, dict((k, v) for k, v in (current.get(section) or {}).items() if k in values))
                          for section, values in sections.items())
    return view


def state(replicas, hpa, resources):
    """The diff's view of the workload."""
    result = {"replicas": replicas}
    if hpa is not None:
        result["hpa"] = hpa
    if resources:
        result["resources"] = resources
    return result


def scale_workload(module, client):
    params = module.params
    api = Workloads(module, client)
    # A failure after a write (the wait, the check of the new pods) still says what was done: changed and the
    # actions taken. On success the result's own values take precedence.
    done = {"changed": False, "actions": []}
    module.add_report("changed", lambda: done["changed"])
    module.add_report("actions", lambda: list(done["actions"]))
    workload = api.read()
    horizontal = params.get("replicas") is not None or params.get("change") is not None
    hpas = api.hpas() if horizontal else []
    plan = plan_scale(workload, hpas, dict(params))
    plan["horizontal"] = horizontal
    for warning in plan["warnings"]:
        module.warn(warning)

    hpa_after = None
    if plan["hpa_patch"]:
        hpa_after = api.patch("HorizontalPodAutoscaler", HPA_API, plan["hpa_object"]["metadata"]["name"], plan["hpa_patch"], MERGE, hpa_name(plan))
        record(module, done, [a for a in plan["actions"] if "HorizontalPodAutoscaler" in a])
    written = None
    if plan["workload_patch"]:
        try:
            written = api.patch(params["kind"], api_version_of(params["kind"]), params["name"], plan["workload_patch"], STRATEGIC_MERGE, api.target)
        except RunbookError as error:
            if hpa_after is not None and not module.check_mode:
                done.update(changed=False, actions=[])
                raise restore_hpa(api, plan, error) from error
            raise
        record(module, done, [a for a in plan["actions"] if "HorizontalPodAutoscaler" not in a])

    final = written or workload
    if not module.check_mode:
        if params["wait"]:
            final = wait_for_rollout(module, api, plan)
            if params.get("resources"):
                missing = pods_missing_resources(api.pods(final), params["resources"])
                if missing:
                    raise RunbookError("verify the new pods of", api.target, "; ".join(missing[:5]))
        elif written is not None:
            final = api.read()

    hpa = plan["hpa"]
    if hpa is not None and hpa_after is not None:
        hpa = dict(hpa, min_replicas_after=hpa_bounds(hpa_after)[0], max_replicas_after=hpa_bounds(hpa_after)[1])
    resources_after = resources_view(final, params["resources"]) if params.get("resources") else {}
    written_resources = resources_view(written, params["resources"]) if written is not None and params.get("resources") else plan["resources_before"]
    changed = (
        written is not None and (spec_replicas(written) != plan["replicas_before"] or written_resources != plan["resources_before"])
    ) or hpa_after is not None
    hpa_state = None
    if hpa is not None:
        hpa_state = {"name": hpa["name"], "minReplicas": hpa["min_replicas_after"], "maxReplicas": hpa["max_replicas_after"]}
    return module.result(
        changed=changed,
        actions=plan["actions"],
        before=plan["before"],
        after=state(spec_replicas(final), hpa_state, resources_after),
        replicas_before=plan["replicas_before"],
        replicas_requested=plan["replicas_requested"],
        replicas_after=spec_replicas(final),
        ready_replicas=int(((final.get("status") or {}).get("readyReplicas")) or 0),
        clamped=plan["clamped"],
        hpa=hpa,
        resources_before=plan["resources_before"],
        resources_after=resources_after,
    )


def main():
    module = RunbookModule(
        argument_spec=argument_spec(),
        required_libs=K8S_REQUIRED_LIBS,
        mutually_exclusive=[("replicas", "change")],
        required_one_of=[("replicas", "change", "resources")],
    )
    module.run(scale_workload, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
