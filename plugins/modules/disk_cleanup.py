#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: disk_cleanup
short_description: Free disk space on a host by deleting exactly the files the rules select, safely
version_added: 0.1.0
description:
  - Replaces the runbooks' C(find /var/log -type f -name "*.log" -mtime +30 -delete) and C(rm -rf /tmp/*) with a
    cleanup whose selection is explicit and provable.
  - Selects regular files under O(roots) by O(patterns), O(min_age), O(min_size), and keeps the newest
    O(keep_newest) of each pattern.
  - Never deletes a O(protected) path, a symbolic link, or anything reached through one. Never enters another
    filesystem unless O(one_filesystem=false). Refuses dangerous roots (C(/), C(/etc), C(/usr), C(/boot), C(/bin),
    C(/lib), C(/var), C(/var/lib), C(/home), C(/opt), C(/root), and anything inside C(/etc), C(/usr), C(/boot),
    C(/proc), C(/sys), C(/dev), C(/lib*), C(/var/lib/etcd), C(/var/lib/postgresql), C(/var/lib/mysql)...), also when
    a root is a symbolic link to one. Directories inside them, such as C(/var/log) or C(/var/tmp), are allowed.
  - Acts only when the filesystem is more used than O(usage_threshold), when given. With O(target_free_percent),
    deletes the selected files oldest first and stops as soon as the filesystem really has that much free space
    (measured after every deletion).
  - Finds files deleted while a process still holds them open (their space is not given back), reports them with
    their holders and, with O(truncate_deleted_open), truncates those the rules select (rotated logs).
  - Declarative. A second run finds nothing left to delete (or the target met) and reports C(changed=false).
  - In check mode nothing is deleted. RV(files) (and the O(manifest) file) list exactly what would be removed, with bytes.
  - Scans with C(os.scandir), streaming. Without a target, files are deleted during the scan. Oldest-first keeps only
    the oldest files covering the missing bytes in a heap of at most O(plan_batch) entries, and scans again after
    each batch when more must go.
