"""Logical backups to S3 against a real PostgreSQL 15 and moto's S3: pg_logical_backup, pg_logical_backup_info, pg_logical_restore.

Every test works on databases of its own (lb_<hex>_*), created as the password-protected `sre`
role and dropped afterwards, in the session's cluster; the bucket lives in the moto server that
aws_env empties for each test.
"""

import hashlib
import json
import os
import re
import secrets
import stat
import threading
from pathlib import Path

import boto3
import pytest
import yaml

from tests.engines.postgres import SRE_PASSWORD, SRE_USER
from tests.integration.runner import run_playbook

BUCKET = 'sre-logical-backups'
PREFIX = 'postgres/'
FAILED_TASK = 2  # ansible-playbook's exit status when a task failed

# Data of many types, in two schemas, with NULLs, non-ASCII text, bytea, arrays, a foreign key,
# an empty table, a view and an index: what a round trip must bring back row for row.
SOURCE_SQL = """
CREATE SCHEMA sales;
CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, email text, created timestamptz,
                               balance numeric(12,2), photo bytea, tags text[]);
INSERT INTO public.customers
  SELECT g, 'Kunde ' || g || ' – Müller', CASE WHEN g % 7 = 0 THEN NULL ELSE 'c' || g || '@example.com' END,
         timestamptz '2026-01-01 00:00+00' + g * interval '1 minute', g * 1.25, decode(md5(g::text), 'hex'), ARRAY['vip', g::text]
  FROM generate_series(1, 2000) g;
CREATE TABLE sales.orders (id bigserial PRIMARY KEY, customer_id int REFERENCES public.customers (id), amount numeric, note text);
INSERT INTO sales.orders (customer_id, amount, note) SELECT (g % 2000) + 1, g / 3.0, repeat('x', g % 50) FROM generate_series(1, 5000) g;
CREATE INDEX orders_customer ON sales.orders (customer_id);
CREATE TABLE public.empty_table (id int);
CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE amount > 1000;
"""
TABLES = {('public', 'customers'): 2000, ('sales', 'orders'): 5000, ('public', 'empty_table'): 0}
ROW_QUERIES = ['SELECT * FROM public.customers ORDER BY id', 'SELECT * FROM sales.orders ORDER BY id',
               'SELECT count(*) FROM public.empty_table', "SELECT last_value FROM sales.orders_id_seq",
               'SELECT count(*) FROM sales.big_orders']


@pytest.fixture(name='names')
def names_fixture(pg_cluster):
    """names('src') -> a database name of this test; every database of the test is dropped afterwards."""
    prefix = 'lb_%s_' % secrets.token_hex(3)
    yield lambda suffix: prefix + suffix
    for name in pg_cluster.psql("SELECT datname FROM pg_database WHERE datname LIKE '%s%%'" % prefix).split():
        pg_cluster.psql('DROP DATABASE "%s" WITH (FORCE)' % name)


@pytest.fixture(name='s3')
def s3_fixture(aws_env):  # pylint: disable=unused-argument
    """boto3 in the test process, pointed at moto by aws_env, with the bucket created."""
    client = boto3.client('s3')
    client.create_bucket(Bucket=BUCKET)
    return client


def make_source(cluster, name):
    """A database owned by `sre` holding SOURCE_SQL's data."""
    cluster.psql('CREATE DATABASE "%s"' % name, user=SRE_USER)
    cluster.psql(SOURCE_SQL, user=SRE_USER, dbname=name)
    return name


def contents(cluster, name):
    """Every row of the source's tables, as psql prints them, plus the sequence and the view."""
    return [cluster.psql(query, user=SRE_USER, dbname=name) for query in ROW_QUERIES]


def exists(cluster, name):
    return cluster.psql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % name) == '1'


def comment(cluster, name):
    return cluster.psql("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '%s'" % name)


def keys(s3):
    return sorted(item['Key'] for item in s3.list_objects_v2(Bucket=BUCKET).get('Contents', []))


