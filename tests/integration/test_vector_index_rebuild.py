"""Vector index rebuilds through ansible-playbook (issue 8): pgvector on a real PostgreSQL 15, Qdrant in local mode.

pgvector is built by `make setup` (scripts/bootstrap.sh); the tests create the
extension in a cluster of their own, which one test stops and starts to corrupt
an index on disk. What a run did is checked with SQL and qdrant-client, never
only from the module's result. Nothing here asserts a duration.
"""

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import psycopg2
import pytest
from qdrant_client import QdrantClient, models

from ansible_collections.sre.runbooks.plugins.module_utils.vector import qdrant as qdrant_utils
from tests.engines.pytest_plugin import _required
from tests.engines.postgres import PostgresCluster
from tests.integration.runner import run_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'vector_index_rebuild.yml'
PRECHECK_PG = 'Verify the pgvector index and plan its rebuild'
ACT_PG = 'Rebuild the pgvector index'
PRECHECK_Q = 'Verify the Qdrant collection and plan its rebuild'
ACT_Q = 'Rebuild the Qdrant collection'
ROWS, DIMS = 5000, 32
INDEX = 'documents_embedding_idx'
FAILED_TASK = 2


@pytest.fixture(scope='module')
def pgvector_cluster(tmp_path_factory):
    """A PostgreSQL 15 cluster with the vector extension in database app (one per test module)."""
    cluster = _required(PostgresCluster(tmp_path_factory.mktemp('pgvector')).start)
    try:
        cluster.psql('CREATE EXTENSION IF NOT EXISTS vector', dbname='app')
    except RuntimeError as error:
        cluster.stop()
        pytest.fail('pgvector is not installed for PostgreSQL 15 (%s); run `make setup` as root, which builds it' % error, pytrace=False)
    yield cluster
    cluster.stop()


def connect(cluster, autocommit=True):
    conn = psycopg2.connect(cluster.dsn(user='sre', dbname='app'))
    conn.autocommit = autocommit
    return conn


def sql(cluster, statement, params=None):
    with connect(cluster) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def vectors(rows=ROWS, dims=DIMS, seed=8):
    return np.random.default_rng(seed).random((rows, dims), dtype=np.float32)


def literal(vector):
    return '[' + ','.join('%r' % float(x) for x in vector) + ']'


def load_documents(cluster, table='documents', rows=ROWS, dims=DIMS, array=False):
    """(Re)create `table` (id, title, embedding) owned by sre, rows in id order; return the vectors."""
    data = vectors(rows, dims)
    column = 'real[]' if array else 'vector(%d)' % dims
    with connect(cluster) as conn, conn.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS %s CASCADE' % table)
        cur.execute('CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL, embedding %s)' % (table, column))
        lines = []
        for i, vec in enumerate(data, start=1):
            value = ('{' + ','.join(repr(float(x)) for x in vec) + '}') if array else literal(vec)
            lines.append('%d\tdoc %05d\t%s' % (i, i, value))
        import io  # pylint: disable=import-outside-toplevel
        cur.copy_expert('COPY %s FROM STDIN' % table, io.StringIO('\n'.join(lines) + '\n'))
        cur.execute('ANALYZE %s' % table)
    return data


def exact_ids(data, query, k=10):
    return [int(i) + 1 for i in np.argsort(((data - query) ** 2).sum(axis=1), kind='stable')[:k]]


