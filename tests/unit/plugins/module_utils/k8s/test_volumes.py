# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PVC expansion plan and resize state."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.volumes import plan_expansion, report, resize_state

TARGET = "PersistentVolumeClaim db/data"


def pvc(request="10Gi", capacity="10Gi", phase="Bound", conditions=(), class_name="standard"):
    status = {"phase": phase, "capacity": {"storage": capacity}} if capacity else {"phase": phase}
    if conditions:
        status["conditions"] = [dict(type=t, status="True") for t in conditions]
    return {"spec": {"storageClassName": class_name, "resources": {"requests": {"storage": request}}, "volumeName": "pvc-1"}, "status": status}


EXPANDABLE = {"metadata": {"name": "standard"}, "allowVolumeExpansion": True}


def test_expansion_patches_the_request():
    plan = plan_expansion(pvc(), EXPANDABLE, "200Gi", TARGET)
    assert plan["refusal"] is None and plan["patch"] == {"spec": {"resources": {"requests": {"storage": "200Gi"}}}}
    assert plan["action"] == "expand PersistentVolumeClaim db/data from 10Gi to 200Gi"


def test_the_same_size_in_another_unit_is_nothing_to_do():
    assert plan_expansion(pvc(request="1Gi"), EXPANDABLE, "1024Mi", TARGET) == dict(patch=None, action=None, refusal=None)


@pytest.mark.parametrize("claim, storage_class, size, reason", [
    (pvc(), EXPANDABLE, "5Gi", "never shrunk"),
    (pvc(phase="Pending", capacity=None), EXPANDABLE, "20Gi", "not Bound"),
    (pvc(), {"allowVolumeExpansion": False}, "20Gi", "allowVolumeExpansion is false"),
    (pvc(), {}, "20Gi", "allowVolumeExpansion is unset"),
    (pvc(), None, "20Gi", "does not exist"),
])
def test_refusals(claim, storage_class, size, reason):
    plan = plan_expansion(claim, storage_class, size, TARGET)
    assert plan["patch"] is None and reason in plan["refusal"]


@pytest.mark.parametrize("claim, state", [
    (pvc(request="20Gi"), "requested"),
    (pvc(request="20Gi", conditions=["Resizing"]), "resizing"),
    (pvc(request="20Gi", conditions=["FileSystemResizePending"]), "file_system_resize_pending"),
    (pvc(request="20Gi", conditions=["ControllerResizeError"]), "failed"),
    (pvc(request="20Gi", capacity="20Gi"), "done"),
])
def test_resize_state(claim, state):
    assert resize_state(claim, "20Gi") == state
    assert report(claim, "20Gi")["state"] == state
