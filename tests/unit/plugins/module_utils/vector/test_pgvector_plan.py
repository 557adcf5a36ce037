# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.vector import pgvector
from ansible_collections.sre.runbooks.plugins.module_utils.vector.source import column_kind, declared_dimensions, quote_ident, split_table

NAME = "documents_embedding_idx"
TEMP = "documents_embedding_idx_rebuild"


def params(**overrides):
    base = dict(method="hnsw", opclass="vector_l2_ops", m=None, ef_construction=None, lists=None)
    base.update(overrides)
    return base


def index(name=NAME, valid=True, method="hnsw", opclass="vector_l2_ops", options=("m=16", "ef_construction=64"), column="embedding"):
    return dict(name=name, valid=valid, method=method, opclass=opclass, options=list(options), column_expr=column)


HNSW = pgvector.desired_index(params(), 5000)
PASSED = dict(passed=True, reasons=[])
FAILED = dict(passed=False, reasons=["recall@10 0.31 is below 0.9 over 20 sample queries"])


def test_desired_index_defaults():
    assert HNSW["parameters"] == {"m": 16, "ef_construction": 64}
    assert pgvector.desired_index(params(method="ivfflat"), 250000)["parameters"] == {"lists": 250}
    assert pgvector.desired_index(params(method="ivfflat"), 10)["parameters"] == {"lists": 1}
    assert pgvector.desired_index(params(m=32, ef_construction=128), 1)["parameters"] == {"m": 32, "ef_construction": 128}


@pytest.mark.parametrize("existing, problems", [
    (index(), []),
    (index(options=()), []),  # no WITH: pgvector's defaults, which are what is wanted
    (index(options=("m=8",)), ["m is 8, not 16"]),
    (index(opclass="vector_cosine_ops"), ["operator class is vector_cosine_ops, not vector_l2_ops"]),
    (index(method="ivfflat", options=("lists=100",)), ["method is ivfflat, not hnsw"]),
    (index(column='"other"'), ['indexes "other", not embedding']),
])
def test_definition_problems(existing, problems):
    assert pgvector.definition_problems(existing, HNSW, "embedding") == problems


def test_ivfflat_lists_left_to_default_accepts_any_existing_value():
    desired = pgvector.desired_index(params(method="ivfflat"), 5000)
    assert pgvector.definition_problems(index(method="ivfflat", options=("lists=77",)), desired, "embedding") == []
    explicit = pgvector.desired_index(params(method="ivfflat", lists=50), 5000)
    assert pgvector.definition_problems(index(method="ivfflat", options=("lists=77",)), explicit, "embedding") == ["lists is 77, not 50"]


def test_healthy_index_needs_nothing():
    plan = pgvector.plan_rebuild([index()], NAME, HNSW, "embedding", current_check=PASSED)
    assert plan["reasons"] == [] and plan["build"] is False and plan["cleanup"] == []
    assert pgvector.plan_actions(plan, "public", "documents", NAME, "embedding", HNSW) == []


def test_healthy_index_forced_is_rebuilt():
    plan = pgvector.plan_rebuild([index()], NAME, HNSW, "embedding", current_check=PASSED, force=True)
    assert plan["reasons"] == ["rebuild forced"] and plan["build"] and plan["replaces"] == NAME


def test_missing_index_is_built_and_renamed():
    plan = pgvector.plan_rebuild([], NAME, HNSW, "embedding")
    assert plan["reasons"] == ["index documents_embedding_idx does not exist"]
    actions = pgvector.plan_actions(plan, "public", "documents", NAME, "embedding", HNSW, maintenance_work_mem="256MB")
    assert [a["action"] for a in actions] == ["set", "build", "verify", "swap"]
    assert actions[1]["sql"] == ('CREATE INDEX CONCURRENTLY "documents_embedding_idx_rebuild" ON "public"."documents" USING hnsw'
                                 ' ("embedding" vector_l2_ops) WITH (ef_construction = 64, m = 16)')
    assert actions[3]["sql"] == 'ALTER INDEX "public"."documents_embedding_idx_rebuild" RENAME TO "documents_embedding_idx"'


def test_index_failing_verification_is_rebuilt_and_swapped():
    plan = pgvector.plan_rebuild([index()], NAME, HNSW, "embedding", current_check=FAILED)
    assert plan["reasons"] == FAILED["reasons"] and plan["replaces"] == NAME
    swap = pgvector.plan_actions(plan, "public", "documents", NAME, "embedding", HNSW)[-1]
    assert swap["sql"] == ('DROP INDEX IF EXISTS "public"."documents_embedding_idx"; '
                           'ALTER INDEX "public"."documents_embedding_idx_rebuild" RENAME TO "documents_embedding_idx"')


