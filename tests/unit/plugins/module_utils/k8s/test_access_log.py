# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Access-log audit: parsing nginx/Apache and JSON lines, the window, the counts, the block list, and no secret kept."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.access_log import (
    Audit,
    parse_access_time,
    parse_line,
    parse_networks,
    scrub_line,
    suggest_blocks,
    summary_text,
)

UTC = datetime.timezone.utc
TOKEN = "sk-live-9f8e7d6c5b4a"


def at(minute, second=0):
    return datetime.datetime(2026, 1, 3, 10, minute, second, tzinfo=UTC)


def combined(ip, status, path="/api/orders", minute=0, second=0, method="GET", extra=""):
    return '{0} - - [03/Jan/2026:10:{1:02d}:{2:02d} +0000] "{3} {4} HTTP/1.1" {5} 512 "-" "curl/8.0"{6}'.format(
        ip, minute, second, method, path, status, extra)


def test_combined_line():
    entry, logged = parse_line(combined("52.14.1.7", 401, "/api/orders?page=2", 5, 7, "POST"))
    assert logged is None
    assert entry == dict(remote="52.14.1.7", forwarded_for=None, method="POST", path="/api/orders", status=401, time=at(5, 7))


def test_common_line_and_nginx_ingress_tail_and_forwarded_for():
    entry = parse_line('10.0.0.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')[0]
    assert entry["status"] == 200 and entry["time"].utcoffset() == datetime.timedelta(hours=-7)
    entry = parse_line(combined("10.0.0.9", 403, extra=' "52.14.1.7, 10.0.0.1"'))[0]
    assert entry["forwarded_for"] == "52.14.1.7" and entry["remote"] == "10.0.0.9"
    # ingress-nginx's own format: more fields after the agent
    entry = parse_line(combined("52.14.1.8", 200, extra=" 455 0.004 [shop-api-80] [] 10.244.1.5:8080 512 0.004 200 abc123"))[0]
    assert entry["status"] == 200 and entry["forwarded_for"] is None


def test_kubelet_timestamp_is_split_off():
    entry, logged = parse_line("2026-01-03T10:00:01.123456789Z " + combined("52.14.1.7", 200))
    assert logged == datetime.datetime(2026, 1, 3, 10, 0, 1, 123456, tzinfo=UTC) and entry["status"] == 200


@pytest.mark.parametrize("obj,expected", [
    ({"status": 403, "remote_addr": "52.14.1.7", "path": "/admin?token=x", "method": "GET", "time": "2026-01-03T10:00:00Z"},
     ("52.14.1.7", None, "GET", "/admin", 403, at(0))),
    ({"status_code": "401", "client_ip": "52.14.1.7", "request": "DELETE /api/x?key=1 HTTP/2", "timestamp": 1767434400},
     ("52.14.1.7", None, "DELETE", "/api/x", 401, at(0))),
    ({"http": {"status": 200, "method": "PUT"}, "remote_ip": "10.1.1.1", "x_forwarded_for": "52.14.1.9,10.0.0.1",
      "uri": "/p", "ts": 1767434400000},
     ("10.1.1.1", "52.14.1.9", "PUT", "/p", 200, at(0))),
    ({"statusCode": 500, "X-Forwarded-For": "52.14.1.9", "url": "https://api.example.com/v1/x?sig=abc", "time_local": "03/Jan/2026:10:00:00 +0000"},
     (None, "52.14.1.9", "", "/v1/x", 500, at(0))),
])
def test_json_lines(obj, expected):
    entry = parse_line(json.dumps(obj))[0]
    assert (entry["remote"], entry["forwarded_for"], entry["method"], entry["path"], entry["status"], entry["time"]) == expected


@pytest.mark.parametrize("line", [
    "2026-01-03T10:00:00Z INFO  starting web (image shop:v1), attempt 0",
    '{"level": "info", "msg": "ready"}',
    '{"status": "ok"}',
    '{"status": 42}',
    "[1, 2]",
    "{not json",
    "",
])
def test_lines_that_are_not_access_lines(line):
    assert parse_line(line)[0] is None


