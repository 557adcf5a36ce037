# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import decimal
import uuid

import pytest
from qdrant_client.http.exceptions import UnexpectedResponse

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.vector import qdrant


def test_versions_belong_to_their_alias_only():
    assert qdrant.version_of("documents_v3", "documents") == 3
    assert qdrant.version_of("documents_v3", "docs") is None
    assert qdrant.version_of("documents", "documents") is None
    assert qdrant.version_of("my_documents_v1", "documents") is None


@pytest.mark.parametrize("versions, current, keep, retire", [
    ([1, 2, 3], 4, 1, [1, 2]),
    ([1, 2, 3], 4, 0, [1, 2, 3]),
    ([1, 2, 3], 4, 5, []),
    ([], 1, 1, []),
    ([2, 7], 8, 1, [2]),
])
def test_retention(versions, current, keep, retire):
    assert qdrant.retention(versions, current, keep) == retire


def test_first_build_creates_v1_and_the_alias():
    plan = qdrant.plan_collections("documents", [], {}, None, keep_previous=1)
    assert plan["reasons"] == ["alias documents does not exist"]
    assert plan["build"] == "documents_v1" and plan["leftovers"] == [] and plan["retire"] == []


def test_healthy_collection_needs_nothing():
    plan = qdrant.plan_collections("documents", ["documents_v1"], {"documents": "documents_v1"}, [], keep_previous=1)
    assert plan["reasons"] == [] and plan["build"] is None and plan["leftovers"] == []


def test_failing_collection_is_replaced_by_the_next_version_and_retention_applies():
    collections = ["documents_v1", "documents_v2", "documents_v3", "other"]
    plan = qdrant.plan_collections("documents", collections, {"documents": "documents_v3"}, ["1 of 10 points missing"], keep_previous=1)
    assert plan["build"] == "documents_v4"
    assert plan["retire"] == ["documents_v1", "documents_v2"]
    assert plan["keep"] == ["documents_v3"]


def test_leftover_of_an_interrupted_run_is_deleted_and_its_version_reused():
    collections = ["documents_v1", "documents_v2"]
    plan = qdrant.plan_collections("documents", collections, {"documents": "documents_v1"}, ["recall too low"], keep_previous=1)
    assert plan["leftovers"] == ["documents_v2"]
    assert plan["build"] == "documents_v2"
    assert plan["retire"] == []


def test_leftovers_without_alias_are_all_deleted():
    plan = qdrant.plan_collections("documents", ["documents_v1", "documents_v2"], {}, None, keep_previous=1)
    assert plan["leftovers"] == ["documents_v1", "documents_v2"] and plan["build"] == "documents_v1"


def test_collection_of_another_alias_is_never_retired():
    aliases = {"documents": "documents_v2", "documents_pinned": "documents_v1"}
    plan = qdrant.plan_collections("documents", ["documents_v1", "documents_v2"], aliases, ["forced"], keep_previous=0)
    assert plan["retire"] == ["documents_v2"]


def test_alias_to_a_missing_collection_is_rebuilt():
    plan = qdrant.plan_collections("documents", [], {"documents": "documents_v7"}, None, keep_previous=1)
    assert plan["reasons"] == ["alias documents points at documents_v7, which does not exist"]
    assert plan["build"] == "documents_v1"


def test_healthy_collection_forced():
    plan = qdrant.plan_collections("documents", ["documents_v1"], {"documents": "documents_v1"}, [], keep_previous=1, force=True)
    assert plan["reasons"] == ["rebuild forced"] and plan["build"] == "documents_v2" and plan["retire"] == []


@pytest.mark.parametrize("value, expected", [
    (7, 7),
    (uuid.UUID(int=5), str(uuid.UUID(int=5))),
    ("00000000-0000-0000-0000-000000000005", str(uuid.UUID(int=5))),
    ("doc-7", str(uuid.uuid5(qdrant.ID_NAMESPACE, "doc-7"))),
    (-3, str(uuid.uuid5(qdrant.ID_NAMESPACE, "-3"))),
])
def test_point_id(value, expected):
    assert qdrant.point_id(value) == expected


def test_points_keep_a_mapped_source_id_and_json_payloads():
    points = qdrant.to_points([("doc-7", [1, 2], {"when": datetime.date(2026, 1, 3), "score": decimal.Decimal("1.5")}),
                               (8, [3, 4], {"title": "x"})])
    assert points[0].payload == {"when": "2026-01-03", "score": 1.5, "source_id": "doc-7"}
    assert points[1].id == 8 and points[1].payload == {"title": "x"} and points[1].vector == [3.0, 4.0]


def unexpected(status):
    return UnexpectedResponse(status, "reason", b"", {})


def test_transient_errors_are_retried_with_doubling_delay():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise unexpected(503)
        return "ok"

    assert qdrant.with_retries(flaky, "upsert", "Qdrant", retries=5, delay=0.5, sleep=sleeps.append) == ("ok", 2)
    assert sleeps == [0.5, 1.0]


def raiser(error):
    def call():
        raise error
    return call


def test_permanent_errors_and_exhausted_retries_fail_once():
    with pytest.raises(RunbookError) as error:
        qdrant.with_retries(raiser(unexpected(400)), "upsert", "Qdrant", retries=5, delay=0, sleep=lambda s: None)
    assert error.value.details["attempts"] == 1
    with pytest.raises(RunbookError) as error:
        qdrant.with_retries(raiser(TimeoutError("slow")), "upsert", "Qdrant", retries=2, delay=0,
                            sleep=lambda s: None)
    assert error.value.details["attempts"] == 3
    assert str(error.value) == "Failed to upsert Qdrant: slow"


def test_alias_switch_is_one_request_of_delete_and_create():
    operations = qdrant.alias_switch_operations("documents", "documents_v2", "documents_v1")
    assert [type(op).__name__ for op in operations] == ["DeleteAliasOperation", "CreateAliasOperation"]
    assert [type(op).__name__ for op in qdrant.alias_switch_operations("documents", "documents_v1", None)] == ["CreateAliasOperation"]
