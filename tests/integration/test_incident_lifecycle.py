"""The incident lifecycle end to end with real ansible-playbook runs, a fake clock and a local notice receiver.

playbooks/incident.yml (roles/incident) declares a P0, checks the escalation
policy at several fake times (L2 paged once after 30 minutes, not twice),
posts a status update when the cadence says one is due, hands off, resolves
(PagerDuty resolve with the dedup keys of the trigger and of the L2 page) and
renders the review; the sre.runbooks.incident_timeline callback records every
task of every run, and no routing key or API key reaches any file.
"""

import json

from tests.integration.notice_receiver import notice_receiver_fixture  # noqa: F401  # pylint: disable=unused-import
from tests.integration.runner import REPO, run_playbook

PLAYBOOK = REPO / 'playbooks' / 'incident.yml'
L1_KEY = 'L1-ROUTING-never-in-a-file-3b7e'
L2_KEY = 'L2-ROUTING-never-in-a-file-a91d'
L3_KEY = 'L3-ROUTING-never-in-a-file-0c44'
SP_KEY = 'SP-KEY-never-in-a-file-77aa'
INCIDENT_ID = 'INC-20251104T100000Z'
CALLBACKS = 'result_recorder,sre.runbooks.incident_timeline'


def at(minutes):
    return '2025-11-04T%02d:%02d:00Z' % (10 + minutes // 60, minutes % 60)


def lifecycle(tmp_path, receiver, action, minutes, expect_rc=0, **extra):
    pd = receiver.url + '/v2/enqueue'
    extra_vars = dict(
        incident_action=action, incident_dir=str(tmp_path / 'incidents'), incident_now=at(minutes),
        incident_targets=[{'type': 'webhook', 'name': 'chat', 'url': receiver.url + '/hooks/chat'},
                          {'type': 'pagerduty', 'name': 'oncall', 'routing_key': L1_KEY, 'url': pd},
                          {'type': 'statuspage', 'name': 'status', 'page_id': 'pg1', 'api_key': SP_KEY, 'url': receiver.url + '/v1'}],
        incident_escalation_targets={'L2': [{'type': 'pagerduty', 'name': 'lead', 'routing_key': L2_KEY, 'url': pd}],
                                     'L3': [{'type': 'pagerduty', 'name': 'manager', 'routing_key': L3_KEY, 'url': pd}]},
        **extra)
    if action != 'declare':
        extra_vars.setdefault('incident_id', INCIDENT_ID)
    env = {'ANSIBLE_CALLBACKS_ENABLED': CALLBACKS, 'SRE_INCIDENT_DIR': str(tmp_path / 'incidents')}
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, env=env, expect_rc=expect_rc, verbosity=2)


def pages(receiver):
    return [(r['body']['event_action'], r['body']['dedup_key'], r['body']['routing_key']) for r in receiver.requests_to('/v2/enqueue')]


def record(tmp_path):
    return json.loads((tmp_path / 'incidents' / INCIDENT_ID / 'incident.json').read_text())


def timeline(tmp_path):
    return [json.loads(line) for line in (tmp_path / 'incidents' / INCIDENT_ID / 'timeline.jsonl').read_text().splitlines()]


