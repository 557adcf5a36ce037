# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres import logical
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import pg_env

SHA = "ab" * 32
OTHER_SHA = "cd" * 32
START = 1795357414.0  # 2026-11-22 14:23:34 UTC
SERVER = dict(server_version="15.10", server_version_num=150010, encoding="UTF8")
TABLES = [dict(schema="public", name="customers", rows=2000), dict(schema="sales", name="orders", rows=5000)]
KEY = "postgres/app/app-20261122T142334Z.dump"


def manifest(**overrides):
    data = logical.build_manifest("backup", KEY, SHA, 1234, "app", SERVER, "15.10", START, START + 17.5, TABLES)
    data.update(overrides)
    return data


def head(size=1234, sha=SHA, fmt=logical.META_FORMAT_VALUE):
    metadata = {logical.META_SHA256: sha}
    if fmt:
        metadata[logical.META_FORMAT] = fmt
    return dict(ContentLength=size, Metadata=metadata)


# -- names ---------------------------------------------------------------------

def test_default_key_is_prefix_database_and_utc_time():
    assert logical.default_key("postgres/", "app", START) == KEY
    assert logical.default_key("", "app", START) == "app/app-20261122T142334Z.dump"
    assert logical.manifest_key(KEY) == KEY + ".manifest.json"


@pytest.mark.parametrize("key, words", [
    ("", "must be an object key"),
    ("/abs/key.dump", "must be an object key"),
    ("folder/", "must be an object key"),
    ("x.dump.manifest.json", "must name the dump, not its manifest"),
    ("k" * 1020, "longer than"),
])
def test_bad_object_keys_are_refused(key, words):
    [problem] = logical.key_problems(key)
    assert words in problem


def test_good_keys_and_names_have_no_problems():
    assert logical.key_problems(KEY) == [] and logical.key_problems(None) == []
    assert logical.identifier_problems("orders_recovered", "target_db") == []
    assert "longer than 63 bytes" in logical.identifier_problems("ä" * 32, "target_db")[0]
    assert "must be a database name" in logical.identifier_problems("", "target_db")[0]


def test_quoting():
    assert logical.quote_ident('we"ird') == '"we""ird"'
    assert logical.quote_literal("it's") == "'it''s'"
    assert logical.quote_literal("a\\b") == "E'a\\\\b'"
    assert logical.comment_statement("a%b", "50% done") == "COMMENT ON DATABASE \"a%b\" IS '50% done'"


def test_side_names_fit_the_identifier_limit_and_do_not_split_characters():
    scratch, aside = logical.side_names("orders", SHA)
    assert scratch == "orders_sre_restore_abababab" and aside == "orders_sre_replaced_abababab"
    long_scratch, long_aside = logical.side_names("ü" * 31, SHA)
    for name in (long_scratch, long_aside):
        assert len(name.encode("utf-8")) <= 63
        name.encode("utf-8").decode("utf-8")
    assert long_scratch != long_aside


def test_a_database_name_that_looks_like_a_connection_string_is_passed_as_one():
    assert logical.dbname_argument("app") == "app"
    assert logical.dbname_argument("a=b") == "dbname='a=b'"
    assert logical.dbname_argument("postgresql://x") == "dbname='postgresql://x'"
    assert logical.dbname_argument("it's=") == "dbname='it\\'s='"


