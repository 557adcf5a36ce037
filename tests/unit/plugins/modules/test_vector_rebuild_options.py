# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sre.runbooks.plugins.modules import pg_vector_index_rebuild as pgmod
from ansible_collections.sre.runbooks.plugins.modules import qdrant_collection_rebuild as qmod


def pg_params(**overrides):
    params = dict((name, spec.get("default")) for name, spec in pgmod.argument_spec().items())
    params.update(table="documents", index_name="documents_embedding_idx")
    params.update(overrides)
    return params


def q_params(**overrides):
    params = dict((name, spec.get("default")) for name, spec in qmod.argument_spec().items())
    params.update(table="documents", alias="documents")
    params.update(overrides)
    return params


def test_pg_defaults_are_usable():
    assert pgmod.option_problems(pg_params()) == []


def test_pg_refuses_parameters_of_the_other_method_and_bad_numbers():
    problems = pgmod.option_problems(pg_params(method="ivfflat", m=16, recall_threshold=1.5, k=0))
    assert "k must be 1 or more, got 0" in problems
    assert "recall_threshold must be between 0 and 1, got 1.5" in problems
    assert "m do(es) not apply to method ivfflat" in problems
    assert pgmod.option_problems(pg_params(lists=10)) == ["lists do(es) not apply to method hnsw"]


def test_pg_refuses_ef_construction_below_twice_m_and_the_temporary_name():
    assert pgmod.option_problems(pg_params(m=16, ef_construction=20)) == [
        "ef_construction must be at least 2 * m (pgvector refuses less), got 20 with m 16"]
    assert pgmod.option_problems(pg_params(index_name="x_rebuild")) == [
        "index_name must not end in _rebuild: that is the temporary name of a rebuild"]


def test_pg_search_settings():
    assert pgmod.search_settings(pg_params(ef_search=100, probes=4)) == ["SET LOCAL hnsw.ef_search = 100", "SET LOCAL ivfflat.probes = 4"]
    assert pgmod.search_settings(pg_params()) == []


def test_qdrant_options():
    assert qmod.option_problems(q_params()) == []
    assert qmod.option_problems(q_params(alias="documents_v2")) == ["alias documents_v2 looks like a versioned collection name (<name>_v<n>)"]
    assert qmod.option_problems(q_params(batch_size=0, keep_previous=-1)) == ["batch_size must be 1 or more, got 0",
                                                                              "keep_previous must be 0 or more, got -1"]
