"""Start the engines detached, for molecule scenarios and the sandbox.

    python -m tests.engines up --state-dir DIR [--with postgres,prometheus,sample_app,moto]
    python -m tests.engines status --state-dir DIR
    python -m tests.engines down --state-dir DIR

``up`` starts the engines as background processes that outlive it and writes
their endpoints, ports and credentials to ``DIR/engines.json`` (also printed);
``down`` stops them and removes that file. Prometheus scrapes the sample app,
so asking for prometheus brings the sample app too. PostgreSQL archives its WAL
into ``archive_dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import EngineUnavailable
from .moto_server import MotoServer
from .ports import LOOPBACK, free_port, port_open
from .postgres import SUPERUSER, PostgresCluster
from .processes import pid_alive, spawn, stop_pid, wait_started, write_state
from .prometheus import PrometheusServer

ENGINES = ("postgres", "sample_app", "moto", "prometheus")
STATE_FILE = "engines.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
# A string of each detached process's command line: ``down`` signals a pid
# from the state file only if it still runs that command.
_COMMAND_MARKERS = {"sample_app": "tests.engines.sample_app", "moto": "moto.server", "prometheus": "prometheus"}


def _start_postgres(state_dir: Path) -> dict[str, Any]:
    cluster = PostgresCluster(state_dir / "postgres", archive=True).start()
    return {
        "host": cluster.host,
        "port": cluster.port,
        "conninfo": cluster.conninfo,
        "superuser_conninfo": cluster.conninfo_for(SUPERUSER, SUPERUSER),
        "dsn": cluster.dsn(),
        "base_dir": str(cluster.base_dir),
        "data_dir": str(cluster.data_dir),
        "archive_dir": str(cluster.archive_dir),
        "bin_dir": str(cluster.bin_dir),
        "log_path": str(cluster.log_path),
    }


def _start_sample_app(state_dir: Path) -> dict[str, Any]:
    port = free_port()
    log_path = state_dir / "sample_app.log"
    # The child imports tests.engines from this checkout whatever the caller's working directory.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    proc = spawn([sys.executable, "-m", "tests.engines.sample_app", "--port", str(port)], log_path, detached=True, env=env, cwd=REPO_ROOT)
    wait_started(proc, lambda: port_open(LOOPBACK, port), log_path, f"sample app on {LOOPBACK}:{port}")
    return {"pid": proc.pid, "port": port, "url": f"http://{LOOPBACK}:{port}", "address": f"{LOOPBACK}:{port}", "log_path": str(log_path)}


def _start_moto(state_dir: Path) -> dict[str, Any]:
    server = MotoServer(state_dir / "moto", detached=True).start()
    return {"pid": server.pid, "port": server.port, "endpoint_url": server.endpoint_url, "env": server.env(), "log_path": str(server.log_path)}


def _start_prometheus(state_dir: Path, target: str) -> dict[str, Any]:
    server = PrometheusServer(state_dir / "prometheus", [target], detached=True).start()
    return {
        "pid": server.pid, "port": server.port, "url": server.url, "targets": server.targets,
        "config_path": str(server.config_path), "log_path": str(server.log_path),
    }


def _stop_engines(state: dict[str, Any]) -> None:
    for name, marker in _COMMAND_MARKERS.items():
        if name in state and not stop_pid(state[name]["pid"], marker):
            sys.stderr.write(f"{name} (pid {state[name]['pid']}) was no longer running\n")
    if "postgres" in state:
        postgres = state["postgres"]
        PostgresCluster(postgres["base_dir"], port=postgres["port"], bin_dir=postgres["bin_dir"]).stop()


def _alive(name: str, entry: dict[str, Any]) -> bool:
    if name != "postgres" and not pid_alive(entry["pid"]):
        return False
    return port_open(LOOPBACK, entry["port"])


def up(state_dir: Path, wanted: set[str]) -> int:
    state_file = state_dir / STATE_FILE
    if state_file.exists():
        sys.stderr.write(f"engines are already up ({state_file}); run `python -m tests.engines down --state-dir {state_dir}` first\n")
        return 1
    if "prometheus" in wanted:
        wanted.add("sample_app")
    state_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"state_dir": str(state_dir)}
    try:
        if "postgres" in wanted:
            state["postgres"] = _start_postgres(state_dir)
        if "sample_app" in wanted:
            state["sample_app"] = _start_sample_app(state_dir)
        if "moto" in wanted:
            state["moto"] = _start_moto(state_dir)
        if "prometheus" in wanted:
            state["prometheus"] = _start_prometheus(state_dir, state["sample_app"]["address"])
    except (EngineUnavailable, RuntimeError, TimeoutError) as exc:
        _stop_engines(state)
        sys.stderr.write(f"could not start the engines: {exc}\n")
        return 2
    sys.stdout.write(write_state(state_file, state))
    return 0


def down(state_dir: Path) -> int:
    state_file = state_dir / STATE_FILE
    if not state_file.exists():
        sys.stderr.write(f"no engines to stop ({state_file} does not exist)\n")
        return 0
    _stop_engines(json.loads(state_file.read_text(encoding="utf-8")))
    state_file.unlink()
    return 0


def status(state_dir: Path) -> int:
    """Print engines.json with an ``alive`` flag for each engine; exit 0 only when all are alive."""
    state_file = state_dir / STATE_FILE
    if not state_file.exists():
        sys.stderr.write(f"no engines are up ({state_file} does not exist)\n")
        return 1
    state = json.loads(state_file.read_text(encoding="utf-8"))
    alive = {name: _alive(name, state[name]) for name in ENGINES if name in state}
    sys.stdout.write(json.dumps({**state, "alive": alive}, indent=2) + "\n")
    return 0 if all(alive.values()) else 1


def _engine_list(value: str) -> set[str]:
    names = {name.strip() for name in value.split(",") if name.strip()}
    unknown = names - set(ENGINES)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(ENGINES)} (got {value!r})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.engines", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, required=True, help="where engine data, logs and engines.json live")
    parser.add_argument(
        "--with", dest="engines", type=_engine_list, default=set(ENGINES), help=f"comma-separated engines for `up` (default: {','.join(ENGINES)})",
    )
    args = parser.parse_args(argv)
    state_dir = args.state_dir.absolute()
    if args.command == "up":
        return up(state_dir, set(args.engines))
    if args.command == "down":
        return down(state_dir)
    return status(state_dir)


if __name__ == "__main__":
    sys.exit(main())
