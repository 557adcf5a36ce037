#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_logical_restore
short_description: Restore a logical PostgreSQL backup from S3 with pg_restore, verified by checksum and row counts
version_added: 0.1.0
description:
  - Restores a backup written by M(sre.runbooks.pg_logical_backup), the O(object) given or the latest backup of
    O(database) under O(bucket)/O(prefix), into the database O(target_db) with C(pg_restore --jobs).
  - The dump is downloaded into a temporary directory under O(work_dir) and its SHA-256 computed and compared with
    the manifest's before any database is touched. A mismatch is refused, naming the expected and the actual checksum.
  - After C(pg_restore), the row count of every table is compared with the manifest's; any difference fails the task
    loudly. The restored backup (key and SHA-256) is then recorded in the database's comment (C(COMMENT ON DATABASE)).
  - Declarative. When O(target_db) already holds this backup, as its comment records, and every row count still
    matches the manifest, nothing is done (C(changed=false)) and nothing is downloaded.
  - A missing O(target_db) is created from C(template0). An existing empty one (no tables, schemas, functions, types
    or extensions) is restored into as it is. An existing one that is not empty is refused unless O(clean=true).
  - O(clean=true) replaces the existing O(target_db). It is first dumped as evidence to O(evidence_dir) and/or
    O(evidence_object), one of which is required. The backup is then restored into a new database beside it,
    verified, given the old database's owner, privileges, per-database settings and connection limit, and swapped in
    for it by renaming both in one transaction; the replaced database is dropped afterwards. Until the swap the target
    is left exactly as it was, so any failure before it leaves nothing changed.
  - This is safer than C(pg_restore --clean --if-exists) in place, which drops the objects one by one outside a
    transaction (a failure leaves a half-dropped database), keeps objects that are not in the dump, and cannot drop
    what other objects depend on.
  - A replacement is refused while other sessions are connected to O(target_db), or when the module itself is connected
    to it (O(login_db)). Stop the clients first, for instance with M(sre.runbooks.pg_terminate_backends).
  - When the restore into a database this task created fails, that database is dropped again and the failure says so.
  - The connection options reach C(pg_restore) and C(pg_dump) through the environment (E(PGHOST), E(PGPASSWORD), ...),
    so the password is never on a command line.
