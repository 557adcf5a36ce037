# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import io

import pytest

from botocore.exceptions import ClientError

from ansible_collections.sre.runbooks.plugins.module_utils.postgres import logical
from ansible_collections.sre.runbooks.plugins.modules import pg_logical_backup_info
from ansible_collections.sre.runbooks.plugins.modules.pg_logical_backup_info import age_seconds

BUCKET = "backups"
WRITTEN = datetime.datetime(2026, 11, 22, 14, 24, 0, tzinfo=datetime.timezone.utc)
SERVER = dict(server_version="15.10", server_version_num=150010, encoding="UTF8")
TABLES = [dict(schema="public", name="t", rows=3)]
NIGHT = 1795312800.0  # 2026-11-22 02:00:00 UTC


class ListingS3:
    """A bucket of objects for listing: {key: bytes}; pages of two keys, as S3 pages of 1000."""

    def __init__(self, objects):
        self.objects = objects

    def head_bucket(self, Bucket):
        if Bucket != BUCKET:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")

    def get_object(self, Bucket, Key):  # pylint: disable=unused-argument
        return {"Body": io.BytesIO(self.objects[Key])}

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket, Prefix):  # pylint: disable=unused-argument
        keys = sorted(key for key in self.objects if key.startswith(Prefix))
        for start in range(0, len(keys), 2):
            yield {"Contents": [dict(Key=key, Size=len(self.objects[key]), LastModified=WRITTEN) for key in keys[start:start + 2]]}


def backup(objects, key, database, finished, kind="backup", size=100):
    objects[key] = b"x" * size
    objects[key + ".manifest.json"] = logical.manifest_json(logical.build_manifest(
        kind, key, "ab" * 32, 100, database, SERVER, "15.10", finished - 10, finished, TABLES)).encode()


@pytest.fixture
def s3(monkeypatch):
    objects = {}
    backup(objects, "pg/app/app-1.dump", "app", NIGHT)
    backup(objects, "pg/app/app-2.dump", "app", NIGHT + 86400)
    backup(objects, "pg/app/app-3.dump", "app", NIGHT + 2 * 86400, size=99)  # truncated: unusable
    backup(objects, "pg/evidence/app.dump", "app", NIGHT + 3 * 86400, kind="evidence")
    backup(objects, "pg/crm/crm-1.dump", "crm", NIGHT + 4 * 86400)
    objects["pg/app/app-4.dump"] = b"upload cut short"
    objects["pg/notes.txt"] = b"not a backup"
    objects["pg/broken.dump.manifest.json"] = b"{"
    client = ListingS3(objects)
    monkeypatch.setattr(pg_logical_backup_info, "connect_s3", lambda module: client)
    return client


def test_lists_newest_first_and_finds_the_latest_backup_of_a_database(run_module, s3, monkeypatch):  # pylint: disable=unused-argument
    monkeypatch.setattr(pg_logical_backup_info.time, "time", lambda: NIGHT + 86400 + 3600)
    result = run_module(pg_logical_backup_info.main, dict(bucket=BUCKET, prefix="pg/", database="app", region="us-east-1")).result
    assert result["changed"] is False
    assert [(b["key"], b["kind"], b["usable"]) for b in result["backups"]] == [
        ("pg/evidence/app.dump", "evidence", True), ("pg/app/app-3.dump", "backup", False),
        ("pg/app/app-2.dump", "backup", True), ("pg/app/app-1.dump", "backup", True)]
    assert result["latest"]["key"] == "pg/app/app-2.dump"
    assert result["latest_age_seconds"] == 3600.0
    assert result["latest"]["last_modified"] == "2026-11-22T14:24:00Z"
    assert "99 bytes" in result["backups"][1]["problems"][0]
    assert result["incomplete"] == ["pg/app/app-4.dump"]
    assert "tables" not in result["latest"]


def test_all_databases_and_unreadable_manifests(run_module, s3):  # pylint: disable=unused-argument
    result = run_module(pg_logical_backup_info.main, dict(bucket=BUCKET, prefix="pg/", include_tables=True, region="us-east-1")).result
    assert result["latest"]["key"] == "pg/crm/crm-1.dump" and result["latest"]["tables"] == TABLES
    [broken] = [b for b in result["backups"] if b["key"] == "pg/broken.dump"]
    assert broken["usable"] is False and "not JSON" in broken["problems"][0]


def test_nothing_found_is_no_latest(run_module, s3):  # pylint: disable=unused-argument
    result = run_module(pg_logical_backup_info.main, dict(bucket=BUCKET, prefix="elsewhere/", region="us-east-1")).result
    assert result["backups"] == [] and result["latest"] is None and result["latest_age_seconds"] is None


def test_a_missing_bucket_fails(run_module, s3):  # pylint: disable=unused-argument
    outcome = run_module(pg_logical_backup_info.main, dict(bucket="nope", region="us-east-1"))
    assert outcome.rc == 1 and "the bucket does not exist" in outcome.result["msg"]


def test_age():
    assert age_seconds("2026-11-22T02:00:00Z", NIGHT + 90) == 90.0
    assert age_seconds(None, NIGHT) is None
