#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_pod_disk_cleanup
short_description: Free disk space inside a container with the rules of sre.runbooks.disk_cleanup, through the exec API
version_added: 0.1.0
description:
  - Replaces the runbooks' C(kubectl exec ... -- rm -rf /tmp/* /var/log/omendb/*.log.old) with the same selection as
    M(sre.runbooks.disk_cleanup) (roots, patterns, age, size, keep newest, protected paths, no symlink followed, one
    filesystem, refused roots, usage threshold, oldest first to a free-space target, deleted-but-open files), run in the
    container.
  - The scanner is this collection's C(module_utils/storage/cleanup.py), sent compressed on the command line of
    C(python3 -c) through the pods/exec API, as C(kubectl exec) does. Nothing is copied into the container.
    The container needs C(python3) (3.6 or later, standard library only) at O(python); without it the module fails and says so.
  - Check mode runs the scanner in its check mode, which lists exactly what would be removed and deletes nothing.
  - Declarative. A second run finds nothing left and reports C(changed=false).
  - Dangerous roots are refused before anything is sent to the pod (by name), and again in the container (after
    resolving symbolic links there).
options:
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  pod:
    description: Name of the pod.
    type: str
    required: true
  container:
    description: Container to clean. Default, the pod's first container.
    type: str
  python:
    description: Path or name of the Python 3 interpreter in the container.
    type: str
    default: python3
  exec_timeout:
    description: Seconds the scan may take in the container before the module gives up.
    type: int
    default: 600
  roots:
    description: Directories to clean in the container (see M(sre.runbooks.disk_cleanup)).
    type: list
    elements: str
    required: true
  patterns:
    description: Shell globs selecting files (see M(sre.runbooks.disk_cleanup)).
    type: list
    elements: str
    default: ['*']
  min_age:
    description: Only files last modified at least this long ago (V(30d), V(12h)...).
    type: str
    default: '0'
  min_size:
    description: Only files at least this large (V(100M)...).
    type: str
    default: '0'
  keep_newest:
    description: Keep the newest N files of each pattern.
    type: int
    default: 0
  protected:
    description: Absolute paths or globs never deleted.
    type: list
    elements: str
    default: []
  one_filesystem:
    description: Do not enter other filesystems (a volume mounted below a root is another filesystem).
    type: bool
    default: true
  usage_threshold:
    description: Act only when the filesystem is more than this percent used.
    type: float
  target_free_percent:
    description: Delete oldest first until this percent is free, then stop.
    type: float
  truncate_deleted_open:
    description: Truncate deleted-but-open files the rules select (the container's own processes).
    type: bool
    default: false
  report_limit:
    description: At most this many files in RV(files).
    type: int
    default: 1000
  plan_batch:
    description: With O(target_free_percent), at most this many files planned at once.
    type: int
    default: 50000
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) on C(pods) and C(create) on C(pods/exec).
  - The scan runs as the container's user; files it may not delete are counted in C(errors).
seealso:
  - module: sre.runbooks.disk_cleanup
  - module: kubernetes.core.k8s_exec
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: The runbook's rm -rf /tmp/* /var/log/omendb/*.log.old, inside the pod, provably
  sre.runbooks.k8s_pod_disk_cleanup:
    namespace: omendb-prod
    pod: prod-omendb-0
    roots: [/tmp, /var/log/omendb]
    patterns: ["*.log.old", "tmp*"]
    protected: [/var/log/omendb/current.log]
"""

RETURN = r"""
command:
  description: The command run in the container, with the scanner's source left out (C(<scanner>)).
  returned: success
  type: list
  elements: str
container:
  description: The container cleaned.
  returned: success
  type: str
removed_files:
  description: Files removed (would be, in check mode).
  returned: success
  type: int
removed_bytes:
  description: Their bytes.
  returned: success
  type: int
files:
  description: The first O(report_limit) files, C(path), C(bytes), C(mtime).
  returned: success
  type: list
  elements: dict
roots:
  description: Per root figures, as M(sre.runbooks.disk_cleanup) returns them.
  returned: success
  type: list
  elements: dict
filesystems:
  description: Per filesystem usage before and after, as M(sre.runbooks.disk_cleanup) returns them.
  returned: success
  type: list
  elements: dict
deleted_open:
  description: Deleted-but-open files under the roots, as M(sre.runbooks.disk_cleanup) returns them.
  returned: success
  type: list
  elements: dict
actions:
  description: What was (would be) done.
  returned: success
  type: list
  elements: str
