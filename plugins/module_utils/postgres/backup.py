# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Physical backups and WAL archiving of PostgreSQL: reading, deciding, running the tools.

The parsers and decisions here are pure functions (unit-tested without a server):
backup_label and backup history files (the *.backup files the server archives),
backup_manifest, the archive health decision and the plan of a base backup.
The rest runs pg_basebackup and pg_verifybackup through the module, with the
connection in the environment (connection.pg_env), never on the command line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import glob
import json
import os
import re
import shutil
import tarfile
import tempfile
import time

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

# A WAL segment file name: timeline, then log and segment numbers, 8 hex digits each.
WAL_FILE_RE = re.compile(r"^[0-9A-F]{24}$")
# A backup history file: the segment the backup started in, the start offset, ".backup".
HISTORY_FILE_RE = re.compile(r"^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$")
_LOCATION_RE = re.compile(r"^([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)$")

LABEL_FILE = "backup_label"
MANIFEST_FILE = "backup_manifest"
TAR_BASE = "base.tar"
TAR_WAL = "pg_wal.tar"

FORMATS = ("plain", "tar")
WAL_METHODS = ("stream", "fetch")


# -- parsing -------------------------------------------------------------------

def parse_lsn(text):
    """'0/2000028' -> 33554472; None stays None."""
    if text is None:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def parse_pg_time(text):
    """Epoch seconds of a time as PostgreSQL writes it in backup files ('2026-11-22 14:23:34 UTC').

    The server writes it in its log_timezone; only UTC/GMT and numeric offsets are
    unambiguous, so any other zone name gives None (the text is still returned as is).
    """
    if not text:
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)?\s*(UTC|GMT|Z|[+-]\d\d(?::?\d\d)?)$", text.strip())
    if not match:
        return None
    base = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
    zone = match.group(2)
    if zone in ("UTC", "GMT", "Z"):
        return float(base)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
    return float(base - sign * offset)