def test_invalid_leftovers_are_dropped_and_others_reported():
    indexes = [index(valid=False), index(name=TEMP, valid=False), index(name=NAME + "_ccnew1", valid=False),
               index(name="someone_elses_idx", valid=False)]
    plan = pgvector.plan_rebuild(indexes, NAME, HNSW, "embedding")
    assert plan["cleanup"] == [NAME, NAME + "_ccnew1", TEMP]
    assert plan["other_invalid"] == ["someone_elses_idx"]
    assert plan["reasons"] == ["index documents_embedding_idx is invalid (pg_index.indisvalid is false: an interrupted build)"]
    assert plan["build"] and plan["replaces"] is None
    actions = pgvector.plan_actions(plan, "public", "documents", NAME, "embedding", HNSW)
    assert actions[0] == dict(action="drop_leftover_index", index=NAME, sql='DROP INDEX CONCURRENTLY IF EXISTS "public"."documents_embedding_idx"')


def test_valid_leftover_of_an_interrupted_run_is_swapped_in_without_building():
    plan = pgvector.plan_rebuild([index(), index(name=TEMP)], NAME, HNSW, "embedding", current_check=FAILED)
    assert plan["reuse"] == TEMP and plan["build"] is False and plan["cleanup"] == []
    assert [a["action"] for a in pgvector.plan_actions(plan, "public", "documents", NAME, "embedding", HNSW)] == ["verify", "swap"]


def test_stale_leftover_with_other_parameters_is_dropped_and_rebuilt():
    plan = pgvector.plan_rebuild([index(), index(name=TEMP, options=("m=4",))], NAME, HNSW, "embedding", current_check=FAILED)
    assert plan["reuse"] is None and plan["build"] and plan["cleanup"] == [TEMP]


def test_leftover_next_to_a_healthy_index_is_dropped():
    plan = pgvector.plan_rebuild([index(), index(name=TEMP)], NAME, HNSW, "embedding", current_check=PASSED)
    assert plan["reasons"] == [] and plan["cleanup"] == [TEMP]


def test_reindex_strategy_only_for_an_index_as_wanted():
    plan = pgvector.plan_rebuild([index()], NAME, HNSW, "embedding", current_check=FAILED, strategy="reindex")
    assert plan["strategy"] == "reindex"
    actions = pgvector.plan_actions(plan, "public", "documents", NAME, "embedding", HNSW)
    assert actions == [dict(action="reindex", index=NAME, sql='REINDEX INDEX CONCURRENTLY "public"."documents_embedding_idx"'),
                       dict(action="verify", index=NAME)]
    assert pgvector.plan_rebuild([], NAME, HNSW, "embedding", strategy="reindex")["strategy"] == "swap"
    assert pgvector.plan_rebuild([index(options=("m=8",))], NAME, HNSW, "embedding", strategy="reindex")["strategy"] == "swap"


def test_rebuild_name_fits_in_namedatalen():
    long_name = "x" * 63
    assert len(pgvector.rebuild_name(long_name)) == 63 and pgvector.rebuild_name(long_name).endswith("_rebuild")


def test_index_used_finds_the_index_anywhere_in_the_plan():
    plan = [{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Index Scan", "Index Name": NAME}]}}]
    assert pgvector.index_used(plan, NAME)
    assert not pgvector.index_used(plan, TEMP)
    assert not pgvector.index_used([{"Plan": {"Node Type": "Sort", "Plans": [{"Node Type": "Seq Scan"}]}}], NAME)


def test_sql_helpers_quote_names():
    assert quote_ident('we"ird') == '"we""ird"'
    assert split_table("app.documents") == ("app", "documents")
    assert split_table("documents") == (None, "documents")
    with pytest.raises(ValueError):
        split_table("a.b.c")
    assert pgvector.vector_literal([1, 0.5]) == "[1.0,0.5]"
    assert pgvector.parse_options(["m=16", "x=y"]) == {"m": 16, "x": "y"}


@pytest.mark.parametrize("type_name, kind, dims", [
    ("vector(384)", "vector", 384), ("vector", "vector", None), ("real[]", "array", None),
    ("double precision[]", "array", None), ("text", None, None), ("halfvec(3)", None, None),
])
def test_column_kinds(type_name, kind, dims):
    assert column_kind(type_name) == kind
    assert declared_dimensions(type_name) == dims
