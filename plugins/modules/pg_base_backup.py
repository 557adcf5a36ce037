#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_base_backup
short_description: Take a verified PostgreSQL base backup with pg_basebackup
version_added: 0.1.0
description:
  - Takes a base backup of a PostgreSQL server with C(pg_basebackup) into a new directory
    O(root)/O(name) with a fast checkpoint and the WAL needed to make it consistent, then checks it with
    C(pg_verifybackup) against its manifest.
  - The base of every self-hosted point-in-time restore; the start and stop of the backup bound the
    times a restore from it can reach.
  - Declarative when O(name) is given. A backup already in O(root)/O(name) that verifies is left alone
    (C(changed=false)). Without O(name) every run takes a new backup named after the time.
  - Refuses, before running anything, a target that exists and holds anything but a backup, and an
    existing backup that does not verify.
  - The connection options reach C(pg_basebackup) through the environment (E(PGHOST), E(PGPASSWORD), ...),
    so the password is never on a command line.
  - Runs on the host where the backup is to be stored; the role must have the C(REPLICATION) attribute
    and C(pg_hba.conf) must allow it a replication connection.
options:
  root:
    description:
      - Directory holding the backups; created when missing. The backup goes into a new subdirectory.
    type: path
    required: true
  name:
    description:
      - Name of the backup's directory under O(root). Letters, digits, C(.), C(_) and C(-).
      - When not given, C(base-<UTC time>), so that every run takes a new backup.
    type: str
  label:
    description:
      - The backup label, recorded in C(backup_label) and the server's backup history file.
      - Defaults to O(name).
    type: str
  format:
    description:
      - V(plain) writes a data directory that can be started as it is; V(tar) writes C(base.tar) (and C(pg_wal.tar)).
    type: str
    choices: [ plain, tar ]
    default: plain
  wal_method:
    description:
      - V(stream) streams the WAL written during the backup over a second connection; V(fetch) collects it at the end
        (it must still be in C(pg_wal) then).
    type: str
    choices: [ stream, fetch ]
    default: stream
  verify:
    description:
      - Whether to check the backup with C(pg_verifybackup) (PostgreSQL 13 and later). A tar backup is unpacked
        into a temporary directory next to it for the check, since C(pg_verifybackup) of PostgreSQL 15 reads only plain backups.
      - When C(pg_verifybackup) is not found the module warns and returns RV(verified=null).
    type: bool
    default: true
  archive_dir:
    description:
      - The WAL archive, when it is a directory on this host. Its backup history file gives the exact stop time
        of the backup; without it the stop time is the time C(backup_manifest) was written, a little later.
    type: path
  bin_dir:
    description:
      - Directory holding C(pg_basebackup) and C(pg_verifybackup).
      - By default C(/usr/lib/postgresql/<server major version>/bin) when it exists, otherwise the E(PATH).
    type: path
attributes:
  check_mode:
    support: full
    details: Reads the server version and the target; plans the backup and runs nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: sre.runbooks.pg_base_backup_info
  - module: sre.runbooks.pg_wal_archive_info
  - name: pg_basebackup
    description: The PostgreSQL tool this module runs.
    link: https://www.postgresql.org/docs/current/app-pgbasebackup.html
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Take tonight's base backup
  sre.runbooks.pg_base_backup:
    login_host: db.example.com
    login_user: replicator
    root: /var/backups/postgresql
    name: "base-{{ now(utc=true, fmt='%Y%m%d') }}"
    archive_dir: /var/lib/postgresql/wal_archive
  environment:
    PGPASSWORD: "{{ replicator_password }}"
  register: backup

- name: Show where a restore from it can start
  ansible.builtin.debug:
    msg: "{{ backup.path }}: restores to {{ backup.stop_time }} or later ({{ backup.stop_lsn }})"
"""

RETURN = r"""
path:
  description: Directory of the backup.
  returned: success
  type: str
  sample: /var/backups/postgresql/base-20261122
name:
  description: Name of the backup's directory.
  returned: success
  type: str
  sample: base-20261122
label:
  description: The backup label.
  returned: success, except in check mode
  type: str
  sample: base-20261122
format:
  description: V(plain) or V(tar).
  returned: success
  type: str
  sample: plain
