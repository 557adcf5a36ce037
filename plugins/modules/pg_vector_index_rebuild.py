#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_vector_index_rebuild
short_description: Rebuild a pgvector HNSW or IVFFlat index without downtime, verified by count, planner and recall
version_added: 0.1.0
description:
  - The "Rebuild Vector Index" runbook for embeddings kept in PostgreSQL with pgvector, in one declarative task.
  - Reads the table and its indexes, and verifies the current index O(index_name) the way a rebuilt one is verified
    (valid, used by the planner, recall@k against exact results). The index is rebuilt only when it is missing,
    invalid (C(pg_index.indisvalid) false, left by an interrupted build), not as wanted (method, operator class,
    parameters) or fails that verification; or always with O(force=true). A second run therefore reports C(changed=false).
  - With O(strategy=swap) (default) the new index is built with C(CREATE INDEX CONCURRENTLY) under the name
    C(<index_name>_rebuild), so reads and writes go on. It is then verified in a transaction that drops the old index
    (so the planner can only choose the new one); that transaction renames the new index to O(index_name) and commits
    only when the verification passed, otherwise it rolls back, the old index is back untouched and the new one is dropped.
  - With O(strategy=reindex), C(REINDEX INDEX CONCURRENTLY) rebuilds the index in place (same definition only);
    PostgreSQL swaps before the module can verify, so the old index does not wait for the verification.
  - Invalid indexes under the names the rebuilds use (O(index_name), C(<index_name>_rebuild), C(<index_name>_ccnew*),
    C(<index_name>_ccold*)) are dropped with C(DROP INDEX CONCURRENTLY) first. A valid C(<index_name>_rebuild) left by an
    interrupted run is verified and swapped in without building again, so a rerun converges. Invalid indexes of the
    table under other names are reported in RV(other_invalid_indexes) and left alone.
  - Verification, for the current index and the new one. The index is valid. EXPLAIN of
    C(SELECT id FROM table ORDER BY vector_column <op> $1 LIMIT k) scans it. Its tuple count equals the rows with a
    vector (within O(count_tolerance); judged for a new index only, as ANALYZE later replaces the count with an estimate).
    The mean recall@k over O(sample_queries) sample rows, against exact results from sequential scans
    (index scans off), is at least O(recall_threshold). The numbers are returned in RV(verification).
  - In check mode, reads and verifies, and returns the plan with the SQL it would run; nothing is changed.
  - Requires pgvector 0.5 or later (HNSW) in the database, and the C(vector) type for O(vector_column).
