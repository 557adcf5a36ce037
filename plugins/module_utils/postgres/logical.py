# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Logical backups of PostgreSQL in S3: pg_dump -Fc, a checksum manifest, pg_restore --jobs.

A backup is two S3 objects:
  <key>                 the pg_dump custom-format archive, with the metadata
                        sha256=<hex> and sre-runbooks-format=pg_logical_backup/1
  <key>.manifest.json   written last, so its presence means the backup is complete:
                        sha256, size, database, versions, dump times and the exact
                        row count of every table, counted in the snapshot pg_dump used

The decisions (key names, manifests, what an existing object is, the restore
plan, the SQL that recreates a database's properties) are pure functions,
unit-tested without a server or S3. The rest runs pg_dump and pg_restore
through the module with the connection in the environment (connection.pg_env,
so no password is ever on a command line), hashes files in chunks (a dump is
never read into memory) and moves them with boto3's managed transfers.

A restored database records what it holds in its comment (COMMENT ON DATABASE),
which pg_restore without --create never overwrites:
  sre.runbooks.pg_logical_restore {"key": ..., "sha256": ..., "state": "restored", ...}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import contextlib
import hashlib
import json
import os
import re
import shlex
import time

from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_ERRORS, describe_error
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import iso_time

try:
    from boto3.exceptions import Boto3Error
    TRANSFER_ERRORS = AWS_ERRORS + (Boto3Error,)
except ImportError:
    TRANSFER_ERRORS = AWS_ERRORS

FORMAT = "sre.runbooks.pg_logical_backup"
FORMAT_VERSION = 1
# S3 user metadata (boto3 returns the keys in lower case).
META_SHA256 = "sha256"
META_FORMAT = "sre-runbooks-format"
META_FORMAT_VALUE = "pg_logical_backup/{0}".format(FORMAT_VERSION)
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
KINDS = ("backup", "evidence")

MARKER_PREFIX = "sre.runbooks.pg_logical_restore "
CHUNK_SIZE = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_KEY_BYTES = 1024 - len(MANIFEST_SUFFIX)
# NAMEDATALEN - 1: longer identifiers are truncated by the server.
MAX_IDENTIFIER_BYTES = 63
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Tables per count(*) statement: one statement per table would flood `queries`.
COUNT_BATCH = 100

# Variables whose value is a list that pg_dump quotes element by element (pg_dump's variable_is_guc_list_quote()).
GUC_LIST_QUOTE = frozenset(["local_preload_libraries", "search_path", "session_preload_libraries", "shared_preload_libraries",
                            "temp_tablespaces", "unix_socket_directories"])

# Ordinary tables (partitions included) that pg_dump dumps the rows of: not in system schemas, not temporary,
# not members of an extension. Materialized views are left out: restoring refreshes them from the restored
# tables, so their row count need not be the dumped one. Partitioned parents hold no rows of their own.
TABLES_SQL = (
    "SELECT n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND c.relpersistence <> 't' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)' "
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass "
    "AND d.objid = c.oid AND d.deptype = 'e') "
    "ORDER BY n.nspname, c.relname"
)

# What makes a database not empty: anything a restore could collide with.
CONTENTS_SQL = (
    "SELECT "
    "(SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)') AS relations, "
    "(SELECT count(*) FROM pg_catalog.pg_namespace n WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') "
    "AND n.nspname !~ '^pg_') AS schemas, "
    "(SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) AS functions, "
    "(SELECT count(*) FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' AND t.typrelid = 0 "
    "AND t.typcategory <> 'A') AS types, "
    "(SELECT count(*) FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql') AS extensions"
)

SERVER_SQL = (
    "SELECT current_database() AS database, current_setting('server_version') AS server_version, "
    "current_setting('server_version_num')::int AS server_version_num, "
    "pg_catalog.pg_encoding_to_char(d.encoding) AS encoding, pg_catalog.pg_database_size(d.oid) AS database_size_bytes "
    "FROM pg_catalog.pg_database d WHERE d.datname = current_database()"
)

# A database's properties, read before one is replaced; to_jsonb() keeps it working across versions
# (daticulocale in 15 and 16, datlocale from 17).
DATABASE_SQL = (
    "SELECT d.datname AS name, pg_catalog.pg_get_userbyid(d.datdba) AS owner, "
    "pg_catalog.shobj_description(d.oid, 'pg_database') AS comment, pg_catalog.pg_encoding_to_char(d.encoding) AS encoding, "
    "(SELECT t.spcname FROM pg_catalog.pg_tablespace t WHERE t.oid = d.dattablespace) AS tablespace, "
    "d.datacl IS NULL AS default_privileges, pg_catalog.to_jsonb(d) - 'datacl' AS props "
    "FROM pg_catalog.pg_database d WHERE d.datname = %s"
)
PRIVILEGES_SQL = (
    "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END AS grantee, "
    "a.privilege_type, a.is_grantable FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a "
    "WHERE d.datname = %s ORDER BY 1, 2"
)
SETTINGS_SQL = (
    "SELECT s.setrole <> 0 AS per_role, CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(s.setrole) END AS role, "
    "s.setconfig AS settings FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase "
    "WHERE d.datname = %s ORDER BY 1, 2"
)
SESSIONS_SQL = (
    "SELECT pid, usename AS user, application_name, client_addr::text AS client_addr, state "
    "FROM pg_catalog.pg_stat_activity WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid() ORDER BY pid"
)


# -- names and quoting ---------------------------------------------------------

def utc_stamp(epoch):
    """Epoch seconds -> '20261122T142334Z', the time in default object keys and evidence file names."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def default_key(prefix, database, epoch):
    """'<prefix><db>/<db>-<UTC time>.dump'. The prefix is taken literally: end it with '/' to make it a folder."""
    return "{0}{1}/{1}-{2}{3}".format(prefix or "", database, utc_stamp(epoch), DUMP_SUFFIX)


def manifest_key(key):
    return key + MANIFEST_SUFFIX


def s3_url(bucket, key):
    return "s3://{0}/{1}".format(bucket, key)


def key_problems(key, option="object"):
    """Problems with an object key given as an option, as sentences."""
    if key is None:
        return []
    problems = []
    if not key or key.startswith("/") or key.endswith("/"):
        problems.append("{0} must be an object key, not empty and neither starting nor ending with '/', got {1!r}".format(option, key))
    elif key.endswith(MANIFEST_SUFFIX):
        problems.append("{0} must name the dump, not its manifest ({1!r} ends with {2})".format(option, key, MANIFEST_SUFFIX))
    if len(to_bytes(key)) > MAX_KEY_BYTES:
        problems.append("{0} is longer than {1} bytes, leaving no room for its manifest's key".format(option, MAX_KEY_BYTES))
    return problems


def identifier_problems(name, option):
    """Problems with a database name given as an option."""
    if name is None:
        return []
    if not name or "\x00" in name:
        return ["{0} must be a database name, got {1!r}".format(option, name)]
    if len(to_bytes(name)) > MAX_IDENTIFIER_BYTES:
        return ["{0} is longer than {1} bytes: PostgreSQL would truncate it".format(option, MAX_IDENTIFIER_BYTES)]
    return []


def quote_ident(name):
    """An SQL identifier, always double-quoted."""
    return '"' + to_text(name).replace('"', '""') + '"'


def quote_literal(value):
    """An SQL string literal (backslashes make it an E'' literal, as PostgreSQL's quote_literal() does)."""
    text = to_text(value).replace("'", "''")
    if "\\" in text:
        return "E'" + text.replace("\\", "\\\\") + "'"
    return "'" + text + "'"


def _truncate_bytes(text, limit):
    """text cut to at most limit bytes of UTF-8, never inside a character."""
    data = to_bytes(text)
    if len(data) <= limit:
        return text
    return to_text(data[:limit], errors="ignore")


def side_names(target, sha256):
    """(scratch, aside): where a replacement is restored, and the name the replaced database gets during the swap.

    Derived from the target and the backup's checksum, so an interrupted run's leftovers are recognised.
    """
    scratch_suffix = "_sre_restore_" + sha256[:8]
    aside_suffix = "_sre_replaced_" + sha256[:8]
    return (_truncate_bytes(target, MAX_IDENTIFIER_BYTES - len(scratch_suffix)) + scratch_suffix,
            _truncate_bytes(target, MAX_IDENTIFIER_BYTES - len(aside_suffix)) + aside_suffix)


def dbname_argument(name):
    """The value for --dbname that names exactly this database.

    pg_dump and pg_restore take a --dbname holding '=' or starting with a URI scheme as a connection
    string; such a name is passed as "dbname='...'", the rest of the connection coming from the environment.
    """
    if "=" not in name and not name.startswith(("postgresql://", "postgres://")):
        return name
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def command_text(argv):
    """A command line as a shell would read it, for the C(commands) result (it never holds a password)."""
    return " ".join(shlex.quote(to_text(arg)) for arg in argv)


def pg_dump_argv(tool, path, database, snapshot=None):
    """pg_dump in custom format into path: no host, user or password (they travel in the environment)."""
    argv = [tool, "--format=custom", "--no-password", "--dbname", dbname_argument(database), "--file", path]
    if snapshot:
        argv += ["--snapshot", snapshot]
    return argv


def pg_restore_argv(tool, path, database, jobs, no_owner=False, no_privileges=False):
    """pg_restore of a custom-format archive into an existing database, stopping at the first error."""
    argv = [tool, "--no-password", "--exit-on-error", "--jobs", str(jobs), "--dbname", dbname_argument(database)]
    if no_owner:
        argv.append("--no-owner")
    if no_privileges:
        argv.append("--no-privileges")
    argv.append(path)
    return argv


def parse_tool_version(text):
    """'pg_dump (PostgreSQL) 15.10 (Debian 15.10-1)' -> '15.10'; None when it is not a version line."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*\S*)", to_text(text))
    return match.group(1) if match else None


# -- manifests -----------------------------------------------------------------

def build_manifest(kind, key, sha256, size_bytes, database, server, pg_dump_version, started, finished, tables, **extra):
    """The manifest of a dump (a dict, written as JSON). Pure.

    server -- server_version, server_version_num and encoding of the dumped database
    started, finished -- epoch seconds around pg_dump
    tables -- [{schema, name, rows}], counted in the snapshot pg_dump used
    """
    manifest = dict(
        format=FORMAT, format_version=FORMAT_VERSION, kind=kind, key=key, sha256=sha256, size_bytes=int(size_bytes),
        database=database, encoding=server.get("encoding"), server_version=server["server_version"],
        server_version_num=server.get("server_version_num"), pg_dump_version=pg_dump_version, dump_format="custom",
        started_at=iso_time(started), finished_at=iso_time(finished), dump_seconds=round(finished - started, 3),
        tables=[dict(schema=t["schema"], name=t["name"], rows=int(t["rows"])) for t in tables],
    )
    manifest.update(extra)
    return manifest


def manifest_json(manifest):
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_manifest(text):
    """Parse and check a manifest; raises ValueError saying what is wrong."""
    try:
        data = json.loads(to_text(text))
    except ValueError as error:
        raise ValueError("the manifest is not JSON: {0}".format(error))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("the manifest is not a {0} manifest".format(FORMAT))
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError("the manifest has format_version {0!r}; this module reads {1}".format(data.get("format_version"), FORMAT_VERSION))
    if not isinstance(data.get("sha256"), str) or not SHA256_RE.match(data["sha256"]):
        raise ValueError("the manifest's sha256 is not 64 hexadecimal digits")
    if not isinstance(data.get("size_bytes"), int) or isinstance(data["size_bytes"], bool) or data["size_bytes"] < 0:
        raise ValueError("the manifest's size_bytes is not a byte count")
    if not isinstance(data.get("database"), str) or not data["database"]:
        raise ValueError("the manifest names no database")
    if data.get("kind", "backup") not in KINDS:
        raise ValueError("the manifest's kind {0!r} is not one of {1}".format(data.get("kind"), ", ".join(KINDS)))
    tables = data.get("tables")
    if not isinstance(tables, list):
        raise ValueError("the manifest has no table list")
    for table in tables:
        if (not isinstance(table, dict) or not isinstance(table.get("schema"), str) or not isinstance(table.get("name"), str)
                or not isinstance(table.get("rows"), int) or isinstance(table.get("rows"), bool) or table["rows"] < 0):
            raise ValueError("the manifest's table entry {0!r} is not {{schema, name, rows}}".format(table))
    data.setdefault("kind", "backup")
    return data


def checksum_problem(expected, actual):
    """None when the checksums agree; otherwise a sentence naming both."""
    if expected == actual:
        return None
    return "its sha256 is {0}, but the manifest says {1}".format(actual, expected)


def classify_object(key, head, manifest_text=None, manifest_error=None):
    """What an existing S3 key holds. Pure.

    head -- the object's HeadObject answer (ContentLength, Metadata), or None when absent
    manifest_text -- the manifest object's body, or None when there is none
    Returns (state, manifest, problems): state is 'absent', 'complete' (a backup whose manifest agrees with the
    object), 'incomplete' (written by this module but without a manifest that agrees with it) or 'foreign'
    (something else: never overwritten).
    """
    if head is None:
        return "absent", None, []
    metadata = head.get("Metadata") or {}
    if metadata.get(META_FORMAT) != META_FORMAT_VALUE:
        return "foreign", None, ["{0} exists and was not written by sre.runbooks.pg_logical_backup (no {1}={2} metadata)".format(
            key, META_FORMAT, META_FORMAT_VALUE)]
    if manifest_text is None:
        return "incomplete", None, [manifest_error or "it has no manifest {0}".format(manifest_key(key))]
    try:
        manifest = parse_manifest(manifest_text)
    except ValueError as error:
        return "incomplete", None, [str(error)]
    problems = []
    if manifest.get("key") not in (None, key):
        problems.append("the manifest describes {0}, not {1}".format(manifest["key"], key))
    if head.get("ContentLength") != manifest["size_bytes"]:
        problems.append("the object has {0} bytes, the manifest says {1}".format(head.get("ContentLength"), manifest["size_bytes"]))
    if metadata.get(META_SHA256) != manifest["sha256"]:
        problems.append("the object's sha256 metadata is {0}, the manifest says {1}".format(metadata.get(META_SHA256), manifest["sha256"]))
    return ("incomplete" if problems else "complete"), manifest, problems


def plan_backup(bucket, key, state, problems, database):
    """Plan a backup into bucket/key. Pure.

    Returns (actions, changed); raises ValueError when the key must not be written.
    A complete backup is left alone; an incomplete one of ours (no manifest, or one that disagrees) is replaced.
    """
    url = s3_url(bucket, key)
    if state == "foreign":
        raise ValueError("{0}; choose another object key".format("; ".join(problems)))
    if state == "complete":
        return [], False
    actions = []
    if state == "incomplete":
        actions.append("replace the incomplete backup {0} ({1})".format(url, "; ".join(problems)))
    actions += [
        "count the rows of every table of {0} in an exported snapshot".format(database),
        "pg_dump --format=custom database {0} in that snapshot".format(database),
        "compute the sha256 of the dump",
        "upload the dump to {0} with its sha256 in the object metadata".format(url),
        "upload the manifest to {0}".format(s3_url(bucket, manifest_key(key))),
    ]
    return actions, True


def describe_backup(key, manifest, listed_size=None, last_modified=None, include_tables=False):
    """One backup as the info module and the restore module return it. Pure."""
    tables = manifest.get("tables") or []
    entry = dict(
        key=key, manifest_key=manifest_key(key), kind=manifest.get("kind", "backup"), database=manifest.get("database"),
        sha256=manifest.get("sha256"), size_bytes=manifest.get("size_bytes"), server_version=manifest.get("server_version"),
        pg_dump_version=manifest.get("pg_dump_version"), started_at=manifest.get("started_at"), finished_at=manifest.get("finished_at"),
        table_count=len(tables), total_rows=sum(t["rows"] for t in tables), last_modified=last_modified,
    )
    problems = []
    if listed_size is None:
        problems.append("the dump object {0} is missing".format(key))
    elif listed_size != manifest.get("size_bytes"):
        problems.append("the dump object has {0} bytes, the manifest says {1}".format(listed_size, manifest.get("size_bytes")))
    entry["problems"] = problems
    entry["usable"] = not problems
    if include_tables:
        entry["tables"] = tables
    return entry


def summarise_backups(entries, database=None):
    """Sort backups newest first and pick the latest usable backup (evidence dumps are never 'latest'). Pure.

    entries -- describe_backup() results, plus unreadable manifests as {key, usable: False, problems}
    database -- only backups of this database, when given
    """
    chosen = [entry for entry in entries if database is None or entry.get("database") == database]
    chosen.sort(key=lambda entry: (entry.get("finished_at") or "", entry["key"]), reverse=True)
    latest = next((entry for entry in chosen if entry.get("usable") and entry.get("kind") == "backup"), None)
    return chosen, latest


def compare_row_counts(expected, actual):
    """Problems between the manifest's tables and the counts read after a restore; empty when every count agrees. Pure.

    expected -- [{schema, name, rows}]; actual -- {(schema, name): rows, or None when the table is missing}
    """
    problems = []
    for table in expected:
        name = "{0}.{1}".format(table["schema"], table["name"])
        got = actual.get((table["schema"], table["name"]))
        if got is None:
            problems.append("table {0} is missing (the backup has {1} rows)".format(name, table["rows"]))
        elif got != table["rows"]:
            problems.append("table {0} has {1} rows, the backup has {2}".format(name, got, table["rows"]))
    return problems


def count_statements(tables):
    """count(*) statements for tables, in batches of COUNT_BATCH; each row is (i, n) with i the table's index. Pure."""
    statements = []
    for start in range(0, len(tables), COUNT_BATCH):
        parts = ["SELECT {0} AS i, count(*) AS n FROM {1}.{2}".format(index, quote_ident(table["schema"]), quote_ident(table["name"]))
                 for index, table in enumerate(tables[start:start + COUNT_BATCH], start)]
        statements.append(" UNION ALL ".join(parts))
    return statements


# -- the restore marker and the restore plan ---------------------------------

def marker_comment(state, bucket, key, sha256, **extra):
    """The comment recording what a database holds: state 'restoring' while a restore runs, then 'restored'."""
    record = dict(extra, state=state, bucket=bucket, key=key, sha256=sha256)
    return MARKER_PREFIX + json.dumps(record, sort_keys=True)


def comment_statement(database, comment):
    """COMMENT ON DATABASE with the comment inlined as a literal (no parameters: a '%' in a name stays as it is). Pure."""
    return "COMMENT ON DATABASE {0} IS {1}".format(quote_ident(database), quote_literal(comment))


def parse_marker(comment):
    """The record in a database comment written by marker_comment(), or None."""
    if not comment or not comment.startswith(MARKER_PREFIX):
        return None
    try:
        record = json.loads(comment[len(MARKER_PREFIX):])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def holds_backup(marker, backup):
    """Whether a database's marker says it holds exactly this backup, completely restored."""
    return bool(marker and marker.get("state") == "restored" and marker.get("key") == backup["key"]
                and marker.get("sha256") == backup["sha256"])


def plan_restore(target, target_state, backup, clean, login_db, scratch_state=None, aside_exists=False):
    """Decide how to restore backup into database target. Pure.

    target_state -- dict(exists, marker, empty, counts_match, sessions); counts_match only matters
                    when the marker says the target holds this backup
    backup -- dict(key, sha256)
    scratch_state -- for a replacement: None (absent), 'ours' (left by an interrupted run) or 'foreign'
    Returns the mode: 'done' (the target already holds the backup), 'create' (a new database),
    'recreate' (drop a database an interrupted run created and half restored, then create), 'into_empty' (an existing
    empty database) or 'replace' (restore aside, then swap it in for the target).
    Raises ValueError, saying why, when the restore must not go ahead.
    """
    if not target_state["exists"]:
        return "create"
    marker = target_state.get("marker")
    if holds_backup(marker, backup) and target_state.get("counts_match"):
        return "done"
    if marker and marker.get("state") == "restoring" and marker.get("created") and not clean:
        return "recreate"
    if target_state.get("empty") and not marker:
        return "into_empty"
    if not clean:
        what = "holds another restore ({0}, sha256 {1})".format(marker.get("key"), marker.get("sha256")) if marker else "is not empty"
        if holds_backup(marker, backup):
            what = "holds this backup, but its row counts no longer match the manifest"
        raise ValueError("database {0} exists and {1}; set clean=true to replace it (it is dumped as evidence first)".format(target, what))
    if login_db == target:
        raise ValueError("the module is connected to {0} (login_db), which cannot be replaced while in use: "
                         "connect through another database, such as postgres".format(target))
    sessions = target_state.get("sessions")
    if sessions:
        listed = ", ".join("pid {0} {1}@{2}".format(s["pid"], s.get("user"), s.get("application_name") or "-") for s in sessions[:5])
        raise ValueError("{0} session(s) are connected to {1} ({2}): stop the clients first (sre.runbooks.pg_terminate_backends)".format(
            len(sessions), target, listed))
    if scratch_state == "foreign":
        raise ValueError("the database the replacement is restored into first exists and was not made by this module; drop or rename it")
    if aside_exists:
        raise ValueError("a database replaced by an earlier restore of this backup is still there; drop or rename it first")
    return "replace"


def evidence_file_name(target, epoch):
    """'<target>-<UTC time>.dump', the target's name made safe for a file name."""
    return "{0}-{1}{2}".format(re.sub(r"[^A-Za-z0-9._-]", "_", target), utc_stamp(epoch), DUMP_SUFFIX)


def restore_actions(mode, bucket, backup, target, scratch, aside, evidence, jobs, analyze, scratch_leftover=False):
    """The steps of a restore in mode (plan_restore()), as sentences. Pure.

    backup -- dict(key, sha256, size_bytes, tables); evidence -- the places the evidence dump goes, as text
    """
    if mode == "done":
        return []
    actions = [
        "download {0} ({1} bytes) into a temporary directory".format(s3_url(bucket, backup["key"]), backup["size_bytes"]),
        "verify its sha256 against the manifest ({0}) before touching any database".format(backup["sha256"]),
    ]
    into = scratch if mode == "replace" else target
    if mode == "replace":
        actions.append("dump database {0} as evidence to {1}".format(target, " and ".join(evidence)))
        if scratch_leftover:
            actions.append("drop database {0}, left half restored by an interrupted run".format(scratch))
        actions.append("create database {0} from template0 with the encoding and locale of {1}".format(scratch, target))
    elif mode == "recreate":
        actions.append("drop database {0}, left half restored by an interrupted run".format(target))
        actions.append("create database {0} from template0".format(target))
    elif mode == "create":
        actions.append("create database {0} from template0".format(target))
    actions.append("pg_restore --jobs {0} into {1}database {2}".format(jobs, "the existing empty " if mode == "into_empty" else "", into))
    actions.append("verify the row counts of {0} tables against the manifest".format(len(backup.get("tables") or [])))
    if analyze:
        actions.append("ANALYZE database {0}".format(into))
    if mode == "replace":
        actions.append("give {0} the owner, privileges, settings and connection limit of {1}".format(scratch, target))
    actions.append("record the restored backup in the comment of database {0}".format(into))
    if mode == "replace":
        actions.append("swap in one transaction: rename {0} to {1} and {2} to {0}".format(target, aside, scratch))
        actions.append("drop database {0} (the replaced {1}; the evidence dump keeps it)".format(aside, target))
    return actions


# -- carrying a database's properties over to its replacement ----------------

def split_guc_list(value):
    """A list-valued setting as the server stores it ('"$user", public') -> its elements. Pure."""
    items, current, quoted, index = [], [], False, 0
    text = to_text(value)
    while index < len(text):
        char = text[index]
        if quoted:
            if char == '"' and text[index + 1:index + 2] == '"':
                current.append('"')
                index += 1
            elif char == '"':
                quoted = False
            else:
                current.append(char)
        elif char == '"':
            quoted = True
        elif char == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current).strip())
    return [item for item in items if item != ""]


