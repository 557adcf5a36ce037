# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared helpers for the plugin unit tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """A module finished: rc is its exit code, result the JSON it printed."""

    def __init__(self, rc, result):
        super().__init__(result.get("msg", ""))
        self.rc = rc
        self.result = result


@pytest.fixture
def run_module(capsys):
    """run_module(entry, args) runs entry() (a main() or any callable that exits) with module args; returns ModuleExit."""

    def _run(entry, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exit_info:
                entry()
        out = capsys.readouterr().out
        return ModuleExit(exit_info.value.code, json.loads(out))

    return _run


@pytest.fixture
def module_args():
    """module_args(args) is a context manager exposing args to AnsibleModule instances made inside it."""
    return patch_module_args
