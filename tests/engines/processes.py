"""Starting and stopping engine subprocesses, attached to the test run or detached from it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .ports import wait_until


def write_state(path: Path, state: dict[str, Any]) -> str:
    """Write a state file as indented JSON, whole then renamed, so a reader never sees half of it; return the text."""
    text = json.dumps(state, indent=2) + "\n"
    partial = path.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return text


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note saying why there are none."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip("\n") or f"({path} is empty)"
    except FileNotFoundError:
        return f"({path} was not written)"


def spawn(cmd: list[str], log_path: Path, detached: bool = False, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with stdout and stderr appended to ``log_path``.

    ``detached`` puts the process in its own session so it outlives the caller
    (``python -m tests.engines up``) and ignores the caller's Ctrl-C; attached
    processes share the test run's process group, so Ctrl-C stops them too.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # pylint: disable=consider-using-with  # the caller owns the process
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=detached,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM ``proc``, SIGKILL it after ``timeout`` seconds, and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_pid(pid: int, expect: str, timeout: float = 10.0) -> bool:
    """SIGTERM (then SIGKILL) a detached engine known only by its pid.

    The pid comes from a state file that may be stale; ``expect`` must occur in
    the process's command line so a recycled pid of an unrelated process is
    never signalled. Returns whether a matching process was found.
    """
    cmdline = _cmdline(pid)
    if cmdline is None or expect not in cmdline:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), timeout=timeout, interval=0.05, what=f"pid {pid} to exit")
    except ProcessLookupError:
        pass
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def wait_started(proc: subprocess.Popen[bytes], ready: Callable[[], object], log_path: Path, what: str, timeout: float = 30.0) -> None:
    """Wait until ``ready()`` is truthy; fail early, with the log tail, if ``proc`` dies first.

    On failure the process is stopped and ``RuntimeError`` carries the last log lines.
    """
    def check() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting; last lines of {log_path}:\n{tail(log_path)}")
        return bool(ready())

    try:
        wait_until(check, timeout=timeout, interval=0.1, what=what)
    except TimeoutError:
        stop_process(proc)
        raise RuntimeError(f"{what} did not become ready within {timeout:g}s; last lines of {log_path}:\n{tail(log_path)}") from None
