#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_wal_archive_info
short_description: Check that PostgreSQL WAL archiving works
version_added: 0.1.0
description:
  - Reads C(pg_stat_archiver), the archiving settings and the segments waiting in C(pg_wal/archive_status)
    and decides whether WAL archiving works, the precondition of every point-in-time restore.
  - Archiving is healthy when C(archive_mode) is on with an C(archive_command) (or C(archive_library)),
    no archive attempt failed after the last success, and no completed segment has waited to be archived
    for longer than O(max_age_seconds). A quiet server whose last archived segment is old but which has
    nothing waiting is healthy.
  - With O(archive_dir), also looks into the archive when it is a directory on the managed host, and reports
    the newest segment there and the base backups recorded by their backup history files.
  - Never changes anything; check mode behaves exactly like a normal run.
  - Requires PostgreSQL 12 or later, and a role that is a superuser or a member of C(pg_monitor).
options:
  max_age_seconds:
    description:
      - A WAL segment waiting longer than this to be archived, or no successful archive for this long
        while segments wait, makes archiving unhealthy.
      - The runbooks give no figure; the default, 5 minutes, is the upper end of the usual C(archive_timeout),
        so on a healthy server a segment never waits that long.
    type: int
    default: 300
  archive_dir:
    description:
      - The WAL archive, when it is a directory on the managed host (what C(archive_command) copies into).
      - The module reports the newest segment in it and the base backups recorded there, and warns
        when the server's last archived segment is missing from it.
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The text of C(archive_command) is not returned, because it can hold credentials; RV(archive_command_set) says whether it is set.
seealso:
  - module: sre.runbooks.pg_base_backup_info
  - name: pg_stat_archiver
    description: The PostgreSQL view this module reads.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ARCHIVER-VIEW
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Check WAL archiving
  sre.runbooks.pg_wal_archive_info:
    login_host: db.example.com
    login_user: monitor
    login_db: postgres
  environment:
    PGPASSWORD: "{{ monitor_password }}"
  register: archiving

- name: Stop when archiving is broken
  ansible.builtin.assert:
    that: archiving.healthy
    fail_msg: "WAL archiving is broken: {{ archiving.problems | join('; ') }}"
"""

RETURN = r"""
healthy:
  description: Whether WAL archiving works (see the description).
  returned: success
  type: bool
  sample: true
problems:
  description: What is wrong with archiving, one sentence each; empty when RV(healthy).
  returned: success
  type: list
  elements: str
  sample: ["the last archive attempt failed: 000000010000000000000007 at 2026-11-22T14:23:34Z (3 failures ...)"]
server_version:
  description: Version of the PostgreSQL server.
  returned: success
  type: str
  sample: "15.10"
in_recovery:
  description: Whether the server is a standby (in recovery).
  returned: success
  type: bool
  sample: false
archive_mode:
  description: The C(archive_mode) setting (V(on), V(off) or V(always)).
  returned: success
  type: str
  sample: "on"
archive_command_set:
  description: Whether C(archive_command) is set.
  returned: success
  type: bool
  sample: true
archive_library:
  description: The C(archive_library) setting (PostgreSQL 15 and later), empty when unset.
  returned: success
  type: str
  sample: ""
archived_count:
  description: Segments archived since the statistics were reset.
  returned: success
  type: int
  sample: 1042
last_archived_wal:
  description: The last segment (or history file) archived successfully, or V(null).
  returned: success
  type: str
  sample: "000000010000000000000041"
last_archived_time:
  description: When it was archived, ISO 8601 in UTC, or V(null).
  returned: success
  type: str
  sample: "2026-11-22T14:23:34Z"
last_archived_age_seconds:
  description: Seconds since the last successful archive, or V(null).
  returned: success
  type: float
  sample: 12.5
failed_count:
  description: Failed archive attempts since the statistics were reset.
  returned: success
  type: int
  sample: 0
last_failed_wal:
  description: The segment of the last failed attempt, or V(null).
  returned: success
  type: str
  sample: null
last_failed_time:
  description: When the last attempt failed, ISO 8601 in UTC, or V(null).
  returned: success
  type: str
  sample: null
ready_count:
  description: Completed segments waiting to be archived (C(.ready) files in C(pg_wal/archive_status)).
  returned: success
  type: int
  sample: 0
oldest_ready_age_seconds:
  description: How long the oldest waiting segment has waited, or V(null) when none waits.
  returned: success
  type: float
  sample: null
current_wal_lsn:
  description: The current WAL write location (on a standby, the last replayed one).
  returned: success
  type: str
  sample: "0/42000110"
current_wal_file:
  description: The WAL segment being written, or V(null) on a standby.
  returned: success
  type: str
  sample: "000000010000000000000042"
archive_dir:
  description: What O(archive_dir) holds.
  returned: when O(archive_dir) is given
  type: dict
  contains:
    newest_wal_file:
      description: The newest complete segment in it, or V(null).
      type: str
    newest_wal_time:
      description: Modification time of that segment, ISO 8601 in UTC.
      type: str
    segment_count:
      description: Number of complete segments in it.
      type: int
    base_backups:
      description: Base backups recorded by backup history files, oldest first (label, start/stop LSN and time, history file).
      type: list
      elements: dict
