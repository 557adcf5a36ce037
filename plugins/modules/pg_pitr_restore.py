#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_pitr_restore
short_description: Restore a self-hosted PostgreSQL cluster to a point in time, into a new data directory, and prove it
version_added: 0.1.0
description:
  - Restores a base backup (taken by C(pg_basebackup) or M(sre.runbooks.pg_base_backup)) into a B(new) data directory,
    replays the WAL archive up to a target (a time, an LSN, a named restore point, the end of the backup, or the end of the
    archive), promotes the restored server on its own port and proves that the target was reached.
  - The live cluster is never touched. The restored server does not archive (C(archive_mode=off)), so it cannot write into
    the live server's archive, and by default listens on 127.0.0.1 only. Switching the application or the live data directory
    over to it is a separate, explicit step.
  - Refuses, before anything is written, a target earlier than the end of the base backup, a time later than the last
    transaction in the archive, an LSN past the archived WAL, a restore point that is not there, an archive missing the
    segments the backup needs, a O(data_dir) that holds anything, and a O(port) that is in use.
  - Writes C(restore_command), C(recovery_target_*), C(recovery_target_timeline=current), C(recovery_target_action=promote)
    and C(recovery.signal); the original C(postgresql.auto.conf) is kept as C(postgresql.auto.conf.pre-restore).
  - Verification uses the server's own evidence, its log (C(recovery stopping before commit of transaction ..., time ...))
    and C(pg_last_xact_replay_timestamp()) or C(pg_last_wal_replay_lsn()), then the O(verify_queries). A restore that fails
    or does not verify is stopped and removed (unless O(keep_failed)), and the task fails with the server's own messages.
  - Declarative. The data directory records the backup, the target and the verification; a rerun with the same backup and
    target finds it restored and verified, starts the server when it is stopped, re-runs the O(verify_queries) and
    otherwise reports C(changed=false).
  - Runs on the host that holds the backup and the archive. As root, the server runs as O(os_user).
options:
  backup:
    description:
      - Directory of the base backup to restore (plain or tar format).
      - Mutually exclusive with O(backup_root).
    type: path
  backup_root:
    description:
      - Directory holding base backups, one per subdirectory. The newest usable backup that ended before the target is
        restored (for V(latest) and V(immediate), the newest usable one).
    type: path
  archive_dir:
    description:
      - The WAL archive (a directory of WAL segment files, as C(archive_command) writes them). Its contents bound the targets.
    type: path
    required: true
  restore_command:
    description:
      - The C(restore_command) to write. Defaults to copying from O(archive_dir) (C(cp "<archive_dir>/%f" "%p")).
      - The bounds are still read from O(archive_dir), which must hold the same segments.
    type: str
  data_dir:
    description:
      - The new data directory. It must not exist, or be empty, or hold an earlier restore by this module of the same backup
        to the same target.
    type: path
    required: true
  port:
    description:
      - The port the restored server listens on. It must be free.
    type: int
    required: true
  listen_addresses:
    description:
      - C(listen_addresses) of the restored server. The module connects to the first address (C(127.0.0.1) for V(*)).
    type: str
    default: 127.0.0.1
  recovery_target:
    description:
      - V(latest) replays the whole archive; V(immediate) stops as soon as the backup is consistent.
      - Ignored when O(recovery_target_time), O(recovery_target_lsn) or O(recovery_target_name) is given.
    type: str
    choices: [ latest, immediate ]
    default: latest
  recovery_target_time:
    description:
      - Replay up to this time, for example V(2026-11-22T14:23:34Z) or V(2026-11-22 14:23:34.5+01). Without a zone it is UTC.
    type: str
  recovery_target_lsn:
    description:
      - Replay up to this WAL location, for example V(0/3001EE0).
    type: str
  recovery_target_name:
    description:
      - Replay up to this restore point, created with C(pg_create_restore_point()).
    type: str
  recovery_target_inclusive:
    description:
      - Whether a transaction exactly at a time or LSN target is included.
    type: bool
    default: true
  os_user:
    description:
      - The operating system account the restored server runs as, when the module runs as root (the server refuses root).
      - Defaults to the owner of the base backup, or C(postgres) when root owns it.
    type: str
  timeout:
    description:
      - Seconds to wait for recovery to end (the WAL replay of a big archive takes a while).
    type: int
    default: 900
  verify_queries:
    description:
      - Queries run on the restored server after recovery; each must meet its expectation or the restore fails.
    type: list
    elements: dict
    default: []
    suboptions:
      query:
        description: The SQL to run. Read-only, since it runs on the restored copy again on every rerun.
        type: str
        required: true
      db:
        description: Database to run it in. Defaults to O(login_db).
        type: str
      expected:
        description: The value the first column of the first row must have, compared as text.
        type: raw
      expected_rows:
        description: The number of rows it must return.
        type: int
  login_user:
    description: Role to connect to the restored server as, for reading its state and the verification queries.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user) (the restored cluster has the roles and passwords of the backup).
    type: str
    default: ""
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
    aliases: [ db ]
  keep_failed:
    description:
      - Keep the data directory (stopped) of a restore that failed or did not verify, for inspection, instead of removing it.
      - The server log is also copied next to it, as C(<data_dir>.failed.log), in either case.
    type: bool
    default: false
  bin_dir:
    description:
      - Directory holding C(pg_ctl) and C(pg_waldump) of the backup's major version.
      - By default C(/usr/lib/postgresql/<major>/bin) when it exists, otherwise the E(PATH).
    type: path