def sha256_of_object(s3, key):
    """The SHA-256 of an object's bytes, computed here and not taken from the module."""
    digest = hashlib.sha256()
    for chunk in s3.get_object(Bucket=BUCKET, Key=key)['Body'].iter_chunks(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def write_playbook(tmp_path, module, args, login=True, play_vars=None):
    """A one-task playbook calling sre.runbooks.<module> with `args`, logging in as `pg` (extra vars) unless login=False."""
    task_args = dict(args)
    if login:
        task_args.update({'login_host': '{{ pg.host }}', 'login_port': '{{ pg.port }}', 'login_user': '{{ pg.user }}',
                          'login_password': '{{ pg.password | default(omit, true) }}'})
        task_args.setdefault('login_db', '{{ pg.dbname }}')
    task = {'name': 'Run', 'register': 'out', 'sre.runbooks.' + module: task_args}
    play = {'name': 'Logical backups', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}
    if play_vars:
        play['vars'] = play_vars
    path = Path(tmp_path) / ('%s-%d.yml' % (module, len(list(Path(tmp_path).glob('*.yml')))))
    path.write_text(yaml.safe_dump([play]), encoding='utf-8')
    return path


def sre(cluster, dbname='postgres'):
    return {'pg': cluster.conninfo_for(SRE_USER, dbname)}


def backup(cluster, tmp_path, database, check=False, expect_rc=0, **args):
    playbook = write_playbook(tmp_path, 'pg_logical_backup', dict({'bucket': BUCKET, 'prefix': PREFIX, 'login_db': database}, **args))
    return run_playbook(playbook, tmp_path, extra_vars=sre(cluster), check=check, expect_rc=expect_rc)


def restore(cluster, tmp_path, target, check=False, diff=False, expect_rc=0, **args):
    playbook = write_playbook(tmp_path, 'pg_logical_restore', dict({'bucket': BUCKET, 'prefix': PREFIX, 'target_db': target,
                                                                    'login_db': 'postgres'}, **args))
    return run_playbook(playbook, tmp_path, extra_vars=sre(cluster), check=check, diff=diff, expect_rc=expect_rc)


def backup_info(tmp_path, **args):
    playbook = write_playbook(tmp_path, 'pg_logical_backup_info', dict({'bucket': BUCKET, 'prefix': PREFIX}, **args), login=False)
    return run_playbook(playbook, tmp_path).task('Run')


def refused(run):
    assert run.failed_tasks == ['Run']
    return run.task('Run')['msg']


def test_round_trip_through_s3_preserves_every_row(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    target = names('copy')

    planned = backup(pg_cluster, tmp_path, source, check=True).task('Run')
    assert planned['changed'] is True
    assert any('pg_dump --format=custom' in action for action in planned['actions'])
    assert 'pg_dump' in planned['commands'][0] and '--snapshot' in planned['commands'][0]
    assert {(t['schema'], t['name']) for t in planned['tables']} == set(TABLES)
    assert keys(s3) == []

    taken = backup(pg_cluster, tmp_path, source).task('Run')
    assert taken['changed'] is True
    assert re.fullmatch(r'postgres/%s/%s-\d{8}T\d{6}Z\.dump' % (source, source), taken['key'])
    assert keys(s3) == sorted([taken['key'], taken['key'] + '.manifest.json'])
    head = s3.head_object(Bucket=BUCKET, Key=taken['key'])
    assert head['ContentLength'] == taken['size_bytes']
    assert head['Metadata']['sha256'] == taken['sha256'] == sha256_of_object(s3, taken['key'])
    manifest = yaml.safe_load(s3.get_object(Bucket=BUCKET, Key=taken['key'] + '.manifest.json')['Body'].read())
    assert manifest['sha256'] == taken['sha256'] and manifest['size_bytes'] == taken['size_bytes']
    assert manifest['database'] == source and manifest['server_version'].startswith('15.')
    assert manifest['pg_dump_version'].startswith('15.') and manifest['started_at'] <= manifest['finished_at']
    assert {(t['schema'], t['name']): t['rows'] for t in manifest['tables']} == TABLES
    assert {(t['schema'], t['name']): t['rows'] for t in taken['tables']} == TABLES
    assert taken['total_rows'] == 7000
    assert taken['duration_seconds'] > 0 and taken['throughput_bytes_per_second'] > 0
    assert 'pg_export_snapshot' in ' '.join(taken['queries'])

    info = backup_info(tmp_path, database=source, include_tables=True)
    assert [entry['key'] for entry in info['backups']] == [taken['key']]
    assert info['latest']['key'] == taken['key'] and info['latest']['usable'] is True
    assert info['latest']['sha256'] == taken['sha256'] and info['latest']['kind'] == 'backup'
    assert info['latest']['total_rows'] == 7000 and len(info['latest']['tables']) == 3
    assert info['incomplete'] == []

    plan = restore(pg_cluster, tmp_path, target, check=True, database=source).task('Run')
    assert plan['changed'] is True and plan['mode'] == 'create' and plan['key'] == taken['key']
    assert any(action.startswith('download s3://%s/%s' % (BUCKET, taken['key'])) for action in plan['actions'])
    assert any('verify its sha256' in action for action in plan['actions'])
    assert any(action == 'create database %s from template0' % target for action in plan['actions'])
    [command] = plan['commands']
    assert command.split()[1:6] == ['--no-password', '--exit-on-error', '--jobs', '2', '--dbname']
    assert not exists(pg_cluster, target)

    restored = restore(pg_cluster, tmp_path, target, database=source, jobs=3).task('Run')
    assert restored['changed'] is True and restored['mode'] == 'create'
    assert restored['sha256'] == taken['sha256']
    assert '--jobs 3' in restored['commands'][0]
    assert {(t['schema'], t['name']): t['rows'] for t in restored['tables']} == TABLES
    assert contents(pg_cluster, target) == contents(pg_cluster, source)
    assert contents(pg_cluster, target)[0].count('\n') == 1999  # 2000 customers, compared row by row above
    record = comment(pg_cluster, target)
    assert taken['key'] in record and taken['sha256'] in record and '"restored"' in record

    again = restore(pg_cluster, tmp_path, target, database=source)
    assert again.task('Run')['changed'] is False and again.task('Run')['mode'] == 'done'
    assert again.task('Run')['actions'] == [] and again.task('Run')['commands'] == []
    assert again.changed is False


def test_a_named_backup_is_taken_once(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    key = 'changes/CHG-1042/%s.dump' % source
    first = backup(pg_cluster, tmp_path, source, object=key).task('Run')
    assert first['changed'] is True and first['key'] == key
    written = s3.head_object(Bucket=BUCKET, Key=key)

    pg_cluster.psql('INSERT INTO public.empty_table VALUES (1)', user=SRE_USER, dbname=source)
    second = backup(pg_cluster, tmp_path, source, object=key)
    assert second.changed is False
    result = second.task('Run')
    assert result['actions'] == [] and result['commands'] == []
    assert result['sha256'] == first['sha256'] and result['total_rows'] == 7000
    assert s3.head_object(Bucket=BUCKET, Key=key)['LastModified'] == written['LastModified']

    # Someone else's object at the key is never overwritten.
    s3.put_object(Bucket=BUCKET, Key='changes/other.dump', Body=b'not ours')
    message = refused(backup(pg_cluster, tmp_path, source, object='changes/other.dump', expect_rc=FAILED_TASK))
    assert 'not written by sre.runbooks.pg_logical_backup' in message
    assert s3.get_object(Bucket=BUCKET, Key='changes/other.dump')['Body'].read() == b'not ours'


def test_a_missing_bucket_is_refused_before_dumping(pg_cluster, s3, names, tmp_path):  # pylint: disable=unused-argument
    source = make_source(pg_cluster, names('src'))
    work = tmp_path / 'work'
    work.mkdir()
    message = refused(backup(pg_cluster, tmp_path, source, bucket='no-such-bucket', work_dir=str(work), expect_rc=FAILED_TASK))
    assert 'Failed to use S3 bucket no-such-bucket: the bucket does not exist' in message
    assert os.listdir(work) == []


def corrupt(s3, key):
    """Flip one byte of the object in the middle, keeping its size and metadata (the manifest still agrees with them)."""
    head = s3.head_object(Bucket=BUCKET, Key=key)
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)['Body'].read())
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data), Metadata=head['Metadata'])
    return hashlib.sha256(bytes(data)).hexdigest()


