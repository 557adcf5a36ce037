# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres import pitr
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import parse_lsn

SEG = 16 * 1024 * 1024
T0 = pitr.parse_time("2026-12-05T07:00:57Z")

# What pg_waldump printed (TZ=UTC) for one archived segment of the integration cluster.
WALDUMP = """\
rmgr: Heap        len (rec/tot):     59/    59, tx:        728, lsn: 0/03001DC0, prev 0/03001D88, desc: INSERT off 3 flags 0x00
rmgr: Transaction len (rec/tot):     34/    34, tx:        728, lsn: 0/03001E08, prev 0/03001DC0, desc: COMMIT 2026-12-05 06:28:31.430205 UTC
rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/03001E30, prev 0/03001E08, desc: RESTORE_POINT before-3
rmgr: Transaction len (rec/tot):     34/    34, tx:        729, lsn: 0/03001EE0, prev 0/03001E98, desc: ABORT 2026-12-05 06:28:33.857714 UTC
rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: 0/03001F58, prev 0/03001F08, desc: SWITCH
pg_waldump: error: error in WAL record at 0/3001F58: invalid record length at 0/3001F90: wanted 24, got 0
"""

# The restored server's log, as PostgreSQL 15 wrote it in the integration test.
LOG = """\
2026-12-05 06:56:10.718 UTC [11944] LOG:  starting point-in-time recovery to 2026-12-05 06:28:32.638193+00
2026-12-05 06:56:10.834 UTC [11944] LOG:  consistent recovery state reached at 0/2000100
2026-12-05 06:56:10.834 UTC [11944] LOG:  recovery stopping before commit of transaction 729, time 2026-12-05 06:28:33.857714+00
2026-12-05 06:56:10.834 UTC [11944] LOG:  redo done at 0/3001EE0 system usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.05 s
2026-12-05 06:56:10.834 UTC [11944] LOG:  last completed transaction was at log time 2026-12-05 06:28:31.430205+00
2026-12-05 06:56:10.853 UTC [11944] LOG:  selected new timeline ID: 2
2026-12-05 06:56:10.872 UTC [11944] LOG:  archive recovery complete
"""

TARGET = pitr.parse_time("2026-12-05 06:28:32.638193+00")
BACKUP = dict(name="base-1", stop_epoch=pitr.parse_time("2026-12-05T06:28:31Z"), stop_lsn="0/2000100",
              start_wal_file="000000010000000000000002")


def archive(**overrides):
    facts = dict(segments=["000000010000000000000002", "000000010000000000000003"], end_lsn=parse_lsn("0/4000000"),
                 last_transaction_epoch=pitr.parse_time("2026-12-05 06:28:33.857714+00"), restore_points=[(parse_lsn("0/3001E30"), "before-3")])
    facts.update(overrides)
    return facts


@pytest.mark.parametrize("text, expected", [
    ("2026-12-05T07:00:57Z", T0),
    ("2026-12-05 07:00:57", T0),
    ("2026-12-05 08:00:57+01", T0),
    ("2026-12-05 02:30:57-04:30", T0),
    ("2026-12-05 07:00:57.25 UTC", T0 + 0.25),
])
def test_parse_time_accepts_iso_and_postgresql_forms(text, expected):
    assert pitr.parse_time(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "2026-12-05", "07:00:57", "2026-12-05 07:00:57 CET"])
def test_parse_time_refuses_what_it_would_have_to_guess(text):
    with pytest.raises(ValueError):
        pitr.parse_time(text)


def test_pg_time_and_lsn_round_trip():
    assert pitr.parse_time(pitr.pg_time(TARGET)) == pytest.approx(TARGET)
    assert pitr.format_lsn(parse_lsn("1A/3001EE0")) == "1A/3001EE0"


def test_segment_arithmetic_crosses_a_log_boundary():
    assert pitr.segment_name(1, pitr.segment_number("0000000100000000000000FF", SEG) + 1, SEG) == "000000010000000100000000"
    assert pitr.segment_end_lsn("000000010000000000000003", SEG) == parse_lsn("0/4000000")