queries:
  description: The SQL statements the module ran, as sent to the server.
  returned: success
  type: list
  elements: str
"""

import os

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import (
    WAL_FILE_RE,
    archive_health,
    iso_time,
    newest_wal_segment,
    parse_lsn,
    read_history_files,
)
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    postgres_argument_spec,
)

DEFAULT_MAX_AGE_SECONDS = 300

SETTINGS_SQL = (
    "SELECT current_setting('server_version') AS server_version,"
    " current_setting('archive_mode') AS archive_mode,"
    " current_setting('archive_command') NOT IN ('', '(disabled)') AS archive_command_set,"
    " coalesce(current_setting('archive_library', true), '') AS archive_library,"
    " pg_is_in_recovery() AS in_recovery,"
    " extract(epoch FROM now())::float8 AS now_epoch"
)

ARCHIVER_SQL = (
    "SELECT archived_count, last_archived_wal, extract(epoch FROM last_archived_time)::float8 AS last_archived_epoch,"
    " failed_count, last_failed_wal, extract(epoch FROM last_failed_time)::float8 AS last_failed_epoch"
    " FROM pg_stat_archiver"
)

STATUS_SQL = (
    "SELECT count(*) AS ready_count, extract(epoch FROM min(modification))::float8 AS oldest_ready_epoch"
    " FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"
)

PRIMARY_LSN_SQL = "SELECT pg_current_wal_lsn()::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS wal_file"
STANDBY_LSN_SQL = "SELECT pg_last_wal_replay_lsn()::text AS lsn, NULL::text AS wal_file"


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        max_age_seconds=dict(type="int", default=DEFAULT_MAX_AGE_SECONDS),
        archive_dir=dict(type="path"),
    )
    return spec


def check_options(module):
    if module.params["max_age_seconds"] <= 0:
        raise RunbookError("use", "max_age_seconds", "it must be more than 0 seconds, got {0}".format(module.params["max_age_seconds"]))
    archive_dir = module.params["archive_dir"]
    if archive_dir and not os.path.isdir(archive_dir):
        raise RunbookError("read", "the WAL archive {0}".format(archive_dir), "it is not a directory on this host")


def _age(now, epoch):
    return None if epoch is None else round(now - epoch, 1)


def describe_archive_dir(archive_dir):
    newest, mtime = newest_wal_segment(archive_dir)
    backups = sorted(read_history_files(archive_dir).values(), key=lambda entry: (entry["start_timeline"] or 0, parse_lsn(entry["start_lsn"])))
    return dict(
        newest_wal_file=newest,
        newest_wal_time=iso_time(mtime),
        segment_count=sum(1 for name in os.listdir(archive_dir) if WAL_FILE_RE.match(name)),
        base_backups=[dict(
            label=entry["label"], start_lsn=entry["start_lsn"], stop_lsn=entry["stop_lsn"],
            start_time=iso_time(entry["start_epoch"]) or entry["start_time"], stop_time=iso_time(entry["stop_epoch"]) or entry["stop_time"],
            timeline=entry["stop_timeline"] or entry["start_timeline"], history_file=entry["history_file"],
        ) for entry in backups],
    )


def report_archiving(module, conn):
    db = QueryRecorder(conn, describe_target(module.params), module.check_mode)
    settings = db.read(SETTINGS_SQL)[0]
    archiver = db.read(ARCHIVER_SQL)[0]
    status = db.read(STATUS_SQL)[0]
    position = db.read(STANDBY_LSN_SQL if settings["in_recovery"] else PRIMARY_LSN_SQL)[0]
    now = settings["now_epoch"]
    archiver["now_epoch"] = now
    healthy, problems = archive_health(settings, archiver, status, module.params["max_age_seconds"])

    result = dict(
        healthy=healthy, problems=problems,
        server_version=settings["server_version"], in_recovery=settings["in_recovery"],
        archive_mode=settings["archive_mode"], archive_command_set=settings["archive_command_set"], archive_library=settings["archive_library"],
        archived_count=archiver["archived_count"], last_archived_wal=archiver["last_archived_wal"],
        last_archived_time=iso_time(archiver["last_archived_epoch"]), last_archived_age_seconds=_age(now, archiver["last_archived_epoch"]),
        failed_count=archiver["failed_count"], last_failed_wal=archiver["last_failed_wal"], last_failed_time=iso_time(archiver["last_failed_epoch"]),
        ready_count=status["ready_count"], oldest_ready_age_seconds=_age(now, status["oldest_ready_epoch"]),
        current_wal_lsn=position["lsn"], current_wal_file=position["wal_file"],
    )
    archive_dir = module.params["archive_dir"]
    if archive_dir:
        result["archive_dir"] = describe_archive_dir(archive_dir)
        last = archiver["last_archived_wal"]
        if last and WAL_FILE_RE.match(last) and not os.path.exists(os.path.join(archive_dir, last)):
            module.warn("The server reports {0} as archived, but it is not in {1}: is this the archive archive_command writes to?".format(last, archive_dir))
    return module.result(changed=False, queries=db.queries, **result)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
    module.run(report_archiving, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
