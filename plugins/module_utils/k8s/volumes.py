# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PersistentVolumeClaim expansion as pure functions: the plan, the resize state, the report.

A claim grows when its spec.resources.requests.storage is raised: the
external resizer expands the volume (condition Resizing), then the kubelet
grows the file system of a mounted volume (condition FileSystemResizePending
until then) and status.capacity shows the new size. The apiserver refuses a
smaller request, and its PersistentVolumeClaimResize admission refuses any
growth when the StorageClass does not set allowVolumeExpansion: true.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.scaling import parse_quantity

RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending", "ControllerResizeError", "NodeResizeError")


def requested(pvc):
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


def capacity(pvc):
    return ((pvc.get("status") or {}).get("capacity") or {}).get("storage")


def conditions(pvc):
    """The claim's resize conditions as {type: condition} (status True only)."""
    return dict((c.get("type"), c) for c in (pvc.get("status") or {}).get("conditions") or () if c.get("status") == "True")


def resize_state(pvc, size):
    """Where the expansion to `size` stands: done, resizing, file_system_resize_pending, failed, or requested."""
    wanted = parse_quantity(size)
    if capacity(pvc) is not None and parse_quantity(capacity(pvc)) >= wanted:
        return "done"
    found = conditions(pvc)
    statuses = (pvc.get("status") or {}).get("allocatedResourceStatuses") or {}
    if "ControllerResizeError" in found or "NodeResizeError" in found or str(statuses.get("storage", "")).endswith("Failed"):
        return "failed"
    if "FileSystemResizePending" in found:
        return "file_system_resize_pending"
    if "Resizing" in found:
        return "resizing"
    return "requested"


def plan_expansion(pvc, storage_class, size, target):
    """What to do to make the claim at least `size`.

    Returns dict(patch=None or the merge patch, action=sentence or None, refusal=None or the reason).
    Refused: an unbound claim, a smaller size (never shrinks), a class that does not allow expansion.
    """
    wanted = parse_quantity(size)
    current = requested(pvc)
    if current is None:
        return dict(patch=None, action=None, refusal="it has no spec.resources.requests.storage")
    if wanted < parse_quantity(current):
        return dict(patch=None, action=None, refusal="it requests {0} already and a volume is never shrunk (asked for {1})".format(current, size))
    if wanted == parse_quantity(current):
        return dict(patch=None, action=None, refusal=None)
    phase = (pvc.get("status") or {}).get("phase")
    if phase != "Bound":
        return dict(patch=None, action=None, refusal="it is {0}, not Bound: only a bound claim can be expanded".format(phase or "not bound yet"))
    class_name = (pvc.get("spec") or {}).get("storageClassName")
    if storage_class is None:
        return dict(patch=None, action=None, refusal="its StorageClass {0} does not exist, so expansion cannot be allowed".format(class_name or "(none)"))
    if storage_class.get("allowVolumeExpansion") is not True:
        return dict(patch=None, action=None, refusal=(
            "StorageClass {0} does not allow volume expansion (allowVolumeExpansion is {1}); the apiserver would refuse it. "
            "Move the data to a claim of an expandable class, or set allowVolumeExpansion: true on the class if its "
            "provisioner supports resizing".format(class_name, "unset" if storage_class.get("allowVolumeExpansion") is None else "false")))
    return dict(patch={"spec": {"resources": {"requests": {"storage": size}}}},
                action="expand {0} from {1} to {2}".format(target, current, size), refusal=None)


def report(pvc, size):
    """The claim's figures for the result."""
    found = conditions(pvc)
    return {
        "requested": requested(pvc),
        "capacity": capacity(pvc),
        "phase": (pvc.get("status") or {}).get("phase"),
        "state": resize_state(pvc, size),
        "conditions": [dict(type=t, message=c.get("message") or "") for t, c in sorted(found.items()) if t in RESIZE_CONDITIONS],
        "volume": (pvc.get("spec") or {}).get("volumeName"),
        "storage_class": (pvc.get("spec") or {}).get("storageClassName"),
    }
