"""sre.runbooks.pg_pitr_restore against the point-in-time restore typed as shell commands, on a real PostgreSQL 15.

Setup (untimed, once): an archiving cluster with a pgbench database of more
than 1 GiB, a plain base backup of it, then writes (pgbench transactions and a
bulk UPDATE) so that there are hundreds of MB of WAL to replay, the target time,
more writes after it, and the WAL archived. The rows of pgbench_history
committed before the target are the count both sides must find.

Each run restores the backup into a fresh data directory, replays the archive
to the target, waits for the promotion and runs the count: ours is a playbook
with the module, as an operator would run it; raw is the runbook's steps typed
into bash (cp -a, postgresql.auto.conf, recovery.signal, pg_ctl start, poll
pg_is_in_recovery(), the count). Before every run of either side, `prepare`
stops the previous restored servers (immediate mode) and removes their
directories, untimed; so neither side's time includes cleanup, and no restored
server runs beside the one being timed.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.harness import Benchmark
from tests.engines.ports import free_port
from tests.engines.postgres import SUPERUSER, PostgresCluster, make_reachable_by_server

PLAYBOOK = Path(__file__).resolve().parents[1] / 'playbooks' / 'pg_pitr_restore.yml'
DB = 'app'
# pgbench scale 80: 8 million pgbench_accounts rows, about 1.2 GB with the indexes.
SCALE = 80
MIN_DB_BYTES = 1 << 30
# Writes between the base backup and the target (replayed), then after it (archived, not replayed).
BEFORE_TARGET = dict(transactions_per_client=4000, updated_accounts=1500000)
AFTER_TARGET = dict(transactions_per_client=1000, updated_accounts=300000)
CLIENTS = 2
ROUNDS = 2
COUNT_SQL = 'SELECT count(*) FROM pgbench_history'

# The runbook's steps as an operator types them. Arguments: bin dir, backup, archive, new data dir, port, target time, expected count.
RAW_SCRIPT = r'''
set -euo pipefail
bin=$1 backup=$2 archive=$3 dest=$4 port=$5 target=$6 expected=$7
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cp -a "$backup" "$dest"
cat >> "$dest/postgresql.auto.conf" <<EOF
restore_command = 'cp "$archive/%f" "%p"'
recovery_target_time = '$target'
recovery_target_action = 'promote'
port = $port
archive_mode = off
EOF
touch "$dest/recovery.signal"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dest"; fi
chmod 700 "$dest"
# pg_ctl start waits until the server accepts connections (a consistent state during recovery).
as_server "$bin/pg_ctl" -D "$dest" -l "$dest/restore.log" -w -t 900 start

deadline=$((SECONDS + 900))
until [ "$("$bin/psql" -X -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'select pg_is_in_recovery()' 2>/dev/null)" = f ]; do
  if [ ! -f "$dest/postmaster.pid" ] || [ "$SECONDS" -ge "$deadline" ]; then
    echo "recovery did not finish"; tail -n 20 "$dest/restore.log"; exit 1
  fi
  sleep 0.5
done

got=$("$bin/psql" -X -h 127.0.0.1 -p "$port" -U postgres -d app -Atc 'select count(*) from pgbench_history')
if [ "$got" != "$expected" ]; then echo "count is $got, expected $expected"; exit 1; fi
'''

# Untimed before every run, and once at the end: stop the restored servers, remove their directories.
CLEAN_SCRIPT = r'''
bin=$1; shift
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
for dir in "$@"; do
  if [ -f "$dir/postmaster.pid" ]; then as_server "$bin/pg_ctl" -D "$dir" -m immediate -w -t 60 stop >/dev/null || true; fi
  rm -rf "$dir" "$dir.failed.log"
done
'''


def _tool_env():
    """The caller's environment without PG* variables (PGHOST, PGPORT... would point the tools elsewhere)."""
    return {key: value for key, value in os.environ.items() if not key.startswith('PG')}


def _pgbench(cluster, *args):
    # synchronous_commit off: the setup only needs the WAL, not a flush per commit.
    env = dict(_tool_env(), PGOPTIONS='-c synchronous_commit=off')
    subprocess.run([str(cluster.bin_dir / 'pgbench'), '-h', cluster.host, '-p', str(cluster.port), '-U', SUPERUSER, *args, DB],
                   env=env, check=True, capture_output=True, text=True, timeout=1800)


