# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""pg_logical_restore: the option checks, and the undo paths a healthy server never takes.

The restore steps run against a recorder that fails the statement a test names, so the
swap's rollback and the clean-up after a failed pg_restore are exercised without a server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.postgres import logical
from ansible_collections.sre.runbooks.plugins.modules import pg_logical_restore
from ansible_collections.sre.runbooks.plugins.modules.pg_logical_restore import Restore, option_problems

SHA = "ab" * 32
BACKUP = dict(key="pg/app/app-1.dump", sha256=SHA, size_bytes=100, database="app",
              tables=[dict(schema="public", name="t", rows=3)])
PROPS = dict(owner="restorer", encoding="UTF8", tablespace="pg_default", default_privileges=True,
             props=dict(datcollate="C", datctype="C", datlocprovider="c", datconnlimit=-1))


def params(tmp_path, **overrides):
    base = dict(login_host="db.example.com", login_user="restorer", login_password="pw", login_db="postgres", bucket="backups",
                prefix="pg/", object=None, database="app", target_db="app_copy", clean=False, evidence_dir=None, evidence_object=None,
                jobs=2, no_owner=False, no_privileges=False, analyze=True, work_dir=str(tmp_path), bin_dir=None)
    base.update(overrides)
    return base


def test_good_options_have_no_problems(tmp_path):
    assert option_problems(params(tmp_path)) == []
    assert option_problems(params(tmp_path, clean=True, evidence_dir=str(tmp_path / "ev"))) == []
    assert option_problems(params(tmp_path, database=None, object="pg/app/app-1.dump", clean=True, evidence_object="ev/app.dump")) == []


@pytest.mark.parametrize("overrides, words", [
    (dict(database=None), "one of object (a backup's key) and database"),
    (dict(clean=True), "set evidence_dir, evidence_object or both"),
    (dict(jobs=0), "jobs must be between 1 and 64"),
    (dict(target_db=""), "target_db must be a database name"),
    (dict(target_db="x" * 64), "target_db is longer than 63 bytes"),
    (dict(database=None, object="k.dump", evidence_object="k.dump"), "evidence_object must not be the backup"),
    (dict(work_dir="/no/such/dir"), "work_dir /no/such/dir is not a directory"),
])
def test_bad_options_are_refused(tmp_path, overrides, words):
    [problem] = option_problems(params(tmp_path, **overrides))
    assert words in problem


def test_an_evidence_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    [problem] = option_problems(params(tmp_path, clean=True, evidence_dir=str(tmp_path / "file")))
    assert "exists and is not a directory" in problem


def test_refused_before_connecting(run_module, monkeypatch):
    def refuse(module):
        raise AssertionError("connected despite bad options")

    monkeypatch.setattr(pg_logical_restore, "connect_clients", refuse)
    outcome = run_module(pg_logical_restore.main, dict(bucket="b", target_db="app", database="app", clean=True, region="us-east-1"))
    assert outcome.rc == 1
    assert outcome.result["msg"].startswith("Failed to restore into database app: clean=true replaces target_db")


class FailingRecorder:
    """Records statements like QueryRecorder and raises on the first one containing `fail_on`."""

    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.queries = []

    def write(self, sql, params=None):  # pylint: disable=unused-argument
        self.queries.append(sql)
        if self.fail_on and self.fail_on in sql:
            raise RunbookError("run query on", "PostgreSQL", "database \"app\" is being accessed by other users")

    def read(self, sql, params=None):  # pylint: disable=unused-argument
        self.queries.append(sql)
        return []


class FakeModule:
    def __init__(self, p):
        self.params = p
        self.check_mode = False
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def comment_of(statement):
    """The marker in a COMMENT ON DATABASE ... IS '...' statement."""
    assert statement.startswith("COMMENT ON DATABASE "), statement
    return logical.parse_marker(statement.split(" IS '", 1)[1][:-1].replace("''", "'"))


def make_restore(tmp_path, monkeypatch, fail_on=None, pg_restore_fails=False, target="app", **overrides):
    restore = Restore.__new__(Restore)
    restore.module = FakeModule(params(tmp_path, target_db=target, **overrides))
    restore.params = restore.module.params
    restore.maint = FailingRecorder(fail_on)
    restore.bucket = "backups"
    restore.target = target
    restore.timings = {}
    restore.login_user = "restorer"

    def run_tool(module, argv, env, action, obj):  # pylint: disable=unused-argument
        if pg_restore_fails:
            raise RunbookError(action, obj, 'pg_restore: error: could not execute query: ERROR:  role "billing" does not exist')
        return "", ""

    monkeypatch.setattr(logical, "run_tool", run_tool)
    monkeypatch.setattr(Restore, "verify_restored", lambda self, name, backup: list(backup["tables"]))
    return restore


