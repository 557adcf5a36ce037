# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Temporary ingress-nginx mitigations on an Ingress, and putting back exactly what was there (pure, unit-tested).

The first apply saves the previous value of every annotation it sets (None: it was absent) as JSON in the
Ingress's own sre.runbooks/saved-annotations annotation; later applies add only the annotations not saved yet;
restore sets the saved values back, removes what was absent and removes the saved annotation. The wanted values
are always computed from the saved originals, so applying the same again, or restoring twice, changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

DEFAULT_PREFIX = "nginx.ingress.kubernetes.io"
SAVED_ANNOTATION = "sre.runbooks/saved-annotations"
# ingress-nginx reads allowlist-source-range, and whitelist-source-range as its older alias (the name before the rename).
ALLOWLIST_ANNOTATIONS = ("allowlist-source-range", "whitelist-source-range")
DENYLIST = "denylist-source-range"
# option -> (annotation suffix, smallest value): ingress-nginx parses these as integers.
RATE_LIMITS = (
    ("limit_rps", "limit-rps", 1),
    ("limit_rpm", "limit-rpm", 1),
    ("limit_connections", "limit-connections", 1),
    ("limit_burst_multiplier", "limit-burst-multiplier", 1),
)
STATES = ("applied", "restored")


def normalize_cidrs(values, what):
    """Canonical CIDRs of addresses or networks (52.14.1.7 -> 52.14.1.7/32, host bits cleared), in the order given,
    without duplicates; ValueError naming every bad one."""
    result, bad = [], []
    for value in values or ():
        text = str(value).strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            bad.append(repr(value))
            continue
        cidr = str(network)
        if cidr not in result:
            result.append(cidr)
    if bad:
        raise ValueError("{0}: not an IP address or CIDR: {1}".format(what, ", ".join(bad)))
    return result


def split_ranges(value):
    """The CIDRs of a *-source-range annotation value ("a, b" -> [a, b])."""
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def option_problems(params):
    """Everything wrong with the options alone, as sentences."""
    problems = []
    for option, _suffix, minimum in RATE_LIMITS:
        value = params.get(option)
        if value is not None and value < minimum:
            problems.append("{0} must be {1} or more, got {2}".format(option, minimum, value))
    for option in ("denylist", "allowlist"):
        if params.get(option) is not None:
            try:
                if not normalize_cidrs(params[option], option):
                    problems.append("{0} must name at least one address or CIDR".format(option))
            except ValueError as error:
                problems.append(str(error))
    if params.get("state", "applied") == "applied" and not any(params.get(option) is not None for option in managed_options()):
        problems.append("state=applied needs at least one of {0}".format(", ".join(managed_options())))
    return problems


def managed_options():
    return [option for option, _suffix, _minimum in RATE_LIMITS] + ["denylist", "allowlist"]


def annotation_name(prefix, suffix):
    return "{0}/{1}".format(prefix, suffix)


def read_saved(annotations):
    """The saved originals {annotation: value or None}, {} when none; ValueError when the annotation is not ours to read."""
    text = (annotations or {}).get(SAVED_ANNOTATION)
    if text is None:
        return {}
    try:
        saved = json.loads(text)
    except ValueError:
        saved = None
    if not isinstance(saved, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in saved.items()):
        raise ValueError("annotation {0} is not a JSON object of annotation names to previous values (or null); "
                         "fix or remove it by hand: {1}".format(SAVED_ANNOTATION, text[:200]))
    return saved


def wanted_values(params, originals):
    """{annotation: value} the options ask for, computed from the original values (before any apply).

    The denylist keeps the original entries (a permanent block is never lifted by a temporary one) and adds the given
    ones; the allowlist replaces the original (it is the list of the only sources let in); rate limits replace theirs.
    """
    prefix = params.get("annotation_prefix") or DEFAULT_PREFIX
    wanted = {}
    for option, suffix, _minimum in RATE_LIMITS:
        if params.get(option) is not None:
            wanted[annotation_name(prefix, suffix)] = str(int(params[option]))
    if params.get("denylist") is not None:
        key = annotation_name(prefix, DENYLIST)
        merged = list(split_ranges(originals.get(key)))
        merged += [c for c in normalize_cidrs(params["denylist"], "denylist") if c not in merged]
        wanted[key] = ",".join(merged)
    if params.get("allowlist") is not None:
        key = annotation_name(prefix, params.get("allowlist_annotation") or ALLOWLIST_ANNOTATIONS[0])
        wanted[key] = ",".join(normalize_cidrs(params["allowlist"], "allowlist"))
    return wanted


def _sentence(key, before, after):
    if after is None:
        return "remove annotation {0} (was {1!r})".format(key, before)
    if before is None:
        return "set annotation {0} to {1!r}".format(key, after)
    return "set annotation {0} from {1!r} to {2!r}".format(key, before, after)


def plan_guard(annotations, params):
    """What to write: dict(patch (merge patch of metadata.annotations, None: nothing to do), actions, before, after, saved).

    before/after are the managed annotations (and the saved one) as they are and as they will be.
    ValueError for a saved annotation that cannot be read.
    """
    annotations = dict(annotations or {})
    saved = read_saved(annotations)
    state = params.get("state", "applied")
    changes = {}
    if state == "applied":
        originals = dict((key, annotations.get(key)) for key in annotations)
        originals.update(saved)
        wanted = wanted_values(params, originals)
        new_saved = dict(saved)
        for key in wanted:
            if key not in new_saved:
                new_saved[key] = annotations.get(key)
        for key, value in sorted(wanted.items()):
            if annotations.get(key) != value:
                changes[key] = value
        saved_text = json.dumps(new_saved, sort_keys=True, separators=(",", ":"))
        if new_saved != saved or SAVED_ANNOTATION not in annotations:
            changes[SAVED_ANNOTATION] = saved_text
        result_saved = new_saved
    else:
        for key, value in sorted(saved.items()):
            if annotations.get(key) != value:
                changes[key] = value
        if SAVED_ANNOTATION in annotations:
            changes[SAVED_ANNOTATION] = None
        result_saved = saved
    keys = sorted(set(changes) | set(result_saved) | ({SAVED_ANNOTATION} if SAVED_ANNOTATION in annotations else set()))
    before = dict((key, annotations[key]) for key in keys if key in annotations)
    after_all = dict(annotations)
    for key, value in changes.items():
        if value is None:
            after_all.pop(key, None)
        else:
            after_all[key] = value
    after = dict((key, after_all[key]) for key in keys if key in after_all)
    actions = [_sentence(key, annotations.get(key), value) for key, value in sorted(changes.items()) if key != SAVED_ANNOTATION]
    if SAVED_ANNOTATION in changes:
        actions.append("remove the saved previous values ({0})".format(SAVED_ANNOTATION) if changes[SAVED_ANNOTATION] is None
                       else "save the previous values of {0} in {1}".format(", ".join(sorted(result_saved)) or "nothing", SAVED_ANNOTATION))
    return dict(patch={"metadata": {"annotations": changes}} if changes else None, actions=actions, before=before, after=after,
                saved=result_saved)


def managed_view(annotations, prefix=DEFAULT_PREFIX):
    """The annotations this module can set, and the saved one, as the Ingress has them."""
    names = set(annotation_name(prefix, suffix) for _option, suffix, _minimum in RATE_LIMITS)
    names |= set(annotation_name(prefix, suffix) for suffix in ALLOWLIST_ANNOTATIONS + (DENYLIST,))
    names.add(SAVED_ANNOTATION)
    return dict((key, value) for key, value in (annotations or {}).items() if key in names)
