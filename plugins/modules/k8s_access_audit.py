#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_access_audit
short_description: Audit the access logs of a workload's pods in a time window (401/403 counts, top clients, block list)
version_added: 0.1.0
description:
  - Reads the logs of the pods of a Deployment, StatefulSet or DaemonSet, or of the pods matching O(label_selectors),
    and audits the HTTP access-log lines in them. This is the runbooks' C(kubectl logs ... | grep -E "(403|401)")
    after an API key leak or unauthorized access, and their "identify attack IPs" (top talkers) during a DDoS.
  - Understands nginx and Apache combined (and common) log lines, and JSON lines with the usual field names
    (C(status), C(status_code), C(remote_addr), C(client_ip), C(x_forwarded_for), C(path), C(uri), C(request), C(method),
    C(time), C(timestamp), ...; nested objects are read too). Other lines, such as the application's own messages, are
    counted in RV(lines_unparsed) and otherwise ignored.
  - Only requests in the window O(since)..O(before) (or the last O(since_seconds)) are counted. A request's time is the
    time in its line, else the time the kubelet recorded for the line. Lines read but outside the window are counted in
    RV(lines_outside_window); the API already leaves out most lines written before the window.
  - Returns counts by status class and code, the 401 and 403 counts, the top clients overall and among 401/403 responses,
    the top paths, the busiest second, and a suggested block list (RV(block_cidrs)) ready for the O(sre.runbooks.k8s_ingress_guard#module:denylist)
    of M(sre.runbooks.k8s_ingress_guard).
  - Never returns or writes credentials. Before a line is kept or a path is counted, the values of secret-looking query
    parameters (C(api_key), C(token), C(key), C(password), C(signature), ...), C(Authorization), C(Cookie) and API-key
    headers, the literal values in O(redact), and the literal values of secret-looking env variables of the pods are
    replaced by C(<redacted>).
  - With O(dest), writes the audit into a new evidence directory (mode 0700, files 0600). Never changes anything on the
    cluster and always reports RV(ignore:changed=false). In check mode it reads and returns everything but writes no files.
options:
  namespace:
    description: Namespace of the pods.
    type: str
    required: true
  kind:
    description: Kind of the workload named by O(name).
    type: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: Deployment
  name:
    description:
      - Name of the workload whose pods are read (the pods it controls, through its ReplicaSets for a Deployment).
      - One of O(name) and O(label_selectors) is required.
    type: str
  label_selectors:
    description:
      - Without O(name), the pods matching all these selectors, as in P(kubernetes.core.k8s_info#module) (C(app=web)).
      - Mutually exclusive with O(name).
    type: list
    elements: str
  container:
    description: Only this container of each pod. By default every container (not init containers) is read.
    type: str
  previous:
    description:
      - Also read the log of the previous run of each container that restarted (C(kubectl logs --previous)), so
        requests served before a crash or a rollout restart are counted.
    type: bool
    default: false
  since:
    description:
      - Start of the window, RFC 3339 (V(2026-01-03T10:00:00Z)); requests at this time are counted.
      - Mutually exclusive with O(since_seconds). Without both, the whole log is read.
    type: str
  before:
    description:
      - End of the window, RFC 3339, excluded. Without it, up to now.
      - The alias C(until) makes ansible-lint read the option as the task keyword C(until) (its C(jinja[spacing]) rule).
    type: str
    aliases: [until]
  since_seconds:
    description: The window is the last this many seconds.
    type: int
  tail_lines:
    description: Read at most this many of the newest lines of each log (C(kubectl logs --tail)). Unset, whole logs.
    type: int
  client_ip:
    description:
      - Which address is the client.
      - V(auto) takes the first address of X-Forwarded-For when the line has one (behind an ingress controller the
        peer address is the controller), else the peer address (C(remote_addr)).
      - V(remote_addr) always takes the peer address; V(forwarded_for) only X-Forwarded-For (lines without it count as C(-)).
      - X-Forwarded-For is set by the client unless a proxy in front overwrites it. Check before blocking what it names.
    type: str
    choices: [auto, remote_addr, forwarded_for]
    default: auto
  top:
    description: Number of clients and paths in each top list.
    type: int
    default: 10
  block_min_requests:
    description:
      - A client with at least this many requests in the window is suggested for the block list. V(0) turns this test off.
      - The runbooks give no number. The default suits a window of some minutes; lower it for short windows.
    type: int
    default: 1000
  block_min_denied:
    description:
      - A client with at least this many 401 and 403 responses in the window is suggested for the block list. V(0) turns this test off.
    type: int
    default: 20
  block_private:
    description:
      - Also suggest private, loopback, link-local and other non-public addresses (RFC 1918, C(127.0.0.0/8), C(::1),
        documentation ranges...). Off by default, because those are usually the cluster's own proxies and probes.
    type: bool
    default: false
  block_exclude:
    description: Addresses or CIDRs never suggested for the block list, such as the office or a partner.
    type: list
    elements: str
    default: []
  redact:
    description:
      - Literal values that must never appear in the result or the files, such as the leaked key. Each occurrence is
        replaced by C(<redacted>).
    type: list
    elements: str
    default: []
  dest:
    description:
      - Root directory of the evidence. A new directory C(<UTC time>_<namespace>_<name>_access-audit) is created under it
        (mode 0700), holding C(summary.txt), C(audit.json), C(denied.log) (the 401/403 lines, scrubbed) and
        C(blocklist.txt) (one CIDR a line), all mode 0600. O(dest) is created (mode 0700) when missing.
      - Unset, nothing is written.
    type: path
  max_denied_lines:
    description: At most this many 401/403 lines are kept for C(denied.log); the rest are counted in RV(denied_lines_dropped).
    type: int
    default: 10000
attributes:
  check_mode:
    support: full
    details: Reads and returns everything; writes no files.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) on the workload, C(list) on its ReplicaSets or ControllerRevisions and on C(pods), and C(get) on C(pods/log).
  - A container whose log cannot be read (not started yet, node gone) is named in RV(not_read) and a warning; the
    others are still audited. No pod at all is an error.
  - Logs are read whole into memory, one container at a time; use O(since_seconds) or O(tail_lines) on very busy pods.
seealso:
  - module: sre.runbooks.k8s_ingress_guard
  - module: sre.runbooks.k8s_diagnostics
  - module: kubernetes.core.k8s_log
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
requirements:
  - kubernetes >= 24.2.0
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Audit the API's access logs since the key leaked, into the incident's evidence
  sre.runbooks.k8s_access_audit:
    namespace: shop
    name: api
    since: "2026-01-03T09:12:00Z"
    previous: true
    redact:
      - "{{ leaked_key }}"
    dest: /var/tmp/sre-runbooks/evidence
  register: audit

- name: Say who got 401/403
  ansible.builtin.debug:
    msg: "{{ audit.unauthorized }} x 401, {{ audit.forbidden }} x 403; top: {{ audit.top_denied_clients | map(attribute='ip') | join(', ') }}"

- name: Top talkers of the last 10 minutes during a DDoS
  sre.runbooks.k8s_access_audit:
    namespace: shop
    label_selectors:
      - app.kubernetes.io/name=ingress-nginx
    since_seconds: 600
    block_min_requests: 3000
    block_exclude:
      - 198.51.100.0/24
  register: talkers

- name: Deny the top talkers at the ingress
  sre.runbooks.k8s_ingress_guard:
    namespace: shop
    name: api
    denylist: "{{ talkers.block_cidrs }}"
  when: talkers.block_cidrs | length > 0
"""

RETURN = r"""
scope:
  description: What was read.
  returned: success
  type: str
  sample: deployment shop/api
window:
  description: The window audited, RFC 3339 (V(null) for an open end).
  returned: success
  type: dict
  sample: {"since": "2026-01-03T09:12:00Z", "before": null}
sources:
  description: Each log read, with its number of lines.
  returned: success
  type: list
  elements: dict
  sample: [{"pod": "api-7d9c-x2x", "container": "app", "previous": false, "lines": 5120}]
not_read:
  description: Logs that could not be read, and why.
  returned: success
  type: list
  elements: str
lines_read:
  description: Non-empty log lines read.
  returned: success
  type: int
lines_unparsed:
  description: Lines that are not access-log lines (the application's own messages, stack traces...).
  returned: success
  type: int
lines_outside_window:
  description: Access-log lines read but outside the window.
  returned: success
  type: int
lines_without_time:
  description: Access-log lines with no time of their own and no kubelet time; they are counted as in the window.
  returned: success
  type: int
requests:
  description: Access-log lines in the window.
  returned: success
  type: int
by_status_class:
  description: Requests by status class, V(1xx) to V(5xx).
  returned: success
  type: dict
  sample: {"1xx": 0, "2xx": 950, "3xx": 0, "4xx": 48, "5xx": 2}
by_status:
  description: Requests by status code.
  returned: success
  type: dict
  sample: {"200": 950, "401": 40, "403": 8, "503": 2}
unauthorized:
  description: Responses with status 401.
  returned: success
  type: int
forbidden:
  description: Responses with status 403.
  returned: success
  type: int
clients:
  description: Number of distinct clients.
  returned: success
  type: int
top_clients:
  description: The O(top) clients with the most requests; C(denied) is their 401 plus 403 responses.
  returned: success
  type: list
  elements: dict
  sample: [{"ip": "52.14.1.7", "requests": 900, "denied": 40, "unauthorized": 40, "forbidden": 0}]
top_denied_clients:
  description: The O(top) clients with the most 401/403 responses, with the same keys as RV(top_clients).
  returned: success
  type: list
  elements: dict
top_paths:
  description: The O(top) paths (without query string) with the most requests, and their 401/403 responses.
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/api/orders", "requests": 700, "denied": 30}]
peak:
  description: The busiest second of the window.
  returned: success
  type: dict
  sample: {"requests_per_second": 85, "at": "2026-01-03T09:14:02Z"}
first_request:
  description: Time of the first request in the window.
  returned: success
  type: str
last_request:
  description: Time of the last request in the window.
  returned: success
  type: str
block_list:
  description: Clients suggested for blocking, with why.
  returned: success
  type: list
  elements: dict
  sample: [{"ip": "52.14.1.7", "cidr": "52.14.1.7/32", "requests": 900, "denied": 40, "reason": "40 401/403 responses (threshold 20)"}]
block_cidrs:
  description: The CIDRs of RV(block_list), for O(sre.runbooks.k8s_ingress_guard#module:denylist).
  returned: success
  type: list
  elements: str
  sample: ["52.14.1.7/32"]
denied_lines_kept:
  description: 401/403 lines written to C(denied.log) (scrubbed).
  returned: success
  type: int
denied_lines_dropped:
  description: 401/403 lines beyond O(max_denied_lines), counted but not kept.
  returned: success
  type: int
evidence_dir:
  description: The evidence directory written; in check mode, the one that would be written. V(null) without O(dest).
  returned: success
  type: str
files:
  description: The files of the evidence directory, relative to it. Empty without O(dest).
  returned: success
  type: list
  elements: str
  sample: [audit.json, blocklist.txt, denied.log, summary.txt]
"""

import datetime
import json
import math

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.access_log import (
    CLIENT_IP_SOURCES,
    DEFAULT_BLOCK_MIN_DENIED,
    DEFAULT_BLOCK_MIN_REQUESTS,
    DEFAULT_MAX_DENIED_LINES,
    DEFAULT_TOP,
    Audit,
    format_time,
    parse_networks,
    scrub_line,
    summary_text,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.diagnostics import (
    core_api,
    evidence_path,
    selector_string,
    wants_previous_log,
    write_evidence,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.redact import sensitive_values
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    KINDS,
    api_error_text,
    describe,
    list_objects,
    metadata_of,
    parse_time,
    read_owned,
    read_pods,
    read_workload,
    utc_now,
)


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        kind=dict(type="str", choices=list(KINDS), default="Deployment"),
        name=dict(type="str"),
        label_selectors=dict(type="list", elements="str"),
        container=dict(type="str"),
        previous=dict(type="bool", default=False),
        since=dict(type="str"),
        before=dict(type="str", aliases=["until"]),
        since_seconds=dict(type="int"),
        tail_lines=dict(type="int"),
        client_ip=dict(type="str", choices=list(CLIENT_IP_SOURCES), default="auto"),
        top=dict(type="int", default=DEFAULT_TOP),
        block_min_requests=dict(type="int", default=DEFAULT_BLOCK_MIN_REQUESTS),
        block_min_denied=dict(type="int", default=DEFAULT_BLOCK_MIN_DENIED),
        block_private=dict(type="bool", default=False),
        block_exclude=dict(type="list", elements="str", default=[]),
        redact=dict(type="list", elements="str", default=[], no_log=True),
        dest=dict(type="path"),
        max_denied_lines=dict(type="int", default=DEFAULT_MAX_DENIED_LINES),
    )
    return spec


def scope_of(params):
    if params.get("name"):
        return describe(params["kind"], params["namespace"], params["name"])
    return "pods {0} in namespace {1}".format(selector_string(params["label_selectors"]) or "(all)", params["namespace"])


def window_of(params, now):
    """(since, until) as aware datetimes (None: open); ValueError naming the bad option."""
    since = until = None
    if params.get("since"):
        since = _time_option(params, "since")
    if params.get("since_seconds") is not None:
        since = now - datetime.timedelta(seconds=params["since_seconds"])
    if params.get("before"):
        until = _time_option(params, "before")
    if since is not None and since > now:
        raise ValueError("since ({0}) is in the future".format(params["since"]))
    if since is not None and until is not None and until <= since:
        raise ValueError("before ({0}) must be after since ({1})".format(format_time(until), format_time(since)))
    return since, until


def _time_option(params, name):
    try:
        return parse_time(params[name])
    except ValueError as error:
        raise ValueError("{0}: {1}".format(name, error)) from error


def option_problems(params, now):
    problems = []
    for name in ("since_seconds", "tail_lines", "top"):
        if params.get(name) is not None and params[name] < (0 if name == "tail_lines" else 1):
            problems.append("{0} must be {1} or more, got {2}".format(name, 0 if name == "tail_lines" else 1, params[name]))
    for name in ("block_min_requests", "block_min_denied", "max_denied_lines"):
        if params[name] < 0:
            problems.append("{0} must be 0 or more, got {1}".format(name, params[name]))
    try:
        window_of(params, now)
    except ValueError as error:
        problems.append(str(error))
    try:
        parse_networks(params["block_exclude"])
    except ValueError as error:
        problems.append(str(error))
    return problems


def check_options(module):
    problems = option_problems(module.params, utc_now())
    if problems:
        raise RunbookError("audit the access logs of", scope_of(module.params), "; ".join(problems))


def read_target_pods(client, params):
    namespace = params["namespace"]
    if params.get("name"):
        workload = read_workload(client, params["kind"], namespace, params["name"])
        owned = read_owned(client, params["kind"], workload)
        return read_pods(client, params["kind"], workload, owned)
    selector = selector_string(params["label_selectors"])
    return list_objects(client, "Pod", "v1", namespace, "namespace {0}".format(namespace), **({"label_selector": selector} if selector else {}))


def read_log(core, namespace, pod, container, previous, since_seconds, tail_lines):
    """The log text with the kubelet's timestamps. Read raw: the client's str deserialization mangles a log that is one JSON object."""
    kwargs = dict(container=container, previous=previous, timestamps=True, _preload_content=False)
    if since_seconds is not None:
        kwargs["since_seconds"] = since_seconds
    if tail_lines is not None:
        kwargs["tail_lines"] = tail_lines
    response = core.read_namespaced_pod_log(pod, namespace, **kwargs)
    data = response.data
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def logs_to_read(pods, container=None, previous=False):
    """(pod, container, previous) for each log to read; and the pods without the asked container."""
    wanted, missing = [], []
    for pod in sorted(pods, key=lambda p: metadata_of(p).get("name") or ""):
        name = metadata_of(pod).get("name")
        statuses = dict((c.get("name"), c) for c in (pod.get("status") or {}).get("containerStatuses") or [])
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container is not None:
            if container not in names:
                missing.append(name)
                continue
            names = [container]
        for cname in names:
            if previous and wants_previous_log(statuses.get(cname) or {}):
                wanted.append((name, cname, True))
            wanted.append((name, cname, False))
    return wanted, missing


def audit(module, client):
    params = module.params
    now = utc_now()
    since, until = window_of(params, now)
    scope = scope_of(params)
    pods = read_target_pods(client, params)
    if not pods:
        raise RunbookError("audit the access logs of", scope, "no pod found")
    literals = [v for v in params["redact"] if v] + sorted(sensitive_values(pods))
    wanted, missing = logs_to_read(pods, params.get("container"), params["previous"])
    not_read = ["pod {0} has no container {1}".format(name, params["container"]) for name in missing]
    # The API filters whole seconds; one more so the window's first second is read whole.
    since_seconds = max(1, int(math.ceil((now - since).total_seconds())) + 1) if since is not None else None
    state = Audit(since=since, until=until, client_ip=params["client_ip"], redact=literals, max_denied_lines=params["max_denied_lines"])
    core = core_api(client)
    sources = []
    for pod, container, previous in wanted:
        try:
            text = read_log(core, params["namespace"], pod, container, previous, since_seconds, params.get("tail_lines"))
        except Exception as error:  # pylint: disable=broad-exception-caught
            # A container not started yet or a node gone: say which, audit the others.
            not_read.append(scrub_line("{0}log of container {1} of pod {2}: {3}".format(
                "previous " if previous else "", container, pod, api_error_text(error)), literals))
            continue
        label = "{0}/{1}{2}".format(pod, container, " (previous)" if previous else "")
        count = 0
        for line in text.splitlines():
            if line.strip():
                count += 1
                state.add(line, label)
        sources.append({"pod": pod, "container": container, "previous": previous, "lines": count})
    if not sources:
        raise RunbookError("audit the access logs of", scope, "no log could be read: " + "; ".join(not_read))
    for note in not_read:
        module.warn("Not read: {0}".format(note))
    report = state.report(top=params["top"], block_min_requests=params["block_min_requests"] or None,
                          block_min_denied=params["block_min_denied"] or None, block_private=params["block_private"],
                          block_exclude=params["block_exclude"])
    window = {"since": format_time(since), "before": format_time(until)}
    window_text = "{0} .. {1}".format(window["since"] or "start of the logs", window["before"] or "now ({0})".format(format_time(now)))
    evidence_dir, files = None, {}
    if params.get("dest"):
        files = {
            "summary.txt": summary_text(report, scope, window_text),
            "audit.json": json.dumps(dict(report, scope=scope, window=window, sources=sources, not_read=not_read,
                                          audited_at=format_time(now)), indent=2, sort_keys=True) + "\n",
            "denied.log": "".join(line + "\n" for line in state.denied_lines),
            "blocklist.txt": "".join(cidr + "\n" for cidr in report["block_cidrs"]),
        }
        evidence_dir = evidence_path(params["dest"], now, params["namespace"], "{0}_access-audit".format(params.get("name") or "pods"))
        if not module.check_mode:
            try:
                write_evidence(files, evidence_dir)
            except (OSError, IOError) as error:
                raise RunbookError("write the evidence to", evidence_dir, error) from error
    return module.result(changed=False, scope=scope, window=window, sources=sources, not_read=not_read,
                         evidence_dir=evidence_dir, files=sorted(files), **report)


def main():
    module = RunbookModule(
        argument_spec=argument_spec(),
        required_libs=K8S_REQUIRED_LIBS,
        mutually_exclusive=[("name", "label_selectors"), ("since", "since_seconds")],
        required_one_of=[("name", "label_selectors")],
    )
    module.run(audit, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
