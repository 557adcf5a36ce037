#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: qdrant_collection_rebuild
short_description: Rebuild a Qdrant collection from embeddings in PostgreSQL, verify it and switch its alias atomically
version_added: 0.1.0
description:
  - The "Rebuild Vector Index" runbook (export the embeddings from PostgreSQL, upsert them into the vector store,
    check the count) as one declarative, verified task for Qdrant.
  - The application reads the alias O(alias). The collection it points at is checked first (vector size and distance,
    exact point count against the rows with a vector, and recall@k of O(sample_queries) sample rows against exact
    results). A collection that passes is left alone (C(changed=false)) unless O(force=true).
  - Otherwise a new collection C(<alias>_v<n+1>) is created and filled from the table in batches of O(batch_size),
    read through a server-side cursor from one REPEATABLE READ snapshot (never the whole table in memory).
    Upserts are retried on transient errors (timeouts, connection failures, HTTP 408/429/5xx, gRPC UNAVAILABLE)
    up to O(retries) times with a doubling delay.
  - The new collection is verified the same way (the exact answers are computed while the rows stream by).
    Only then is the alias moved to it, in one C(update_collection_aliases) request (delete and create), which Qdrant
    applies atomically. A new collection that fails is deleted and the alias left where it was.
  - Versioned collections older than the new one are kept (the O(keep_previous) newest, for a rollback by hand)
    or deleted. Collections C(<alias>_v<n>) newer than the aliased one and not aliased are leftovers of an
    interrupted run, deleted before building again, so a rerun converges.
  - In check mode, reads and verifies, and returns the plan (source rows, the collection that would be built,
    the collections that would be deleted).
  - Tested with qdrant-client's local mode (O(qdrant_path)), which searches exactly (no HNSW), so recall there is 1.0;
    against a server the threshold is what proves the HNSW index. Pinecone and other hosted stores are not supported.
