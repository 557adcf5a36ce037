"""roles/notify against a local receiver: webhook, Mattermost, PagerDuty Events v2 and a status page, real ansible-playbook."""

import pytest

from tests.integration.notice_receiver import notice_receiver_fixture  # noqa: F401  # pylint: disable=unused-import
from tests.integration.runner import run_playbook

PLAYBOOK = 'sre.runbooks.notify'
ROUTING_KEY = 'R0UTING-KEY-do-not-print-7f3a'
SP_KEY = 'STATUSPAGE-KEY-do-not-print-91c2'
MM_KEY = 'MATTERMOST-KEY-do-not-print-5d1e'
INCIDENT = {'id': 'INC-20251104T100000Z', 'title': 'checkout down', 'severity': 'P0', 'service': 'checkout',
            'status': 'investigating', 'commander': '@alice', 'channel': '#incident-checkout',
            'declared_at': '2025-11-04T10:00:00Z', 'impact': 'all checkouts fail'}


def targets(receiver):
    return [
        {'type': 'webhook', 'name': 'chat', 'url': receiver.url + '/hooks/chat', 'headers': {'X-Test': '1'}},
        {'type': 'mattermost', 'name': 'mm', 'url': receiver.url + '/mm', 'api_key': MM_KEY, 'channel': 'incidents'},
        {'type': 'pagerduty', 'name': 'oncall', 'routing_key': ROUTING_KEY, 'url': receiver.url + '/v2/enqueue'},
        {'type': 'statuspage', 'name': 'status', 'page_id': 'pg1', 'api_key': SP_KEY, 'url': receiver.url + '/v1'},
    ]


def notify(tmp_path, receiver, event, incident=None, check=False, **extra):
    extra_vars = dict(notify_targets=targets(receiver), notify_event=event, notify_incident=incident or INCIDENT, **extra)
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, verbosity=3)
    return run, run.task('Record what was sent')['ansible_facts']['notify_result']


def test_declaration_then_resolution_pages_and_resolves_with_one_dedup_key(tmp_path, notice_receiver):
    run, result = notify(tmp_path, notice_receiver, 'declaration', notify_message='all health checks failing')
    assert result['sent'] == ['chat', 'mm', 'oncall', 'status'] and result['failed'] == []
    assert result['statuspage'] == {'pg1': 'sp1'}
    chat = notice_receiver.requests_to('/hooks/chat')[0]
    assert chat['headers']['X-Test'] == '1'
    assert chat['body']['text'].startswith('INCIDENT DECLARED: P0 - checkout down')
    assert 'Incident Commander: @alice' in chat['body']['text'] and chat['body']['incident']['id'] == INCIDENT['id']
    assert notice_receiver.requests_to('/mm')[0]['body']['channel'] == 'incidents'
    page = notice_receiver.requests_to('/v2/enqueue')[0]['body']
    assert page['event_action'] == 'trigger' and page['dedup_key'] == INCIDENT['id'] and page['routing_key'] == ROUTING_KEY
    assert page['payload']['severity'] == 'critical' and page['payload']['source'] == 'checkout'
    created = notice_receiver.requests_to('/v1/pages/pg1/incidents')[0]
    assert created['method'] == 'POST' and created['headers']['Authorization'] == 'OAuth ' + SP_KEY
    assert created['body']['incident'] == {'name': 'checkout down', 'status': 'investigating', 'body': 'all health checks failing',
                                           'impact_override': 'critical'}

    resolved = dict(INCIDENT, status='resolved', resolved_at='2025-11-04T12:15:00Z', statuspage={'pg1': 'sp1'})
    run2, result = notify(tmp_path, notice_receiver, 'resolution', incident=resolved, notify_message='rolled back to revision 3')
    assert result['sent'] == ['chat', 'mm', 'oncall', 'status']
    pages = [r['body'] for r in notice_receiver.requests_to('/v2/enqueue')]
    assert [(p['event_action'], p['dedup_key']) for p in pages] == [('trigger', INCIDENT['id']), ('resolve', INCIDENT['id'])]
    assert 'payload' not in pages[1]
    patched = notice_receiver.requests_to('/v1/pages/pg1/incidents/sp1')
    assert [(r['method'], r['body']['incident']['status']) for r in patched] == [('PATCH', 'resolved')]
    text = notice_receiver.requests_to('/hooks/chat')[1]['body']['text']
    assert text.startswith('INCIDENT RESOLVED: P0 - checkout down') and 'Duration: 2h 15m' in text
    # -vvv output of both runs: no key anywhere.
    for secret in (ROUTING_KEY, SP_KEY, MM_KEY):
        assert secret not in run.output and secret not in run2.output


