# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""HTTP layer of the health gate: plain GETs for HTTP checks and the Prometheus HTTP API.

Requests go through ansible.module_utils.urls.open_url (proxies, CA bundles and
certificate checks as in ansible.builtin.uri), so modules need no third-party library.

Two kinds of failure:
- Unreachable: the network, a timeout or a Prometheus 5xx. It may clear up by
  itself (a pod restarting, a Prometheus reload), so the gate records it as the
  check's result and tries again while it waits.
- RunbookError: Prometheus refused the request (bad PromQL, 401/403, a URL that
  is not the Prometheus API). Waiting will not help, so the module fails at once.

Header values never appear in a message or a result: they may carry tokens.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import time
from http.client import HTTPException
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

USER_AGENT = "sre.runbooks.health_gate"
# Enough of a body for body_contains; a health endpoint answering more is not read further.
MAX_BODY_BYTES = 1024 * 1024


class Unreachable(Exception):
    """A request got no usable answer this time (connection refused, timeout, TLS, a server error)."""


def redact_url(url):
    """url without the user and password it may carry (https://user:secret@host/ -> https://host/)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def url_problem(url):
    """Why url cannot be requested (no http(s) scheme or no host), or None."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host, got {0!r}".format(redact_url(url or ""))
    return None


def _reason(error, timeout):
    """A short reason for a failed request: 'connection refused', 'timed out after 10s', ..."""
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, socket.timeout):  # TimeoutError since Python 3.10
        return "timed out after {0}s".format(timeout)
    strerror = getattr(reason, "strerror", None)
    if strerror:
        return strerror.lower()
    return to_text(reason).strip() or type(reason).__name__


def http_get(url, headers=None, timeout=10, validate_certs=True, ca_path=None):
    """(status, body text) of GET url; an HTTP error status is an answer too. Unreachable when there is none.

    Redirects are not followed: a health endpoint redirecting to a login page must
    not count as healthy, so a 3xx is the status the check sees.
    """
    try:
        response = open_url(
            url, method="GET", headers=headers, timeout=timeout, validate_certs=validate_certs, ca_path=ca_path,
            http_agent=USER_AGENT, follow_redirects="none", use_netrc=False,
        )
        return response.getcode(), _read(response)
    except HTTPError as error:
        return error.code, _read(error)
    except (OSError, HTTPException, UrlsConnectionError) as error:  # URLError, socket and TLS errors are OSErrors
        raise Unreachable(_reason(error, timeout))


def _read(response):
    try:
        return to_text(response.read(MAX_BODY_BYTES), errors="surrogate_or_replace")
    except (OSError, HTTPException, AttributeError):  # an HTTPError without a body has no fp
        return ""


class PrometheusClient:
    """The Prometheus HTTP API (/api/v1/query and /api/v1/query_range) at url.

    headers -- sent with every request (an Authorization header, a tenant header, ...)
    token -- sent as "Authorization: Bearer <token>"
    """

    def __init__(self, url, headers=None, token=None, timeout=10, validate_certs=True, ca_path=None):
        self.url = url.rstrip("/")
        self.name = "Prometheus {0}".format(redact_url(self.url))
        self._headers = dict(headers or {})
        if token:
            self._headers["Authorization"] = "Bearer {0}".format(token)
        self._timeout = timeout
        self._validate_certs = validate_certs
        self._ca_path = ca_path

    def query(self, promql, span=0, step=None, end=None):
        """Series of promql: evaluated at end (default now), or every step seconds over [end - span, end].

        Returns [{"labels": {...}, "values": [float, ...]}]; raises Unreachable or RunbookError.
        """
        end = time.time() if end is None else end
        if span:
            endpoint, params = "query_range", dict(query=promql, start=_stamp(end - span), end=_stamp(end), step="{0:g}".format(step))
        else:
            endpoint, params = "query", dict(query=promql, time=_stamp(end))
        url = "{0}/api/v1/{1}?{2}".format(self.url, endpoint, urlencode(params))
        try:
            status, body = http_get(url, self._headers, self._timeout, self._validate_certs, self._ca_path)
        except Unreachable as error:
            raise Unreachable("{0}: {1}".format(self.name, error))
        return parse_response(status, body, self.name, promql)


def _stamp(seconds):
    return "{0:.3f}".format(seconds)


def parse_response(status, body, name="Prometheus", promql=None):
    """Series from a Prometheus API answer (vector, matrix or scalar); pure, for the unit tests.

    Raises Unreachable for a server error (5xx: overloaded, timed out, restarting) and
    RunbookError for a refused query or an answer that is not from the Prometheus API.
    """
    details = dict(query=promql) if promql else {}
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("status") not in ("success", "error"):
        if status >= 500:
            raise Unreachable("{0}: HTTP {1}".format(name, status))
        cause = "HTTP {0}, not an answer of the Prometheus API (is the URL the server's base URL?)".format(status)
        if status in (401, 403):
            cause = "HTTP {0}: check prometheus_token or prometheus_headers".format(status)
        raise RunbookError("query", name, cause, **details)
    if answer["status"] == "error":
        cause = "{0}: {1}".format(answer.get("errorType"), answer.get("error"))
        if status >= 500:
            raise Unreachable("{0}: {1}".format(name, cause))
        raise RunbookError("query", name, cause, **details)

    data = answer.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [dict(labels={}, values=[float(result[1])])]
    if kind == "vector":
        return [dict(labels=entry.get("metric") or {}, values=[float(entry["value"][1])]) for entry in result]
    if kind == "matrix":
        return [dict(labels=entry.get("metric") or {}, values=[float(point[1]) for point in entry["values"]]) for entry in result]
    raise RunbookError("query", name, "the query gives a {0}, not numbers to compare".format(kind), **details)
