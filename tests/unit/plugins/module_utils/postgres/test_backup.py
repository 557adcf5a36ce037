# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tarfile

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import (
    archive_health,
    complete_stop,
    directory_state,
    parse_backup_label,
    parse_lsn,
    parse_manifest,
    parse_pg_time,
    plan_base_backup,
    read_backup,
    read_history_files,
    summarise_backups,
)

LABEL = (
    "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
    "CHECKPOINT LOCATION: 0/2000060\n"
    "BACKUP METHOD: streamed\n"
    "BACKUP FROM: primary\n"
    "START TIME: 2026-11-22 14:23:34 UTC\n"
    "LABEL: nightly run\n"
    "START TIMELINE: 1\n"
)
HISTORY = LABEL.replace("CHECKPOINT", "STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\nCHECKPOINT") + (
    "STOP TIME: 2026-11-22 14:23:40 UTC\nSTOP TIMELINE: 1\n"
)
MANIFEST = {
    "PostgreSQL-Backup-Manifest-Version": 1,
    "Files": [{"Path": "PG_VERSION", "Size": 3}, {"Path": "global/pg_control", "Size": 8192}],
    "WAL-Ranges": [{"Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100"}],
    "Manifest-Checksum": "ab" * 32,
}
START = 1795357414.0  # 2026-11-22 14:23:34 UTC


def test_parses_a_backup_label():
    label = parse_backup_label(LABEL)
    assert label["label"] == "nightly run"
    assert label["start_lsn"] == "0/2000028" and label["start_wal_file"] == "000000010000000000000002"
    assert label["start_epoch"] == START and label["start_timeline"] == 1
    assert label["stop_lsn"] is None and label["stop_epoch"] is None


def test_parses_a_history_file_with_its_stop():
    entry = parse_backup_label(HISTORY)
    assert entry["stop_lsn"] == "0/2000100" and entry["stop_epoch"] == START + 6 and entry["stop_timeline"] == 1


def test_rejects_a_label_without_start_location():
    with pytest.raises(ValueError):
        parse_backup_label("LABEL: x\n")


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22 14:23:34 UTC", START),
    ("2026-11-22 15:23:34 +01", START),
    ("2026-11-22 09:23:34-05:00", START),
    ("2026-11-22 14:23:34 CET", None),
    ("", None),
])
def test_times_only_with_an_unambiguous_zone(text, expected):
    assert parse_pg_time(text) == expected


def test_parses_a_manifest():
    manifest = parse_manifest(json.dumps(MANIFEST))
    assert manifest["stop_lsn"] == "0/2000100" and manifest["timeline"] == 1
    assert manifest["manifest_checksum"] == "ab" * 32
    assert manifest["file_count"] == 2 and manifest["data_size_bytes"] == 8195


@pytest.mark.parametrize("text", ["not json", json.dumps({"Files": []}), json.dumps([1])])
def test_rejects_what_is_not_a_manifest(text):
    with pytest.raises(ValueError):
        parse_manifest(text)


def test_lsn_order():
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF") and parse_lsn("0/2000028") == 0x2000028


SETTINGS = dict(archive_mode="on", archive_command_set=True, archive_library="", in_recovery=False)
NOW = 10000.0


def archiver(last_ok=NOW - 30, last_failed=None, failed_count=0):
    return dict(now_epoch=NOW, last_archived_epoch=last_ok, last_failed_epoch=last_failed, last_failed_wal="0000000100000000000000AA" if last_failed else None,
                failed_count=failed_count)


def test_healthy_when_recent_and_nothing_waits():
    assert archive_health(SETTINGS, archiver(), dict(ready_count=0), 300) == (True, [])


def test_an_idle_server_with_an_old_last_archive_is_healthy():
    assert archive_health(SETTINGS, archiver(last_ok=NOW - 86400), dict(ready_count=0), 300)[0] is True


def test_a_failure_after_the_last_success_is_unhealthy():
    healthy, problems = archive_health(SETTINGS, archiver(last_failed=NOW - 5, failed_count=3), dict(ready_count=1, oldest_ready_epoch=NOW - 20), 300)
    assert healthy is False and "failed" in problems[0] and "3 failures" in problems[0]


def test_a_failure_before_the_last_success_is_history():
    assert archive_health(SETTINGS, archiver(last_failed=NOW - 100, failed_count=1), dict(ready_count=0), 300)[0] is True


def test_a_segment_waiting_too_long_is_unhealthy():
    healthy, problems = archive_health(SETTINGS, archiver(last_ok=NOW - 900), dict(ready_count=4, oldest_ready_epoch=NOW - 600), 300)
    assert healthy is False and any("4 WAL segment(s) wait" in p for p in problems)


@pytest.mark.parametrize("settings, words", [
    (dict(SETTINGS, archive_mode="off"), "archive_mode is off"),
    (dict(SETTINGS, archive_command_set=False), "archive_command is empty"),
    (dict(SETTINGS, in_recovery=True), "in recovery"),
])
def test_configuration_problems(settings, words):
    healthy, problems = archive_health(settings, archiver(), dict(ready_count=0), 300)
    assert healthy is False and any(words in p for p in problems)


