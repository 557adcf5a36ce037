# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""pgvector indexes: read their state, plan a rebuild without downtime, and the SQL to do it.

The plan (plan_rebuild) is a pure function of the indexes read and the index
wanted. The rebuild builds a new index with CREATE INDEX CONCURRENTLY under a
temporary name (<index>_rebuild), verifies it, and swaps it in: in one
transaction the old index is dropped and the new one renamed, committed only
when the new index passed, so the old index stays until the new one is proven.
REINDEX INDEX CONCURRENTLY is the alternative strategy (PostgreSQL swaps
before anything can be verified). Invalid indexes left by an interrupted build
(pg_index.indisvalid false) under our names are dropped first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.module_utils.vector.recall import COSINE, INNER_PRODUCT, L2, recall_summary
from ansible_collections.sre.runbooks.plugins.module_utils.vector.source import qualified, quote_ident

HNSW = "hnsw"
IVFFLAT = "ivfflat"
METHODS = (HNSW, IVFFLAT)
# pgvector's operator classes for the vector type, the distance each orders by and its operator.
OPCLASSES = {
    "vector_l2_ops": (L2, "<->"),
    "vector_cosine_ops": (COSINE, "<=>"),
    "vector_ip_ops": (INNER_PRODUCT, "<#>"),
}
# pgvector's defaults when an index is created without WITH (...).
METHOD_DEFAULTS = {HNSW: {"m": 16, "ef_construction": 64}, IVFFLAT: {"lists": 100}}
METHOD_PARAMETERS = {HNSW: ("m", "ef_construction"), IVFFLAT: ("lists",)}
REBUILD_SUFFIX = "_rebuild"
# REINDEX CONCURRENTLY's names for the new and old copies (PostgreSQL 12 and later).
REINDEX_SUFFIXES = ("_ccnew", "_ccold")
SWAP = "swap"
REINDEX = "reindex"
STRATEGIES = (SWAP, REINDEX)
NAMEDATALEN = 63

INDEXES_SQL = (
    "SELECT c.relname AS name, n.nspname AS schema, i.indisvalid AS valid, i.indisready AS ready, am.amname AS method,"
    " opc.opcname AS opclass, pg_get_indexdef(i.indexrelid, 1, true) AS column_expr, coalesce(c.reloptions, '{}') AS options,"
    " c.reltuples::bigint AS tuples, pg_relation_size(i.indexrelid) AS bytes, pg_get_indexdef(i.indexrelid) AS definition"
    " FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " JOIN pg_am AS am ON am.oid = c.relam LEFT JOIN pg_opclass AS opc ON opc.oid = i.indclass[0]"
    " WHERE i.indrelid = to_regclass(%(table)s) ORDER BY c.relname"
)


def rebuild_name(index_name):
    """The temporary name the new index is built under (truncated like PostgreSQL would, keeping the suffix)."""
    return index_name[:NAMEDATALEN - len(REBUILD_SUFFIX)] + REBUILD_SUFFIX


def is_leftover_name(name, index_name):
    """Whether `name` is one of the names our rebuilds (or REINDEX CONCURRENTLY) of index_name use."""
    if name in (index_name, rebuild_name(index_name)):
        return True
    return any(name.startswith(index_name + suffix) for suffix in REINDEX_SUFFIXES)


def parse_options(options):
    """{'m': 16} from reloptions ['m=16']; numbers as int."""
    parsed = {}
    for item in options or []:
        key, _sep, value = item.partition("=")
        try:
            parsed[key] = int(value)
        except ValueError:
            parsed[key] = value
    return parsed