options:
  roots:
    description:
      - Directories to clean. Each is resolved (symbolic links followed) before it is checked against the refused roots.
      - Roots on the same filesystem share its O(usage_threshold) and O(target_free_percent).
    type: list
    elements: path
    required: true
  patterns:
    description:
      - Shell globs selecting files. A glob without C(/) matches the file name (V(*.log), V(*.log.[0-9]*), V(*.gz)),
        one with C(/) the path relative to the root (V(omendb/*.log.old)). Case-sensitive.
      - A file belongs to the first pattern that matches; O(keep_newest) counts per pattern.
    type: list
    elements: str
    default: ['*']
  min_age:
    description:
      - Only files last modified at least this long ago, V(30d), V(12h), V(90m), V(45s), V(2w), or seconds.
      - C(find -mtime +30) is V(30d).
    type: str
    default: '0'
  min_size:
    description: Only files at least this large, V(100M), V(1G), V(512K), or bytes (binary units).
    type: str
    default: '0'
  keep_newest:
    description:
      - Keep the newest N files of each pattern under each root, whatever their age.
    type: int
    default: 0
  protected:
    description:
      - Absolute paths (with everything below them) or absolute globs that are never deleted. Protected
        directories are not entered.
    type: list
    elements: str
    default: []
  one_filesystem:
    description: Do not enter directories on another filesystem than their root (C(find -xdev)).
    type: bool
    default: true
  usage_threshold:
    description:
      - Act only when the root's filesystem is more than this percent used (as C(df) shows Use%). Otherwise nothing is
        deleted and RV(filesystems) says why.
    type: float
  target_free_percent:
    description:
      - Delete the selected files oldest first until the filesystem has this percent free, then stop.
      - When every selected file is gone and the target is still not met, the module warns and RV(filesystems) has
        C(target_reached=false). The filesystem then needs more room (M(sre.runbooks.k8s_pvc_expand) for a volume).
      - Without it every selected file is deleted.
    type: float
  truncate_deleted_open:
    description:
      - Truncate deleted-but-open files that the rules select (under a root, matching O(patterns), not protected), such as a
        log rotated away while the application still writes it. Their space comes back at once.
    type: bool
    default: false
  report_limit:
    description: At most this many files in RV(files). The totals always count every file.
    type: int
    default: 1000
  manifest:
    description:
      - A file to write every removed (in check mode, selected) file to, one line each, C(bytes<TAB>mtime<TAB>path).
      - Written in check mode too, as the exact list check mode promises.
    type: path
  plan_batch:
    description: With O(target_free_percent), at most this many files are planned at once (about 600 bytes of memory each).
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
  - Needs read access to C(/proc/<pid>/fd) of other processes (root) to see every deleted-but-open file.
  - Hard-linked files free nothing while another link remains; RV(roots) counts them in C(removed_bytes) but not in C(freed_estimate).
seealso:
  - module: sre.runbooks.disk_usage_info
  - module: sre.runbooks.k8s_pod_disk_cleanup
  - module: sre.runbooks.k8s_pvc_expand
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: The runbook's find /var/log -type f -name "*.log" -mtime +30 -delete, provably
  sre.runbooks.disk_cleanup:
    roots: [/var/log]
    patterns: ["*.log", "*.log.[0-9]*", "*.gz"]
    min_age: 30d
    protected: [/var/log/audit]

- name: Free /data down to 20% free, oldest rotated logs first, only when above 85% used
  sre.runbooks.disk_cleanup:
    roots: [/data/logs]
    patterns: ["*.log.*"]
    keep_newest: 3
    usage_threshold: 85
    target_free_percent: 20
    truncate_deleted_open: true
  register: cleaned
"""

RETURN = r"""
removed_files:
  description: Files removed (in check mode, that would be).
  returned: success
  type: int
  sample: 1204
removed_bytes:
  description: Their size in bytes.
  returned: success
  type: int
  sample: 734003200
files:
  description: The first O(report_limit) files removed (would be, in check mode), in deletion order.
  returned: success
  type: list
  elements: dict
  sample: [{"path": "/var/log/app/app.log.7", "bytes": 104857600, "mtime": 1764000000}]
files_truncated:
  description: Whether RV(files) was cut at O(report_limit).
  returned: success
  type: bool
roots:
  description:
    - Per root, C(path), C(removed_files), C(removed_bytes), C(freed_estimate) (blocks given back) and what the scan saw, C(scanned_files),
      C(matched_files), C(kept_newest), and skipped, C(protected), C(symlinks), C(other_filesystems), C(errors), C(changed_meanwhile).
  returned: success
  type: list
  elements: dict
filesystems:
  description:
    - Per filesystem, its C(roots), usage C(before) and C(after) (C(size), C(free), C(used_percent), C(free_percent)), C(triggered),
      C(target_reached) and a C(reason) when nothing was done or the target was missed.
  returned: success
  type: list
  elements: dict
deleted_open:
  description: Files deleted from under the roots but held open, with C(path), C(bytes), C(holders) (C(pid), C(fd), C(command)) and C(truncated).
  returned: success
  type: list
  elements: dict
truncated_bytes:
  description: Bytes given back by truncating deleted-but-open files (would be, in check mode).
  returned: success
  type: int
actions:
  description: One sentence per root or filesystem on what was (would be) done.
  returned: success
  type: list
  elements: str
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.storage.cleanup import (
    DEFAULT_PLAN_BATCH,
    DEFAULT_REPORT_LIMIT,
    CleanupError,
    run_request,
)
from ansible_collections.sre.runbooks.plugins.module_utils.storage.plan import cleanup_actions, request_from_params


def argument_spec():
    return dict(
        roots=dict(type="list", elements="path", required=True),
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
        manifest=dict(type="path"),
        plan_batch=dict(type="int", default=DEFAULT_PLAN_BATCH),
    )


def clean_disk(module):
    request = request_from_params(module.params, module.check_mode)
    request["manifest"] = module.params.get("manifest")
    try:
        result = run_request(request)
    except CleanupError as error:
        raise RunbookError("clean", "roots {0}".format(", ".join(module.params["roots"])), str(error)) from error
    except OSError as error:
        raise RunbookError("clean", "roots {0}".format(", ".join(module.params["roots"])), error) from error
    actions, warnings = cleanup_actions(result, module.check_mode)
    for warning in warnings:
        module.warn(warning)
    changed = result.pop("changed")
    return module.result(changed=changed, actions=actions, **result)


def main():
    module = RunbookModule(argument_spec=argument_spec())
    module.run(clean_disk)


if __name__ == "__main__":
    main()