def setting_statement(database, setting):
    """ALTER DATABASE ... SET for one 'name=value' of pg_db_role_setting, quoted as pg_dump does. Pure."""
    name, _sep, value = to_text(setting).partition("=")
    if name.lower() in GUC_LIST_QUOTE:
        rendered = ", ".join(quote_literal(item) for item in split_guc_list(value)) or "''"
    else:
        rendered = quote_literal(value)
    return "ALTER DATABASE {0} SET {1} TO {2}".format(quote_ident(database), quote_ident(name), rendered)


def create_statement(name, props=None):
    """CREATE DATABASE from template0, with the encoding, locale and tablespace of props (a replaced database's). Pure.

    Without props the server's defaults apply (template0's encoding and locale, pg_default).
    """
    parts = ["CREATE DATABASE {0} TEMPLATE template0".format(quote_ident(name))]
    if props:
        raw = props.get("props") or {}
        if props.get("encoding"):
            parts.append("ENCODING {0}".format(quote_literal(props["encoding"])))
        provider = raw.get("datlocprovider")
        if raw.get("datcollate"):
            parts.append("LC_COLLATE {0}".format(quote_literal(raw["datcollate"])))
        if raw.get("datctype"):
            parts.append("LC_CTYPE {0}".format(quote_literal(raw["datctype"])))
        locale = raw.get("datlocale") or raw.get("daticulocale")
        if provider == "i":
            parts.append("LOCALE_PROVIDER icu ICU_LOCALE {0}".format(quote_literal(locale)))
        elif provider == "b":
            parts.append("LOCALE_PROVIDER builtin BUILTIN_LOCALE {0}".format(quote_literal(locale)))
        if props.get("tablespace") and props["tablespace"] != "pg_default":
            parts.append("TABLESPACE {0}".format(quote_ident(props["tablespace"])))
    return " ".join(parts)