def test_a_corrupted_download_is_refused_and_the_target_left_untouched(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    taken = backup(pg_cluster, tmp_path, source).task('Run')
    actual = corrupt(s3, taken['key'])

    new_target = names('new')
    message = refused(restore(pg_cluster, tmp_path, new_target, object=taken['key'], expect_rc=FAILED_TASK))
    assert 'its sha256 is %s, but the manifest says %s' % (actual, taken['sha256']) in message
    assert 'was not touched' in message
    assert not exists(pg_cluster, new_target)

    # A destructive restore is refused just the same, before the evidence dump and before the target changes.
    existing = make_source(pg_cluster, names('live'))
    pg_cluster.psql("UPDATE public.customers SET name = 'changed since the backup' WHERE id = 1", user=SRE_USER, dbname=existing)
    before = contents(pg_cluster, existing)
    evidence = tmp_path / 'evidence'
    run = restore(pg_cluster, tmp_path, existing, object=taken['key'], clean=True, evidence_dir=str(evidence), expect_rc=FAILED_TASK)
    assert actual in refused(run) and taken['sha256'] in refused(run)
    assert contents(pg_cluster, existing) == before
    assert not evidence.exists()
    assert [name for name in pg_cluster.psql('SELECT datname FROM pg_database').split() if '_sre_' in name] == []


def test_check_mode_of_a_replacement_changes_nothing(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    taken = backup(pg_cluster, tmp_path, source).task('Run')
    existing = make_source(pg_cluster, names('live'))
    pg_cluster.psql('DELETE FROM sales.orders WHERE id > 10', user=SRE_USER, dbname=existing)
    before = contents(pg_cluster, existing)
    evidence = tmp_path / 'evidence'
    run = restore(pg_cluster, tmp_path, existing, check=True, diff=True, object=taken['key'], clean=True, evidence_dir=str(evidence),
                  evidence_object='evidence/%s.dump' % existing)
    result = run.task('Run')
    assert result['changed'] is True and result['mode'] == 'replace'
    assert any(action.startswith('dump database %s as evidence to %s' % (existing, evidence)) for action in result['actions'])
    assert any(action.startswith('swap in one transaction') for action in result['actions'])
    assert [command.split()[0].rsplit('/', 1)[-1] for command in result['commands']] == ['pg_dump', 'pg_restore']
    assert result['diff']['before']['exists'] is True and result['diff']['after']['restored'] == taken['key']
    assert contents(pg_cluster, existing) == before
    assert not evidence.exists()
    assert keys(s3) == sorted([taken['key'], taken['key'] + '.manifest.json'])
    assert [name for name in pg_cluster.psql('SELECT datname FROM pg_database').split() if '_sre_' in name] == []


def test_a_clean_restore_keeps_restorable_evidence_and_the_database_properties(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    taken = backup(pg_cluster, tmp_path, source).task('Run')
    target = make_source(pg_cluster, names('live'))
    # The damage: rows deleted and a table added since the backup.
    pg_cluster.psql('DELETE FROM sales.orders WHERE id > 100; CREATE TABLE public.scratch_notes (note text); '
                    "INSERT INTO public.scratch_notes VALUES ('written after the backup')", user=SRE_USER, dbname=target)
    damaged = contents(pg_cluster, target)
    reader = names('reader')
    pg_cluster.psql('CREATE ROLE %s NOLOGIN; GRANT CONNECT ON DATABASE "%s" TO %s; ALTER DATABASE "%s" SET work_mem = \'7MB\'' % (
        reader, target, reader, target))
    try:
        assert 'is not empty; set clean=true' in refused(restore(pg_cluster, tmp_path, target, object=taken['key'], expect_rc=FAILED_TASK))
        message = refused(restore(pg_cluster, tmp_path, target, object=taken['key'], clean=True, expect_rc=FAILED_TASK))
        assert 'set evidence_dir, evidence_object or both' in message
        assert contents(pg_cluster, target) == damaged

        evidence_dir = tmp_path / 'evidence'
        evidence_key = 'evidence/%s.dump' % target
        result = restore(pg_cluster, tmp_path, target, object=taken['key'], clean=True, evidence_dir=str(evidence_dir),
                         evidence_object=evidence_key).task('Run')
        assert result['changed'] is True and result['mode'] == 'replace'
        assert contents(pg_cluster, target) == contents(pg_cluster, source)
        assert pg_cluster.psql("SELECT to_regclass('public.scratch_notes') IS NULL", user=SRE_USER, dbname=target) == 't'
        assert pg_cluster.psql("SELECT has_database_privilege('%s', '%s', 'CONNECT')" % (reader, target)) == 't'
        assert pg_cluster.psql("SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                               "WHERE d.datname = '%s' AND s.setrole = 0" % target) == '{work_mem=7MB}'
        assert pg_cluster.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'" % target) == SRE_USER
        assert [name for name in pg_cluster.psql('SELECT datname FROM pg_database').split() if '_sre_' in name] == []

        # The evidence: a private file with its manifest, and an S3 backup of kind evidence.
        evidence = result['evidence']
        [dump] = evidence_dir.glob('*.dump')
        assert str(dump) == evidence['path']
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        assert hashlib.sha256(dump.read_bytes()).hexdigest() == evidence['sha256']
        local_manifest = yaml.safe_load((evidence_dir / (dump.name + '.manifest.json')).read_text(encoding='utf-8'))
        assert local_manifest['kind'] == 'evidence' and local_manifest['sha256'] == evidence['sha256']
        assert local_manifest['evidence_for']['key'] == taken['key']
        assert sha256_of_object(s3, evidence_key) == evidence['sha256']

        # The evidence is never "the latest backup", and it restores to the damaged state.
        info = backup_info(tmp_path, prefix='', database=target)
        assert [(entry['key'], entry['kind']) for entry in info['backups']] == [(evidence_key, 'evidence')]
        assert info['latest'] is None
        recovered = names('evidence')
        back = restore(pg_cluster, tmp_path, recovered, object=evidence_key).task('Run')
        assert back['mode'] == 'create' and back['backup']['kind'] == 'evidence'
        assert contents(pg_cluster, recovered) == damaged
        assert pg_cluster.psql('SELECT note FROM public.scratch_notes', user=SRE_USER, dbname=recovered) == 'written after the backup'

        # A second run finds the backup in place: nothing is dumped, downloaded or replaced.
        again = restore(pg_cluster, tmp_path, target, object=taken['key'], clean=True, evidence_dir=str(evidence_dir),
                        evidence_object='evidence/second.dump')
        assert again.changed is False and again.task('Run')['mode'] == 'done'
        assert len(list(evidence_dir.glob('*.dump'))) == 1
        assert 'evidence/second.dump' not in keys(s3)
    finally:
        pg_cluster.psql('DROP OWNED BY %s; DROP ROLE %s' % (reader, reader), dbname=target)


def test_an_existing_empty_database_is_restored_into(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    taken = backup(pg_cluster, tmp_path, source).task('Run')
    target = names('empty')
    pg_cluster.psql('CREATE DATABASE "%s"' % target, user=SRE_USER)
    result = restore(pg_cluster, tmp_path, target, object=taken['key']).task('Run')
    assert result['mode'] == 'into_empty' and result['changed'] is True
    assert contents(pg_cluster, target) == contents(pg_cluster, source)


def test_row_counts_that_differ_from_the_manifest_fail_and_the_new_database_is_dropped(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    taken = backup(pg_cluster, tmp_path, source).task('Run')
    manifest_key = taken['key'] + '.manifest.json'
    manifest = yaml.safe_load(s3.get_object(Bucket=BUCKET, Key=manifest_key)['Body'].read())
    for table in manifest['tables']:
        if table['name'] == 'orders':
            table['rows'] += 1
    s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=json.dumps(manifest).encode(), Metadata={'sre-runbooks-format': 'pg_logical_backup/1'})

    target = names('copy')
    message = refused(restore(pg_cluster, tmp_path, target, object=taken['key'], expect_rc=FAILED_TASK))
    assert 'table sales.orders has 5000 rows, the backup has 5001' in message
    assert 'database %s, created for this restore, was dropped again' % target in message
    assert not exists(pg_cluster, target)


def test_password_never_in_output_nor_on_a_command_line(pg_cluster, s3, names, tmp_path):
    source = make_source(pg_cluster, names('src'))
    target = names('copy')
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        seen.append(Path('/proc', pid, 'cmdline').read_bytes().replace(b'\0', b' '))
                    except OSError:
                        pass

    # The password is in the playbook's vars, handed to the modules as login_password: never in an argv.
    info = pg_cluster.conninfo_for(SRE_USER, 'postgres')
    login = {'login_host': info['host'], 'login_port': info['port'], 'login_user': SRE_USER, 'login_password': '{{ secret }}'}
    play = {'name': 'Round trip', 'hosts': 'localhost', 'gather_facts': False, 'vars': {'secret': SRE_PASSWORD}, 'tasks': [
        {'name': 'Back up', 'register': 'dumped',
         'sre.runbooks.pg_logical_backup': dict(login, login_db=source, bucket=BUCKET, prefix=PREFIX)},
        {'name': 'Restore', 'sre.runbooks.pg_logical_restore': dict(
            login, login_db='postgres', bucket=BUCKET, prefix=PREFIX, object='{{ dumped.key }}', target_db=target)},
        {'name': 'Restore again', 'sre.runbooks.pg_logical_restore': dict(
            login, login_db='postgres', bucket=BUCKET, prefix=PREFIX, database=source, target_db=target)},
    ]}
    playbook = tmp_path / 'secret.yml'
    playbook.write_text(yaml.safe_dump([play]), encoding='utf-8')
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = run_playbook(playbook, tmp_path, verbosity=3)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert run.task('Restore')['changed'] is True and run.task('Restore again')['changed'] is False
    assert contents(pg_cluster, target) == contents(pg_cluster, source)
    assert any(b'pg_dump' in line for line in seen), 'the watcher never saw pg_dump running'
    assert any(b'pg_restore' in line for line in seen), 'the watcher never saw pg_restore running'
    assert not [line for line in seen if SRE_PASSWORD.encode() in line]
    assert 'login_password' in run.output  # -vvv prints the module arguments, censored
    assert SRE_PASSWORD not in run.output
    assert SRE_PASSWORD not in repr(run.results)


def test_backup_and_restore_playbooks_round_trip(pg_cluster, s3, names, tmp_path):
    """sre.runbooks.db_logical_backup then sre.runbooks.db_logical_restore, as an operator runs them."""
    source, target = make_source(pg_cluster, names('src')), names('restored')
    login = {'pg_login_host': pg_cluster.host, 'pg_login_port': pg_cluster.port, 'pg_login_user': SRE_USER,
             'pg_login_password': SRE_PASSWORD}
    backup_vars = dict(login, pg_db=source, db_logical_backup_bucket=BUCKET)
    restore_vars = dict(login, db_logical_restore_bucket=BUCKET, db_logical_restore_database=source,
                        db_logical_restore_target_db=target)

    checked = run_playbook('sre.runbooks.db_logical_backup', tmp_path, extra_vars=backup_vars, check=True)
    assert 'would dump and upload' in checked.task('Summarise the backup')['msg'][0]
    assert keys(s3) == []

    taken = run_playbook('sre.runbooks.db_logical_backup', tmp_path, extra_vars=backup_vars)
    result = taken.task('Dump the database to S3')
    assert result['changed'] is True and result['sha256'] == sha256_of_object(s3, result['key'])
    # the playbook's own proof ran (the run would have failed had it not held)
    assert not taken.task('Check that the backup is stored and usable').get('skipped')
    assert 'rows: 7000 in 3 tables' == taken.task('Summarise the backup')['msg'][2]

    planned = run_playbook('sre.runbooks.db_logical_restore', tmp_path, extra_vars=restore_vars, check=True)
    assert planned.task('Download, verify and restore the backup')['changed'] is True
    assert not exists(pg_cluster, target)

    restored = run_playbook('sre.runbooks.db_logical_restore', tmp_path, extra_vars=restore_vars)
    assert restored.task('Download, verify and restore the backup')['key'] == result['key']
    assert contents(pg_cluster, target) == contents(pg_cluster, source)

    again = run_playbook('sre.runbooks.db_logical_restore', tmp_path, extra_vars=restore_vars)
    assert again.changed is False
    assert 'already restored from this backup' in again.task('Summarise the restore')['msg'][0]
    for run in (taken, restored, again):
        assert SRE_PASSWORD not in run.output


def test_restore_playbook_refuses_an_ambiguous_backup(tmp_path):
    run = run_playbook('sre.runbooks.db_logical_restore', tmp_path, expect_rc=FAILED_TASK,
                       extra_vars={'db_logical_restore_bucket': BUCKET, 'db_logical_restore_target_db': 'x',
                                   'db_logical_restore_database': 'orders', 'db_logical_restore_object': 'postgres/orders/a.dump'})
    assert 'exactly one of db_logical_restore_database' in run.task('Refuse a restore without its backup and target')['msg']
