# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The health gate's pure parts (verdicts, wait loop, PromQL presets, API answers) and its HTTP layer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.health.client import (
    PrometheusClient,
    Unreachable,
    http_get,
    parse_response,
    redact_url,
    url_problem,
)
from ansible_collections.sre.runbooks.plugins.module_utils.health.gate import (
    FAILED,
    NO_DATA,
    PASSED,
    UNREACHABLE,
    check_problems,
    evaluate_http,
    evaluate_prometheus,
    format_value,
    holds,
    run_gate,
    verdict,
    window,
)
from ansible_collections.sre.runbooks.plugins.module_utils.health.promql import (
    error_rate_query,
    is_duration,
    label_matchers,
    latency_quantile_query,
    quote,
    selector_problem,
)

NAN = float("nan")


def prom_check(**overrides):
    check = dict(name="error_rate", query="q", threshold=0.01, comparison="<", for_seconds=0, step=None, on_no_data="fail", unit="ratio")
    check.update(overrides)
    return check


def series(*values, **labels):
    return dict(labels=labels, values=list(values))


# -- comparisons and formatting -------------------------------------------------------------


@pytest.mark.parametrize("value, comparison, threshold, expected", [
    (0.009, "<", 0.01, True), (0.01, "<", 0.01, False), (0.01, "<=", 0.01, True), (0.02, "<=", 0.01, False),
    (3, ">", 2, True), (2, ">", 2, False), (2, ">=", 2, True), (1, ">=", 2, False), (1, "==", 1, True), (0, "==", 1, False),
])
def test_holds(value, comparison, threshold, expected):
    assert holds(value, comparison, threshold) is expected


@pytest.mark.parametrize("value, unit, text", [
    (0.121, "ratio", "12.1%"), (0.01, "ratio", "1%"), (0.001, "ratio", "0.1%"), (0.0, "ratio", "0%"),
    (0.975, "seconds", "975ms"), (0.3, "seconds", "300ms"), (2.0, "seconds", "2s"), (12.5, "seconds", "12.5s"),
    (float("inf"), "seconds", "+Inf"), (3.0, "number", "3"), (1234.5678, "number", "1235"), (None, "number", "none"),
])
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_window_ends_now_and_covers_for_seconds_in_whole_steps():
    assert window(0) == (0, None, 1)
    assert window(60) == (60, 6.0, 11)  # a tenth of the window by default: 11 points
    assert window(5) == (5, 1.0, 6)  # never below 1 s
    assert window(60, 15) == (60, 15, 5)
    assert window(50, 15) == (60, 15, 5)  # reaches back at least 50 s
    assert window(300, 30) == (300, 30, 11)


def test_check_problems():
    assert check_problems(prom_check()) == []
    assert check_problems(dict(url="http://x/health", expected_status=[200, 204], timeout=5)) == []
    problems = check_problems(prom_check(threshold=float("nan"), comparison="=>", for_seconds=-5, step=0))
    assert problems == [
        "threshold must be a finite number, got nan",
        "comparison must be one of <, <=, >, >=, ==, got '=>'",
        "for_seconds must be 0 or more, got -5",
        "step must be more than 0 seconds, got 0",
    ]
    assert check_problems(dict(expected_status=[200, 999], timeout=0)) == [
        "expected_status must hold HTTP status codes (100-599), got 999",
        "timeout must be more than 0 seconds, got 0",
    ]


# -- Prometheus verdicts --------------------------------------------------------------------


def test_instant_value_below_threshold_passes():
    result = evaluate_prometheus(prom_check(), [series(0.002)])
    assert result["passed"] is True
    assert result["state"] == PASSED
    assert result["value"] == 0.002
    assert result["worst"] == 0.002
    assert result["threshold"] == 0.01
    assert result["message"] == "error_rate 0.2% < 1%"
    assert result["kind"] == "prometheus"
    assert result["query"] == "q"


def test_instant_value_at_threshold_fails_with_the_measured_value():
    result = evaluate_prometheus(prom_check(), [series(0.121)])
    assert result["passed"] is False
    assert result["state"] == FAILED
    assert result["value"] == 0.121
    assert result["violations"] == 1
    assert result["message"] == "error_rate 12.1% >= 1%"


