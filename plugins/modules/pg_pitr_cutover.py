#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_pitr_cutover
short_description: Put a verified point-in-time restore in place of the live PostgreSQL data directory
version_added: 0.1.0
description:
  - The explicit cutover after M(sre.runbooks.pg_pitr_restore). Stops the restored server and the live one, moves the
    live data directory aside (kept, as C(<live_data_dir>.pre-restore-<UTC time>)), moves the restored one into its
    place, puts back the configuration the backup had (its C(postgresql.auto.conf), with the live port, archiving on and no
    recovery settings), starts it and checks that it accepts connections, is not in recovery and passes O(verify_queries).
  - Refuses, before stopping anything, a O(restored_data_dir) that is not a restore verified by
    M(sre.runbooks.pg_pitr_restore), a O(live_data_dir) that is not a PostgreSQL data directory, different major versions,
    and directories on different filesystems (a swap is two renames, never a copy of the data).
  - When anything fails after the live server was stopped, the swap is undone, the old live server is started again, and
    the task fails saying so.
  - Declarative. A O(live_data_dir) that already holds this restore (its record says it was cut over) and runs reports
    C(changed=false).
  - The restored cluster is on a new timeline, so once it archives again into the live archive it cannot overwrite the
    segments of the old history.
options:
  live_data_dir:
    description: The live cluster's data directory.
    type: path
    required: true
  restored_data_dir:
    description: The data directory M(sre.runbooks.pg_pitr_restore) restored and verified.
    type: path
    required: true
  port:
    description:
      - The port the live server listens on, to check it after the cutover.
      - Defaults to the port in the restore's original configuration, else 5432.
    type: int
  stop_command:
    description:
      - Command that stops the live server, when a service manager runs it (for example V(systemctl stop postgresql@15-main)).
      - By default C(pg_ctl stop -m fast) on O(live_data_dir), as the server's account.
    type: list
    elements: str
  start_command:
    description:
      - Command that starts the live server again, on whatever O(live_data_dir) then holds.
      - By default C(pg_ctl start) on O(live_data_dir), as the server's account.
    type: list
    elements: str
  os_user:
    description: The account the server runs as, when the module runs as root. Defaults to the owner of O(live_data_dir).
    type: str
  timeout:
    description: Seconds to wait for the server to accept connections after the cutover.
    type: int
    default: 120
  verify_queries:
    description: Queries that must hold on the server after the cutover, as in M(sre.runbooks.pg_pitr_restore).
    type: list
    elements: dict
    default: []
    suboptions:
      query:
        description: The SQL to run (read-only).
        type: str
        required: true
      db:
        description: Database to run it in. Defaults to O(login_db).
        type: str
      expected:
        description: The value the first column of the first row must have, compared as text.
        type: raw
      expected_rows:
        description: The number of rows it must return.
        type: int
  login_host:
    description: Where the live server accepts connections.
    type: str
    default: 127.0.0.1
  login_user:
    description: Role to connect as for the checks.
    type: str
    default: postgres
  login_password:
    description: Its password.
    type: str
    default: ""
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
    aliases: [ db ]
  bin_dir:
    description: Directory holding C(pg_ctl). By default C(/usr/lib/postgresql/<major>/bin) when it exists, otherwise the E(PATH).
    type: path
attributes:
  check_mode:
    support: full
    details: Checks both directories and plans the swap; stops and moves nothing.
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: sre.runbooks.pg_pitr_restore
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Put the restored orders cluster in place of the live one
  sre.runbooks.pg_pitr_cutover:
    live_data_dir: /var/lib/postgresql/15/main
    restored_data_dir: /var/lib/postgresql/15/restore-20261122
    stop_command: [systemctl, stop, postgresql@15-main]
    start_command: [systemctl, start, postgresql@15-main]
    port: 5432
    verify_queries:
      - query: SELECT count(*) FROM orders
        db: orders
        expected: 18234
"""

RETURN = r"""
live_data_dir:
  description: The live data directory, which now holds the restore.
  returned: success
  type: str