def test_an_update_is_not_a_page_and_an_unreachable_target_is_reported_not_fatal(tmp_path, notice_receiver):
    extra_targets = targets(notice_receiver) + [{'type': 'webhook', 'name': 'broken', 'url': notice_receiver.url + '/fail'},
                                                {'type': 'webhook', 'name': 'nobody', 'url': 'http://127.0.0.1:9/x'},
                                                {'type': 'pagerduty', 'name': 'nokey'}]
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=dict(notify_targets=extra_targets, notify_event='update',
                                                           notify_incident=dict(INCIDENT, statuspage={'pg1': 'sp7'}, status='identified'),
                                                           notify_message='bad release found'))
    result = run.task('Record what was sent')['ansible_facts']['notify_result']
    assert result['sent'] == ['chat', 'mm', 'status']
    assert result['skipped'] == ['oncall'] and result['failed'] == ['broken', 'nobody', 'nokey']
    details = {t['target']: t['detail'] for t in result['targets']}
    assert details['broken'] == 'HTTP 500' and details['nokey'] == 'missing routing_key'
    assert notice_receiver.requests_to('/v2/enqueue') == []
    assert notice_receiver.requests_to('/v1/pages/pg1/incidents/sp7')[0]['body']['incident']['status'] == 'identified'
    assert 'did not reach broken, nobody, nokey' in run.task('Warn about targets the notice did not reach')['msg']

    failing = run_playbook(PLAYBOOK, tmp_path, expect_rc=2,
                           extra_vars=dict(notify_targets=extra_targets[-3:], notify_event='custom', notify_message='x', notify_fail_on_error=True))
    assert 'Fail when a notice had to reach every target' in failing.failed_tasks


def test_check_mode_sends_nothing(tmp_path, notice_receiver):
    run, result = notify(tmp_path, notice_receiver, 'declaration', check=True)
    assert result['sent'] == [] and result['skipped'] == ['chat', 'mm', 'oncall', 'status']
    assert notice_receiver.requests == []


@pytest.mark.parametrize('event, action', [('escalation', 'trigger'), ('custom', 'acknowledge')])
def test_pagerduty_escalation_and_acknowledge(tmp_path, notice_receiver, event, action):
    pd = [{'type': 'pagerduty', 'name': 'l2', 'routing_key': ROUTING_KEY, 'url': notice_receiver.url + '/v2/enqueue',
           'dedup_key': INCIDENT['id'] + '-L2', 'severity': 'error'}]
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=dict(notify_targets=pd, notify_event=event, notify_incident=INCIDENT,
                                                           notify_pagerduty_action='acknowledge',
                                                           notify_details={'level': 2, 'name': 'Senior Engineer', 'reason': 'P0 unresolved after 31 min'}))
    assert run.task('Record what was sent')['ansible_facts']['notify_result']['sent'] == ['l2']
    body = notice_receiver.requests_to('/v2/enqueue')[0]['body']
    assert (body['event_action'], body['dedup_key']) == (action, INCIDENT['id'] + '-L2')
    if action == 'trigger':
        assert body['payload']['summary'] == 'ESCALATION: P0 - checkout down' and body['payload']['severity'] == 'error'
        assert 'Paging L2 (Senior Engineer): P0 unresolved after 31 min' in body['payload']['custom_details']['text']