notes:
  - Tablespaces other than the default ones are not supported; a backup with entries in C(pg_tblspc) is refused.
  - Targets are checked against the backup's timeline (C(recovery_target_timeline=current)).
  - As root, commands run as O(os_user) through C(runuser).
attributes:
  check_mode:
    support: full
    details: Reads the backup and the archive, checks the target and plans the restore; writes and starts nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: sre.runbooks.pg_base_backup
  - module: sre.runbooks.pg_base_backup_info
  - module: sre.runbooks.pg_wal_archive_info
  - name: Continuous archiving and point-in-time recovery
    description: The PostgreSQL procedure this module automates.
    link: https://www.postgresql.org/docs/current/continuous-archiving.html
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Restore orders to just before the bad migration, beside the live cluster
  sre.runbooks.pg_pitr_restore:
    backup_root: /var/backups/postgresql
    archive_dir: /var/lib/postgresql/wal_archive
    data_dir: /var/lib/postgresql/15/restore-20261122
    port: 5433
    recovery_target_time: "2026-11-22T14:23:00Z"
    verify_queries:
      - query: SELECT count(*) FROM orders WHERE created_at < '2026-11-22 14:23:00+00'
        db: orders
        expected: 18234
  register: restore

- name: Show what was reached
  ansible.builtin.debug:
    msg: "{{ restore.reached.stop_line }}; last transaction {{ restore.reached.last_transaction_time }}"

- name: Restore to a restore point taken before maintenance
  sre.runbooks.pg_pitr_restore:
    backup: /var/backups/postgresql/base-20261122
    archive_dir: /var/lib/postgresql/wal_archive
    data_dir: /srv/restore/before-maintenance
    port: 5434
    recovery_target_name: before-maintenance
"""

RETURN = r"""
data_dir:
  description: The restored data directory.
  returned: success
  type: str
  sample: /var/lib/postgresql/15/restore-20261122
port:
  description: The port the restored server listens on.
  returned: success
  type: int
  sample: 5433
backup:
  description: The base backup restored (path, name, start_lsn, stop_lsn, stop_time, timeline).
  returned: success
  type: dict
target:
  description: The target, C(type) (V(time), V(lsn), V(name), V(immediate) or V(latest)) and normalised C(value).
  returned: success
  type: dict
  sample: {"type": "time", "value": "2026-11-22T14:23:00.000000Z", "inclusive": true}
bounds:
  description:
    - What the backup and the archive can reach; C(earliest_time) and C(earliest_lsn) are the end of the backup,
      C(latest_transaction_time) the last transaction record in the archive, C(latest_lsn) the end of the archived WAL.
  returned: success
  type: dict
reached:
  description:
    - The server's evidence that the target was reached, C(stop_line) (the log line recovery stopped at),
      C(last_transaction_time) (C(pg_last_xact_replay_timestamp())), C(replay_lsn), C(timeline) (the new one after promotion).
  returned: success, except in check mode
  type: dict
verification:
  description: Each verification query with its C(rows) (at most 10), C(row_count), C(passed) and C(problem).
  returned: success, except in check mode
  type: list
  elements: dict
