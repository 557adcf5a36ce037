# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one error type of sre.runbooks.

Every layer (Kubernetes, PostgreSQL, AWS, ...) raises RunbookError, naming the
object it worked on, the action that failed and the cause, so a module can fail
once with a message an on-call engineer can act on:
"Failed to connect to PostgreSQL 10.0.0.5:5432/app: timeout expired".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import traceback

from ansible.module_utils.common.text.converters import to_text


class RunbookError(Exception):
    """An action on a named object failed.

    action -- what was attempted, as a verb phrase ("connect to", "read", "patch")
    obj -- what it was attempted on ("deployment default/web", "PostgreSQL 127.0.0.1:5432/app")
    cause -- why it failed: text or the original exception
    details -- optional extra facts returned with the error (an error code, the SQL, ...)
    """

    def __init__(self, action, obj, cause, **details):
        self.action = action
        self.obj = obj
        self.cause = cause
        self.details = details
        super().__init__(self.message)

    @property
    def cause_text(self):
        text = to_text(self.cause).strip()
        if isinstance(self.cause, BaseException) and not text:
            # Some exceptions (socket timeouts, KeyError()) have no message: name the type instead.
            return type(self.cause).__name__
        return text

    @property
    def message(self):
        return "Failed to {0} {1}: {2}".format(self.action, self.obj, self.cause_text)

    def __str__(self):
        return self.message

    def to_dict(self):
        """Structured form returned by modules as C(error)."""
        result = {"object": self.obj, "action": self.action, "cause": self.cause_text}
        if self.details:
            result["details"] = dict(self.details)
        return result

    def traceback(self):
        """Formatted traceback of the original exception, or None when the cause is text."""
        if isinstance(self.cause, BaseException):
            return "".join(traceback.format_exception(type(self.cause), self.cause, self.cause.__traceback__))
        return None


def as_runbook_error(error, action, obj, **details):
    """Convert any exception into a RunbookError; a RunbookError passes through unchanged."""
    if isinstance(error, RunbookError):
        return error
    return RunbookError(action, obj, error, **details)


@contextlib.contextmanager
def translate_errors(action, obj, *error_types, **details):
    """Re-raise the given exception types (default: any Exception) raised in the block as RunbookError."""
    catch = error_types or (Exception,)
    try:
        yield
    except RunbookError:
        raise
    except catch as error:
        raise as_runbook_error(error, action, obj, **details) from error