def test_tool_command_lines_hold_no_connection_secrets():
    params = dict(login_user="backup", login_password="s3cret", login_host="db.example.com", login_unix_socket="", login_port=5433,
                  login_db="app", ssl_mode="require", ca_cert=None, ssl_cert=None, ssl_key=None, connect_params={})
    dump = logical.pg_dump_argv("/bin/pg_dump", "/w/x.dump", "app", "00000003-0000001B-1")
    restore = logical.pg_restore_argv("/bin/pg_restore", "/w/x.dump", "copy", 4, no_owner=True, no_privileges=True)
    env = pg_env(params)
    assert env["PGPASSWORD"] == "s3cret" and env["PGHOST"] == "db.example.com"
    for argv in (dump, restore):
        assert "--no-password" in argv
        assert not [arg for arg in argv if "s3cret" in arg or "db.example.com" in arg]
    assert dump[dump.index("--snapshot") + 1] == "00000003-0000001B-1" and "--format=custom" in dump
    assert restore[restore.index("--jobs") + 1] == "4" and restore[restore.index("--dbname") + 1] == "copy"
    assert "--exit-on-error" in restore and "--no-owner" in restore and "--no-privileges" in restore and restore[-1] == "/w/x.dump"
    assert logical.command_text(["pg_dump", "--file", "/w/a b"]) == "pg_dump --file '/w/a b'"


def test_reads_the_tool_version():
    assert logical.parse_tool_version("pg_dump (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)\n") == "15.10"
    assert logical.parse_tool_version("pg_restore (PostgreSQL) 17beta1") == "17beta1"
    assert logical.parse_tool_version("command not found") is None


# -- manifests -----------------------------------------------------------------

def test_a_manifest_round_trips_through_json():
    built = manifest()
    parsed = logical.parse_manifest(logical.manifest_json(built))
    assert parsed == built
    assert parsed["kind"] == "backup" and parsed["dump_seconds"] == 17.5
    assert parsed["started_at"] == "2026-11-22T14:23:34Z" and parsed["finished_at"] == "2026-11-22T14:23:51Z"
    assert parsed["server_version"] == "15.10" and parsed["pg_dump_version"] == "15.10" and parsed["encoding"] == "UTF8"


@pytest.mark.parametrize("text, words", [
    ("{not json", "not JSON"),
    (json.dumps({"format": "other"}), "not a sre.runbooks.pg_logical_backup manifest"),
    (json.dumps(manifest(format_version=2)), "format_version 2"),
    (json.dumps(manifest(sha256="xyz")), "sha256 is not 64"),
    (json.dumps(manifest(size_bytes=-1)), "size_bytes"),
    (json.dumps(manifest(database="")), "names no database"),
    (json.dumps(manifest(kind="other")), "kind"),
    (json.dumps(manifest(tables=[{"schema": "public", "name": "t", "rows": "12"}])), "table entry"),
])
def test_bad_manifests_are_refused(text, words):
    with pytest.raises(ValueError, match=words):
        logical.parse_manifest(text)


def test_checksums_are_compared():
    assert logical.checksum_problem(SHA, SHA) is None
    assert logical.checksum_problem(SHA, OTHER_SHA) == "its sha256 is {0}, but the manifest says {1}".format(OTHER_SHA, SHA)


def test_classifies_what_a_key_holds():
    text = logical.manifest_json(manifest())
    assert logical.classify_object(KEY, None)[0] == "absent"
    state, found, problems = logical.classify_object(KEY, head(), text)
    assert state == "complete" and found["sha256"] == SHA and problems == []
    assert logical.classify_object(KEY, head(fmt=None), text)[0] == "foreign"
    state, _found, problems = logical.classify_object(KEY, head(), None, "it has no manifest")
    assert state == "incomplete" and problems == ["it has no manifest"]
    state, _found, problems = logical.classify_object(KEY, head(size=99, sha=OTHER_SHA), text)
    assert state == "incomplete" and len(problems) == 2 and "99 bytes" in problems[0] and OTHER_SHA in problems[1]
    assert logical.classify_object(KEY, head(), logical.manifest_json(manifest(key="elsewhere.dump")))[0] == "incomplete"
    assert logical.classify_object(KEY, head(), "{broken")[0] == "incomplete"


