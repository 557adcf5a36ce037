# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The health gate's verdicts: pure functions from measurements to pass/fail, and the wait loop.

Nothing here makes a request. A check is a dict built by the module:

    prometheus: name, query, threshold, comparison, for_seconds, step, on_no_data, unit
    http:       name, url, expected_status, body_contains (and what client.http_get needs)

evaluate_prometheus() and evaluate_http() turn what was measured into a check
result; run_gate() repeats an evaluation until every check passes or time is up.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import operator
import time

PROMETHEUS = "prometheus"
HTTP = "http"

# Check states. Only FAILED is a measured verdict; NO_DATA and UNREACHABLE may clear up
# on their own (a target not scraped yet, a pod restarting), which fail_fast waits for.
PASSED = "passed"
FAILED = "failed"
NO_DATA = "no_data"
UNREACHABLE = "unreachable"

# comparison -> (test, the comparison that holds when the test fails, for messages)
COMPARISONS = {
    "<": (operator.lt, ">="),
    "<=": (operator.le, ">"),
    ">": (operator.gt, "<="),
    ">=": (operator.ge, "<"),
    "==": (operator.eq, "!="),
}

UNITS = ("number", "ratio", "seconds")
ON_NO_DATA = ("fail", "pass")

# Points a window is split into when no step is given: for_seconds / 10, so 11 evaluations.
DEFAULT_WINDOW_STEPS = 10


def holds(value, comparison, threshold):
    """Whether value <comparison> threshold."""
    return COMPARISONS[comparison][0](value, threshold)


def format_value(value, unit="number"):
    """A measured value for a message: ratios in percent, seconds in s or ms."""
    if value is None:
        return "none"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit == "ratio":
        return "{0:.3g}%".format(value * 100)
    if unit == "seconds":
        if abs(value) < 1:
            return "{0:.3g}ms".format(value * 1000)
        return "{0:.3g}s".format(value)
    return "{0:.4g}".format(value)


def format_seconds(seconds):
    return "{0:g}s".format(seconds)


def window(for_seconds, step=None):
    """(span, step, points) of the range query for a condition that must hold for for_seconds.

    The window ends now and reaches back at least for_seconds in whole steps, so its
    last evaluation is now and its first one for_seconds (or a little more) ago.
    for_seconds 0 is one instant evaluation: (0, None, 1).
    """
    if not for_seconds:
        return 0, None, 1
    step = step or max(float(for_seconds) / DEFAULT_WINDOW_STEPS, 1.0)
    steps = int(math.ceil(for_seconds / float(step) - 1e-9))
    return steps * step, step, steps + 1


def check_problems(check):
    """What is wrong with one check's settings, as sentences; empty when it is usable."""
    problems = []
    if check.get("threshold") is not None and not math.isfinite(check["threshold"]):
        problems.append("threshold must be a finite number, got {0}".format(check["threshold"]))
    if check.get("comparison") is not None and check["comparison"] not in COMPARISONS:
        problems.append("comparison must be one of {0}, got {1!r}".format(", ".join(COMPARISONS), check["comparison"]))
    if (check.get("for_seconds") or 0) < 0:
        problems.append("for_seconds must be 0 or more, got {0}".format(check["for_seconds"]))
    if check.get("step") is not None and check["step"] <= 0:
        problems.append("step must be more than 0 seconds, got {0}".format(check["step"]))
    for code in check.get("expected_status") or ():
        if not 100 <= code <= 599:
            problems.append("expected_status must hold HTTP status codes (100-599), got {0}".format(code))
    if check.get("timeout") is not None and check["timeout"] <= 0:
        problems.append("timeout must be more than 0 seconds, got {0}".format(check["timeout"]))
    return problems


def _worst(values, comparison, threshold):
    """The value furthest on the failing side: the highest for < and <=, the lowest for > and >=."""
    if comparison in ("<", "<="):
        return max(values)
    if comparison in (">", ">="):
        return min(values)
    return max(values, key=lambda value: abs(value - threshold))


def _labels_text(labels):
    return "{" + ",".join('{0}="{1}"'.format(key, labels[key]) for key in sorted(labels) if key != "__name__") + "}"


