# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Draining a Kubernetes node: the pure part (the preflight plan).

Everything here works on plain dicts (objects as the API returns them) and
never talks to a cluster, so the rules are unit-tested without one:

- classify_pods(): what `kubectl drain` does with each pod of the node: evict,
  delete (finished pods), skip (DaemonSet and mirror pods), or refuse (emptyDir
  data, no controller, DaemonSet pods without ignore_daemonsets), naming them;
- pdb_report(): which PodDisruptionBudgets cover the pods to evict, how many
  evictions each allows now and by how many it blocks the drain, and whether it
  can ever allow them;
- capacity_report(): whether the other schedulable nodes have room for the
  requests of the replacements;
- plan_drain(): all of it, with `can_finish` and the reasons when it cannot;
- replacements_pending(), eviction_blocker(): what the wait and a failure report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import decimal

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import controller_owner, parse_quantity

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = ("Succeeded", "Failed")
# Taint effects that keep new pods off a node.
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

EVICT = "evict"
DELETE = "delete"
SKIP = "skip"
REFUSE = "refuse"
WAIT = "wait"

# kubectl drain's own words for its refusals, with our option names.
LOCAL_STORAGE = "cannot delete Pods with local storage (use delete_emptydir_data=true)"
NO_CONTROLLER = "cannot delete Pods that declare no controller (use force=true)"
DAEMONSET_MANAGED = "cannot delete DaemonSet-managed Pods (use ignore_daemonsets=true)"
ORPHANED_DAEMONSET = "cannot delete Pods of a DaemonSet that no longer exists (use force=true)"


# -- pods ------------------------------------------------------------------------------------------------------

def pod_key(pod):
    """"namespace/name" of a pod (or any namespaced object)."""
    meta = pod.get("metadata") or {}
    return "{0}/{1}".format(meta.get("namespace"), meta.get("name"))


def phase_of(pod):
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_finished(pod):
    return phase_of(pod) in FINISHED_PHASES


