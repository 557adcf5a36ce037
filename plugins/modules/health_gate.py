#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: health_gate
short_description: Decide whether a service is healthy from its HTTP endpoints and Prometheus metrics
version_added: 0.1.0
description:
  - Answers "is the service healthy?" as a pass or a fail, with the values measured. It is the verification step
    of the runbooks ("check C(/health) returns 200, error rate below 1%, latency back to baseline") as one task,
    to run after a rollback, a restart or a scale-up, or before promoting a release.
  - HTTP checks (O(http_checks)) GET an endpoint such as C(/health) or C(/ready) and compare the status code
    and, optionally, the body.
  - Prometheus checks compare the value of a PromQL query with a threshold. The runbook presets
    O(error_rate_below) and O(p95_latency_below) write the standard queries; O(prometheus_checks) take any query.
    With O(for_seconds), a condition must hold over a window that ends now, like the C(for) of an alerting rule.
  - All checks are evaluated together, every O(retry_interval) seconds, until they all pass or O(wait_timeout)
    seconds are over; the last evaluation is returned. A gate right after a rollback needs that time, because
    a 5 minute rate window keeps counting the errors of the incident for 5 minutes.
  - When the gate fails, the task fails with the measurements, unless O(fail_on_gate=false).
  - Never changes anything (RV(ignore:changed) is always V(false)). In check mode the same read-only requests
    are made and the gate decides the same way, so a C(--check) run of a playbook still stops at a failed gate.
  - Requests are made from the host the task runs on; use C(delegate_to) to check from elsewhere.
