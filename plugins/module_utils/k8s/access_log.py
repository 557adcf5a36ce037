# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Access-log audit (pure, unit-tested without a cluster): the runbooks' "audit the logs" after a key leak and
"top talkers" during a DDoS.

- parsing: parse_line() reads one line, nginx/Apache combined (or common) format or a JSON object with the usual
  field names, optionally behind the kubelet's timestamp (kubectl logs --timestamps);
- scrubbing: scrub_line() removes what must never be stored or returned (query values of secret-looking
  parameters, Authorization/Cookie headers, the caller's literals) before a line is kept;
- aggregation: Audit counts what falls in the time window (status classes and codes, 401 and 403, top clients
  overall and among 401/403, top paths, the busiest second) and what does not (outside the window, unparsed);
- block list: suggest_blocks() names the clients above a request or 401/403 threshold, never private, loopback or
  otherwise non-public addresses unless asked, as CIDRs ready for k8s_ingress_guard's denylist.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import json
import re

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.redact import REDACTED, scrub
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import parse_time

CLIENT_IP_SOURCES = ("auto", "remote_addr", "forwarded_for")
DENIED = (401, 403)
DEFAULT_TOP = 10
# The runbooks give no numbers for a block list: these are tuning defaults, documented as such.
DEFAULT_BLOCK_MIN_REQUESTS = 1000
DEFAULT_BLOCK_MIN_DENIED = 20
# Lines of 401/403 responses kept for the evidence (scrubbed), at most.
DEFAULT_MAX_DENIED_LINES = 10000

# kubectl logs --timestamps / the pod log API's timestamps=true: "2026-01-03T10:00:00.123456789Z <line>".
KUBELET_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (.*)$", re.DOTALL)
# nginx "combined" / Apache combined and common: remote - user [time] "request" status size ["referer" "agent"] [...]
COMBINED = re.compile(
    r'^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\S+)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?(?P<rest>.*)$')
# A quoted field at the end of a combined line that holds addresses: nginx's common '"$http_x_forwarded_for"' extension.
TRAILING_ADDRESSES = re.compile(r'"((?:[0-9A-Fa-f.:]+)(?:\s*,\s*[0-9A-Fa-f.:]+)*)"\s*$')
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"

# JSON field names, first match wins (compared lower-case, "-" and "." read as "_"; nested objects are flattened).
STATUS_FIELDS = ("status", "status_code", "statuscode", "http_status", "response_status", "response_code", "code", "http_status_code",
                 "response_status_code", "res_statuscode")
REMOTE_FIELDS = ("remote_addr", "client_ip", "clientip", "remote_ip", "remoteip", "client_addr", "client_address", "src_ip",
                 "source_ip", "ip", "remote", "client", "request_remote_addr")
FORWARDED_FIELDS = ("x_forwarded_for", "http_x_forwarded_for", "forwarded_for", "xff", "request_headers_x_forwarded_for")
PATH_FIELDS = ("path", "request_path", "uri", "request_uri", "url", "request_url", "url_path", "http_path")
REQUEST_FIELDS = ("request", "request_line")
METHOD_FIELDS = ("method", "request_method", "http_method", "verb")
TIME_FIELDS = ("time", "timestamp", "ts", "time_iso8601", "time_local", "_timestamp", "datetime", "date", "start_time",
               "request_time_iso8601")

# Query parameters whose values are credentials. "key" alone is common for API keys (?key=...).
SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:[\w.-]*(?:api[_-]?key|apikey|token|secret|passw(?:or)?d|passwd|pwd|signature|credential|session|auth)[\w.-]*"
    r"|key|sig|code|jwt|x-amz-security-token)=)[^&;\s\"'#]*")
# Header names whose values are credentials, in JSON fields or as "Name: value" text.
SECRET_HEADER_FIELD = re.compile(r"(?i)(authorization|cookie|x[_-]api[_-]key|api[_-]?key|x[_-]auth[_-]token|token|passw|secret)")
SECRET_HEADER_TEXT = re.compile(r"(?i)((?:proxy-)?authorization|set-cookie|cookie|x-api-key|x-auth-token)(\s*[:=]\s*)(\"[^\"]*\"|[^\"\n]+)")


# -- time ---------------------------------------------------------------------------------------------------

def parse_access_time(value):
    """An access log's time as an aware datetime, or None: RFC 3339, nginx/Apache's 10/Oct/2000:13:55:36 -0700, or epoch
    seconds/milliseconds (a number, or digits)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or re.match(r"^\d{9,}(\.\d+)?$", str(value)):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000.0
        try:
            return datetime.datetime.fromtimestamp(number, datetime.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()
    try:
        return datetime.datetime.strptime(text, CLF_TIME)
    except ValueError:
        pass
    try:
        return parse_time(text.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", text) else text)
    except ValueError:
        return None


def format_time(moment):
    """UTC, seconds precision: 2026-01-03T10:00:00Z."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