options:
  table:
    description: Table holding the embeddings, C(table) or C(schema.table).
    type: str
    required: true
  id_column:
    description:
      - Column identifying a row. Unsigned integers and UUIDs become the point ids as they are; other values get a
        UUID derived from them and are kept in the payload as C(source_id).
    type: str
    default: id
  vector_column:
    description: Column holding the embedding, pgvector C(vector) or a C(real[])/C(double precision[]) array.
    type: str
    default: embedding
  payload_columns:
    description: Columns copied into each point's payload.
    type: list
    elements: str
    default: []
  alias:
    description: The alias the application reads. Versioned collections are named C(<alias>_v<n>).
    type: str
    required: true
  distance:
    description: Qdrant distance of the collection, which recall is computed with.
    type: str
    choices: [Cosine, Euclid, Dot]
    default: Cosine
  hnsw_m:
    description: HNSW C(m) of a new collection. Unset, the server's default.
    type: int
  hnsw_ef_construct:
    description: HNSW C(ef_construct) of a new collection. Unset, the server's default.
    type: int
  hnsw_ef:
    description: C(hnsw_ef) of the verification searches. Unset, the server's default.
    type: int
  batch_size:
    description: Rows read and points upserted per batch.
    type: int
    default: 500
  retries:
    description: Retries of a transient error per request.
    type: int
    default: 5
  retry_delay:
    description: Seconds before the first retry; doubled for each next one.
    type: float
    default: 1.0
  keep_previous:
    description: How many older versioned collections to keep after the switch (V(0) deletes them all).
    type: int
    default: 1
  force:
    description: Rebuild even when the aliased collection passes the verification.
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
  progress_interval:
    description: Seconds between two progress notes while upserting.
    type: float
    default: 5
  qdrant_url:
    description: URL of the Qdrant server, for example V(http://qdrant:6333). If not set, E(QDRANT_URL).
    type: str
  qdrant_api_key:
    description: API key of the Qdrant server. If not set, E(QDRANT_API_KEY).
    type: str
  qdrant_path:
    description:
      - Directory of qdrant-client's local mode instead of a server (tests, small local stores).
        Only one process may open it at a time.
    type: path
  qdrant_timeout:
    description: Seconds before a request to the server times out.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - The count and the points come from one snapshot of the table; rows written during the rebuild are in the next one.
  - Progress notes go to the managed node's log (syslog or journal) and to RV(progress).
requirements:
  - qdrant-client
  - numpy
seealso:
  - module: sre.runbooks.pg_vector_index_rebuild
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Rebuild the documents collection from PostgreSQL and move the alias
  sre.runbooks.qdrant_collection_rebuild:
    login_host: db.example.com
    login_user: reader
    login_db: app
    table: documents
    payload_columns: [title, url]
    alias: documents
    distance: Cosine
    qdrant_url: http://qdrant:6333
    keep_previous: 1
  environment:
    PGPASSWORD: "{{ reader_password }}"
    QDRANT_API_KEY: "{{ qdrant_api_key }}"
"""

RETURN = r"""
plan:
  description: Why a rebuild is (or was) needed and which collections are built, kept and deleted.
  returned: success
  type: dict
  sample: {"current": "documents_v1", "reasons": ["2 of 100000 points missing"], "build": "documents_v2",
           "leftovers": [], "retire": [], "keep": ["documents_v1"]}
actions:
  description: The planned actions in order; the same in check mode.
  returned: success
  type: list
  elements: dict
source:
  description: The table read and its rows with a vector.
  returned: success
  type: dict
collection:
  description: The collection the alias points at after the run (in check mode, the one it would point at) and its points.
  returned: success
  type: dict
  sample: {"name": "documents_v2", "alias": "documents", "points": 100000, "vector_size": 384, "distance": "Cosine"}
verification:
  description:
    - The verification of the collection the alias points at in the end; in check mode, of the current one.
    - C(points), C(source_rows), C(count_matches), C(recall), C(min_recall), C(k), C(sample_queries), C(recall_threshold),
      C(passed), C(reasons).
  returned: success
  type: dict
current_verification:
  description: The verification of the collection the alias pointed at first; null when there was none.
  returned: success
  type: dict
deleted:
  description: Collections deleted (leftovers of interrupted runs, versions beyond retention).
  returned: success
  type: list
  elements: str
upserted:
  description: Points upserted.
  returned: success
  type: int
retried:
  description: Requests retried after a transient error.
  returned: success
  type: int
seconds:
  description: Seconds the export and upserts took; null when nothing was built.
  returned: success
  type: float
rows_per_second:
  description: Throughput of the export and upserts.
  returned: success
  type: float
progress:
  description: Progress notes (rows done, share, rate).
  returned: success
  type: list
  elements: dict
queries:
  description: The SQL statements run, as sent.
  returned: success
  type: list
  elements: str
"""

import os

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import (
    POSTGRES_REQUIRED_LIBS,
    QueryRecorder,
    connect,
    describe_target,
    postgres_argument_spec,
)
from ansible_collections.sre.runbooks.plugins.module_utils.vector import qdrant
from ansible_collections.sre.runbooks.plugins.module_utils.vector.progress import Progress, rate
from ansible_collections.sre.runbooks.plugins.module_utils.vector.recall import NUMPY_REQUIRED_LIBS, ExactTopK, recall_summary
from ansible_collections.sre.runbooks.plugins.module_utils.vector.source import VectorSource


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(qdrant.qdrant_argument_spec())
    spec.update(
        table=dict(type="str", required=True),
        id_column=dict(type="str", default="id"),
        vector_column=dict(type="str", default="embedding"),
        payload_columns=dict(type="list", elements="str", default=[]),
        alias=dict(type="str", required=True),
        distance=dict(type="str", default="Cosine", choices=sorted(qdrant.DISTANCES)),
        hnsw_m=dict(type="int"),
        hnsw_ef_construct=dict(type="int"),
        hnsw_ef=dict(type="int"),
        batch_size=dict(type="int", default=500),
        retries=dict(type="int", default=5),
        retry_delay=dict(type="float", default=1.0),
        keep_previous=dict(type="int", default=1),
        force=dict(type="bool", default=False),
        sample_queries=dict(type="int", default=20),
        k=dict(type="int", default=10),
        recall_threshold=dict(type="float", default=0.9),
        progress_interval=dict(type="float", default=5.0),
    )
    return spec


def option_problems(params):
    problems = []
    for name in ("batch_size", "sample_queries", "k", "hnsw_m", "hnsw_ef_construct", "hnsw_ef"):
        if params.get(name) is not None and params[name] < 1:
            problems.append("{0} must be 1 or more, got {1}".format(name, params[name]))
    for name in ("retries", "keep_previous"):
        if params[name] < 0:
            problems.append("{0} must be 0 or more, got {1}".format(name, params[name]))
    if not 0 <= params["recall_threshold"] <= 1:
        problems.append("recall_threshold must be between 0 and 1, got {0}".format(params["recall_threshold"]))
    if qdrant.version_of(params["alias"], params["alias"].rsplit("_v", 1)[0]) is not None:
        problems.append("alias {0} looks like a versioned collection name (<name>_v<n>)".format(params["alias"]))
    return problems


def check_options(module):
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("use", "the options", "; ".join(problems))
    if not module.params.get("qdrant_path") and not module.params.get("qdrant_url"):
        raise RunbookError("connect to", "Qdrant", "give qdrant_url (or QDRANT_URL), or qdrant_path for local mode")


class Rebuild:
    """One run: the source, the store, the verification."""

    def __init__(self, module, conn):
        self.module = module
        self.params = module.params
        self.db = QueryRecorder(conn, describe_target(module.params), module.check_mode)
        self.where = qdrant.describe_qdrant(module.params)
        self.source = VectorSource(self.db, self.params["table"], self.params["id_column"], self.params["vector_column"],
                                   self.params["payload_columns"])
        self.client = None
        self.retried = 0

    def call(self, what, fn):
        def on_retry(attempt, error):
            self.retried += 1
            self.module.log("{0}: retry {1} after {2}".format(what, attempt, error))
        result, _attempts = qdrant.with_retries(fn, what, self.where, self.params["retries"], self.params["retry_delay"], on_retry=on_retry)
        return result

    def exact_pass(self, sample, distance):
        """Exact top-k of the sample queries from one streaming pass over the source (no upsert)."""
        exact = ExactTopK([v for _id, v in sample], self.params["k"], distance)
        for batch in self.source.stream(self.params["batch_size"]):
            exact.add([qdrant.point_id(row[0]) for row in batch], [row[1] for row in batch])
        return exact.results()

    def verify(self, collection, rows, sample, exact):
        k, threshold = self.params["k"], self.params["recall_threshold"]
        points = self.call("count points of {0} on".format(collection), lambda: qdrant.exact_count(self.client, collection))
        approx = [self.call("search {0} on".format(collection),
                            lambda v=vector: qdrant.search_ids(self.client, collection, v, k, self.params["hnsw_ef"]))
                  for _id, vector in sample]
        summary = recall_summary(approx, exact, k, threshold)
        result = dict(collection=collection, points=points, source_rows=rows, count_matches=points == rows,
                      recall=summary["recall"], min_recall=summary["min_recall"], k=k, sample_queries=summary["queries"],
                      recall_threshold=threshold)
        reasons = []
        if points != rows:
            reasons.append("{0} holds {1} points, the table {2} rows with a vector".format(collection, points, rows))
        if not summary["passed"]:
            reasons.append("recall@{0} {1} of {2} is below {3} over {4} sample queries".format(
                k, summary["recall"], collection, threshold, summary["queries"]))
        result.update(reasons=reasons, passed=not reasons)
        return result

    def create(self, name, dimensions):
        hnsw = None
        if self.params["hnsw_m"] or self.params["hnsw_ef_construct"]:
            hnsw = qdrant.models.HnswConfigDiff(m=self.params["hnsw_m"], ef_construct=self.params["hnsw_ef_construct"])
        vectors = qdrant.models.VectorParams(size=dimensions, distance=qdrant.models.Distance(self.params["distance"]))
        self.call("create collection {0} on".format(name),
                  lambda: self.client.create_collection(collection_name=name, vectors_config=vectors, hnsw_config=hnsw))

    def delete(self, name):
        self.call("delete collection {0} on".format(name), lambda: self.client.delete_collection(collection_name=name))

    def fill(self, name, sample, distance, progress):
        """Stream the source into collection `name`; return (rows in the snapshot, exact top-k of the sample)."""
        exact = ExactTopK([v for _id, v in sample], self.params["k"], distance)
        counted = []

        def on_count(rows):
            counted.append(rows)
            progress.total = rows

        for batch in self.source.stream(self.params["batch_size"], on_count=on_count):
            points = qdrant.to_points(batch)
            self.call("upsert {0} points into {1} on".format(len(points), name),
                      lambda p=points: self.client.upsert(collection_name=name, points=p, wait=True))
            exact.add([p.id for p in points], [row[1] for row in batch])
            progress.add(len(points))
        return counted[0], exact.results()

    def run(self):
        params, module = self.params, self.module
        alias = params["alias"]
        distance = qdrant.DISTANCES[params["distance"]]
        source_info = self.source.describe()
        rows = self.source.count()
        source_info["rows"] = rows
        sample = self.source.sample(params["sample_queries"])
        if module.check_mode and params.get("qdrant_path") and not os.path.exists(params["qdrant_path"]):
            # opening local storage creates it: in check mode a store that does not exist yet is read as empty
            collections, aliases = [], {}
        else:
            self.client = qdrant.get_client(params)
            collections, aliases = qdrant.read_state(self.client, self.where)
        if alias in collections:
            raise RunbookError("switch alias", "{0} on {1}".format(alias, self.where),
                               "{0} is a collection, not an alias; rename it (or point the application at an alias) first".format(alias))
        current = aliases.get(alias)
        current_check, problems = None, None
        if current in collections and not params["force"]:
            info = self.call("read collection {0} on".format(current), lambda: self.client.get_collection(collection_name=current))
            problems = qdrant.config_problems(info, self.source.dimensions, params["distance"])
            if not problems and rows:
                current_check = self.verify(current, rows, sample, self.exact_pass(sample, distance))
                problems = current_check["reasons"]
        plan = qdrant.plan_collections(alias, collections, aliases, problems, params["keep_previous"], params["force"])
        if plan["reasons"] and not rows:
            raise RunbookError("rebuild", "alias {0} on {1}".format(alias, self.where), "the table has no row with a vector")
        actions = [dict(action="delete_leftover", collection=name) for name in plan["leftovers"]]
        if plan["build"]:
            actions += [dict(action="create", collection=plan["build"], vector_size=self.source.dimensions, distance=params["distance"]),
                        dict(action="upsert", collection=plan["build"], rows=rows, batch_size=params["batch_size"]),
                        dict(action="verify", collection=plan["build"]),
                        dict(action="switch_alias", alias=alias, collection=plan["build"], previous=current)]
            actions += [dict(action="delete_retired", collection=name) for name in plan["retire"]]
        changed = bool(actions)
        result = dict(plan=plan, source=source_info, current_verification=current_check, deleted=[], upserted=0,
                      seconds=None, rows_per_second=None, progress=[])
        before = dict(alias=alias, collection=current, collections=collections)
        if module.check_mode or not changed:
            target = plan["build"] or current
            result.update(retried=self.retried, verification=current_check,
                          collection=dict(name=target, alias=alias, points=current_check["points"] if current_check and not plan["build"] else None,
                                          vector_size=self.source.dimensions, distance=params["distance"]))
            after = dict(alias=alias, collection=target,
                         collections=sorted((set(collections) - set(plan["leftovers"]) - set(plan["retire"])) | set([target] if target else [])))
            return module.result(changed=changed, actions=actions, before=before, after=after, queries=self.db.queries, **result)

        for name in plan["leftovers"]:
            self.delete(name)
            result["deleted"].append(name)
        new = plan["build"]
        self.create(new, self.source.dimensions)
        progress = Progress("upsert into {0}".format(new), total=rows, interval=params["progress_interval"], log=module.log)
        try:
            snapshot_rows, exact = self.fill(new, sample, distance, progress)
        except RunbookError as error:
            # the partial collection is deleted on the next run (an unaliased newer version)
            error.details.update(collection=new, upserted=progress.done, note="{0} is left unaliased; a rerun deletes and rebuilds it".format(new))
            raise
        result["seconds"] = round(progress.elapsed, 3)
        result["upserted"] = progress.done
        progress.finish()
        result["progress"] = progress.entries
        result["rows_per_second"] = rate(progress.done, result["seconds"])
        verification = self.verify(new, snapshot_rows, sample, exact)
        if not verification["passed"]:
            self.delete(new)
            raise RunbookError("verify", "collection {0} on {1}".format(new, self.where),
                               "{0}; it was deleted and alias {1} left on {2}".format("; ".join(verification["reasons"]), alias, current),
                               verification=verification, queries=self.db.queries)
        operations = qdrant.alias_switch_operations(alias, new, current if current is not None else None)
        self.call("switch alias {0} to {1} on".format(alias, new),
                  lambda: self.client.update_collection_aliases(change_aliases_operations=operations))
        collections_after, aliases_after = qdrant.read_state(self.client, self.where)
        if aliases_after.get(alias) != new:
            raise RunbookError("switch alias", "{0} on {1}".format(alias, self.where),
                               "it points at {0} after the switch, not {1}".format(aliases_after.get(alias), new))
        for name in plan["retire"]:
            if name in collections_after:
                self.delete(name)
                result["deleted"].append(name)
        collections_after, aliases_after = qdrant.read_state(self.client, self.where)
        result.update(retried=self.retried, verification=verification,
                      collection=dict(name=new, alias=alias, points=verification["points"], vector_size=self.source.dimensions,
                                      distance=params["distance"]))
        after = dict(alias=alias, collection=aliases_after.get(alias), collections=collections_after)
        return module.result(changed=True, actions=actions, before=before, after=after, queries=self.db.queries, **result)

    def close(self):
        if self.client is not None:
            self.client.close()


def rebuild_collection(module, conn):
    rebuild = Rebuild(module, conn)
    try:
        return rebuild.run()
    finally:
        rebuild.close()


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS + qdrant.QDRANT_REQUIRED_LIBS + NUMPY_REQUIRED_LIBS)
    module.run(rebuild_collection, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