def test_window_must_hold_at_every_point():
    check = prom_check(for_seconds=60)
    recovered = evaluate_prometheus(check, [series(0.003, 0.004, 0.002, 0.001, 0.0)], expected_points=5)
    assert recovered["passed"] is True
    assert recovered["message"] == "error_rate 0.4% < 1% for 60s"
    assert recovered["value"] == 0.0
    assert recovered["worst"] == 0.004

    one_bad_point = evaluate_prometheus(check, [series(0.003, 0.12, 0.002, 0.001, 0.0)], expected_points=5)
    assert one_bad_point["passed"] is False
    assert one_bad_point["state"] == FAILED
    assert one_bad_point["value"] == 0.0  # it is fine now ...
    assert one_bad_point["worst"] == 0.12  # ... but not for the whole window
    assert one_bad_point["violations"] == 1
    assert one_bad_point["points"] == 5
    assert one_bad_point["message"] == "error_rate 12% >= 1% in the last 60s (1 of 5 points)"


def test_greater_than_checks_report_the_lowest_value():
    check = prom_check(name="ready_replicas", threshold=3, comparison=">=", unit="number", for_seconds=30)
    result = evaluate_prometheus(check, [series(3, 2, 3)], expected_points=3)
    assert result["passed"] is False
    assert result["worst"] == 2
    assert result["message"] == "ready_replicas 2 < 3 in the last 30s (1 of 3 points)"


def test_equality_reports_the_value_furthest_from_the_threshold():
    result = evaluate_prometheus(prom_check(name="up", threshold=1, comparison="==", unit="number"), [series(1, 0, 1)], expected_points=3)
    assert result["worst"] == 0
    assert result["message"] == "up 0 != 1"


def test_every_series_must_satisfy_and_the_worst_is_named():
    check = prom_check(name="p95_latency", threshold=0.5, unit="seconds")
    result = evaluate_prometheus(check, [series(0.1, pod="a"), series(0.975, pod="b"), series(0.2, pod="c")])
    assert result["passed"] is False
    assert result["series"] == 3
    assert result["value"] == 0.975
    assert result["message"] == 'p95_latency 975ms >= 500ms {pod="b"}'


def test_no_series_is_no_data_and_fails_by_default():
    result = evaluate_prometheus(prom_check(), [])
    assert result["passed"] is False
    assert result["state"] == NO_DATA
    assert result["value"] is None
    assert result["message"] == "error_rate: no data (the query returned no series)"


def test_nan_is_no_data():
    result = evaluate_prometheus(prom_check(for_seconds=10), [series(NAN, NAN)], expected_points=2)
    assert result["passed"] is False
    assert result["state"] == NO_DATA
    assert result["value"] is None
    assert result["message"] == "error_rate: no data in the last 10s (no requests in the window?)"


def test_no_data_can_be_made_to_pass():
    result = evaluate_prometheus(prom_check(on_no_data="pass"), [])
    assert result["passed"] is True
    assert result["state"] == NO_DATA
    assert result["message"].endswith("passed as on_no_data=pass")


def test_gaps_in_the_window_fail_unless_no_data_passes():
    check = prom_check(for_seconds=40)
    gappy = [series(0.001, 0.002, 0.001)]
    result = evaluate_prometheus(check, gappy, expected_points=5)
    assert result["passed"] is False
    assert result["state"] == NO_DATA
    assert result["message"] == "error_rate 0.2% < 1% for 40s but no data at 2 of 5 points in the last 40s"
    assert evaluate_prometheus(dict(check, on_no_data="pass"), gappy, expected_points=5)["passed"] is True


def test_a_violation_is_a_failure_even_with_gaps():
    result = evaluate_prometheus(prom_check(for_seconds=40), [series(NAN, 0.2)], expected_points=5)
    assert result["state"] == FAILED
    assert result["message"].startswith("error_rate 20% >= 1% in the last 40s")


def test_infinite_quantile_fails_a_latency_check():
    result = evaluate_prometheus(prom_check(name="p95_latency", threshold=2.0, unit="seconds"), [series(float("inf"))])
    assert result["passed"] is False
    assert result["message"] == "p95_latency +Inf >= 2s"