options:
  http_checks:
    description:
      - HTTP endpoints to GET. A check passes when the status is one of O(http_checks[].expected_status)
        and the body contains O(http_checks[].body_contains), when given.
      - Redirects are not followed, so that a health endpoint redirecting to a login page does not count as healthy;
        the 3xx status is what is compared.
      - A connection that fails or times out fails the check; the gate tries again while it waits.
    type: list
    elements: dict
    default: []
    suboptions:
      url:
        description:
          - The http:// or https:// URL to GET.
          - Put credentials in O(http_checks[].headers), not in the URL. A user and password in the URL are removed
            from the results, but a token in the query string is not.
        type: str
        required: true
      name:
        description:
          - Name of the check in RV(checks), RV(failed_checks) and RV(summary).
          - Defaults to O(http_checks[].url).
        type: str
      expected_status:
        description: Status codes that pass.
        type: list
        elements: int
        default: [200]
      timeout:
        description: Seconds to wait for the answer.
        type: int
        default: 10
      validate_certs:
        description: Whether to verify the server's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: CA certificate bundle (PEM) to verify the server's certificate with.
        type: path
      headers:
        description:
          - Request headers, for example C(Authorization) or C(Host).
          - The values are never shown in the output (the option is C(no_log)), as they may carry tokens.
        type: dict
      body_contains:
        description: Text the body must contain, for example V("status":"ok").
        type: str
  prometheus_url:
    description:
      - Base URL of the Prometheus server (or of a Prometheus compatible API such as Thanos or Mimir,
        with its path prefix), for example V(http://prometheus:9090).
      - Required by O(prometheus_checks), O(error_rate_below) and O(p95_latency_below).
    type: str
  prometheus_token:
    description: Bearer token sent as C(Authorization) header to Prometheus. Never shown in the output.
    type: str
  prometheus_headers:
    description:
      - Headers sent with every request to Prometheus, for example a tenant header (C(X-Scope-OrgID)).
      - The values are never shown in the output (the option is C(no_log)).
      - An C(Authorization) header here and O(prometheus_token) together are refused.
    type: dict
  prometheus_timeout:
    description: Seconds to wait for Prometheus to answer a query.
    type: int
    default: 10
  prometheus_validate_certs:
    description: Whether to verify the Prometheus server's TLS certificate.
    type: bool
    default: true
  prometheus_ca_path:
    description: CA certificate bundle (PEM) to verify the Prometheus server's certificate with.
    type: path
  error_rate_below:
    description:
      - Runbook preset. The share of requests answered with a 5xx status over O(rate_window) must be below this ratio
        (V(0.01) is 1%). The check is called C(error_rate).
      - "The query is (sum(rate(http_requests_total{code=~\"5..\",SELECTOR}[WINDOW])) or vector(0))
        / sum(rate(http_requests_total{SELECTOR}[WINDOW])), where SELECTOR are O(job) and O(selector)
        and WINDOW is O(rate_window)."
      - A service without requests in the window has no error rate, see O(on_no_data).
      - The runbooks take V(0.01) as recovered (error rate "back to baseline (<1%)" after a rollback or an outage),
        page at V(0.05) ("high error rate, >5% for 5 minutes") and roll back at V(0.1); the strictest API runbook
        opens an incident at V(0.001).
      - Metrics named differently (a C(status) label instead of C(code), a prefixed metric name) need the query
        written out in O(prometheus_checks).
    type: float
  p95_latency_below:
    description:
      - Runbook preset. The 95th percentile of request durations over O(rate_window), in seconds, must be below this
        value. The check is called C(p95_latency).
      - The query is histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{SELECTOR}[WINDOW])) by (le)),
        where SELECTOR are O(job) and O(selector) and WINDOW is O(rate_window).
      - The runbooks alert and scale up at V(2.0) ("P95 latency >2s for 5 minutes"); stricter ones use V(1.0)
        or V(0.3).
    type: float
  job:
    description:
      - Prometheus C(job) label of the service, for the runbook presets.
      - Only used by O(error_rate_below) and O(p95_latency_below).
    type: str
  selector:
    description:
      - More label matchers for the runbook presets, for example V(namespace="prod",service=~"api|web").
      - Only used by O(error_rate_below) and O(p95_latency_below).
    type: str
  rate_window:
    description:
      - Range of the C(rate()) in the runbook presets, as a Prometheus duration.
      - The default is the runbooks' C([5m]). A shorter window reacts sooner after a rollback but needs
        a few scrapes in it, at least four times the scrape interval.
    type: str
    default: 5m
  prometheus_checks:
    description:
      - Prometheus checks with queries of your own. Each query must give numbers (an instant vector or a scalar);
        every series it returns must satisfy the condition.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the check in RV(checks), RV(failed_checks) and RV(summary).
        type: str
        required: true
      query:
        description: The PromQL expression.
        type: str
        required: true
      threshold:
        description: The number the query's value is compared with.
        type: float
        required: true
      comparison:
        description: The condition a healthy value satisfies, as C(value <comparison> threshold).
        type: str
        required: true
        choices: ['<', '<=', '>', '>=', '==']
      for_seconds:
        description: How long the condition must have held, as O(for_seconds). Defaults to O(for_seconds).
        type: int
      step:
        description: Seconds between evaluations in the window, as O(step). Defaults to O(step).
        type: int
      on_no_data:
        description: What a query without data means, as O(on_no_data). Defaults to O(on_no_data).
        type: str
        choices: [fail, pass]
      unit:
        description:
          - How values are shown in messages and RV(summary) (results always hold the plain number).
          - V(ratio) shows 0.121 as 12.1%, V(seconds) shows 0.3 as 300ms.
        type: str
        choices: [number, ratio, seconds]
        default: number
  for_seconds:
    description:
      - How long each Prometheus condition must have held, in seconds. With more than V(0), the query is evaluated
        as a range query over the last O(for_seconds) seconds, every O(step) seconds, and every point must satisfy
        the condition, like the C(for) of an alerting rule.
      - V(0), the default, evaluates the query once, now, as the runbooks' post-rollback checks do; the rate window
        of the presets already averages over 5 minutes. V(300) mirrors their alerts' "for 5 minutes".
    type: int
    default: 0
  step:
    description:
      - Seconds between the evaluations of a window (O(for_seconds)).
      - Defaults to a tenth of O(for_seconds), at least 1 second, which gives 11 evaluations.
    type: int
  on_no_data:
    description:
      - What a Prometheus check without data means. A query returning no series, a ratio without requests (NaN)
        and points missing in a window are no data.
      - V(fail), the default, fails the check with a "no data" message, because missing evidence is not health.
      - V(pass) passes it, for a service that may legitimately have no traffic.
    type: str
    choices: [fail, pass]
    default: fail
  wait_timeout:
    description:
      - Seconds to keep evaluating the checks until all pass. V(0) evaluates them once.
      - The default matches the runbooks' 5 minutes of verification after a rollback, which is also the time
        a 5 minute rate window takes to forget an incident.
    type: int
    default: 300
  retry_interval:
    description: Seconds between two evaluations while waiting.
    type: int
    default: 15
  fail_fast:
    description:
      - Stop waiting at the first evaluation in which a check fails on a measurement (a value beyond its threshold,
        an unexpected status or body); the gate fails then.
      - Checks that cannot be measured yet (no data, connection refused, timeout) are still waited for.
      - Use it where a failed gate triggers the next step (a rollback, a page) and every second counts.
    type: bool
    default: false
  fail_on_gate:
    description:
      - Whether the task fails when the gate fails.
      - With V(false) it returns RV(passed=false) and the measurements, so that a role can decide what to do
        (roll back further, page, stop).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The same read-only requests are made in check mode, and the gate decides the same way.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Invalid options (no checks, a URL without scheme, a negative O(for_seconds), a threshold that is not a number,
    ...) are refused before any request is made.
  - A query Prometheus refuses (a PromQL syntax error, HTTP 401 or 403) fails the task at once; a Prometheus that
    does not answer fails the checks that need it, and the gate tries again while it waits.
  - The presets assume the metric names of the Prometheus client libraries' HTTP instrumentation,
    C(http_requests_total) with a C(code) label and the C(http_request_duration_seconds) histogram.
    For other names, write the query in O(prometheus_checks); RV(checks[].query) shows the presets' queries
    to start from.
