"""Run the Kubernetes API simulator.

    python -m tests.sandbox.kubesim serve [--port N] [--kubeconfig PATH] [--flavour openshift] [--state-dir DIR]
    python -m tests.sandbox.kubesim start --state-dir DIR [--port N] [--flavour openshift]
    python -m tests.sandbox.kubesim stop --state-dir DIR

``serve`` runs in the foreground, writes the kubeconfig, prints ``KUBECONFIG=<path>``
and the URL, and logs every request to stderr. ``start`` runs ``serve`` detached
(logging to DIR/kubesim.log) and writes DIR/kubesim.json with its pid, port, url and
kubeconfig; ``stop`` stops it. Set KUBESIM_SEED for reproducible fault injection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from tests.engines.ports import LOOPBACK
from tests.engines.processes import stop_pid, write_state

from . import launch
from .config import Config
from .kubeconfig import write_kubeconfig
from .server import make_app
from .sim import Simulator

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[3] / '.cache' / 'kubesim'
STATE_FILE = 'kubesim.json'
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'
LOG = logging.getLogger('kubesim')


async def _orphaned(parent: int, stopped: asyncio.Event) -> None:
    """Set `stopped` once the parent process is gone (the process is re-parented)."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    LOG.warning('parent process %d exited: stopping', parent)
    stopped.set()


async def serve(host: str, port: int, kubeconfig: Path, flavour: str, controllers: bool, exit_with_parent: bool = False) -> None:
    """Serve until SIGTERM or SIGINT (or, with exit_with_parent, until the parent process exits)."""
    sim = Simulator(Config(flavour=flavour), run_controllers=controllers)
    # A short shutdown timeout: open watches would otherwise hold the exit for a minute (they are cut, as a stopping apiserver cuts them).
    # Request lines up to 1 MiB, as the apiserver's MaxHeaderBytes: pods/exec carries the command in the query (aiohttp's default is 8190).
    runner = web.AppRunner(make_app(sim, run_controllers=controllers), access_log_format=ACCESS_LOG_FORMAT, shutdown_timeout=0.25,
                           max_line_size=1 << 20, max_field_size=1 << 20)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_port = runner.addresses[0][1]
    url = f'http://{host}:{bound_port}'
    write_kubeconfig(kubeconfig, url)
    sys.stdout.write(f'KUBECONFIG={kubeconfig}\nkubesim serving {url} (flavour {flavour or "kubernetes"}, '
                     f'controllers {"on" if sim.controllers else "off"})\n')
    sys.stdout.flush()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    watchdog = asyncio.create_task(_orphaned(os.getppid(), stopped)) if exit_with_parent else None
    try:
        await stopped.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await runner.cleanup()


def _start(state_dir: Path, port: int | None, flavour: str, controllers: bool) -> int:
    state_file = state_dir / STATE_FILE
    if state_file.exists():
        sys.stderr.write(f'kubesim is already running ({state_file}); run `python -m tests.sandbox.kubesim stop --state-dir {state_dir}` first\n')
        return 1
    try:
        server = launch.launch(state_dir, flavour=flavour, port=port, detached=True, controllers=controllers)
    except RuntimeError as exc:
        sys.stderr.write(f'could not start kubesim: {exc}\n')
        return 2
    state = {'pid': server.proc.pid, 'port': server.port, 'url': server.url, 'kubeconfig': str(server.kubeconfig),
             'log_path': str(server.log_path), 'flavour': flavour}
    sys.stdout.write(write_state(state_file, state))
    return 0


def _stop(state_dir: Path) -> int:
    state_file = state_dir / STATE_FILE
    if not state_file.exists():
        sys.stderr.write(f'kubesim is not running ({state_file} does not exist)\n')
        return 0
    state = json.loads(state_file.read_text(encoding='utf-8'))
    if not stop_pid(state['pid'], launch.MODULE):
        sys.stderr.write(f'kubesim (pid {state["pid"]}) was no longer running\n')
    state_file.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog='python -m tests.sandbox.kubesim', description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=('serve', 'start', 'stop'))
    parser.add_argument('--state-dir', type=Path, help=f'where the kubeconfig, log and {STATE_FILE} go (default for serve: {DEFAULT_STATE_DIR})')
    parser.add_argument('--port', type=int, help='TCP port on 127.0.0.1 (default: a free one)')
    parser.add_argument('--host', default=LOOPBACK, help=argparse.SUPPRESS)
    parser.add_argument('--kubeconfig', type=Path, help='where serve writes the kubeconfig (default: STATE_DIR/kubeconfig)')
    parser.add_argument('--flavour', choices=('', 'openshift'), default='', help='openshift also serves apps.openshift.io DeploymentConfigs')
    parser.add_argument('--no-controllers', dest='controllers', action='store_false',
                        help='a plain object store: no nodes, no pods for deployments')
    # For test runs: a simulator whose test process died (SIGKILL, a crashed pytest) must not outlive it.
    parser.add_argument('--exit-with-parent', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == 'serve':
        state_dir = (args.state_dir or DEFAULT_STATE_DIR).absolute()
        kubeconfig = (args.kubeconfig or state_dir / 'kubeconfig').absolute()
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
        asyncio.run(serve(args.host, args.port or 0, kubeconfig, args.flavour, args.controllers, args.exit_with_parent))
        return 0
    if args.state_dir is None:
        parser.error(f'{args.command} needs --state-dir')
    if args.command == 'start':
        return _start(args.state_dir.absolute(), args.port, args.flavour, args.controllers)
    return _stop(args.state_dir.absolute())


if __name__ == '__main__':
    sys.exit(main())