options:
  bucket:
    description:
      - Name of the S3 bucket holding the backup.
    type: str
    required: true
  prefix:
    description:
      - Where to look for the latest backup of O(database), taken literally (end it with C(/) for a folder).
    type: str
    default: ''
  object:
    description:
      - Key of the dump to restore. Exactly one of O(object) and O(database) must be given.
    type: str
    aliases: [ key ]
  database:
    description:
      - Restore the latest usable backup of this database (the manifest's database) under O(prefix).
        Evidence dumps are never chosen this way; restore one by its O(object).
      - Exactly one of O(object) and O(database) must be given.
    type: str
  target_db:
    description:
      - Database to restore into.
    type: str
    required: true
  clean:
    description:
      - Replace an existing O(target_db) that is not empty, after dumping it as evidence.
    type: bool
    default: false
  evidence_dir:
    description:
      - Directory on the managed host for the evidence dump of a replaced database, created (0700) when missing;
        the dump is C(<target_db>-<UTC time>.dump) (0600) with its manifest beside it.
      - O(clean=true) requires O(evidence_dir), O(evidence_object) or both.
    type: path
  evidence_object:
    description:
      - Key in O(bucket) for the evidence dump of a replaced database, with a manifest like a backup's, so that
        this module can restore it. An existing object is never overwritten (the restore is refused).
    type: str
  jobs:
    description:
      - Number of concurrent C(pg_restore) jobs (C(--jobs)); each opens a connection.
    type: int
    default: 2
  no_owner:
    description:
      - Do not restore the owners of the objects (C(pg_restore --no-owner)); the role logging in owns them.
    type: bool
    default: false
  no_privileges:
    description:
      - Do not restore the privileges of the objects (C(pg_restore --no-privileges)).
    type: bool
    default: false
  analyze:
    description:
      - Run C(ANALYZE) on the restored database, so that the planner has statistics before clients return.
    type: bool
    default: true
  work_dir:
    description:
      - Directory on the managed host where the dump is downloaded, in a private temporary directory that is always
        removed. It needs room for the whole dump (checked before the download).
      - By default the system's temporary directory (E(TMPDIR), else C(/tmp)).
    type: path
  bin_dir:
    description:
      - Directory holding C(pg_restore) and C(pg_dump).
      - By default C(/usr/lib/postgresql/<server major version>/bin) when it exists, otherwise the E(PATH).
    type: path
attributes:
  check_mode:
    support: full
    details:
      - Reads the backup's manifest and object metadata and the target database; returns the plan and the commands.
      - Downloads nothing, dumps nothing, creates and changes no database.
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - O(login_db) is the database the module connects to for creating, renaming and dropping databases, for example
    V(postgres); it must not be O(target_db) when that is replaced.
  - The role logging in needs C(CREATEDB) and, for a replacement, must own O(target_db) (or be a superuser). Giving the
    replacement another owner needs membership in that role.
  - Security labels on the replaced database and the settings of single roles in it (C(ALTER ROLE ... IN DATABASE ... SET))
    are not carried over; the latter are named in a warning.
  - The comment of O(target_db) holds the restore record; a comment it had before is in the evidence dump.
  - Needs C(s3:ListBucket), C(s3:GetObject), and C(s3:PutObject) for O(evidence_object).
seealso:
  - module: sre.runbooks.pg_logical_backup
  - module: sre.runbooks.pg_logical_backup_info
  - module: sre.runbooks.pg_terminate_backends
  - name: pg_restore
    description: The PostgreSQL tool this module runs.
    link: https://www.postgresql.org/docs/current/app-pgrestore.html
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
- name: Restore last night's backup of orders next to production, for the data recovery
  sre.runbooks.pg_logical_restore:
    login_host: db.example.com
    login_user: restore
    login_db: postgres
    region: eu-west-1
    bucket: acme-db-backups
    prefix: postgres/
    database: orders
    target_db: orders_recovered
    jobs: 4
  environment:
    PGPASSWORD: "{{ restore_password }}"

- name: Put a known good backup back in place of the damaged database, keeping the damage as evidence
  sre.runbooks.pg_logical_restore:
    login_db: postgres
    bucket: acme-db-backups
    object: postgres/orders/orders-20261122T020000Z.dump
    target_db: orders
    clean: true
    evidence_dir: /var/backups/evidence/INC-2291
    evidence_object: evidence/INC-2291/orders.dump
"""

RETURN = r"""
target_db:
  description: The database restored into.
  returned: success
  type: str
  sample: orders_recovered
mode:
  description:
    - V(done) (it already held the backup), V(create) (a new database), V(recreate) (a database half restored by an
      interrupted run, dropped and created again), V(into_empty) (an existing empty database) or V(replace)
      (restored beside the target, then swapped in).
  returned: success
  type: str
  sample: create
backup:
  description: The backup restored, from its manifest.
  returned: success
  type: dict
  contains:
    key:
      description: Key of the dump.
      type: str
    database:
      description: The database it was dumped from.
      type: str
    sha256:
      description: SHA-256 of the dump.
      type: str
    size_bytes:
      description: Size of the dump.
      type: int
    finished_at:
      description: When its dump finished, ISO 8601 in UTC.
      type: str
    kind:
      description: V(backup) or V(evidence).
      type: str
bucket:
  description: The bucket.
  returned: success
  type: str
key:
  description: Key of the dump restored.
  returned: success
  type: str
sha256:
  description: SHA-256 of the dump, as the manifest records and the download was verified against.
  returned: success
  type: str
size_bytes:
  description: Size of the dump.
  returned: success
  type: int
tables:
  description: The tables of the backup with the row counts read in the restored database; V(null) in check mode before a restore.
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
      description: Rows in the restored table, equal to the manifest's.
      type: int
evidence:
  description: The evidence dump of the replaced database; V(null) when nothing was replaced.
  returned: success
  type: dict
  contains:
    path:
      description: The dump in O(evidence_dir).
      type: str
    object:
      description: Its key in O(bucket).
      type: str
    sha256:
      description: SHA-256 of the evidence dump.
      type: str
    size_bytes:
      description: Its size.
      type: int
duration_seconds:
  description: Seconds from the start of the download to the end of the restore; V(null) when nothing was restored.
  returned: success
  type: float
throughput_bytes_per_second:
  description: The dump's size divided by RV(duration_seconds); V(null) when nothing was restored.
  returned: success
  type: float
timings:
  description: Seconds spent downloading, verifying the checksum, dumping the evidence, restoring and verifying the rows.
  returned: success, when a restore ran
  type: dict
commands:
  description: The commands the module ran (in check mode, would run). They hold no password.
  returned: success
  type: list
  elements: str
  sample:
    - "/usr/lib/postgresql/15/bin/pg_restore --no-password --exit-on-error --jobs 2 --dbname orders_recovered /tmp/.sre-pg-logical-x1/backup.dump"
actions:
  description: What the module did, or in check mode would do; empty when the target already held the backup.
  returned: success
  type: list
  elements: str
queries:
  description: The SQL statements the module ran (in check mode, the reads it ran).
  returned: success
  type: list
  elements: str
"""

import contextlib
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

MAX_JOBS = 64
SERVER_SQL = ("SELECT current_setting('server_version') AS server_version, current_setting('server_version_num')::int AS server_version_num, "
              "current_user AS login_user, current_database() AS login_database")
SIDES_SQL = "SELECT datname, pg_catalog.shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE datname IN (%s, %s)"


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(aws_argument_spec())
    spec.update(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        object=dict(type="str", aliases=["key"]),
        database=dict(type="str"),
        target_db=dict(type="str", required=True),
        clean=dict(type="bool", default=False),
        evidence_dir=dict(type="path"),
        evidence_object=dict(type="str"),
        jobs=dict(type="int", default=2),
        no_owner=dict(type="bool", default=False),
        no_privileges=dict(type="bool", default=False),
        analyze=dict(type="bool", default=True),
        work_dir=dict(type="path"),
        bin_dir=dict(type="path"),
    )
    return spec


EXCLUSIVE = [("object", "database")]


def option_problems(params):
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    if not params.get("object") and not params.get("database"):
        problems.append("one of object (a backup's key) and database (restore its latest backup) is required")
    problems += logical.identifier_problems(params.get("target_db"), "target_db")
    problems += logical.identifier_problems(params.get("database"), "database")
    problems += logical.key_problems(params.get("object"))
    problems += logical.key_problems(params.get("evidence_object"), "evidence_object")
    if params.get("evidence_object") and params.get("evidence_object") == params.get("object"):
        problems.append("evidence_object must not be the backup being restored")
    if not 1 <= (params.get("jobs") or 0) <= MAX_JOBS:
        problems.append("jobs must be between 1 and {0}, got {1}".format(MAX_JOBS, params.get("jobs")))
    if params.get("clean") and not params.get("evidence_dir") and not params.get("evidence_object"):
        problems.append("clean=true replaces target_db, so its current contents are dumped as evidence first: "
                        "set evidence_dir, evidence_object or both")
    evidence_dir = params.get("evidence_dir")
    if evidence_dir and os.path.lexists(evidence_dir) and not os.path.isdir(evidence_dir):
        problems.append("evidence_dir {0} exists and is not a directory".format(evidence_dir))
    if params.get("work_dir") and not os.path.isdir(params["work_dir"]):
        problems.append("work_dir {0} is not a directory on this host".format(params["work_dir"]))
    return problems


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("restore into", "database {0}".format(module.params.get("target_db")), "; ".join(problems))


class Clients:
    """The PostgreSQL connection (to login_db) and the S3 client of one run."""

    def __init__(self, pg, s3):
        self.pg = pg
        self.s3 = s3

    def close(self):
        self.pg.close()


def connect_clients(module):
    s3 = get_boto3_client(module, "s3")
    return Clients(connect(module), s3)


class Restore:
    """One run of the module: the request, what was read, and the steps."""

    def __init__(self, module, clients):
        self.module = module
        self.params = module.params
        self.s3 = clients.s3
        self.maint = QueryRecorder(clients.pg, describe_target(module.params), module.check_mode)
        self.bucket = module.params["bucket"]
        self.target = module.params["target_db"]
        self.timings = {}
        self.login_user = None

    # -- connections to other databases ---------------------------------------

    def db_params(self, name):
        return dict(self.params, login_db=name)

    def recorder(self, conn, name, reads_only):
        """A recorder on a connection to database name sharing the queries list; reads_only runs even in check mode."""
        recorder = QueryRecorder(conn, describe_target(self.db_params(name)), False if reads_only else self.module.check_mode)
        recorder.queries = self.maint.queries
        return recorder

    def fail(self, cause, **details):
        raise RunbookError("restore into", "database {0}".format(self.target), cause, **details)

    # -- reading ----------------------------------------------------------------

    def choose_backup(self):
        params = self.params
        key = params["object"]
        if key is None:
            entries, _incomplete = logical.list_backups(self.s3, self.bucket, params["prefix"])
            _backups, latest = logical.summarise_backups(entries, params["database"])
            if latest is None:
                self.fail("there is no usable backup of database {0} under {1}".format(
                    params["database"], logical.s3_url(self.bucket, params["prefix"])))
            key = latest["key"]
        state, manifest, problems = logical.read_backup_object(self.s3, self.bucket, key)
        url = logical.s3_url(self.bucket, key)
        if state == "absent":
            self.fail("there is no object {0}".format(url))
        if state != "complete":
            self.fail("{0} is not a complete backup: {1}; nothing was touched".format(url, "; ".join(problems)))
        return dict(manifest, key=key)

    def read_target(self, backup):
        rows = self.maint.read(logical.DATABASE_SQL, (self.target,))
        if not rows:
            return dict(exists=False, props=None, marker=None, empty=None, counts_match=None, sessions=[], counts=None)
        props = rows[0]
        marker = logical.parse_marker(props.get("comment"))
        conn = connect(self.db_params(self.target))
        with contextlib.closing(conn):
            # Only reads in a READ ONLY transaction: they run in check mode too.
            db = self.recorder(conn, self.target, reads_only=True)
            contents = db.read(logical.CONTENTS_SQL)[0]
            counts_match, counts = None, None
            if logical.holds_backup(marker, backup):
                problems, counts = logical.verify_row_counts(db, backup["tables"])
                counts_match = not problems
        sessions = self.maint.read(logical.SESSIONS_SQL, (self.target,))
        return dict(exists=True, props=props, marker=marker, empty=not any(contents.values()), counts_match=counts_match,
                    sessions=sessions, counts=counts)

    def read_sides(self, scratch, aside):
        """(scratch_state, aside_exists) for a replacement."""
        found = dict((row["datname"], row["comment"]) for row in self.maint.read(SIDES_SQL, (scratch, aside)))
        scratch_state = None
        if scratch in found:
            marker = logical.parse_marker(found[scratch])
            scratch_state = "ours" if marker and marker.get("state") == "restoring" and marker.get("target") == self.target else "foreign"
        return scratch_state, aside in found

    # -- steps ------------------------------------------------------------------

    def download_and_verify(self, backup, work):
        path = os.path.join(work, "backup.dump")
        url = logical.s3_url(self.bucket, backup["key"])
        started = time.monotonic()
        logical.download(self.s3, self.bucket, backup["key"], path)
        downloaded = time.monotonic()
        sha256, size = logical.sha256_file(path)
        self.timings.update(download_seconds=round(downloaded - started, 3), checksum_seconds=round(time.monotonic() - downloaded, 3))
        problem = logical.checksum_problem(backup["sha256"], sha256)
        if problem is None and size != backup["size_bytes"]:
            problem = "it has {0} bytes, the manifest says {1}".format(size, backup["size_bytes"])
        if problem:
            raise RunbookError("verify the download of", url, "{0}: the backup is corrupted or was replaced, so it is refused and "
                               "database {1} was not touched".format(problem, self.target), expected_sha256=backup["sha256"], actual_sha256=sha256)
        return path

    def take_evidence(self, pg_dump, pg_dump_version, work, backup):
        """Dump the target before it is replaced; returns the evidence facts."""
        params = self.params
        started = time.monotonic()
        now = time.time()
        name = logical.evidence_file_name(self.target, now)
        final = None
        if params["evidence_dir"]:
            if not os.path.isdir(params["evidence_dir"]):
                os.makedirs(params["evidence_dir"], mode=0o700)
            final = os.path.join(params["evidence_dir"], name)
            path = final + ".partial"
        else:
            path = os.path.join(work, name)
        conn = connect(self.db_params(self.target))
        with contextlib.closing(conn):
            db = self.recorder(conn, self.target, reads_only=False)
            server = db.read(logical.SERVER_SQL)[0]
            dump = logical.dump_database(self.module, db, pg_env(self.db_params(self.target)), pg_dump, path, self.target)
        os.chmod(path, 0o600)
        sha256, size = logical.sha256_file(path)
        evidence_for = dict(bucket=self.bucket, key=backup["key"], sha256=backup["sha256"])
        facts = dict(path=final, object=params["evidence_object"], sha256=sha256, size_bytes=size, argv=dump["argv"])
        if final:
            os.rename(path, final)
            path = final
            manifest = logical.build_manifest("evidence", None, sha256, size, self.target, server, pg_dump_version, dump["started"],
                                              dump["finished"], dump["tables"], path=final, evidence_for=evidence_for)
            logical.write_private(final + logical.MANIFEST_SUFFIX, logical.manifest_json(manifest))
        if params["evidence_object"]:
            key = params["evidence_object"]
            manifest = logical.build_manifest("evidence", key, sha256, size, self.target, server, pg_dump_version, dump["started"],
                                              dump["finished"], dump["tables"], evidence_for=evidence_for)
            logical.upload_dump(self.s3, self.bucket, key, path, sha256)
            logical.confirm_upload(self.s3, self.bucket, key, sha256, size)
            logical.upload_manifest(self.s3, self.bucket, key, manifest)
        self.timings["evidence_seconds"] = round(time.monotonic() - started, 3)
        return facts

    def verify_restored(self, name, backup):
        conn = connect(self.db_params(name))
        with contextlib.closing(conn):
            db = self.recorder(conn, name, reads_only=False)
            problems, counts = logical.verify_row_counts(db, backup["tables"])
            if problems:
                raise RunbookError("verify the restore into", "database {0}".format(name),
                                   "the row counts differ from the manifest: {0}".format("; ".join(problems[:20])), problems=problems)
            if self.params["analyze"]:
                db.write("ANALYZE")
        return [dict(table, rows=counts[(table["schema"], table["name"])]) for table in backup["tables"]]

    def swap(self, scratch, aside):
        """Rename the target aside and the scratch database to the target in one transaction, then drop the old one."""
        db = self.maint
        db.write("BEGIN")
        try:
            db.write("ALTER DATABASE {0} RENAME TO {1}".format(logical.quote_ident(self.target), logical.quote_ident(aside)))
            db.write("ALTER DATABASE {0} RENAME TO {1}".format(logical.quote_ident(scratch), logical.quote_ident(self.target)))
            db.write("COMMIT")
        except RunbookError:
            try:
                db.write("ROLLBACK")
            except RunbookError:
                pass
            raise
        try:
            db.write("DROP DATABASE {0}".format(logical.quote_ident(aside)))
        except RunbookError as error:
            self.module.warn("The replaced database was kept as {0}: {1}. Its evidence dump is taken; drop it when done.".format(
                aside, error.cause_text))

    def drop(self, name):
        """Drop a database this run created; a sentence saying what was done."""
        try:
            self.maint.write("DROP DATABASE IF EXISTS {0}".format(logical.quote_ident(name)))
            return "database {0}, created for this restore, was dropped again".format(name)
        except RunbookError as error:
            return "database {0}, created for this restore, could not be dropped ({1}): drop it by hand".format(name, error.cause_text)

    # -- the run ------------------------------------------------------------------

    def run(self):
        params = self.params
        module = self.module
        server = self.maint.read(SERVER_SQL)[0]
        self.login_user = server["login_user"]
        logical.require_bucket(self.s3, self.bucket)
        backup = self.choose_backup()
        target_state = self.read_target(backup)
        scratch, aside = logical.side_names(self.target, backup["sha256"])
        scratch_state, aside_exists = (None, False)
        if target_state["exists"] and params["clean"]:
            scratch_state, aside_exists = self.read_sides(scratch, aside)
        try:
            mode = logical.plan_restore(self.target, target_state, backup, params["clean"], server["login_database"], scratch_state, aside_exists)
        except ValueError as error:
            self.fail("{0}; nothing was touched".format(error))

        evidence_places = []
        if mode == "replace":
            if params["evidence_dir"]:
                evidence_places.append(os.path.join(params["evidence_dir"], logical.evidence_file_name(self.target, time.time())))
            if params["evidence_object"]:
                evidence_places.append(logical.s3_url(self.bucket, params["evidence_object"]))
                if logical.head_object(self.s3, self.bucket, params["evidence_object"]) is not None:
                    self.fail("evidence_object {0} already exists and is never overwritten: choose another key; nothing was touched".format(
                        evidence_places[-1]))
        work_root = params["work_dir"] or tempfile.gettempdir()
        if mode != "done" and logical.free_bytes(work_root) < backup["size_bytes"]:
            self.fail("{0} has {1} bytes free, the dump needs {2}: set work_dir to a larger file system; nothing was touched".format(
                work_root, logical.free_bytes(work_root), backup["size_bytes"]))

        actions = logical.restore_actions(mode, self.bucket, backup, self.target, scratch, aside, evidence_places, params["jobs"],
                                          params["analyze"], scratch_state == "ours")
        into = scratch if mode == "replace" else self.target
        common = dict(target_db=self.target, mode=mode, bucket=self.bucket, key=backup["key"], sha256=backup["sha256"],
                      size_bytes=backup["size_bytes"], backup=logical.describe_backup(backup["key"], backup, backup["size_bytes"]),
                      queries=self.maint.queries)
        before = dict(target_db=self.target, exists=target_state["exists"],
                      restored=(target_state["marker"] or {}).get("key") if (target_state["marker"] or {}).get("state") == "restored" else None)
        after = dict(target_db=self.target, exists=True, restored=backup["key"], sha256=backup["sha256"])
        idle = dict(evidence=None, duration_seconds=None, throughput_bytes_per_second=None)
        if mode == "done":
            counts = target_state["counts"]
            tables = [dict(t, rows=counts[(t["schema"], t["name"])]) for t in backup["tables"]]
            return module.result(changed=False, actions=actions, before=before, after=after, commands=[], tables=tables, **dict(common, **idle))

        major = server["server_version_num"] // 10000
        pg_restore = find_tool(module, "pg_restore", params["bin_dir"], major)
        pg_dump = find_tool(module, "pg_dump", params["bin_dir"], major) if mode == "replace" else None
        restore_args = (params["jobs"], params["no_owner"], params["no_privileges"])
        if module.check_mode:
            planned = os.path.join(work_root, ".sre-pg-logical-<random>", "backup.dump")
            commands = []
            if pg_dump:
                commands.append(logical.command_text(logical.pg_dump_argv(pg_dump, "<evidence file>", self.target, "<exported snapshot>")))
            commands.append(logical.command_text(logical.pg_restore_argv(pg_restore, planned, into, *restore_args)))
            return module.result(changed=True, actions=actions, before=before, after=after, commands=commands, tables=None, **dict(common, **idle))

        started = time.monotonic()
        pg_dump_version = logical.tool_version(module, pg_dump) if pg_dump else None
        work = tempfile.mkdtemp(prefix=".sre-pg-logical-", dir=params["work_dir"])
        try:
            path = self.download_and_verify(backup, work)
            commands, evidence = [], None
            if mode == "replace":
                evidence = self.take_evidence(pg_dump, pg_dump_version, work, backup)
                commands.append(logical.command_text(evidence.pop("argv")))
            argv = logical.pg_restore_argv(pg_restore, path, into, *restore_args)
            commands.append(logical.command_text(argv))
            tables = self.restore_into(mode, into, scratch, scratch_state, aside, backup, argv, target_state)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        duration = time.monotonic() - started
        return module.result(changed=True, actions=actions, before=before, after=after, commands=commands, tables=tables, evidence=evidence,
                             duration_seconds=round(duration, 3), timings=self.timings,
                             throughput_bytes_per_second=round(backup["size_bytes"] / duration, 1) if duration > 0 else None, **common)

    def restore_into(self, mode, into, scratch, scratch_state, aside, backup, argv, target_state):
        """Create (unless into_empty), pg_restore, verify, record, and swap a replacement in; undo what this run created on failure."""
        db = self.maint
        # created: whether this run made the database, so that an interrupted run's leftover may be dropped.
        marker = dict(bucket=self.bucket, key=backup["key"], sha256=backup["sha256"], target=self.target, database=backup["database"],
                      created=mode != "into_empty")
        created = False
        try:
            if mode == "recreate":
                db.write("DROP DATABASE {0}".format(logical.quote_ident(self.target)))
            if mode == "replace" and scratch_state == "ours":
                db.write("DROP DATABASE {0}".format(logical.quote_ident(scratch)))
            if mode != "into_empty":
                db.write(logical.create_statement(into, target_state["props"] if mode == "replace" else None))
                created = True
            db.write(logical.comment_statement(into, logical.marker_comment("restoring", **marker)))
            started = time.monotonic()
            logical.run_tool(self.module, argv, pg_env(self.db_params(into)), "restore", "{0} into database {1} with pg_restore".format(
                logical.s3_url(self.bucket, backup["key"]), into))
            restored = time.monotonic()
            tables = self.verify_restored(into, backup)
            self.timings.update(restore_seconds=round(restored - started, 3), verify_seconds=round(time.monotonic() - restored, 3))
            if mode == "replace":
                self.carry_over(into, target_state["props"])
            db.write(logical.comment_statement(into, logical.marker_comment("restored", restored_at=logical.iso_time(time.time()), **marker)))
            if mode == "replace":
                self.swap(scratch, aside)
        except RunbookError as error:
            if created:
                done = self.drop(into)
                if mode == "replace":
                    done += "; database {0} was not touched".format(self.target)
            else:
                done = ("database {0} was empty before and now holds part of the backup: restore again with clean=true, "
                        "or drop and recreate it".format(into))
            raise RunbookError(error.action, error.obj, "{0}. {1}".format(error.cause_text, done), **error.details) from None
        return tables

    def carry_over(self, name, props):
        privileges = self.maint.read(logical.PRIVILEGES_SQL, (self.target,))
        settings = self.maint.read(logical.SETTINGS_SQL, (self.target,))
        statements, not_carried = logical.carry_over_statements(name, props, privileges, settings, self.login_user)
        for statement in statements:
            self.maint.write(statement)
        for item in not_carried:
            self.module.warn("Not carried over to the restored {0}: {1}".format(self.target, item))


def restore(module, clients):
    return Restore(module, clients).run()


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS + AWS_REQUIRED_LIBS,
                           mutually_exclusive=EXCLUSIVE)
    module.run(restore, connect=connect_clients, precheck=check_options)


if __name__ == "__main__":
    main()