def is_deleting(pod):
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def condition_true(obj, kind):
    return any(c.get("type") == kind and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def is_ready(pod):
    """Running with its Ready condition True."""
    return phase_of(pod) == "Running" and condition_true(pod, "Ready")


def node_of(pod):
    return (pod.get("spec") or {}).get("nodeName")


def controller_text(pod):
    """"ReplicaSet shop/web-5d8f" for the pod's controller, or None."""
    ref = controller_owner(pod)
    if ref is None:
        return None
    return "{0} {1}/{2}".format(ref.get("kind"), (pod.get("metadata") or {}).get("namespace"), ref.get("name"))


def emptydir_volumes(pod):
    return [v.get("name") for v in (pod.get("spec") or {}).get("volumes") or [] if "emptyDir" in v]


def _entry(pod, reason=None):
    entry = {"pod": pod_key(pod), "controller": controller_text(pod)}
    if reason:
        entry["reason"] = reason
    return entry


def classify_pods(pods, daemonsets, ignore_daemonsets=True, delete_emptydir_data=False, force=False):
    """What a drain does with each pod of the node, as kubectl drain's filters decide it.

    pods -- the node's pods
    daemonsets -- "namespace/name" of the DaemonSets that exist (a pod of a missing one is an orphan)

    Returns {evict, delete, skip, refuse, wait}, lists of {pod, controller, reason}:
    evict -- running or pending pods to evict (their replacements need room elsewhere, unless they have no controller)
    delete -- finished pods (Succeeded, Failed): removed, no budget applies
    skip -- mirror pods and the pods of existing DaemonSets: they stay
    refuse -- pods the drain may not remove without an option, with every reason (kubectl names only the first)
    wait -- pods already being deleted: nothing to send, the drain waits until they are gone
    """
    result = dict((name, []) for name in (EVICT, DELETE, SKIP, REFUSE, WAIT))
    for pod in sorted(pods, key=pod_key):
        meta = pod.get("metadata") or {}
        if is_deleting(pod):
            result[WAIT].append(_entry(pod, "being deleted"))
            continue
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            result[SKIP].append(_entry(pod, "mirror pod (static pod of the kubelet)"))
            continue
        ref = controller_owner(pod)
        finished = is_finished(pod)
        problems = []
        if ref is not None and ref.get("kind") == "DaemonSet" and not finished:
            if "{0}/{1}".format(meta.get("namespace"), ref.get("name")) not in daemonsets:
                if not force:
                    problems.append(ORPHANED_DAEMONSET)
            elif not ignore_daemonsets:
                problems.append(DAEMONSET_MANAGED)
            else:
                result[SKIP].append(_entry(pod, "DaemonSet-managed"))
                continue
        if not finished:
            if emptydir_volumes(pod) and not delete_emptydir_data:
                problems.append(LOCAL_STORAGE)
            if ref is None and not force:
                problems.append(NO_CONTROLLER)
        if problems:
            result[REFUSE].append(_entry(pod, "; ".join(problems)))
        elif finished:
            result[DELETE].append(_entry(pod, phase_of(pod)))
        else:
            result[EVICT].append(_entry(pod))
    return result


def refusal_messages(refused):
    """One sentence per kubectl refusal, naming its pods: ["cannot delete Pods with local storage (...): shop/cache-0", ...]."""
    groups = {}
    order = []
    for entry in refused:
        for reason in entry["reason"].split("; "):
            if reason not in groups:
                order.append(reason)
                groups[reason] = []
            groups[reason].append(entry["pod"])
    return ["{0}: {1}".format(reason, ", ".join(groups[reason])) for reason in order]


# -- label selectors, taints -----------------------------------------------------------------------------------

def selector_matches(selector, labels):
    """Whether a LabelSelector (matchLabels, matchExpressions) selects labels. None selects nothing, {} everything."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def tolerates(toleration, taint):
    """v1.Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(node, pod):
    """The first NoSchedule/NoExecute taint of the node the pod does not tolerate, or None."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in BLOCKING_EFFECTS and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def node_unavailable_reason(node):
    """Why no new pod goes to the node (cordoned, not Ready), or None."""
    if (node.get("spec") or {}).get("unschedulable"):
        return "cordoned"
    if not condition_true(node, "Ready"):
        return "not Ready"
    return None


# -- requests and capacity -------------------------------------------------------------------------------------

ZERO = decimal.Decimal(0)


def _resource(values, name):
    value = (values or {}).get(name)
    if value is None:
        return ZERO
    try:
        return parse_quantity(value)
    except ValueError:
        return ZERO


def pod_requests(pod):
    """(cpu in cores, memory in bytes) a pod requests: its containers, at least its largest init container, plus overhead."""
    spec = pod.get("spec") or {}
    cpu = memory = ZERO
    for container in spec.get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += _resource(requests, "cpu")
        memory += _resource(requests, "memory")
    for container in spec.get("initContainers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu = max(cpu, _resource(requests, "cpu"))
        memory = max(memory, _resource(requests, "memory"))
    overhead = spec.get("overhead") or {}
    return cpu + _resource(overhead, "cpu"), memory + _resource(overhead, "memory")


def cpu_text(cores):
    """Cores as the API writes them: "250m", "2"."""
    milli = (cores * 1000).to_integral_value(rounding=decimal.ROUND_CEILING)
    return str(int(milli // 1000)) if milli % 1000 == 0 else "{0}m".format(int(milli))


def memory_text(size):
    """Bytes as "512Mi", "2Gi": the largest whole binary unit, else rounded up to Mi."""
    size = int(size.to_integral_value(rounding=decimal.ROUND_CEILING))
    for suffix, unit in (("Gi", 2 ** 30), ("Mi", 2 ** 20), ("Ki", 2 ** 10)):
        if size >= unit and size % unit == 0:
            return "{0}{1}".format(size // unit, suffix)
    if size >= 2 ** 20:
        return "{0}Mi".format(-(-size // 2 ** 20))
    return str(size)


def _requests_text(cpu, memory):
    return "cpu {0}, memory {1}".format(cpu_text(cpu), memory_text(memory))


def _node_matches_selector(node, pod):
    labels = (node.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in ((pod.get("spec") or {}).get("nodeSelector") or {}).items())


def capacity_report(node_name, nodes, all_pods, movers):
    """Whether the other schedulable nodes have room for the requests of the pods that will be replaced.

    node_name -- the node being drained
    nodes -- every node
    all_pods -- every pod of the cluster (what is placed where)
    movers -- the pods whose replacements need a place

    Free room on a node is its allocatable CPU, memory and pods minus the requests of the active pods
    already there. Replacements are placed largest first on the node with the most free CPU that fits
    (and whose NoSchedule/NoExecute taints and nodeSelector the pod accepts).
    """
    targets = []
    excluded = []
    for node in sorted(nodes, key=lambda n: (n.get("metadata") or {}).get("name") or ""):
        name = (node.get("metadata") or {}).get("name")
        if name == node_name:
            continue
        reason = node_unavailable_reason(node)
        if reason:
            excluded.append({"node": name, "reason": reason})
            continue
        allocatable = (node.get("status") or {}).get("allocatable") or (node.get("status") or {}).get("capacity") or {}
        free = {"node": node, "name": name, "cpu": _resource(allocatable, "cpu"), "memory": _resource(allocatable, "memory"),
                "pods": int(_resource(allocatable, "pods")) if "pods" in allocatable else 110}
        targets.append(free)
    by_name = dict((t["name"], t) for t in targets)
    for pod in all_pods:
        target = by_name.get(node_of(pod))
        if target is None or is_finished(pod):
            continue
        cpu, memory = pod_requests(pod)
        target["cpu"] -= cpu
        target["memory"] -= memory
        target["pods"] -= 1
    free_before = [{"name": t["name"], "cpu": cpu_text(max(t["cpu"], ZERO)), "memory": memory_text(max(t["memory"], ZERO)),
                    "pods": max(t["pods"], 0)} for t in targets]

    needed_cpu = needed_memory = ZERO
    unplaced = []
    placed = {}
    order = sorted(movers, key=lambda p: tuple(-x for x in pod_requests(p)) + (pod_key(p),))
    for pod in order:
        cpu, memory = pod_requests(pod)
        needed_cpu += cpu
        needed_memory += memory
        fitting = [t for t in targets if t["cpu"] >= cpu and t["memory"] >= memory and t["pods"] >= 1
                   and untolerated_taint(t["node"], pod) is None and _node_matches_selector(t["node"], pod)]
        if not fitting:
            if not targets:
                why = "no other node is schedulable"
            else:
                why = "no other schedulable node has room for its requests ({0})".format(_requests_text(cpu, memory))
            unplaced.append({"pod": pod_key(pod), "reason": why})
            continue
        best = max(fitting, key=lambda t: (t["cpu"], t["memory"]))  # the first by name among equals
        best["cpu"] -= cpu
        best["memory"] -= memory
        best["pods"] -= 1
        placed[pod_key(pod)] = best["name"]
    return {
        "fits": not unplaced,
        "requests": {"cpu": cpu_text(needed_cpu), "memory": memory_text(needed_memory), "pods": len(movers)},
        "nodes": free_before,
        "excluded": excluded,
        "placement": placed,
        "unplaced": unplaced,
    }


# -- PodDisruptionBudgets --------------------------------------------------------------------------------------

def _plural(count, word):
    return "{0} {1}{2}".format(count, word, "" if count == 1 else "s")


def pdb_allows_unready(pdb):
    """Whether the eviction API lets an unready pod go without using the budget (as EvictionREST decides)."""
    status = pdb.get("status") or {}
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired and desired > 0


def pdb_report(pdbs, pods):
    """The PodDisruptionBudgets that cover pods to evict, and why some pods cannot be evicted at all.

    Returns (reports, reasons). Each report: name, disruptions_allowed (status.disruptionsAllowed now),
    covers (the node's pods it selects), needs (evictions that use its budget: ready pods, and unready
    ones the API does not let go for free), blocks_by (needs beyond what it allows now), permanent (it can
    never allow them: it wants every expected pod healthy, or has no expected pods), and message.
    reasons: sentences for the plan's can_finish (permanent blocks, pods under more than one budget).
    """
    reports = []
    reasons = []
    covering = {}
    for pdb in sorted(pdbs, key=pod_key):
        meta = pdb.get("metadata") or {}
        selector = (pdb.get("spec") or {}).get("selector")
        covered = [p for p in pods if (p.get("metadata") or {}).get("namespace") == meta.get("namespace")
                   and selector_matches(selector, (p.get("metadata") or {}).get("labels"))]
        if not covered:
            continue
        status = pdb.get("status") or {}
        allowed = int(status.get("disruptionsAllowed") or 0)
        desired = int(status.get("desiredHealthy") or 0)
        healthy = int(status.get("currentHealthy") or 0)
        expected = int(status.get("expectedPods") or 0)
        free_unready = pdb_allows_unready(pdb)
        needs = sum(1 for p in covered if is_ready(p) or not free_unready)
        blocks_by = max(0, needs - allowed)
        permanent = blocks_by > 0 and (expected <= 0 or desired >= expected)
        name = "PodDisruptionBudget " + pod_key(pdb)
        names = ", ".join(pod_key(p) for p in covered)
        message = "{0} allows {1} now (needs {2} healthy pods, has {3}) and covers {4} of the node ({5})".format(
            name, _plural(allowed, "disruption"), desired, healthy, _plural(len(covered), "pod"), names)
        if permanent:
            message += ": it blocks by {0} and can never allow them while it wants all {1} expected pods healthy; " \
                       "relax it or scale the workload up".format(blocks_by, expected)
            reasons.append(message)
        elif blocks_by:
            message += ": it blocks by {0} until replacements are Ready elsewhere; the drain retries".format(blocks_by)
        reports.append({"name": pod_key(pdb), "disruptions_allowed": allowed, "desired_healthy": desired,
                        "current_healthy": healthy, "expected_pods": expected, "covers": [pod_key(p) for p in covered],
                        "needs": needs, "blocks_by": blocks_by, "permanent": permanent, "message": message})
        for pod in covered:
            covering.setdefault(pod_key(pod), []).append(pod_key(pdb))
    for pod, names in sorted(covering.items()):
        if len(names) > 1:
            reasons.append("pod {0} is selected by more than one PodDisruptionBudget ({1}), which the eviction API refuses".format(
                pod, ", ".join(names)))
    return reports, reasons


def eviction_blocker(pod, pdbs):
    """Why an eviction of the pod is refused, from the budget that covers it now; None when none does."""
    meta = pod.get("metadata") or {}
    for pdb in sorted(pdbs, key=pod_key):
        if (pdb.get("metadata") or {}).get("namespace") != meta.get("namespace"):
            continue
        if selector_matches((pdb.get("spec") or {}).get("selector"), meta.get("labels")):
            status = pdb.get("status") or {}
            return "PodDisruptionBudget {0} allows {1} (needs {2} healthy pods, has {3})".format(
                pod_key(pdb), _plural(int(status.get("disruptionsAllowed") or 0), "disruption"),
                int(status.get("desiredHealthy") or 0), int(status.get("currentHealthy") or 0))
    return None


# -- the plan --------------------------------------------------------------------------------------------------

def _by_key(pods):
    return dict((pod_key(p), p) for p in pods)


def plan_drain(node, node_pods, nodes, all_pods, pdbs, daemonsets, options):
    """The preflight plan of draining node: what happens to each pod, which budgets block, whether there is room.

    node -- the Node
    node_pods -- the node's pods the drain concerns (after the pod selector)
    nodes, all_pods, pdbs -- every node, pod and PodDisruptionBudget of the cluster
    daemonsets -- "namespace/name" of the existing DaemonSets
    options -- ignore_daemonsets, delete_emptydir_data, force, disable_eviction

    can_finish is False, with reasons, when pods are refused, a budget can never allow an eviction
    (unless disable_eviction), a pod is under two budgets, or replacements have no room elsewhere.
    """
    name = (node.get("metadata") or {}).get("name")
    classes = classify_pods(node_pods, daemonsets, ignore_daemonsets=options.get("ignore_daemonsets", True),
                            delete_emptydir_data=options.get("delete_emptydir_data", False), force=options.get("force", False))
    pods = _by_key(node_pods)
    evicting = [pods[e["pod"]] for e in classes[EVICT]]
    reasons = refusal_messages(classes[REFUSE])
    disable_eviction = options.get("disable_eviction", False)
    budgets, budget_reasons = pdb_report(pdbs, evicting)
    if disable_eviction:
        for report in budgets:
            report["message"] += "; bypassed: disable_eviction deletes the pods without asking it"
    else:
        reasons.extend(budget_reasons)
    movers = [p for p in evicting if controller_owner(p) is not None]
    capacity = capacity_report(name, nodes, all_pods, movers)
    for entry in capacity["unplaced"]:
        reasons.append("the replacement of {0} would stay Pending: {1}".format(entry["pod"], entry["reason"]))
    lost = [e["pod"] for e in classes[EVICT] + classes[REFUSE] if e["controller"] is None and not is_finished(pods[e["pod"]])]
    emptydir = [e["pod"] for e in classes[EVICT] + classes[REFUSE] if emptydir_volumes(pods[e["pod"]])]
    plan = {
        "node": name,
        "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
        "evict": classes[EVICT],
        "delete": classes[DELETE],
        "skip": classes[SKIP],
        "refuse": classes[REFUSE],
        "wait": classes[WAIT],
        "lost": lost,
        "emptydir_data_lost": emptydir,
        "pdbs": budgets,
        "capacity": capacity,
        "can_finish": not reasons,
        "reasons": reasons,
    }
    plan["actions"] = plan_actions(plan, disable_eviction)
    return plan


def plan_actions(plan, disable_eviction=False):
    """The writes a drain makes, one sentence each."""
    actions = []
    if not plan["unschedulable"]:
        actions.append("cordon node {0}".format(plan["node"]))
    verb = "delete" if disable_eviction else "evict"
    actions.extend("{0} pod {1}".format(verb, e["pod"]) for e in plan["evict"])
    actions.extend("delete pod {0} ({1})".format(e["pod"], e["reason"]) for e in plan["delete"])
    return actions


def has_work(plan):
    """Whether a drain would write anything or wait for anything."""
    return bool(not plan["unschedulable"] or plan["evict"] or plan["delete"] or plan["wait"] or plan["refuse"])


# -- waiting for replacements ----------------------------------------------------------------------------------

def ready_by_controller(pods, exclude_node=None):
    """{controller uid: number of Ready pods not being deleted} (on other nodes than exclude_node)."""
    counts = {}
    for pod in pods:
        ref = controller_owner(pod)
        if ref is None or is_deleting(pod) or not is_ready(pod) or (exclude_node and node_of(pod) == exclude_node):
            continue
        counts[ref.get("uid")] = counts.get(ref.get("uid"), 0) + 1
    return counts


def replacements_pending(evicted, ready_before, pods_now, node_name):
    """Controllers of evicted pods whose Ready pods on other nodes are fewer than their Ready pods before the drain.

    evicted -- the evicted pods (as they were)
    ready_before -- ready_by_controller() of every pod before the drain
    pods_now -- every pod now
    Returns sentences ("ReplicaSet shop/web-5d8f: 2 of 3 pods Ready on other nodes; shop/web-5d8f-x Pending ..."), empty when done.
    """
    now = ready_by_controller(pods_now, exclude_node=node_name)
    seen = set()
    pending = []
    for pod in sorted(evicted, key=pod_key):
        ref = controller_owner(pod)
        if ref is None or ref.get("kind") == "DaemonSet" or ref.get("uid") in seen:
            continue
        seen.add(ref.get("uid"))
        wanted = ready_before.get(ref.get("uid"), 0)
        have = now.get(ref.get("uid"), 0)
        if have >= wanted:
            continue
        text = "{0}: {1} of {2} pods Ready on other nodes".format(controller_text(pod), have, wanted)
        waiting = [p for p in pods_now if (controller_owner(p) or {}).get("uid") == ref.get("uid") and not is_ready(p)
                   and not is_deleting(p)]
        details = []
        for other in sorted(waiting, key=pod_key)[:3]:
            scheduled = [c for c in (other.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"]
            why = phase_of(other)
            if scheduled and scheduled[0].get("status") == "False":
                why += ", {0}: {1}".format(scheduled[0].get("reason") or "not scheduled", scheduled[0].get("message") or "")
            elif phase_of(other) == "Running":
                why += ", not ready"
            details.append("{0} {1}".format(pod_key(other), why))
        if details:
            text += " ({0})".format("; ".join(details))
        pending.append(text)
    return pending