def carry_over_statements(name, props, privileges, settings, login_user):
    """Statements giving database name the properties of the database it replaces. Pure.

    props -- DATABASE_SQL's row of the replaced database; privileges -- PRIVILEGES_SQL's rows;
    settings -- SETTINGS_SQL's rows. Applied after the restore, so that a setting such as
    default_transaction_read_only cannot get in pg_restore's way.
    Returns (statements, not_carried): not_carried lists what only a superuser could copy, as sentences.
    """
    statements = []
    raw = props.get("props") or {}
    if raw.get("datconnlimit") not in (None, -1):
        statements.append("ALTER DATABASE {0} CONNECTION LIMIT {1}".format(quote_ident(name), int(raw["datconnlimit"])))
    for row in settings:
        if not row.get("per_role"):
            statements.extend(setting_statement(name, setting) for setting in row.get("settings") or [])
    if not props.get("default_privileges"):
        grantees = ["PUBLIC"] + ([props["owner"]] if props.get("owner") else [])
        statements.append("REVOKE ALL ON DATABASE {0} FROM {1}".format(
            quote_ident(name), ", ".join(g if g == "PUBLIC" else quote_ident(g) for g in grantees)))
        for row in privileges:
            grantee = row["grantee"] if row["grantee"] == "PUBLIC" else quote_ident(row["grantee"])
            statements.append("GRANT {0} ON DATABASE {1} TO {2}{3}".format(
                row["privilege_type"], quote_ident(name), grantee, " WITH GRANT OPTION" if row.get("is_grantable") else ""))
    if props.get("owner") and props["owner"] != login_user:
        statements.append("ALTER DATABASE {0} OWNER TO {1}".format(quote_ident(name), quote_ident(props["owner"])))
    not_carried = ["the settings of role {0} in the database ({1})".format(row["role"], ", ".join(row.get("settings") or []))
                   for row in settings if row.get("per_role")]
    return statements, not_carried


