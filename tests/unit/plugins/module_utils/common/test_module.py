# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule

SPEC = dict(name=dict(type="str", default="web"))


def _import_error(name):
    try:
        __import__(name)
    except ImportError:
        return traceback.format_exc()
    return None


class FakeClient:
    closed = False

    def close(self):
        self.closed = True


def test_fails_once_naming_object_action_and_cause(run_module, monkeypatch):
    calls = []
    original = AnsibleModule.fail_json

    def counting_fail_json(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AnsibleModule, "fail_json", counting_fail_json)
    client = FakeClient()

    def fn(module, conn):
        assert conn is client
        raise RunbookError("patch", "deployment default/{0}".format(module.params["name"]), "409 Conflict", code=409)

    def main():
        RunbookModule(argument_spec=SPEC).run(fn, connect=lambda module: client)

    outcome = run_module(main, {})
    assert outcome.rc == 1
    assert len(calls) == 1
    assert outcome.result["failed"] is True
    assert outcome.result["msg"] == "Failed to patch deployment default/web: 409 Conflict"
    assert outcome.result["error"] == {
        "object": "deployment default/web",
        "action": "patch",
        "cause": "409 Conflict",
        "details": {"code": 409},
    }
    assert client.closed


def test_connect_failure_fails_once(run_module):
    def connect(module):
        raise RunbookError("connect to", "PostgreSQL db:5432/app", "timeout expired")

    def main():
        RunbookModule(argument_spec=SPEC).run(lambda module, conn: {}, connect=connect)

    outcome = run_module(main, {})
    assert outcome.result["msg"] == "Failed to connect to PostgreSQL db:5432/app: timeout expired"
    assert outcome.result["error"]["action"] == "connect to"


def test_missing_required_lib_gives_pip_hint(run_module):
    error = _import_error("sre_runbooks_no_such_library")
    assert error is not None

    def main():
        RunbookModule(argument_spec=SPEC, required_libs=[("sre_runbooks_no_such_library", "no-such-library", error)])

    outcome = run_module(main, {})
    assert outcome.rc == 1
    assert "Failed to import the required Python library (sre_runbooks_no_such_library)" in outcome.result["msg"]
    assert "pip install no-such-library" in outcome.result["msg"]


def test_present_library_passes(module_args):
    with module_args({}):
        module = RunbookModule(argument_spec=SPEC, required_libs=[("json", "json", _import_error("json"))])
    assert module.params["name"] == "web"
    assert module.supports_check_mode is True


def test_success_exits_with_result_and_reports(run_module):
    def fn(module):
        module.add_report("resource_actions", lambda: ["s3:ListBuckets"])
        return module.result(changed=True, actions=[{"action": "scale", "replicas": 3}], before={"replicas": 1}, after={"replicas": 3})

    outcome = run_module(lambda: RunbookModule(argument_spec=SPEC).run(fn), {"_ansible_check_mode": True})
    assert outcome.rc == 0
    assert outcome.result["changed"] is True
    assert outcome.result["actions"] == [{"action": "scale", "replicas": 3}]
    assert "diff" not in outcome.result
    assert outcome.result["resource_actions"] == ["s3:ListBuckets"]


def test_result_has_diff_only_when_asked(module_args):
    with module_args({"_ansible_diff": True}):
        module = RunbookModule(argument_spec=SPEC)
    result = module.result(changed=False, before={"a": 1}, after={"a": 1}, extra=5)
    assert result == {"changed": False, "diff": {"before": {"a": 1}, "after": {"a": 1}}, "extra": 5}
