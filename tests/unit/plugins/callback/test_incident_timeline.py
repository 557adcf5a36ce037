# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The incident_timeline callback with fake task results: one line per task, no_log censored, the timeline found from the incident fact."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.plugins.loader import callback_loader

from ansible_collections.sre.runbooks.plugins.callback.incident_timeline import CallbackModule
from ansible_collections.sre.runbooks.plugins.module_utils.incident.timeline import CENSORED, TimelineWriter, is_censored, read_lines, task_event

SECRET = "s3cr3t-value-never-written"


class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeTask:
    def __init__(self, name, action="ansible.builtin.command", no_log=False):
        self.name = name
        self.action = action
        self.no_log = no_log
        self.check_mode = None

    def get_name(self):
        return self.name


class FakeResult:
    """What a callback receives: _host, _task, _result (ansible-core 2.19 also result and task_name)."""

    def __init__(self, task, result, host="localhost"):
        self._task = task
        self._host = FakeHost(host)
        self._result = result


class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.warnings = []

    def warning(self, msg):
        self.warnings.append(msg)


def callback(**options):
    # Through the plugin loader, as ansible-playbook loads it: the options come from its DOCUMENTATION.
    plugin = callback_loader.get("sre.runbooks.incident_timeline", display=FakeDisplay())
    assert isinstance(plugin, CallbackModule) or type(plugin).__name__ == "CallbackModule"
    defaults = {"timeline_path": None, "timeline_dir": None, "incident_id": None, "dsn": None, "table": "incident_timeline"}
    defaults.update(options)
    plugin.set_options(direct=defaults)
    plugin.play = "Bring the service back"
    return plugin


def test_every_status_and_a_short_message(tmp_path):
    path = tmp_path / "timeline.jsonl"
    plugin = callback(timeline_path=str(path), incident_id="INC-1")
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Read the pods"), {"changed": False, "msg": "3 pods\nmore"}))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Restart", "sre.runbooks.k8s_rollout"), {"changed": True}))
    plugin.v2_runner_on_failed(FakeResult(FakeTask("Gate"), {"failed": True, "msg": "error rate 12%"}), ignore_errors=True)
    plugin.v2_runner_on_skipped(FakeResult(FakeTask("Scale"), {"skipped": True, "skip_reason": "Conditional result was False"}))
    plugin.v2_runner_on_unreachable(FakeResult(FakeTask("Ping"), {"unreachable": True, "msg": "no route"}, host="node-1"))
    plugin.v2_playbook_on_stats(None)
    events = read_lines(str(path))
    assert [(e["task"], e["status"], e["changed"], e["failed"], e["msg"]) for e in events] == [
        ("Read the pods", "ok", False, False, "3 pods"),
        ("Restart", "changed", True, False, ""),
        ("Gate", "failed", False, True, "error rate 12%"),
        ("Scale", "skipped", False, False, "Conditional result was False"),
        ("Ping", "unreachable", False, True, "no route"),
    ]
    assert events[2]["ignored"] is True and events[4]["host"] == "node-1"
    assert {e["incident"] for e in events} == {"INC-1"} and {e["play"] for e in events} == {"Bring the service back"}
    assert len({e["run"] for e in events}) == 1 and all(e["kind"] == "task" and e["time"].endswith("Z") for e in events)


@pytest.mark.parametrize("task_no_log, result", [
    (True, {"changed": True, "msg": SECRET, "token": SECRET}),                          # task.no_log
    (False, {"changed": True, "_ansible_no_log": True, "msg": SECRET}),                  # the result says so
    (False, {"censored": "the output has been hidden", "changed": True}),                # ansible-core 2.19: already censored
    (False, {"changed": True, "results": [{"item": 1, "msg": "ok"}, {"_ansible_no_log": True, "msg": SECRET}]}),  # one loop item
])
def test_no_log_results_are_censored_and_carry_no_value(tmp_path, task_no_log, result):
    path = tmp_path / "timeline.jsonl"
    plugin = callback(timeline_path=str(path))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Post the notice", no_log=task_no_log), result))
    plugin.v2_playbook_on_stats(None)
    text = path.read_text()
    assert SECRET not in text
    event = json.loads(text)
    assert event["censored"] is True and event["msg"] == CENSORED and event["status"] == "changed"


def test_tasks_before_the_incident_fact_are_written_to_its_timeline(tmp_path):
    plugin = callback(timeline_dir=str(tmp_path / "other"))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Read the clock"), {"changed": False}))
    timeline = tmp_path / "incidents" / "INC-2" / "timeline.jsonl"
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Open the incident record", "ansible.builtin.set_fact"),
                                      {"changed": False, "ansible_facts": {"incident": {"id": "INC-2", "timeline": str(timeline)}}}))
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Announce"), {"changed": False}))
    plugin.v2_playbook_on_stats(None)
    events = read_lines(str(timeline))
    assert [(e["task"], e["incident"]) for e in events] == [("Read the clock", "INC-2"), ("Open the incident record", "INC-2"), ("Announce", "INC-2")]
    assert not (tmp_path / "other").exists()


def test_an_incident_fact_of_a_no_log_task_is_not_followed(tmp_path):
    plugin = callback()
    plugin.v2_runner_on_ok(FakeResult(FakeTask("Secret fact", no_log=True),
                                      {"ansible_facts": {"incident": {"id": "INC-3", "timeline": str(tmp_path / "t.jsonl")}}}))
    plugin.v2_playbook_on_stats(None)
    assert not (tmp_path / "t.jsonl").exists()
    assert "1 task events were not written" in plugin._display.warnings[0]


def test_incident_id_and_dir_from_the_options(tmp_path):
    plugin = callback(timeline_dir=str(tmp_path), incident_id="INC-4")
    plugin.v2_runner_on_ok(FakeResult(FakeTask("A"), {}))
    assert read_lines(str(tmp_path / "INC-4" / "timeline.jsonl"))[0]["task"] == "A"


def test_a_failing_postgres_copy_warns_once_without_the_dsn_and_the_file_is_still_written(tmp_path):
    warnings = []
    writer = TimelineWriter(path=str(tmp_path / "t.jsonl"), dsn="host=127.0.0.1 port=1 password=" + SECRET + " connect_timeout=1", warn=warnings.append)
    writer.write(task_event("ok", {}, task="A"))
    writer.write(task_event("ok", {}, task="B"))
    assert [e["task"] for e in read_lines(str(tmp_path / "t.jsonl"))] == ["A", "B"]
    assert len(warnings) == 1 and "PostgreSQL table incident_timeline is not written" in warnings[0] and SECRET not in warnings[0]


def test_is_censored_on_plain_results():
    assert is_censored({"msg": "fine"}) is False and is_censored("text") is False and is_censored({}, task_no_log=True) is True