# -- parsing ------------------------------------------------------------------------------------------------

def split_kubelet_timestamp(line):
    """(datetime or None, the line without the kubelet's timestamp)."""
    match = KUBELET_TIMESTAMP.match(line)
    if not match:
        return None, line
    try:
        return parse_time(match.group(1)), match.group(2)
    except ValueError:
        return None, line


def _path_of(target):
    """The path of a request target, without query or fragment: /api/orders?key=x -> /api/orders."""
    target = target or ""
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


def _request_parts(request):
    """(method, target) of a request line "GET /x?y HTTP/1.1"; ("", "") when it is not one."""
    parts = (request or "").split()
    if len(parts) >= 2:
        return parts[0], parts[1]
    return "", ""


def _first_address(forwarded):
    """The client of an X-Forwarded-For value: its first address ("203.0.113.7, 10.0.0.1" -> 203.0.113.7)."""
    for part in str(forwarded or "").split(","):
        part = part.strip().strip('"')
        if part and part != "-":
            return part
    return None


def _flatten(obj, prefix=""):
    """{normalized name: value} of a JSON object; nested objects give both "http_status" and, if still free, "status"."""
    flat = {}
    for key, value in obj.items():
        name = re.sub(r"[-.\s]", "_", str(key)).lower()
        full = prefix + name
        if isinstance(value, dict):
            for inner_key, inner_value in _flatten(value, full + "_").items():
                flat.setdefault(inner_key, inner_value)
            for inner_key, inner_value in _flatten(value).items():
                flat.setdefault(inner_key, inner_value)
        else:
            flat.setdefault(full, value)
    return flat


def _pick(flat, names):
    for name in names:
        value = flat.get(name)
        if value not in (None, "", "-"):
            return value
    return None


def _status(value):
    try:
        status = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def _entry(remote, forwarded, method, path, status, moment):
    return dict(remote=remote, forwarded_for=forwarded, method=method or "", path=path, status=status, time=moment)


