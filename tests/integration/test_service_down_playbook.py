"""playbooks/service_down.yml ("complete service failure") end to end: kubesim, the real Prometheus, a local notice receiver.

The run declares a P0 and pages (PagerDuty trigger), diagnoses, tries restart,
scale up and rollback, each verified by the health gate, and resolves
(PagerDuty resolve with the same dedup key), or escalates to L2 at once when
nothing worked; the sre.runbooks.incident_timeline callback writes every task
to the incident's timeline, in the order ansible-playbook ran them, with no
secret value; the review renders from that timeline.
"""

import json

import pytest

from tests.integration.gate import ERROR_RATE, gate_vars
from tests.integration.notice_receiver import notice_receiver_fixture  # noqa: F401  # pylint: disable=unused-import
from tests.integration.runner import REPO, run_playbook
from tests.integration.test_scenario_playbooks import down_release, ran

pytestmark = [pytest.mark.kubernetes, pytest.mark.simulator_only]

PLAYBOOK = REPO / 'playbooks' / 'service_down.yml'
ROUTING_KEY = 'PD-ROUTING-service-down-never-written-5e1f'
L2_KEY = 'PD-L2-service-down-never-written-c0de'
PROM_TOKEN = 'PROM-TOKEN-never-written-99ab'
INCIDENT_ID = 'INC-SERVICE-DOWN-TEST'


def service_down(kube, namespace, tmp_path, receiver, prometheus, expect_rc=0, check=False, **extra):
    extra_vars = dict(
        workload_name='web', workload_namespace=namespace, kubeconfig=str(kube.kubeconfig), diagnostics_dest=str(tmp_path / 'evidence'),
        restart_wait_timeout=60, rollback_wait_timeout=60, scale_wait_timeout=60,
        incident_id=INCIDENT_ID, incident_dir=str(tmp_path / 'incidents'), incident_commander='@alice', incident_channel='#incident-web',
        incident_targets=[{'type': 'webhook', 'name': 'chat', 'url': receiver.url + '/hooks/chat'},
                          {'type': 'pagerduty', 'name': 'oncall', 'routing_key': ROUTING_KEY, 'url': receiver.url + '/v2/enqueue'}],
        incident_escalation_targets={'L2': [{'type': 'pagerduty', 'name': 'lead', 'routing_key': L2_KEY, 'url': receiver.url + '/v2/enqueue'}]},
        # A secret the gate sends as a bearer token (a no_log option): it must not reach the timeline either.
        health_gate_prometheus_token=PROM_TOKEN,
        **extra)
    extra_vars.update(gate_vars(prometheus, wait_timeout=extra_vars.pop('wait_timeout', 90)))
    env = dict(kube.env, ANSIBLE_CALLBACKS_ENABLED='result_recorder,sre.runbooks.incident_timeline')
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, env=env, check=check, expect_rc=expect_rc, verbosity=1)


def incident_dir(tmp_path):
    return tmp_path / 'incidents' / INCIDENT_ID


def timeline(tmp_path):
    return [json.loads(line) for line in (incident_dir(tmp_path) / 'timeline.jsonl').read_text().splitlines()]


def pages(receiver):
    return [(r['body']['event_action'], r['body']['dedup_key'], r['body']['routing_key']) for r in receiver.requests_to('/v2/enqueue')]


def assert_no_secret(tmp_path, run):
    for path in incident_dir(tmp_path).iterdir():
        text = path.read_text()
        for secret in (ROUTING_KEY, L2_KEY, PROM_TOKEN):
            assert secret not in text, (secret, path.name)
    for secret in (ROUTING_KEY, L2_KEY, PROM_TOKEN):
        assert secret not in run.output


def assert_every_task_in_order(tmp_path, run):
    tasks = [e for e in timeline(tmp_path) if e['kind'] == 'task']
    assert len({e['run'] for e in tasks}) == 1
    recorded = [(r['task'], r['host'], r['status']) for r in run.results]
    written = [(e['task'], e['host'], 'ok' if e['status'] == 'changed' else e['status']) for e in tasks]
    assert written == recorded
    return tasks


