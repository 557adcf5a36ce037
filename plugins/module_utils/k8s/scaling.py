# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Guarded scaling of Kubernetes workloads: the pure part.

Everything here works on plain dicts (objects as the API returns them) and
never talks to a cluster, so the rules are unit-tested without one:

- parse_quantity(): Kubernetes resource quantities (512Mi, 250m, 1e3, 0.5Gi);
- parse_change() / apply_change(): relative requests "+2", "-1", "x1.5", "*2";
- desired_replicas(): the min/max guard (refuse absolute, clamp relative);
- plan_scale(): current workload + HPAs + request -> patches, actions, before/after;
- rollout_status(), pod_problems(), pods_missing_resources(): what waiting reads.

Refusals raise RunbookError, naming the workload, so a module fails once
with "Failed to scale Deployment shop/web: ..." before anything is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import decimal
import json
import math
import re

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import label_selector_string
# rollout.py must not import this module (it would be a cycle): the kinds and their APIs are defined there.
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import API_VERSION, DEPLOYMENT_CONFIG, condition_of

# Runbook 000 ("Scaling Operations"): "Never scale below minimum replicas (2) for availability",
# repeated under "Cost Optimization": "Never go below minimum replicas (2)"; its HPA example has minReplicas: 2.
DEFAULT_MIN_REPLICAS = 2
# No runbook gives a ceiling. The largest count they scale to is 20 (runbook 001, "--replicas=20"; runbook 000
# goes to 10, runbook 003 to 10): 50 lets every runbook command through and refuses a typo (200 for 20) or a
# runaway factor ("x10") that would exhaust the cluster during an incident.
DEFAULT_MAX_REPLICAS = 50

KINDS = ("Deployment", "StatefulSet", "ReplicaSet", DEPLOYMENT_CONFIG)
HPA_POLICIES = ("adjust", "refuse", "ignore")
RESOURCE_SECTIONS = ("requests", "limits")
# Runbook 000 raises memory and cpu (Vertical Scaling) and ephemeral storage limits (Node Disk Pressure).
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")

# Records the last relative change (change, from, to) on the workload, so the same change is applied once:
# a second run finds it done instead of adding "+2" again (the k8s_rollback "current - 1" trap).
CHANGE_ANNOTATION = "sre.runbooks/last-scale-change"

# -- quantities ------------------------------------------------------------------------------------------------

_BINARY_SUFFIXES = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# <signedNumber><suffix> of k8s.io/apimachinery resource.Quantity; the exponent form (1e3, 1.5E-2) last,
# so that "1E" is one exa while "1E3" is a thousand.
_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?$"
)
QUANTITY_EXAMPLES = "for example 512Mi, 1Gi, 250m, 0.5 or 2"


def parse_quantity(value):
    """A Kubernetes quantity ("512Mi", "250m", "1e3", 2) as an exact decimal.Decimal; ValueError if it is not one."""
    if isinstance(value, bool) or value is None:
        raise ValueError("{0!r} is not a Kubernetes quantity ({1})".format(value, QUANTITY_EXAMPLES))
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = str(value).strip()
    match = _QUANTITY_RE.match(text)
    if not match:
        raise ValueError("{0!r} is not a Kubernetes quantity ({1})".format(value, QUANTITY_EXAMPLES))
    number = decimal.Decimal(match.group("number"))
    suffix = match.group("suffix")
    if match.group("exponent") is not None:
        return number.scaleb(int(match.group("exponent")))
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    return number.scaleb(_DECIMAL_SUFFIXES[suffix or ""])


def quantity_text(value):
    """A quantity as the API would be sent it: strings stay as given, numbers become strings."""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value).strip()


# -- relative changes ------------------------------------------------------------------------------------------

_CHANGE_RE = re.compile(r"^\s*(?:(?P<sign>[+-])\s*(?P<count>[0-9]+)|(?P<times>[xX*])\s*(?P<factor>[0-9]+(?:\.[0-9]+)?|\.[0-9]+))\s*$")
CHANGE_FORMS = '"+N" (add N replicas), "-N" (remove N) or "xF" / "*F" (multiply by F, rounded up), for example "+2", "-1", "x1.5", "*2"'