# -- files ---------------------------------------------------------------------

def sha256_file(path, chunk_size=CHUNK_SIZE):
    """(hex sha256, size in bytes) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def free_bytes(path):
    """Free space for an unprivileged user in the file system holding path."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def write_private(path, text):
    """Write text to path readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


# -- tools -----------------------------------------------------------------------

def tool_env(env):
    update = dict(env)
    update["LC_ALL"] = "C"
    return update


def tool_version(module, tool):
    rc, out, err = module.run_command([tool, "--version"], environ_update={"LC_ALL": "C"})
    version = parse_tool_version(out) if rc == 0 else None
    if version is None:
        raise RunbookError("read the version of", tool, (err or out).strip() or "exit {0}".format(rc))
    return version


def run_tool(module, argv, env, action, obj):
    """Run a PostgreSQL tool with the connection in its environment; RunbookError with its stderr on failure."""
    rc, out, err = module.run_command(argv, environ_update=tool_env(env))
    if rc != 0:
        message = (err or out).strip() or "exit {0}".format(rc)
        lines = message.splitlines()
        if len(lines) > 20:
            message = "\n".join(lines[:20] + ["... {0} more lines".format(len(lines) - 20)])
        raise RunbookError(action, obj, message)
    return out, err


# -- the database ------------------------------------------------------------

def read_tables(db):
    """The tables whose rows a dump holds: [{schema, name}]."""
    return [dict(schema=row["schema"], name=row["name"]) for row in db.read(TABLES_SQL)]


def count_rows(db, tables):
    """{(schema, name): exact row count} of tables, on db's connection (inside its transaction when one is open)."""
    counts = {}
    for sql in count_statements(tables):
        for row in db.read(sql):
            table = tables[row["i"]]
            counts[(table["schema"], table["name"])] = int(row["n"])
    return counts


