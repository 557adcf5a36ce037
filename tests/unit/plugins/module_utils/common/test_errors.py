# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import (
    RunbookError,
    as_runbook_error,
    translate_errors,
)


def test_message_names_action_object_and_cause():
    error = RunbookError("patch", "deployment default/web", "the server refused: 409 Conflict")
    assert str(error) == "Failed to patch deployment default/web: the server refused: 409 Conflict"
    assert error.to_dict() == {
        "object": "deployment default/web",
        "action": "patch",
        "cause": "the server refused: 409 Conflict",
    }
    assert error.traceback() is None


def test_exception_cause_and_details():
    cause = ValueError("bad port\n")
    error = RunbookError("connect to", "PostgreSQL 127.0.0.1:5432/app", cause, code="08006")
    assert str(error) == "Failed to connect to PostgreSQL 127.0.0.1:5432/app: bad port"
    assert error.to_dict()["details"] == {"code": "08006"}


def test_exception_without_message_is_named_by_type():
    assert str(RunbookError("read", "secret default/db", TimeoutError())) == "Failed to read secret default/db: TimeoutError"


def test_traceback_of_raised_cause():
    with pytest.raises(KeyError) as info:
        raise KeyError("spec")
    error = RunbookError("read", "deployment default/web", info.value)
    assert "KeyError: 'spec'" in error.traceback()


def test_as_runbook_error_converts_and_passes_through():
    converted = as_runbook_error(OSError("disk full"), "write", "file /tmp/x")
    assert isinstance(converted, RunbookError)
    assert str(converted) == "Failed to write file /tmp/x: disk full"
    assert as_runbook_error(converted, "other", "thing") is converted


def test_translate_errors_only_given_types():
    with pytest.raises(RunbookError, match="^Failed to read configmap a/b: boom$") as info:
        with translate_errors("read", "configmap a/b", ValueError):
            raise ValueError("boom")
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(KeyError):
        with translate_errors("read", "configmap a/b", ValueError):
            raise KeyError("not translated")


def test_translate_errors_keeps_runbook_errors():
    inner = RunbookError("connect to", "Kubernetes API https://k8s", "refused")
    with pytest.raises(RunbookError) as info:
        with translate_errors("read", "configmap a/b"):
            raise inner
    assert info.value is inner