class Change(object):
    """A parsed relative change: kind "add" (amount: int, may be negative) or "factor" (amount: Decimal > 0)."""

    def __init__(self, kind, amount):
        self.kind = kind
        self.amount = amount

    @property
    def text(self):
        """Canonical spelling, as recorded in CHANGE_ANNOTATION: "+2", "-1", "x1.5"."""
        if self.kind == "add":
            return "{0:+d}".format(self.amount)
        return "x{0}".format(_plain(self.amount))

    def __eq__(self, other):
        return isinstance(other, Change) and (self.kind, self.amount) == (other.kind, other.amount)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.kind, self.amount))

    def __repr__(self):
        return "Change({0!r})".format(self.text)


def _plain(number):
    """A Decimal without exponent or trailing zeros: 1.50 -> "1.5", 2.0 -> "2"."""
    return format(number.normalize(), "f")


def parse_change(text):
    """Parse the change option; ValueError naming the accepted forms when it is not one of them."""
    match = _CHANGE_RE.match(str(text)) if text is not None else None
    if not match and re.match(r"^\s*[0-9]+\s*$", str(text)):
        raise ValueError("change {0!r} has no sign: write \"+{1}\" in quotes (YAML reads an unquoted +{1} as the number {1}), "
                         "\"-{1}\", or use replicas for an absolute count".format(text, str(text).strip()))
    if not match:
        raise ValueError("change {0!r} is not a relative change: use {1}".format(text, CHANGE_FORMS))
    if match.group("sign"):
        amount = int(match.group("count"))
        return Change("add", -amount if match.group("sign") == "-" else amount)
    factor = decimal.Decimal(match.group("factor"))
    if factor <= 0:
        raise ValueError("change {0!r} multiplies by {1}: the factor must be greater than 0".format(text, _plain(factor)))
    return Change("factor", factor)


def apply_change(current, change):
    """The replica count a change asks for, before the guard: a factor rounds up, as the HPA does (ceil)."""
    if change.kind == "add":
        return current + change.amount
    return int(math.ceil(decimal.Decimal(current) * change.amount))


# -- the guard -------------------------------------------------------------------------------------------------

def guard_problems(replicas, min_replicas, max_replicas):
    """Problems with replicas, min_replicas and max_replicas taken alone, as sentences (empty when usable)."""
    problems = []
    if min_replicas < 0:
        problems.append("min_replicas must be 0 or more, got {0}".format(min_replicas))
    if max_replicas < 1:
        problems.append("max_replicas must be 1 or more, got {0}".format(max_replicas))
    if min_replicas > max_replicas:
        problems.append("min_replicas ({0}) is greater than max_replicas ({1})".format(min_replicas, max_replicas))
    if replicas is not None and replicas < 0:
        problems.append("replicas must be 0 or more, got {0}".format(replicas))
    if problems:
        return problems
    if replicas is not None and replicas < min_replicas:
        problems.append(
            "replicas {0} is below min_replicas {1}: the runbooks never scale below {2} replicas, for availability. "
            "Set min_replicas to go lower on purpose (min_replicas: 0 to stop the workload)".format(replicas, min_replicas, DEFAULT_MIN_REPLICAS)
        )
    if replicas is not None and replicas > max_replicas:
        problems.append("replicas {0} is above max_replicas {1}: raise max_replicas if that many are really wanted".format(replicas, max_replicas))
    return problems