options:
  table:
    description:
      - Table holding the embeddings, C(table) or C(schema.table); names are taken as written (case-sensitive).
    type: str
    required: true
  id_column:
    description: Primary key (or any unique) column identifying a row.
    type: str
    default: id
  vector_column:
    description: Column of pgvector type C(vector) the index is on.
    type: str
    default: embedding
  index_name:
    description:
      - Name of the index the application's queries use. Created when missing.
    type: str
    required: true
  method:
    description: Index access method.
    type: str
    choices: [hnsw, ivfflat]
    default: hnsw
  opclass:
    description:
      - Operator class, the distance the application orders by; V(vector_l2_ops) for C(<->),
        V(vector_cosine_ops) for C(<=>), V(vector_ip_ops) for C(<#>).
    type: str
    choices: [vector_l2_ops, vector_cosine_ops, vector_ip_ops]
    default: vector_l2_ops
  m:
    description: HNSW C(m), connections per layer. Unset, pgvector's default V(16).
    type: int
  ef_construction:
    description: HNSW C(ef_construction), candidate list size while building. Unset, pgvector's default V(64).
    type: int
  lists:
    description:
      - IVFFlat C(lists). Unset, rows / 1000 (at least 1), pgvector's advice up to a million rows;
        an existing index's lists is then accepted whatever it is.
    type: int
  maintenance_work_mem:
    description:
      - C(maintenance_work_mem) for the build session, for example V(1GB); an HNSW build that fits in it is much faster.
        Unset, the server's setting.
    type: str
  strategy:
    description:
      - V(swap), build a new index concurrently, verify it, swap it in; V(reindex), C(REINDEX INDEX CONCURRENTLY)
        (only when the index exists, is valid and as wanted; otherwise V(swap) is used).
    type: str
    choices: [swap, reindex]
    default: swap
  force:
    description: Rebuild even when the current index is as wanted and passes the verification.
    type: bool
    default: false
  sample_queries:
    description: Number of sample rows whose vectors serve as queries for recall@k (chosen by a hash of their id).
    type: int
    default: 20
  k:
    description: Number of nearest neighbours compared for recall@k.
    type: int
    default: 10
  recall_threshold:
    description: Lowest acceptable mean recall@k, between 0 and 1.
    type: float
    default: 0.9
  ef_search:
    description: C(hnsw.ef_search) for the verification queries. Unset, the server's (pgvector's default is 40).
    type: int
  probes:
    description: C(ivfflat.probes) for the verification queries. Unset, the server's (pgvector's default is 1).
    type: int
  count_tolerance:
    description:
      - How many rows the new index's tuple count may differ from the rows with a vector, for tables written to
        during the rebuild (rows written after the build's snapshot are in the index but not in its count).
    type: int
    default: 0
  lock_timeout:
    description:
      - C(lock_timeout) of the verification and swap transaction, which drops the old index and renames the new one
        (a short ACCESS EXCLUSIVE lock on the table). When it expires the task fails; the new index stays, valid,
        under C(<index_name>_rebuild) and a rerun verifies and swaps it.
    type: str
    default: 5s
  progress_interval:
    description: Seconds between two progress notes (C(pg_stat_progress_create_index)) while the index builds.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - The login role must own the table (to create and drop its indexes).
  - Not for float array columns, which pgvector cannot index without an expression index; rebuild those into
    Qdrant with M(sre.runbooks.qdrant_collection_rebuild) or add a C(vector) column.
  - Progress notes go to the managed node's log (syslog or journal) and to RV(progress).
seealso:
  - module: sre.runbooks.qdrant_collection_rebuild
  - name: pgvector
    description: Indexing options of pgvector.
    link: https://github.com/pgvector/pgvector#indexing
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Show what a rebuild of the documents index would do
  sre.runbooks.pg_vector_index_rebuild:
    login_host: db.example.com
    login_user: app_owner
    login_db: app
    table: documents
    index_name: documents_embedding_idx
  check_mode: true
  register: plan

- name: Rebuild it as HNSW with more memory for the build
  sre.runbooks.pg_vector_index_rebuild:
    login_host: db.example.com
    login_user: app_owner
    login_db: app
    table: documents
    vector_column: embedding
    index_name: documents_embedding_idx
    method: hnsw
    m: 16
    ef_construction: 64
    maintenance_work_mem: 1GB
    recall_threshold: 0.95
  environment:
    PGPASSWORD: "{{ app_owner_password }}"
"""

RETURN = r"""
plan:
  description: Why a rebuild is (or was) needed, and how.
  returned: success
  type: dict
  contains:
    reasons:
      description: Why the index is rebuilt; empty when it is healthy and nothing is built.
      type: list
      elements: str
    strategy:
      description: V(swap) or V(reindex), as used.
      type: str
    cleanup:
      description: Leftover invalid (or stale) indexes dropped first.
      type: list
      elements: str
    reuse:
      description: A valid C(<index_name>_rebuild) left by an interrupted run, swapped in without building; or null.
      type: str
    build:
      description: Whether a new index is built.
      type: bool
  sample: {"reasons": ["index documents_embedding_idx does not exist"], "strategy": "swap", "cleanup": [], "reuse": null, "build": true}
actions:
  description: The planned actions in order, with the SQL each runs; the same in check mode.
  returned: success
  type: list
  elements: dict
  sample:
    - {action: build, index: documents_embedding_idx_rebuild,
       sql: "CREATE INDEX CONCURRENTLY ... USING hnsw (\"embedding\" vector_l2_ops) WITH (ef_construction = 64, m = 16)"}
    - {action: verify, index: documents_embedding_idx_rebuild, hides: null}
    - {action: swap, index: documents_embedding_idx, replaces: null, sql: "ALTER INDEX ... RENAME TO ..."}
source:
  description: The table read and its rows with a vector.
  returned: success
  type: dict
  sample: {"table": "public.documents", "id_column": "id", "vector_column": "embedding", "vector_type": "vector(384)", "rows": 100000}
index:
  description: The index wanted (method, opclass, parameters) and, after the run, its definition and size.
  returned: success
  type: dict
  sample: {"name": "documents_embedding_idx", "method": "hnsw", "opclass": "vector_l2_ops", "parameters": {"m": 16, "ef_construction": 64}}
verification:
  description:
    - The verification of the index in place at the end (of the new one after a rebuild); in check mode, of the current one.
    - C(valid), C(planner_uses_index), C(index_tuples), C(source_rows), C(count_matches), C(recall), C(min_recall),
      C(k), C(sample_queries), C(recall_threshold), C(passed), C(reasons).
  returned: success
  type: dict
  sample: {"valid": true, "planner_uses_index": true, "index_tuples": 100000, "source_rows": 100000, "count_matches": true,
           "recall": 0.985, "min_recall": 0.9, "k": 10, "sample_queries": 20, "recall_threshold": 0.9, "passed": true, "reasons": []}
current_verification:
  description: The verification of the index found at the start, when it was valid and as wanted; null otherwise.
  returned: success
  type: dict
dropped:
  description: Indexes dropped (leftovers, and the old index replaced).
  returned: success
  type: list
  elements: str
other_invalid_indexes:
  description: Invalid indexes of the table that are not under the rebuild's names; left alone.
  returned: success
  type: list
  elements: str
build_seconds:
  description: Seconds the index build took; null when nothing was built.
  returned: success
  type: float
rows_per_second:
  description: Throughput of the build, rows with a vector over RV(build_seconds).
  returned: success
  type: float
progress:
  description: Progress notes taken while building (C(pg_stat_progress_create_index)).
  returned: success
  type: list
  elements: dict
queries:
  description: The SQL statements run, as sent; in check mode the writes it would run. A statement repeated per sample query is listed once.
  returned: success
  type: list
  elements: str
"""

import threading

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    DRIVER_ERROR,
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    postgres_argument_spec,
)
from ansible_collections.sre.runbooks.plugins.module_utils.vector import pgvector
from ansible_collections.sre.runbooks.plugins.module_utils.vector.progress import Progress, rate
from ansible_collections.sre.runbooks.plugins.module_utils.vector.source import VectorSource


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        table=dict(type="str", required=True),
        id_column=dict(type="str", default="id"),
        vector_column=dict(type="str", default="embedding"),
        index_name=dict(type="str", required=True),
        method=dict(type="str", default="hnsw", choices=list(pgvector.METHODS)),
        opclass=dict(type="str", default="vector_l2_ops", choices=sorted(pgvector.OPCLASSES)),
        m=dict(type="int"),
        ef_construction=dict(type="int"),
        lists=dict(type="int"),
        maintenance_work_mem=dict(type="str"),
        strategy=dict(type="str", default="swap", choices=list(pgvector.STRATEGIES)),
        force=dict(type="bool", default=False),
        sample_queries=dict(type="int", default=20),
        k=dict(type="int", default=10),
        recall_threshold=dict(type="float", default=0.9),
        ef_search=dict(type="int"),
        probes=dict(type="int"),
        count_tolerance=dict(type="int", default=0),
        lock_timeout=dict(type="str", default="5s"),
        progress_interval=dict(type="float", default=5.0),
    )
    return spec


def option_problems(params):
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    for name in ("sample_queries", "k", "m", "ef_construction", "lists", "ef_search", "probes"):
        if params.get(name) is not None and params[name] < 1:
            problems.append("{0} must be 1 or more, got {1}".format(name, params[name]))
    if not 0 <= params["recall_threshold"] <= 1:
        problems.append("recall_threshold must be between 0 and 1, got {0}".format(params["recall_threshold"]))
    if params["count_tolerance"] < 0:
        problems.append("count_tolerance must be 0 or more, got {0}".format(params["count_tolerance"]))
    wrong = [name for name in ("m", "ef_construction") if params.get(name) is not None and params["method"] != pgvector.HNSW]
    wrong += ["lists"] if params.get("lists") is not None and params["method"] != pgvector.IVFFLAT else []
    if wrong:
        problems.append("{0} do(es) not apply to method {1}".format(", ".join(wrong), params["method"]))
    if params.get("m") is not None and params.get("ef_construction") is not None and params["ef_construction"] < 2 * params["m"]:
        problems.append("ef_construction must be at least 2 * m (pgvector refuses less), got {0} with m {1}".format(
            params["ef_construction"], params["m"]))
    if params["index_name"].endswith(pgvector.REBUILD_SUFFIX):
        problems.append("index_name must not end in {0}: that is the temporary name of a rebuild".format(pgvector.REBUILD_SUFFIX))
    return problems


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("use", "the options", "; ".join(problems))


def search_settings(params):
    settings = []
    if params.get("ef_search"):
        settings.append("SET LOCAL hnsw.ef_search = {0:d}".format(params["ef_search"]))
    if params.get("probes"):
        settings.append("SET LOCAL ivfflat.probes = {0:d}".format(params["probes"]))
    return settings


class BuildWatcher:
    """Poll pg_stat_progress_create_index from a second connection while the index builds."""

    def __init__(self, module, source, progress):
        self.module = module
        self.source = source
        self.progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sre-runbooks-build-progress")
        self._thread.daemon = True

    def _run(self):
        try:
            conn = connect(self.module)
        except RunbookError:
            return
        try:
            db = QueryRecorder(conn, "progress")
            while not self._stop.wait(self.progress.interval):
                row = pgvector.read_build_progress(db, self.source)
                if row:
                    self.progress.done = int(row.get("tuples_done") or 0)
                    self.progress.note(phase=row.get("phase"), blocks_done=row.get("blocks_done"), blocks_total=row.get("blocks_total"))
        except (RunbookError, DRIVER_ERROR):
            pass
        finally:
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        return False


def _index_summary(indexes, name):
    for row in indexes:
        if row["name"] == name:
            return dict(name=name, valid=row["valid"], method=row["method"], opclass=row["opclass"],
                        parameters=pgvector.parse_options(row["options"]), tuples=row["tuples"], bytes=row["bytes"],
                        definition=row["definition"])
    return None


def rebuild_index(module, conn):
    params = module.params
    target = describe_target(params)
    db = QueryRecorder(conn, target, module.check_mode)
    source = VectorSource(db, params["table"], params["id_column"], params["vector_column"])
    source_info = source.describe()
    if source.kind != "vector":
        raise RunbookError("index", "column {0} of table {1}".format(params["vector_column"], params["table"]),
                           "its type is {0}; pgvector indexes need the vector type".format(source_info["vector_type"]))
    index_name = params["index_name"]
    schema, table, column = source.schema, source.name, source.vector_column
    rows = source.count()
    source_info["rows"] = rows
    desired = pgvector.desired_index(params, rows)
    wanted = dict(name=index_name, method=desired["method"], opclass=desired["opclass"], parameters=desired["parameters"])
    _distance, operator = pgvector.OPCLASSES[params["opclass"]]
    k, threshold = params["k"], params["recall_threshold"]
    settings = search_settings(params)

    indexes = pgvector.read_indexes(db, source)
    before = _index_summary(indexes, index_name)
    sample = source.sample(params["sample_queries"])
    exact = pgvector.exact_neighbours(db, source, operator, sample, k) if sample else []

    def verify(name, hide=None, on_pass=(), judge_count=True):
        return pgvector.verify_index(db, source, name, operator, sample, exact, k, threshold, hide=hide, search_settings=settings,
                                     lock_timeout=params["lock_timeout"], count_tolerance=params["count_tolerance"],
                                     judge_count=judge_count, on_pass=on_pass)

    current = dict((row["name"], row) for row in indexes).get(index_name)
    current_check = None
    if current is not None and current["valid"] and not pgvector.definition_problems(current, desired, column) and rows:
        current_check = verify(index_name, judge_count=False)
    plan = pgvector.plan_rebuild(indexes, index_name, desired, column, current_check=current_check, force=params["force"],
                                 strategy=params["strategy"])
    actions = pgvector.plan_actions(plan, schema, table, index_name, column, desired, params["maintenance_work_mem"])
    if not rows and plan["reasons"]:
        raise RunbookError("rebuild", "index {0} of {1}".format(index_name, params["table"]),
                           "the table has no row with a vector: nothing to build or verify the index with")
    changed = bool(plan["cleanup"] or plan["reasons"])
    result = dict(plan=dict(reasons=plan["reasons"], strategy=plan["strategy"], cleanup=plan["cleanup"], reuse=plan["reuse"],
                            build=plan["build"]),
                  source=source_info, other_invalid_indexes=plan["other_invalid"], current_verification=current_check,
                  build_seconds=None, rows_per_second=None, progress=[], dropped=[])
    for name in plan["other_invalid"]:
        module.warn("index {0} of {1} is invalid and not one of the rebuild's names; left alone".format(name, params["table"]))

    if module.check_mode:
        for action in actions:
            if action.get("sql"):
                db.write(action["sql"])
        return module.result(changed=changed, actions=actions, before=before, after=wanted if changed else before,
                             index=wanted, verification=current_check, queries=db.queries, **result)

    for name in plan["cleanup"]:
        db.write(pgvector.drop_index_sql(schema, name))
        result["dropped"].append(name)
    verification = current_check
    if plan["reasons"]:
        if params["maintenance_work_mem"] and (plan["build"] or plan["strategy"] == pgvector.REINDEX):
            db.write("SET maintenance_work_mem = %(value)s", dict(value=params["maintenance_work_mem"]))
        progress = Progress("build of {0}".format(index_name), total=rows, interval=params["progress_interval"], log=module.log)
        if plan["strategy"] == pgvector.REINDEX:
            with BuildWatcher(module, source, progress):
                db.write(pgvector.reindex_sql(schema, index_name))
            result["build_seconds"] = round(progress.elapsed, 3)
            verification = verify(index_name)
            if not verification["passed"]:
                raise RunbookError("verify", "index {0} after REINDEX CONCURRENTLY".format(index_name), "; ".join(verification["reasons"]),
                                   verification=verification, queries=db.queries)
        else:
            temp = plan["temporary_name"]
            if plan["build"]:
                with BuildWatcher(module, source, progress):
                    db.write(pgvector.create_index_sql(schema, table, temp, column, desired))
                result["build_seconds"] = round(progress.elapsed, 3)
            swap = [pgvector.rename_index_sql(schema, temp, index_name)]
            verification = verify(temp, hide=plan["replaces"], on_pass=swap)
            if not verification["swapped"]:
                # The old index is back untouched (the transaction rolled back); the unproven new one goes.
                db.write(pgvector.drop_index_sql(schema, temp))
                raise RunbookError("verify", "new index {0} of {1}".format(temp, params["table"]),
                                   "{0}; it was dropped and {1} left as it was".format(
                                       "; ".join(verification["reasons"]),
                                       "the old index" if plan["replaces"] else "no index"),
                                   verification=verification, queries=db.queries)
            if plan["replaces"]:
                result["dropped"].append(index_name)
            verification["index"] = index_name
        progress.done = rows
        progress.finish()
        result["progress"] = progress.entries
        if result["build_seconds"]:
            result["rows_per_second"] = rate(rows, result["build_seconds"])

    # read back: the index in place, valid, and what the planner does with it now that it is the only one
    after_indexes = pgvector.read_indexes(db, source)
    after = _index_summary(after_indexes, index_name)
    if plan["reasons"]:
        final = verify(index_name, judge_count=False)
        verification["planner_uses_index_after_swap"] = final["planner_uses_index"]
        if not final["planner_uses_index"] or not final["valid"]:
            raise RunbookError("verify", "index {0} of {1} after the swap".format(index_name, params["table"]), "; ".join(final["reasons"]),
                               verification=final, queries=db.queries)
    left = [row["name"] for row in after_indexes if not row["valid"] and pgvector.is_leftover_name(row["name"], index_name)]
    if left:
        raise RunbookError("rebuild", "index {0} of {1}".format(index_name, params["table"]),
                           "invalid indexes remain: {0}".format(", ".join(left)), queries=db.queries)
    return module.result(changed=changed, actions=actions, before=before, after=after, index=dict(after or {}, **wanted),
                         verification=verification, queries=db.queries, **result)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
    module.run(rebuild_index, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
