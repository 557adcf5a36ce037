# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""pg_logical_backup end to end against a scripted PostgreSQL connection and an in-memory S3.

What moto and a healthy server do not play: a failing manifest upload (the dump written
before it must be deleted again) and the order of the refusals.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import os

import pytest

from botocore.exceptions import ClientError

from ansible_collections.sre.runbooks.plugins.module_utils.postgres import logical
from ansible_collections.sre.runbooks.plugins.modules import pg_logical_backup
from ansible_collections.sre.runbooks.plugins.modules.pg_logical_backup import option_problems

SECRET = "s3cret-password"
BUCKET = "backups"
DUMP = b"PGDMP" + bytes(range(256)) * 64
TABLES = [("public", "customers", 2000), ("sales", "orders", 5000)]


def not_found(operation):
    return ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, operation)


class FakeS3:
    """An S3 client holding objects in memory; `fail` maps an operation name to the error it raises."""

    def __init__(self, buckets=(BUCKET,), fail=None):
        self.buckets = set(buckets)
        self.objects = {}
        self.fail = fail or {}
        self.calls = []

    def _call(self, name):
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def head_bucket(self, Bucket):
        self._call("head_bucket")
        if Bucket not in self.buckets:
            raise not_found("HeadBucket")

    def head_object(self, Bucket, Key):
        self._call("head_object")
        if (Bucket, Key) not in self.objects:
            raise not_found("HeadObject")
        data, metadata = self.objects[(Bucket, Key)]
        return dict(ContentLength=len(data), Metadata=dict(metadata))

    def get_object(self, Bucket, Key):
        self._call("get_object")
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no such key"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)][0])}

    def put_object(self, Bucket, Key, Body, Metadata=None, ContentType=None):  # pylint: disable=unused-argument
        self._call("put_object")
        self.objects[(Bucket, Key)] = (bytes(Body), dict(Metadata or {}))

    def upload_file(self, Filename, Bucket, Key, ExtraArgs=None):
        self._call("upload_file")
        with open(Filename, "rb") as handle:
            self.objects[(Bucket, Key)] = (handle.read(), dict((ExtraArgs or {}).get("Metadata") or {}))

    def delete_object(self, Bucket, Key):
        self._call("delete_object")
        self.objects.pop((Bucket, Key), None)


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.rows = []
        self.rowcount = -1

    @staticmethod
    def mogrify(sql, params):
        return sql % tuple("'%s'" % value for value in params)

    def execute(self, sql, params=None):  # pylint: disable=unused-argument
        self.conn.executed.append(sql)
        self.rows = self.conn.answer(sql)

    def fetchall(self):
        return self.rows

    def close(self):
        pass


class FakeConnection:
    """Answers the statements pg_logical_backup sends, as PostgreSQL 15 would for a database `app`."""

    def __init__(self):
        self.executed = []
        self.closed = False

    def cursor(self, **_kwargs):
        return FakeCursor(self)

    def close(self):
        self.closed = True

    @staticmethod
    def answer(sql):
        if "current_setting('server_version')" in sql:
            return [dict(database="app", server_version="15.10", server_version_num=150010, encoding="UTF8", database_size_bytes=8000000)]
        if "pg_export_snapshot" in sql:
            return [dict(snapshot="00000003-0000001B-1")]
        if sql.startswith("SELECT n.nspname AS schema"):
            return [dict(schema=schema, name=name) for schema, name, _rows in TABLES]
        if "count(*) AS n" in sql:
            return [dict(i=index, n=rows) for index, (_schema, _name, rows) in enumerate(TABLES)]
        return []


@pytest.fixture
def tools(monkeypatch):
    """pg_dump stands in: it writes DUMP to its --file and records its argv and environment."""
    runs = []

    def run_tool(module, argv, env, action, obj):  # pylint: disable=unused-argument
        runs.append((argv, env))
        with open(argv[argv.index("--file") + 1], "wb") as handle:
            handle.write(DUMP)
        return "", ""

    monkeypatch.setattr(logical, "run_tool", run_tool)
    monkeypatch.setattr(logical, "tool_version", lambda module, tool: "15.10")
    monkeypatch.setattr(pg_logical_backup, "find_tool", lambda module, name, bin_dir=None, major=None: "/usr/lib/postgresql/15/bin/" + name)
    return runs


@pytest.fixture
def clients(monkeypatch):
    state = dict(s3=FakeS3(), pg=FakeConnection())
    monkeypatch.setattr(pg_logical_backup, "connect_clients", lambda module: pg_logical_backup.Clients(state["pg"], state["s3"]))
    return state


def args(tmp_path, **overrides):
    base = dict(login_host="db.example.com", login_user="backup", login_password=SECRET, login_db="app", bucket=BUCKET,
                prefix="postgres/", region="us-east-1", work_dir=str(tmp_path))
    base.update(overrides)
    return base


