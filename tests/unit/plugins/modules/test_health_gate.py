# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.health import client as health_client
from ansible_collections.sre.runbooks.plugins.module_utils.health.client import Unreachable
from ansible_collections.sre.runbooks.plugins.modules import health_gate
from ansible_collections.sre.runbooks.plugins.modules.health_gate import argument_spec, build_checks, option_problems

PROMETHEUS = "http://prometheus:9090"


def params(**overrides):
    """Module parameters as AnsibleModule hands them over: every option, defaults filled in."""
    values = dict((name, spec.get("default")) for name, spec in argument_spec().items())
    values.update(overrides)
    return values


def http_check(url, **overrides):
    check = dict(url=url, name=None, expected_status=[200], timeout=10, validate_certs=True, ca_path=None, headers=None, body_contains=None)
    check.update(overrides)
    return check


def prom_check(name, query, threshold, comparison="<", **overrides):
    check = dict(name=name, query=query, threshold=threshold, comparison=comparison, for_seconds=None, step=None, on_no_data=None, unit="number")
    check.update(overrides)
    return check


# -- checks from options --------------------------------------------------------------------


def test_presets_write_the_runbook_queries():
    checks = build_checks(params(prometheus_url=PROMETHEUS, error_rate_below=0.01, p95_latency_below=2.0, job="checkout",
                                 selector='namespace="prod"', rate_window="15s", for_seconds=30))
    assert [check["name"] for check in checks] == ["error_rate", "p95_latency"]
    error_rate, latency = checks
    assert error_rate["query"] == (
        '(sum(rate(http_requests_total{code=~"5..",job="checkout",namespace="prod"}[15s])) or vector(0))'
        ' / sum(rate(http_requests_total{job="checkout",namespace="prod"}[15s]))'
    )
    assert (error_rate["comparison"], error_rate["threshold"], error_rate["unit"]) == ("<", 0.01, "ratio")
    assert latency["query"] == (
        'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="checkout",namespace="prod"}[15s])) by (le))'
    )
    assert (latency["comparison"], latency["threshold"], latency["unit"]) == ("<", 2.0, "seconds")
    assert error_rate["for_seconds"] == latency["for_seconds"] == 30
    assert error_rate["on_no_data"] == "fail"


def test_default_rate_window_is_the_runbooks_five_minutes():
    checks = build_checks(params(prometheus_url=PROMETHEUS, error_rate_below=0.01))
    assert "[5m]" in checks[0]["query"]


def test_own_checks_inherit_the_gate_settings_unless_they_set_them():
    checks = build_checks(params(
        prometheus_url=PROMETHEUS, for_seconds=60, step=10, on_no_data="pass",
        prometheus_checks=[prom_check("a", "up", 1, "=="), prom_check("b", "up", 1, "==", for_seconds=0, step=5, on_no_data="fail")],
        http_checks=[http_check("http://app:8080/health"), http_check("https://u:pw@app/ready", name="/ready")],
    ))
    assert [(check["name"], check["kind"]) for check in checks] == [
        ("a", "prometheus"), ("b", "prometheus"), ("http://app:8080/health", "http"), ("/ready", "http"),
    ]
    assert (checks[0]["for_seconds"], checks[0]["step"], checks[0]["on_no_data"]) == (60, 10, "pass")
    assert (checks[1]["for_seconds"], checks[1]["step"], checks[1]["on_no_data"]) == (0, 5, "fail")


def test_an_http_check_is_named_after_its_url_without_credentials():
    checks = build_checks(params(http_checks=[http_check("https://user:pw@app/health")]))
    assert checks[0]["name"] == "https://app/health"


def test_usable_options_have_no_problems():
    assert option_problems(params(http_checks=[http_check("http://app/health")])) == []
    assert option_problems(params(
        prometheus_url=PROMETHEUS, prometheus_token="t", prometheus_headers={"X-Scope-OrgID": "a"},
        error_rate_below=0.01, p95_latency_below=2.0, job="api", selector='namespace="prod"', rate_window="1h30m",
        prometheus_checks=[prom_check("ready", "sum(up)", 3, ">=", for_seconds=60, step=10)], for_seconds=0, wait_timeout=0,
    )) == []


