#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_logical_backup
short_description: Dump a PostgreSQL database with pg_dump into S3, with a checksum manifest
version_added: 0.1.0
description:
  - Dumps the database O(login_db) with C(pg_dump --format=custom) into a temporary file under O(work_dir), computes
    its SHA-256 while reading it in chunks, and uploads it to the S3 bucket O(bucket) as O(object), by default
    C(<prefix><database>/<database>-<UTC time>.dump).
  - The SHA-256 is stored in the object's metadata (C(x-amz-meta-sha256)) and, with the size, the database, the server
    and C(pg_dump) versions, the dump's start and end time and the exact row count of every table, in a sidecar
    manifest object C(<object>.manifest.json). The manifest is written last, so its presence marks a complete backup;
    M(sre.runbooks.pg_logical_restore) verifies a download against it and the restored tables against its counts.
  - The row counts are exact and belong to the dump. A C(REPEATABLE READ) transaction exports its snapshot, counts
    every table in it and stays open while C(pg_dump --snapshot) dumps that very snapshot.
  - Declarative when O(object) is given. A key already holding a complete backup (its manifest agrees with the object's
    size and checksum metadata) is left alone (C(changed=false)); a key holding an incomplete backup of this module is
    replaced; any other object at that key is refused. Without O(object) every run takes a new backup named after the time.
  - Refuses, before dumping anything, a bucket that does not exist or cannot be read.
  - The connection options reach C(pg_dump) through the environment (E(PGHOST), E(PGPASSWORD), ...),
    so the password is never on a command line.
  - When the upload fails the objects it wrote are deleted again; the temporary file is always removed.
options:
  bucket:
    description:
      - Name of the S3 bucket the backup goes into. It must exist.
    type: str
    required: true
  prefix:
    description:
      - Prefix of the default object key, taken literally; end it with C(/) to make it a folder, for example V(postgres/).
      - Ignored when O(object) is given.
    type: str
    default: ''
  object:
    description:
      - Key of the dump in O(bucket); its manifest is C(<object>.manifest.json).
      - When not given, C(<prefix><database>/<database>-<UTC time>.dump), so that every run takes a new backup.
    type: str
    aliases: [ key ]
  work_dir:
    description:
      - Directory on the managed host where the dump is written before the upload, in a private temporary
        directory that is always removed. It needs room for the whole dump.
      - By default the system's temporary directory (E(TMPDIR), else C(/tmp)).
    type: path
  bin_dir:
    description:
      - Directory holding C(pg_dump).
      - By default C(/usr/lib/postgresql/<server major version>/bin) when it exists, otherwise the E(PATH).
    type: path
attributes:
  check_mode:
    support: full
    details: Reads the server, the tables and the bucket and object; plans the backup, dumps and uploads nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Needs C(s3:ListBucket) (the bucket check), C(s3:GetObject) and C(s3:PutObject) on the keys, and C(s3:DeleteObject)
    to remove a failed upload. The role logging in must be able to read every table it dumps.
  - The manifest counts ordinary tables (partitions included) outside the system schemas that are not members of an
    extension; materialized views are left out, as a restore refreshes them from the restored tables.
  - Streaming C(pg_dump) straight into S3 would save the temporary file but would not give a checksum before the
    upload, nor a retryable multipart upload; the file is written to O(work_dir) instead.
seealso:
  - module: sre.runbooks.pg_logical_backup_info
  - module: sre.runbooks.pg_logical_restore
  - module: sre.runbooks.pg_base_backup
    description: Physical backups, for point-in-time restores.
  - name: pg_dump
    description: The PostgreSQL tool this module runs.
    link: https://www.postgresql.org/docs/current/app-pgdump.html
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Dump the orders database into S3 before the migration
  sre.runbooks.pg_logical_backup:
    login_host: db.example.com
    login_user: backup
    login_db: orders
    region: eu-west-1
    bucket: acme-db-backups
    prefix: postgres/
    work_dir: /var/tmp
  environment:
    PGPASSWORD: "{{ backup_password }}"
  register: dump

- name: Show what was stored
  ansible.builtin.debug:
    msg: "s3://{{ dump.bucket }}/{{ dump.key }}: {{ dump.size_bytes }} bytes, sha256 {{ dump.sha256 }}, {{ dump.total_rows }} rows"