def test_unreachable_prometheus():
    result = evaluate_prometheus(prom_check(), error="Prometheus http://p:9090: connection refused")
    assert result["passed"] is False
    assert result["state"] == UNREACHABLE
    assert result["message"] == "error_rate: Prometheus http://p:9090: connection refused"


# -- HTTP verdicts --------------------------------------------------------------------------


def http_check(**overrides):
    check = dict(name="/health", url="http://app/health", expected_status=[200], body_contains=None)
    check.update(overrides)
    return check


def test_http_status():
    ok = evaluate_http(http_check(), status=200, body="{}")
    assert ok["passed"] is True
    assert ok["message"] == "/health 200"
    assert ok["value"] == 200
    assert ok["threshold"] == [200]
    down = evaluate_http(http_check(), status=503, body="{}")
    assert down["passed"] is False
    assert down["state"] == FAILED
    assert down["message"] == "/health 503 (expected 200)"
    assert evaluate_http(http_check(expected_status=[200, 204]), status=302)["message"] == "/health 302 (expected 200 or 204)"


def test_http_body():
    check = http_check(body_contains='"status": "ok"')
    assert evaluate_http(check, status=200, body='{"status": "ok"}')["passed"] is True
    result = evaluate_http(check, status=200, body='{"status": "degraded"}')
    assert result["passed"] is False
    assert result["message"] == "/health 200 without '\"status\": \"ok\"' in the body"


def test_http_unreachable():
    result = evaluate_http(http_check(), error="connection refused")
    assert result["state"] == UNREACHABLE
    assert result["value"] is None
    assert result["message"] == "/health: connection refused"


# -- the gate -------------------------------------------------------------------------------


def result(name, state):
    return dict(name=name, state=state, passed=state == PASSED, message="{0} {1}".format(name, state))


def test_verdict_summarises_the_failures_or_everything():
    assert verdict([result("a", PASSED), result("b", PASSED)]) == (True, [], "a passed; b passed")
    assert verdict([result("a", FAILED), result("b", PASSED), result("c", NO_DATA)]) == (False, ["a", "c"], "a failed; c no_data")


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*rounds):
    """evaluate() returning one round of results per call; the last round repeats."""
    calls = []

    def evaluate():
        calls.append(1)
        return rounds[min(len(calls), len(rounds)) - 1]

    return evaluate


def test_gate_passes_at_the_first_passing_evaluation():
    clock = FakeClock()
    evaluate = scripted([result("a", FAILED)], [result("a", FAILED)], [result("a", PASSED)])
    outcome = run_gate(evaluate, wait_timeout=300, retry_interval=15, clock=clock, sleep=clock.sleep)
    assert outcome["passed"] is True
    assert outcome["attempts"] == 3
    assert clock.sleeps == [15, 15]
    assert outcome["elapsed_seconds"] == 30.0
    assert outcome["failed_checks"] == []


def test_gate_fails_after_the_timeout_with_the_last_measurements():
    clock = FakeClock()
    evaluate = scripted([result("a", FAILED), result("b", PASSED)])
    outcome = run_gate(evaluate, wait_timeout=40, retry_interval=15, clock=clock, sleep=clock.sleep)
    assert outcome["passed"] is False
    assert clock.sleeps == [15, 15, 10]  # the last wait is cut to the deadline, then one last evaluation
    assert outcome["attempts"] == 4
    assert outcome["failed_checks"] == ["a"]
    assert outcome["summary"] == "a failed"


def test_gate_without_wait_evaluates_once():
    clock = FakeClock()
    outcome = run_gate(scripted([result("a", FAILED)]), wait_timeout=0, retry_interval=15, clock=clock, sleep=clock.sleep)
    assert outcome["passed"] is False
    assert outcome["attempts"] == 1
    assert clock.sleeps == []


def test_fail_fast_stops_at_a_measured_failure():
    clock = FakeClock()
    evaluate = scripted([result("a", PASSED), result("b", FAILED)], [result("a", PASSED), result("b", PASSED)])
    outcome = run_gate(evaluate, wait_timeout=300, retry_interval=15, fail_fast=True, clock=clock, sleep=clock.sleep)
    assert outcome["passed"] is False
    assert outcome["attempts"] == 1