def iso_time(epoch):
    """Epoch seconds -> '2026-11-22T14:23:34Z'; None stays None."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_backup_label(text):
    """Parse a backup_label or a backup history file (KEY: value lines).

    Returns label, start_lsn, start_wal_file, checkpoint_lsn, backup_method, backup_from,
    start_time, start_timeline and, for history files, stop_lsn, stop_wal_file, stop_time,
    stop_timeline; *_epoch for the times. Unknown keys are ignored; missing ones are None.
    """
    fields = {}
    for line in to_text(text).splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    result = dict(label=fields.get("LABEL"), backup_method=fields.get("BACKUP METHOD"), backup_from=fields.get("BACKUP FROM"))
    for prefix, key in (("start", "START WAL LOCATION"), ("stop", "STOP WAL LOCATION")):
        lsn = wal_file = None
        match = _LOCATION_RE.match(fields.get(key, ""))
        if match:
            lsn, wal_file = match.groups()
        result[prefix + "_lsn"] = lsn
        result[prefix + "_wal_file"] = wal_file
    result["checkpoint_lsn"] = fields.get("CHECKPOINT LOCATION")
    for prefix in ("start", "stop"):
        stamp = fields.get(prefix.upper() + " TIME")
        result[prefix + "_time"] = stamp
        result[prefix + "_epoch"] = parse_pg_time(stamp)
        timeline = fields.get(prefix.upper() + " TIMELINE")
        result[prefix + "_timeline"] = int(timeline) if timeline and timeline.isdigit() else None
    if result["start_lsn"] is None:
        raise ValueError("no 'START WAL LOCATION: <lsn> (file <segment>)' line")
    return result


def parse_manifest(text):
    """Parse a backup_manifest (JSON): checksum, WAL range, timeline, file count and size of the data files."""
    try:
        data = json.loads(to_text(text))
    except ValueError as error:
        raise ValueError("not JSON: {0}".format(error))
    if not isinstance(data, dict) or "PostgreSQL-Backup-Manifest-Version" not in data:
        raise ValueError("no PostgreSQL-Backup-Manifest-Version")
    ranges = data.get("WAL-Ranges") or []
    files = data.get("Files") or []
    return dict(
        manifest_version=data["PostgreSQL-Backup-Manifest-Version"],
        manifest_checksum=data.get("Manifest-Checksum"),
        start_lsn=ranges[0]["Start-LSN"] if ranges else None,
        stop_lsn=ranges[-1]["End-LSN"] if ranges else None,
        timeline=ranges[-1]["Timeline"] if ranges else None,
        file_count=len(files),
        data_size_bytes=sum(int(entry.get("Size", 0)) for entry in files),
    )


# -- decisions -----------------------------------------------------------------

def archive_health(settings, archiver, status, max_age_seconds):
    """Decide whether WAL archiving works. Pure.

    settings -- archive_mode, archive_command_set, archive_library, in_recovery
    archiver -- the pg_stat_archiver row, with last_archived_epoch, last_failed_epoch and now_epoch
    status -- ready_count (segments waiting in archive_status) and oldest_ready_epoch
    Returns (healthy, problems): problems are sentences saying what is wrong and why.
    Archiving is healthy when it is configured, no attempt failed after the last success,
    and no segment has waited longer than max_age_seconds. An idle server whose last
    archived segment is old but which has nothing waiting is healthy.
    """
    problems = []
    mode = settings["archive_mode"]
    if mode == "off":
        problems.append("archive_mode is off: no WAL is archived, so no point-in-time restore is possible")
    elif mode == "on" and settings.get("in_recovery"):
        problems.append("archive_mode is 'on' on a server in recovery: it archives nothing until promoted (use 'always' on standbys)")
    if mode != "off" and not settings["archive_command_set"] and not settings.get("archive_library"):
        problems.append("archive_command is empty: completed WAL segments pile up in pg_wal and none is archived")

    now = archiver["now_epoch"]
    last_ok = archiver.get("last_archived_epoch")
    last_failed = archiver.get("last_failed_epoch")
    if last_failed is not None and (last_ok is None or last_failed > last_ok):
        problems.append(
            "the last archive attempt failed: {0} at {1} ({2} failures since the statistics were reset), "
            "and nothing was archived since".format(archiver.get("last_failed_wal"), iso_time(last_failed), archiver.get("failed_count"))
        )
    ready = status.get("ready_count") or 0
    oldest_ready = status.get("oldest_ready_epoch")
    if ready and oldest_ready is not None and now - oldest_ready > max_age_seconds:
        problems.append("{0} WAL segment(s) wait to be archived, the oldest for {1:.0f} s (more than {2} s)".format(
            ready, now - oldest_ready, max_age_seconds))
    if ready and last_ok is not None and now - last_ok > max_age_seconds:
        problems.append("the last successful archive was {0:.0f} s ago (more than {1} s) while {2} segment(s) wait".format(
            now - last_ok, max_age_seconds, ready))
    if last_ok is None and mode != "off" and (ready or last_failed is not None):
        problems.append("no WAL segment has been archived yet")
    return not problems, problems


def plan_base_backup(target, target_state, manifest_ok, fmt, wal_method, label):
    """Plan a base backup. Pure.

    target_state -- 'absent', 'empty' (an existing empty directory), 'backup' (holds a
                    backup_manifest) or 'occupied' (anything else)
    manifest_ok -- for 'backup': whether it verified
    Returns (actions, changed); raises ValueError when the target must not be touched.
    """
    if target_state == "occupied":
        raise ValueError("{0} exists and is not empty: a base backup goes into a new directory, "
                         "never over other files".format(target))
    if target_state == "backup":
        if manifest_ok:
            return [], False
        raise ValueError("{0} already holds a backup that does not verify: remove it or choose another name".format(target))
    actions = []
    if target_state == "absent":
        actions.append("create directory {0}".format(target))
    actions.append("pg_basebackup --format={0} --wal-method={1} --checkpoint=fast --label={2} into {3}".format(
        fmt, wal_method, label, target))
    actions.append("pg_verifybackup {0}".format(target))
    return actions, True


def summarise_backups(records, now, max_age_seconds):
    """Mark each backup usable or not and pick the newest usable one. Pure.

    A backup is usable when its label, manifest and stop time were read without problem
    and verification, when it ran, did not fail.
    """
    backups = []
    for record in records:
        entry = {key: value for key, value in record.items() if not key.endswith("_epoch")}
        entry["usable"] = bool(not record["problems"] and record.get("stop_epoch") is not None and record.get("verified") is not False)
        backups.append((record, entry))
    usable = [(record, entry) for record, entry in backups if entry["usable"]]
    newest = max(usable, key=lambda pair: pair[0]["stop_epoch"]) if usable else None
    age = round(now - newest[0]["stop_epoch"], 1) if newest else None
    return dict(
        backups=[entry for _record, entry in backups],
        newest=newest[1] if newest else None,
        newest_age_seconds=age,
        newest_is_recent=age is not None and age < max_age_seconds,
    )


def basebackup_argv(tool, target, fmt, wal_method, label, progress=False):
    """The pg_basebackup command line: no host, user or password (they travel in the environment)."""
    argv = [tool, "--pgdata", target, "--format", fmt, "--wal-method", wal_method, "--checkpoint", "fast",
            "--label", label, "--no-password"]
    if progress:
        argv.append("--progress")
    return argv


# -- files ---------------------------------------------------------------------

def directory_state(path):
    """'absent', 'empty', 'backup' (a backup_manifest inside) or 'occupied'."""
    if not os.path.lexists(path):
        return "absent"
    if not os.path.isdir(path):
        return "occupied"
    entries = os.listdir(path)
    if not entries:
        return "empty"
    return "backup" if MANIFEST_FILE in entries else "occupied"


def directory_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _read_label_from_tar(tar_path):
    with tarfile.open(tar_path) as archive:
        member = archive.extractfile(LABEL_FILE)
        if member is None:
            raise ValueError("no {0} in {1}".format(LABEL_FILE, tar_path))
        return member.read()


def read_backup(path):
    """Describe the base backup in directory path (plain or tar format) from its own files.

    Returns a dict; 'problems' lists what could not be read. Times come from backup_label;
    the stop is completed later from the archive's history file (complete_stop()).
    """
    record = dict(path=path, name=os.path.basename(path.rstrip("/")), problems=[])
    if os.path.isfile(os.path.join(path, LABEL_FILE)):
        record["format"] = "plain"
        label_source = os.path.join(path, LABEL_FILE)
    elif os.path.isfile(os.path.join(path, TAR_BASE)):
        record["format"] = "tar"
        label_source = os.path.join(path, TAR_BASE)
    else:
        record["format"] = None
        label_source = None
        record["problems"].append("neither backup_label nor base.tar found")
    label = {}
    if label_source:
        try:
            raw = _read_label_from_tar(label_source) if record["format"] == "tar" else open(label_source, "rb").read()
            label = parse_backup_label(raw)
        except (OSError, ValueError, KeyError, tarfile.TarError) as error:
            record["problems"].append("cannot read backup_label: {0}".format(error))
    manifest = {}
    manifest_path = os.path.join(path, MANIFEST_FILE)
    if os.path.isfile(manifest_path):
        try:
            with open(manifest_path, "rb") as handle:
                manifest = parse_manifest(handle.read())
            record["manifest_mtime_epoch"] = os.stat(manifest_path).st_mtime
        except (OSError, ValueError) as error:
            record["problems"].append("cannot read backup_manifest: {0}".format(error))
    else:
        record["problems"].append("no backup_manifest: it cannot be verified")
    record.update(
        label=label.get("label"),
        start_lsn=label.get("start_lsn") or manifest.get("start_lsn"),
        start_wal_file=label.get("start_wal_file"),
        checkpoint_lsn=label.get("checkpoint_lsn"),
        start_time=iso_time(label.get("start_epoch")) or label.get("start_time"),
        start_epoch=label.get("start_epoch"),
        timeline=manifest.get("timeline") or label.get("start_timeline"),
        stop_lsn=manifest.get("stop_lsn"),
        manifest_checksum=manifest.get("manifest_checksum"),
        size_bytes=directory_size(path),
        stop_time=None, stop_epoch=None, stop_time_source=None,
    )
    return record


def read_history_files(archive_dir):
    """The backup history files (*.backup) in a WAL archive directory, parsed, keyed by start LSN."""
    found = {}
    for path in sorted(glob.glob(os.path.join(archive_dir, "*.backup"))):
        if not HISTORY_FILE_RE.match(os.path.basename(path)):
            continue
        try:
            with open(path, "rb") as handle:
                entry = parse_backup_label(handle.read())
        except (OSError, ValueError):
            continue
        entry["history_file"] = os.path.basename(path)
        found[entry["start_lsn"]] = entry
    return found


def complete_stop(record, history):
    """Fill stop_time (the earliest point a restore from this backup can reach).

    From the archive's backup history file when there is one for the backup's start LSN
    (exact, written by the server); otherwise the time backup_manifest was written,
    which pg_basebackup does after the backup stopped: a bound never earlier than the stop.
    """
    entry = history.get(record.get("start_lsn")) if record.get("start_lsn") else None
    if entry and entry.get("stop_epoch") is not None:
        record.update(stop_time=iso_time(entry["stop_epoch"]), stop_epoch=entry["stop_epoch"], stop_time_source="history_file",
                      stop_lsn=record.get("stop_lsn") or entry.get("stop_lsn"), history_file=entry["history_file"])
    elif record.get("manifest_mtime_epoch") is not None:
        record.update(stop_time=iso_time(record["manifest_mtime_epoch"]), stop_epoch=record["manifest_mtime_epoch"],
                      stop_time_source="manifest_mtime")
    return record


def newest_wal_segment(archive_dir):
    """(name, mtime epoch) of the newest complete WAL segment in an archive directory, or (None, None)."""
    names = [name for name in os.listdir(archive_dir) if WAL_FILE_RE.match(name)]
    if not names:
        return None, None
    # Names order by timeline, then position; the highest is the newest.
    newest = max(names)
    return newest, os.stat(os.path.join(archive_dir, newest)).st_mtime


# -- tools ---------------------------------------------------------------------

def find_tool(module, name, bin_dir=None, server_major=None):
    """Path of a PostgreSQL client tool.

    bin_dir when given; else the Debian/Ubuntu directory of the server's major version
    (/usr/lib/postgresql/<major>/bin), else the PATH. Raises RunbookError when not found.
    """
    if bin_dir:
        candidate = os.path.join(bin_dir, name)
        if os.access(candidate, os.X_OK):
            return candidate
        raise RunbookError("find", name, "it is not in bin_dir {0}".format(bin_dir))
    if server_major:
        candidate = "/usr/lib/postgresql/{0}/bin/{1}".format(server_major, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = module.get_bin_path(name)
    if found:
        return found
    raise RunbookError("find", name, "it is not on the PATH nor in /usr/lib/postgresql/{0}/bin; set bin_dir".format(server_major or "<major>"))


def _tool_env(env):
    update = dict(env)
    update["LC_ALL"] = "C"
    return update


def run_basebackup(module, argv, env):
    """Run pg_basebackup; raise RunbookError with its stderr (which never holds the password) on failure."""
    rc, out, err = module.run_command(argv, environ_update=_tool_env(env))
    if rc != 0:
        raise RunbookError("take a base backup with", "pg_basebackup", (err or out).strip() or "exit {0}".format(rc))
    return out, err


def verify_backup(module, tool, path, fmt):
    """Run pg_verifybackup on a backup; return (verified, message).

    PostgreSQL 15's pg_verifybackup reads only plain-format backups, so a tar backup is
    unpacked into a temporary directory next to it, verified against its manifest, and removed.
    """
    if fmt == "plain":
        return _run_verify(module, [tool, path])
    scratch = tempfile.mkdtemp(prefix=".verify-", dir=os.path.dirname(path.rstrip("/")))
    try:
        with tarfile.open(os.path.join(path, TAR_BASE)) as archive:
            _extract(archive, scratch)
        wal_tar = os.path.join(path, TAR_WAL)
        if os.path.isfile(wal_tar):
            wal_dir = os.path.join(scratch, "pg_wal")
            if not os.path.isdir(wal_dir):
                os.makedirs(wal_dir)
            with tarfile.open(wal_tar) as archive:
                _extract(archive, wal_dir)
        return _run_verify(module, [tool, "--manifest-path", os.path.join(path, MANIFEST_FILE), scratch])
    except (OSError, tarfile.TarError) as error:
        return False, "cannot unpack {0}: {1}".format(path, error)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _extract(archive, dest):
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, filter="fully_trusted")  # our own backup, may hold symlinks (tablespaces)
    else:
        archive.extractall(dest)


def _run_verify(module, argv):
    rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
    message = (out + err).strip()
    lines = message.splitlines()
    if len(lines) > 20:
        message = "\n".join(lines[:20] + ["... {0} more lines".format(len(lines) - 20)])
    return rc == 0, message