def test_plans_a_backup_from_what_the_key_holds():
    actions, changed = logical.plan_backup("b", KEY, "absent", [], "app")
    assert changed is True
    assert any(action.startswith("pg_dump --format=custom database app") for action in actions)
    assert actions[-1] == "upload the manifest to s3://b/{0}.manifest.json".format(KEY)
    assert logical.plan_backup("b", KEY, "complete", [], "app") == ([], False)
    actions, changed = logical.plan_backup("b", KEY, "incomplete", ["it has no manifest"], "app")
    assert changed is True and actions[0].startswith("replace the incomplete backup s3://b/")
    with pytest.raises(ValueError, match="choose another object key"):
        logical.plan_backup("b", KEY, "foreign", ["x exists and was not written by sre.runbooks.pg_logical_backup"], "app")


def entry(key, finished, database="app", kind="backup", listed=1234):
    described = logical.describe_backup(key, manifest(finished_at=finished, database=database, kind=kind), listed)
    return described


def test_lists_newest_first_and_never_picks_an_unusable_backup_or_evidence_as_latest():
    entries = [
        entry("a.dump", "2026-11-20T02:00:00Z"),
        entry("b.dump", "2026-11-22T02:00:00Z", listed=None),  # dump object missing
        entry("c.dump", "2026-11-21T02:00:00Z"),
        entry("e.dump", "2026-11-23T09:00:00Z", kind="evidence"),
        entry("o.dump", "2026-11-23T10:00:00Z", database="other"),
        dict(key="broken.dump", usable=False, problems=["the manifest is not JSON"]),
    ]
    backups, latest = logical.summarise_backups(entries)
    assert [b["key"] for b in backups] == ["o.dump", "e.dump", "b.dump", "c.dump", "a.dump", "broken.dump"]
    assert latest["key"] == "o.dump"
    backups, latest = logical.summarise_backups(entries, database="app")
    assert [b["key"] for b in backups] == ["e.dump", "b.dump", "c.dump", "a.dump"]
    assert latest["key"] == "c.dump"
    assert backups[1]["usable"] is False and "missing" in backups[1]["problems"][0]
    assert latest["table_count"] == 2 and latest["total_rows"] == 7000 and "tables" not in latest


def test_a_listed_size_that_differs_makes_a_backup_unusable():
    described = logical.describe_backup("a.dump", manifest(), 1000, include_tables=True)
    assert described["usable"] is False and "1000 bytes" in described["problems"][0]
    assert described["tables"] == TABLES


def test_compares_row_counts():
    assert logical.compare_row_counts(TABLES, {("public", "customers"): 2000, ("sales", "orders"): 5000}) == []
    problems = logical.compare_row_counts(TABLES, {("public", "customers"): 1999})
    assert problems == ["table public.customers has 1999 rows, the backup has 2000", "table sales.orders is missing (the backup has 5000 rows)"]


def test_counts_in_batches_with_quoted_names():
    tables = [dict(schema="s", name="t%d" % n) for n in range(250)] + [dict(schema='we"ird', name="x")]
    statements = logical.count_statements(tables)
    assert len(statements) == 3
    assert statements[0].startswith('SELECT 0 AS i, count(*) AS n FROM "s"."t0" UNION ALL SELECT 1 AS i')
    assert statements[2].endswith('SELECT 250 AS i, count(*) AS n FROM "we""ird"."x"')
    assert logical.count_statements([]) == []


# -- the restore ---------------------------------------------------------------

BACKUP = dict(key=KEY, sha256=SHA, size_bytes=1234, tables=TABLES, database="app")


def marker(state="restored", key=KEY, sha=SHA, created=True):
    return logical.parse_marker(logical.marker_comment(state, "b", key, sha, target="copy", created=created))


def target(exists=True, marker_=None, empty=False, counts_match=None, sessions=()):
    return dict(exists=exists, marker=marker_, empty=empty, counts_match=counts_match, sessions=list(sessions))


def test_the_marker_round_trips_and_ignores_other_comments():
    record = marker()
    assert record["state"] == "restored" and record["key"] == KEY and record["sha256"] == SHA and record["target"] == "copy"
    assert logical.holds_backup(record, BACKUP)
    assert not logical.holds_backup(marker(sha=OTHER_SHA), BACKUP)
    assert not logical.holds_backup(marker(state="restoring"), BACKUP)
    assert logical.parse_marker("Orders database, owned by the billing team") is None
    assert logical.parse_marker(logical.MARKER_PREFIX + "{broken") is None
    assert logical.parse_marker(None) is None