seealso:
  - name: Prometheus HTTP API
    description: The query and range query endpoints this module calls.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
  - module: ansible.builtin.uri
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Verify the service after the rollback (the runbooks' thresholds)
  sre.runbooks.health_gate:
    http_checks:
      - url: http://checkout.prod.svc:8080/health
        name: /health
      - url: http://checkout.prod.svc:8080/ready
        name: /ready
    prometheus_url: http://prometheus.monitoring.svc:9090
    job: checkout
    selector: namespace="prod"
    error_rate_below: 0.01
    p95_latency_below: 2.0
  register: gate

- name: Decide in the role instead of failing the task
  sre.runbooks.health_gate:
    prometheus_url: https://prometheus.example.com
    prometheus_token: "{{ prometheus_token }}"
    job: checkout
    error_rate_below: 0.01
    wait_timeout: 0
    fail_on_gate: false
  register: gate

- name: Page when the gate failed
  ansible.builtin.debug:
    msg: "Still unhealthy: {{ gate.summary }}"
  when: not gate.passed

- name: Canary analysis, failing at the first bad measurement
  sre.runbooks.health_gate:
    prometheus_url: http://prometheus:9090
    prometheus_headers:
      X-Scope-OrgID: team-checkout
    prometheus_checks:
      # Runbooks that label the status as "status" instead of "code"
      - name: error_rate
        query: >-
          sum(rate(http_requests_total{job="checkout",track="canary",status=~"5.."}[5m]))
          / sum(rate(http_requests_total{job="checkout",track="canary"}[5m]))
        comparison: "<"
        threshold: 0.01
        unit: ratio
      - name: p99_latency
        query: histogram_quantile(0.99, sum(rate(dashflow_request_duration_seconds_bucket[5m])) by (le))
        comparison: "<"
        threshold: 2.5
        unit: seconds
      - name: ready_replicas
        query: kube_deployment_status_replicas_ready{deployment="checkout"}
        comparison: ">="
        threshold: 3
        on_no_data: fail
    for_seconds: 300
    step: 30
    wait_timeout: 600
    fail_fast: true
"""

RETURN = r"""
passed:
  description: Whether every check passed in the last evaluation.
  returned: always
  type: bool
  sample: false
summary:
  description: One line for a notification; the failing checks' messages, or all messages when the gate passed.
  returned: always
  type: str
  sample: "error_rate 12.1% >= 1%; /health 503 (expected 200)"
failed_checks:
  description: Names of the checks that failed in the last evaluation.
  returned: always
  type: list
  elements: str
  sample: [error_rate, /health]
checks:
  description: Every check of the last evaluation, in the order presets, O(prometheus_checks), O(http_checks).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the check.
      type: str
      sample: error_rate
    kind:
      description: V(prometheus) or V(http).
      type: str
      sample: prometheus
    passed:
      description: Whether the check passed.
      type: bool
      sample: false
    state:
      description:
        - V(passed); V(failed) when a measurement broke the condition; V(no_data) when the query gave no data
          (passed only with O(on_no_data=pass)); V(unreachable) when the endpoint or Prometheus did not answer.
      type: str
      sample: failed
    message:
      description: What was measured against what, in words.
      type: str
      sample: "error_rate 12.1% >= 1% in the last 60s (11 of 11 points)"
    value:
      description:
        - Prometheus checks, the latest value of the query (of the worst series when there are several);
          V(null) without data.
        - HTTP checks, the status code; V(null) when there was no answer.
      type: raw
      sample: 0.121
    threshold:
      description:
        - Prometheus checks, the threshold.
        - HTTP checks, the expected status codes.
      type: raw
      sample: 0.01
    worst:
      description: The value furthest on the failing side in the window (or now), over all series.
      type: float
      returned: for Prometheus checks
      sample: 0.124
    comparison:
      description: The condition a healthy value satisfies.
      type: str
      returned: for Prometheus checks
      sample: "<"
    for_seconds:
      description: How long the condition had to hold.
      type: int
      returned: for Prometheus checks
      sample: 60
    query:
      description: The PromQL evaluated, the presets' included.
      type: str
      returned: for Prometheus checks
      sample: (sum(rate(http_requests_total{code=~"5..",job="checkout"}[5m])) or vector(0)) / sum(rate(http_requests_total{job="checkout"}[5m]))
    series:
      description: Number of series the query returned.
      type: int
      returned: for Prometheus checks
      sample: 1
    points:
      description: Number of values evaluated over all series.
      type: int
      returned: for Prometheus checks
      sample: 11
    violations:
      description: Number of values that broke the condition.
      type: int
      returned: for Prometheus checks
      sample: 11
    url:
      description: The URL requested, without user and password.
      type: str
      returned: for HTTP checks
      sample: http://checkout.prod.svc:8080/health
attempts:
  description: How many times the checks were evaluated.
  returned: always
  type: int
  sample: 3
elapsed_seconds:
  description: Seconds from the first evaluation to the end of the last.
  returned: always
  type: float
  sample: 30.2
"""

import math

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.health.client import (
    PrometheusClient,
    Unreachable,
    http_get,
    redact_url,
    url_problem,
)
from ansible_collections.sre.runbooks.plugins.module_utils.health.gate import (
    COMPARISONS,
    HTTP,
    ON_NO_DATA,
    PROMETHEUS,
    UNITS,
    check_problems,
    evaluate_http,
    evaluate_prometheus,
    run_gate,
    window,
)
from ansible_collections.sre.runbooks.plugins.module_utils.health.promql import (
    error_rate_query,
    is_duration,
    label_matchers,
    latency_quantile_query,
    selector_problem,
)

# Runbooks 000, 001 and 003 compute their rates over [5m]; runbook 000 alerts on "for 5 minutes".
DEFAULT_RATE_WINDOW = "5m"
# Runbook 000, rollback timeline: "Verification: 5 minutes post-rollback"; a [5m] rate needs as long
# to stop counting the incident's errors.
DEFAULT_WAIT_TIMEOUT = 300
# No runbook gives one: Prometheus's usual scrape interval, so that each evaluation sees new samples.
DEFAULT_RETRY_INTERVAL = 15
# Runbook 000's post-rollback checks read the error rate now ("Check error rate in metrics (<1%)");
# the [5m] rate window already averages over the alerts' 5 minutes.
DEFAULT_FOR_SECONDS = 0
DEFAULT_TIMEOUT = 10

ERROR_RATE = "error_rate"
P95_LATENCY = "p95_latency"


def argument_spec():
    http_check = dict(
        url=dict(type="str", required=True),
        name=dict(type="str"),
        expected_status=dict(type="list", elements="int", default=[200]),
        timeout=dict(type="int", default=DEFAULT_TIMEOUT),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        headers=dict(type="dict", no_log=True),
        body_contains=dict(type="str"),
    )
    prometheus_check = dict(
        name=dict(type="str", required=True),
        query=dict(type="str", required=True),
        threshold=dict(type="float", required=True),
        comparison=dict(type="str", required=True, choices=list(COMPARISONS)),
        for_seconds=dict(type="int"),
        step=dict(type="int"),
        on_no_data=dict(type="str", choices=list(ON_NO_DATA)),
        unit=dict(type="str", choices=list(UNITS), default="number"),
    )
    return dict(
        http_checks=dict(type="list", elements="dict", options=http_check, default=[]),
        prometheus_url=dict(type="str"),
        prometheus_token=dict(type="str", no_log=True),
        prometheus_headers=dict(type="dict", no_log=True),
        prometheus_timeout=dict(type="int", default=DEFAULT_TIMEOUT),
        prometheus_validate_certs=dict(type="bool", default=True),
        prometheus_ca_path=dict(type="path"),
        error_rate_below=dict(type="float"),
        p95_latency_below=dict(type="float"),
        job=dict(type="str"),
        selector=dict(type="str"),
        rate_window=dict(type="str", default=DEFAULT_RATE_WINDOW),
        prometheus_checks=dict(type="list", elements="dict", options=prometheus_check, default=[]),
        for_seconds=dict(type="int", default=DEFAULT_FOR_SECONDS),
        step=dict(type="int"),
        on_no_data=dict(type="str", choices=list(ON_NO_DATA), default="fail"),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
        retry_interval=dict(type="int", default=DEFAULT_RETRY_INTERVAL),
        fail_fast=dict(type="bool", default=False),
        fail_on_gate=dict(type="bool", default=True),
    )


def _uses_presets(params):
    return params["error_rate_below"] is not None or params["p95_latency_below"] is not None


def build_checks(params):
    """The checks the options ask for, in the order presets, prometheus_checks, http_checks. Pure."""
    inherited = dict(for_seconds=params["for_seconds"], step=params["step"], on_no_data=params["on_no_data"])
    checks = []
    matchers = label_matchers(params["job"], params["selector"])
    window_text = params["rate_window"]
    if params["error_rate_below"] is not None:
        checks.append(dict(
            inherited, kind=PROMETHEUS, name=ERROR_RATE, query=error_rate_query(matchers, window_text),
            comparison="<", threshold=params["error_rate_below"], unit="ratio",
        ))
    if params["p95_latency_below"] is not None:
        checks.append(dict(
            inherited, kind=PROMETHEUS, name=P95_LATENCY, query=latency_quantile_query(matchers, window_text),
            comparison="<", threshold=params["p95_latency_below"], unit="seconds",
        ))
    for raw in params["prometheus_checks"]:
        check = dict(raw, kind=PROMETHEUS)
        for key, value in inherited.items():
            if check.get(key) is None:
                check[key] = value
        checks.append(check)
    for raw in params["http_checks"]:
        checks.append(dict(raw, kind=HTTP, name=raw.get("name") or redact_url(raw["url"])))
    return checks


def option_problems(params):
    """What is wrong with the options, as sentences; empty when the gate can run. Pure: no request is made."""
    problems = []
    presets = _uses_presets(params)
    uses_prometheus = presets or params["prometheus_checks"]
    if not uses_prometheus and not params["http_checks"]:
        problems.append("no checks: give http_checks, prometheus_checks, error_rate_below or p95_latency_below")
    if uses_prometheus and not params["prometheus_url"]:
        problems.append("prometheus_url is required by prometheus_checks, error_rate_below and p95_latency_below")
    if params["prometheus_url"] and url_problem(params["prometheus_url"]):
        problems.append("prometheus_url " + url_problem(params["prometheus_url"]))
    if params["prometheus_token"] and any(key.lower() == "authorization" for key in params["prometheus_headers"] or {}):
        problems.append("give the Prometheus credentials either as prometheus_token or as an Authorization header, not both")

    if (params["job"] or params["selector"]) and not presets:
        problems.append("job and selector only apply to error_rate_below and p95_latency_below; "
                        "prometheus_checks carry their labels in the query")
    if params["selector"] and selector_problem(params["selector"]):
        problems.append(selector_problem(params["selector"]))
    if presets and not is_duration(params["rate_window"]):
        problems.append("rate_window must be a Prometheus duration such as 5m or 30s, got {0!r}".format(params["rate_window"]))
    rate = params["error_rate_below"]
    if rate is not None and not 0 < rate <= 1:
        problems.append("error_rate_below is a ratio between 0 and 1 (0.01 is 1%), got {0}".format(rate))
    latency = params["p95_latency_below"]
    if latency is not None and not (0 < latency and math.isfinite(latency)):
        problems.append("p95_latency_below must be a number of seconds above 0, got {0}".format(latency))

    for key, minimum in (("wait_timeout", 0), ("for_seconds", 0)):
        if params[key] < minimum:
            problems.append("{0} must be {1} or more, got {2}".format(key, minimum, params[key]))
    for key in ("retry_interval", "prometheus_timeout", "step"):
        if params[key] is not None and params[key] <= 0:
            problems.append("{0} must be more than 0 seconds, got {1}".format(key, params[key]))

    for index, check in enumerate(params["prometheus_checks"]):
        where = "prometheus_checks[{0}] ({1})".format(index, check["name"])
        if not check["name"].strip():
            problems.append("prometheus_checks[{0}]: name must not be empty".format(index))
        if not check["query"].strip():
            problems.append("{0}: query must not be empty".format(where))
        problems.extend("{0}: {1}".format(where, problem) for problem in check_problems(check))
    for index, check in enumerate(params["http_checks"]):
        where = "http_checks[{0}] ({1})".format(index, check.get("name") or redact_url(check["url"]))
        if url_problem(check["url"]):
            problems.append("{0}: url {1}".format(where, url_problem(check["url"])))
        if not check["expected_status"]:
            problems.append("{0}: expected_status must not be empty".format(where))
        problems.extend("{0}: {1}".format(where, problem) for problem in check_problems(check))

    names = [check["name"] for check in build_checks(params)]
    repeated = sorted(set(name for name in names if names.count(name) > 1))
    if repeated:
        problems.append("check names must be unique, repeated: {0}".format(", ".join(repeated)))
    return problems


def check_options(module):
    """Refuse unusable options before any request."""
    problems = option_problems(module.params)
    if problems:
        raise RunbookError("use", "the health gate options", "; ".join(problems))
    if module.params["prometheus_url"] and not (_uses_presets(module.params) or module.params["prometheus_checks"]):
        module.warn("prometheus_url is set but no Prometheus check is: give error_rate_below, p95_latency_below or prometheus_checks")


def connect(module):
    params = module.params
    if not params["prometheus_url"]:
        return None
    return PrometheusClient(
        params["prometheus_url"], headers=_text_values(params["prometheus_headers"]), token=params["prometheus_token"],
        timeout=params["prometheus_timeout"], validate_certs=params["prometheus_validate_certs"], ca_path=params["prometheus_ca_path"],
    )


def _text_values(headers):
    return dict((key, to_text(value)) for key, value in (headers or {}).items())


def evaluate(check, prometheus):
    """Measure one check now and judge it. A RunbookError (a query Prometheus refuses) passes through."""
    if check["kind"] == HTTP:
        shown = dict(check, url=redact_url(check["url"]))
        try:
            status, body = http_get(
                check["url"], headers=_text_values(check["headers"]), timeout=check["timeout"],
                validate_certs=check["validate_certs"], ca_path=check["ca_path"],
            )
        except Unreachable as error:
            return evaluate_http(shown, error=str(error))
        return evaluate_http(shown, status=status, body=body)

    span, step, points = window(check["for_seconds"], check["step"])
    try:
        series = prometheus.query(check["query"], span=span, step=step)
    except Unreachable as error:
        return evaluate_prometheus(check, error=str(error))
    return evaluate_prometheus(check, series, expected_points=points)


def health_gate(module, prometheus):
    params = module.params
    checks = build_checks(params)
    outcome = run_gate(
        lambda: [evaluate(check, prometheus) for check in checks],
        wait_timeout=params["wait_timeout"], retry_interval=params["retry_interval"], fail_fast=params["fail_fast"],
    )
    result = module.result(changed=False, **outcome)
    if not outcome["passed"] and params["fail_on_gate"]:
        module.fail_json(msg="Health gate failed after {0} evaluation(s) in {1}s: {2}".format(
            outcome["attempts"], outcome["elapsed_seconds"], outcome["summary"]), **result)
    return result


def main():
    module = RunbookModule(argument_spec=argument_spec())
    module.run(health_gate, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