- name: Take the change's backup under a fixed name (a second run leaves it alone)
  sre.runbooks.pg_logical_backup:
    login_db: orders
    bucket: acme-db-backups
    object: "changes/CHG-1042/orders.dump"
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: success
  type: str
  sample: acme-db-backups
key:
  description: Key of the dump.
  returned: success
  type: str
  sample: postgres/orders/orders-20261122T142334Z.dump
manifest_key:
  description: Key of its manifest.
  returned: success
  type: str
  sample: postgres/orders/orders-20261122T142334Z.dump.manifest.json
database:
  description: The database dumped.
  returned: success
  type: str
  sample: orders
sha256:
  description: SHA-256 of the dump; V(null) in check mode.
  returned: success
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size_bytes:
  description: Size of the dump in bytes; V(null) in check mode.
  returned: success
  type: int
  sample: 31457280
tables:
  description: Every table whose rows the dump holds, with its exact row count (V(null) in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    schema:
      description: Schema.
      type: str
    name:
      description: Table name.
      type: str
    rows:
      description: Row count in the dump's snapshot.
      type: int
table_count:
  description: Number of tables.
  returned: success
  type: int
total_rows:
  description: Rows in all tables; V(null) in check mode.
  returned: success
  type: int
server_version:
  description: Version of the PostgreSQL server.
  returned: success
  type: str
  sample: "15.10"
pg_dump_version:
  description: Version of C(pg_dump).
  returned: success, except in check mode
  type: str
  sample: "15.10"
started_at:
  description: When C(pg_dump) started, ISO 8601 in UTC.
  returned: success, except in check mode
  type: str
  sample: "2026-11-22T14:23:34Z"
finished_at:
  description: When C(pg_dump) finished, ISO 8601 in UTC.
  returned: success, except in check mode
  type: str
  sample: "2026-11-22T14:23:51Z"
duration_seconds:
  description: Seconds from the start of the dump to the end of the upload; V(null) when no dump was taken.
  returned: success
  type: float
  sample: 21.4
throughput_bytes_per_second:
  description: RV(size_bytes) divided by RV(duration_seconds); V(null) when no dump was taken.
  returned: success
  type: float
  sample: 1469966.4
timings:
  description: Seconds spent dumping, computing the checksum and uploading; V(null) when no dump was taken.
  returned: success
  type: dict
  sample: {dump_seconds: 17.1, checksum_seconds: 0.2, upload_seconds: 4.1}
commands:
  description: The commands the module ran (in check mode, would run). They hold no password.
  returned: success
  type: list
  elements: str
  sample:
    - >-
      /usr/lib/postgresql/15/bin/pg_dump --format=custom --no-password --dbname orders
      --file /var/tmp/.sre-pg-logical-x1/orders.dump --snapshot 00000003-0000001B-1
actions:
  description: What the module did, or in check mode would do; empty when the backup was already there.
  returned: success
  type: list
  elements: str
queries:
  description: The SQL statements the module ran.
  returned: success
  type: list
  elements: str
"""

import os
import shutil
import tempfile
import time

from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_REQUIRED_LIBS, aws_argument_spec, get_boto3_client
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres import logical
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import find_tool
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    pg_env,
    postgres_argument_spec,
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(aws_argument_spec())
    spec.update(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        object=dict(type="str", aliases=["key"]),
        work_dir=dict(type="path"),
        bin_dir=dict(type="path"),
    )
    return spec


def option_problems(params):
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    if not params.get("login_db"):
        problems.append("login_db (or PGDATABASE) must name the database to dump")
    if not params.get("bucket"):
        problems.append("bucket must name the S3 bucket to upload to")
    problems += logical.key_problems(params.get("object"))
    if params.get("prefix", "").startswith("/"):
        problems.append("prefix must not start with '/', got {0!r}".format(params["prefix"]))
    if params.get("work_dir") and not os.path.isdir(params["work_dir"]):
        problems.append("work_dir {0} is not a directory on this host".format(params["work_dir"]))
    return problems


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("back up", "database {0}".format(module.params.get("login_db")), "; ".join(problems))


class Clients:
    """The PostgreSQL connection and the S3 client of one run."""

    def __init__(self, pg, s3):
        self.pg = pg
        self.s3 = s3

    def close(self):
        self.pg.close()


def connect_clients(module):
    s3 = get_boto3_client(module, "s3")
    return Clients(connect(module), s3)


def _manifest_fields(manifest):
    tables = manifest["tables"]
    return dict(sha256=manifest["sha256"], size_bytes=manifest["size_bytes"], tables=tables, table_count=len(tables),
                total_rows=sum(t["rows"] for t in tables), pg_dump_version=manifest.get("pg_dump_version"),
                started_at=manifest.get("started_at"), finished_at=manifest.get("finished_at"))


def take_backup(module, clients):
    params = module.params
    s3 = clients.s3
    db = QueryRecorder(clients.pg, describe_target(params), module.check_mode)
    server = db.read(logical.SERVER_SQL)[0]
    database = server["database"]
    env = pg_env(params)  # raises before anything runs when a connect_params key cannot travel
    bucket = params["bucket"]
    logical.require_bucket(s3, bucket)
    key = params["object"] or logical.default_key(params["prefix"], database, time.time())
    url = logical.s3_url(bucket, key)
    state, manifest, problems = logical.read_backup_object(s3, bucket, key)
    try:
        actions, changed = logical.plan_backup(bucket, key, state, problems, database)
    except ValueError as error:
        raise RunbookError("back up database {0} to".format(database), url, error)
    common = dict(bucket=bucket, key=key, manifest_key=logical.manifest_key(key), database=database,
                  server_version=server["server_version"], queries=db.queries)
    before = dict(key=key, state=state)
    after = dict(key=key, state="complete")
    idle = dict(duration_seconds=None, throughput_bytes_per_second=None, timings=None)
    if not changed:
        return module.result(changed=False, actions=actions, before=before, after=after, commands=[],
                             **dict(common, **dict(idle, **_manifest_fields(manifest))))

    tool = find_tool(module, "pg_dump", params["bin_dir"], server["server_version_num"] // 10000)
    if module.check_mode:
        tables = [dict(table, rows=None) for table in logical.read_tables(db)]
        planned = os.path.join(params["work_dir"] or tempfile.gettempdir(), ".sre-pg-logical-<random>", os.path.basename(key))
        argv = logical.pg_dump_argv(tool, planned, database, "<exported snapshot>")
        return module.result(changed=True, actions=actions, before=before, after=after, commands=[logical.command_text(argv)],
                             sha256=None, size_bytes=None, tables=tables, table_count=len(tables), total_rows=None, **dict(common, **idle))

    pg_dump_version = logical.tool_version(module, tool)
    work = tempfile.mkdtemp(prefix=".sre-pg-logical-", dir=params["work_dir"])
    path = os.path.join(work, os.path.basename(key))
    writing = False
    try:
        begun = time.monotonic()
        dump = logical.dump_database(module, db, env, tool, path, database)
        dumped = time.monotonic()
        sha256, size = logical.sha256_file(path)
        hashed = time.monotonic()
        manifest = logical.build_manifest("backup", key, sha256, size, database, server, pg_dump_version,
                                          dump["started"], dump["finished"], dump["tables"])
        writing = True
        logical.upload_dump(s3, bucket, key, path, sha256)
        logical.confirm_upload(s3, bucket, key, sha256, size)
        logical.upload_manifest(s3, bucket, key, manifest)
        uploaded = time.monotonic()
    except RunbookError as error:
        if not writing:
            raise
        # Nothing half written stays: without its manifest a dump is no backup.
        left = logical.delete_objects(s3, bucket, [logical.manifest_key(key), key])
        done = "the objects written were deleted again" if not left else "could not delete {0}: delete them by hand".format(", ".join(left))
        raise RunbookError(error.action, error.obj, "{0}; {1}".format(error.cause_text, done), **error.details)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    duration = uploaded - begun
    return module.result(
        changed=True, actions=actions, before=before, after=dict(after, sha256=sha256), commands=[logical.command_text(dump["argv"])],
        duration_seconds=round(duration, 3), throughput_bytes_per_second=round(size / duration, 1) if duration > 0 else None,
        timings=dict(dump_seconds=round(dumped - begun, 3), checksum_seconds=round(hashed - dumped, 3), upload_seconds=round(uploaded - hashed, 3)),
        **dict(common, **_manifest_fields(manifest)))


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS + AWS_REQUIRED_LIBS)
    module.run(take_backup, connect=connect_clients, precheck=check_options)


if __name__ == "__main__":
    main()