def test_parse_access_time_forms():
    assert parse_access_time("2026-01-03T10:00:00Z") == at(0)
    assert parse_access_time("2026-01-03 10:00:00+00:00") == at(0)
    assert parse_access_time("1767434400.5") == at(0).replace(microsecond=500000)
    assert parse_access_time("yesterday") is None and parse_access_time(None) is None and parse_access_time(True) is None


def test_scrub_line_removes_credentials_everywhere():
    lines = [
        combined("52.14.1.7", 401, "/api?api_key={0}&page=2".format(TOKEN)),
        combined("52.14.1.7", 401, "/api?key={0}".format(TOKEN)),
        combined("52.14.1.7", 401, "/s3?X-Amz-Signature={0}&X-Amz-Credential={0}".format(TOKEN)),
        combined("52.14.1.7", 401, "/cb?access_token={0}#frag".format(TOKEN)),
        json.dumps({"status": 401, "path": "/x?token=" + TOKEN, "authorization": "Bearer " + TOKEN, "headers": {"Cookie": "session=" + TOKEN}}),
        "2026-01-03T10:00:00Z Authorization: Basic {0}".format(TOKEN),
        'curl -H "X-Api-Key: {0}" /x'.format(TOKEN),
        "password={0}".format(TOKEN),
    ]
    for line in lines:
        scrubbed = scrub_line(line)
        assert TOKEN not in scrubbed, scrubbed
        assert "<redacted>" in scrubbed
    assert "page=2" in scrub_line(lines[0])
    assert scrub_line("the leaked value is hunter22", ["hunter22"]) == "the leaked value is <redacted>"
    # the JSON stays JSON
    assert json.loads(scrub_line(lines[4]))["authorization"] == "<redacted>"


def audit_of(lines, **kwargs):
    audit = Audit(**kwargs)
    for line in lines:
        audit.add(line, "web-1/app")
    return audit


def test_counts_window_and_top_lists():
    lines = (
        [combined("52.14.1.7", 401, "/api/orders?key=" + TOKEN, 1, s) for s in range(30)]
        + [combined("52.14.1.7", 200, "/api/orders", 1, 30)]
        + [combined("52.14.1.8", 403, "/admin", 2, s) for s in range(5)]
        + [combined("52.14.1.9", 200, "/", 3, 0)] * 12
        + [combined("52.14.1.9", 500, "/", 3, 1)]
        + [combined("52.14.1.10", 401, "/api", 20, 0)] * 4      # after until
        + [combined("52.14.1.10", 401, "/api", 0, 0)] * 3       # before since (10:00:00 is in, see below)
        + ["2026-01-03T10:01:00Z INFO  listening on :8080", "garbage", ""]
    )
    audit = audit_of(lines, since=at(0, 30), until=at(10))
    report = audit.report(top=2, block_min_requests=None, block_min_denied=20)
    assert report["lines_read"] == len(lines) - 1
    assert report["lines_unparsed"] == 2 and report["lines_outside_window"] == 7 and report["lines_without_time"] == 0
    assert report["requests"] == 30 + 1 + 5 + 12 + 1
    assert report["unauthorized"] == 30 and report["forbidden"] == 5
    assert report["by_status"] == {"200": 13, "401": 30, "403": 5, "500": 1}
    assert report["by_status_class"] == {"1xx": 0, "2xx": 13, "3xx": 0, "4xx": 35, "5xx": 1}
    assert report["top_clients"] == [
        {"ip": "52.14.1.7", "requests": 31, "denied": 30, "unauthorized": 30, "forbidden": 0},
        {"ip": "52.14.1.9", "requests": 13, "denied": 0, "unauthorized": 0, "forbidden": 0}]
    assert [c["ip"] for c in report["top_denied_clients"]] == ["52.14.1.7", "52.14.1.8"]
    assert report["top_paths"][0] == {"path": "/api/orders", "requests": 31, "denied": 30}
    assert report["peak"] == {"requests_per_second": 12, "at": "2026-01-03T10:03:00Z"}
    assert report["first_request"] == "2026-01-03T10:01:00Z" and report["last_request"] == "2026-01-03T10:03:01Z"
    assert report["block_cidrs"] == ["52.14.1.7/32"] and "30 401/403 responses (threshold 20)" in report["block_list"][0]["reason"]
    assert report["clients"] == 3
    # the 401/403 lines are kept for the evidence, scrubbed, with their source
    assert len(audit.denied_lines) == 35 and all(l.startswith("web-1/app ") for l in audit.denied_lines)
    assert not any(TOKEN in l for l in audit.denied_lines)
    assert TOKEN not in json.dumps(report) and TOKEN not in summary_text(report, "deployment shop/web", "w")


