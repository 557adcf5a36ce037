# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import basebackup_argv
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import pg_env
from ansible_collections.sre.runbooks.plugins.modules.pg_base_backup import option_problems

SECRET = "s3cret-password"


def params(tmp_path, **overrides):
    base = dict(
        login_user="backup", login_password=SECRET, login_host="db.example.com", login_unix_socket="", login_port=5433,
        login_db=None, ssl_mode="require", ca_cert=None, ssl_cert=None, ssl_key=None, connect_params={},
        root=str(tmp_path / "backups"), name="nightly", label=None, archive_dir=None,
    )
    base.update(overrides)
    return base


def test_the_password_travels_in_the_environment_not_argv(tmp_path):
    p = params(tmp_path)
    argv = basebackup_argv("/usr/lib/postgresql/15/bin/pg_basebackup", "/b/nightly", "plain", "stream", "nightly")
    env = pg_env(p)
    assert env["PGPASSWORD"] == SECRET and env["PGHOST"] == "db.example.com" and env["PGPORT"] == "5433" and env["PGUSER"] == "backup"
    assert not [arg for arg in argv if SECRET in arg or "db.example.com" in arg]
    assert "--no-password" in argv  # never prompt: fail when the environment has no password
    assert argv[argv.index("--checkpoint") + 1] == "fast" and argv[argv.index("--label") + 1] == "nightly"
    assert argv[argv.index("--format") + 1] == "plain" and argv[argv.index("--wal-method") + 1] == "stream"


def test_good_options_have_no_problems(tmp_path):
    assert option_problems(params(tmp_path)) == []
    assert option_problems(params(tmp_path, name=None, label="nightly run 2026-11-22")) == []


@pytest.mark.parametrize("overrides, words", [
    (dict(name="../escape"), "name must be"),
    (dict(name=".."), "name must be"),
    (dict(name="a/b"), "name must be"),
    (dict(label=""), "label must be"),
    (dict(label="x" * 101), "label must be"),
    (dict(label="two\nlines"), "label must be"),
])
def test_bad_options_are_refused(tmp_path, overrides, words):
    [problem] = option_problems(params(tmp_path, **overrides))
    assert words in problem


def test_root_and_archive_dir_must_be_directories(tmp_path):
    (tmp_path / "file").write_text("x")
    problems = option_problems(params(tmp_path, root=str(tmp_path / "file"), archive_dir=str(tmp_path / "missing")))
    assert len(problems) == 2 and "not a directory" in problems[0] and "archive_dir" in problems[1]