def test_archived_run_stops_at_the_first_gap_and_ignores_other_timelines():
    names = ["000000010000000000000002", "000000010000000000000003", "000000010000000000000005",
             "000000020000000000000004", "000000010000000000000002.00000028.backup", "00000002.history"]
    assert pitr.archived_run(names, "000000010000000000000002", SEG) == ["000000010000000000000002", "000000010000000000000003"]
    assert pitr.archived_run(names, "000000010000000000000001", SEG) == []


def test_parse_waldump_reads_transactions_and_restore_points():
    transactions, points = pitr.parse_waldump(WALDUMP)
    assert transactions == [(parse_lsn("0/3001E08"), pytest.approx(pitr.parse_time("2026-12-05 06:28:31.430205Z")), "COMMIT"),
                            (parse_lsn("0/3001EE0"), pytest.approx(pitr.parse_time("2026-12-05 06:28:33.857714Z")), "ABORT")]
    assert points == [(parse_lsn("0/3001E30"), "before-3")]


def test_check_target_accepts_reachable_targets():
    assert pitr.check_target("time", TARGET, BACKUP, archive()) == TARGET
    assert pitr.check_target("lsn", parse_lsn("0/3001E08"), BACKUP, archive()) == parse_lsn("0/3001E08")
    assert pitr.check_target("name", "before-3", BACKUP, archive()) == "before-3"
    assert pitr.check_target("latest", None, BACKUP, archive()) is None


@pytest.mark.parametrize("target_type, value, facts, message", [
    ("time", pitr.parse_time("2026-12-05T06:28:31.5Z"), {}, "earlier than the end of base backup base-1"),
    ("time", pitr.parse_time("2026-12-05T06:30:00Z"), {}, "later than the last archived transaction (2026-12-05T06:28:33.857714Z)"),
    ("time", TARGET, {"last_transaction_epoch": None}, "later than the last archived transaction (none found)"),
    ("lsn", parse_lsn("0/2000000"), {}, "before the end of base backup base-1 (0/2000100)"),
    ("lsn", parse_lsn("0/4000001"), {}, "past the end of the archived WAL (0/4000000)"),
    ("name", "nightly", {}, "restore point 'nightly' is not in the archived WAL"),
    ("latest", None, {"segments": []}, "has no segment 000000010000000000000002"),
    ("latest", None, {"end_lsn": parse_lsn("0/2000000")}, "before backup base-1 is consistent"),
])
def test_check_target_refuses_what_recovery_cannot_reach(target_type, value, facts, message):
    with pytest.raises(ValueError, match=None) as caught:
        pitr.check_target(target_type, value, BACKUP, archive(**facts))
    assert message in str(caught.value)


def test_restore_point_older_than_the_backup_is_refused():
    with pytest.raises(ValueError, match="created before base backup base-1 ended"):
        pitr.check_target("name", "old", BACKUP, archive(restore_points=[(parse_lsn("0/1000000"), "old")]))


WANTED = dict(backup="/b/base-1", backup_start_lsn="0/2000028", target_type="time", target="2026-12-05T06:28:32.638193Z",
              target_text="time 2026-12-05T06:28:32.638193Z", verified=False)


def test_plan_restore_into_a_new_directory():
    actions, mode = pitr.plan_restore("/r", "absent", {}, WANTED, 5433, "free", False)
    assert (actions, mode) == (["create directory /r"], "restore")
    assert pitr.plan_restore("/r", "empty", {}, WANTED, 5433, "free", False) == ([], "restore")


def test_plan_restore_is_declarative():
    done = dict(WANTED, verified=True)
    assert pitr.plan_restore("/r", "restored", done, WANTED, 5433, "ours", True) == ([], "none")
    actions, mode = pitr.plan_restore("/r", "restored", done, WANTED, 5433, "free", False)
    assert mode == "start" and actions == ["start the restored server in /r on port 5433"]


