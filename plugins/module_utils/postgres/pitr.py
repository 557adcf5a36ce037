# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Self-hosted point-in-time restore of PostgreSQL: bounds, plan, recovery settings, evidence.

Pure functions (unit-tested without a server) decide:
- what the WAL archive can reach (segments in a row from the backup's start, the last
  transaction time found in them by pg_waldump, restore points);
- whether a target can be reached from a base backup and that archive (refused before
  anything is touched when it cannot);
- the recovery settings written into the new data directory;
- from the restored server's log and its replay position, whether the target was reached.
The rest copies the backup, runs pg_waldump and pg_ctl (as the server's OS account
when the module runs as root) and reads the server back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import json
import os
import re
import time

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import WAL_FILE_RE, iso_time, parse_lsn

TARGET_TYPES = ("time", "lsn", "name", "immediate", "latest")
MARKER_FILE = "sre_runbooks_restore.json"
LOG_FILE = "sre_runbooks_restore.log"
ORIGINAL_AUTO_CONF = "postgresql.auto.conf.pre-restore"
AUTO_CONF = "postgresql.auto.conf"
BLOCK_BEGIN = "# BEGIN sre.runbooks pg_pitr_restore"
BLOCK_END = "# END sre.runbooks pg_pitr_restore"
# Left behind by the server the backup was taken from; a copy must not inherit them.
STALE_FILES = ("postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal")

_TIME_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)?$"
)
_WALDUMP_RE = re.compile(
    r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: (COMMIT|ABORT) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (UTC|[+-]\d\d(?::?\d\d)?)"
)
_RESTORE_POINT_RE = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: RESTORE_POINT (.*)$")
_LOG_PATTERNS = (
    ("stop", re.compile(r"recovery stopping (before|after) (commit|abort) of transaction (\d+), time (.+)$")),
    ("stop_restore_point", re.compile(r'recovery stopping at restore point "(.*)", time (.+)$')),
    ("stop_lsn", re.compile(r'recovery stopping (before|after) WAL location \(LSN\) "([0-9A-F]+/[0-9A-F]+)"')),
    ("stop_consistency", re.compile(r"recovery stopping after reaching consistency")),
    ("last_transaction", re.compile(r"last completed transaction was at log time (.+)$")),
    ("redo_done", re.compile(r"redo done at ([0-9A-F]+/[0-9A-F]+)")),
    ("new_timeline", re.compile(r"selected new timeline ID: (\d+)")),
    ("complete", re.compile(r"archive recovery complete")),
    ("consistent", re.compile(r"consistent recovery state reached at ([0-9A-F]+/[0-9A-F]+)")),
)
_FATAL_RE = re.compile(r"\b(FATAL|PANIC):\s+(.*)$")


# -- times and WAL positions ---------------------------------------------------

def parse_time(text):
    """Epoch seconds (float) of an ISO 8601 or PostgreSQL timestamp; a missing zone means UTC.

    Raises ValueError for anything else, so a target is never guessed.
    """
    match = _TIME_RE.match(to_text(text).strip())
    if not match:
        raise ValueError("{0!r} is not a time like 2026-11-22T14:23:34Z or '2026-11-22 14:23:34.5+00'".format(text))
    day, clock, fraction, zone = match.groups()
    base = calendar.timegm(time.strptime("{0} {1}".format(day, clock), "%Y-%m-%d %H:%M:%S")) + float(fraction or 0)
    if zone in (None, "Z", "UTC", "GMT"):
        return base
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
    return base - sign * offset