start_lsn:
  description: WAL location where the backup started (its checkpoint's redo point).
  returned: success, except in check mode
  type: str
  sample: 0/2000028
stop_lsn:
  description: WAL location where the backup stopped; a restore from it must replay at least to here.
  returned: success, except in check mode
  type: str
  sample: 0/2000100
start_time:
  description: When the backup started, ISO 8601 in UTC.
  returned: success, except in check mode
  type: str
  sample: "2026-11-22T14:23:34Z"
stop_time:
  description: When the backup stopped, ISO 8601 in UTC; the earliest time a point-in-time restore from it can reach.
  returned: success, except in check mode
  type: str
  sample: "2026-11-22T14:23:35Z"
stop_time_source:
  description:
    - V(history_file) (exact, from the archive's backup history file) or V(manifest_mtime)
      (when backup_manifest was written, a bound never earlier than the stop).
  returned: success, except in check mode
  type: str
  sample: history_file
timeline:
  description: Timeline of the backup.
  returned: success, except in check mode
  type: int
  sample: 1
size_bytes:
  description: Size of the backup's files.
  returned: success, except in check mode
  type: int
  sample: 31457280
manifest_checksum:
  description: The C(Manifest-Checksum) of its C(backup_manifest) (SHA-256), identifying this very backup.
  returned: success, except in check mode
  type: str
verified:
  description: Whether C(pg_verifybackup) found the backup complete and intact; V(null) when not checked.
  returned: success, except in check mode
  type: bool
  sample: true
verify_output:
  description: What C(pg_verifybackup) printed.
  returned: when the backup was checked
  type: str
  sample: backup successfully verified
server_version:
  description: Version of the PostgreSQL server.
  returned: success
  type: str
  sample: "15.10"
actions:
  description: What the module did, or in check mode would do; empty when the backup was already there.
  returned: success
  type: list
  elements: str
queries:
  description: The SQL statements the module ran.
  returned: success
  type: list
  elements: str
"""

import os
import re
import shutil
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import (
    FORMATS,
    WAL_METHODS,
    basebackup_argv,
    complete_stop,
    directory_state,
    find_tool,
    plan_base_backup,
    read_backup,
    read_history_files,
    run_basebackup,
    verify_backup,
)
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    pg_env,
    postgres_argument_spec,
)

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# pg_basebackup refuses longer labels (MAXPGPATH - 1 is the server's limit; 100 keeps backup_label readable).
MAX_LABEL_LENGTH = 100

VERSION_SQL = "SELECT current_setting('server_version') AS server_version, current_setting('server_version_num')::int AS server_version_num"


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        root=dict(type="path", required=True),
        name=dict(type="str"),
        label=dict(type="str"),
        format=dict(type="str", choices=list(FORMATS), default="plain"),
        wal_method=dict(type="str", choices=list(WAL_METHODS), default="stream"),
        verify=dict(type="bool", default=True),
        archive_dir=dict(type="path"),
        bin_dir=dict(type="path"),
    )
    return spec


def option_problems(params):
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    name = params.get("name")
    if name is not None and (not NAME_RE.match(name) or name in (".", "..")):
        problems.append("name must be letters, digits, '.', '_' and '-' (a directory name under root), got {0!r}".format(name))
    label = params.get("label")
    if label is not None and (not label or len(label) > MAX_LABEL_LENGTH or "\n" in label):
        problems.append("label must be 1 to {0} characters on one line".format(MAX_LABEL_LENGTH))
    if os.path.lexists(params["root"]) and not os.path.isdir(params["root"]):
        problems.append("root {0} exists and is not a directory".format(params["root"]))
    if params.get("archive_dir") and not os.path.isdir(params["archive_dir"]):
        problems.append("archive_dir {0} is not a directory on this host".format(params["archive_dir"]))
    return problems


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("take a base backup with", "these options", "; ".join(problems))


def _describe(module, path, fmt, tool):
    record = read_backup(path)
    history = read_history_files(module.params["archive_dir"]) if module.params["archive_dir"] else {}
    complete_stop(record, history)
    verified, output = (None, None)
    if tool:
        verified, output = verify_backup(module, tool, path, fmt)
    return record, verified, output


def _result_fields(record, verified, output):
    fields = dict(
        label=record["label"], format=record["format"], start_lsn=record["start_lsn"], stop_lsn=record["stop_lsn"],
        start_time=record["start_time"], stop_time=record["stop_time"], stop_time_source=record["stop_time_source"],
        timeline=record["timeline"], size_bytes=record["size_bytes"], manifest_checksum=record["manifest_checksum"], verified=verified,
    )
    if output is not None:
        fields["verify_output"] = output
    return fields


def _empty(directory):
    for entry in os.listdir(directory):
        full = os.path.join(directory, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            os.remove(full)


def take_backup(module, conn):
    params = module.params
    db = QueryRecorder(conn, describe_target(params), module.check_mode)
    version = db.read(VERSION_SQL)[0]
    major = version["server_version_num"] // 10000
    env = pg_env(params)  # raises before anything runs when a connect_params key cannot travel
    basebackup = find_tool(module, "pg_basebackup", params["bin_dir"], major)
    verifier = None
    if params["verify"]:
        try:
            verifier = find_tool(module, "pg_verifybackup", params["bin_dir"], major)
        except RunbookError as error:
            module.warn("The backup is not verified: {0}".format(error))

    name = params["name"] or time.strftime("base-%Y%m%dT%H%M%SZ", time.gmtime())
    label = params["label"] or name
    target = os.path.join(params["root"], name)
    state = directory_state(target)
    common = dict(path=target, name=name, server_version=version["server_version"], queries=db.queries)

    existing = None
    if state == "backup":
        existing = _describe(module, target, read_backup(target)["format"], verifier)
    try:
        actions, changed = plan_base_backup(target, state, existing is not None and existing[1] is not False, params["format"], params["wal_method"], label)
    except ValueError as error:
        detail = ": " + existing[2] if existing and existing[2] else ""
        raise RunbookError("take a base backup into", target, "{0}{1}".format(error, detail))
    if not changed:
        record, verified, output = existing
        if record["format"] != params["format"]:
            module.warn("{0} already holds a {1}-format backup; it is kept as it is, although format={2} was asked for".format(
                target, record["format"], params["format"]))
        return module.result(changed=False, actions=actions, **dict(common, **_result_fields(record, verified, output)))
    if module.check_mode:
        return module.result(changed=True, actions=actions, before=dict(path=target, state=state), after=dict(path=target, state="backup"),
                             format=params["format"], **common)

    created = state == "absent"
    if created:
        os.makedirs(target, mode=0o700)
    try:
        run_basebackup(module, basebackup_argv(basebackup, target, params["format"], params["wal_method"], label), env)
    except RunbookError:
        # Leave nothing half written: the directory was new or empty.
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            _empty(target)
        raise
    record, verified, output = _describe(module, target, params["format"], verifier)
    if verified is False:
        raise RunbookError("verify the base backup in", target, "pg_verifybackup reported: {0}. The backup is left there for inspection; "
                           "remove it before taking another one under this name".format(output))
    return module.result(changed=True, actions=actions, before=dict(path=target, state=state), after=dict(path=target, state="backup"),
                         **dict(common, **_result_fields(record, verified, output)))


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
    module.run(take_backup, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
