"""The sre.runbooks.health_gate playbook (role sre.runbooks.health_gate) through ansible-playbook.

Against a real Prometheus scraping the sample app, whose knobs (error rate,
health) the tests turn; they wait until Prometheus measures the change with
the very query the gate's preset writes, then run the gate. Rate windows are
15 s instead of the runbooks' 5 m so that the measurements settle quickly;
nothing here asserts a duration.
"""

import json
import secrets

from tests.integration.conftest import FAILED_TASK
from tests.integration.gate import ERROR_RATE, gate_vars
from tests.integration.runner import run_playbook

PLAYBOOK = 'sre.runbooks.health_gate'
GATE = 'Gate the service health'
RECORD = 'Record the result of the gate'
SUMMARY = 'Summarise the health gate'
FAIL = 'Fail when the service is unhealthy'
REFUSE = 'Refuse a gate configuration that cannot work'


def play(tmp_path, check=False, expect_rc=0, verbosity=0, **extra_vars):
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, verbosity=verbosity, expect_rc=expect_rc)


def recorded_fact(run):
    """health_gate_result as the role set it."""
    return run.task(RECORD)['ansible_facts']['health_gate_result']


def unhealthy(app, prometheus):
    app.set(error_rate=0.2)
    prometheus.wait_for_value(ERROR_RATE, lambda value: abs(value - 0.2) < 0.01, 'an error rate of 20%')


def test_healthy_service_passes_in_check_mode_and_for_real(fresh_sample_app, prometheus, tmp_path):
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')
    for check in (True, False):
        run = play(tmp_path, check=check, **gate_vars(prometheus, fresh_sample_app, wait_timeout=60))
        gate = run.task(GATE)
        assert gate['passed'] is True, gate['summary']
        assert [c['name'] for c in gate['checks']] == ['error_rate', 'p95_latency', '/health']
        assert gate['checks'][0]['query'] == ERROR_RATE
        assert run.changed is False
        fact = recorded_fact(run)
        assert (fact['passed'], fact['summary']) == (True, gate['summary'])
        summary = run.task(SUMMARY)['msg']
        assert summary[0] == 'gate: %s' % gate['summary']
        assert summary[1].startswith('passed after ')
        assert summary[2:] == [c['message'] for c in gate['checks']]
        assert run.failed_tasks == []


def test_unhealthy_service_fails_with_the_measured_values(fresh_sample_app, prometheus, tmp_path):
    unhealthy(fresh_sample_app, prometheus)
    run = play(tmp_path, expect_rc=FAILED_TASK, **gate_vars(prometheus, fresh_sample_app, wait_timeout=0))
    gate = run.task(GATE)
    assert gate['passed'] is False
    assert gate['failed_checks'] == ['error_rate']
    assert run.failed_tasks == [FAIL]
    msg = run.task(FAIL)['msg']
    measured = [c for c in gate['checks'] if c['name'] == 'error_rate'][0]
    assert 0.15 < measured['value'] < 0.25
    assert msg.startswith('The service is unhealthy after 1 evaluation(s) over ')
    assert measured['message'] in msg
    # Only the failed check is in the message; the passing ones are in the summary.
    assert '/health' not in msg
    assert recorded_fact(run)['passed'] is False


def test_with_fail_on_failure_false_the_result_is_only_recorded(fresh_sample_app, prometheus, tmp_path):
    unhealthy(fresh_sample_app, prometheus)
    run = play(tmp_path, **gate_vars(prometheus, fresh_sample_app, wait_timeout=0, health_gate_fail_on_failure=False))
    fact = recorded_fact(run)
    assert fact['passed'] is False
    assert fact['failed_checks'] == ['error_rate']
    assert run.task(SUMMARY)['msg'][1].startswith('failed after 1 evaluation(s)')
    assert run.failed_tasks == []


def test_nothing_to_check_is_refused_before_any_request(tmp_path):
    run = play(tmp_path, expect_rc=FAILED_TASK)
    assert run.failed_tasks == [REFUSE]
    assert run.task(REFUSE)['msg'] == (
        'Refusing to run the health gate: nothing to check: give health_gate_http_checks (for example the '
        "service's /health URL) and/or health_gate_prometheus_url (with health_gate_job or health_gate_selector). "
        'Nothing was checked.')
    assert not [r for r in run.results if r['task'] == GATE]


def test_every_configuration_error_is_refused_at_once_without_its_secrets(tmp_path):
    token = 'tok-' + secrets.token_hex(12)
    password = 'pw-' + secrets.token_hex(12)
    run = play(tmp_path, expect_rc=FAILED_TASK, verbosity=3,
               health_gate_prometheus_url='prometheus.example.com:9090',
               health_gate_prometheus_token=token, health_gate_prometheus_headers={'Authorization': 'Basic ' + password},
               health_gate_http_checks=[{'url': 'http://web/health'}, {'url': 'ftp://user:%s@web/health' % password}],
               health_gate_error_rate_below=5, health_gate_p95_latency_below=0, health_gate_rate_window='5 minutes',
               health_gate_retry_interval=0)
    assert run.failed_tasks == [REFUSE]
    assert run.task(REFUSE)['msg'] == (
        'Refusing to run the health gate: health_gate_prometheus_url is not an http:// or https:// URL with a host; '
        'health_gate_http_checks: 1 check(s) without an http:// or https:// url; '
        'health_gate_error_rate_below must be a ratio above 0 and at most 1 (0.01 is 1%), not 5; '
        'health_gate_p95_latency_below must be a number of seconds above 0, not 0; '
        'health_gate_rate_window must be a Prometheus duration such as 5m or 30s, not 5 minutes; '
        'health_gate_retry_interval must be 1 or more seconds, not 0; '
        'health_gate_prometheus_token and an Authorization header in health_gate_prometheus_headers exclude each other. '
        'Nothing was checked.')
    recorded = json.dumps(run.results)
    for secret in (token, password):
        assert secret not in run.output
        assert secret not in recorded


def test_no_token_or_header_appears_in_the_output_at_vvv(fresh_sample_app, prometheus, tmp_path):
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')
    token = 'tok-' + secrets.token_hex(12)
    tenant = 'tenant-' + secrets.token_hex(12)
    api_key = 'key-' + secrets.token_hex(12)
    extra = gate_vars(prometheus, fresh_sample_app, wait_timeout=60, health_gate_prometheus_token=token,
                      health_gate_prometheus_headers={'X-Scope-OrgID': tenant},
                      health_gate_http_checks=[{'url': fresh_sample_app.url + '/health', 'name': '/health', 'headers': {'X-Api-Key': api_key}}])
    run = play(tmp_path, verbosity=3, **extra)
    assert run.task(GATE)['passed'] is True, run.task(GATE)['summary']
    recorded = json.dumps(run.results)
    for secret in (token, tenant, api_key):
        assert secret not in run.output
        assert secret not in recorded