def test_fail_fast_still_waits_for_data_and_answers():
    clock = FakeClock()
    evaluate = scripted([result("a", NO_DATA), result("b", UNREACHABLE)], [result("a", PASSED), result("b", PASSED)])
    outcome = run_gate(evaluate, wait_timeout=300, retry_interval=15, fail_fast=True, clock=clock, sleep=clock.sleep)
    assert outcome["passed"] is True
    assert outcome["attempts"] == 2


# -- PromQL presets -------------------------------------------------------------------------


def test_label_matchers():
    assert label_matchers() == ""
    assert label_matchers(job="sample-app") == 'job="sample-app"'
    assert label_matchers(job='we"ird\\job') == 'job="we\\"ird\\\\job"'
    assert label_matchers(job="api", selector='namespace="prod", service=~"api|web",') == 'job="api",namespace="prod", service=~"api|web"'
    assert label_matchers(selector='{namespace="prod"}') == 'namespace="prod"'
    assert quote("a\nb") == '"a\\nb"'


@pytest.mark.parametrize("selector", ['namespace="prod"', 'namespace!="dev",pod=~"api-.*"', "{service!~'canary'}", 'a="1",'])
def test_good_selectors(selector):
    assert selector_problem(selector) is None


@pytest.mark.parametrize("selector", ["", "prod", 'namespace="prod"} or vector(1) {', 'namespace=prod', '"prod"', 'a="1",,b="2"'])
def test_bad_selectors(selector):
    assert "selector must be label matchers" in selector_problem(selector)


@pytest.mark.parametrize("text, expected", [
    ("5m", True), ("15s", True), ("1h30m", True), ("500ms", True), ("0s", False), ("5", False), ("5 m", False), ("", False),
])
def test_is_duration(text, expected):
    assert is_duration(text) is expected


def test_error_rate_query():
    assert error_rate_query('job="api"', "5m") == (
        '(sum(rate(http_requests_total{code=~"5..",job="api"}[5m])) or vector(0))'
        ' / sum(rate(http_requests_total{job="api"}[5m]))'
    )
    assert error_rate_query("", "15s") == (
        '(sum(rate(http_requests_total{code=~"5.."}[15s])) or vector(0)) / sum(rate(http_requests_total[15s]))'
    )


def test_latency_quantile_query():
    assert latency_quantile_query('job="api"', "5m") == (
        'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{job="api"}[5m])) by (le))'
    )
    assert latency_quantile_query("", "1m", quantile=0.99) == (
        "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))"
    )


# -- Prometheus API answers -----------------------------------------------------------------


def answer(result_type, result):
    return json.dumps(dict(status="success", data=dict(resultType=result_type, result=result)))


def test_parse_vector_matrix_and_scalar():
    vector = answer("vector", [{"metric": {"pod": "a"}, "value": [1700000000.0, "0.12"]}, {"metric": {}, "value": [1700000000.0, "NaN"]}])
    parsed = parse_response(200, vector)
    assert parsed[0] == dict(labels={"pod": "a"}, values=[0.12])
    assert parsed[1]["values"][0] != parsed[1]["values"][0]  # NaN
    matrix = answer("matrix", [{"metric": {"job": "x"}, "values": [[1, "1"], [2, "+Inf"]]}])
    assert parse_response(200, matrix) == [dict(labels={"job": "x"}, values=[1.0, float("inf")])]
    assert parse_response(200, answer("scalar", [1, "3"])) == [dict(labels={}, values=[3.0])]
    assert parse_response(200, answer("vector", [])) == []


def test_a_refused_query_is_an_error_that_names_it():
    body = json.dumps(dict(status="error", errorType="bad_data", error='1:5: parse error: unexpected "}"'))
    with pytest.raises(RunbookError) as info:
        parse_response(400, body, "Prometheus http://p:9090", "sum(}")
    assert str(info.value) == 'Failed to query Prometheus http://p:9090: bad_data: 1:5: parse error: unexpected "}"'
    assert info.value.details == dict(query="sum(}")