def parse_json_line(text):
    """An access-log entry from a JSON line, or None when the line is not one (no HTTP status)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    flat = _flatten(obj)
    status = _status(_pick(flat, STATUS_FIELDS))
    if status is None:
        return None
    method = _pick(flat, METHOD_FIELDS)
    target = _pick(flat, PATH_FIELDS)
    request = _pick(flat, REQUEST_FIELDS)
    if isinstance(request, str) and (target is None or method is None):
        request_method, request_target = _request_parts(request)
        method = method or request_method
        target = target or request_target
    remote = _pick(flat, REMOTE_FIELDS)
    forwarded = _first_address(_pick(flat, FORWARDED_FIELDS))
    return _entry(str(remote) if remote is not None else None, forwarded, str(method or ""), _path_of(str(target or "")), status,
                  parse_access_time(_pick(flat, TIME_FIELDS)))


def parse_combined_line(text):
    """An access-log entry from an nginx/Apache combined or common line, or None."""
    match = COMBINED.match(text)
    if not match:
        return None
    method, target = _request_parts(match.group("request"))
    forwarded = None
    trailing = TRAILING_ADDRESSES.search(match.group("rest") or "")
    if trailing:
        forwarded = _first_address(trailing.group(1))
    return _entry(match.group("remote"), forwarded, method, _path_of(target), int(match.group("status")),
                  parse_access_time(match.group("time")))


def parse_line(line):
    """(entry or None, kubelet time or None) of one log line; entry: remote, forwarded_for, method, path, status, time."""
    logged_at, text = split_kubelet_timestamp(line.rstrip("\r\n"))
    text = text.strip()
    if text.startswith("{"):
        return parse_json_line(text), logged_at
    return parse_combined_line(text), logged_at


def client_of(entry, source="auto"):
    """The client address of an entry: the first X-Forwarded-For address (auto, when there is one; forwarded_for) or the peer."""
    if source == "remote_addr":
        return entry["remote"]
    if source == "forwarded_for":
        return entry["forwarded_for"]
    return entry["forwarded_for"] or entry["remote"]


# -- scrubbing ----------------------------------------------------------------------------------------------

def _scrub_json(obj):
    if isinstance(obj, dict):
        return dict((key, REDACTED if SECRET_HEADER_FIELD.search(str(key)) and value not in (None, "", "-") and not isinstance(value, (dict, list))
                     else _scrub_json(value)) for key, value in obj.items())
    if isinstance(obj, list):
        return [_scrub_json(item) for item in obj]
    if isinstance(obj, str):
        return SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, obj)
    return obj


def scrub_line(line, values=()):
    """A log line without credentials: the given literals, query values of secret-looking parameters, Authorization,
    Cookie and API-key headers (JSON fields or text), and what redact.scrub() finds (token=..., Bearer ..., URL passwords)."""
    text = line
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    body_start = text.find("{")
    if body_start != -1 and text.rstrip().endswith("}"):
        try:
            obj = json.loads(text[body_start:])
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            text = text[:body_start] + json.dumps(_scrub_json(obj), sort_keys=False, separators=(",", ":"))
    text = SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)
    text = SECRET_HEADER_TEXT.sub(lambda m: m.group(1) + m.group(2) + ('"' + REDACTED + '"' if m.group(3).startswith('"') else REDACTED), text)
    return scrub(text, ())


# -- aggregation --------------------------------------------------------------------------------------------

def status_class(status):
    return "{0}xx".format(status // 100)


class Audit(object):
    """Counts of the access-log lines fed to add(); report() gives the module's result."""

    def __init__(self, since=None, until=None, client_ip="auto", redact=(), max_denied_lines=DEFAULT_MAX_DENIED_LINES):
        self.since = since
        self.until = until
        self.client_ip = client_ip
        self.redact = [str(v) for v in redact or () if v]
        self.max_denied_lines = max_denied_lines
        self.lines_read = 0
        self.unparsed = 0
        self.outside_window = 0
        self.without_time = 0
        self.requests = 0
        self.by_status = {}
        self.by_class = {}
        self.clients = {}
        self.paths = {}
        self.seconds = {}
        self.first = None
        self.last = None
        self.denied_lines = []
        self.denied_lines_dropped = 0

    def in_window(self, moment):
        if moment is None:
            return True
        if self.since is not None and moment < self.since:
            return False
        if self.until is not None and moment >= self.until:
            return False
        return True

    def add(self, line, source=None):
        """Count one log line (with or without the kubelet's timestamp)."""
        if not line.strip():
            return
        self.lines_read += 1
        entry, logged_at = parse_line(line)
        if entry is None:
            self.unparsed += 1
            return
        moment = entry["time"] or logged_at
        if moment is None:
            self.without_time += 1
        if not self.in_window(moment):
            self.outside_window += 1
            return
        self.requests += 1
        status = entry["status"]
        self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
        self.by_class[status_class(status)] = self.by_class.get(status_class(status), 0) + 1
        denied = status in DENIED
        client = client_of(entry, self.client_ip) or "-"
        counts = self.clients.setdefault(client, {"requests": 0, "401": 0, "403": 0})
        counts["requests"] += 1
        path = scrub_line(entry["path"], self.redact)
        path_counts = self.paths.setdefault(path, {"requests": 0, "denied": 0})
        path_counts["requests"] += 1
        if denied:
            counts[str(status)] += 1
            path_counts["denied"] += 1
            if len(self.denied_lines) < self.max_denied_lines:
                prefix = "{0} ".format(source) if source else ""
                self.denied_lines.append(prefix + scrub_line(line.rstrip("\r\n"), self.redact))
            else:
                self.denied_lines_dropped += 1
        if moment is not None:
            second = format_time(moment)
            self.seconds[second] = self.seconds.get(second, 0) + 1
            self.first = moment if self.first is None or moment < self.first else self.first
            self.last = moment if self.last is None or moment > self.last else self.last

    def top_clients(self, top, denied_only=False):
        rows = []
        for ip, counts in self.clients.items():
            denied = counts["401"] + counts["403"]
            if denied_only and not denied:
                continue
            rows.append({"ip": ip, "requests": counts["requests"], "denied": denied, "unauthorized": counts["401"], "forbidden": counts["403"]})
        key = (lambda r: (-r["denied"], -r["requests"], r["ip"])) if denied_only else (lambda r: (-r["requests"], -r["denied"], r["ip"]))
        return sorted(rows, key=key)[:top]

    def top_paths(self, top):
        rows = [{"path": path, "requests": c["requests"], "denied": c["denied"]} for path, c in self.paths.items()]
        return sorted(rows, key=lambda r: (-r["requests"], r["path"]))[:top]

    def peak(self):
        if not self.seconds:
            return {"requests_per_second": 0, "at": None}
        second, count = sorted(self.seconds.items(), key=lambda item: (-item[1], item[0]))[0]
        return {"requests_per_second": count, "at": second}

    def report(self, top=DEFAULT_TOP, block_min_requests=DEFAULT_BLOCK_MIN_REQUESTS, block_min_denied=DEFAULT_BLOCK_MIN_DENIED,
               block_private=False, block_exclude=()):
        """The aggregate as plain data (already scrubbed)."""
        by_class = dict(("{0}xx".format(n), self.by_class.get("{0}xx".format(n), 0)) for n in range(1, 6))
        blocks = suggest_blocks(self.clients, block_min_requests, block_min_denied, block_private, block_exclude)
        return dict(
            lines_read=self.lines_read,
            lines_unparsed=self.unparsed,
            lines_outside_window=self.outside_window,
            lines_without_time=self.without_time,
            requests=self.requests,
            by_status_class=by_class,
            by_status=dict(sorted(self.by_status.items())),
            unauthorized=self.by_status.get("401", 0),
            forbidden=self.by_status.get("403", 0),
            clients=len(self.clients),
            top_clients=self.top_clients(top),
            top_denied_clients=self.top_clients(top, denied_only=True),
            top_paths=self.top_paths(top),
            peak=self.peak(),
            first_request=format_time(self.first),
            last_request=format_time(self.last),
            block_list=blocks,
            block_cidrs=[b["cidr"] for b in blocks],
            denied_lines_kept=len(self.denied_lines),
            denied_lines_dropped=self.denied_lines_dropped,
        )