def desired_replicas(current, replicas=None, change=None, min_replicas=DEFAULT_MIN_REPLICAS, max_replicas=DEFAULT_MAX_REPLICAS):
    """(requested, desired, clamped) for an absolute count or a Change from the current count.

    An absolute count outside [min_replicas, max_replicas] raises ValueError: the caller asked for exactly that
    number and must not get another one. A relative change is clamped into the bounds, and never turned into a
    move the other way: with the count already outside the bounds, a change away from them leaves it as it is.
    """
    if (replicas is None) == (change is None):
        raise ValueError("give exactly one of replicas and change")
    if replicas is not None:
        problems = guard_problems(replicas, min_replicas, max_replicas)
        if problems:
            raise ValueError("; ".join(problems))
        return replicas, replicas, False
    requested = apply_change(current, change)
    desired = min(max(requested, min_replicas), max_replicas)
    if (requested > current and desired < current) or (requested < current and desired > current):
        desired = current
    return requested, desired, desired != requested


def clamp_message(change, current, requested, desired, min_replicas, max_replicas):
    """The warning that says a relative change was clamped, and by which bound."""
    if requested > max_replicas and desired == max_replicas:
        why = "max_replicas {0}".format(max_replicas)
    elif requested < min_replicas and desired == min_replicas:
        why = "min_replicas {0}".format(min_replicas)
    else:
        why = "already outside min_replicas {0} .. max_replicas {1}, so not moved the other way".format(min_replicas, max_replicas)
    return "change {0} from {1} replicas asks for {2}; clamped to {3} ({4})".format(change.text, current, requested, desired, why)


# -- objects ---------------------------------------------------------------------------------------------------

def describe(kind, namespace, name):
    """How messages name an object: "Deployment shop/web"."""
    return "{0} {1}/{2}".format(kind, namespace, name)


def pod_selector(workload):
    """The workload's pod selector as a labelSelector query string (a DeploymentConfig's selector is a plain map)."""
    selector = (workload.get("spec") or {}).get("selector") or {}
    if workload.get("kind") == DEPLOYMENT_CONFIG:
        selector = {"matchLabels": selector}
    return label_selector_string(selector)


def spec_replicas(obj):
    """spec.replicas, with the API default of 1 when it is absent."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def containers_of(obj):
    """The containers of a workload's pod template (or of a pod)."""
    spec = obj.get("spec") or {}
    if "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or [])


