"""Starting kubesim as a subprocess, and talking to its /kubesim admin endpoints.

A subprocess rather than an in-process server: Ansible modules run in
ansible-playbook's processes and must reach the simulator over HTTP, and a
test's simulator state dies with its process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.engines.kube import KubeTarget
from tests.engines.ports import LOOPBACK, free_port
from tests.engines.processes import spawn, stop_process, wait_started

MODULE = 'tests.sandbox.kubesim'
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclasses.dataclass
class Launched:
    """A running `python -m tests.sandbox.kubesim serve`."""

    proc: subprocess.Popen[bytes]
    port: int
    kubeconfig: Path
    log_path: Path

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f'http://{LOOPBACK}:{self.port}'

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL if it lingers) and reap it."""
        stop_process(self.proc)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f'{url}/readyz', timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def launch(base_dir: Path, flavour: str = '', port: int | None = None, detached: bool = False, controllers: bool = True) -> Launched:
    """Start the server on 127.0.0.1 (a free port by default), writing base_dir/kubeconfig and base_dir/kubesim.log.

    Returns once /readyz answers; RuntimeError with the log's last lines if it does not.
    """
    base_dir = Path(base_dir).absolute()
    base_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    kubeconfig, log_path = base_dir / 'kubeconfig', base_dir / 'kubesim.log'
    cmd = [sys.executable, '-m', MODULE, 'serve', '--port', str(port), '--state-dir', str(base_dir), '--kubeconfig', str(kubeconfig)]
    if flavour:
        cmd += ['--flavour', flavour]
    if not controllers:
        cmd.append('--no-controllers')
    if not detached:
        cmd.append('--exit-with-parent')
    # The child imports tests.sandbox.kubesim from this checkout whatever the caller's working directory.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get('PYTHONPATH')])))
    proc = spawn(cmd, log_path, detached=detached, env=env, cwd=REPO_ROOT)
    server = Launched(proc, port, kubeconfig, log_path)
    wait_started(proc, lambda: _ready(server.url), log_path, f'kubesim on {server.url}')
    return server


def start(base_dir: Path, flavour: str = '', controllers: bool = True) -> KubeTarget:
    """The simulator as a KubeTarget (tests.engines.kube's contract): a subprocess serving until target.stop()."""
    server = launch(base_dir, flavour=flavour, controllers=controllers)
    return KubeTarget(kubeconfig=server.kubeconfig, source='kubesim', stop=server.stop)


class KubesimAdmin:
    """A client for a running simulator's /kubesim endpoints."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip('/')
        self.timeout = timeout

    @classmethod
    def from_kubeconfig(cls, path: Path | str) -> KubesimAdmin:
        """The admin client of the server a kubeconfig (written by kubesim) points at."""
        config = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
        current = next(c for c in config['contexts'] if c['name'] == config['current-context'])
        cluster = next(c for c in config['clusters'] if c['name'] == current['context']['cluster'])
        return cls(cluster['cluster']['server'])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b'' if method != 'GET' else None)
        request = urllib.request.Request(f'{self.url}/kubesim/{path}', data=data, method=method, headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f'{method} /kubesim/{path}: {exc.code} {exc.read().decode(errors="replace")}') from None
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f'kubesim at {self.url} is not reachable: {exc}') from None

    def reset(self) -> dict[str, Any]:
        """Forget every object: a fresh simulator (system namespaces, seeded nodes)."""
        return dict(self._call('POST', 'reset'))

    def tick(self) -> dict[str, Any]:
        """Run every controller once."""
        return dict(self._call('POST', 'tick'))

    def config(self, **changes: Any) -> dict[str, Any]:
        """The settings after applying `changes` (none: just read them)."""
        return dict(self._call('PATCH', 'config', changes) if changes else self._call('GET', 'config'))

    def restart_kubelet(self, node: str, version: str | None = None, seconds: float = 1.0) -> dict[str, Any]:
        """Restart the kubelet of `node`: NotReady for `seconds`, then Ready at `version` (unchanged when None)."""
        body: dict[str, Any] = {'seconds': seconds}
        if version is not None:
            body['version'] = version
        return dict(self._call('POST', f'nodes/{node}/kubelet-restart', body))

    def pod_secrets(self, namespace: str, pod: str) -> dict[str, list[dict[str, Any]]]:
        """Per container of a running pod, the Secret values it read when it started: [{via, secret, key, sha256}]."""
        return dict(self._call('GET', f'pods/{namespace}/{pod}/secrets'))

    def append_pod_log(self, namespace: str, pod: str, lines: list[str], container: str | None = None, time: str | None = None,
                       previous: bool = False) -> dict[str, Any]:
        """Append `lines` to the log of a container of a pod (its current run; previous: its last terminated run),
        written at `time` (RFC 3339; default now). Returns what was appended: container, attempt, appended, time."""
        body: dict[str, Any] = {'lines': list(lines), 'previous': previous}
        if container is not None:
            body['container'] = container
        if time is not None:
            body['time'] = time
        return dict(self._call('POST', f'namespaces/{namespace}/pods/{pod}/log', body))

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every object, by `<plural>.<group>`."""
        return dict(self._call('GET', 'dump')['objects'])
