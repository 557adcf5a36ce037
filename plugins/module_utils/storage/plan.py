# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Around the cleanup rules: module options to a request, result sentences, and the scanner command run in a container.

The container command (scanner_command) is python3 running this collection's
module_utils/storage/cleanup.py, shipped compressed on the command line:

    python3 -c "import base64,sys,zlib;exec(zlib.decompress(base64.b64decode('...')));sys.exit(run_scanner())" '<request JSON>'

so a container needs python3 (3.6 or later, standard library only) and
nothing else; nothing is copied into its filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import inspect
import json
import zlib

from ansible_collections.sre.runbooks.plugins.module_utils.storage import cleanup

REQUEST_KEYS = ("roots", "patterns", "min_age", "min_size", "keep_newest", "protected", "one_filesystem", "usage_threshold",
                "target_free_percent", "truncate_deleted_open", "report_limit", "plan_batch")
# Linux limits one argument to 128 KiB (MAX_ARG_STRLEN); the compressed scanner is far below.
MAX_ARGUMENT = 131072
PYTHON_MISSING_CODES = (126, 127)


def request_from_params(params, check_mode):
    """The cleanup request (cleanup.run_request) for module options."""
    request = dict((key, params.get(key)) for key in REQUEST_KEYS if params.get(key) is not None)
    request["check_mode"] = bool(check_mode)
    return request


def _size(value):
    for unit, factor in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(value) >= factor:
            return "{0:.1f} {1}".format(value / float(factor), unit)
    return "{0} B".format(value)


def cleanup_actions(result, check_mode):
    """One sentence per root and per filesystem, and the warnings (target missed, held-open space)."""
    verb = "would remove" if check_mode else "removed"
    actions, warnings = [], []
    for root in result.get("roots") or ():
        if root.get("removed_files"):
            actions.append("{0} {1} files ({2}) under {3}".format(verb, root["removed_files"], _size(root["removed_bytes"]), root["path"]))
    for fs in result.get("filesystems") or ():
        where = ", ".join(fs["roots"])
        if not fs.get("triggered"):
            actions.append("left {0} alone: {1}".format(where, fs.get("reason")))
        elif fs.get("target_reached") is False:
            warnings.append("{0}: {1}".format(where, fs.get("reason")))
    held = [item for item in result.get("deleted_open") or () if not item.get("truncated") and item.get("bytes")]
    for item in result.get("deleted_open") or ():
        if item.get("truncated"):
            actions.append("{0} {1} ({2}), deleted but held open by pid {3}".format(
                "would truncate" if check_mode else "truncated", item["path"], _size(item["bytes"]),
                ", ".join(str(h["pid"]) for h in item["holders"])))
    if held:
        warnings.append("{0} deleted files still hold {1} because processes keep them open (first: {2} by {3}); restart those processes, "
                        "or truncate them with truncate_deleted_open".format(
                            len(held), _size(sum(item["bytes"] for item in held)), held[0]["path"],
                            ", ".join("{0} (pid {1})".format(h["command"], h["pid"]) for h in held[0]["holders"][:3])))
    return actions, warnings


def scanner_source():
    """The source of cleanup.py, as shipped into containers."""
    return inspect.getsource(cleanup)


def scanner_command(request, python="python3"):
    """argv that runs the cleanup `request` in a container with `python`; the result comes back as one JSON line on stdout."""
    payload = base64.b64encode(zlib.compress(scanner_source().encode("utf-8"), 9)).decode("ascii")
    code = "import base64,sys,zlib;exec(zlib.decompress(base64.b64decode('{0}')));sys.exit(run_scanner())".format(payload)
    argument = json.dumps(request, sort_keys=True)
    if len(code) > MAX_ARGUMENT or len(argument) > MAX_ARGUMENT:
        raise ValueError("the scanner command is longer than one argument may be ({0} bytes)".format(MAX_ARGUMENT))
    return [python, "-c", code, argument]


def scanner_result(returncode, stdout, stderr, python="python3"):
    """The cleanup result from the scanner's exit code and output; ValueError with the reason when it failed."""
    if returncode in PYTHON_MISSING_CODES:
        raise ValueError("{0} cannot be run in the container (exit {1}: {2}); the in-pod cleanup needs python3 in the image, "
                         "or set python to its path".format(python, returncode, (stderr or stdout or "").strip()[:300]))
    lines = [line for line in (stdout or "").splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise ValueError("the scanner exited {0} without a result: {1}".format(returncode, ((stderr or "") + (stdout or "")).strip()[-500:]))
    if result.get("failed"):
        raise ValueError(result.get("msg") or "the scanner refused the request")
    if returncode not in (0, None):
        raise ValueError("the scanner exited {0}: {1}".format(returncode, (stderr or "").strip()[-500:]))
    return result
