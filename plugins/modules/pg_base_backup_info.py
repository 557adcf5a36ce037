#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_base_backup_info
short_description: List PostgreSQL base backups with their time ranges and verification state
version_added: 0.1.0
description:
  - The runbooks' "Backup Verification" for self-hosted PostgreSQL, on the host holding the backups.
  - Lists the base backups (made by C(pg_basebackup), plain or tar format) in the subdirectories of O(root),
    from each backup's own C(backup_label) and C(backup_manifest), with the time range it covers, that is the start
    and the stop, which is the earliest time a point-in-time restore from it can reach.
  - With O(archive_dir), the stop times come from the backup history files the server archived (exact);
    otherwise from the time C(backup_manifest) was written, a bound never earlier than the stop.
  - With O(verify), checks each backup with C(pg_verifybackup). Reads only; does not connect to PostgreSQL.
options:
  root:
    description: Directory whose subdirectories hold the base backups.
    type: path
    required: true
  archive_dir:
    description: The WAL archive, when it is a directory on this host; its backup history files give exact stop times.
    type: path
  verify:
    description:
      - Whether to check every backup with C(pg_verifybackup). It reads every file of every backup, so it takes
        as long as reading them.
      - A tar-format backup is unpacked for the check into a temporary directory next to it (as much free space as the backup is needed),
        which is removed afterwards, since C(pg_verifybackup) of PostgreSQL 15 reads only plain backups.
      - When off, RV(backups[].verified) is V(null).
    type: bool
    default: false
  max_age_seconds:
    description:
      - RV(newest_is_recent) is V(false) when the newest usable backup stopped longer ago than this.
      - The default, one day, fits the daily backups of the runbooks' "Regular Schedule".
    type: int
    default: 86400
  bin_dir:
    description:
      - Directory holding C(pg_verifybackup).
      - By default the newest C(/usr/lib/postgresql/<major>/bin) that has it, otherwise the E(PATH).
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: sre.runbooks.pg_base_backup
  - module: sre.runbooks.pg_wal_archive_info
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: List and verify the base backups
  sre.runbooks.pg_base_backup_info:
    root: /var/backups/postgresql
    archive_dir: /var/lib/postgresql/wal_archive
    verify: true
  register: backups

- name: Stop when there is no recent verified backup
  ansible.builtin.assert:
    that: backups.newest_is_recent
    fail_msg: "Newest usable backup: {{ backups.newest.stop_time | default('none') }}"
"""

RETURN = r"""
backups:
  description: The base backups under O(root), oldest first (by timeline and start location).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Directory name of the backup.
      type: str
    path:
      description: Directory of the backup.
      type: str
    format:
      description: V(plain) or V(tar); V(null) when not recognised.
      type: str
    label:
      description: The backup label.
      type: str
    start_lsn:
      description: WAL location where the backup started.
      type: str
    stop_lsn:
      description: WAL location where it stopped.
      type: str
    start_time:
      description: When it started, ISO 8601 in UTC.
      type: str
    stop_time:
      description: When it stopped, ISO 8601 in UTC; the earliest time a point-in-time restore from it can reach.
      type: str
    stop_time_source:
      description: V(history_file) or V(manifest_mtime).
      type: str
    timeline:
      description: Timeline of the backup.
      type: int
    size_bytes:
      description: Size of its files.
      type: int
    manifest_checksum:
      description: Checksum of its manifest.
      type: str
    verified:
      description: The verdict of C(pg_verifybackup), or V(null) when not checked.
      type: bool
    verify_output:
      description: What C(pg_verifybackup) printed, when checked.
      type: str
    usable:
      description: Whether it looks like a complete backup (label, manifest and stop time read, no problem) and did not fail verification.
      type: bool
    problems:
      description: What is wrong with it.
      type: list
      elements: str
newest:
  description: The usable backup that stopped last, or V(null).
  returned: success
  type: dict
newest_age_seconds:
  description: Seconds since RV(newest) stopped, or V(null).
  returned: success
  type: float
newest_is_recent:
  description: Whether RV(newest) stopped less than O(max_age_seconds) ago.
  returned: success
  type: bool
"""

import glob
import os
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import (
    complete_stop,
    find_tool,
    parse_lsn,
    read_backup,
    read_history_files,
    summarise_backups,
    verify_backup,
)

DEFAULT_MAX_AGE_SECONDS = 86400


def argument_spec():
    return dict(
        root=dict(type="path", required=True),
        archive_dir=dict(type="path"),
        verify=dict(type="bool", default=False),
        max_age_seconds=dict(type="int", default=DEFAULT_MAX_AGE_SECONDS),
        bin_dir=dict(type="path"),
    )


def check_options(module):
    for option in ("root", "archive_dir"):
        path = module.params[option]
        if path and not os.path.isdir(path):
            raise RunbookError("list base backups in", path, "{0} is not a directory on this host".format(option))
    if module.params["max_age_seconds"] <= 0:
        raise RunbookError("use", "max_age_seconds", "it must be more than 0 seconds")


def _newest_major():
    majors = [os.path.basename(os.path.dirname(os.path.dirname(path))) for path in glob.glob("/usr/lib/postgresql/*/bin/pg_verifybackup")]
    majors = [int(major) for major in majors if major.isdigit()]
    return max(majors) if majors else None


def list_backups(module):
    params = module.params
    root = params["root"]
    history = read_history_files(params["archive_dir"]) if params["archive_dir"] else {}
    verifier = None
    if params["verify"]:
        verifier = find_tool(module, "pg_verifybackup", params["bin_dir"], _newest_major())
    records = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        # Skip files and the scratch directories of a verification in progress.
        if entry.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        record = complete_stop(read_backup(path), history)
        record["verified"] = None
        if verifier and record["format"]:
            record["verified"], record["verify_output"] = verify_backup(module, verifier, path, record["format"])
        records.append(record)
    records.sort(key=lambda r: (r["timeline"] or 0, parse_lsn(r["start_lsn"]) if r["start_lsn"] else -1))
    summary = summarise_backups(records, time.time(), params["max_age_seconds"])
    return module.result(changed=False, **summary)


def main():
    module = RunbookModule(argument_spec=argument_spec())
    module.run(list_backups, precheck=check_options)


if __name__ == "__main__":
    main()