def _write(cluster, transactions_per_client, updated_accounts, first_account):
    """pgbench TPC-B transactions (one pgbench_history row each), then one bulk UPDATE of a range of accounts."""
    _pgbench(cluster, '-n', '-c', str(CLIENTS), '-j', str(CLIENTS), '-t', str(transactions_per_client))
    cluster.psql('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN %d AND %d'
                 % (first_account, first_account + updated_accounts - 1), dbname=DB)


def _tree_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _mib(size):
    return '%.0f MiB' % (size / 1048576.0)


def _backup_start_lsn(backup):
    for line in (backup / 'backup_label').read_text(encoding='utf-8').splitlines():
        if line.startswith('START WAL LOCATION:'):
            return line.split()[3]
    raise RuntimeError('no START WAL LOCATION in %s/backup_label' % backup)


def benchmarks(stack, workdir):
    """One archiving cluster, one base backup and its WAL; both sides restore it to the same time and count the same rows."""
    base = Path(workdir) / 'pitr'
    cluster = stack.enter_context(PostgresCluster(base / 'live', archive=True))
    restores = make_reachable_by_server(base / 'restores')
    dirs = [restores / 'ours', restores / 'raw']
    clean = ['bash', '-c', CLEAN_SCRIPT, 'clean', str(cluster.bin_dir)] + [str(path) for path in dirs]
    # Registered after the cluster: runs first at exit, so the restored servers stop before the live one.
    stack.callback(subprocess.run, clean, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started = time.monotonic()
    print('pg_pitr setup: pgbench -i -s %d ...' % SCALE, flush=True)
    _pgbench(cluster, '-i', '-q', '-s', str(SCALE), '-I', 'dtGvp')
    db_bytes = int(cluster.psql("SELECT pg_database_size('%s')" % DB))
    if db_bytes < MIN_DB_BYTES:
        raise RuntimeError('the generated database is %s, less than 1 GiB' % _mib(db_bytes))
    backup = cluster.pg_basebackup(base / 'backups' / 'base-1')
    backup_start = _backup_start_lsn(backup)
    # The backup's stop time is recorded to the second: the target must be in a later one.
    time.sleep(1.1)
    print('pg_pitr setup: writes before the target ...', flush=True)
    _write(cluster, first_account=1, **BEFORE_TARGET)
    expected = int(cluster.psql(COUNT_SQL, dbname=DB))
    target_lsn = cluster.psql('SELECT pg_current_wal_insert_lsn()')
    time.sleep(1.1)
    target_iso, target_pg = cluster.psql(
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00\"')").split('|')
    time.sleep(1.1)
    print('pg_pitr setup: writes after the target ...', flush=True)
    _write(cluster, first_account=4000001, **AFTER_TARGET)
    cluster.wait_archived(cluster.switch_wal(), timeout=600)
    replay_bytes = int(cluster.psql("SELECT pg_wal_lsn_diff('%s', '%s')" % (target_lsn, backup_start)))
    print('pg_pitr setup done in %.0f s: database %s (pg_database_size), live data dir %s, base backup %s, '
          'WAL archive %s; WAL to replay from the backup start to the target %s; target %s, %d pgbench_history rows before it'
          % (time.monotonic() - started, _mib(db_bytes), _mib(_tree_bytes(cluster.data_dir)), _mib(_tree_bytes(backup)),
             _mib(_tree_bytes(cluster.archive_dir)), _mib(replay_bytes), target_iso, expected), flush=True)

    env = dict(_tool_env(), ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_NOCOLOR='1')
    port_ours, port_raw = free_port(), free_port()
    extra = {'backup': str(backup), 'archive_dir': str(cluster.archive_dir), 'data_dir': str(dirs[0]), 'port': port_ours,
             'target_time': target_iso, 'expected_count': expected}
    ours = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(PLAYBOOK), '-e', json.dumps(extra)]
    raw = ['bash', '-c', RAW_SCRIPT, 'raw', str(cluster.bin_dir), str(backup), str(cluster.archive_dir), str(dirs[1]),
           str(port_raw), target_pg, str(expected)]
    return [Benchmark('pitr restore (%s db)' % _mib(db_bytes).replace(' ', ''),
                      'cp -a backup, recovery conf, pg_ctl start, poll, count', ours, raw, env, rounds=ROUNDS, prepare=clean)]
