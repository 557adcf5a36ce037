"""Logical backup round trip: pg_dump -> S3 -> pg_restore, ours against the runbook's commands, on a real PostgreSQL 15 and moto S3.

Setup (untimed, once): a pgbench database of a few hundred MB and a bucket in a moto server.
Each run dumps the database to S3 and restores it into a new database: ours is a playbook with
sre.runbooks.pg_logical_backup (pg_dump -Fc from one snapshot, SHA-256, manifest with row counts,
upload, listed back) and sre.runbooks.pg_logical_restore (download, checksum, pg_restore --jobs 2,
row counts against the manifest); raw is the runbook's commands: pg_dump -Fc, an S3 upload and
download (boto3's upload_file/download_file, what `aws s3 cp` does, in the same Python), createdb
and pg_restore --jobs 2. `prepare` drops the restored database, empties the bucket and removes the
dump files before every run, untimed. Throughput is the database's size (pg_database_size) over
the median time of each side.
"""

import os
import subprocess
import sys
from pathlib import Path

from tests.bench.harness import Benchmark
from tests.engines.moto_server import MotoServer
from tests.engines.postgres import SUPERUSER, PostgresCluster

PLAYBOOK = Path(__file__).resolve().parents[1] / 'playbooks' / 'pg_logical_round_trip.yml'
SOURCE, TARGET = 'bench', 'bench_restored'
# pgbench scale 25: 2.5 million pgbench_accounts rows, about 370 MB with the indexes.
SCALE = 25
BUCKET, KEY = 'sre-bench', 'bench/bench.dump'
ROUNDS = 3

S3_COPY = r'''
import sys, boto3
verb, path, bucket, key = sys.argv[1:]
s3 = boto3.client("s3")
s3.upload_file(path, bucket, key) if verb == "put" else s3.download_file(bucket, key, path)
'''

# The runbook's steps as an operator types them. Arguments: bin dir, host, port, work dir, python.
RAW_SCRIPT = r'''
set -euo pipefail
bin=$1 host=$2 port=$3 work=$4 python=$5 copy=$6
"$bin/pg_dump" --format=custom -h "$host" -p "$port" -U postgres -d bench -f "$work/raw.dump"
"$python" -c "$copy" put "$work/raw.dump" sre-bench bench/raw.dump
"$python" -c "$copy" get "$work/raw.download" sre-bench bench/raw.dump
"$bin/createdb" -h "$host" -p "$port" -U postgres bench_restored
"$bin/pg_restore" --jobs 2 --exit-on-error -h "$host" -p "$port" -U postgres -d bench_restored "$work/raw.download"
'''

# Untimed before every run: the restored database, the bucket's objects and the files go.
CLEAN_SCRIPT = r'''
import os, shutil, subprocess, sys, boto3
bin_dir, host, port, work = sys.argv[1:]
subprocess.run([bin_dir + "/dropdb", "--if-exists", "--force", "-h", host, "-p", port, "-U", "postgres", "bench_restored"], check=True)
s3 = boto3.client("s3")
for item in s3.list_objects_v2(Bucket="sre-bench").get("Contents", []):
    s3.delete_object(Bucket="sre-bench", Key=item["Key"])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
'''


def _tool_env():
    """The caller's environment without PG* variables (PGHOST, PGPORT... would point the tools elsewhere)."""
    return {key: value for key, value in os.environ.items() if not key.startswith('PG')}


def benchmarks(stack, workdir):
    base = Path(workdir) / 'logical'
    cluster = stack.enter_context(PostgresCluster(base / 'pg'))
    moto = stack.enter_context(MotoServer(base / 'moto'))
    env = dict(_tool_env(), **moto.env())
    env.update(ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_NOCOLOR='1')
    print('pg_logical setup: pgbench -i -s %d ...' % SCALE, flush=True)
    cluster.psql('CREATE DATABASE %s' % SOURCE)
    subprocess.run([str(cluster.bin_dir / 'pgbench'), '-i', '-q', '-s', str(SCALE), '-h', cluster.host, '-p', str(cluster.port),
                    '-U', SUPERUSER, SOURCE], env=_tool_env(), check=True, capture_output=True, timeout=1800)
    subprocess.run([sys.executable, '-c', 'import boto3; boto3.client("s3").create_bucket(Bucket="%s")' % BUCKET], env=env, check=True)
    size = int(cluster.psql("SELECT pg_database_size('%s')" % SOURCE))
    print('pg_logical setup done: database %.0f MiB' % (size / 1048576.0), flush=True)

    work_ours, work_raw = base / 'work-ours', base / 'work-raw'
    work_ours.mkdir(parents=True, exist_ok=True)
    work_raw.mkdir(parents=True, exist_ok=True)
    clean = ['bash', '-c', 'set -e; for w in "$@"; do "$0" -c "$CLEAN" "$BIN" "$HOST" "$PORT" "$w"; done',
             sys.executable, str(work_ours), str(work_raw)]
    env.update(CLEAN=CLEAN_SCRIPT, BIN=str(cluster.bin_dir), HOST=cluster.host, PORT=str(cluster.port))
    extra = ('pg_host=%s pg_port=%d source_db=%s target_db=%s bucket=%s key=%s work_dir=%s'
             % (cluster.host, cluster.port, SOURCE, TARGET, BUCKET, KEY, work_ours))
    ours = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(PLAYBOOK), '-e', extra]
    raw = ['bash', '-c', RAW_SCRIPT, 'raw', str(cluster.bin_dir), cluster.host, str(cluster.port), str(work_raw), sys.executable,
           S3_COPY]
    return [Benchmark('dump->S3->restore (%dMiB db)' % (size // 1048576), 'pg_dump -Fc, S3 put/get, createdb, pg_restore -j2',
                      ours, raw, env, rounds=ROUNDS, prepare=clean, size_bytes=size)]