def test_declare_escalate_once_update_handoff_resolve_review(tmp_path, notice_receiver):
    runs = []
    runs.append(lifecycle(tmp_path, notice_receiver, 'declare', 0, incident_severity='SEV1', incident_service='checkout',
                          incident_title='checkout down', incident_commander='@alice', incident_channel='#incident-checkout',
                          incident_impact='all checkouts fail'))
    incident = record(tmp_path)
    assert (incident['id'], incident['severity'], incident['status'], incident['declared_at']) == (INCIDENT_ID, 'P0', 'investigating', at(0))
    assert incident['statuspage'] == {'pg1': 'sp1'} and incident['notices'][0]['sent'] == ['chat', 'oncall', 'status']
    assert pages(notice_receiver) == [('trigger', INCIDENT_ID, L1_KEY)]
    assert notice_receiver.requests_to('/hooks/chat')[0]['body']['text'].startswith('INCIDENT DECLARED: P0 - checkout down')

    # Declaring the same incident again takes it up: nobody is paged twice.
    runs.append(lifecycle(tmp_path, notice_receiver, 'declare', 5, incident_id=INCIDENT_ID, incident_severity='P0', incident_service='checkout'))
    assert 'Took up P0 incident' in runs[-1].task('Summarise the declaration')['msg'] and len(pages(notice_receiver)) == 1

    # The fake clock: 20 minutes in, L2 is not due yet (P0: after 30 minutes).
    runs.append(lifecycle(tmp_path, notice_receiver, 'escalate', 20))
    result = runs[-1].task('Report the escalation check')['ansible_facts']['incident_escalation_result']
    assert result['paged'] == [] and result['next'] == {'level': 2, 'at': at(30)}
    assert len(pages(notice_receiver)) == 1

    # 31 minutes in: L2 is paged, once, with its own dedup key; the channel is told.
    runs.append(lifecycle(tmp_path, notice_receiver, 'escalate', 31))
    assert runs[-1].task('Report the escalation check')['ansible_facts']['incident_escalation_result']['paged'] == [2]
    assert pages(notice_receiver)[1:] == [('trigger', INCIDENT_ID + '-L2', L2_KEY)]
    chat = notice_receiver.requests_to('/hooks/chat')[-1]['body']['text']
    assert chat.startswith('ESCALATION: P0 - checkout down') and 'Paging L2 (Senior Engineer / Team Lead): P0 unresolved after 31 min' in chat
    assert [(e['level'], e['time']) for e in record(tmp_path)['escalations']] == [(2, at(31))]

    # 45 minutes in: L2 was paged already, L3 is not due (90 minutes): nothing is paged again.
    runs.append(lifecycle(tmp_path, notice_receiver, 'escalate', 45))
    result = runs[-1].task('Report the escalation check')['ansible_facts']['incident_escalation_result']
    assert result['paged'] == [] and result['already_paged'] == [2] and result['next']['level'] == 3
    assert len(pages(notice_receiver)) == 2

    # Update cadence (P0: every 15 minutes since the declaration or the last update).
    runs.append(lifecycle(tmp_path, notice_receiver, 'update', 46, incident_update_status='identified', incident_update_text='bad release 2.4.1',
                          incident_update_findings=['CrashLoopBackOff in every pod of revision 5']))
    assert runs[-1].task('Report the update cadence')['ansible_facts']['incident_update_result']['posted'] is True
    update = notice_receiver.requests_to('/hooks/chat')[-1]['body']['text']
    assert update.startswith('INCIDENT UPDATE: P0 - checkout down (46m since start)') and 'ETA: Updates in 15m' in update
    assert notice_receiver.requests_to('/v1/pages/pg1/incidents/sp1')[-1]['body']['incident']['status'] == 'identified'
    runs.append(lifecycle(tmp_path, notice_receiver, 'update', 50))
    result = runs[-1].task('Report the update cadence')['ansible_facts']['incident_update_result']
    assert result['due'] is False and result['posted'] is False and result['next_at'] == at(61)
    assert len(pages(notice_receiver)) == 2  # an update is not a page

    runs.append(lifecycle(tmp_path, notice_receiver, 'handoff', 60, incident_handoff_to='@bob', incident_handoff_level=2,
                          incident_handoff_next_steps=['compare the 2.4.1 config with 2.4.0']))
    handoff = (tmp_path / 'incidents' / INCIDENT_ID / 'handoff-1.md').read_text()
    assert handoff.startswith('# Handoff: %s checkout down' % INCIDENT_ID) and '**Owner**: @alice -> @bob (L2)' in handoff
    assert '**Escalations**: L2 at 10:31: P0 unresolved after 31 min (policy: page L2 after 30 min)' in handoff
    assert notice_receiver.requests_to('/hooks/chat')[-1]['body']['text'].startswith('HANDOFF: Incident now owned by @bob (L2)')
    assert record(tmp_path)['commander'] == '@bob'

    runs.append(lifecycle(tmp_path, notice_receiver, 'resolve', 135, incident_resolution='rolled back to revision 3'))
    assert pages(notice_receiver)[2:] == [('resolve', INCIDENT_ID, L1_KEY), ('resolve', INCIDENT_ID + '-L2', L2_KEY)]
    assert notice_receiver.requests_to('/v1/pages/pg1/incidents/sp1')[-1]['body']['incident']['status'] == 'resolved'
    assert 'Duration: 2h 15m' in notice_receiver.requests_to('/hooks/chat')[-1]['body']['text']
    # Resolved: a later escalation check pages nobody, a second resolve tells nobody.
    runs.append(lifecycle(tmp_path, notice_receiver, 'escalate', 200))
    runs.append(lifecycle(tmp_path, notice_receiver, 'resolve', 201))
    assert len(pages(notice_receiver)) == 4

    runs.append(lifecycle(tmp_path, notice_receiver, 'review', 240))
    review = (tmp_path / 'incidents' / INCIDENT_ID / 'review.md').read_text()
    for heading in ('# Post-Incident Review: checkout down', '## Summary', '## Impact', '## Timeline (UTC)', '## Root Cause',
                    "## What Went Well", "## What Didn't Go Well", '## Action Items', '| ID | Action | Owner | Due Date | Status |'):
        assert heading in review, heading
    assert '**Duration**: 2h 15m (10:00 UTC - 12:15 UTC)' in review and '**Severity**: P0' in review
    assert 'Lifecycle: Escalated to L2 (Senior Engineer / Team Lead) because P0 unresolved after 31 min' in review
    assert '- Escalated to L2 at 10:31: P0 unresolved after 31 min' in review

    events = timeline(tmp_path)
    lifecycle_events = [e['data']['event'] for e in events if e['kind'] == 'lifecycle']
    assert lifecycle_events == ['declaration', 'escalation', 'update', 'handoff', 'resolution']
    # Every task of every run is in the timeline, in order (the runs after the declaration: the first run's tasks
    # before the `incident` fact are written when it appears).
    tasks = [e for e in events if e['kind'] == 'task']
    by_run = {}
    for event in tasks:
        by_run.setdefault(event['run'], []).append((event['task'], event['host'], 'ok' if event['status'] == 'changed' else event['status']))
    for run in runs:
        assert [(r['task'], r['host'], r['status']) for r in run.results] in by_run.values()
    assert len({e['run'] for e in tasks}) == len(runs)
    assert any(e['censored'] and e['task'] == 'Send the PagerDuty event' for e in tasks)
    for path in (tmp_path / 'incidents' / INCIDENT_ID).iterdir():
        text = path.read_text()
        for secret in (L1_KEY, L2_KEY, L3_KEY, SP_KEY):
            assert secret not in text, (secret, path.name)