def test_service_down_declares_pages_recovers_by_rollback_and_resolves(kube, namespace, tmp_path, bind_app, prometheus, notice_receiver):
    down_release(kube, namespace)
    bind_app(namespace, 'web')
    prometheus.wait_for_value(ERROR_RATE, lambda value: value > 0.5, 'the error rate of a service that is down')

    run = service_down(kube, namespace, tmp_path, notice_receiver, prometheus)
    outcome = run.task('Record the outcome')['ansible_facts']['service_down_result']
    assert [(t['fix'], t['ok']) for t in outcome['tried']] == [('restart', False), ('scale_up', False), ('rollback', True)]
    assert outcome['recovered'] is True and not ran(run, 'Escalate, no quick fix brought the service back')

    # PagerDuty: trigger at the declaration, resolve at the end, one dedup key; L2 never paged.
    assert pages(notice_receiver) == [('trigger', INCIDENT_ID, ROUTING_KEY), ('resolve', INCIDENT_ID, ROUTING_KEY)]
    trigger = notice_receiver.requests_to('/v2/enqueue')[0]['body']['payload']
    assert trigger['summary'] == 'INCIDENT DECLARED: P0 - web is down' and trigger['severity'] == 'critical'
    chat = [r['body']['text'] for r in notice_receiver.requests_to('/hooks/chat')]
    assert chat[0].startswith('INCIDENT DECLARED: P0 - web is down') and chat[-1].startswith('INCIDENT RESOLVED: P0 - web is down')
    assert 'Resolution: rollback recovered the service (verified by the health gate)' in chat[-1]

    record = json.loads((incident_dir(tmp_path) / 'incident.json').read_text())
    assert record['status'] == 'resolved' and record['severity'] == 'P0' and record['escalations'] == []
    assert record['actions'] == ['restart: did not recover', 'scale_up: did not recover', 'rollback: recovered']

    # The timeline: every task of the run in order, the no_log ones censored, the decisions and lifecycle events in it.
    tasks = assert_every_task_in_order(tmp_path, run)
    assert any(e['censored'] for e in tasks if e['task'] == 'Send the PagerDuty event')
    events = timeline(tmp_path)
    assert [e['data']['event'] for e in events if e['kind'] == 'lifecycle'] == ['declaration', 'resolution']
    decisions = [e['msg'] for e in events if e['kind'] == 'decision']
    assert decisions[0].startswith('Diagnostics: ') and len(decisions) == 4
    assert decisions[1].startswith('Tried restart because the service was down') and 'did not recover' in decisions[1]
    assert decisions[3].startswith('Rolled back from revision 2 to the template of revision 1 because restart and scale_up did not recover')
    assert_no_secret(tmp_path, run)

    # The review, rendered from that timeline.
    review = (incident_dir(tmp_path) / 'review.md').read_text()
    assert run.task('Write the post-incident review')['dest'] == str(incident_dir(tmp_path) / 'review.md')
    assert review.startswith('# Post-Incident Review: web is down\n') and '**Severity**: P0' in review
    assert '| Decision: Rolled back from revision 2 to the template of revision 1' in review
    assert '| Lifecycle: Declared P0 incident %s' % INCIDENT_ID in review
    assert '- Resolved without escalation' in review
    # The fixes that did not work are in the review, each with an action item.
    assert "- Failed `Restart the workload and wait for the rollout` on localhost" in review
    assert '## Root Cause\n_To be completed in the review meeting._' in review


def test_service_down_escalates_to_l2_once_when_nothing_works(kube, namespace, tmp_path, bind_app, prometheus, notice_receiver):
    down_release(kube, namespace, previous=False)  # nothing to roll back to
    bind_app(namespace, 'web')

    run = service_down(kube, namespace, tmp_path, notice_receiver, prometheus, expect_rc=2, wait_timeout=0)
    assert run.failed_tasks[-1] == 'Fail, the service is still down'
    assert 'INC-SERVICE-DOWN-TEST escalated (Senior Engineer / Team Lead)' in run.task('Fail, the service is still down')['msg']
    assert pages(notice_receiver) == [('trigger', INCIDENT_ID, ROUTING_KEY), ('trigger', INCIDENT_ID + '-L2', L2_KEY)]
    l2 = notice_receiver.requests_to('/v2/enqueue')[1]['body']['payload']['custom_details']['text']
    assert 'Paging L2 (Senior Engineer / Team Lead): web is still down after restart, scale_up, rollback (escalated at once after' in l2
    record = json.loads((incident_dir(tmp_path) / 'incident.json').read_text())
    assert record['status'] == 'identified' and [e['level'] for e in record['escalations']] == [2]
    assert_every_task_in_order(tmp_path, run)
    review = (incident_dir(tmp_path) / 'review.md').read_text()
    assert '- **Escalations**: L2 at ' in review and ', still open' in review
    assert_no_secret(tmp_path, run)

    # A later escalation check (the AWX schedule) with the fake clock 40 minutes on: L2 was paged, L3 not due yet: no new page.
    declared = record['declared_at']
    again = run_playbook(REPO / 'playbooks' / 'incident.yml', tmp_path, env={'ANSIBLE_CALLBACKS_ENABLED': 'result_recorder,sre.runbooks.incident_timeline'},
                         extra_vars={'incident_action': 'escalate', 'incident_id': INCIDENT_ID, 'incident_dir': str(tmp_path / 'incidents'),
                                     'incident_now': _plus(declared, 40),
                                     'incident_escalation_targets': {'L2': [{'type': 'pagerduty', 'routing_key': L2_KEY,
                                                                             'url': notice_receiver.url + '/v2/enqueue'}]}})
    result = again.task('Report the escalation check')['ansible_facts']['incident_escalation_result']
    assert result['paged'] == [] and result['already_paged'] == [2] and result['next']['level'] == 3
    assert len(pages(notice_receiver)) == 2


def _plus(iso, minutes):
    import datetime  # pylint: disable=import-outside-toplevel
    moment = datetime.datetime.strptime(iso, '%Y-%m-%dT%H:%M:%SZ') + datetime.timedelta(minutes=minutes)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def test_service_down_in_check_mode_declares_sends_and_changes_nothing(kube, namespace, tmp_path, bind_app, prometheus, notice_receiver):
    down_release(kube, namespace)
    bind_app(namespace, 'web')
    run = service_down(kube, namespace, tmp_path, notice_receiver, prometheus, check=True)
    assert notice_receiver.requests == []
    assert not (tmp_path / 'incidents').exists()
    assert run.task('Record the outcome')['ansible_facts']['service_down_result']['tried'][0]['fix'] == 'restart'
