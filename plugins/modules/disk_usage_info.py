#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: disk_usage_info
short_description: The top disk consumers under directories (df and du, without a shell)
version_added: 0.1.0
description:
  - Replaces the runbooks' C(df -h) and C(du -sh *) when a disk fills up. For each of O(paths), returns its filesystem's usage
    and the largest directories (down to O(depth) levels) and files below it.
  - Read-only. Streams the tree with C(os.scandir); memory is one counter per directory down to O(depth) and O(top) files.
  - Symbolic links are not followed, and other filesystems are not entered unless O(one_filesystem=false).
options:
  paths:
    description: Directories to measure.
    type: list
    elements: path
    required: true
  top:
    description: How many directories and files to return per path.
    type: int
    default: 10
  depth:
    description: Directories are measured down to this many levels below each path.
    type: int
    default: 2
  one_filesystem:
    description: Do not enter other filesystems.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: sre.runbooks.disk_cleanup
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Where did the space go
  sre.runbooks.disk_usage_info:
    paths: [/var/log, /var/lib/docker/containers]
  register: usage
"""

RETURN = r"""
usage:
  description:
    - Per path, C(path), C(total_bytes) (allocated blocks), C(files), C(filesystem) (C(size), C(free), C(used_percent), C(free_percent)),
      C(largest_directories) and C(largest_files) (C(path), C(bytes)), and C(skipped) counters.
  returned: success
  type: list
  elements: dict
"""

import os

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.storage.cleanup import CleanupError, usage_summary


def argument_spec():
    return dict(
        paths=dict(type="list", elements="path", required=True),
        top=dict(type="int", default=10),
        depth=dict(type="int", default=2),
        one_filesystem=dict(type="bool", default=True),
    )


def measure(module):
    params = module.params
    usage = []
    for path in params["paths"]:
        if not os.path.isdir(path):
            raise RunbookError("measure", path, "it is not a directory")
        try:
            usage.append(usage_summary(path, top=params["top"], depth=params["depth"], one_filesystem=params["one_filesystem"]))
        except (CleanupError, OSError) as error:
            raise RunbookError("measure", path, error) from error
    return module.result(changed=False, usage=usage)


def main():
    module = RunbookModule(argument_spec=argument_spec())
    module.run(measure)


if __name__ == "__main__":
    main()