def dump_database(module, db, env, tool, path, database):
    """Dump database (db's connection) into path with pg_dump, counting every table's rows in the same snapshot.

    A REPEATABLE READ transaction exports its snapshot, counts the rows and stays open while
    pg_dump --snapshot dumps exactly what was counted. row_security is off, so a policy makes the
    count fail rather than be short (pg_dump does the same).
    Returns dict(tables, started, finished, argv).
    """
    db.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        db.write("SET LOCAL row_security = off")
        snapshot = db.read("SELECT pg_catalog.pg_export_snapshot() AS snapshot")[0]["snapshot"]
        tables = read_tables(db)
        counts = count_rows(db, tables)
        argv = pg_dump_argv(tool, path, database, snapshot)
        started = time.time()
        run_tool(module, argv, env, "dump", "database {0} with pg_dump".format(database))
        finished = time.time()
    finally:
        db.write("COMMIT")
    rows = [dict(table, rows=counts[(table["schema"], table["name"])]) for table in tables]
    return dict(tables=rows, started=started, finished=finished, argv=argv)


def verify_row_counts(db, tables):
    """Count the manifest's tables in a restored database; problems as sentences (empty when all agree)."""
    present = set((t["schema"], t["name"]) for t in read_tables(db))
    wanted = [t for t in tables if (t["schema"], t["name"]) in present]
    db.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        db.write("SET LOCAL row_security = off")
        counts = count_rows(db, wanted)
    finally:
        db.write("COMMIT")
    return compare_row_counts(tables, counts), counts