@pytest.mark.parametrize("state, clean, mode", [
    (target(exists=False), False, "create"),
    (target(exists=False), True, "create"),
    (target(marker_=marker(), counts_match=True), False, "done"),
    (target(marker_=marker(), counts_match=True), True, "done"),
    (target(marker_=marker(state="restoring")), False, "recreate"),
    (target(empty=True), False, "into_empty"),
    (target(), True, "replace"),
    (target(marker_=marker(), counts_match=False), True, "replace"),
    (target(marker_=marker(state="restoring", created=False)), True, "replace"),
])
def test_restore_modes(state, clean, mode):
    assert logical.plan_restore("copy", state, BACKUP, clean, "postgres") == mode


@pytest.mark.parametrize("state, clean, login_db, scratch, aside, words", [
    (target(), False, "postgres", None, False, "exists and is not empty; set clean=true"),
    (target(marker_=marker(sha=OTHER_SHA)), False, "postgres", None, False, "holds another restore"),
    (target(marker_=marker(), counts_match=False), False, "postgres", None, False, "row counts no longer match"),
    (target(marker_=marker(state="restoring", created=False)), False, "postgres", None, False, "holds another restore"),
    (target(), True, "copy", None, False, "cannot be replaced while in use"),
    (target(sessions=[dict(pid=42, user="app", application_name="api")]), True, "postgres", None, False, "pid 42 app@api"),
    (target(), True, "postgres", "foreign", False, "was not made by this module"),
    (target(), True, "postgres", None, True, "still there"),
])
def test_restore_refusals(state, clean, login_db, scratch, aside, words):
    with pytest.raises(ValueError, match=words):
        logical.plan_restore("copy", state, BACKUP, clean, login_db, scratch, aside)


def test_restore_actions_in_order():
    assert logical.restore_actions("done", "b", BACKUP, "copy", "s", "a", [], 2, True) == []
    create = logical.restore_actions("create", "b", BACKUP, "copy", "s", "a", [], 2, False)
    assert create == [
        "download s3://b/{0} (1234 bytes) into a temporary directory".format(KEY),
        "verify its sha256 against the manifest ({0}) before touching any database".format(SHA),
        "create database copy from template0",
        "pg_restore --jobs 2 into database copy",
        "verify the row counts of 2 tables against the manifest",
        "record the restored backup in the comment of database copy",
    ]
    replace = logical.restore_actions("replace", "b", BACKUP, "copy", "s", "a", ["/ev/copy.dump", "s3://b/ev.dump"], 4, True, True)
    assert replace[2] == "dump database copy as evidence to /ev/copy.dump and s3://b/ev.dump"
    assert replace[3] == "drop database s, left half restored by an interrupted run"
    assert "pg_restore --jobs 4 into database s" in replace and "ANALYZE database s" in replace
    assert replace[-2] == "swap in one transaction: rename copy to a and s to copy"
    assert replace.index("dump database copy as evidence to /ev/copy.dump and s3://b/ev.dump") < replace.index("pg_restore --jobs 4 into database s")
    assert logical.restore_actions("into_empty", "b", BACKUP, "copy", "s", "a", [], 2, False)[2] == (
        "pg_restore --jobs 2 into the existing empty database copy")
    assert logical.restore_actions("recreate", "b", BACKUP, "copy", "s", "a", [], 2, False)[2] == (
        "drop database copy, left half restored by an interrupted run")


def test_evidence_file_names_are_safe():
    assert logical.evidence_file_name("orders", START) == "orders-20261122T142334Z.dump"
    assert logical.evidence_file_name("../we ird/x", START) == ".._we_ird_x-20261122T142334Z.dump"


# -- database properties -------------------------------------------------------

