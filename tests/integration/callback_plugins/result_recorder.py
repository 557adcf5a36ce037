# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: record every task result as JSON lines for assertions."""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: result_recorder
type: notification
short_description: Record task results for the integration tests
description:
  - Appends one JSON object per task result to the file named by the environment variable C(SRE_RESULT_LOG).
  - Used only by the test harness in tests/integration; results of C(no_log) tasks arrive here already censored.
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    """Append task results to $SRE_RESULT_LOG."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'result_recorder'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get('SRE_RESULT_LOG')

    def _record(self, status, result):
        if not self._path:
            return
        payload = getattr(result, 'result', None)
        if payload is None:
            payload = result._result  # ansible-core < 2.19
        entry = {
            'status': status,
            'task': result.task_name,
            'action': result._task.action,
            'host': result._host.get_name(),
            'result': payload,
        }
        with open(self._path, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps(entry, default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._record('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record('failed', result)

    def v2_runner_on_skipped(self, result):
        self._record('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._record('unreachable', result)
