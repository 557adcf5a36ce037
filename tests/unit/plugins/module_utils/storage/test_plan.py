# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The in-container scanner command (run here with this Python in place of the exec API), its result parsing, and the result sentences."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.storage.plan import (
    MAX_ARGUMENT,
    cleanup_actions,
    request_from_params,
    scanner_command,
    scanner_result,
)


def run_in_container(command):
    """What the exec API does with the argv: run it (here, with this interpreter standing in for the container's python3)."""
    proc = subprocess.run([sys.executable] + command[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    return proc.returncode, proc.stdout, proc.stderr


def old_file(path, age_days):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x" * 100)
    when = time.time() - age_days * 86400
    os.utime(str(path), (when, when))


def test_request_from_params_keeps_only_the_rules():
    params = {"roots": ["/tmp"], "patterns": ["*.old"], "min_age": "1d", "namespace": "shop", "pod": "db-0", "kubeconfig": "/k",
              "usage_threshold": None}
    assert request_from_params(params, True) == {"roots": ["/tmp"], "patterns": ["*.old"], "min_age": "1d", "check_mode": True}


def test_the_command_is_python3_with_a_self_contained_scanner(tmp_path):
    command = scanner_command({"roots": [str(tmp_path)], "check_mode": True})
    assert command[0] == "python3" and command[1] == "-c" and json.loads(command[3])["roots"] == [str(tmp_path)]
    assert len(command[2]) < MAX_ARGUMENT and "ansible" not in command[2]
    assert scanner_command({"roots": ["/tmp"]}, python="/usr/local/bin/python3.12")[0] == "/usr/local/bin/python3.12"


def test_the_shipped_scanner_cleans_check_then_real_then_nothing(tmp_path):
    root = tmp_path / "var-log-omendb"
    for name in ("a.log.old", "b.log.old", "current.log"):
        old_file(root / name, 3)
    old_file(root / "keep" / "c.log.old", 3)
    (root / "outside").symlink_to(tmp_path)
    request = {"roots": [str(root)], "patterns": ["*.log.old"], "protected": [str(root / "keep")], "check_mode": True}
    planned = scanner_result(*run_in_container(scanner_command(request)))
    assert sorted(os.path.basename(f["path"]) for f in planned["files"]) == ["a.log.old", "b.log.old"]
    assert (root / "a.log.old").exists()
    done = scanner_result(*run_in_container(scanner_command(dict(request, check_mode=False))))
    assert [f["path"] for f in done["files"]] == [f["path"] for f in planned["files"]] and done["changed"] is True
    assert sorted(p.name for p in root.iterdir()) == ["current.log", "keep", "outside"]
    again = scanner_result(*run_in_container(scanner_command(dict(request, check_mode=False))))
    assert again["changed"] is False and again["removed_files"] == 0


def test_a_dangerous_root_is_refused_in_the_container_too(tmp_path):
    link = tmp_path / "looks-harmless"
    link.symlink_to("/etc")
    with pytest.raises(ValueError, match="/etc"):
        scanner_result(*run_in_container(scanner_command({"roots": [str(link)]})))


@pytest.mark.parametrize("code", [126, 127])
def test_missing_python_is_explained(code):
    with pytest.raises(ValueError, match="needs python3 in the image"):
        scanner_result(code, "", "exec: \"python3\": executable file not found in $PATH")


def test_garbage_output_is_an_error():
    with pytest.raises(ValueError, match="without a result"):
        scanner_result(1, "Traceback ...", "boom")


def test_actions_and_warnings():
    result = {
        "roots": [{"path": "/var/log", "removed_files": 3, "removed_bytes": 3 * 2 ** 20}],
        "filesystems": [{"roots": ["/var/log"], "triggered": True, "target_reached": False, "reason": "still short"},
                        {"roots": ["/data"], "triggered": False, "reason": "10% used"}],
        "deleted_open": [{"path": "/var/log/app.log.1", "bytes": 2 ** 30, "truncated": False, "holders": [{"pid": 7, "fd": 3, "command": "app"}]},
                         {"path": "/var/log/b.log.1", "bytes": 10, "truncated": True, "holders": [{"pid": 8, "fd": 4, "command": "b"}]}],
    }
    actions, warnings = cleanup_actions(result, check_mode=True)
    assert actions == ["would remove 3 files (3.0 MiB) under /var/log", "left /data alone: 10% used",
                       "would truncate /var/log/b.log.1 (10 B), deleted but held open by pid 8"]
    assert warnings[0] == "/var/log: still short"
    assert "1 deleted files still hold 1.0 GiB" in warnings[1] and "app (pid 7)" in warnings[1]
