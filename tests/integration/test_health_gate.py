"""sre.runbooks.health_gate through ansible-playbook against a real Prometheus scraping the sample app.

The tests turn the app's knobs (error rate, latency, health), wait until
Prometheus measures the change with the very query the module's preset writes,
then run the gate. Rate windows are 15 s instead of the runbooks' 5 m so that
the measurements settle quickly; nothing here asserts a duration.
"""

import json
import re
import secrets
import threading
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.health.promql import (
    label_matchers,
    latency_quantile_query,
)
from tests.engines import sample_app as sample_app_engine
from tests.engines.ports import free_port
from tests.engines.prometheus import JOB_NAME
from tests.integration.gate import ERROR_RATE, RATE_WINDOW
from tests.integration.runner import run_playbook

PLAYBOOK = Path(__file__).parent / 'playbooks' / 'health_gate.yml'
DECIDE_PLAYBOOK = Path(__file__).parent / 'playbooks' / 'health_gate_decide.yml'
TASK = 'Check the service health'
P95_LATENCY = latency_quantile_query(label_matchers(job=JOB_NAME), RATE_WINDOW)


def settle_healthy(prometheus):
    prometheus.wait_for_value(ERROR_RATE, lambda value: value < 0.001, 'the error rate back at 0')
    prometheus.wait_for_value(P95_LATENCY, lambda value: value < 0.1, 'the p95 latency back at 50 ms')


def gate_vars(app_url, prometheus_url, **overrides):
    """Extra vars: the runbook presets on the sample app's job, /health and /ready, no waiting."""
    values = {
        'prometheus_url': prometheus_url,
        'job': JOB_NAME,
        'rate_window': RATE_WINDOW,
        'error_rate_below': 0.01,
        'p95_latency_below': 0.5,
        'http_checks': [
            {'url': app_url + '/health', 'name': '/health'},
            {'url': app_url + '/ready', 'name': '/ready'},
        ],
        'wait_timeout': 0,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def by_name(result):
    return {check['name']: check for check in result['checks']}


def test_healthy_service_passes_in_check_mode_and_for_real(fresh_sample_app, prometheus, tmp_path):
    settle_healthy(prometheus)
    # The conditions must hold for the last 5 s; the gate waits if a previous test's errors are still in the window.
    extra = gate_vars(fresh_sample_app.url, prometheus.url, for_seconds=5, step=1, wait_timeout=90, retry_interval=2)
    checked = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra, check=True, diff=True).task(TASK)
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra).task(TASK)
    for outcome in (checked, result):
        assert outcome['changed'] is False
        assert outcome['passed'] is True, outcome['summary']
        assert outcome['failed_checks'] == []
        assert [check['name'] for check in outcome['checks']] == ['error_rate', 'p95_latency', '/health', '/ready']
    checks = by_name(result)
    assert checks['error_rate']['kind'] == 'prometheus'
    assert checks['error_rate']['value'] < 0.01
    assert checks['error_rate']['threshold'] == 0.01
    assert checks['error_rate']['points'] == 6  # a range query: every second of the last 5 s
    assert checks['error_rate']['query'] == ERROR_RATE
    assert 0 < checks['p95_latency']['value'] < 0.1
    assert checks['p95_latency']['query'] == P95_LATENCY
    assert checks['/health']['kind'] == 'http'
    assert checks['/health']['value'] == 200
    assert result['summary'].startswith('error_rate ')
    assert '/health 200; /ready 200' in result['summary']


def test_high_error_rate_fails_with_the_measured_value(fresh_sample_app, prometheus, tmp_path):
    fresh_sample_app.set(error_rate=0.12)
    prometheus.wait_for_value(ERROR_RATE, lambda value: abs(value - 0.12) < 0.005, 'an error rate of 12%')
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=gate_vars(fresh_sample_app.url, prometheus.url), expect_rc=2)
    result = run.task(TASK)
    assert run.failed_tasks == [TASK]
    assert result['passed'] is False
    assert result['failed_checks'] == ['error_rate']
    error_rate = by_name(result)['error_rate']
    assert error_rate['state'] == 'failed'
    assert error_rate['value'] == pytest.approx(0.12, abs=0.01)
    assert error_rate['threshold'] == 0.01
    assert re.match(r'error_rate 1[12](\.\d)?% >= 1%$', error_rate['message']), error_rate['message']
    assert result['summary'] == error_rate['message']
    assert result['msg'].startswith('Health gate failed after 1 evaluation(s)')
    assert result['msg'].endswith(error_rate['message'])
    assert by_name(result)['p95_latency']['passed'] is True