def test_takes_the_dump_in_the_counted_snapshot_and_uploads_it_with_checksum_and_manifest(run_module, tools, clients, tmp_path):
    outcome = run_module(pg_logical_backup.main, args(tmp_path, object="nightly/app.dump"))
    result = outcome.result
    assert outcome.rc == 0 and result["changed"] is True
    sha = hashlib.sha256(DUMP).hexdigest()
    data, metadata = clients["s3"].objects[(BUCKET, "nightly/app.dump")]
    assert data == DUMP and metadata == {"sha256": sha, "sre-runbooks-format": "pg_logical_backup/1"}
    manifest = json.loads(clients["s3"].objects[(BUCKET, "nightly/app.dump.manifest.json")][0])
    assert manifest["sha256"] == result["sha256"] == sha and manifest["size_bytes"] == result["size_bytes"] == len(DUMP)
    assert [(t["schema"], t["name"], t["rows"]) for t in manifest["tables"]] == TABLES
    assert result["total_rows"] == 7000 and result["table_count"] == 2
    # The manifest goes up after the dump: its presence marks a complete backup.
    assert clients["s3"].calls.index("upload_file") < clients["s3"].calls.index("put_object")
    [(argv, env)] = tools
    assert argv[argv.index("--snapshot") + 1] == "00000003-0000001B-1"
    executed = clients["pg"].executed
    assert executed.index("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") < executed.index("COMMIT")
    assert any("count(*)" in sql for sql in executed[:executed.index("COMMIT")])
    assert env["PGPASSWORD"] == SECRET and not [arg for arg in argv if SECRET in arg]
    assert SECRET not in json.dumps(result)
    assert os.listdir(str(tmp_path)) == []  # the temporary dump is gone


def test_check_mode_dumps_and_uploads_nothing(run_module, tools, clients, tmp_path):
    outcome = run_module(pg_logical_backup.main, dict(args(tmp_path), _ansible_check_mode=True))
    result = outcome.result
    assert outcome.rc == 0 and result["changed"] is True
    assert result["key"].startswith("postgres/app/app-") and result["sha256"] is None
    assert "<exported snapshot>" in result["commands"][0]
    assert [t["rows"] for t in result["tables"]] == [None, None]
    assert tools == [] and clients["s3"].objects == {}
    assert not [sql for sql in clients["pg"].executed if "count(*)" in sql or "BEGIN" in sql]


def test_a_missing_bucket_is_refused_before_dumping(run_module, tools, clients, tmp_path):
    clients["s3"] = FakeS3(buckets=())
    outcome = run_module(pg_logical_backup.main, args(tmp_path))
    assert outcome.rc == 1
    assert outcome.result["msg"].startswith("Failed to use S3 bucket backups: the bucket does not exist")
    assert tools == [] and clients["s3"].objects == {}


def test_a_failed_manifest_upload_deletes_the_dump_again(run_module, tools, clients, tmp_path):
    clients["s3"] = FakeS3(fail={"put_object": ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}},
                                                           "PutObject")})
    outcome = run_module(pg_logical_backup.main, args(tmp_path, object="nightly/app.dump"))
    assert outcome.rc == 1
    message = outcome.result["msg"]
    assert message.startswith("Failed to upload the manifest to s3://backups/nightly/app.dump.manifest.json")
    assert message.endswith("the objects written were deleted again")
    assert outcome.result["error"]["details"]["code"] == "SlowDown"
    assert len(tools) == 1 and clients["s3"].objects == {}
    assert os.listdir(str(tmp_path)) == []


def test_a_complete_backup_at_the_key_is_left_alone(run_module, tools, clients, tmp_path):
    assert run_module(pg_logical_backup.main, args(tmp_path, object="nightly/app.dump")).result["changed"] is True
    tools[:] = []
    again = run_module(pg_logical_backup.main, args(tmp_path, object="nightly/app.dump")).result
    assert again["changed"] is False and again["actions"] == [] and again["commands"] == []
    assert again["sha256"] == hashlib.sha256(DUMP).hexdigest() and again["duration_seconds"] is None
    assert tools == []


def test_good_options_have_no_problems(tmp_path):
    assert option_problems(args(tmp_path)) == []
    assert option_problems(args(tmp_path, object="a/b.dump", work_dir=None)) == []


@pytest.mark.parametrize("overrides, words", [
    (dict(login_db=None), "login_db (or PGDATABASE) must name the database"),
    (dict(object="x.manifest.json"), "must name the dump, not its manifest"),
    (dict(prefix="/abs/"), "prefix must not start with '/'"),
    (dict(work_dir="/no/such/dir"), "work_dir /no/such/dir is not a directory"),
])
def test_bad_options_are_refused(tmp_path, overrides, words):
    [problem] = option_problems(args(tmp_path, **overrides))
    assert words in problem


def test_bad_options_are_refused_before_connecting(run_module, monkeypatch, tmp_path):
    def refuse(module):
        raise AssertionError("connected despite bad options")

    monkeypatch.setattr(pg_logical_backup, "connect_clients", refuse)
    outcome = run_module(pg_logical_backup.main, args(tmp_path, object="/abs.dump"))
    assert outcome.rc == 1 and "must be an object key" in outcome.result["msg"]