def test_a_swap_refused_by_the_server_is_rolled_back_and_the_replacement_dropped(tmp_path, monkeypatch):
    restore = make_restore(tmp_path, monkeypatch, fail_on='RENAME TO "app_sre_replaced_', clean=True, evidence_dir=str(tmp_path))
    scratch, aside = logical.side_names("app", SHA)
    with pytest.raises(RunbookError) as caught:
        restore.restore_into("replace", scratch, scratch, None, aside, BACKUP, ["pg_restore"], dict(props=PROPS))
    message = str(caught.value)
    assert "is being accessed by other users" in message
    assert message.endswith("database {0}, created for this restore, was dropped again; database app was not touched".format(scratch))
    written = restore.maint.queries
    assert written[written.index("BEGIN") + 2] == "ROLLBACK"
    assert written[-1] == 'DROP DATABASE IF EXISTS "{0}"'.format(scratch)
    assert not [sql for sql in written if sql.startswith('DROP DATABASE') and '"app"' in sql]


def test_a_swap_keeps_the_replaced_database_when_it_cannot_be_dropped(tmp_path, monkeypatch):
    scratch, aside = logical.side_names("app", SHA)
    restore = make_restore(tmp_path, monkeypatch, fail_on='DROP DATABASE "{0}"'.format(aside), clean=True, evidence_dir=str(tmp_path))
    tables = restore.restore_into("replace", scratch, scratch, None, aside, BACKUP, ["pg_restore"], dict(props=PROPS))
    assert tables == BACKUP["tables"]
    written = restore.maint.queries
    assert written[written.index("BEGIN"):written.index("BEGIN") + 4] == [
        "BEGIN", 'ALTER DATABASE "app" RENAME TO "{0}"'.format(aside), 'ALTER DATABASE "{0}" RENAME TO "app"'.format(scratch), "COMMIT"]
    [warning] = restore.module.warnings
    assert "kept as {0}".format(aside) in warning


def test_a_failed_pg_restore_into_a_new_database_drops_it(tmp_path, monkeypatch):
    restore = make_restore(tmp_path, monkeypatch, pg_restore_fails=True, target="app_copy")
    with pytest.raises(RunbookError) as caught:
        restore.restore_into("create", "app_copy", "s", None, "a", BACKUP, ["pg_restore"], dict(props=None))
    assert 'role "billing" does not exist' in str(caught.value)
    assert str(caught.value).endswith("database app_copy, created for this restore, was dropped again")
    assert restore.maint.queries[0] == 'CREATE DATABASE "app_copy" TEMPLATE template0'
    assert restore.maint.queries[-1] == 'DROP DATABASE IF EXISTS "app_copy"'


def test_a_failed_restore_into_an_existing_empty_database_says_what_is_left(tmp_path, monkeypatch):
    restore = make_restore(tmp_path, monkeypatch, pg_restore_fails=True, target="app_copy")
    with pytest.raises(RunbookError) as caught:
        restore.restore_into("into_empty", "app_copy", "s", None, "a", BACKUP, ["pg_restore"], dict(props=PROPS))
    assert "was empty before and now holds part of the backup" in str(caught.value)
    assert not [sql for sql in restore.maint.queries if sql.startswith(("DROP", "CREATE"))]
    marker = comment_of(restore.maint.queries[0])
    assert marker["state"] == "restoring" and marker["created"] is False


def test_a_recreate_drops_only_the_half_restored_database(tmp_path, monkeypatch):
    restore = make_restore(tmp_path, monkeypatch, target="app_copy")
    restore.restore_into("recreate", "app_copy", "s", None, "a", BACKUP, ["pg_restore"], dict(props=None))
    assert restore.maint.queries[:2] == ['DROP DATABASE "app_copy"', 'CREATE DATABASE "app_copy" TEMPLATE template0']
    restored = comment_of(restore.maint.queries[-1])
    assert restored["state"] == "restored" and restored["key"] == BACKUP["key"] and restored["sha256"] == SHA and restored["created"] is True
