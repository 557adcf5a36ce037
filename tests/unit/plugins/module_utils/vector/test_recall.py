# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import numpy as np
import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.vector.progress import Progress, rate
from ansible_collections.sre.runbooks.plugins.module_utils.vector.recall import (
    COSINE,
    INNER_PRODUCT,
    L2,
    ExactTopK,
    recall_of_query,
    recall_summary,
)


@pytest.mark.parametrize("approx, exact, k, expected", [
    ([1, 2, 3], [1, 2, 3], 3, 1.0),
    ([3, 2, 1], [1, 2, 3], 3, 1.0),  # order inside the top k does not matter
    ([1, 2, 9], [1, 2, 3], 3, 2.0 / 3),
    ([], [1, 2], 2, 0.0),
    ([1], [], 10, 1.0),  # nothing to find
    ([1, 2, 3, 4], [4, 5, 6, 7], 3, 0.0),  # only the first k of each side count
    ([1, 2], [1, 2, 3, 4], 4, 0.5),
])
def test_recall_of_query(approx, exact, k, expected):
    assert recall_of_query(approx, exact, k) == pytest.approx(expected)


def test_recall_summary_mean_min_and_threshold():
    summary = recall_summary([[1, 2], [1, 9], [8, 9]], [[1, 2], [1, 2], [1, 2]], k=2, threshold=0.5)
    assert summary == dict(k=2, queries=3, recall=0.5, min_recall=0.0, threshold=0.5, passed=True)
    assert recall_summary([[1, 9]], [[1, 2]], k=2, threshold=0.9)["passed"] is False


def test_recall_summary_without_queries_does_not_pass():
    summary = recall_summary([], [], k=10, threshold=0.9)
    assert summary["recall"] is None and summary["passed"] is False


def test_recall_summary_refuses_mismatched_lists():
    with pytest.raises(ValueError):
        recall_summary([[1]], [], k=1, threshold=0.5)


def brute_force(queries, vectors, distance, k):
    results = []
    for q in queries:
        if distance == L2:
            d = ((vectors - q) ** 2).sum(axis=1)
        elif distance == COSINE:
            d = 1 - vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
        else:
            d = -(vectors @ q)
        results.append([int(i) for i in np.argsort(d, kind="stable")[:k]])
    return results


@pytest.mark.parametrize("distance", [L2, COSINE, INNER_PRODUCT])
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_exact_top_k_in_batches_equals_brute_force(distance, batch):
    rng = np.random.default_rng(42)
    vectors = rng.normal(size=(300, 8))
    queries = vectors[[3, 50, 299]] + rng.normal(scale=0.01, size=(3, 8))
    exact = ExactTopK(queries, k=10, distance=distance)
    for start in range(0, len(vectors), batch):
        exact.add(list(range(start, min(start + batch, len(vectors)))), vectors[start:start + batch])
    assert exact.results() == brute_force(queries, vectors, distance, 10)


def test_exact_top_k_with_fewer_rows_than_k_and_any_ids():
    exact = ExactTopK([[0.0, 0.0]], k=5, distance=L2)
    exact.add(["far", "near"], [[3.0, 4.0], [0.1, 0.0]])
    exact.add([], [])
    assert exact.results() == [["near", "far"]]


def test_exact_top_k_refuses_unknown_distance():
    with pytest.raises(ValueError):
        ExactTopK([[1.0]], k=1, distance="manhattan")


def test_progress_notes_rows_share_and_rate():
    now = [100.0]
    lines = []
    progress = Progress("upsert", total=1000, interval=5, log=lines.append, clock=lambda: now[0])
    progress.add(100)
    assert progress.entries == []  # less than interval since the start
    now[0] = 106.0
    progress.add(200)
    assert progress.entries == [dict(rows_done=300, seconds=6.0, rows_per_second=50.0, rows_total=1000, percent=30.0)]
    now[0] = 110.0
    progress.done = 1000
    final = progress.finish()
    assert final["rows_per_second"] == 100.0 and final["percent"] == 100.0
    assert lines[-1] == "upsert: 1000 rows of 1000 in 10.0 s (100.0 rows/s)"


def test_rate_without_time():
    assert rate(10, 0) is None
    assert rate(10, 4) == 2.5
