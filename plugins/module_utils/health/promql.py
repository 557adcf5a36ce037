# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PromQL for the runbook presets of the health gate, so that users need not write it.

The metric names are those of the Prometheus client libraries' HTTP
instrumentation (client_golang's promhttp, prometheus_client, ...), which the
runbooks query too:

    http_requests_total{code="500", ...}              counter, one series per status code
    http_request_duration_seconds_bucket{le="...", ...}  histogram of request durations

Services exporting other names (runbook 000's dashflow_request_duration_seconds,
a `status` label instead of `code` as in runbooks 001 and 003) write the query
themselves in the module's prometheus_checks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

REQUESTS_METRIC = "http_requests_total"
DURATION_METRIC = "http_request_duration_seconds"
STATUS_LABEL = "code"

# A Prometheus duration: 90s, 5m, 1h30m, 500ms.
_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_STRING = r'"(?:[^"\\\n]|\\.)*"' + r"|'(?:[^'\\\n]|\\.)*'"
_MATCHER = r"\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:{0})\s*".format(_STRING)
_SELECTOR = re.compile(r"^{0}(?:,{0})*,?\s*$".format(_MATCHER))


def is_duration(text):
    """Whether text is a Prometheus duration such as 5m or 1h30m (zero is not a usable window)."""
    return bool(_DURATION.match(text or "")) and any(char in "123456789" for char in text)


def quote(value):
    """value as a PromQL double-quoted string."""
    return '"{0}"'.format(value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))


def selector_problem(selector):
    """Why selector is not a list of label matchers (job="api", namespace=~"prod-.*"), or None."""
    body = _strip_braces(selector)
    if not body.strip() or not _SELECTOR.match(body):
        return ("selector must be label matchers such as 'namespace=\"prod\", service=~\"api|web\"', got {0!r}".format(selector))
    return None


def _strip_braces(selector):
    body = (selector or "").strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    return body


def label_matchers(job=None, selector=None):
    """The matchers selecting the service's series, without braces: 'job="api",namespace="prod"'."""
    matchers = []
    if job:
        matchers.append("job={0}".format(quote(job)))
    if selector:
        matchers.append(_strip_braces(selector).strip().rstrip(",").strip())
    return ",".join(matchers)


def _series(metric, *matchers):
    wanted = [matcher for matcher in matchers if matcher]
    return "{0}{{{1}}}".format(metric, ",".join(wanted)) if wanted else metric


def error_rate_query(matchers, window):
    """Share of requests answered with a 5xx status over window, as a ratio (0.01 is 1%).

    Runbooks 001 and 003 query rate(http_requests_total{status=~"5.."}[5m]); dividing
    by all requests makes the figure comparable with their thresholds in percent.
    `or vector(0)`: a healthy service may have no 5xx series at all, which is a
    0% error rate, not missing data. Without any requests the division stays empty.
    """
    errors = _series(REQUESTS_METRIC, '{0}=~"5.."'.format(STATUS_LABEL), matchers)
    total = _series(REQUESTS_METRIC, matchers)
    return "(sum(rate({0}[{2}])) or vector(0)) / sum(rate({1}[{2}]))".format(errors, total, window)


def latency_quantile_query(matchers, window, quantile=0.95):
    """The quantile of request durations over window, in seconds (runbook 000's P95 query, summed over series)."""
    buckets = _series(DURATION_METRIC + "_bucket", matchers)
    return "histogram_quantile({0}, sum(rate({1}[{2}])) by (le))".format(quantile, buckets, window)