@pytest.mark.parametrize("overrides, problem", [
    (dict(), "no checks: give http_checks, prometheus_checks, error_rate_below or p95_latency_below"),
    (dict(error_rate_below=0.01), "prometheus_url is required by prometheus_checks, error_rate_below and p95_latency_below"),
    (dict(prometheus_url="prometheus:9090", error_rate_below=0.01),
     "prometheus_url must be an http:// or https:// URL with a host, got 'prometheus:9090'"),
    (dict(http_checks=[http_check("app:8080/health")]),
     "http_checks[0] (app:8080/health): url must be an http:// or https:// URL with a host, got 'app:8080/health'"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=1.5), "error_rate_below is a ratio between 0 and 1 (0.01 is 1%), got 1.5"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.0), "error_rate_below is a ratio between 0 and 1 (0.01 is 1%), got 0.0"),
    (dict(prometheus_url=PROMETHEUS, p95_latency_below=-1.0), "p95_latency_below must be a number of seconds above 0, got -1.0"),
    (dict(prometheus_url=PROMETHEUS, p95_latency_below=float("inf")), "p95_latency_below must be a number of seconds above 0, got inf"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, rate_window="5 minutes"),
     "rate_window must be a Prometheus duration such as 5m or 30s, got '5 minutes'"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, selector="prod"), "selector must be label matchers"),
    (dict(prometheus_url=PROMETHEUS, prometheus_checks=[prom_check("a", "up", 1)], job="api"),
     "job and selector only apply to error_rate_below and p95_latency_below"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, for_seconds=-1), "for_seconds must be 0 or more, got -1"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, step=0), "step must be more than 0 seconds, got 0"),
    (dict(http_checks=[http_check("http://app/health")], wait_timeout=-5), "wait_timeout must be 0 or more, got -5"),
    (dict(http_checks=[http_check("http://app/health")], retry_interval=0), "retry_interval must be more than 0 seconds, got 0"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, prometheus_timeout=0), "prometheus_timeout must be more than 0 seconds, got 0"),
    (dict(prometheus_url=PROMETHEUS, prometheus_checks=[prom_check("a", "up", 1, for_seconds=-30)]),
     "prometheus_checks[0] (a): for_seconds must be 0 or more, got -30"),
    (dict(prometheus_url=PROMETHEUS, prometheus_checks=[prom_check("a", "up", float("nan"))]),
     "prometheus_checks[0] (a): threshold must be a finite number, got nan"),
    (dict(prometheus_url=PROMETHEUS, prometheus_checks=[prom_check("a", "  ", 1)]), "prometheus_checks[0] (a): query must not be empty"),
    (dict(prometheus_url=PROMETHEUS, prometheus_checks=[prom_check("", "up", 1)]), "prometheus_checks[0]: name must not be empty"),
    (dict(http_checks=[http_check("http://app/health", expected_status=[])]), "http_checks[0] (http://app/health): expected_status must not be empty"),
    (dict(http_checks=[http_check("http://app/health", expected_status=[2000])]),
     "http_checks[0] (http://app/health): expected_status must hold HTTP status codes (100-599), got 2000"),
    (dict(http_checks=[http_check("http://app/health", timeout=0)]), "http_checks[0] (http://app/health): timeout must be more than 0 seconds, got 0"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, prometheus_checks=[prom_check("error_rate", "up", 1)]),
     "check names must be unique, repeated: error_rate"),
    (dict(http_checks=[http_check("http://a/health", name="health"), http_check("http://b/health", name="health")]),
     "check names must be unique, repeated: health"),
    (dict(prometheus_url=PROMETHEUS, error_rate_below=0.01, prometheus_token="t", prometheus_headers={"authorization": "Bearer u"}),
     "give the Prometheus credentials either as prometheus_token or as an Authorization header, not both"),
])
def test_option_problems(overrides, problem):
    problems = option_problems(params(**overrides))
    assert any(found.startswith(problem) for found in problems), problems


# -- the module -----------------------------------------------------------------------------


@pytest.fixture
def no_requests(monkeypatch):
    """Make any HTTP request fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a request was made: {0}".format(args))

    monkeypatch.setattr(health_client, "open_url", refuse)


class FakePrometheus:
    """Stands in for PrometheusClient.query: answers from {query: values}, a list of calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def query(self, promql, span=0, step=None, end=None):
        self.calls.append((promql, span, step))
        answer = self.answers[promql] if promql in self.answers else self.answers["*"]
        if isinstance(answer, Exception):
            raise answer
        return [dict(labels={}, values=list(answer))]