"""

import re

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.nodes import status_cause
from ansible_collections.sre.runbooks.plugins.module_utils.storage.cleanup import (
    DEFAULT_PLAN_BATCH,
    DEFAULT_REPORT_LIMIT,
    CleanupError,
    Selection,
)
from ansible_collections.sre.runbooks.plugins.module_utils.storage.plan import (
    cleanup_actions,
    request_from_params,
    scanner_command,
    scanner_result,
)


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        pod=dict(type="str", required=True),
        container=dict(type="str"),
        python=dict(type="str", default="python3"),
        exec_timeout=dict(type="int", default=600),
        roots=dict(type="list", elements="str", required=True),
        patterns=dict(type="list", elements="str", default=["*"]),
        min_age=dict(type="str", default="0"),
        min_size=dict(type="str", default="0"),
        keep_newest=dict(type="int", default=0),
        protected=dict(type="list", elements="str", default=[]),
        one_filesystem=dict(type="bool", default=True),
        usage_threshold=dict(type="float"),
        target_free_percent=dict(type="float"),
        truncate_deleted_open=dict(type="bool", default=False),
        report_limit=dict(type="int", default=DEFAULT_REPORT_LIMIT),
        plan_batch=dict(type="int", default=DEFAULT_PLAN_BATCH),
    )
    return spec


def target_of(params):
    return "pod {0}/{1}".format(params["namespace"], params["pod"])


def check_options(module):
    """Refuse bad rules and dangerous roots (by name; the scanner checks again after resolving links) before connecting."""
    request = request_from_params(module.params, module.check_mode)
    try:
        Selection(request["roots"], patterns=request.get("patterns"), min_age=request.get("min_age"), min_size=request.get("min_size"),
                  keep_newest=request.get("keep_newest"), protected=request.get("protected"), usage_threshold=request.get("usage_threshold"),
                  target_free_percent=request.get("target_free_percent"), plan_batch=request.get("plan_batch"), realpath=lambda path: path)
    except CleanupError as error:
        raise RunbookError("clean", target_of(module.params), str(error)) from error
    if module.params["exec_timeout"] < 1:
        raise RunbookError("clean", target_of(module.params), "exec_timeout must be 1 or more seconds")


def pick_container(pod, wanted, target):
    """The container to exec into: the one named, else the first; it must be running."""
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or ()]
    name = wanted or (names[0] if names else None)
    if name not in names:
        raise RunbookError("clean", target, "it has no container {0} (containers: {1})".format(name, ", ".join(names) or "none"))
    statuses = dict((s.get("name"), s) for s in (pod.get("status") or {}).get("containerStatuses") or ())
    if "running" not in ((statuses.get(name) or {}).get("state") or {}):
        raise RunbookError("clean", target, "container {0} is not running (phase {1}): exec needs a running container".format(
            name, (pod.get("status") or {}).get("phase")))
    return name


def exec_in_pod(core, namespace, pod, container, command, timeout):
    """Run command in the container like kubectl exec; returns (returncode, stdout, stderr)."""
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel
    resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command, container=container,
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    stdout, stderr = [], []
    deadline = time.monotonic() + timeout
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            stdout.append(resp.read_stdout())
        if resp.peek_stderr():
            stderr.append(resp.read_stderr())
        if time.monotonic() > deadline:
            resp.close()
            raise RunbookError("clean", "pod {0}/{1}".format(namespace, pod), "the scan did not finish within {0} s".format(timeout))
    status = yaml.safe_load(resp.read_channel(3) or "{}") or {}
    returncode = 0
    if status.get("status") and status.get("status") != "Success":
        causes = (status.get("details") or {}).get("causes") or [{}]
        try:
            returncode = int(causes[0].get("message"))
        except (TypeError, ValueError):
            returncode = 1
            stderr.append(status.get("message") or "")
    return returncode, "".join(stdout), "".join(stderr)


def exec_cause(error):
    """The API's Status message of a refused exec (the websocket handshake's body), else the usual cause."""
    match = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', str(getattr(error, "reason", "") or "") + " " + str(error))
    if match:
        return "the API refused the exec: {0}".format(match.group(1).replace('\\"', '"'))
    return status_cause(error)


def clean_pod(module, client):
    params = module.params
    target = target_of(params)
    from ansible_collections.sre.runbooks.plugins.module_utils.k8s.diagnostics import core_api  # pylint: disable=import-outside-toplevel
    core = core_api(client)
    try:
        pod = client.get(client.resource("Pod", "v1"), name=params["pod"], namespace=params["namespace"]).to_dict()
    except Exception as error:  # pylint: disable=broad-exception-caught
        if getattr(error, "status", None) == 404:
            raise RunbookError("clean", target, "it does not exist") from error
        raise RunbookError("read", target, status_cause(error)) from error
    container = pick_container(pod, params.get("container"), target)
    request = request_from_params(params, module.check_mode)
    command = scanner_command(request, params["python"])
    try:
        returncode, stdout, stderr = exec_in_pod(core, params["namespace"], params["pod"], container, command, params["exec_timeout"])
    except RunbookError:
        raise
    except Exception as error:  # pylint: disable=broad-exception-caught
        raise RunbookError("exec the cleanup scanner in", "{0} container {1}".format(target, container), exec_cause(error)) from error
    try:
        result = scanner_result(returncode, stdout, stderr, params["python"])
    except ValueError as error:
        raise RunbookError("clean", "{0} container {1}".format(target, container), str(error)) from error
    actions, warnings = cleanup_actions(result, module.check_mode)
    for warning in warnings:
        module.warn(warning)
    changed = result.pop("changed", False)
    shown = command[:2] + ["<scanner>"] + command[3:]
    return module.result(changed=changed, actions=actions, command=shown, container=container, **result)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(clean_pod, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