# -- block list ---------------------------------------------------------------------------------------------

def parse_networks(values, what="block_exclude"):
    """ip_network()s of CIDRs or addresses; ValueError naming the bad ones."""
    networks, bad = [], []
    for value in values or ():
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            bad.append(str(value))
    if bad:
        raise ValueError("{0}: not an IP address or CIDR: {1}".format(what, ", ".join(bad)))
    return networks


def is_public(address):
    """Whether an address is globally routable: not private, loopback, link-local, multicast, reserved or unspecified."""
    return address.is_global and not address.is_multicast


def suggest_blocks(clients, min_requests, min_denied, block_private=False, exclude=()):
    """Clients above min_requests requests or min_denied 401/403s (None: that test is off), as CIDRs (/32, /128).

    Never a private, loopback or otherwise non-public address unless block_private, never one inside `exclude`
    (CIDRs), never a client that is not an IP address (a hostname, "-").
    """
    networks = parse_networks(exclude)
    blocks = []
    for ip, counts in clients.items():
        denied = counts["401"] + counts["403"]
        reasons = []
        if min_requests is not None and counts["requests"] >= min_requests:
            reasons.append("{0} requests (threshold {1})".format(counts["requests"], min_requests))
        if min_denied is not None and denied >= min_denied:
            reasons.append("{0} 401/403 responses (threshold {1})".format(denied, min_denied))
        if not reasons:
            continue
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            continue
        if not block_private and not is_public(address):
            continue
        if any(address in network for network in networks):
            continue
        blocks.append({"ip": ip, "cidr": "{0}/{1}".format(ip, address.max_prefixlen), "requests": counts["requests"], "denied": denied,
                       "reason": " and ".join(reasons)})
    return sorted(blocks, key=lambda b: (-b["denied"], -b["requests"], b["ip"]))


# -- evidence -----------------------------------------------------------------------------------------------

def summary_text(report, scope, window):
    """The audit for a human: what was read, the counts, the top talkers, the block list."""
    lines = ["Access-log audit of {0}".format(scope), "window: {0}".format(window),
             "lines read: {0}, access-log requests in the window: {1}, outside the window: {2}, not access-log lines: {3}".format(
                 report["lines_read"], report["requests"], report["lines_outside_window"], report["lines_unparsed"]),
             "401 unauthorized: {0}, 403 forbidden: {1}".format(report["unauthorized"], report["forbidden"]),
             "by status class: " + ", ".join("{0}={1}".format(k, v) for k, v in sorted(report["by_status_class"].items())),
             "peak: {0} requests/s at {1}".format(report["peak"]["requests_per_second"], report["peak"]["at"] or "-"), ""]
    lines.append("top clients (requests, 401/403):")
    lines.extend("  {0:<40} {1:>8} {2:>8}".format(r["ip"], r["requests"], r["denied"]) for r in report["top_clients"])
    lines.append("top clients among 401/403 (401/403, requests):")
    lines.extend("  {0:<40} {1:>8} {2:>8}".format(r["ip"], r["denied"], r["requests"]) for r in report["top_denied_clients"])
    lines.append("top paths (requests, 401/403):")
    lines.extend("  {0:<60} {1:>8} {2:>8}".format(r["path"], r["requests"], r["denied"]) for r in report["top_paths"])
    lines.append("suggested block list:")
    lines.extend("  {0:<44} {1}".format(b["cidr"], b["reason"]) for b in report["block_list"])
    if not report["block_list"]:
        lines.append("  none")
    return "\n".join(lines) + "\n"