def test_an_archive_library_replaces_the_command():
    settings = dict(SETTINGS, archive_command_set=False, archive_library="basic_archive")
    assert archive_health(settings, archiver(), dict(ready_count=0), 300)[0] is True


def test_plan_new_backup():
    actions, changed = plan_base_backup("/b/n", "absent", False, "plain", "stream", "n")
    assert changed is True and actions[0] == "create directory /b/n" and "pg_basebackup" in actions[1] and "pg_verifybackup" in actions[2]


def test_plan_into_an_empty_directory_does_not_create_it():
    actions, changed = plan_base_backup("/b/n", "empty", False, "tar", "fetch", "n")
    assert changed is True and not actions[0].startswith("create")


def test_plan_existing_verified_backup_is_done():
    assert plan_base_backup("/b/n", "backup", True, "plain", "stream", "n") == ([], False)


@pytest.mark.parametrize("state, ok, words", [("occupied", False, "not empty"), ("backup", False, "does not verify")])
def test_plan_refuses(state, ok, words):
    with pytest.raises(ValueError, match=words):
        plan_base_backup("/b/n", state, ok, "plain", "stream", "n")


def write_plain_backup(path, manifest=True):
    path.mkdir(parents=True)
    (path / "backup_label").write_text(LABEL)
    (path / "PG_VERSION").write_text("15\n")
    if manifest:
        (path / "backup_manifest").write_text(json.dumps(MANIFEST))
    return path


def write_tar_backup(path):
    path.mkdir(parents=True)
    label = path.parent / "label-src"
    label.write_text(LABEL)
    with tarfile.open(str(path / "base.tar"), "w") as archive:
        archive.add(str(label), arcname="backup_label")
    (path / "backup_manifest").write_text(json.dumps(MANIFEST))
    return path


def test_directory_states(tmp_path):
    assert directory_state(str(tmp_path / "none")) == "absent"
    (tmp_path / "empty").mkdir()
    assert directory_state(str(tmp_path / "empty")) == "empty"
    assert directory_state(str(write_plain_backup(tmp_path / "b"))) == "backup"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    assert directory_state(str(tmp_path / "other")) == "occupied"
    (tmp_path / "file").write_text("x")
    assert directory_state(str(tmp_path / "file")) == "occupied"


@pytest.mark.parametrize("writer, fmt", [(write_plain_backup, "plain"), (write_tar_backup, "tar")])
def test_reads_plain_and_tar_backups(tmp_path, writer, fmt):
    record = read_backup(str(writer(tmp_path / "b")))
    assert record["format"] == fmt and record["problems"] == []
    assert record["label"] == "nightly run" and record["start_lsn"] == "0/2000028" and record["stop_lsn"] == "0/2000100"
    assert record["start_time"] == "2026-11-22T14:23:34Z" and record["manifest_checksum"] == "ab" * 32


def test_stop_time_from_the_archive_history_file(tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "000000010000000000000002.00000028.backup").write_text(HISTORY)
    (archive / "000000010000000000000002").write_text("")
    record = complete_stop(read_backup(str(write_plain_backup(tmp_path / "b"))), read_history_files(str(archive)))
    assert record["stop_time"] == "2026-11-22T14:23:40Z" and record["stop_time_source"] == "history_file"


def test_stop_time_falls_back_to_the_manifest(tmp_path):
    path = write_plain_backup(tmp_path / "b")
    os.utime(str(path / "backup_manifest"), (START + 9, START + 9))
    record = complete_stop(read_backup(str(path)), {})
    assert record["stop_epoch"] == START + 9 and record["stop_time_source"] == "manifest_mtime"


def test_summary_picks_the_newest_usable_backup(tmp_path):
    good = complete_stop(read_backup(str(write_plain_backup(tmp_path / "a"))), {})
    good["verified"] = True
    bad = complete_stop(read_backup(str(write_plain_backup(tmp_path / "b"))), {})
    bad.update(verified=False, stop_epoch=good["stop_epoch"] + 100)
    nomanifest = complete_stop(read_backup(str(write_plain_backup(tmp_path / "c", manifest=False))), {})
    summary = summarise_backups([good, bad, nomanifest], good["stop_epoch"] + 60, 3600)
    assert [b["usable"] for b in summary["backups"]] == [True, False, False]
    assert summary["newest"]["name"] == "a" and summary["newest_age_seconds"] == 60.0 and summary["newest_is_recent"] is True
    assert not any(key.endswith("_epoch") for key in summary["newest"])
    assert summarise_backups([good], good["stop_epoch"] + 7200, 3600)["newest_is_recent"] is False
    assert summarise_backups([], 0, 1) == dict(backups=[], newest=None, newest_age_seconds=None, newest_is_recent=False)
