"""The incident timeline in a PostgreSQL table (the real test PostgreSQL 15): runs on different nodes share one timeline.

Two runs of playbooks/incident.yml with their own incident directories (two
AWX execution nodes, no shared disk) write to one table through the
sre.runbooks.incident_timeline callback and sre.runbooks.incident_event; the
review renders from the table. An unreachable database is a warning, the file
is still written, and the password is never printed.
"""

import json

import psycopg2

from tests.integration.runner import REPO, run_playbook

PLAYBOOK = REPO / 'playbooks' / 'incident.yml'
INCIDENT_ID = 'INC-PG-SHARED'
TABLE = 'incident_timeline_test'


def run(tmp_path, node, dsn, action, minutes, expect_rc=0, **extra):
    extra_vars = dict(incident_action=action, incident_id=INCIDENT_ID, incident_dir=str(tmp_path / node),
                      incident_now='2025-11-04T10:%02d:00Z' % minutes, incident_severity='P1', incident_service='search', **extra)
    env = {'ANSIBLE_CALLBACKS_ENABLED': 'result_recorder,sre.runbooks.incident_timeline',
           'SRE_INCIDENT_TIMELINE_DSN': dsn, 'SRE_INCIDENT_TIMELINE_TABLE': TABLE}
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, env=env, expect_rc=expect_rc)


def rows(dsn):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute('SELECT incident, kind, event FROM %s ORDER BY time, id' % TABLE)  # noqa: S608 - a constant
        return cur.fetchall()


def test_two_nodes_share_one_timeline_table_and_the_review_reads_it(tmp_path, pg_cluster):
    dsn = pg_cluster.dsn('sre', 'app')
    first = run(tmp_path, 'node-a', dsn, 'declare', 0)
    # Node B has no copy of the record: it declares the same id again (taken up from its own disk, here a fresh one).
    second = run(tmp_path, 'node-b', dsn, 'declare', 1, incident_title='search degraded')
    stored = rows(dsn)
    assert {r[0] for r in stored} == {INCIDENT_ID}
    runs = {r[2]['run'] for r in stored if r[1] == 'task'}
    assert len(runs) == 2
    file_a = [json.loads(line) for line in (tmp_path / 'node-a' / INCIDENT_ID / 'timeline.jsonl').read_text().splitlines()]
    file_b = [json.loads(line) for line in (tmp_path / 'node-b' / INCIDENT_ID / 'timeline.jsonl').read_text().splitlines()]
    assert len(stored) == len(file_a) + len(file_b)
    assert [r[2]['task'] for r in stored if r[1] == 'task'][:len(first.results)] == [r['task'] for r in first.results]
    assert [r[2]['task'] for r in stored if r[1] == 'task'][len(first.results):] == [r['task'] for r in second.results]
    assert [r[2]['data']['event'] for r in stored if r[1] == 'lifecycle'] == ['declaration', 'declaration']

    review = run(tmp_path, 'node-b', dsn, 'review', 30, incident_review_dest=str(tmp_path / 'review.md'))
    text = (tmp_path / 'review.md').read_text()
    assert text.startswith('# Post-Incident Review: search degraded')
    assert text.count('| Lifecycle: Declared P1 incident %s' % INCIDENT_ID) == 2  # both nodes' events, from the table
    assert 'sre-test-password' not in first.output + second.output + review.output


def test_an_unreachable_database_warns_and_the_file_is_still_written(tmp_path):
    dsn = 'host=127.0.0.1 port=9 user=sre password=never-print-this-pw dbname=app connect_timeout=2'
    result = run(tmp_path, 'node-a', dsn, 'declare', 0)
    assert 'the PostgreSQL table %s is not written' % TABLE in result.output
    assert 'never-print-this-pw' not in result.output
    assert (tmp_path / 'node-a' / INCIDENT_ID / 'timeline.jsonl').read_text().count('\n') >= len(result.results)