@pytest.mark.parametrize("state, marker, port_state, message", [
    ("occupied", {}, "free", "holds other files"),
    ("absent", {}, "taken", "port 5433 is already in use"),
    ("restored", dict(WANTED, target="2026-12-05T06:00:00Z", verified=True), "free", "holds a restore of backup"),
    ("restored", WANTED, "free", "never verified"),
    ("restored", dict(WANTED, verified=True), "taken", "in use by another server"),
])
def test_plan_restore_refuses(state, marker, port_state, message):
    with pytest.raises(ValueError) as caught:
        pitr.plan_restore("/r", state, marker, WANTED, 5433, port_state, False)
    assert message in str(caught.value)


def test_recovery_settings_never_archive_and_promote():
    settings = dict(pitr.recovery_settings("/archive/", "time", TARGET, True, 5433, "127.0.0.1"))
    assert settings["archive_mode"] == "off"
    assert settings["restore_command"] == 'cp "/archive/%f" "%p"'
    assert settings["recovery_target_action"] == "promote"
    assert settings["recovery_target_time"] == "2026-12-05 06:28:32.638193+00"
    assert settings["recovery_target_inclusive"] == "on"
    assert dict(pitr.recovery_settings("/a", "immediate", None, True, 1, "*"))["recovery_target"] == "immediate"
    rendered = pitr.render_settings([("restore_command", "cp '%f'")])
    assert "restore_command = 'cp ''%f'''" in rendered and rendered.startswith(pitr.BLOCK_BEGIN)


def test_parse_recovery_log_and_check_reached():
    evidence = pitr.parse_recovery_log(LOG)
    assert evidence["stop"]["position"] == "before" and evidence["stop"]["xid"] == 729
    assert evidence["new_timeline"] == 2 and evidence["complete"] is True
    server = dict(in_recovery=False, last_replay_epoch=pitr.parse_time("2026-12-05 06:28:31.430205+00"), replay_lsn=parse_lsn("0/3001EE0"))
    assert pitr.check_reached("time", TARGET, True, evidence, server) == (True, [])


def test_check_reached_fails_when_the_evidence_does_not_bound_the_target():
    evidence = pitr.parse_recovery_log(LOG)
    later = dict(in_recovery=False, last_replay_epoch=pitr.parse_time("2026-12-05 06:28:33Z"), replay_lsn=None)
    reached, problems = pitr.check_reached("time", TARGET, True, evidence, later)
    assert reached is False and "past the target" in problems[0]
    reached, problems = pitr.check_reached("name", "before-3", True, evidence, later)
    assert reached is False and "restore point 'before-3'" in problems[-1]
    no_end = pitr.parse_recovery_log(LOG.replace("archive recovery complete", ""))
    assert "no 'archive recovery complete'" in pitr.check_reached("latest", None, True, no_end, {})[1][0]


def test_parse_recovery_log_keeps_the_fatal_lines():
    text = LOG + "2026-12-05 06:56:11.000 UTC [1] FATAL:  recovery ended before configured recovery target was reached\n"
    assert pitr.parse_recovery_log(text)["fatal"] == ["recovery ended before configured recovery target was reached"]


@pytest.mark.parametrize("spec, rows, expected", [
    ({"expected": 4}, [{"count": 4}], (True, None)),
    ({"expected": "4"}, [{"count": 5}], (False, "returned '5', expected '4'")),
    ({"expected_rows": 2}, [{"id": 1}], (False, "returned 1 rows, expected 2")),
    ({"expected": 1}, [], (False, "returned no row, expected 1")),
])
def test_check_expectation(spec, rows, expected):
    assert pitr.check_expectation(spec, rows) == expected


def test_dir_state_and_marker(tmp_path):
    assert pitr.dir_state(str(tmp_path / "new")) == "absent"
    assert pitr.dir_state(str(tmp_path)) == "empty"
    pitr.write_marker(str(tmp_path), WANTED)
    assert pitr.dir_state(str(tmp_path)) == "restored"
    assert pitr.read_marker(str(tmp_path)) == WANTED
    (tmp_path / "PG_VERSION").write_text("15\n")
    (tmp_path / pitr.MARKER_FILE).unlink()
    assert pitr.dir_state(str(tmp_path)) == "occupied"
