"""`make demo` end to end: the drill must diagnose the staged leak and prove the recovery."""

import json
import os
import subprocess
import sys

from tests.engines.postgres import SRE_PASSWORD
from tests.integration.runner import REPO


def test_drill_diagnoses_recovers_and_writes_evidence(tmp_path):
    env = dict(os.environ, SRE_RUNBOOKS_HOME=str(tmp_path / 'home'))
    proc = subprocess.run([sys.executable, '-m', 'tests.sandbox.drill', '--evidence-root', str(tmp_path / 'evidence')],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    [incident] = (tmp_path / 'evidence').iterdir()
    events = [json.loads(line) for line in (incident / 'timeline.jsonl').read_text(encoding='utf-8').splitlines()]
    names = [event['event'] for event in events]
    assert names == ['sandbox up', 'release checkout v1 deployed', 'baseline healthy', 'release checkout v2 deployed',
                     'alert: high error rate', 'alert: pods crash-looping', 'incident declared', 'diagnosis: connections exhausted',
                     'diagnosis: cluster findings', 'rolled back checkout v2 to v1', 'recovered', 'incident resolved, review written']
    by_name = dict(zip(names, events))
    assert by_name['release checkout v1 deployed']['pods'] == 3
    assert by_name['alert: pods crash-looping']['restarts'] >= 1
    # Recreate: every v1 pod is gone while v2 crash-loops, so the bound sample app fails every request.
    assert by_name['alert: high error rate']['error_rate_percent'] > 5
    diagnosis = by_name['diagnosis: connections exhausted']
    assert diagnosis['utilization_percent'] >= 80 and diagnosis['idle_in_transaction'] >= 24
    cluster = by_name['diagnosis: cluster findings']
    assert 'CrashLoopBackOff' in cluster['reasons'] and cluster['revision'] == 2
    assert cluster['summary'] and 'CrashLoopBackOff' in cluster['summary'][0]
    recovered = by_name['recovered']
    assert recovered['error_rate_percent'] < 1 and recovered['ready_pods'] == 3 and recovered['image'] == 'shop/checkout:v1'
    figures = sorted(incident.glob('db-connections-localhost-*.json'))
    assert len(figures) == 2  # during the incident and after recovery, each kept
    # Two snapshots: the diagnosis, and the one sre.runbooks.crash_loop takes before it decides.
    snapshots = sorted((incident / 'cluster').iterdir())
    assert len(snapshots) == 2
    history = json.loads((snapshots[0] / 'history.json').read_text(encoding='utf-8'))['history']
    assert [entry['revision'] for entry in history] == [1, 2]
    previous_logs = list(snapshots[0].glob('logs/*.previous.log'))
    assert previous_logs and all('FATAL' in path.read_text(encoding='utf-8') for path in previous_logs)
    # The incident lifecycle: declared and resolved with notices to the sandbox's chat, every task of the runbook
    # playbooks run after the declaration in the incident's timeline, the review rendered from it.
    incident_id = by_name['incident declared']['incident']
    record_dir = incident / 'incidents' / incident_id
    record = json.loads((record_dir / 'incident.json').read_text(encoding='utf-8'))
    assert record['severity'] == 'P0' and record['status'] == 'resolved'
    assert '[notice to incident chat] INCIDENT DECLARED: P0' in proc.stdout
    assert '[notice to incident chat] INCIDENT RESOLVED: P0' in proc.stdout
    tasks = [json.loads(line) for line in (record_dir / 'timeline.jsonl').read_text(encoding='utf-8').splitlines()]
    playbooks = {entry.get('playbook') for entry in tasks}
    assert {'diagnose_db_connections.yml', 'diagnose.yml', 'crash_loop.yml', 'incident.yml'} <= playbooks
    assert any(entry.get('playbook') == 'crash_loop.yml' and entry.get('changed') for entry in tasks)
    review = (record_dir / 'review.md').read_text(encoding='utf-8')
    assert '## Timeline (UTC)' in review and '## Action Items' in review
    # sre.runbooks.crash_loop records why it rolled back: a decision in the timeline and in the review.
    [decision] = [entry for entry in tasks if entry.get('kind') == 'decision']
    assert decision['msg'].startswith('rolled back from revision 2 to 1 because 3 of its 3 pods crash-looped')
    assert decision['data']['fix'] == 'rollback' and decision['data']['gate_passed'] is True
    assert 'rolled back from revision 2 to 1 because' in review
    assert SRE_PASSWORD not in proc.stdout
    for path in incident.rglob('*'):
        if path.is_file():
            assert SRE_PASSWORD not in path.read_text(encoding='utf-8')
