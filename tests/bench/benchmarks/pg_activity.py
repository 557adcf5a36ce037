"""pg_activity_info against the psql commands of the connection-exhaustion runbooks."""

import os
import sys
from pathlib import Path

from tests.bench.harness import Benchmark
from tests.engines.postgres import PostgresCluster

# The runbooks' investigation steps, typed into psql one after the other.
RUNBOOK_SQL = [
    'SELECT count(*) AS connection_count, state FROM pg_stat_activity GROUP BY state',
    'SHOW max_connections',
    'SELECT datname, count(*) FROM pg_stat_activity GROUP BY datname',
    "SELECT pid, now() - query_start AS duration, query FROM pg_stat_activity WHERE state = 'active' ORDER BY duration DESC",
]


def benchmarks(stack, workdir):
    """One PostgreSQL cluster; the ad-hoc module run versus one psql session with the runbook's queries."""
    cluster = stack.enter_context(PostgresCluster(Path(workdir) / 'pg'))
    info = cluster.conninfo
    env = {
        'PATH': str(Path(sys.executable).parent) + ':/usr/bin:/bin',
        'PGPASSWORD': info['password'],
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith('ANSIBLE_COLLECTIONS') or k == 'HOME'})
    ours = ['ansible', 'localhost', '-c', 'local', '-i', 'localhost,', '-m', 'sre.runbooks.pg_activity_info',
            '-a', 'login_host=%s login_port=%d login_user=%s login_db=%s' % (info['host'], info['port'], info['user'], info['dbname'])]
    raw = [str(cluster.bin_dir / 'psql'), '-X', '-h', info['host'], '-p', str(info['port']), '-U', info['user'], '-d', info['dbname']]
    for sql in RUNBOOK_SQL:
        raw += ['-c', sql]
    return [Benchmark('pg_activity_info', 'psql: pg_stat_activity by state/db, max_connections, long-running', ours, raw, env)]