def test_window_edges_and_lines_without_time():
    audit = audit_of([combined("52.14.1.7", 200, minute=0), combined("52.14.1.7", 200, minute=10),
                      json.dumps({"status": 200, "remote_addr": "52.14.1.7"})], since=at(0), until=at(10))
    report = audit.report()
    # since is included, until is not; a line with no time at all is counted in the window
    assert report["requests"] == 2 and report["lines_outside_window"] == 1 and report["lines_without_time"] == 1
    # the kubelet's time stands in for a line without its own
    audit = audit_of(["2026-01-03T09:00:00Z " + json.dumps({"status": 200})], since=at(0))
    assert audit.report()["lines_outside_window"] == 1


def test_client_ip_source():
    line = combined("10.0.0.9", 200, extra=' "52.14.1.7"')
    assert audit_of([line]).report()["top_clients"][0]["ip"] == "52.14.1.7"
    assert audit_of([line], client_ip="remote_addr").report()["top_clients"][0]["ip"] == "10.0.0.9"
    assert audit_of([combined("10.0.0.9", 200)], client_ip="forwarded_for").report()["top_clients"][0]["ip"] == "-"


def test_denied_lines_are_capped():
    audit = audit_of([combined("52.14.1.7", 401)] * 5, max_denied_lines=2)
    assert len(audit.denied_lines) == 2 and audit.report()["denied_lines_dropped"] == 3


def counts(requests, unauthorized=0, forbidden=0):
    return {"requests": requests, "401": unauthorized, "403": forbidden}


def test_block_list_thresholds_private_and_excluded():
    clients = {
        "52.14.1.7": counts(5000), "52.14.1.8": counts(30, 25), "52.14.1.9": counts(999, 19),
        "10.0.0.5": counts(9000), "127.0.0.1": counts(9000), "203.0.113.5": counts(9000), "-": counts(9000),
        "2600:1f18::1": counts(2000), "52.15.0.1": counts(4000),
    }
    blocks = suggest_blocks(clients, 1000, 20, exclude=["52.15.0.0/16"])
    assert [b["cidr"] for b in blocks] == ["52.14.1.8/32", "52.14.1.7/32", "2600:1f18::1/128"]
    with_private = suggest_blocks(clients, 1000, 20, block_private=True)
    assert {"10.0.0.5/32", "127.0.0.1/32", "203.0.113.5/32", "52.15.0.1/32"} <= set(b["cidr"] for b in with_private)
    assert suggest_blocks(clients, None, None) == []
    assert [b["ip"] for b in suggest_blocks(clients, None, 20)] == ["52.14.1.8"]


def test_parse_networks():
    assert [str(n) for n in parse_networks(["10.0.0.0/8", "52.14.1.7", "2600::/16"])] == ["10.0.0.0/8", "52.14.1.7/32", "2600::/16"]
    with pytest.raises(ValueError, match="not an IP address or CIDR: 10.0.0.0/33, nope"):
        parse_networks(["10.0.0.0/33", "nope"])