# -- S3 ------------------------------------------------------------------------

@contextlib.contextmanager
def s3_errors(action, obj):
    """Re-raise botocore and boto3 transfer errors raised in the block as RunbookError(action, obj, cause, code=...)."""
    try:
        yield
    except TRANSFER_ERRORS as error:
        details = {}
        code = describe_error(error)
        if code:
            details["code"] = code
        raise RunbookError(action, obj, error, **details) from error


def _missing(error):
    return describe_error(error) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def require_bucket(s3, bucket):
    """Raise a RunbookError saying so when the bucket does not exist or cannot be read."""
    try:
        s3.head_bucket(Bucket=bucket)
    except AWS_ERRORS as error:
        code = describe_error(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            cause = "the bucket does not exist; create it first (amazon.aws.s3_bucket) or correct the bucket option"
        elif code in ("403", "AccessDenied"):
            cause = "access to the bucket is denied for these credentials"
        else:
            cause = error
        raise RunbookError("use", "S3 bucket {0}".format(bucket), cause, **({"code": code} if code else {})) from None


def head_object(s3, bucket, key):
    """The object's HeadObject answer, or None when there is no such object."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except AWS_ERRORS as error:
        if _missing(error):
            return None
        raise RunbookError("read", s3_url(bucket, key), error, **({"code": describe_error(error)} if describe_error(error) else {})) from error


def read_text_object(s3, bucket, key, limit=MAX_MANIFEST_BYTES):
    """(text, None) of a small object, or (None, reason) when it is missing or too large."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(limit + 1)
    except AWS_ERRORS as error:
        if _missing(error):
            return None, "it has no manifest {0}".format(key)
        raise RunbookError("read", s3_url(bucket, key), error) from error
    if len(data) > limit:
        return None, "its manifest {0} is larger than {1} bytes".format(key, limit)
    return to_text(data, errors="surrogate_or_replace"), None


def read_backup_object(s3, bucket, key):
    """classify_object() of an S3 key, reading its head and manifest."""
    head = head_object(s3, bucket, key)
    if head is None:
        return classify_object(key, None)
    text, reason = read_text_object(s3, bucket, manifest_key(key))
    return classify_object(key, head, text, reason)


def list_backups(s3, bucket, prefix, include_tables=False):
    """(entries, incomplete): every manifest under prefix described, and the keys of dumps that have none."""
    objects = {}
    with s3_errors("list", s3_url(bucket, prefix)):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix or ""):
            for item in page.get("Contents", []):
                objects[item["Key"]] = item
    entries = []
    for name in sorted(objects):
        if not name.endswith(MANIFEST_SUFFIX):
            continue
        key = name[:-len(MANIFEST_SUFFIX)]
        listed = objects.get(key)
        last_modified = iso_time(calendar.timegm(listed["LastModified"].utctimetuple())) if listed else None
        text, reason = read_text_object(s3, bucket, name)
        try:
            if text is None:
                raise ValueError(reason)
            manifest = parse_manifest(text)
        except ValueError as error:
            entries.append(dict(key=key, manifest_key=name, usable=False, problems=[str(error)]))
            continue
        entries.append(describe_backup(key, manifest, listed["Size"] if listed else None, last_modified, include_tables))
    incomplete = sorted(key for key, item in objects.items()
                        if key.endswith(DUMP_SUFFIX) and manifest_key(key) not in objects)
    return entries, incomplete