def controller_owner(obj):
    """The ownerReference with controller: true, or None."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


# -- HorizontalPodAutoscalers ----------------------------------------------------------------------------------

def hpas_targeting(hpas, kind, name):
    """The HPAs whose scaleTargetRef names this workload (kind and name; group apps, or apps.openshift.io for a DeploymentConfig, or unset)."""
    found = []
    groups = ("apps.openshift.io", "") if kind == DEPLOYMENT_CONFIG else ("apps", "extensions", "")
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        group = (ref.get("apiVersion") or ("" if kind == DEPLOYMENT_CONFIG else API_VERSION)).rpartition("/")[0]
        if ref.get("kind") == kind and ref.get("name") == name and group in groups:
            found.append(hpa)
    return found


def hpa_bounds(hpa):
    """(minReplicas, maxReplicas) of an HPA; minReplicas defaults to 1 as in the API."""
    spec = hpa.get("spec") or {}
    minimum = spec.get("minReplicas")
    return (1 if minimum is None else int(minimum)), int(spec.get("maxReplicas") or 0)


def _hpa_report(hpa, policy, after_bounds=None):
    before = hpa_bounds(hpa)
    after = after_bounds or before
    return {
        "name": hpa["metadata"]["name"],
        "policy": policy,
        "min_replicas_before": before[0],
        "min_replicas_after": after[0],
        "max_replicas_before": before[1],
        "max_replicas_after": after[1],
    }


def plan_hpa(hpas, desired, current, policy, target):
    """What to do about the HPAs targeting a workload that is to run `desired` replicas (it runs `current`).

    Returns a dict: report (the RV(hpa) value or None), patch (merge patch for the HPA or None), hpa (the HPA
    object to patch or None), floor_held (the HPA already holds `desired` as its floor, so a count above it is
    the HPA scaling up under load, not a difference to undo), warnings, refusal (text or None).
    """
    plan = {"report": None, "patch": None, "hpa": None, "floor_held": False, "warnings": [], "refusal": None}
    if not hpas:
        return plan
    names = ", ".join(sorted(h["metadata"]["name"] for h in hpas))
    if len(hpas) > 1:
        text = "HorizontalPodAutoscalers {0} all target {1}: they fight each other over its replica count".format(names, target)
        if policy == "ignore":
            plan["warnings"].append(text + "; scaling anyway (hpa_policy=ignore), they will override it")
        else:
            plan["refusal"] = text + "; delete all but one first"
        return plan
    hpa = hpas[0]
    name = hpa["metadata"]["name"]
    minimum, maximum = hpa_bounds(hpa)
    plan["report"] = _hpa_report(hpa, policy)
    bounds = "minReplicas {0}, maxReplicas {1}".format(minimum, maximum)
    if policy == "refuse":
        if desired != current:
            plan["refusal"] = (
                "HorizontalPodAutoscaler {0} ({1}) targets {2} and would override a manual scale to {3}; "
                "use hpa_policy=adjust to move its bounds, or change the HPA yourself".format(name, bounds, target, desired)
            )
        return plan
    if policy == "ignore":
        if desired != current:
            plan["warnings"].append(
                "HorizontalPodAutoscaler {0} ({1}) targets {2}: it will set the replica count back from {3} "
                "as its metrics and bounds say (hpa_policy=ignore)".format(name, bounds, target, desired)
            )
        return plan
    if desired == 0:
        # An HPA cannot have minReplicas 0 (without the HPAScaleToZero gate); at 0 replicas it stops scaling
        # ("ScalingDisabled") and resumes when the workload is scaled up again, so it is left as it is.
        plan["warnings"].append(
            "HorizontalPodAutoscaler {0} ({1}) is left unchanged: it does not scale {2} while it has 0 replicas, "
            "and takes over again when it is scaled up".format(name, bounds, target)
        )
        return plan
    new_bounds = (desired, max(maximum, desired))
    plan["report"] = _hpa_report(hpa, policy, new_bounds)
    plan["floor_held"] = minimum == desired and maximum >= desired
    if new_bounds != (minimum, maximum):
        patch = {"minReplicas": new_bounds[0]}
        if new_bounds[1] != maximum:
            patch["maxReplicas"] = new_bounds[1]
        plan["patch"] = {"spec": patch}
        plan["hpa"] = hpa
    return plan


# -- vertical scaling ------------------------------------------------------------------------------------------

def resources_problems(resources):
    """Problems with the resources option taken alone (shape, names, quantities), as sentences."""
    problems = []
    if not isinstance(resources, dict) or not resources:
        return ["resources must map container names to {requests: {...}, limits: {...}}"]
    for container, wanted in resources.items():
        if not isinstance(wanted, dict) or not wanted:
            problems.append("resources.{0} must be a dict with requests and/or limits".format(container))
            continue
        for section, values in wanted.items():
            if section not in RESOURCE_SECTIONS:
                problems.append("resources.{0}.{1} is not one of {2}".format(container, section, ", ".join(RESOURCE_SECTIONS)))
                continue
            if not isinstance(values, dict) or not values:
                problems.append("resources.{0}.{1} must map resource names ({2}) to quantities".format(container, section, ", ".join(RESOURCE_NAMES)))
                continue
            for resource, value in values.items():
                where = "resources.{0}.{1}.{2}".format(container, section, resource)
                if resource not in RESOURCE_NAMES:
                    problems.append("{0}: {1} is not one of {2}".format(where, resource, ", ".join(RESOURCE_NAMES)))
                    continue
                try:
                    amount = parse_quantity(value)
                except ValueError as error:
                    problems.append("{0}: {1}".format(where, error))
                    continue
                if amount < 0:
                    problems.append("{0}: {1} is negative".format(where, quantity_text(value)))
                elif amount == 0 and section == "limits":
                    problems.append("{0}: a limit of 0 would stop the container".format(where))
    return problems


def _resources_view(container, names):
    """{requests: {...}, limits: {...}} of a container, only the sections and names asked about."""
    current = container.get("resources") or {}
    view = {}
    for section, wanted in names.items():
        view[section] = dict((k, v) for k, v in (current.get(section) or {}).items() if k in wanted)
    return view


def plan_resources(workload, resources, target):
    """Compare a workload's template with the resources option.

    Returns (containers_patch, before, after, actions): containers_patch is the strategic merge patch list for
    spec.template.spec.containers (empty when nothing changes); before and after show, for the named containers,
    the requests and limits named in the option. Raises ValueError for an unknown container or a limit that
    would end up below its request.
    """
    containers = dict((c.get("name"), c) for c in containers_of(workload))
    unknown = sorted(set(resources) - set(containers))
    if unknown:
        raise ValueError("{0} has no container {1} (its containers: {2})".format(
            target, ", ".join(unknown), ", ".join(sorted(name for name in containers if name)) or "none"))
    patch, before, after, actions = [], {}, {}, []
    for name in sorted(resources):
        wanted = resources[name]
        names = dict((section, set(values)) for section, values in wanted.items())
        current = containers[name].get("resources") or {}
        before[name] = _resources_view(containers[name], names)
        after[name] = copy.deepcopy(before[name])
        changes = {}
        for section in RESOURCE_SECTIONS:
            for resource, value in sorted((wanted.get(section) or {}).items()):
                old = (current.get(section) or {}).get(resource)
                if old is not None and _same_quantity(old, value):
                    continue
                changes.setdefault(section, {})[resource] = quantity_text(value)
                after[name][section][resource] = quantity_text(value)
                actions.append("set {0}.{1} of container {2} in {3} from {4} to {5}".format(
                    section, resource, name, target, "unset" if old is None else old, quantity_text(value)))
        merged = dict((section, dict(current.get(section) or {}, **changes.get(section, {}))) for section in RESOURCE_SECTIONS)
        for resource in RESOURCE_NAMES:
            request, limit = merged["requests"].get(resource), merged["limits"].get(resource)
            if request is not None and limit is not None and parse_quantity(limit) < parse_quantity(request):
                raise ValueError("the {0} limit {1} of container {2} would be below its request {3}, which Kubernetes refuses: "
                                 "set the limit at or above the request".format(resource, limit, name, request))
        if changes:
            patch.append({"name": name, "resources": changes})
    return patch, before, after, actions


def _same_quantity(old, new):
    try:
        return parse_quantity(old) == parse_quantity(new)
    except ValueError:
        return False


# -- the plan --------------------------------------------------------------------------------------------------

def recorded_change(workload):
    """The relative change recorded in CHANGE_ANNOTATION ({change, from, to, clamped}), or None."""
    text = ((workload.get("metadata") or {}).get("annotations") or {}).get(CHANGE_ANNOTATION)
    if not text:
        return None
    try:
        record = json.loads(text)
        return record if isinstance(record, dict) and isinstance(record.get("to"), int) else None
    except ValueError:
        return None


def plan_scale(workload, hpas, request):
    """Plan a scaling request against a workload as read from the API. Pure: no cluster needed.

    workload -- the Deployment, StatefulSet or ReplicaSet (a dict)
    hpas -- the autoscaling/v2 HorizontalPodAutoscalers of its namespace (dicts; [] when none)
    request -- dict with replicas, change (text), min_replicas, max_replicas, hpa_policy, resources

    Returns a dict: replicas_before, replicas_requested, replicas_after, clamped, hpa (report or None),
    hpa_patch, hpa_object, hpa_floor_held, workload_patch (strategic merge patch or None), resources_before,
    resources_after, actions, warnings, before and after (for diff). Raises RunbookError on a refusal.
    """
    kind = workload.get("kind") or request.get("kind") or "Deployment"
    meta = workload.get("metadata") or {}
    target = describe(kind, meta.get("namespace"), meta.get("name"))
    current = spec_replicas(workload)
    actions, warnings = [], []
    patch = {}
    horizontal = request.get("replicas") is not None or request.get("change")
    result = {
        "replicas_before": current, "replicas_requested": current, "replicas_after": current, "clamped": False,
        "hpa": None, "hpa_patch": None, "hpa_object": None, "hpa_floor_held": False, "resources_before": {}, "resources_after": {},
    }

    if kind == "ReplicaSet":
        owner = controller_owner(workload)
        if owner is not None and owner.get("kind") == "Deployment":
            raise RunbookError("scale", target, "it belongs to Deployment {0}, which would set its replica count back: "
                                                "scale the Deployment instead".format(owner.get("name")))

    if horizontal:
        change = parse_change(request["change"]) if request.get("change") else None
        record = recorded_change(workload) if change is not None else None
        if record is not None and record.get("change") == change.text and record["to"] == current:
            # The same relative change was applied by an earlier run and nothing has moved the count since.
            requested, desired, clamped = current, current, bool(record.get("clamped"))
        else:
            try:
                requested, desired, clamped = desired_replicas(current, request.get("replicas"), change,
                                                               request["min_replicas"], request["max_replicas"])
            except ValueError as error:
                raise RunbookError("scale", target, error) from error
            if clamped:
                warnings.append(clamp_message(change, current, requested, desired, request["min_replicas"], request["max_replicas"]))
        hpa = plan_hpa(hpas_targeting(hpas, kind, meta.get("name")), desired, current, request.get("hpa_policy") or "adjust", target)
        if hpa["refusal"]:
            raise RunbookError("scale", target, hpa["refusal"])
        warnings.extend(hpa["warnings"])
        result.update(replicas_requested=requested, clamped=clamped, hpa=hpa["report"], hpa_patch=hpa["patch"],
                      hpa_object=hpa["hpa"], hpa_floor_held=hpa["floor_held"])
        if hpa["patch"]:
            for field, value in sorted(hpa["patch"]["spec"].items()):
                old = hpa_bounds(hpa["hpa"])[0 if field == "minReplicas" else 1]
                actions.append("set {0} of {1} from {2} to {3}".format(
                    field, describe("HorizontalPodAutoscaler", meta.get("namespace"), hpa["hpa"]["metadata"]["name"]), old, value))
        if hpa["floor_held"] and current > desired:
            # The HPA already keeps `desired` as its floor and has scaled above it under load: scaling down
            # would only be undone, and would remove pods the load needs.
            warnings.append("{0} runs {1} replicas, above the {2} asked for: HorizontalPodAutoscaler {3} keeps {2} as its floor "
                            "and scaled up under load; left as it is".format(target, current, desired, hpa["report"]["name"]))
            desired = current
        result["replicas_after"] = desired
        if desired != current:
            patch["spec"] = {"replicas": desired}
            actions.append("scale {0} from {1} to {2} replicas".format(target, current, desired))
            annotations = (meta.get("annotations") or {})
            if change is not None:
                record = {"change": change.text, "from": current, "to": desired, "clamped": clamped}
                patch["metadata"] = {"annotations": {CHANGE_ANNOTATION: json.dumps(record, sort_keys=True)}}
            elif CHANGE_ANNOTATION in annotations:
                patch["metadata"] = {"annotations": {CHANGE_ANNOTATION: None}}

    if request.get("resources"):
        if kind == "ReplicaSet":
            raise RunbookError("change the resources of", target, "a ReplicaSet does not replace its pods when its template changes: "
                                                                  "change the Deployment that owns it, or use a Deployment")
        try:
            containers_patch, before, after, resource_actions = plan_resources(workload, request["resources"], target)
        except ValueError as error:
            raise RunbookError("change the resources of", target, error) from error
        result.update(resources_before=before, resources_after=after)
        if containers_patch:
            blocked = rollout_blocked(workload)
            if blocked:
                raise RunbookError("change the resources of", target, blocked)
            patch.setdefault("spec", {})["template"] = {"spec": {"containers": containers_patch}}
            actions.extend(resource_actions)

    result.update(
        workload_patch=patch or None,
        actions=actions,
        warnings=warnings,
        before=_state(current, result["hpa"], "before", result["resources_before"]),
        after=_state(result["replicas_after"], result["hpa"], "after", result["resources_after"]),
    )
    return result


def _state(replicas, hpa, when, resources):
    state = {"replicas": replicas}
    if hpa is not None:
        state["hpa"] = {"name": hpa["name"], "minReplicas": hpa["min_replicas_" + when], "maxReplicas": hpa["max_replicas_" + when]}
    if resources:
        state["resources"] = resources
    return state


def rollout_blocked(workload):
    """Why a template change would not roll out to every pod (paused, OnDelete, partition, no ConfigChange trigger), or None."""
    kind = workload.get("kind")
    spec = workload.get("spec") or {}
    if kind == "Deployment" and spec.get("paused"):
        return "the Deployment is paused, so new pods would not roll out: resume it first (kubectl rollout resume)"
    if kind == DEPLOYMENT_CONFIG:
        if spec.get("paused"):
            return "the DeploymentConfig is paused, so no new version would be deployed: resume it first (oc rollout resume)"
        if not any((t or {}).get("type") == "ConfigChange" for t in spec.get("triggers") or []):
            return ("the DeploymentConfig has no ConfigChange trigger, so a template change waits for someone to deploy it: "
                    "add one (oc set triggers --from-config) or change the resources and run oc rollout latest")
    if kind == "StatefulSet":
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return "the StatefulSet's updateStrategy is OnDelete, so its pods would keep the old resources until deleted one by one"
        partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
        if partition:
            return "the StatefulSet's rolling update has partition {0}, so pods below that ordinal would keep the old resources".format(partition)
    return None


# -- waiting ---------------------------------------------------------------------------------------------------

def _count(status, field):
    return int(status.get(field) or 0)


def rollout_status(workload):
    """(done, message, hopeless) for a workload that should run spec.replicas ready, up-to-date pods.

    hopeless is True when the controller itself has given up (ProgressDeadlineExceeded), so waiting longer
    cannot help. Mirrors `kubectl rollout status`, plus readiness of every replica. The message says what is
    missing and ends with the counts: "1 old replicas pending termination (3 wanted: 2 updated, 2 ready, 2 available)".
    """
    kind = workload.get("kind")
    meta = workload.get("metadata") or {}
    status = workload.get("status") or {}
    wanted = spec_replicas(workload)
    counts = dict((field, _count(status, field)) for field in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"))
    summary = " ({0} wanted: {1} updated, {2} ready, {3} available)".format(
        wanted, counts["updatedReplicas"], counts["readyReplicas"], counts["availableReplicas"])
    if kind == "ReplicaSet":
        summary = " ({0} wanted: {1} ready, {2} available)".format(wanted, counts["readyReplicas"], counts["availableReplicas"])
    hopeless = False
    if _count(status, "observedGeneration") < int(meta.get("generation") or 1):
        return False, "the {0} controller has not seen the change yet".format(kind) + summary, False
    reason = None
    if kind in ("Deployment", DEPLOYMENT_CONFIG):
        # A DeploymentConfig whose latest version failed has Progressing False, ProgressDeadlineExceeded, as a Deployment.
        progressing = condition_of(workload, "Progressing")
        failure = condition_of(workload, "ReplicaFailure")
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            reason, hopeless = "the rollout exceeded its progress deadline: {0}".format(progressing.get("message", "")), True
        elif failure.get("status") == "True":
            reason = "pods cannot be created: {0}".format(failure.get("message", ""))
        elif counts["updatedReplicas"] < wanted:
            reason = "{0} of {1} replicas updated".format(counts["updatedReplicas"], wanted)
        elif counts["replicas"] > counts["updatedReplicas"]:
            reason = "{0} old replicas pending termination".format(counts["replicas"] - counts["updatedReplicas"])
    elif kind == "StatefulSet" and wanted > 0 and status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        reason = "{0} of {1} replicas updated".format(counts["updatedReplicas"], wanted)
    if reason is None:
        if counts["replicas"] != wanted:
            reason = "{0} replicas exist, {1} wanted".format(counts["replicas"], wanted)
        elif counts["readyReplicas"] < wanted:
            reason = "{0} of {1} replicas ready".format(counts["readyReplicas"], wanted)
        elif ("availableReplicas" in status or kind in ("Deployment", DEPLOYMENT_CONFIG)) and counts["availableReplicas"] < wanted:
            reason = "{0} of {1} replicas available".format(counts["availableReplicas"], wanted)
    if reason is None:
        return True, "{0} of {1} replicas ready".format(counts["readyReplicas"], wanted), False
    return False, reason + summary, hopeless


def pod_problem(pod):
    """Why one pod is not ready, in a sentence, or None when it is."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    scheduled = condition_of(pod, "PodScheduled")
    if phase == "Pending" and scheduled.get("status") == "False":
        return "Pending, {0}: {1}".format(scheduled.get("reason") or "not scheduled", scheduled.get("message") or "")
    reasons = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if cs.get("ready") or (state.get("terminated") or {}).get("exitCode") == 0:
            continue
        parts = []
        waiting = state.get("waiting") or {}
        if waiting.get("reason"):
            # CrashLoopBackOff's message only repeats the back-off; the others (ErrImagePull,
            # CreateContainerConfigError, ...) carry the cause.
            detail = waiting.get("message") if waiting.get("reason") != "CrashLoopBackOff" else None
            parts.append(waiting["reason"] + (": " + detail if detail else ""))
        elif "running" in state:
            parts.append("running, not ready")
        elif "terminated" in state:
            parts.append("terminated {0} (exit code {1})".format(state["terminated"].get("reason"), state["terminated"].get("exitCode")))
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if last.get("reason"):
            parts.append("last terminated {0} (exit code {1})".format(last["reason"], last.get("exitCode")))
        if cs.get("restartCount"):
            parts.append("{0} restarts".format(cs["restartCount"]))
        reasons.append("container {0}: {1}".format(cs.get("name"), ", ".join(parts or ["not ready"])))
    if reasons:
        return "{0}, {1}".format(phase, "; ".join(reasons))
    ready = condition_of(pod, "Ready")
    if ready.get("status") != "True":
        return "{0}, not ready{1}".format(phase, ": " + ready["message"] if ready.get("message") else "")
    return None


