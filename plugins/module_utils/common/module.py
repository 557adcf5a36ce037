# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one module wrapper of sre.runbooks.

A module's main() stays short:

    def main():
        module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
        module.run(report_activity, connect=connect)

run() opens the client, calls the module's function, closes the client and
exits; a RunbookError raised anywhere on the way fails the task once, with a
message that names the object, the action and the cause.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError


class RunbookModule(AnsibleModule):
    """AnsibleModule with dependency checks, one failure path and result helpers.

    required_libs -- (import name, pip name, import error) for each third-party library;
                     import error is the traceback captured when the import failed, or None.
    """

    def __init__(self, argument_spec, required_libs=(), supports_check_mode=True, **kwargs):
        super().__init__(argument_spec=argument_spec, supports_check_mode=supports_check_mode, **kwargs)
        self._reports = {}
        for import_name, pip_name, import_error in required_libs:
            if import_error is not None:
                reason = "by {0}; install it with 'pip install {1}'".format(self._name, pip_name)
                self.fail_json(msg=missing_required_lib(import_name, reason=reason), exception=import_error)

    def add_report(self, key, producer):
        """Add C(key) to the result, success or failure, with the value producer() returns at exit.

        For facts a layer collects while the module runs (the AWS layer's resource_actions).
        """
        self._reports[key] = producer

    def _with_reports(self, result):
        for key, producer in self._reports.items():
            result.setdefault(key, producer())
        return result

    def fail_from_error(self, error):
        """Fail the task once: msg is str(error), error holds object, action and cause."""
        extra = {}
        tb = error.traceback()
        if tb:
            extra["exception"] = tb
        self.fail_json(msg=str(error), error=error.to_dict(), **self._with_reports(extra))

    def run(self, fn, connect=None, precheck=None):
        """Exit with fn(module) or, given a client factory, fn(module, connect(module)).

        precheck(module), when given, runs first, before any connection is made: it
        refuses bad input by raising RunbookError, so nothing is touched.

        Only RunbookError is caught: anything else is a bug and keeps its traceback.
        A client with a close() method is closed whatever happens.
        """
        client = None
        result = None
        try:
            if precheck is not None:
                precheck(self)
            if connect is None:
                result = fn(self)
            else:
                client = connect(self)
                result = fn(self, client)
        except RunbookError as error:
            self.fail_from_error(error)
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self.exit_json(**self._with_reports(result))

    def result(self, changed=False, actions=None, before=None, after=None, **values):
        """Build a module result.

        changed -- whether the target was (or in check mode, would be) changed
        actions -- planned actions; returned in check mode and real mode alike
        before, after -- state for C(diff), returned only when the user asked for a diff
        values -- module specific return values
        """
        result = dict(values, changed=bool(changed))
        if actions is not None:
            result["actions"] = list(actions)
        if self._diff and (before is not None or after is not None):
            result["diff"] = {"before": before, "after": after}
        return result
