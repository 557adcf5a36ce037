#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: incident_event
short_description: Add a decision or lifecycle event to an incident timeline
version_added: 0.1.0
description:
  - Appends one event - what was decided and why, for example "rolled back from revision 5 to 3 because the error rate was
    12% for 5 min" - to the incident timeline that the C(sre.runbooks.incident_timeline) callback writes every task to.
  - The timeline is JSON lines (one event a line, under a lock), and optionally rows of a PostgreSQL table shared by runs on
    different nodes. A PostgreSQL error is a warning; the file is still written.
  - In check mode nothing is written; the event is returned.
  - Run it where the timeline is (the controller, C(delegate_to=localhost)); the C(sre.runbooks.incident) role does.
options:
  path:
    description: The timeline file (C(timeline) of the C(incident) fact). Required unless O(dsn) is given.
    type: path
    aliases: [timeline]
  incident:
    description: The incident id.
    type: str
    required: true
  msg:
    description: The event, a sentence that says what and why.
    type: str
    required: true
  kind:
    description: C(decision) (a choice made by a role or a person), C(lifecycle) (declared, update, escalation, handoff,
      resolved) or C(note).
    type: str
    choices: [decision, lifecycle, note]
    default: decision
  data:
    description: Structured facts of the event (revisions, measured values); never secrets.
    type: dict
  host:
    description: The host the event is about.
    type: str
  time:
    description: The time of the event, ISO 8601 (a fake clock in tests); default now.
    type: str
  dsn:
    description:
      - PostgreSQL connection string of the shared timeline table.
      - If not set, the environment variable E(SRE_INCIDENT_TIMELINE_DSN), as for the C(sre.runbooks.incident_timeline) callback.
    type: str
  table:
    description:
      - The PostgreSQL table.
      - If not set, the environment variable E(SRE_INCIDENT_TIMELINE_TABLE), else C(incident_timeline).
    type: str
    default: incident_timeline
requirements:
  - psycopg2 or psycopg, only for O(dsn)
attributes:
  check_mode:
    support: full
    details: Nothing is written; the event is returned.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs where the timeline is, normally the controller (C(delegate_to=localhost)).
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Record why the rollback was chosen
  sre.runbooks.incident_event:
    path: "{{ incident.timeline }}"
    incident: "{{ incident.id }}"
    msg: rolled back from revision 5 to 3 because the error rate was 12% for 5 min
    data:
      from_revision: 5
      to_revision: 3
      error_rate: 0.12
  delegate_to: localhost
"""

RETURN = r"""
event:
  description: The event as written (or, in check mode, as it would be).
  returned: always
  type: dict
  sample: {"time": "2025-11-04T10:10:00Z", "kind": "decision", "incident": "INC-20251104T100000Z", "msg": "rolled back ..."}
written:
  description: Where it was written - C(file), C(postgres); empty in check mode.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.incident.policy import PolicyError, format_time
from ansible_collections.sre.runbooks.plugins.module_utils.incident.timeline import TimelineWriter, decision_event


def argument_spec():
    return dict(
        path=dict(type="path", aliases=["timeline"]),
        incident=dict(type="str", required=True),
        msg=dict(type="str", required=True),
        kind=dict(type="str", default="decision", choices=["decision", "lifecycle", "note"]),
        data=dict(type="dict"),
        host=dict(type="str"),
        time=dict(type="str"),
        dsn=dict(type="str", no_log=True, fallback=(env_fallback, ["SRE_INCIDENT_TIMELINE_DSN"])),
        table=dict(type="str", fallback=(env_fallback, ["SRE_INCIDENT_TIMELINE_TABLE"]), default="incident_timeline"),
    )


def check_options(module):
    if not module.params["path"] and not module.params["dsn"]:
        raise RunbookError("record an event in", "the timeline of {0}".format(module.params["incident"]), "give path or dsn")
    if module.params["time"]:
        try:
            module.params["time"] = format_time(module.params["time"])
        except PolicyError as exc:
            raise RunbookError("record an event in", "the timeline of {0}".format(module.params["incident"]), exc)


def record_event(module):
    params = module.params
    event = decision_event(params["msg"], kind=params["kind"], data=params["data"], time=params["time"],
                           incident=params["incident"], host=params["host"])
    written = []
    if not module.check_mode:
        warnings = []
        writer = TimelineWriter(path=params["path"], dsn=params["dsn"], table=params["table"], warn=warnings.append)
        try:
            writer.write(event)
        except (IOError, OSError) as exc:
            raise RunbookError("append to", "timeline {0}".format(params["path"]), exc)
        finally:
            writer.close()
        if params["path"]:
            written.append("file")
        if params["dsn"] and writer.pg_error is None:
            written.append("postgres")
        for warning in warnings:
            module.warn(warning)
    return module.result(changed=True, event=event, written=written)


def main():
    module = RunbookModule(argument_spec=argument_spec())
    module.run(record_event, precheck=check_options)


if __name__ == "__main__":
    main()