@pytest.mark.parametrize("status, body, cause", [
    (401, "Unauthorized", "HTTP 401: check prometheus_token or prometheus_headers"),
    (404, "404 page not found", "HTTP 404, not an answer of the Prometheus API (is the URL the server's base URL?)"),
    (200, "<html>", "HTTP 200, not an answer of the Prometheus API (is the URL the server's base URL?)"),
    (200, answer("string", [1, "x"]), "the query gives a string, not numbers to compare"),
])
def test_answers_that_waiting_will_not_fix(status, body, cause):
    with pytest.raises(RunbookError) as info:
        parse_response(status, body, "Prometheus http://p:9090")
    assert info.value.cause == cause


def test_server_errors_may_clear_up():
    with pytest.raises(Unreachable, match="HTTP 502"):
        parse_response(502, "Bad Gateway", "Prometheus http://p:9090")
    with pytest.raises(Unreachable, match="timeout: query timed out"):
        parse_response(503, json.dumps(dict(status="error", errorType="timeout", error="query timed out")), "Prometheus http://p:9090")


def test_urls():
    assert redact_url("https://user:secret@prom.example.com:9090/api") == "https://prom.example.com:9090/api"
    assert redact_url("http://prom:9090") == "http://prom:9090"
    assert url_problem("http://app:8080/health") is None
    assert url_problem("https://app/health") is None
    assert url_problem("app:8080/health") == "must be an http:// or https:// URL with a host, got 'app:8080/health'"
    assert url_problem("/health") is not None
    assert url_problem("ftp://app/health") is not None
    assert url_problem("http:///health") is not None


# -- the HTTP layer against a local server ----------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):  # pylint: disable=invalid-name
        self.seen.append((self.path, self.headers))  # case-insensitive, as HTTP headers are
        if self.path.startswith("/health"):
            self._send(503, b'{"status": "unhealthy"}')
        elif self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/login")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/api/v1/query_range"):
            self._send(200, answer("matrix", [{"metric": {}, "values": [[1, "0.5"], [2, "0.25"]]}]).encode())
        elif self.path.startswith("/api/v1/query"):
            self._send(200, answer("vector", [{"metric": {}, "value": [1, "0.5"]}]).encode())
        else:
            self._send(200, b"ok")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def server():
    _Handler.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:{0}".format(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_http_get_returns_error_statuses_as_answers(server):
    assert http_get(server + "/health") == (503, '{"status": "unhealthy"}')
    assert http_get(server + "/", headers={"X-Token": "t0k3n"}) == (200, "ok")
    assert _Handler.seen[-1][1]["X-Token"] == "t0k3n"


def test_http_get_does_not_follow_redirects(server):
    assert http_get(server + "/moved")[0] == 302
    assert [path for path, _headers in _Handler.seen] == ["/moved"]


def test_http_get_unreachable():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    with pytest.raises(Unreachable, match="connection refused"):
        http_get("http://127.0.0.1:{0}/health".format(port), timeout=2)


def test_http_get_timeout():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(Unreachable, match="timed out after 1s"):
            http_get("http://127.0.0.1:{0}/health".format(sock.getsockname()[1]), timeout=1)
    finally:
        sock.close()


def test_prometheus_client_instant_and_range_queries(server):
    client = PrometheusClient(server + "/", token="s3cret", headers={"X-Scope-OrgID": "team"})
    assert client.query("up", end=1000.0) == [dict(labels={}, values=[0.5])]
    path, headers = _Handler.seen[-1]
    assert path == "/api/v1/query?query=up&time=1000.000"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["X-Scope-OrgID"] == "team"
    assert client.query("up", span=60, step=6.0, end=1000.0) == [dict(labels={}, values=[0.5, 0.25])]
    assert _Handler.seen[-1][0] == "/api/v1/query_range?query=up&start=940.000&end=1000.000&step=6"


def test_prometheus_client_unreachable_names_the_server_without_credentials():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = PrometheusClient("http://user:pw@127.0.0.1:{0}".format(port), timeout=2)
    with pytest.raises(Unreachable) as info:
        client.query("up")
    assert str(info.value) == "Prometheus http://127.0.0.1:{0}: connection refused".format(port)