def test_high_latency_fails_the_p95_check(fresh_sample_app, prometheus, tmp_path):
    settle_healthy(prometheus)
    fresh_sample_app.set(latency_seconds=0.8)
    # All requests now fall into the (0.5, 1] bucket: histogram_quantile interpolates 0.975.
    prometheus.wait_for_value(P95_LATENCY, lambda value: value > 0.9, 'a p95 latency in the 0.5-1 s bucket')
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=gate_vars(fresh_sample_app.url, prometheus.url), expect_rc=2).task(TASK)
    assert result['failed_checks'] == ['p95_latency']
    latency = by_name(result)['p95_latency']
    assert latency['threshold'] == 0.5
    assert 0.5 < latency['value'] <= 1.0
    assert latency['message'].startswith('p95_latency 9')
    assert latency['message'].endswith('ms >= 500ms')


def test_unhealthy_endpoint_fails_the_http_check_in_check_mode_too(fresh_sample_app, prometheus, tmp_path):
    settle_healthy(prometheus)
    fresh_sample_app.set(healthy=False)
    for check in (False, True):
        result = run_playbook(PLAYBOOK, tmp_path, extra_vars=gate_vars(fresh_sample_app.url, prometheus.url), check=check, expect_rc=2).task(TASK)
        assert result['changed'] is False
        assert result['failed_checks'] == ['/health']
        health = by_name(result)['/health']
        assert health['value'] == 503
        assert health['threshold'] == [200]
        assert health['message'] == '/health 503 (expected 200)'
        assert by_name(result)['/ready']['passed'] is True
        assert result['summary'] == '/health 503 (expected 200)'


def test_fail_on_gate_false_lets_the_play_decide(fresh_sample_app, prometheus, tmp_path):
    settle_healthy(prometheus)
    fresh_sample_app.set(healthy=False, ready=False)
    extra = {'app_url': fresh_sample_app.url, 'prometheus_url': prometheus.url, 'job': JOB_NAME, 'rate_window': RATE_WINDOW}
    run = run_playbook(DECIDE_PLAYBOOK, tmp_path, extra_vars=extra)
    result = run.task(TASK)
    assert not result.get('failed')
    assert result['passed'] is False
    assert result['failed_checks'] == ['/health', '/ready']
    assert run.task('Escalate when the service is still unhealthy')['msg'] == (
        'Still unhealthy after the rollback, paging on-call: /health 503 (expected 200); /ready 503 (expected 200)')
    statuses = {entry['task']: entry['status'] for entry in run.results}
    assert statuses['Close the incident when the service is healthy'] == 'skipped'
    assert run.failed_tasks == []


@pytest.fixture
def first_health_request(monkeypatch):
    """An event set once the sample app has answered a GET /health (the gate's first evaluation)."""
    answered = threading.Event()
    original = sample_app_engine._Handler.do_GET  # pylint: disable=protected-access

    def do_get(handler):
        original(handler)
        if handler.path.startswith('/health'):
            answered.set()

    monkeypatch.setattr(sample_app_engine._Handler, 'do_GET', do_get)  # pylint: disable=protected-access
    return answered


def test_wait_timeout_lets_a_recovering_service_pass(fresh_sample_app, prometheus, tmp_path, first_health_request):
    settle_healthy(prometheus)
    fresh_sample_app.set(healthy=False)

    def recover():
        # The gate has seen the 503 once: the service comes back while the gate waits.
        if first_health_request.wait(timeout=300):
            fresh_sample_app.set(healthy=True)

    recovery = threading.Thread(target=recover, daemon=True)
    recovery.start()
    try:
        result = run_playbook(PLAYBOOK, tmp_path, extra_vars=gate_vars(fresh_sample_app.url, prometheus.url, wait_timeout=120, retry_interval=1)).task(TASK)
    finally:
        first_health_request.set()
        recovery.join(timeout=10)
    assert result['passed'] is True, result['summary']
    assert result['attempts'] >= 2
    assert by_name(result)['/health']['value'] == 200


def test_fail_fast_stops_at_the_first_bad_measurement(fresh_sample_app, prometheus, tmp_path):
    settle_healthy(prometheus)
    fresh_sample_app.set(healthy=False)
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=gate_vars(fresh_sample_app.url, prometheus.url, wait_timeout=600, fail_fast=True),
                          expect_rc=2).task(TASK)
    assert result['attempts'] == 1
    assert result['failed_checks'] == ['/health']