def index_recall(cluster, data, k=10, sample=20):
    """recall@k of what PostgreSQL answers (with whatever index the planner picks) against numpy's exact answer."""
    hits = 0
    with connect(cluster) as conn, conn.cursor() as cur:
        for row in range(0, len(data), len(data) // sample)[:sample]:
            cur.execute('SELECT id FROM documents ORDER BY embedding <-> %s::vector LIMIT %s', (literal(data[row]), k))
            hits += len(set(r[0] for r in cur.fetchall()) & set(exact_ids(data, data[row], k)))
    return hits / float(k * sample)


def explain_uses(cluster, data, index):
    plan = sql(cluster, 'EXPLAIN (FORMAT JSON) SELECT id FROM documents ORDER BY embedding <-> %s::vector LIMIT 10', (literal(data[0]),))
    return '"Index Name": "%s"' % index in str(plan).replace("'", '"')


def indexes(cluster, table='documents'):
    """{name: valid} of the table's indexes other than its primary key."""
    rows = sql(cluster, "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                        " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary", (table,))
    return dict(rows)


def pg_play(cluster, tmp_path, check=False, expect_rc=0, **extra):
    info = cluster.conninfo
    extra_vars = dict(pg_login_host=info['host'], pg_login_port=info['port'], pg_login_user=info['user'],
                      pg_login_password=info['password'], pg_db=info['dbname'], vector_index_rebuild_target='pgvector',
                      vector_index_rebuild_table='documents', vector_index_rebuild_index_name=INDEX)
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, expect_rc=expect_rc)


# -- pgvector ---------------------------------------------------------------------------------------

def test_dropped_pgvector_index_is_rebuilt_check_mode_first_then_unchanged(pgvector_cluster, tmp_path):
    data = load_documents(pgvector_cluster)
    assert indexes(pgvector_cluster) == {}

    checked = pg_play(pgvector_cluster, tmp_path, check=True)
    plan = checked.task(PRECHECK_PG)
    assert plan['plan']['reasons'] == ['index %s does not exist' % INDEX]
    assert plan['source']['rows'] == ROWS
    assert [a['action'] for a in plan['actions']] == ['build', 'verify', 'swap']
    assert 'CREATE INDEX CONCURRENTLY "%s_rebuild"' % INDEX in plan['actions'][0]['sql']
    assert any(q.startswith('CREATE INDEX CONCURRENTLY') for q in plan['queries'])
    assert indexes(pgvector_cluster) == {}  # check mode changed nothing

    run = pg_play(pgvector_cluster, tmp_path)
    result = run.task(ACT_PG)
    assert result['changed'] is True
    check = result['verification']
    assert check['passed'] and check['valid'] and check['planner_uses_index'] and check['planner_uses_index_after_swap']
    assert check['index_tuples'] == check['source_rows'] == ROWS
    assert check['recall'] >= 0.9 and check['k'] == 10 and check['sample_queries'] == 20
    assert result['rows_per_second'] > 0 and result['progress'][-1]['rows_done'] == ROWS
    # read back independently of the module
    assert indexes(pgvector_cluster) == {INDEX: True}
    assert explain_uses(pgvector_cluster, data, INDEX)
    assert index_recall(pgvector_cluster, data) >= 0.9

    again = pg_play(pgvector_cluster, tmp_path)
    assert again.task(PRECHECK_PG)['plan']['reasons'] == []
    assert 'skip_reason' in again.task(ACT_PG)
    assert not again.changed


def corrupt_index_on_disk(cluster, index):
    """Overwrite the index's file with an HNSW index of the same rows holding other rows' vectors.

    The index stays valid in the catalogue and the planner keeps using it, but it answers with the wrong rows:
    what a corrupted index looks like to the application. Needs a server restart (shared buffers).
    """
    sql(cluster, 'DROP TABLE IF EXISTS shadow')
    sql(cluster, 'CREATE TABLE shadow (LIKE documents)')
    # same rows in the same order (so the same tuple ids), each with the next row's vector
    sql(cluster, 'INSERT INTO shadow SELECT d.id, d.title, p.embedding FROM documents d'
                 ' JOIN documents p ON p.id = d.id %% %s + 1 ORDER BY d.id', (ROWS,))
    sql(cluster, 'CREATE INDEX shadow_idx ON shadow USING hnsw (embedding vector_l2_ops)')
    target, source = [sql(cluster, 'SELECT pg_relation_filepath(%s)', (name,))[0][0] for name in (index, 'shadow_idx')]
    cluster.psql('CHECKPOINT')
    cluster.stop()
    shutil.copyfile(cluster.data_dir / source, cluster.data_dir / target)
    cluster.start()
    sql(cluster, 'DROP TABLE shadow')


class Reader:
    """A client running the application's nearest-neighbour query in a loop, recording every error."""

    def __init__(self, cluster, data):
        self.cluster, self.data = cluster, data
        self.errors, self.queries = [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        conn = connect(self.cluster)
        try:
            cur = conn.cursor()
            while not self._stop.is_set():
                try:
                    cur.execute('SELECT id FROM documents ORDER BY embedding <-> %s::vector LIMIT 10',
                                (literal(self.data[self.queries % len(self.data)]),))
                    assert len(cur.fetchall()) == 10
                    self.queries += 1
                except Exception as error:  # pylint: disable=broad-except
                    self.errors.append(repr(error))
                    time.sleep(0.05)
        finally:
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)


def test_corrupted_pgvector_index_is_rebuilt_while_a_reader_keeps_querying(pgvector_cluster, tmp_path):
    data = load_documents(pgvector_cluster)
    sql(pgvector_cluster, 'CREATE INDEX %s ON documents USING hnsw (embedding vector_l2_ops)' % INDEX)
    corrupt_index_on_disk(pgvector_cluster, INDEX)
    assert indexes(pgvector_cluster) == {INDEX: True}
    assert explain_uses(pgvector_cluster, data, INDEX)
    assert index_recall(pgvector_cluster, data) < 0.5  # the corruption is real

    with Reader(pgvector_cluster, data) as reader:
        run = pg_play(pgvector_cluster, tmp_path)
        time.sleep(0.2)
    assert reader.errors == []
    assert reader.queries > 0

    plan = run.task(PRECHECK_PG)
    assert plan['current_verification']['planner_uses_index'] is True
    assert plan['current_verification']['recall'] < 0.9
    assert any(reason.startswith('recall@10') for reason in plan['plan']['reasons'])
    result = run.task(ACT_PG)
    assert result['changed'] and result['dropped'] == [INDEX] and result['plan']['build']
    assert result['verification']['passed'] and result['verification']['recall'] >= 0.9
    assert result['verification']['index_tuples'] == ROWS
    assert indexes(pgvector_cluster) == {INDEX: True}
    assert explain_uses(pgvector_cluster, data, INDEX)
    assert index_recall(pgvector_cluster, data) >= 0.9
    assert not pg_play(pgvector_cluster, tmp_path).changed


def cancelled_build(cluster, statement):
    """Run a CREATE INDEX CONCURRENTLY that waits behind a writer's transaction, cancel it with pg_cancel_backend.

    CREATE INDEX CONCURRENTLY puts the (invalid) index in the catalogue before it waits for the writers,
    so the cancel leaves it behind, as an interrupted build does.
    """
    writer = connect(cluster, autocommit=False)
    writer.cursor().execute('LOCK TABLE documents IN ROW EXCLUSIVE MODE')
    builder = connect(cluster)
    pid = builder.get_backend_pid()
    outcome = {}

    def build():
        try:
            builder.cursor().execute(statement)
            outcome['error'] = None
        except psycopg2.Error as error:
            outcome['error'] = error

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not sql(cluster, "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", (pid,)):
        assert time.monotonic() < deadline, 'the build never waited for the writer'
        time.sleep(0.05)
    assert sql(cluster, 'SELECT pg_cancel_backend(%s)', (pid,)) == [(True,)]
    thread.join(timeout=30)
    writer.rollback()
    writer.close()
    builder.close()
    assert isinstance(outcome.get('error'), psycopg2.errors.QueryCanceled)


def test_interrupted_pgvector_build_converges_on_rerun(pgvector_cluster, tmp_path):
    data = load_documents(pgvector_cluster)
    # an interrupted build of the index itself, and an interrupted earlier rebuild
    cancelled_build(pgvector_cluster, 'CREATE INDEX CONCURRENTLY %s ON documents USING hnsw (embedding vector_l2_ops)' % INDEX)
    cancelled_build(pgvector_cluster, 'CREATE INDEX CONCURRENTLY %s_rebuild ON documents USING hnsw (embedding vector_l2_ops)' % INDEX)
    assert indexes(pgvector_cluster) == {INDEX: False, INDEX + '_rebuild': False}

    checked = pg_play(pgvector_cluster, tmp_path, check=True)
    assert checked.task(PRECHECK_PG)['plan']['cleanup'] == [INDEX, INDEX + '_rebuild']
    assert indexes(pgvector_cluster) == {INDEX: False, INDEX + '_rebuild': False}

    run = pg_play(pgvector_cluster, tmp_path)
    result = run.task(ACT_PG)
    assert sorted(result['dropped']) == [INDEX, INDEX + '_rebuild']
    assert result['verification']['passed']
    assert indexes(pgvector_cluster) == {INDEX: True}  # no invalid index left
    assert explain_uses(pgvector_cluster, data, INDEX)
    assert not pg_play(pgvector_cluster, tmp_path).changed


def test_valid_leftover_of_an_interrupted_run_is_verified_and_swapped_in(pgvector_cluster, tmp_path):
    load_documents(pgvector_cluster)
    # a run stopped after its build (say the swap's lock timed out): the new index is there, valid
    sql(pgvector_cluster, 'CREATE INDEX %s_rebuild ON documents USING hnsw (embedding vector_l2_ops)' % INDEX)
    result = pg_play(pgvector_cluster, tmp_path).task(ACT_PG)
    assert result['plan']['reuse'] == INDEX + '_rebuild' and result['plan']['build'] is False
    assert result['build_seconds'] is None
    assert indexes(pgvector_cluster) == {INDEX: True}


def test_index_of_another_method_is_replaced_and_reindex_strategy(pgvector_cluster, tmp_path):
    load_documents(pgvector_cluster)
    sql(pgvector_cluster, 'CREATE INDEX %s ON documents USING ivfflat (embedding vector_l2_ops) WITH (lists = 5)' % INDEX)
    result = pg_play(pgvector_cluster, tmp_path).task(ACT_PG)
    assert result['plan']['reasons'] == ['method is ivfflat, not hnsw']
    assert sql(pgvector_cluster, "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = %s",
               (INDEX,)) == [('hnsw',)]
    forced = pg_play(pgvector_cluster, tmp_path, vector_index_rebuild_force=True, vector_index_rebuild_strategy='reindex')
    result = forced.task(ACT_PG)
    assert result['plan']['strategy'] == 'reindex' and result['changed']
    assert any(q.startswith('REINDEX INDEX CONCURRENTLY') for q in result['queries'])
    assert result['verification']['passed']
    assert indexes(pgvector_cluster) == {INDEX: True}


def test_float_array_column_is_refused_for_pgvector(pgvector_cluster, tmp_path):
    load_documents(pgvector_cluster, array=True)
    run = pg_play(pgvector_cluster, tmp_path, expect_rc=FAILED_TASK)
    assert 'pgvector indexes need the vector type' in run.task(PRECHECK_PG)['msg']


# -- Qdrant (qdrant-client local mode) -------------------------------------------------------------------

def q_play(cluster, tmp_path, store, check=False, expect_rc=0, **extra):
    info = cluster.conninfo
    extra_vars = dict(pg_login_host=info['host'], pg_login_port=info['port'], pg_login_user=info['user'],
                      pg_login_password=info['password'], pg_db=info['dbname'], vector_index_rebuild_target='qdrant',
                      vector_index_rebuild_table='documents', vector_index_rebuild_alias='documents',
                      vector_index_rebuild_payload_columns=['title'], vector_index_rebuild_distance='Euclid',
                      vector_index_rebuild_qdrant_path=str(store))
    extra_vars.update(extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, expect_rc=expect_rc)


def store_state(store):
    client = QdrantClient(path=str(store))
    try:
        collections = sorted(c.name for c in client.get_collections().collections)
        aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
        counts = {name: client.count(name, exact=True).count for name in collections}
        return collections, aliases, counts
    finally:
        client.close()


def damage(store, collection, ids):
    client = QdrantClient(path=str(store))
    try:
        client.delete(collection, points_selector=models.PointIdsList(points=list(ids)), wait=True)
    finally:
        client.close()


@pytest.mark.parametrize('array', [False, True], ids=['vector-column', 'float-array-column'])
def test_qdrant_rebuild_check_real_unchanged_then_retention(pgvector_cluster, tmp_path, array):
    load_documents(pgvector_cluster, rows=1200, array=array)
    store = tmp_path / 'qdrant'

    checked = q_play(pgvector_cluster, tmp_path, store, check=True)
    plan = checked.task(PRECHECK_Q)
    assert plan['plan']['build'] == 'documents_v1' and plan['source']['rows'] == 1200
    assert [a['action'] for a in plan['actions']] == ['create', 'upsert', 'verify', 'switch_alias']
    assert not store.exists()  # check mode did not even create the local storage

    result = q_play(pgvector_cluster, tmp_path, store).task(ACT_Q)
    assert result['changed'] and result['upserted'] == 1200 and result['rows_per_second'] > 0
    assert result['verification']['passed'] and result['verification']['points'] == 1200
    assert result['verification']['recall'] >= 0.9
    assert store_state(store) == (['documents_v1'], {'documents': 'documents_v1'}, {'documents_v1': 1200})
    client = QdrantClient(path=str(store))
    try:
        point = client.retrieve('documents', ids=[7], with_payload=True)[0]
        assert point.payload == {'title': 'doc 00007'}
    finally:
        client.close()

    assert not q_play(pgvector_cluster, tmp_path, store).changed

    # lost points: rebuilt into v2, the alias moves, v1 kept (keep_previous 1)
    damage(store, 'documents_v1', range(1, 11))
    run = q_play(pgvector_cluster, tmp_path, store)
    assert run.task(PRECHECK_Q)['plan']['reasons'] == ['documents_v1 holds 1190 points, the table 1200 rows with a vector']
    assert store_state(store) == (['documents_v1', 'documents_v2'], {'documents': 'documents_v2'},
                                  {'documents_v1': 1190, 'documents_v2': 1200})
    # again: v3, and v1 goes (beyond retention)
    damage(store, 'documents_v2', [1])
    result = q_play(pgvector_cluster, tmp_path, store).task(ACT_Q)
    assert result['deleted'] == ['documents_v1']
    assert store_state(store) == (['documents_v2', 'documents_v3'], {'documents': 'documents_v3'},
                                  {'documents_v2': 1199, 'documents_v3': 1200})


def test_interrupted_qdrant_rebuild_converges_on_rerun(pgvector_cluster, tmp_path):
    load_documents(pgvector_cluster, rows=800)
    store = tmp_path / 'qdrant'
    q_play(pgvector_cluster, tmp_path, store)
    # an interrupted run: documents_v2 created and half filled, never aliased; and v1 damaged since
    client = QdrantClient(path=str(store))
    try:
        client.create_collection('documents_v2', vectors_config=models.VectorParams(size=DIMS, distance=models.Distance.EUCLID))
        client.upsert('documents_v2', points=[models.PointStruct(id=i, vector=[0.0] * DIMS) for i in range(1, 400)], wait=True)
        client.delete('documents_v1', points_selector=models.PointIdsList(points=[5]), wait=True)
    finally:
        client.close()
    run = q_play(pgvector_cluster, tmp_path, store)
    result = run.task(ACT_Q)
    assert result['plan']['leftovers'] == ['documents_v2'] and result['deleted'] == ['documents_v2']
    assert result['verification']['passed']
    assert store_state(store) == (['documents_v1', 'documents_v2'], {'documents': 'documents_v2'},
                                  {'documents_v1': 799, 'documents_v2': 800})
    assert not q_play(pgvector_cluster, tmp_path, store).changed


def test_qdrant_alias_switch_is_atomic_for_a_reader(tmp_path):
    """The module's switch (one update_collection_aliases request) never shows a reader a missing or empty collection."""
    client = QdrantClient(path=str(tmp_path / 'qdrant'))
    data = vectors(300, 8)
    for name in ('documents_v1', 'documents_v2'):
        client.create_collection(name, vectors_config=models.VectorParams(size=8, distance=models.Distance.EUCLID))
        client.upsert(name, points=[models.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(data, start=1)], wait=True)
    client.update_collection_aliases(change_aliases_operations=qdrant_utils.alias_switch_operations('documents', 'documents_v1', None))
    seen, errors = [], []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.append((client.count('documents', exact=True).count,
                             len(client.query_points('documents', query=data[0].tolist(), limit=10).points)))
            except Exception as error:  # pylint: disable=broad-except
                errors.append(repr(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        current = 'documents_v1'
        for _round in range(200):
            new = 'documents_v2' if current == 'documents_v1' else 'documents_v1'
            client.update_collection_aliases(change_aliases_operations=qdrant_utils.alias_switch_operations('documents', new, current))
            current = new
    finally:
        stop.set()
        reader.join(timeout=30)
        client.close()
    assert errors == []
    assert seen and set(seen) == {(300, 10)}