def desired_index(params, source_rows):
    """The index wanted, from the module options: method, opclass, WITH parameters.

    Parameters not given take pgvector's defaults, except ivfflat lists: rows / 1000
    (pgvector's advice up to a million rows), at least 1, when not given.
    """
    method = params["method"]
    wanted = {}
    for name in METHOD_PARAMETERS[method]:
        value = params.get(name)
        if value is None:
            if method == IVFFLAT:
                value = max(1, int(source_rows) // 1000)
            else:
                value = METHOD_DEFAULTS[method][name]
        wanted[name] = value
    return dict(method=method, opclass=params["opclass"], parameters=wanted,
                explicit=[name for name in METHOD_PARAMETERS[method] if params.get(name) is not None])


def definition_problems(index, desired, column):
    """Why an existing index is not the index wanted (method, opclass, column, parameters); empty when it is."""
    problems = []
    if index["method"] != desired["method"]:
        problems.append("method is {0}, not {1}".format(index["method"], desired["method"]))
        return problems
    if index.get("opclass") != desired["opclass"]:
        problems.append("operator class is {0}, not {1}".format(index.get("opclass"), desired["opclass"]))
    if (index.get("column_expr") or "").strip('"') != column:
        problems.append("indexes {0}, not {1}".format(index.get("column_expr"), column))
    actual = dict(METHOD_DEFAULTS[desired["method"]], **parse_options(index.get("options")))
    for name, value in sorted(desired["parameters"].items()):
        # ivfflat lists left to the default follows the row count: any value is accepted then.
        if desired["method"] == IVFFLAT and name == "lists" and name not in desired.get("explicit", []):
            continue
        if actual.get(name) != value:
            problems.append("{0} is {1}, not {2}".format(name, actual.get(name), value))
    return problems


def create_index_sql(schema, table, name, column, desired, concurrently=True):
    parameters = ", ".join("{0} = {1}".format(key, int(value)) for key, value in sorted(desired["parameters"].items()))
    return "CREATE INDEX {0}{1} ON {2} USING {3} ({4} {5}) WITH ({6})".format(
        "CONCURRENTLY " if concurrently else "", quote_ident(name), qualified(schema, table), desired["method"],
        quote_ident(column), desired["opclass"], parameters)


def drop_index_sql(schema, name, concurrently=True):
    return "DROP INDEX {0}IF EXISTS {1}".format("CONCURRENTLY " if concurrently else "", qualified(schema, name))


def rename_index_sql(schema, name, new_name):
    return "ALTER INDEX {0} RENAME TO {1}".format(qualified(schema, name), quote_ident(new_name))


def reindex_sql(schema, name):
    return "REINDEX INDEX CONCURRENTLY {0}".format(qualified(schema, name))


def nearest_sql(schema, table, id_column, column, operator):
    """The application's query: the k nearest rows to a vector, ordered by the index's operator."""
    return "SELECT {0} AS id FROM {1} ORDER BY {2} {3} %(query)s::vector LIMIT %(k)s".format(
        quote_ident(id_column), qualified(schema, table), quote_ident(column), operator)


def plan_rebuild(indexes, index_name, desired, column, current_check=None, force=False, strategy=SWAP):
    """What to do to end with a valid, verified index_name as desired. Pure: no database needed.

    indexes -- rows of INDEXES_SQL for the table
    current_check -- the verification of the current index_name when it is valid and as desired
                     (a dict with 'passed' and 'reasons'), or None when it was not verified
    force -- rebuild even a valid index that passed its verification
    Returns a dict: cleanup (invalid leftover names to drop), reuse (a valid <index>_rebuild to swap in
    without building again), build (True/False), strategy actually used, reasons (why a rebuild is needed,
    empty when none), other_invalid (invalid indexes of the table that are not ours: reported, left alone).
    """
    by_name = dict((row["name"], row) for row in indexes)
    temp = rebuild_name(index_name)
    cleanup, other_invalid = [], []
    for row in indexes:
        if row["valid"]:
            continue
        if is_leftover_name(row["name"], index_name):
            cleanup.append(row["name"])
        else:
            other_invalid.append(row["name"])
    current = by_name.get(index_name)
    reasons = []
    if current is None:
        reasons.append("index {0} does not exist".format(index_name))
    elif not current["valid"]:
        reasons.append("index {0} is invalid (pg_index.indisvalid is false: an interrupted build)".format(index_name))
    else:
        reasons.extend(definition_problems(current, desired, column))
        if not reasons and current_check is not None and not current_check.get("passed"):
            reasons.extend(current_check.get("reasons") or ["verification failed"])
        if not reasons and force:
            reasons.append("rebuild forced")
    reuse = None
    candidate = by_name.get(temp)
    if reasons and candidate is not None and candidate["valid"] and not definition_problems(candidate, desired, column):
        reuse = temp  # built by an interrupted earlier run: verify and swap it in
    elif candidate is not None and candidate["valid"]:
        cleanup.append(temp)  # a stale or mismatched leftover: rebuilt
    used = strategy
    # REINDEX keeps the index's definition: only possible for a valid index that is already as wanted.
    if strategy == REINDEX and (current is None or not current["valid"] or definition_problems(current, desired, column)):
        used = SWAP
    build = bool(reasons) and reuse is None
    return dict(cleanup=sorted(set(cleanup)), reuse=reuse, build=build, strategy=used, reasons=reasons,
                other_invalid=other_invalid, temporary_name=temp,
                replaces=index_name if current is not None and current["valid"] else None)


def plan_actions(plan, schema, table, index_name, column, desired, maintenance_work_mem=None):
    """The plan as a list of actions with the SQL each runs, in order (returned in check mode as well)."""
    actions = []
    for name in plan["cleanup"]:
        actions.append(dict(action="drop_leftover_index", index=name, sql=drop_index_sql(schema, name)))
    if not plan["reasons"]:
        return actions
    if plan["strategy"] == REINDEX:
        if maintenance_work_mem:
            actions.append(dict(action="set", sql="SET maintenance_work_mem = '{0}'".format(maintenance_work_mem)))
        actions.append(dict(action="reindex", index=index_name, sql=reindex_sql(schema, index_name)))
        actions.append(dict(action="verify", index=index_name))
        return actions
    if plan["build"]:
        if maintenance_work_mem:
            actions.append(dict(action="set", sql="SET maintenance_work_mem = '{0}'".format(maintenance_work_mem)))
        actions.append(dict(action="build", index=plan["temporary_name"],
                            sql=create_index_sql(schema, table, plan["temporary_name"], column, desired)))
    actions.append(dict(action="verify", index=plan["temporary_name"], hides=plan["replaces"]))
    swap = []
    if plan["replaces"]:
        swap.append(drop_index_sql(schema, index_name, concurrently=False))
    swap.append(rename_index_sql(schema, plan["temporary_name"], index_name))
    actions.append(dict(action="swap", index=index_name, replaces=plan["replaces"], sql="; ".join(swap)))
    return actions


def index_used(plan_json, index_name):
    """Whether an EXPLAIN (FORMAT JSON) plan scans index_name anywhere."""
    stack = [plan_json]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("Index Name") == index_name:
                return True
            stack.extend(node.values())
    return False


def vector_literal(values):
    """pgvector's text form of a vector: [1,2,3]."""
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


# -- against the database ------------------------------------------------------------------------

INDEX_STATE_SQL = (
    "SELECT i.indisvalid AS valid, c.reltuples::bigint AS tuples FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid"
    " WHERE i.indexrelid = to_regclass(%(index)s)"
)
BUILD_PROGRESS_SQL = (
    "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total FROM pg_stat_progress_create_index"
    " WHERE relid = to_regclass(%(table)s)"
)
# No index may answer: the exact k nearest rows come from a sequential scan and a sort.
EXACT_SETTINGS = ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_indexonlyscan = off", "SET LOCAL enable_bitmapscan = off")


def _render(cursor, sql, params):
    if params is None:
        return sql
    text = cursor.mogrify(sql, params)
    return text.decode("utf-8") if isinstance(text, bytes) else text


def _rows(cursor):
    return [row if isinstance(row, dict) else dict(zip([col[0] for col in cursor.description], row)) for row in cursor.fetchall()]


class Transaction:
    """One transaction on an autocommit connection; statements are recorded in db.queries.

    Commits only when commit() was called inside the block, rolls back otherwise.
    """

    def __init__(self, db):
        self.db = db
        self.conn = db.conn
        self._commit = False
        self._was_autocommit = None
        self.cursor = None

    def __enter__(self):
        self._was_autocommit = self.conn.autocommit
        self.conn.autocommit = False
        self.cursor = self.conn.cursor()
        return self

    def run(self, sql, params=None, record=True, fetch=False):
        """Execute one statement (recorded as sent unless record=False); its rows as dicts with fetch."""
        if record:
            self.db.queries.append(_render(self.cursor, sql, params))
        self.cursor.execute(sql, params)
        return _rows(self.cursor) if fetch else None

    def commit(self):
        self._commit = True

    def __exit__(self, exc_type, exc, tb):
        try:
            self.cursor.close()
            if self._commit and exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.autocommit = self._was_autocommit
        return False


def exact_neighbours(db, source, operator, sample, k):
    """The exact k nearest ids of each sample vector, from sequential scans (index scans off)."""
    sql = nearest_sql(source.schema, source.name, source.id_column, source.vector_column, operator)
    results = []
    with Transaction(db) as tx:
        for setting in EXACT_SETTINGS:
            tx.run(setting)
        db.queries.append(sql + "  -- exact: index scans off, once per sample query")
        for _id, vector in sample:
            rows = tx.run(sql, dict(query=vector_literal(vector), k=k), record=False, fetch=True)
            results.append([row["id"] for row in rows])
    return results


def verify_index(db, source, index_name, operator, sample, exact, k, threshold, hide=None, search_settings=(),
                 lock_timeout="5s", count_tolerance=0, judge_count=True, on_pass=()):
    """Verify index_name: valid, used by the planner for the nearest-rows query, its tuples, recall@k.

    hide -- an index dropped inside the verification transaction (the old one), so the planner can only
            choose index_name; the drop is undone unless the verification passed and on_pass commits it
    on_pass -- statements run and committed in the same transaction when everything passed (the swap)
    Returns a dict with valid, planner_uses_index, index_tuples, source_rows, count_matches, recall...,
    passed, reasons, swapped.
    """
    schema = source.schema
    qualified_index = qualified(schema, index_name)
    sql = nearest_sql(schema, source.name, source.id_column, source.vector_column, operator)
    result = dict(index=index_name, swapped=False)
    with Transaction(db) as tx:
        tx.run("SET LOCAL lock_timeout = %(timeout)s", dict(timeout=lock_timeout))
        if hide:
            tx.run(drop_index_sql(schema, hide, concurrently=False))
        for setting in search_settings:
            tx.run(setting)
        state = tx.run(INDEX_STATE_SQL, dict(index=qualified_index), fetch=True)
        if not state:
            result.update(valid=False, passed=False, reasons=["index {0} does not exist".format(index_name)])
            return result
        rows = tx.run("SELECT count(*) AS rows FROM {0} WHERE {1} IS NOT NULL".format(
            qualified(schema, source.name), quote_ident(source.vector_column)), fetch=True)
        result.update(valid=bool(state[0]["valid"]), index_tuples=int(state[0]["tuples"]), source_rows=int(rows[0]["rows"]))
        result["count_difference"] = result["index_tuples"] - result["source_rows"]
        result["count_matches"] = abs(result["count_difference"]) <= count_tolerance
        db.queries.append("EXPLAIN (FORMAT JSON) " + sql + "  -- with the first sample query")
        explain = tx.run("EXPLAIN (FORMAT JSON) " + sql, dict(query=vector_literal(sample[0][1]), k=k), record=False,
                         fetch=True) if sample else []
        plan = list(explain[0].values())[0] if explain else None
        result["planner_uses_index"] = bool(plan) and index_used(plan, index_name)
        db.queries.append(sql + "  -- once per sample query")
        approx = [[row["id"] for row in tx.run(sql, dict(query=vector_literal(vector), k=k), record=False, fetch=True)]
                  for _id, vector in sample]
        result.update(recall_summary_for(approx, exact, k, threshold))
        reasons = []
        if not result["valid"]:
            reasons.append("index {0} is invalid".format(index_name))
        if not result["planner_uses_index"]:
            reasons.append("the planner does not use {0} for ORDER BY {1} {2} $1 LIMIT {3}".format(
                index_name, source.vector_column, operator, k))
        if judge_count and not result["count_matches"]:
            reasons.append("the index holds {0} tuples, the table {1} rows with a vector".format(result["index_tuples"], result["source_rows"]))
        if not result["recall_passed"]:
            reasons.append("recall@{0} {1} is below {2} over {3} sample queries".format(k, result["recall"], threshold, result["sample_queries"]))
        result["reasons"] = reasons
        result["passed"] = not reasons
        if result["passed"] and on_pass:
            for statement in on_pass:
                tx.run(statement)
            tx.commit()
            result["swapped"] = True
    return result


def recall_summary_for(approx, exact, k, threshold):
    """recall_summary() under the names the verification result uses."""
    summary = recall_summary(approx, exact, k, threshold)
    return dict(recall=summary["recall"], min_recall=summary["min_recall"], k=k, sample_queries=summary["queries"],
                recall_threshold=threshold, recall_passed=summary["passed"])


def read_indexes(db, source):
    return db.read(INDEXES_SQL, dict(table=source.sql_table))


def read_build_progress(db, source):
    rows = db.read(BUILD_PROGRESS_SQL, dict(table=source.sql_table))
    return rows[0] if rows else None
