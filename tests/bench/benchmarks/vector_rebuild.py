"""Vector index rebuild from PostgreSQL: 100k x 384-dimension embeddings, ours against the runbook's raw path.

Setup (untimed, once): a PostgreSQL 15 cluster with pgvector and a table `bench` (id bigint, embedding vector(384))
of 100,000 vectors of intrinsic dimension 24 plus a little noise, as text embeddings are: uniform random 384-dimension
vectors defeat any approximate index (HNSW at pgvector's defaults reached recall@10 0.37 on them, and the module then
refuses the index, as it should).

pgvector: ours is sre.runbooks.pg_vector_index_rebuild (20 exact sample queries by sequential scan, CREATE INDEX
CONCURRENTLY of an HNSW index (m 16, ef_construction 64), verification of count, planner and recall@10 in the swap
transaction, rename); raw is the runbook's export (psql COPY ... TO a CSV file) and a plain CREATE INDEX of the same
index. Both with maintenance_work_mem 1GB. `prepare` drops both indexes before every run.

Qdrant: ours is sre.runbooks.qdrant_collection_rebuild into qdrant-client's local mode (server-side cursor, batches
of 500, exact top-10 of 20 sample queries while streaming, exact count and recall@10, alias switch); raw is a
straight bulk upsert script (the same cursor and batches into a new collection, then a count, the runbook's "verify
index count"). `prepare` removes both local stores before every run.

Throughput: vectors per second over the median time of each side.
"""

import io
import os
import sys
from pathlib import Path

import numpy as np
import psycopg2

from tests.bench.harness import Benchmark
from tests.engines.postgres import PostgresCluster

PLAYBOOK = Path(__file__).resolve().parents[1] / 'playbooks' / 'vector_rebuild.yml'
ROWS, DIMS = 100000, 384
INTRINSIC_DIMS = 24
ROUNDS = 1
MAINTENANCE_WORK_MEM = '1GB'

# The runbook's export and a plain CREATE INDEX. Arguments: bin dir, host, port, work dir, maintenance_work_mem.
RAW_PGVECTOR = r'''
set -euo pipefail
bin=$1 host=$2 port=$3 work=$4 mwm=$5
"$bin/psql" -X -q -h "$host" -p "$port" -U postgres -d app -c "\copy (SELECT id, embedding FROM bench) TO '$work/embeddings.csv' CSV"
"$bin/psql" -X -q -h "$host" -p "$port" -U postgres -d app -v ON_ERROR_STOP=1 \
  -c "SET maintenance_work_mem = '$mwm'" -c "CREATE INDEX bench_raw_idx ON bench USING hnsw (embedding vector_l2_ops)"
'''

# A straight bulk upsert script: read the embeddings, upsert them in batches, count.
RAW_QDRANT = r'''
import sys
import psycopg2
from qdrant_client import QdrantClient, models
host, port, path = sys.argv[1:]
conn = psycopg2.connect(host=host, port=int(port), user="postgres", dbname="app")
cur = conn.cursor(name="export")
cur.itersize = 500
cur.execute("SELECT id, embedding::real[] FROM bench")
client = QdrantClient(path=path)
client.create_collection("bench_raw", vectors_config=models.VectorParams(size=384, distance=models.Distance.EUCLID))
while True:
    rows = cur.fetchmany(500)
    if not rows:
        break
    client.upsert("bench_raw", points=[models.PointStruct(id=r[0], vector=r[1]) for r in rows], wait=True)
print(client.count("bench_raw", exact=True).count)
'''


def _tool_env():
    """The caller's environment without PG* variables (PGHOST, PGPORT... would point the tools elsewhere)."""
    return {key: value for key, value in os.environ.items() if not key.startswith('PG')}


def load_vectors(cluster, seed=1, chunk=10000):
    """Fill table bench: ROWS vectors in DIMS dimensions, on a random INTRINSIC_DIMS-dimension subspace plus noise."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(INTRINSIC_DIMS, DIMS)) / np.sqrt(INTRINSIC_DIMS)
    conn = psycopg2.connect(cluster.dsn(dbname='app'))
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute('CREATE TABLE bench (id bigint PRIMARY KEY, embedding vector(%d))' % DIMS)
        for start in range(0, ROWS, chunk):
            count = min(chunk, ROWS - start)
            block = (rng.normal(size=(count, INTRINSIC_DIMS)) @ basis + rng.normal(scale=0.01, size=(count, DIMS))).astype(np.float32)
            text = io.StringIO(''.join('%d\t[%s]\n' % (i, ','.join(map(repr, row.tolist()))) for i, row in enumerate(block, start=start + 1)))
            cur.copy_expert('COPY bench FROM STDIN', text)
        cur.execute('VACUUM ANALYZE bench')
    finally:
        conn.close()


def benchmarks(stack, workdir):
    base = Path(workdir) / 'vector'
    cluster = stack.enter_context(PostgresCluster(base / 'pg'))
    print('vector_rebuild setup: %d x %d vectors ...' % (ROWS, DIMS), flush=True)
    cluster.psql('CREATE EXTENSION IF NOT EXISTS vector', dbname='app')
    load_vectors(cluster)
    size = int(cluster.psql("SELECT pg_total_relation_size('bench')", dbname='app'))
    print('vector_rebuild setup done: table %.0f MiB' % (size / 1048576.0), flush=True)
    work = base / 'work'
    work.mkdir(parents=True, exist_ok=True)
    env = dict(_tool_env(), ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_NOCOLOR='1')
    psql = [str(cluster.bin_dir / 'psql'), '-X', '-q', '-h', cluster.host, '-p', str(cluster.port), '-U', 'postgres', '-d', 'app']

    def playbook(**extra):
        extra.update(pg_host=cluster.host, pg_port=cluster.port)
        return ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(PLAYBOOK), '-e',
                ' '.join('%s=%s' % item for item in sorted(extra.items()))]

    pgvector = Benchmark(
        'pgvector rebuild (100k x 384)', 'COPY export + CREATE INDEX hnsw',
        playbook(target='pgvector', maintenance_work_mem=MAINTENANCE_WORK_MEM),
        ['bash', '-c', RAW_PGVECTOR, 'raw', str(cluster.bin_dir), cluster.host, str(cluster.port), str(work), MAINTENANCE_WORK_MEM],
        env, rounds=ROUNDS, items=ROWS, items_name='vectors',
        prepare=psql + ['-c', 'DROP INDEX IF EXISTS bench_embedding_idx', '-c', 'DROP INDEX IF EXISTS bench_raw_idx',
                        '-c', 'DROP INDEX IF EXISTS bench_embedding_idx_rebuild'])
    ours_store, raw_store = work / 'qdrant-ours', work / 'qdrant-raw'
    qdrant = Benchmark(
        'Qdrant rebuild (100k x 384)', 'bulk upsert script (local mode)',
        playbook(target='qdrant', qdrant_path=str(ours_store)),
        [sys.executable, '-c', RAW_QDRANT, cluster.host, str(cluster.port), str(raw_store)],
        env, rounds=ROUNDS, items=ROWS, items_name='vectors',
        prepare=['rm', '-rf', str(ours_store), str(raw_store), str(work / 'embeddings.csv')])
    return [pgvector, qdrant]