def test_splits_list_settings_as_the_server_writes_them():
    assert logical.split_guc_list('"$user", public') == ["$user", "public"]
    assert logical.split_guc_list('"a,b", "say ""hi""", c') == ["a,b", 'say "hi"', "c"]
    assert logical.split_guc_list("") == []


def test_settings_are_quoted_as_pg_dump_does():
    assert logical.setting_statement("copy", "work_mem=64MB") == "ALTER DATABASE \"copy\" SET \"work_mem\" TO '64MB'"
    assert logical.setting_statement("copy", 'search_path="$user", public') == (
        "ALTER DATABASE \"copy\" SET \"search_path\" TO '$user', 'public'")
    assert logical.setting_statement("copy", "app.note=a=b") == "ALTER DATABASE \"copy\" SET \"app.note\" TO 'a=b'"


def props(**overrides):
    base = dict(owner="app_owner", encoding="UTF8", tablespace="pg_default", default_privileges=False,
                props=dict(datcollate="en_US.UTF-8", datctype="en_US.UTF-8", datlocprovider="c", datconnlimit=-1))
    base.update(overrides)
    return base


def test_creates_the_replacement_like_the_replaced_database():
    assert logical.create_statement("copy") == 'CREATE DATABASE "copy" TEMPLATE template0'
    assert logical.create_statement("s", props()) == (
        "CREATE DATABASE \"s\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'")
    icu = props(tablespace="fast", props=dict(datcollate="C", datctype="C", datlocprovider="i", daticulocale="de-CH"))
    assert logical.create_statement("s", icu).endswith("LOCALE_PROVIDER icu ICU_LOCALE 'de-CH' TABLESPACE \"fast\"")
    builtin = props(props=dict(datcollate="C", datctype="C", datlocprovider="b", datlocale="C.UTF-8"))
    assert "LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'" in logical.create_statement("s", builtin)


def test_carries_owner_privileges_settings_and_limit_over():
    privileges = [dict(grantee="PUBLIC", privilege_type="TEMPORARY", is_grantable=False),
                  dict(grantee="app_owner", privilege_type="CONNECT", is_grantable=True),
                  dict(grantee="reader", privilege_type="CONNECT", is_grantable=False)]
    settings = [dict(per_role=False, role=None, settings=["work_mem=8MB"]), dict(per_role=True, role="etl", settings=["statement_timeout=0"])]
    statements, not_carried = logical.carry_over_statements("s", props(props=dict(datconnlimit=20)), privileges, settings, "restorer")
    assert statements == [
        'ALTER DATABASE "s" CONNECTION LIMIT 20',
        "ALTER DATABASE \"s\" SET \"work_mem\" TO '8MB'",
        'REVOKE ALL ON DATABASE "s" FROM PUBLIC, "app_owner"',
        'GRANT TEMPORARY ON DATABASE "s" TO PUBLIC',
        'GRANT CONNECT ON DATABASE "s" TO "app_owner" WITH GRANT OPTION',
        'GRANT CONNECT ON DATABASE "s" TO "reader"',
        'ALTER DATABASE "s" OWNER TO "app_owner"',
    ]
    assert not_carried == ["the settings of role etl in the database (statement_timeout=0)"]


def test_default_privileges_and_own_databases_need_nothing():
    statements, not_carried = logical.carry_over_statements("s", props(owner="restorer", default_privileges=True), [], [], "restorer")
    assert statements == [] and not_carried == []


# -- files ---------------------------------------------------------------------

def test_hashes_a_file_in_chunks(tmp_path):
    path = tmp_path / "dump"
    data = bytes(range(256)) * 4099
    path.write_bytes(data)
    assert logical.sha256_file(str(path), chunk_size=1000) == (hashlib.sha256(data).hexdigest(), len(data))
    assert logical.sha256_file(str(path)) == (hashlib.sha256(data).hexdigest(), len(data))


def test_writes_private_files(tmp_path):
    path = tmp_path / "m.json"
    logical.write_private(str(path), "{}\n")
    assert path.read_text() == "{}\n" and (path.stat().st_mode & 0o777) == 0o600