def pod_problems(pods, limit=5):
    """Why the pods are not ready, grouped by reason: ["3 pods Pending, Unschedulable: 0/3 nodes ...", ...]."""
    groups = {}
    order = []
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        problem = pod_problem(pod)
        if problem is None:
            continue
        # Restart counts differ from pod to pod: group on the reason without them.
        key = re.sub(r", [0-9]+ restarts", "", problem)
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(pod["metadata"]["name"])
    lines = []
    for key in order[:limit]:
        names = groups[key]
        who = "pod {0}".format(names[0]) if len(names) == 1 else "{0} pods ({1}{2})".format(
            len(names), ", ".join(names[:3]), ", ..." if len(names) > 3 else "")
        lines.append("{0}: {1}".format(who, key))
    if len(order) > limit:
        lines.append("and {0} other problems".format(len(order) - limit))
    return lines


def pods_missing_resources(pods, resources):
    """Pods (not being deleted, not finished) whose containers lack the requested resources, as sentences."""
    missing = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        containers = dict((c.get("name"), c) for c in containers_of(pod))
        for name, wanted in sorted(resources.items()):
            actual = (containers.get(name) or {}).get("resources") or {}
            for section, values in sorted(wanted.items()):
                for resource, value in sorted(values.items()):
                    have = (actual.get(section) or {}).get(resource)
                    if have is None or not _same_quantity(have, value):
                        missing.append("pod {0} container {1} has {2}.{3} {4}, not {5}".format(
                            meta.get("name"), name, section, resource, "unset" if have is None else have, quantity_text(value)))
    return missing
