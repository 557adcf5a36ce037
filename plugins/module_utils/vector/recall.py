# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Recall@k of an approximate vector index against exact (brute force) results.

recall_summary() is pure Python and unit-tested without an engine. ExactTopK
keeps the exact k nearest neighbours of a few query vectors while the source
table streams by in batches, so the exact answer never needs the whole table
in memory (numpy: one distance matrix of queries x batch at a time).

Distances follow pgvector's operators: l2 (<->), cosine (<=>) and
inner_product (<#>, the negative inner product: smaller is nearer).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

try:
    import numpy as np
    NUMPY_IMPORT_ERROR = None
except ImportError:
    np = None
    NUMPY_IMPORT_ERROR = traceback.format_exc()

# For RunbookModule(required_libs=...).
NUMPY_REQUIRED_LIBS = [("numpy", "numpy", NUMPY_IMPORT_ERROR)]

L2 = "l2"
COSINE = "cosine"
INNER_PRODUCT = "inner_product"
DISTANCES = (L2, COSINE, INNER_PRODUCT)


def recall_of_query(approx_ids, exact_ids, k):
    """Share of the exact k nearest ids that the approximate top k found (1.0 when there is nothing to find)."""
    wanted = list(exact_ids)[:k]
    if not wanted:
        return 1.0
    found = set(list(approx_ids)[:k])
    return float(len([item for item in wanted if item in found])) / len(wanted)


def recall_summary(approx, exact, k, threshold):
    """Mean recall@k over the sample queries, the worst query, and whether the mean meets threshold.

    approx, exact -- one list of ids per sample query, nearest first, in the same query order.
    """
    if len(approx) != len(exact):
        raise ValueError("approximate and exact results cover {0} and {1} queries".format(len(approx), len(exact)))
    per_query = [recall_of_query(a, e, k) for a, e in zip(approx, exact)]
    mean = sum(per_query) / len(per_query) if per_query else None
    return dict(
        k=k,
        queries=len(per_query),
        recall=None if mean is None else round(mean, 4),
        min_recall=None if not per_query else round(min(per_query), 4),
        threshold=threshold,
        passed=mean is not None and mean + 1e-9 >= threshold,
    )


class ExactTopK:
    """Exact k nearest neighbours of some query vectors, fed the candidate rows batch by batch."""

    def __init__(self, queries, k, distance=L2):
        if distance not in DISTANCES:
            raise ValueError("unknown distance {0}".format(distance))
        self.k = k
        self.distance = distance
        self.queries = np.asarray(queries, dtype=np.float64)
        if self.queries.ndim != 2:
            raise ValueError("queries must be a list of vectors")
        self._q_norm2 = (self.queries ** 2).sum(axis=1)
        count = self.queries.shape[0]
        self._scores = np.full((count, 0), np.inf)
        self._ids = np.empty((count, 0), dtype=object)

    def _score(self, vectors):
        dot = self.queries @ vectors.T
        if self.distance == L2:
            return self._q_norm2[:, None] - 2.0 * dot + (vectors ** 2).sum(axis=1)[None, :]
        if self.distance == COSINE:
            norms = np.sqrt(self._q_norm2)[:, None] * np.sqrt((vectors ** 2).sum(axis=1))[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(norms > 0, 1.0 - dot / norms, np.inf)
        return -dot

    def add(self, ids, vectors):
        """Consider a batch of rows: ids (a list) and their vectors (one per id)."""
        if not len(ids):
            return
        vectors = np.asarray(vectors, dtype=np.float64)
        scores = np.concatenate([self._scores, self._score(vectors)], axis=1)
        batch_ids = np.empty(len(ids), dtype=object)
        batch_ids[:] = list(ids)
        all_ids = np.concatenate([self._ids, np.broadcast_to(batch_ids, (scores.shape[0], len(ids)))], axis=1)
        keep = min(self.k, scores.shape[1])
        # stable sort: between equal distances the row seen first wins, as in a sequential scan
        order = np.argsort(scores, axis=1, kind="stable")[:, :keep]
        self._scores = np.take_along_axis(scores, order, axis=1)
        self._ids = np.take_along_axis(all_ids, order, axis=1)

    def results(self):
        """The exact top k ids of each query, nearest first."""
        return [list(row) for row in self._ids]
