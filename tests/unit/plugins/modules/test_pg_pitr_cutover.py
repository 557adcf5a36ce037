# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres import pitr
from ansible_collections.sre.runbooks.plugins.modules import pg_pitr_cutover as cutover

VERIFIED = dict(backup="/b/base-1", target_text="time 2026-12-05T07:00:00Z", verified=True)


def test_plans_the_swap_of_a_verified_restore():
    actions, mode = cutover.plan_cutover("/live", {}, "/restored", VERIFIED, "15", "15", True)
    assert mode == "swap"
    assert actions[0] == "stop the restored server in /restored" and actions[3] == "move /restored to /live"


def test_a_live_directory_already_holding_the_restore_changes_nothing():
    assert cutover.plan_cutover("/live", dict(VERIFIED, cutover=True), "/restored", {}, "15", None, False) == ([], "none")


@pytest.mark.parametrize("live_version, marker, restored_version, same_fs, message", [
    (None, VERIFIED, "15", True, "is not a PostgreSQL data directory"),
    ("15", dict(VERIFIED, verified=False), "15", True, "holds no restore verified"),
    ("15", VERIFIED, "14", True, "the restore is PostgreSQL 14, the live cluster 15"),
    ("15", VERIFIED, "15", False, "different filesystems"),
])
def test_refusals(live_version, marker, restored_version, same_fs, message):
    with pytest.raises(ValueError) as caught:
        cutover.plan_cutover("/live", {}, "/restored", marker, live_version, restored_version, same_fs)
    assert message in str(caught.value)


def test_recovery_settings_are_undone_and_put_back(tmp_path):
    (tmp_path / pitr.ORIGINAL_AUTO_CONF).write_bytes(b"port = 5432\n")
    (tmp_path / pitr.AUTO_CONF).write_bytes(b"port = 5432\n" + pitr.render_settings([("port", "5433"), ("archive_mode", "off")]).encode())
    assert cutover.original_port(str(tmp_path)) == 5432
    replaced = cutover.undo_recovery_settings(str(tmp_path))
    assert (tmp_path / pitr.AUTO_CONF).read_bytes() == b"port = 5432\n"
    assert not (tmp_path / pitr.ORIGINAL_AUTO_CONF).exists()
    cutover.put_back(str(tmp_path), replaced)
    assert b"archive_mode = 'off'" in (tmp_path / pitr.AUTO_CONF).read_bytes()
    assert (tmp_path / pitr.ORIGINAL_AUTO_CONF).read_bytes() == b"port = 5432\n"
