# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.modules.pg_wal_archive_info import describe_archive_dir

HISTORY = (
    "START WAL LOCATION: 0/{start} (file 00000001000000000000000{seg})\n"
    "STOP WAL LOCATION: 0/{stop} (file 00000001000000000000000{seg})\n"
    "CHECKPOINT LOCATION: 0/{start}\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n"
    "START TIME: 2026-11-22 14:0{seg}:00 UTC\nLABEL: {label}\nSTART TIMELINE: 1\n"
    "STOP TIME: 2026-11-22 14:0{seg}:05 UTC\nSTOP TIMELINE: 1\n"
)


def test_describes_the_archive_directory(tmp_path):
    for name in ("000000010000000000000002", "000000010000000000000003", "000000010000000000000004.partial", "00000002.history"):
        (tmp_path / name).write_text("")
    (tmp_path / "000000010000000000000003.00000028.backup").write_text(HISTORY.format(start="3000028", stop="3000100", seg=3, label="second"))
    (tmp_path / "000000010000000000000002.00000028.backup").write_text(HISTORY.format(start="2000028", stop="2000100", seg=2, label="first"))
    (tmp_path / "junk.backup").write_text("not a history file")
    described = describe_archive_dir(str(tmp_path))
    assert described["newest_wal_file"] == "000000010000000000000003"
    assert described["segment_count"] == 2
    assert [b["label"] for b in described["base_backups"]] == ["first", "second"]
    assert described["base_backups"][0]["stop_time"] == "2026-11-22T14:02:05Z"
    assert described["base_backups"][1]["history_file"] == "000000010000000000000003.00000028.backup"


def test_empty_archive(tmp_path):
    assert describe_archive_dir(str(tmp_path)) == dict(newest_wal_file=None, newest_wal_time=None, segment_count=0, base_backups=[])