@pytest.fixture
def fake_http(monkeypatch):
    statuses = {}

    def http_get(url, headers=None, timeout=10, validate_certs=True, ca_path=None):
        answer = statuses.get(url, (200, "ok"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(health_gate, "http_get", http_get)
    return statuses


@pytest.fixture
def fake_prometheus(monkeypatch):
    prometheus = FakePrometheus({"*": [0.001]})
    monkeypatch.setattr(health_gate, "connect", lambda module: prometheus)
    return prometheus


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch):
    """No real sleeping in the wait loop."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)


GATE = dict(
    prometheus_url=PROMETHEUS, job="checkout", error_rate_below=0.01, p95_latency_below=2.0, wait_timeout=0,
    http_checks=[dict(url="http://app:8080/health", name="/health"), dict(url="http://app:8080/ready", name="/ready")],
)


@pytest.mark.parametrize("check_mode", [False, True])
def test_healthy_service_passes_unchanged(run_module, fake_http, fake_prometheus, check_mode):
    fake_prometheus.answers = {"*": [0.0]}
    outcome = run_module(health_gate.main, dict(GATE, _ansible_check_mode=check_mode))
    assert outcome.rc == 0
    result = outcome.result
    assert result["changed"] is False
    assert result["passed"] is True
    assert result["failed_checks"] == []
    assert [check["name"] for check in result["checks"]] == ["error_rate", "p95_latency", "/health", "/ready"]
    assert all(check["passed"] for check in result["checks"])
    assert result["summary"] == "error_rate 0% < 1%; p95_latency 0ms < 2s; /health 200; /ready 200"
    assert result["attempts"] == 1
    assert [call[1] for call in fake_prometheus.calls] == [0, 0]  # instant queries without for_seconds


def test_failing_gate_fails_the_task_with_the_measurements(run_module, fake_http, fake_prometheus):
    fake_prometheus.answers = {"*": [0.3]}
    fake_http["http://app:8080/health"] = (503, '{"status": "unhealthy"}')
    outcome = run_module(health_gate.main, dict(GATE, p95_latency_below=None))
    assert outcome.rc == 1
    result = outcome.result
    assert result["failed"] is True
    assert result["passed"] is False
    assert result["msg"] == "Health gate failed after 1 evaluation(s) in 0.0s: error_rate 30% >= 1%; /health 503 (expected 200)"
    assert result["failed_checks"] == ["error_rate", "/health"]
    assert result["summary"] == "error_rate 30% >= 1%; /health 503 (expected 200)"
    error_rate = result["checks"][0]
    assert (error_rate["value"], error_rate["threshold"], error_rate["state"]) == (0.3, 0.01, "failed")


def test_fail_on_gate_false_returns_the_verdict(run_module, fake_http, fake_prometheus):
    fake_prometheus.answers = {"*": [0.3]}
    outcome = run_module(health_gate.main, dict(GATE, fail_on_gate=False))
    assert outcome.rc == 0
    assert "failed" not in outcome.result
    assert outcome.result["passed"] is False
    assert outcome.result["failed_checks"] == ["error_rate"]


def test_waits_until_the_service_recovers(run_module, fake_http, fake_prometheus, monkeypatch):
    rounds = iter([(503, ""), (503, ""), (200, "")])
    monkeypatch.setattr(health_gate, "http_get", lambda url, **kwargs: next(rounds) if url.endswith("/health") else (200, ""))
    outcome = run_module(health_gate.main, dict(GATE, wait_timeout=600, retry_interval=1))
    assert outcome.rc == 0
    assert outcome.result["passed"] is True
    assert outcome.result["attempts"] == 3


def test_unreachable_endpoints_are_check_failures(run_module, fake_http, fake_prometheus):
    fake_prometheus.answers = {"*": Unreachable("Prometheus http://prometheus:9090: connection refused")}
    fake_http["http://app:8080/ready"] = Unreachable("timed out after 10s")
    outcome = run_module(health_gate.main, dict(GATE, fail_on_gate=False))
    checks = dict((check["name"], check) for check in outcome.result["checks"])
    assert checks["error_rate"]["state"] == "unreachable"
    assert checks["error_rate"]["message"] == "error_rate: Prometheus http://prometheus:9090: connection refused"
    assert checks["/ready"]["message"] == "/ready: timed out after 10s"
    assert checks["/health"]["passed"] is True


def test_a_query_prometheus_refuses_fails_at_once(run_module, fake_http, fake_prometheus):
    fake_prometheus.answers = {"*": RunbookError("query", "Prometheus http://prometheus:9090", "bad_data: parse error", query="sum(")}
    outcome = run_module(health_gate.main, dict(GATE, wait_timeout=600))
    assert outcome.rc == 1
    assert outcome.result["msg"] == "Failed to query Prometheus http://prometheus:9090: bad_data: parse error"
    assert fake_prometheus.calls == [fake_prometheus.calls[0]]  # not retried


def test_window_queries_are_range_queries(run_module, fake_http, fake_prometheus):
    fake_prometheus.answers = {"*": [0.001] * 11}
    outcome = run_module(health_gate.main, dict(GATE, http_checks=[], p95_latency_below=None, for_seconds=60))
    assert outcome.rc == 0
    assert fake_prometheus.calls[0][1:] == (60, 6.0)
    assert outcome.result["checks"][0]["points"] == 11
    assert outcome.result["summary"] == "error_rate 0.1% < 1% for 60s"


def test_bad_input_is_refused_before_any_request(run_module, no_requests):
    outcome = run_module(health_gate.main, dict(prometheus_url="prometheus:9090", error_rate_below=0.01, for_seconds=-5))
    assert outcome.rc == 1
    assert outcome.result["msg"] == (
        "Failed to use the health gate options: prometheus_url must be an http:// or https:// URL with a host, "
        "got 'prometheus:9090'; for_seconds must be 0 or more, got -5"
    )
    assert outcome.result["error"]["action"] == "use"


def test_no_checks_is_refused(run_module, no_requests):
    outcome = run_module(health_gate.main, {})
    assert outcome.rc == 1
    assert "no checks" in outcome.result["msg"]


def test_bad_comparison_is_refused(run_module, no_requests):
    outcome = run_module(health_gate.main, dict(
        prometheus_url=PROMETHEUS, prometheus_checks=[dict(name="a", query="up", threshold=1, comparison="=>")]))
    assert outcome.rc == 1
    assert "comparison" in outcome.result["msg"]


def test_a_threshold_that_is_not_a_number_is_refused(run_module, no_requests):
    outcome = run_module(health_gate.main, dict(
        prometheus_url=PROMETHEUS, prometheus_checks=[dict(name="a", query="up", threshold="lots", comparison="<")]))
    assert outcome.rc == 1
    assert "threshold" in outcome.result["msg"]
    assert "float" in outcome.result["msg"]


def test_prometheus_url_without_prometheus_checks_warns(run_module, fake_http, monkeypatch):
    warnings = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: warnings.append(warning))
    outcome = run_module(health_gate.main, dict(prometheus_url=PROMETHEUS, http_checks=[dict(url="http://app/health")], wait_timeout=0))
    assert outcome.rc == 0
    assert warnings == ["prometheus_url is set but no Prometheus check is: give error_rate_below, p95_latency_below or prometheus_checks"]


def test_header_values_and_the_token_never_appear_in_the_result(run_module, monkeypatch):
    sent = []

    def open_url(url, headers=None, **kwargs):
        sent.append(dict(headers))
        raise OSError(111, "Connection refused")

    monkeypatch.setattr(health_client, "open_url", open_url)
    outcome = run_module(health_gate.main, dict(
        prometheus_url=PROMETHEUS, prometheus_token="tok-4a1f9c", error_rate_below=0.01, wait_timeout=0,
        http_checks=[dict(url="http://app/health", headers={"Authorization": "Bearer hdr-77e2b1"})],
    ))
    assert outcome.rc == 1
    assert {"Authorization": "Bearer tok-4a1f9c"} in sent  # sent to Prometheus ...
    assert {"Authorization": "Bearer hdr-77e2b1"} in sent  # ... and to the endpoint
    text = json.dumps(outcome.result)
    assert "tok-4a1f9c" not in text
    assert "hdr-77e2b1" not in text
    assert "connection refused" in outcome.result["summary"]


def test_results_show_urls_without_credentials(run_module, fake_http):
    outcome = run_module(health_gate.main, dict(http_checks=[dict(url="http://user:pw@app/health")], wait_timeout=0))
    check = outcome.result["checks"][0]
    assert (check["name"], check["url"], check["passed"]) == ("http://app/health", "http://app/health", True)