previous_data_dir:
  description: Where the former live data directory was moved (kept for investigation); V(null) when nothing was swapped.
  returned: success
  type: str
  sample: /var/lib/postgresql/15/main.pre-restore-20261122T143000Z
restore:
  description: The record of the restore that is now live (backup, target, evidence).
  returned: success
  type: dict
verification:
  description: Each verification query with its rows, C(passed) and C(problem).
  returned: success, except in check mode
  type: list
  elements: dict
actions:
  description: What the module did, or in check mode would do.
  returned: success
  type: list
  elements: str
"""

import os
import pwd
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres import pitr
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.backup import find_tool
from ansible_collections.sre.runbooks.plugins.module_utils.postgres.connection import POSTGRES_REQUIRED_LIBS, QueryRecorder, connect

ACTION = "cut over to the restore in"
STATE_SQL = "SELECT pg_is_in_recovery() AS in_recovery, current_setting('port')::int AS port"


def argument_spec():
    return dict(
        live_data_dir=dict(type="path", required=True),
        restored_data_dir=dict(type="path", required=True),
        port=dict(type="int"),
        stop_command=dict(type="list", elements="str"),
        start_command=dict(type="list", elements="str"),
        os_user=dict(type="str"),
        timeout=dict(type="int", default=120),
        verify_queries=dict(type="list", elements="dict", default=[], options=dict(
            query=dict(type="str", required=True),
            db=dict(type="str"),
            expected=dict(type="raw"),
            expected_rows=dict(type="int"),
        )),
        login_host=dict(type="str", default="127.0.0.1"),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_db=dict(type="str", default="postgres", aliases=["db"]),
        bin_dir=dict(type="path"),
    )


def _version(path):
    try:
        with open(os.path.join(path, "PG_VERSION")) as handle:
            return handle.read().strip()
    except OSError:
        return None


def plan_cutover(live, live_marker, restored, restored_marker, live_version, restored_version, same_filesystem):
    """Plan the swap. Pure. Returns (actions, mode): mode 'swap', 'start' or 'none'; raises ValueError to refuse."""
    if live_marker.get("cutover") and live_marker.get("verified"):
        return [], "none"
    if live_version is None:
        raise ValueError("live_data_dir {0} is not a PostgreSQL data directory (no PG_VERSION)".format(live))
    if not restored_marker.get("verified"):
        raise ValueError("restored_data_dir {0} holds no restore verified by sre.runbooks.pg_pitr_restore".format(restored))
    if restored_version != live_version:
        raise ValueError("the restore is PostgreSQL {0}, the live cluster {1}".format(restored_version, live_version))
    if not same_filesystem:
        raise ValueError("{0} and {1} are on different filesystems: a cutover renames, it never copies the data".format(live, restored))
    return [
        "stop the restored server in {0}".format(restored),
        "stop the live server in {0}".format(live),
        "move {0} aside".format(live),
        "move {0} to {1}".format(restored, live),
        "put back the backup's postgresql.auto.conf (live port, archiving, no recovery settings)",
        "start the server in {0} and verify it".format(live),
    ], "swap"


def undo_recovery_settings(data_dir):
    """Put back the configuration the backup had (the restore's settings were appended after it).

    Returns what it replaced, {file name: content}, for put_back() should the cutover be undone.
    """
    replaced = {}
    original = os.path.join(data_dir, pitr.ORIGINAL_AUTO_CONF)
    current = os.path.join(data_dir, pitr.AUTO_CONF)
    if os.path.exists(original):
        for name in (pitr.AUTO_CONF, pitr.ORIGINAL_AUTO_CONF):
            with open(os.path.join(data_dir, name), "rb") as handle:
                replaced[name] = handle.read()
        with open(current, "wb") as handle:
            handle.write(replaced[pitr.ORIGINAL_AUTO_CONF])
        os.remove(original)
    return replaced


def put_back(data_dir, replaced):
    """Undo undo_recovery_settings(): the restore keeps its own port and settings."""
    info = os.stat(data_dir)
    for name, content in replaced.items():
        path = os.path.join(data_dir, name)
        with open(path, "wb") as handle:
            handle.write(content)
        os.chown(path, info.st_uid, info.st_gid)
        os.chmod(path, 0o600)


def original_port(data_dir):
    for name in (pitr.ORIGINAL_AUTO_CONF, pitr.AUTO_CONF, "postgresql.conf"):
        try:
            with open(os.path.join(data_dir, name)) as handle:
                ports = [line.split("=", 1)[1].strip().strip("'") for line in handle
                         if line.strip().startswith("port") and "=" in line and line.split("=", 1)[0].strip() == "port"]
        except OSError:
            continue
        if ports and ports[-1].isdigit():
            return int(ports[-1])
    return 5432


class Pg:
    def __init__(self, module, pg_ctl, account):
        self.module = module
        self.pg_ctl = pg_ctl
        self.account = account

    def _argv(self, argv):
        if self.account is None:
            return argv
        return [self.module.get_bin_path("runuser", required=True), "-u", self.account, "--"] + argv

    def ctl(self, data_dir, *args):
        return self.module.run_command(self._argv([self.pg_ctl, "-D", data_dir] + list(args)), environ_update={"LC_ALL": "C"})

    def running(self, data_dir):
        return os.path.exists(os.path.join(data_dir, "postmaster.pid")) and self.ctl(data_dir, "status")[0] == 0

    def stop(self, data_dir, command=None):
        if command:
            rc, out, err = self.module.run_command(command)
        elif self.running(data_dir):
            rc, out, err = self.ctl(data_dir, "-m", "fast", "-w", "-t", "120", "stop")
        else:
            return
        if rc != 0 or self.running(data_dir):
            raise RunbookError("stop the server in", data_dir, (err or out).strip() or "it still runs")

    def start(self, data_dir, command=None):
        if command:
            rc, out, err = self.module.run_command(command)
        else:
            rc, out, err = self.ctl(data_dir, "-l", os.path.join(data_dir, pitr.LOG_FILE), "-w", "-t", "120", "start")
        if rc != 0:
            raise RunbookError("start the server in", data_dir, (err or out).strip())


def wait_ready(params, port, deadline):
    last = None
    while True:
        try:
            conn = connect(dict(login_host=params["login_host"], login_port=port, login_user=params["login_user"],
                                login_password=params["login_password"], login_db=params["login_db"], ssl_mode="disable"))
            try:
                state = QueryRecorder(conn, "the live server").read(STATE_SQL)[0]
            finally:
                conn.close()
            if not state["in_recovery"]:
                return state
            last = "still in recovery"
        except RunbookError as error:
            last = error.cause_text
        if time.monotonic() >= deadline:
            raise RunbookError(ACTION, params["live_data_dir"], "the server did not accept connections within {0} s: {1}".format(params["timeout"], last))
        time.sleep(0.5)


def verify(params, port):
    results = []
    for spec in params["verify_queries"]:
        db = spec.get("db") or params["login_db"]
        conn = connect(dict(login_host=params["login_host"], login_port=port, login_user=params["login_user"],
                            login_password=params["login_password"], login_db=db, ssl_mode="disable"))
        try:
            try:
                rows = QueryRecorder(conn, "the live server, database {0}".format(db)).read(spec["query"])
                passed, problem = pitr.check_expectation(spec, rows)
            except RunbookError as error:
                rows, passed, problem = [], False, error.cause_text
        finally:
            conn.close()
        results.append(dict(query=spec["query"], db=db, row_count=len(rows), passed=passed, problem=problem,
                            rows=[{key: value if isinstance(value, (bool, int, float, str, type(None))) else str(value)
                                   for key, value in row.items()} for row in rows[:10]]))
    failed = [item for item in results if not item["passed"]]
    if failed:
        raise RunbookError("verify the cutover in", params["live_data_dir"],
                           "; ".join("{0}: {1}".format(item["query"], item["problem"]) for item in failed), verification=results)
    return results


def cutover(module):
    params = module.params
    live, restored = params["live_data_dir"].rstrip("/"), params["restored_data_dir"].rstrip("/")
    live_marker = pitr.read_marker(live)
    restored_marker = pitr.read_marker(restored)
    live_version, restored_version = _version(live), _version(restored)
    same_fs = os.path.isdir(restored) and os.path.isdir(live) and os.stat(live).st_dev == os.stat(os.path.dirname(restored) or "/").st_dev
    try:
        actions, mode = plan_cutover(live, live_marker, restored, restored_marker, live_version, restored_version, same_fs)
    except ValueError as error:
        raise RunbookError(ACTION, live, "{0}; nothing was stopped or moved".format(error))
    account = None
    if os.geteuid() == 0:
        account = params.get("os_user") or pwd.getpwuid(os.stat(live).st_uid).pw_name
        if account == "root":
            raise RunbookError(ACTION, live, "{0} is owned by root: set os_user to the server's account".format(live))
    pg = Pg(module, find_tool(module, "pg_ctl", params["bin_dir"], live_version), account)
    port = params["port"] or original_port(restored if mode == "swap" else live)
    common = dict(live_data_dir=live, restore=dict(live_marker if mode == "none" else restored_marker))
    if mode == "none":
        running = pg.running(live)
        if not running and not module.check_mode:
            pg.start(live, params["start_command"])
        if module.check_mode:
            return module.result(changed=not running, actions=[] if running else ["start the server in {0}".format(live)],
                                 previous_data_dir=live_marker.get("previous_data_dir"), **common)
        wait_ready(params, port, time.monotonic() + params["timeout"])
        return module.result(changed=not running, actions=[] if running else ["start the server in {0}".format(live)],
                             previous_data_dir=live_marker.get("previous_data_dir"), verification=verify(params, port), **common)

    aside = "{0}.pre-restore-{1}".format(live, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    before = dict(live_data_dir=live, holds="the damaged cluster")
    after = dict(live_data_dir=live, holds="restore of {0} to {1}".format(restored_marker.get("backup"), restored_marker.get("target_text")),
                 previous_data_dir=aside)
    if module.check_mode:
        return module.result(changed=True, actions=actions, before=before, after=after, previous_data_dir=aside, **common)

    pg.stop(restored)
    pg.stop(live, params["stop_command"])
    moved = []
    replaced = {}
    try:
        os.rename(live, aside)
        moved.append((aside, live))
        os.rename(restored, live)
        moved.append((live, restored))
        replaced = undo_recovery_settings(live)
        marker = dict(restored_marker, cutover=True, previous_data_dir=aside, cutover_at=pitr.iso_precise(time.time()))
        info = os.stat(live)
        pitr.write_marker(live, marker, info.st_uid, info.st_gid)
        pg.start(live, params["start_command"])
        wait_ready(params, port, time.monotonic() + params["timeout"])
        verification = verify(params, port)
    except (RunbookError, OSError) as error:
        error = error if isinstance(error, RunbookError) else RunbookError(ACTION, live, error)
        undone = _undo(pg, params, live, moved, replaced, restored_marker)
        raise RunbookError(error.action, error.obj, "{0}. {1}".format(error.cause_text, undone), **error.details)
    return module.result(changed=True, actions=actions, before=before, after=after, previous_data_dir=aside,
                         verification=verification, restore=marker)


def _undo(pg, params, live, moved, replaced, restored_marker):
    """Swap back and start the old live server; say what was done."""
    try:
        pg.stop(live, params["stop_command"])
    except RunbookError:
        pass
    try:
        for source, dest in reversed(moved):
            os.rename(source, dest)
        if len(moved) == 2:
            restored = moved[1][1]
            put_back(restored, replaced)
            info = os.stat(restored)
            pitr.write_marker(restored, restored_marker, info.st_uid, info.st_gid)
        pg.start(live, params["start_command"])
    except (RunbookError, OSError) as error:
        return "Undoing the swap failed too ({0}): the old live data directory is {1}".format(
            error, moved[0][0] if moved else live)
    return "The swap was undone: {0} is the old live cluster again and was started".format(live)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=POSTGRES_REQUIRED_LIBS)
    module.run(cutover)


if __name__ == "__main__":
    main()
