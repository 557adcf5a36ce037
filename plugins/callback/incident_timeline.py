# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: incident_timeline
type: aggregate
short_description: Append every task of a runbook run to the incident timeline (JSON lines, optionally PostgreSQL)
version_added: 0.1.0
author: SRE Runbooks Maintainers (@sre-runbooks)
description:
  - Writes one JSON line per task result - time, incident, run, host, play, task, action, status (C(ok), C(changed),
    C(failed), C(skipped), C(unreachable)), changed, failed, a short message - to the incident's timeline, the file the
    M(sre.runbooks.incident_event) module and the C(sre.runbooks.incident) role write their decision and lifecycle events to.
  - A C(no_log) task is written as censored; no value from its result is recorded.
  - Which timeline - O(timeline_path) when set; else the C(timeline) of the C(incident) fact as soon as a task sets it (the
    C(sre.runbooks.incident) role does); else O(timeline_dir)/<incident id>/timeline.jsonl when an incident id is known
    (O(incident_id), or the extra var C(incident_id)). Tasks that finish before the timeline is known are kept and written
    when it is; when it never is, nothing is written.
  - With O(dsn), every event is also inserted into a PostgreSQL table, so runs on different nodes (AWX execution nodes)
    share one timeline. Needs psycopg2 (or psycopg 3) on the controller; when it is missing or the database fails, a
    warning says so once and the file is still written.
  - Enable it with C(ANSIBLE_CALLBACKS_ENABLED=sre.runbooks.incident_timeline) (or C(callbacks_enabled) in ansible.cfg).
requirements:
  - psycopg2 or psycopg, only for O(dsn)
options:
  timeline_path:
    description: The timeline file; overrides the incident's own.
    type: path
    env:
      - name: SRE_INCIDENT_TIMELINE
    ini:
      - section: sre_incident_timeline
        key: path
  timeline_dir:
    description: The directory of incidents (the C(incident_dir) of the C(sre.runbooks.incident) role); the timeline is
      C(<timeline_dir>/<incident id>/timeline.jsonl).
    type: path
    env:
      - name: SRE_INCIDENT_DIR
    ini:
      - section: sre_incident_timeline
        key: dir
  incident_id:
    description: The incident the run belongs to, when it is known before the run (an AWX job for a declared incident).
    type: str
    env:
      - name: SRE_INCIDENT_ID
    ini:
      - section: sre_incident_timeline
        key: incident_id
  dsn:
    description: A libpq connection string or URL of the PostgreSQL database for the shared timeline table. Prefer
      C(PGPASSWORD) or a C(.pgpass) file to a password in it; it is never printed.
    type: str
    env:
      - name: SRE_INCIDENT_TIMELINE_DSN
    ini:
      - section: sre_incident_timeline
        key: dsn
  table:
    description: The PostgreSQL table (created when missing), optionally schema-qualified.
    type: str
    default: incident_timeline
    env:
      - name: SRE_INCIDENT_TIMELINE_TABLE
    ini:
      - section: sre_incident_timeline
        key: table
"""

import datetime
import os
import uuid

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.sre.runbooks.plugins.module_utils.incident.timeline import TimelineWriter, task_event


class CallbackModule(CallbackBase):
    """Append every task result to the incident timeline."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sre.runbooks.incident_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        self.playbook = None
        self.play = None
        self.incident_id = None
        self.path = None
        self.pending = []
        self.writer = None
        self.check_mode = bool((context.CLIARGS or {}).get("check", False))

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.incident_id = self.get_option("incident_id") or None
        self.path = self.get_option("timeline_path") or None
        self._resolve_path()

    def _resolve_path(self):
        if self.path is None and self.incident_id and self.get_option("timeline_dir"):
            self.path = os.path.join(self.get_option("timeline_dir"), self.incident_id, "timeline.jsonl")

    def _writer(self):
        if self.writer is None:
            self.writer = TimelineWriter(path=self.path, dsn=self.get_option("dsn") or None, table=self.get_option("table"),
                                         warn=self._display.warning)
        return self.writer

    def _adopt_incident(self, result):
        """Follow the `incident` fact: the run writes to the timeline of the incident it declared or loaded."""
        if self.check_mode:
            return  # nothing is declared in check mode: no incident directory is created for it
        facts = self._payload(result).get("ansible_facts")
        incident = (facts or {}).get("incident")
        if not isinstance(incident, dict) or not incident.get("id"):
            return
        self.incident_id = str(incident["id"])
        if not self.get_option("timeline_path") and incident.get("timeline"):
            if self.path != incident["timeline"]:
                self.path = str(incident["timeline"])
                if self.writer is not None:
                    self.writer.path = self.path

    @staticmethod
    def _payload(result):
        # ansible-core 2.19 hands callbacks result.result (no_log results already censored); older ones result._result.
        payload = getattr(result, "result", None)
        return payload if isinstance(payload, dict) else result._result

    def _record(self, result, status, ignored=False):
        task = result._task
        event = task_event(
            status,
            self._payload(result),
            task_no_log=bool(task.no_log),
            run=self.run_id,
            playbook=self.playbook,
            play=self.play,
            host=result._host.get_name(),
            task=getattr(result, "task_name", None) or task.get_name(),
            action=task.action,
            check_mode=bool(task.check_mode) if task.check_mode is not None else self.check_mode,
        )
        if ignored:
            event["ignored"] = True
        if not event["censored"]:
            self._adopt_incident(result)
        self.pending.append(event)
        self._flush()

    def _flush(self, final=False):
        # Events wait for the file: the first tasks of a run come before the `incident` fact that names it.
        # Only at the end of a run without a file do they go to the PostgreSQL table alone.
        if not self.path and not (final and self.incident_id and self.get_option("dsn")):
            return
        writer = self._writer()
        while self.pending:
            event = self.pending.pop(0)
            event.setdefault("incident", self.incident_id)
            if event.get("incident") is None:
                event["incident"] = self.incident_id
            try:
                writer.write(event)
            except (IOError, OSError) as exc:
                self._display.warning("incident timeline: cannot write {0}: {1}".format(self.path, exc))
                self.pending = []
                return

    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(playbook._file_name)

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name()
        if not self.incident_id:
            try:
                extra = play.get_variable_manager().extra_vars
            except AttributeError:
                extra = {}
            if extra.get("incident_id"):
                self.incident_id = str(extra["incident_id"])
                self._resolve_path()

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if self._payload(result).get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._flush(final=True)
        if self.pending:
            self._display.warning("incident timeline: no incident and no timeline path for this run; {0} task events were not written"
                                  .format(len(self.pending)))
            self.pending = []
        if self.writer is not None:
            self.writer.close()