def test_own_queries_windows_and_missing_data(fresh_sample_app, prometheus, tmp_path):
    # The 5 s window of target_up needs that much history in a Prometheus that may have just started.
    prometheus.wait_for_value('count_over_time(up{job="%s"}[10s])' % JOB_NAME, lambda value: value >= 8, '10 s of scrapes')
    extra = gate_vars(fresh_sample_app.url, prometheus.url, error_rate_below=None, p95_latency_below=None, job=None, http_checks=None, fail_on_gate=False,
                      prometheus_checks=[
                          {'name': 'target_up', 'query': 'up{job="%s"}' % JOB_NAME, 'comparison': '==', 'threshold': 1, 'for_seconds': 5},
                          {'name': 'missing', 'query': 'sre_gate_metric_that_does_not_exist', 'comparison': '<', 'threshold': 1},
                          {'name': 'missing_allowed', 'query': 'sre_gate_metric_that_does_not_exist', 'comparison': '<', 'threshold': 1,
                           'on_no_data': 'pass'},
                      ])
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra).task(TASK)
    checks = by_name(result)
    assert checks['target_up']['passed'] is True
    assert checks['target_up']['message'] == 'target_up 1 == 1 for 5s'
    assert checks['missing']['state'] == 'no_data'
    assert checks['missing']['message'] == 'missing: no data (the query returned no series)'
    assert checks['missing_allowed']['passed'] is True
    assert result['failed_checks'] == ['missing']


def test_a_query_prometheus_refuses_fails_at_once(fresh_sample_app, prometheus, tmp_path):
    extra = gate_vars(fresh_sample_app.url, prometheus.url, error_rate_below=None, p95_latency_below=None, job=None, http_checks=None, wait_timeout=600,
                      prometheus_checks=[{'name': 'broken', 'query': 'sum(rate(http_requests_total[15s]', 'comparison': '<', 'threshold': 1}])
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra, expect_rc=2).task(TASK)
    assert result['msg'].startswith('Failed to query Prometheus %s: bad_data: ' % prometheus.url)
    assert result['error']['details']['query'] == 'sum(rate(http_requests_total[15s]'


@pytest.mark.parametrize('overrides, message', [
    ({'for_seconds': -5}, 'for_seconds must be 0 or more, got -5'),
    ({'error_rate_below': 1.5}, 'error_rate_below is a ratio between 0 and 1 (0.01 is 1%), got 1.5'),
    ({'rate_window': '15 seconds'}, "rate_window must be a Prometheus duration such as 5m or 30s, got '15 seconds'"),
    ({'http_checks': [{'url': 'localhost/health'}]}, "url must be an http:// or https:// URL with a host, got 'localhost/health'"),
    ({'error_rate_below': None, 'p95_latency_below': None, 'job': None, 'http_checks': []},
     'no checks: give http_checks, prometheus_checks, error_rate_below or p95_latency_below'),
    ({'prometheus_checks': [{'name': 'x', 'query': 'up', 'comparison': '=>', 'threshold': 1}]}, 'value of comparison must be one of'),
    ({'prometheus_checks': [{'name': 'x', 'query': 'up', 'comparison': '<', 'threshold': 'lots'}]}, "'threshold' is of type"),
])
def test_bad_input_is_refused_before_any_request(tmp_path, overrides, message):
    closed = 'http://127.0.0.1:%d' % free_port()  # nothing listens: a request would end in "connection refused"
    extra = gate_vars(closed, closed, wait_timeout=600, **overrides)
    result = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra, expect_rc=2).task(TASK)
    assert message in result['msg']
    assert 'checks' not in result  # no evaluation happened
    assert 'refused' not in result['msg']


def test_no_secret_appears_in_the_output_at_vvv(fresh_sample_app, prometheus, tmp_path):
    settle_healthy(prometheus)
    token = 'tok-' + secrets.token_hex(12)
    tenant = 'tenant-' + secrets.token_hex(12)
    api_key = 'key-' + secrets.token_hex(12)
    extra = gate_vars(fresh_sample_app.url, prometheus.url, p95_latency_below=None, prometheus_token=token, prometheus_headers={'X-Scope-OrgID': tenant},
                      http_checks=[{'url': fresh_sample_app.url + '/health', 'name': '/health', 'headers': {'X-Api-Key': api_key}}],
                      wait_timeout=60, retry_interval=2)
    run = run_playbook(PLAYBOOK, tmp_path, extra_vars=extra, verbosity=3)
    assert run.task(TASK)['passed'] is True
    recorded = json.dumps(run.results)
    for secret in (token, tenant, api_key):
        assert secret not in run.output
        assert secret not in recorded