def upload_dump(s3, bucket, key, path, sha256):
    """Upload a dump (multipart for large files) with its sha256 and format in the object metadata."""
    with s3_errors("upload the dump to", s3_url(bucket, key)):
        s3.upload_file(path, bucket, key, ExtraArgs={
            "Metadata": {META_SHA256: sha256, META_FORMAT: META_FORMAT_VALUE}, "ContentType": "application/octet-stream"})


def upload_manifest(s3, bucket, key, manifest):
    with s3_errors("upload the manifest to", s3_url(bucket, manifest_key(key))):
        s3.put_object(Bucket=bucket, Key=manifest_key(key), Body=to_bytes(manifest_json(manifest)), ContentType="application/json",
                      Metadata={META_FORMAT: META_FORMAT_VALUE})


def confirm_upload(s3, bucket, key, sha256, size):
    """Read the uploaded object back: its size and sha256 metadata must be what was sent."""
    head = head_object(s3, bucket, key)
    if head is None:
        raise RunbookError("confirm the upload of", s3_url(bucket, key), "the object is not there after the upload")
    if head.get("ContentLength") != size or (head.get("Metadata") or {}).get(META_SHA256) != sha256:
        raise RunbookError("confirm the upload of", s3_url(bucket, key), "S3 holds {0} bytes with sha256 metadata {1}; {2} bytes with {3} were sent".format(
            head.get("ContentLength"), (head.get("Metadata") or {}).get(META_SHA256), size, sha256))
    return head


def download(s3, bucket, key, path):
    with s3_errors("download", s3_url(bucket, key)):
        s3.download_file(bucket, key, path)


def delete_objects(s3, bucket, keys):
    """Delete keys, best effort; returns the keys that could not be deleted."""
    left = []
    for key in keys:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except TRANSFER_ERRORS:
            left.append(key)
    return left
