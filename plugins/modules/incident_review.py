#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: incident_review
short_description: Render the post-incident review or the handoff summary of an incident from its record and timeline
version_added: 0.1.0
description:
  - Reads the incident record (O(incident) or O(incident_file), the C(incident.json) of the C(sre.runbooks.incident) role) and
    its timeline (the JSON lines the C(sre.runbooks.incident_timeline) callback and M(sre.runbooks.incident_event) wrote, or
    the shared PostgreSQL table) and renders Markdown, never hand-written.
  - C(review) follows the runbooks' "Post-Incident Report Template" - summary, impact, timeline table (lifecycle events,
    decisions and every task that changed something or failed), root cause (a placeholder unless the record has one),
    what went well, what did not, action items (given ones, one per failed task, the runbooks' standing follow-ups).
  - C(handoff) follows the runbooks' "Handoff Procedure" - what has been tried, current state, evidence, next steps.
  - Writes O(dest) when given, only when its content differs; in check mode nothing is written.
options:
  kind:
    description: What to render.
    type: str
    choices: [review, handoff]
    default: review
  incident:
    description: The incident record. One of O(incident) and O(incident_file) is required.
    type: dict
  incident_file:
    description: The incident record as a JSON file (C(incident.json)).
    type: path
  timeline:
    description: The timeline file; default the record's C(timeline).
    type: path
  dsn:
    description:
      - Read the timeline from this PostgreSQL database (the callback's shared table, all nodes' events) instead of the file.
      - If not set, the environment variable E(SRE_INCIDENT_TIMELINE_DSN), as for the C(sre.runbooks.incident_timeline) callback.
    type: str
  table:
    description:
      - The PostgreSQL timeline table.
      - If not set, the environment variable E(SRE_INCIDENT_TIMELINE_TABLE), else C(incident_timeline).
    type: str
    default: incident_timeline
  dest:
    description: Write the Markdown to this file.
    type: path
  handoff_to:
    description: The next owner (C(kind=handoff)).
    type: str
  handoff_level:
    description: The escalation level of the next owner (C(kind=handoff)).
    type: int
  now:
    description: The time the document is written at (ISO 8601; a fake clock in tests); default now.
    type: str
requirements:
  - psycopg2 or psycopg, only for O(dsn)
attributes:
  check_mode:
    support: full
    details: Nothing is written; the Markdown and whether O(dest) would change are returned.
  diff_mode:
    support: full
    details: The previous and the new content of O(dest).
  platform:
    platforms: posix
    details: Runs where the timeline is, normally the controller (C(delegate_to=localhost)).
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Write the post-incident review
  sre.runbooks.incident_review:
    incident: "{{ incident }}"
    dest: "{{ incident.dir }}/review.md"
  delegate_to: localhost
"""

RETURN = r"""
markdown:
  description: The document.
  returned: always
  type: str
dest:
  description: Where it was written, when O(dest) was given.
  returned: when dest is given
  type: str
counts:
  description: Timeline figures - C(tasks), C(changed), C(failed), C(censored), C(runs), C(decisions).
  returned: always
  type: dict
events:
  description: Number of timeline events read.
  returned: always
  type: int
"""

import datetime
import json
import os

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.incident.policy import PolicyError, format_time
from ansible_collections.sre.runbooks.plugins.module_utils.incident.review import counts, render_handoff, render_review
from ansible_collections.sre.runbooks.plugins.module_utils.incident.timeline import PostgresTimeline, read_lines


def argument_spec():
    return dict(
        kind=dict(type="str", default="review", choices=["review", "handoff"]),
        incident=dict(type="dict"),
        incident_file=dict(type="path"),
        timeline=dict(type="path"),
        dsn=dict(type="str", no_log=True, fallback=(env_fallback, ["SRE_INCIDENT_TIMELINE_DSN"])),
        table=dict(type="str", fallback=(env_fallback, ["SRE_INCIDENT_TIMELINE_TABLE"]), default="incident_timeline"),
        dest=dict(type="path"),
        handoff_to=dict(type="str"),
        handoff_level=dict(type="int"),
        now=dict(type="str"),
    )


def load_incident(module):
    if module.params["incident"]:
        return dict(module.params["incident"])
    path = module.params["incident_file"]
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise RunbookError("read", "incident record {0}".format(path), exc)


def load_events(module, incident):
    if module.params["dsn"]:
        try:
            store = PostgresTimeline(module.params["dsn"], module.params["table"])
            try:
                return store.read(incident.get("id"))
            finally:
                store.close()
        except Exception as exc:  # pylint: disable=broad-except
            raise RunbookError("read", "the timeline table {0}".format(module.params["table"]), "{0}: {1}".format(type(exc).__name__, exc))
    path = module.params["timeline"] or incident.get("timeline")
    if not path:
        raise RunbookError("read", "the timeline of {0}".format(incident.get("id", "the incident")), "give timeline, or a record with one")
    if not os.path.exists(path):
        # Nothing ran with the timeline callback yet, or a check-mode run: the record alone still renders.
        module.warn("timeline {0} does not exist (yet): rendering from the incident record alone".format(path))
        return []
    return read_lines(path)


def write_review(module):
    params = module.params
    if not params["incident"] and not params["incident_file"]:
        raise RunbookError("render", "the incident document", "give incident or incident_file")
    try:
        now = format_time(params["now"] or datetime.datetime.now(datetime.timezone.utc))
    except PolicyError as exc:
        raise RunbookError("render", "the incident document", exc)
    incident = load_incident(module)
    events = load_events(module, incident)
    if params["kind"] == "handoff":
        markdown = render_handoff(incident, events, to=params["handoff_to"], level=params["handoff_level"], now=now)
    else:
        markdown = render_review(incident, events, now=now)
    result = dict(markdown=markdown, counts=counts(events), events=len(events))
    changed = False
    before = None
    if params["dest"]:
        result["dest"] = params["dest"]
        if os.path.exists(params["dest"]):
            with open(params["dest"], encoding="utf-8") as handle:
                before = handle.read()
        changed = before != markdown
        if changed and not module.check_mode:
            try:
                directory = os.path.dirname(os.path.abspath(params["dest"]))
                if not os.path.isdir(directory):
                    os.makedirs(directory, mode=0o700)
                tmp = params["dest"] + ".tmp"
                with open(tmp, "wb") as handle:
                    handle.write(to_bytes(markdown))
                os.chmod(tmp, 0o600)
                os.rename(tmp, params["dest"])
            except (IOError, OSError) as exc:
                raise RunbookError("write", params["dest"], exc)
    return module.result(changed=changed, before=before if params["dest"] else None, after=markdown if params["dest"] else None, **result)


def main():
    module = RunbookModule(argument_spec=argument_spec())
    module.run(write_review)


if __name__ == "__main__":
    main()