def pg_time(epoch):
    """Epoch -> '2026-11-22 14:23:34.123456+00', the form written into recovery_target_time."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def iso_precise(epoch):
    """Epoch -> '2026-11-22T14:23:34.123456Z'; None stays None."""
    if epoch is None:
        return None
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_lsn(value):
    """33554472 -> '0/2000028'."""
    return "{0:X}/{1:X}".format(value >> 32, value & 0xFFFFFFFF)


def segment_of(name):
    """WAL file name -> (timeline, log, seg), the three 8-digit hex fields."""
    return int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)


def segments_per_log(segment_size):
    """How many segments one 'log' (4 GiB of WAL) holds: 256 for the default 16 MiB."""
    return 0x100000000 // segment_size


def segment_number(name, segment_size):
    """The absolute segment number of a WAL file name."""
    _tli, log, seg = segment_of(name)
    return log * segments_per_log(segment_size) + seg


def segment_name(timeline, number, segment_size):
    per_log = segments_per_log(segment_size)
    return "{0:08X}{1:08X}{2:08X}".format(timeline, number // per_log, number % per_log)


def segment_end_lsn(name, segment_size):
    """The first LSN after a WAL segment (where the next one starts)."""
    return (segment_number(name, segment_size) + 1) * segment_size


def archived_run(names, start_name, segment_size):
    """The segments of start_name's timeline present without a gap from start_name on. Pure.

    names -- file names found in the archive. Returns the list (empty when start_name
    itself is missing): recovery replays segments in order and stops at the first gap.
    """
    timeline = segment_of(start_name)[0]
    present = set(name for name in names if WAL_FILE_RE.match(name) and segment_of(name)[0] == timeline)
    run = []
    number = segment_number(start_name, segment_size)
    while True:
        name = segment_name(timeline, number, segment_size)
        if name not in present:
            return run
        run.append(name)
        number += 1


def parse_waldump(text):
    """From pg_waldump output (run with TZ=UTC): (transactions, restore_points). Pure.

    transactions -- [(lsn int, epoch, 'COMMIT'|'ABORT')], the records a time target is compared with
    restore_points -- [(lsn int, name)]
    """
    transactions, points = [], []
    for line in to_text(text).splitlines():
        match = _WALDUMP_RE.search(line)
        if match:
            lsn, kind, stamp, zone = match.groups()
            transactions.append((parse_lsn(lsn), parse_time("{0}{1}".format(stamp, "" if zone == "UTC" else zone)), kind))
            continue
        match = _RESTORE_POINT_RE.search(line)
        if match:
            points.append((parse_lsn(match.group(1)), match.group(2).strip()))
    return transactions, points


# -- deciding ------------------------------------------------------------------

def describe_target(target_type, value):
    if target_type in ("immediate", "latest"):
        return target_type
    return "{0} {1}".format(target_type, value)


def earliest_time(backup):
    """The earliest time target a restore from the backup can reach, or None.

    Backup history files give the stop time to the second, so the second after it:
    a target inside the stop's own second could fall before the backup is consistent.
    """
    stop = backup.get("stop_epoch")
    if stop is None:
        return None
    return float(int(stop) + 1)


def check_target(target_type, value, backup, archive, inclusive=True):
    """Refuse a target that recovery from this backup and archive cannot reach. Pure.

    backup -- stop_epoch, stop_lsn (text), start_wal_file, name
    archive -- segments (the run from the backup's start), end_lsn (int, end of the last one),
               last_transaction_epoch, first_transaction_epoch_after_backup, restore_points [(lsn, name)]
    Returns the normalised target value (epoch for time, int for lsn, name, or None);
    raises ValueError naming the bound that was crossed.
    """
    if not archive["segments"]:
        raise ValueError("the WAL archive has no segment {0}, where backup {1} starts: without it nothing can be "
                         "replayed".format(backup["start_wal_file"], backup["name"]))
    stop_lsn = parse_lsn(backup["stop_lsn"]) if backup.get("stop_lsn") else None
    if stop_lsn is not None and archive["end_lsn"] < stop_lsn:
        raise ValueError("the WAL archive ends at {0}, before backup {1} is consistent ({2}): the segments up to its end are "
                         "not archived yet".format(format_lsn(archive["end_lsn"]), backup["name"], backup["stop_lsn"]))
    if target_type == "time":
        earliest = earliest_time(backup)
        if earliest is not None and value < earliest:
            raise ValueError("target time {0} is earlier than the end of base backup {1} (stopped {2}; the earliest target is {3}): "
                             "restore from an older backup".format(
                                 iso_precise(value), backup["name"], iso_time(backup["stop_epoch"]), iso_time(earliest)))
        last = archive.get("last_transaction_epoch")
        # Recovery to a time stops at the first transaction record at or past the target;
        # with none in the archive it would replay everything and then fail.
        if last is None or last < value:
            raise ValueError("target time {0} is later than the last archived transaction ({1}): the WAL after it is not in the "
                             "archive, so recovery could not stop there".format(iso_precise(value), iso_precise(last) if last else "none found"))
        return value
    if target_type == "lsn":
        if stop_lsn is not None and value < stop_lsn:
            raise ValueError("target LSN {0} is before the end of base backup {1} ({2})".format(format_lsn(value), backup["name"], backup["stop_lsn"]))
        if value > archive["end_lsn"]:
            raise ValueError("target LSN {0} is past the end of the archived WAL ({1})".format(format_lsn(value), format_lsn(archive["end_lsn"])))
        return value
    if target_type == "name":
        points = [lsn for lsn, name in archive.get("restore_points") or [] if name == value]
        if not points:
            raise ValueError("restore point {0!r} is not in the archived WAL after backup {1}".format(value, backup["name"]))
        if stop_lsn is not None and max(points) < stop_lsn:
            raise ValueError("restore point {0!r} was created before base backup {1} ended".format(value, backup["name"]))
        return value
    return None


def plan_restore(data_dir, dir_state, marker, wanted, port, port_state, running):
    """Plan the restore. Pure.

    dir_state -- 'absent', 'empty', 'restored' (holds our marker) or 'occupied'
    marker -- the marker read from data_dir (for 'restored'), wanted -- the marker this run would write
    port_state -- 'free', 'ours' (the restored server of data_dir) or 'taken'
    running -- whether the server of data_dir runs
    Returns (actions, mode): mode 'restore', 'start' or 'none'. Raises ValueError to refuse.
    """
    if dir_state == "occupied":
        raise ValueError("data_dir {0} exists and holds other files: a restore goes into a new directory and never over a "
                         "cluster (the live one included)".format(data_dir))
    if dir_state == "restored":
        differences = [key for key in ("backup_start_lsn", "target_type", "target") if marker.get(key) != wanted.get(key)]
        if differences:
            raise ValueError("data_dir {0} holds a restore of backup {1} to {2}, not of {3} to {4}: choose another data_dir or "
                             "remove it".format(data_dir, marker.get("backup"), marker.get("target_text"), wanted["backup"], wanted["target_text"]))
        if not marker.get("verified"):
            raise ValueError("data_dir {0} holds a restore that was never verified (an interrupted run): remove it and run "
                             "again".format(data_dir))
        if port_state == "taken":
            raise ValueError("port {0} is in use by another server".format(port))
        if running:
            return [], "none"
        return ["start the restored server in {0} on port {1}".format(data_dir, port)], "start"
    if port_state != "free":
        raise ValueError("port {0} is already in use: the restored server needs a free port".format(port))
    actions = []
    if dir_state == "absent":
        actions.append("create directory {0}".format(data_dir))
    return actions, "restore"


def recovery_settings(archive_dir, target_type, target_value, inclusive, port, listen_addresses, restore_command=None):
    """The settings appended to postgresql.auto.conf of the restored cluster (an ordered list of pairs). Pure."""
    command = restore_command or 'cp "{0}/%f" "%p"'.format(archive_dir.rstrip("/"))
    settings = [
        ("port", str(port)),
        ("listen_addresses", listen_addresses),
        # never a second server archiving into (and corrupting) the live server's archive
        ("archive_mode", "off"),
        ("restore_command", command),
        ("recovery_target_timeline", "current"),
        ("recovery_target_action", "promote"),
        # the evidence is read from the log: in English, whatever the source's lc_messages
        ("lc_messages", "C"),
        ("log_timezone", "UTC"),
    ]
    if target_type == "time":
        settings.append(("recovery_target_time", pg_time(target_value)))
    elif target_type == "lsn":
        settings.append(("recovery_target_lsn", format_lsn(target_value)))
    elif target_type == "name":
        settings.append(("recovery_target_name", target_value))
    elif target_type == "immediate":
        settings.append(("recovery_target", "immediate"))
    if target_type in ("time", "lsn"):
        settings.append(("recovery_target_inclusive", "on" if inclusive else "off"))
    return settings


def quote_setting(value):
    return "'" + to_text(value).replace("'", "''") + "'"


def render_settings(settings):
    lines = [BLOCK_BEGIN]
    lines.extend("{0} = {1}".format(key, quote_setting(value)) for key, value in settings)
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


def parse_recovery_log(text):
    """What the restored server wrote about its recovery (the last run's, when it started twice). Pure."""
    evidence = dict(stop=None, last_transaction_epoch=None, redo_done_lsn=None, new_timeline=None, complete=False,
                    consistent_lsn=None, fatal=[])
    for line in to_text(text).splitlines():
        if "starting point-in-time recovery" in line or "starting archive recovery" in line:
            evidence.update(stop=None, last_transaction_epoch=None, redo_done_lsn=None, new_timeline=None, complete=False, fatal=[])
        fatal = _FATAL_RE.search(line)
        if fatal:
            evidence["fatal"].append(fatal.group(2).strip())
        for key, pattern in _LOG_PATTERNS:
            match = pattern.search(line)
            if not match:
                continue
            if key == "stop":
                evidence["stop"] = dict(kind="transaction", position=match.group(1), record=match.group(2),
                                        xid=int(match.group(3)), epoch=_safe_time(match.group(4)), line=match.group(0))
            elif key == "stop_restore_point":
                evidence["stop"] = dict(kind="restore_point", name=match.group(1), epoch=_safe_time(match.group(2)), line=match.group(0))
            elif key == "stop_lsn":
                evidence["stop"] = dict(kind="lsn", position=match.group(1), lsn=match.group(2), line=match.group(0))
            elif key == "stop_consistency":
                evidence["stop"] = dict(kind="consistency", line=match.group(0))
            elif key == "last_transaction":
                evidence["last_transaction_epoch"] = _safe_time(match.group(1))
            elif key == "redo_done":
                evidence["redo_done_lsn"] = match.group(1)
            elif key == "new_timeline":
                evidence["new_timeline"] = int(match.group(1))
            elif key == "complete":
                evidence["complete"] = True
            elif key == "consistent":
                evidence["consistent_lsn"] = match.group(1)
    return evidence


def _safe_time(text):
    try:
        return parse_time(text)
    except ValueError:
        return None


def check_reached(target_type, target_value, inclusive, evidence, server, last_segment_start_lsn=None):
    """Whether the restored server reached the target, from its own evidence. Pure.

    evidence -- parse_recovery_log() of its log
    server -- in_recovery, last_replay_epoch (pg_last_xact_replay_timestamp), replay_lsn (int)
    last_segment_start_lsn -- for 'latest': where the last segment seen in the archive starts
    Returns (reached, problems).
    """
    problems = []
    if server.get("in_recovery"):
        problems.append("the server is still in recovery")
    if not evidence["complete"]:
        problems.append("the log has no 'archive recovery complete'")
    stop = evidence["stop"]
    last = server.get("last_replay_epoch")
    if last is None:
        last = evidence.get("last_transaction_epoch")
    if target_type == "time":
        if not stop or stop["kind"] != "transaction":
            problems.append("the log does not say that recovery stopped at a transaction near the target time")
        else:
            past = stop["epoch"] is not None and (stop["epoch"] > target_value if stop["position"] == "before" else stop["epoch"] <= target_value)
            if not past:
                problems.append("recovery stopped {0} a transaction of {1}, which does not bound target {2}".format(
                    stop["position"], iso_precise(stop["epoch"]), iso_precise(target_value)))
        if last is not None and (last > target_value or (not inclusive and last == target_value)):
            problems.append("the last replayed transaction ({0}) is past the target {1}".format(iso_precise(last), iso_precise(target_value)))
    elif target_type == "lsn":
        if not stop or stop["kind"] != "lsn":
            problems.append("the log does not say that recovery stopped at WAL location {0}".format(format_lsn(target_value)))
        replay = server.get("replay_lsn")
        if replay is not None and replay < target_value:
            problems.append("replay reached only {0}, before the target {1}".format(format_lsn(replay), format_lsn(target_value)))
    elif target_type == "name":
        if not stop or stop["kind"] != "restore_point" or stop.get("name") != target_value:
            problems.append("the log does not say that recovery stopped at restore point {0!r}".format(target_value))
    elif target_type == "immediate":
        if not stop or stop["kind"] != "consistency":
            problems.append("the log does not say that recovery stopped on reaching consistency")
    elif target_type == "latest":
        if stop:
            problems.append("recovery stopped early ({0}) although the target is the end of the archive".format(stop["line"]))
        replay = server.get("replay_lsn")
        if last_segment_start_lsn is not None and replay is not None and replay < last_segment_start_lsn:
            problems.append("replay ended at {0}, before the last archived segment (from {1})".format(
                format_lsn(replay), format_lsn(last_segment_start_lsn)))
    return not problems, problems


def check_expectation(spec, rows):
    """Compare a verification query's rows with what it expects. Pure. Returns (passed, problem or None)."""
    if spec.get("expected_rows") is not None and len(rows) != spec["expected_rows"]:
        return False, "returned {0} rows, expected {1}".format(len(rows), spec["expected_rows"])
    if spec.get("expected") is not None:
        if not rows:
            return False, "returned no row, expected {0!r}".format(spec["expected"])
        actual = list(rows[0].values())[0]
        if to_text(actual) != to_text(spec["expected"]):
            return False, "returned {0!r}, expected {1!r}".format(to_text(actual), to_text(spec["expected"]))
    return True, None


# -- files ---------------------------------------------------------------------

def dir_state(path):
    """'absent', 'empty', 'restored' (our marker inside) or 'occupied'."""
    if not os.path.lexists(path):
        return "absent"
    if not os.path.isdir(path) or os.path.islink(path):
        return "occupied"
    entries = os.listdir(path)
    if not entries:
        return "empty"
    return "restored" if MARKER_FILE in entries else "occupied"


def read_marker(path):
    try:
        with open(os.path.join(path, MARKER_FILE), "rb") as handle:
            return json.loads(to_text(handle.read()))
    except (OSError, ValueError):
        return {}


def write_marker(path, marker, uid=None, gid=None):
    target = os.path.join(path, MARKER_FILE)
    scratch = target + ".tmp"
    with open(scratch, "w") as handle:
        json.dump(marker, handle, indent=2, sort_keys=True)
    os.chmod(scratch, 0o600)
    if uid is not None:
        os.chown(scratch, uid, gid)
    os.rename(scratch, target)