recovery_seconds:
  description: Seconds from starting the restored server to the end of recovery.
  returned: when the restore ran
  type: float
  sample: 12.4
log_file:
  description: The restored server's log.
  returned: success
  type: str
actions:
  description: What the module did, or in check mode would do; empty when the restore was already there and running.
  returned: success
  type: list
  elements: str
queries:
  description: The SQL statements run on the restored server.
  returned: success
  type: list
  elements: str
"""

import os
import pwd
import shutil
import socket
import tarfile
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres import pitr
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import (
    TAR_BASE,
    TAR_WAL,
    complete_stop,
    find_tool,
    iso_time,
    parse_lsn,
    read_backup,
    read_history_files,
)
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
)

ACTION = "restore to a point in time"
STATE_SQL = (
    "SELECT pg_is_in_recovery() AS in_recovery, "
    "extract(epoch FROM pg_last_xact_replay_timestamp())::float8 AS last_replay_epoch, "
    "pg_last_wal_replay_lsn()::text AS replay_lsn, "
    "(SELECT timeline_id FROM pg_control_checkpoint()) AS timeline, "
    "current_setting('server_version') AS server_version"
)
MAX_ROWS_RETURNED = 10


def argument_spec():
    return dict(
        backup=dict(type="path"),
        backup_root=dict(type="path"),
        archive_dir=dict(type="path", required=True),
        restore_command=dict(type="str"),
        data_dir=dict(type="path", required=True),
        port=dict(type="int", required=True),
        listen_addresses=dict(type="str", default="127.0.0.1"),
        recovery_target=dict(type="str", choices=["latest", "immediate"], default="latest"),
        recovery_target_time=dict(type="str"),
        recovery_target_lsn=dict(type="str"),
        recovery_target_name=dict(type="str"),
        recovery_target_inclusive=dict(type="bool", default=True),
        os_user=dict(type="str"),
        timeout=dict(type="int", default=900),
        verify_queries=dict(type="list", elements="dict", default=[], options=dict(
            query=dict(type="str", required=True),
            db=dict(type="str"),
            expected=dict(type="raw"),
            expected_rows=dict(type="int"),
        )),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_db=dict(type="str", default="postgres", aliases=["db"]),
        keep_failed=dict(type="bool", default=False),
        bin_dir=dict(type="path"),
    )


MUTUALLY_EXCLUSIVE = [
    ["backup", "backup_root"],
    ["recovery_target_time", "recovery_target_lsn", "recovery_target_name"],
]


# -- options -------------------------------------------------------------------

def requested_target(params):
    """(type, value) from the options; raises ValueError for a value that does not parse."""
    if params.get("recovery_target_time"):
        return "time", pitr.parse_time(params["recovery_target_time"])
    if params.get("recovery_target_lsn"):
        text = params["recovery_target_lsn"].strip().upper()
        try:
            return "lsn", parse_lsn(text)
        except ValueError:
            raise ValueError("recovery_target_lsn {0!r} is not a WAL location like 0/3001EE0".format(params["recovery_target_lsn"]))
    if params.get("recovery_target_name"):
        return "name", params["recovery_target_name"]
    return params["recovery_target"], None


def _inside(path, parent):
    path, parent = os.path.realpath(path), os.path.realpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def option_problems(params):
    problems = []
    if not params.get("backup") and not params.get("backup_root"):
        problems.append("one of backup or backup_root is required")
    try:
        requested_target(params)
    except ValueError as error:
        problems.append(str(error))
    if not 1 <= params["port"] <= 65535:
        problems.append("port must be 1 to 65535, got {0}".format(params["port"]))
    if not os.path.isdir(params["archive_dir"]):
        problems.append("archive_dir {0} does not exist or is not a directory: without the WAL archive there is nothing to replay".format(
            params["archive_dir"]))
    source = params.get("backup") or params.get("backup_root")
    if source and not os.path.isdir(source):
        problems.append("{0} does not exist or is not a directory".format(source))
    for name in ("archive_dir", "backup", "backup_root"):
        other = params.get(name)
        if other and (_inside(params["data_dir"], other) or _inside(other, params["data_dir"])):
            problems.append("data_dir {0} must be outside {1} {2}".format(params["data_dir"], name, other))
    if params["timeout"] <= 0:
        problems.append("timeout must be positive")
    return problems


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError(ACTION, module.params["data_dir"], "; ".join(problems))


# -- the backup and the archive --------------------------------------------------

def _read_backup(path, history):
    record = complete_stop(read_backup(path), history)
    if record["format"] == "plain":
        tablespaces = os.path.join(path, "pg_tblspc")
        if os.path.isdir(tablespaces) and os.listdir(tablespaces):
            record["problems"].append("it uses tablespaces, which this module does not restore")
    if record.get("stop_epoch") is None and not record["problems"]:
        record["problems"].append("its stop time is unknown (no backup history file in the archive and no backup_manifest)")
    return record


def candidate_backups(params, history):
    """The backups to try, newest first; a named backup alone."""
    if params.get("backup"):
        return [_read_backup(params["backup"], history)]
    records = []
    for name in sorted(os.listdir(params["backup_root"])):
        path = os.path.join(params["backup_root"], name)
        if os.path.isdir(path) and not name.startswith("."):
            records.append(_read_backup(path, history))
    usable = [record for record in records if not record["problems"]]
    return sorted(usable, key=lambda record: record["stop_epoch"], reverse=True)


def _waldump(module, tool, archive_dir, first, last=None, rmgr=None):
    argv = [tool, "--path", archive_dir]
    if rmgr:
        argv += ["--rmgr", rmgr]
    argv.append(first)
    if last:
        argv.append(last)
    # pg_waldump ends with an error at the unused tail of the last segment: the records before it are what counts.
    _rc, out, _err = module.run_command(argv, environ_update={"TZ": "UTC", "LC_ALL": "C"})
    return pitr.parse_waldump(out)


def segment_size(archive_dir, name):
    return os.path.getsize(os.path.join(archive_dir, name))


def read_archive(module, tool, archive_dir, record, target_type):
    """The archive seen from a backup: the run of segments, its end, the last transaction, restore points."""
    start = record["start_wal_file"] or ""
    names = os.listdir(archive_dir)
    if not start or start not in names:
        return dict(segments=[], end_lsn=0, last_transaction_epoch=None, restore_points=[], segment_size=None)
    size = segment_size(archive_dir, start)
    run = pitr.archived_run(names, start, size)
    facts = dict(segments=run, end_lsn=pitr.segment_end_lsn(run[-1], size), segment_size=size,
                 last_segment_start_lsn=pitr.segment_end_lsn(run[-1], size) - size, last_transaction_epoch=None, restore_points=[])
    if target_type == "time":
        # The newest segments first: the last transaction is usually in the last one.
        for name in reversed(run):
            transactions, _points = _waldump(module, tool, archive_dir, name)
            if transactions:
                facts["last_transaction_epoch"] = max(epoch for _lsn, epoch, _kind in transactions)
                break
    elif target_type == "name":
        _transactions, facts["restore_points"] = _waldump(module, tool, archive_dir, run[0], run[-1], rmgr="XLOG")
    return facts


def choose(module, tool, params, candidates, target_type, target_value):
    """The first candidate (newest first) from which the target can be reached, with its archive facts."""
    if not candidates:
        raise RunbookError(ACTION, params["data_dir"], "no usable base backup in {0}".format(params["backup_root"]))
    refusals = []
    for record in candidates:
        if record["problems"]:
            raise RunbookError(ACTION, params["data_dir"], "base backup {0} cannot be restored: {1}".format(
                record["path"], "; ".join(record["problems"])))
        archive = read_archive(module, tool, params["archive_dir"], record, target_type)
        try:
            value = pitr.check_target(target_type, target_value, record, archive, params["recovery_target_inclusive"])
        except ValueError as error:
            refusals.append(str(error))
            continue
        return record, archive, value
    raise RunbookError(ACTION, params["data_dir"], "the target cannot be reached, so nothing was touched: {0}".format(
        refusals[0] if len(refusals) == 1 else " / ".join("{0}".format(r) for r in refusals)))


# -- the OS account and commands ----------------------------------------------------

def server_account(params, backup_path):
    """(name, uid, gid) the server runs as, or None when the module does not run as root."""
    if os.geteuid() != 0:
        if params.get("os_user") and params["os_user"] != pwd.getpwuid(os.geteuid()).pw_name:
            raise RunbookError(ACTION, params["data_dir"], "os_user {0} needs the module to run as root (become: true)".format(params["os_user"]))
        return None
    name = params.get("os_user")
    if not name:
        owner = pwd.getpwuid(os.stat(backup_path).st_uid).pw_name
        name = owner if owner != "root" else "postgres"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise RunbookError(ACTION, params["data_dir"], "os_user {0} does not exist".format(name))
    if entry.pw_uid == 0:
        raise RunbookError(ACTION, params["data_dir"], "PostgreSQL refuses to run as root: set os_user")
    return entry.pw_name, entry.pw_uid, entry.pw_gid


def _allowed(mode, uid, account_uid, gid, groups, bits):
    """Whether the account has all of bits (owner, group, other forms) on a file of mode, uid and gid."""
    owner_bits, group_bits, other_bits = bits
    if uid == account_uid:
        return mode & owner_bits == owner_bits
    if gid in groups:
        return mode & group_bits == group_bits
    return mode & other_bits == other_bits


def reach_problems(account, data_dir, archive_dir):
    """What the server's account could not reach: the data directory's parents, the archive. Pure but for stat()."""
    if account is None:
        return []
    name, uid, gid = account
    groups = set(os.getgrouplist(name, gid))
    problems = []
    parent = os.path.dirname(os.path.abspath(data_dir.rstrip("/")))
    path = parent
    while True:
        if os.path.exists(path):
            info = os.stat(path)
            if not _allowed(info.st_mode, info.st_uid, uid, info.st_gid, groups, (0o100, 0o010, 0o001)):
                problems.append("{0} cannot enter {1} (on the way to data_dir): grant it search permission".format(name, path))
                break
        if path == "/":
            break
        path = os.path.dirname(path)
    info = os.stat(archive_dir)
    if not _allowed(info.st_mode, info.st_uid, uid, info.st_gid, groups, (0o500, 0o050, 0o005)):
        problems.append("{0} cannot read archive_dir {1}, which restore_command copies from".format(name, archive_dir))
    return problems


class Server:
    """pg_ctl on the restored data directory, as the server's account."""

    def __init__(self, module, pg_ctl, data_dir, account):
        self.module = module
        self.pg_ctl = pg_ctl
        self.data_dir = data_dir
        self.account = account
        self.log_file = os.path.join(data_dir, pitr.LOG_FILE)

    def _argv(self, argv):
        if self.account is None:
            return argv
        runuser = self.module.get_bin_path("runuser", required=True)
        return [runuser, "-u", self.account[0], "--"] + argv

    def run(self, *args):
        return self.module.run_command(self._argv([self.pg_ctl, "-D", self.data_dir] + list(args)), environ_update={"LC_ALL": "C"})

    def start(self, grace=30):
        """Start without pg_ctl's wait (recovery may take long), then wait for the postmaster to write its pid file."""
        rc, out, err = self.run("-l", self.log_file, "-W", "start")
        if rc != 0:
            raise RunbookError("start the restored server in", self.data_dir, (err or out).strip())
        deadline = time.monotonic() + grace
        while not os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
            if time.monotonic() >= deadline:
                raise RunbookError("start the restored server in", self.data_dir, "no postmaster after {0} s: {1}".format(
                    grace, "; ".join(self.fatal_lines()) or "see {0}".format(self.log_file)))
            time.sleep(0.1)

    @property
    def running(self):
        if not os.path.exists(os.path.join(self.data_dir, "postmaster.pid")):
            return False
        return self.run("status")[0] == 0

    def stop(self, mode="fast"):
        if self.running:
            self.run("-m", mode, "-w", "-t", "60", "stop")

    def log(self):
        try:
            with open(self.log_file, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def fatal_lines(self):
        lines = pitr.parse_recovery_log(self.log())["fatal"]
        return lines[-3:]


def port_state(host, port, data_dir):
    """'free', 'ours' (the postmaster of data_dir listens there) or 'taken'."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    probe.settimeout(1)
    try:
        probe.connect((host, port))
    except OSError:
        return "free"
    finally:
        probe.close()
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as handle:
            lines = handle.read().splitlines()
        if len(lines) > 3 and lines[3].strip() == str(port):
            return "ours"
    except OSError:
        pass
    return "taken"


def connect_host(listen_addresses):
    first = listen_addresses.split(",")[0].strip()
    return "127.0.0.1" if first in ("*", "", "0.0.0.0") else ("::1" if first == "::" else first)


# -- restoring -------------------------------------------------------------------

def _copy_backup(record, data_dir):
    if record["format"] == "plain":
        for entry in os.listdir(record["path"]):
            source, dest = os.path.join(record["path"], entry), os.path.join(data_dir, entry)
            if os.path.isdir(source) and not os.path.islink(source):
                shutil.copytree(source, dest, symlinks=True)
            else:
                shutil.copy2(source, dest, follow_symlinks=False)
        return
    with tarfile.open(os.path.join(record["path"], TAR_BASE)) as archive:
        _extract(archive, data_dir)
    wal_tar = os.path.join(record["path"], TAR_WAL)
    if os.path.isfile(wal_tar):
        wal_dir = os.path.join(data_dir, "pg_wal")
        if not os.path.isdir(wal_dir):
            os.makedirs(wal_dir)
        with tarfile.open(wal_tar) as archive:
            _extract(archive, wal_dir)


def _extract(archive, dest):
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, filter="fully_trusted")  # a backup of ours, taken by pg_basebackup
    else:
        archive.extractall(dest)


def _chown_tree(path, account):
    if account is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, entry) for entry in dirs + files]:
            os.lchown(name, account[1], account[2])


def prepare_data_dir(record, data_dir, settings, account):
    """Copy the backup and write the recovery settings; the server is not started."""
    _copy_backup(record, data_dir)
    for name in pitr.STALE_FILES:
        stale = os.path.join(data_dir, name)
        if os.path.lexists(stale):
            os.remove(stale)
    for name in ("pg_wal", "pg_wal/archive_status"):
        directory = os.path.join(data_dir, name)
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700)
    auto_conf = os.path.join(data_dir, pitr.AUTO_CONF)
    original = b""
    if os.path.isfile(auto_conf):
        with open(auto_conf, "rb") as handle:
            original = handle.read()
    with open(os.path.join(data_dir, pitr.ORIGINAL_AUTO_CONF), "wb") as handle:
        handle.write(original)
    with open(auto_conf, "wb") as handle:
        handle.write(original + (b"" if not original or original.endswith(b"\n") else b"\n") + pitr.render_settings(settings).encode("utf-8"))
    conf = os.path.join(data_dir, "postgresql.conf")
    if not os.path.exists(conf):
        # Debian keeps postgresql.conf in /etc, outside the data directory (and the backup).
        with open(conf, "w") as handle:
            handle.write("# written by sre.runbooks.pg_pitr_restore: the base backup held no postgresql.conf\n")
    open(os.path.join(data_dir, "recovery.signal"), "w").close()
    _chown_tree(data_dir, account)
    os.chmod(data_dir, 0o700)


def read_state(params, host):
    conn = connect(dict(login_host=host, login_port=params["port"], login_user=params["login_user"],
                        login_password=params["login_password"], login_db=params["login_db"], ssl_mode="disable"))
    try:
        return QueryRecorder(conn, "the restored server").read(STATE_SQL)[0]
    finally:
        conn.close()


def wait_for_recovery(server, params, host, deadline):
    """Wait until the restored server has promoted; raise with its own FATAL lines when it stopped."""
    last_error = None
    while True:
        if not server.running:
            fatal = server.fatal_lines()
            raise RunbookError(ACTION, params["data_dir"], "the restored server stopped during recovery: {0}".format(
                "; ".join(fatal) or "see {0}".format(server.log_file)))
        try:
            state = read_state(params, host)
            if not state["in_recovery"]:
                return state
            last_error = "still in recovery (replayed up to {0})".format(state["replay_lsn"])
        except RunbookError as error:
            last_error = error.cause_text
        if time.monotonic() >= deadline:
            raise RunbookError(ACTION, params["data_dir"], "recovery did not end within {0} s: {1}".format(params["timeout"], last_error))
        time.sleep(0.5)


def run_verification(params, host):
    results, queries = [], []
    for spec in params["verify_queries"]:
        db = spec.get("db") or params["login_db"]
        conn = connect(dict(login_host=host, login_port=params["port"], login_user=params["login_user"],
                            login_password=params["login_password"], login_db=db, ssl_mode="disable"))
        try:
            recorder = QueryRecorder(conn, "the restored server, database {0}".format(db))
            try:
                rows = recorder.read(spec["query"])
                passed, problem = pitr.check_expectation(spec, rows)
            except RunbookError as error:
                rows, passed, problem = [], False, error.cause_text
            queries.extend(recorder.queries)
        finally:
            conn.close()
        results.append(dict(query=spec["query"], db=db, rows=[{key: _plain(value) for key, value in row.items()} for row in rows[:MAX_ROWS_RETURNED]],
                            row_count=len(rows), passed=passed, problem=problem))
    return results, queries


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def reached_facts(evidence, state, marker_reached=None):
    stop = evidence.get("stop") or {}
    facts = dict(
        stop_line=stop.get("line"),
        last_transaction_time=pitr.iso_precise(state.get("last_replay_epoch") if state.get("last_replay_epoch") is not None
                                               else evidence.get("last_transaction_epoch")),
        replay_lsn=state.get("replay_lsn"),
        timeline=state.get("timeline"),
        archive_recovery_complete=evidence.get("complete"),
    )
    if marker_reached:
        # After a restart the server no longer knows what it replayed: the restore's record does.
        for key, value in marker_reached.items():
            if facts.get(key) is None:
                facts[key] = value
    return facts


def _remove(data_dir, created):
    if created:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    for entry in os.listdir(data_dir):
        full = os.path.join(data_dir, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            os.remove(full)


def undo(module, server, params, created, error):
    """Stop the failed restore, keep its log beside it, remove it unless keep_failed; re-raise with what was done."""
    server.stop(mode="immediate")
    kept_log = params["data_dir"].rstrip("/") + ".failed.log"
    try:
        shutil.copyfile(server.log_file, kept_log)
    except OSError:
        kept_log = None
    if params["keep_failed"]:
        done = "the restored server was stopped and {0} kept for inspection".format(params["data_dir"])
    else:
        _remove(params["data_dir"], created)
        done = "the restored server was stopped and {0} removed".format(params["data_dir"])
    if kept_log:
        done += "; its log is in {0}".format(kept_log)
    raise RunbookError(error.action, error.obj, "{0}. Nothing else was touched: {1}".format(error.cause_text, done), **error.details)


def restore(module):
    params = module.params
    data_dir = params["data_dir"]
    target_type, target_value = requested_target(params)
    history = read_history_files(params["archive_dir"])
    candidates = candidate_backups(params, history)
    first = candidates[0] if candidates else None
    major = None
    if first is not None:
        try:
            with open(os.path.join(first["path"], "PG_VERSION")) as handle:
                major = handle.read().strip()
        except OSError:
            major = None
    waldump = find_tool(module, "pg_waldump", params["bin_dir"], major)
    pg_ctl = find_tool(module, "pg_ctl", params["bin_dir"], major)
    record, archive, value = choose(module, waldump, params, candidates, target_type, target_value)

    target = dict(type=target_type, inclusive=params["recovery_target_inclusive"],
                  value=pitr.iso_precise(value) if target_type == "time" else (pitr.format_lsn(value) if target_type == "lsn" else value))
    wanted = dict(backup=record["path"], backup_start_lsn=record["start_lsn"], target_type=target_type, target=target["value"],
                  target_text=pitr.describe_target(target_type, target["value"]), inclusive=target["inclusive"], verified=False)
    bounds = dict(earliest_time=iso_time(pitr.earliest_time(record)), earliest_lsn=record["stop_lsn"],
                  latest_transaction_time=pitr.iso_precise(archive.get("last_transaction_epoch")),
                  latest_lsn=pitr.format_lsn(archive["end_lsn"]), segments=len(archive["segments"]))
    backup_facts = {key: record.get(key) for key in ("path", "name", "format", "start_lsn", "stop_lsn", "stop_time", "timeline")}

    host = connect_host(params["listen_addresses"])
    state_of_dir = pitr.dir_state(data_dir)
    marker = pitr.read_marker(data_dir) if state_of_dir == "restored" else {}
    account = server_account(params, record["path"])
    unreachable = reach_problems(account, data_dir, params["archive_dir"])
    if unreachable:
        raise RunbookError(ACTION, data_dir, "the server's account could not run the restore, so nothing was touched: {0}".format(
            "; ".join(unreachable)))
    server = Server(module, pg_ctl, data_dir, account)
    running = state_of_dir == "restored" and server.running
    try:
        actions, mode = pitr.plan_restore(data_dir, state_of_dir, marker, wanted, params["port"],
                                          port_state(host, params["port"], data_dir), running)
    except ValueError as error:
        raise RunbookError(ACTION, data_dir, "{0}; nothing was touched".format(error))
    common = dict(data_dir=data_dir, port=params["port"], backup=backup_facts, target=target, bounds=bounds, log_file=server.log_file)
    settings = pitr.recovery_settings(params["archive_dir"], target_type, value, params["recovery_target_inclusive"], params["port"],
                                      params["listen_addresses"], params.get("restore_command"))
    if mode == "restore":
        actions += [
            "copy base backup {0} ({1}) into {2}".format(record["name"], record["format"], data_dir),
            "write recovery settings to {0}/{1} ({2}) and recovery.signal".format(
                data_dir, pitr.AUTO_CONF, ", ".join("{0}={1}".format(key, val) for key, val in settings if key.startswith("recovery_target"))),
            "start the restored server on {0}:{1} and replay the archive to {2}".format(host, params["port"], wanted["target_text"]),
            "verify the target from the server's log and replay position{0}".format(
                " and {0} verification queries".format(len(params["verify_queries"])) if params["verify_queries"] else ""),
        ]
    before = dict(data_dir=data_dir, state=state_of_dir, running=running)
    after = dict(data_dir=data_dir, state="restored", running=True, target=wanted["target_text"])
    if module.check_mode:
        return module.result(changed=bool(actions), actions=actions, before=before, after=after, queries=[], **common)

    if mode == "none":
        state = read_state(params, host)
        verification, queries = run_verification(params, host)
        failed = [item for item in verification if not item["passed"]]
        if failed:
            raise RunbookError("verify the restore in", data_dir, "; ".join("{0}: {1}".format(item["query"], item["problem"]) for item in failed),
                               verification=verification)
        return module.result(changed=False, actions=[], reached=reached_facts({}, state, marker.get("reached")),
                             verification=verification, queries=queries, **common)

    if mode == "start":
        server.start()
        state = wait_for_recovery(server, params, host, time.monotonic() + params["timeout"])
        verification, queries = run_verification(params, host)
        failed = [item for item in verification if not item["passed"]]
        if failed:
            raise RunbookError("verify the restore in", data_dir, "; ".join("{0}: {1}".format(item["query"], item["problem"]) for item in failed),
                               verification=verification)
        return module.result(changed=True, actions=actions, before=before, after=after, reached=reached_facts({}, state, marker.get("reached")),
                             verification=verification, queries=queries, **common)

    created = state_of_dir == "absent"
    if created:
        os.makedirs(data_dir, mode=0o700)
    try:
        prepare_data_dir(record, data_dir, settings, account)
        pitr.write_marker(data_dir, wanted, *(account[1:] if account else ()))
        started = time.monotonic()
        server.start()
        state = wait_for_recovery(server, params, host, started + params["timeout"])
        recovery_seconds = round(time.monotonic() - started, 2)
        evidence = pitr.parse_recovery_log(server.log())
        server_facts = dict(state, replay_lsn=parse_lsn(state["replay_lsn"]) if state.get("replay_lsn") else None)
        reached, problems = pitr.check_reached(target_type, value, params["recovery_target_inclusive"], evidence, server_facts,
                                               archive.get("last_segment_start_lsn"))
        if not reached:
            raise RunbookError("verify the restore in", data_dir, "the target was not reached: {0}".format("; ".join(problems)))
        verification, queries = run_verification(params, host)
        failed = [item for item in verification if not item["passed"]]
        if failed:
            raise RunbookError("verify the restore in", data_dir, "; ".join("{0}: {1}".format(item["query"], item["problem"]) for item in failed),
                               verification=verification)
        facts = reached_facts(evidence, state)
        pitr.write_marker(data_dir, dict(wanted, verified=True, reached=facts, recovery_seconds=recovery_seconds,
                                         restored_at=pitr.iso_precise(time.time())), *(account[1:] if account else ()))
    except (RunbookError, OSError, tarfile.TarError, shutil.Error) as error:
        if not isinstance(error, RunbookError):
            error = RunbookError(ACTION, data_dir, error)
        undo(module, server, params, created, error)
    return module.result(changed=True, actions=actions, before=before, after=after, reached=facts, verification=verification,
                         queries=queries, recovery_seconds=recovery_seconds, **common)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS, mutually_exclusive=MUTUALLY_EXCLUSIVE)
    module.run(restore, precheck=check_options)


if __name__ == "__main__":
    main()