def evaluate_prometheus(check, series=None, expected_points=1, error=None):
    """The result of a Prometheus check from what its query returned, or the error that stopped it.

    series -- [{"labels": {...}, "values": [float, ...]}], one entry per time series, its values
              in time order (one value for an instant query); NaN counts as no data, as it
              is what a ratio or a quantile gives over a window without requests.
    expected_points -- values each series has when none is missing (window()'s points).

    Every value of every series must satisfy "value <comparison> threshold"; missing
    values fail the check unless check["on_no_data"] is "pass".
    """
    comparison, threshold, unit = check["comparison"], check["threshold"], check.get("unit") or "number"
    for_seconds = check.get("for_seconds") or 0
    tolerate_gaps = check.get("on_no_data") == "pass"
    result = dict(
        name=check["name"], kind=PROMETHEUS, query=check["query"], comparison=comparison, threshold=threshold,
        for_seconds=for_seconds, series=len(series or ()), value=None, worst=None, points=0, violations=0,
    )
    if error is not None:
        return dict(result, state=UNREACHABLE, passed=False, message="{0}: {1}".format(check["name"], error))

    # (labels, latest value, worst value) of each series with data. NaN is left out, so no
    # value returned is NaN (not JSON); +Inf, a quantile beyond the top bucket, is kept.
    measured = []
    missing = violations = points = 0
    for entry in series:
        values = [value for value in entry["values"] if not math.isnan(value)]
        missing += max(expected_points - len(values), 0)
        points += len(values)
        violations += sum(1 for value in values if not holds(value, comparison, threshold))
        if values:
            measured.append((entry.get("labels") or {}, values[-1], _worst(values, comparison, threshold)))
    result.update(points=points, violations=violations)

    name = check["name"]
    in_window = " in the last {0}".format(format_seconds(for_seconds)) if for_seconds else ""
    if not measured:
        # Prometheus answers NaN for 0/0: a ratio or quantile over a window without requests.
        cause = "no requests in the window?" if series else "the query returned no series"
        passed = tolerate_gaps
        message = "{0}: no data{1} ({2})".format(name, in_window, cause)
        if passed:
            message += ", passed as on_no_data=pass"
        return dict(result, state=NO_DATA, passed=passed, message=message)

    worst_labels, worst = _worst_entry(measured, comparison, threshold)
    latest = _worst([entry[1] for entry in measured], comparison, threshold)
    result.update(value=latest, worst=worst)
    where = " " + _labels_text(worst_labels) if len(series) > 1 else ""
    shown_threshold = format_value(threshold, unit)
    if violations:
        failing = COMPARISONS[comparison][1]
        message = "{0} {1} {2} {3}{4}".format(name, format_value(worst, unit), failing, shown_threshold, where)
        if for_seconds:
            message += "{0} ({1} of {2} points)".format(in_window, violations, points)
        return dict(result, state=FAILED, passed=False, message=message)

    message = "{0} {1} {2} {3}{4}".format(name, format_value(worst, unit), comparison, shown_threshold, where)
    if for_seconds:
        message += " for {0}".format(format_seconds(for_seconds))
    if missing and not tolerate_gaps:
        message += " but no data at {0} of {1} points{2}".format(missing, expected_points * len(series), in_window)
        return dict(result, state=NO_DATA, passed=False, message=message)
    return dict(result, state=PASSED, passed=True, message=message)


def _worst_entry(measured, comparison, threshold):
    """(labels, worst value) of the series whose worst value is the worst of all."""
    worst = _worst([entry[2] for entry in measured], comparison, threshold)
    return next((entry[0], entry[2]) for entry in measured if entry[2] == worst)


def evaluate_http(check, status=None, body=None, error=None):
    """The result of an HTTP check from the status and body it got, or the error that stopped it."""
    name = check["name"]
    expected = list(check.get("expected_status") or [200])
    result = dict(name=name, kind=HTTP, url=check["url"], value=status, threshold=expected)
    if error is not None:
        return dict(result, state=UNREACHABLE, passed=False, message="{0}: {1}".format(name, error))
    if status not in expected:
        wanted = " or ".join(str(code) for code in expected)
        return dict(result, state=FAILED, passed=False, message="{0} {1} (expected {2})".format(name, status, wanted))
    wanted_text = check.get("body_contains")
    if wanted_text and wanted_text not in (body or ""):
        message = "{0} {1} without {2!r} in the body".format(name, status, wanted_text)
        return dict(result, state=FAILED, passed=False, message=message)
    return dict(result, state=PASSED, passed=True, message="{0} {1}".format(name, status))


def verdict(results):
    """(passed, failed_checks, summary) of one evaluation of all checks.

    summary is one line: the failing checks' messages, or all messages when every check passed.
    """
    failed = [result for result in results if not result["passed"]]
    summary = "; ".join(result["message"] for result in (failed or results))
    return not failed, [result["name"] for result in failed], summary


def run_gate(evaluate, wait_timeout, retry_interval, fail_fast=False, clock=time.monotonic, sleep=time.sleep):
    """Evaluate until every check passes or wait_timeout seconds are over; the last evaluation decides.

    evaluate() returns the list of check results of one evaluation of all checks: they are
    always evaluated together, so a pass means all held at the same time.
    fail_fast -- stop at the first evaluation in which a check failed on a measurement
                 (state FAILED); checks without data or unreachable are still waited for.

    Returns dict(passed, checks, failed_checks, summary, attempts, elapsed_seconds).
    """
    started = clock()
    deadline = started + wait_timeout
    attempts = 0
    while True:
        results = evaluate()
        attempts += 1
        passed = all(result["passed"] for result in results)
        if passed or (fail_fast and any(result["state"] == FAILED for result in results)):
            break
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(retry_interval, remaining))
    passed, failed_checks, summary = verdict(results)
    return dict(
        passed=passed, checks=results, failed_checks=failed_checks, summary=summary,
        attempts=attempts, elapsed_seconds=round(clock() - started, 1),
    )
