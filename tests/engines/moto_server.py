"""moto's AWS simulator (S3, RDS, Secrets Manager...) in its own process on 127.0.0.1.

A subprocess rather than moto's in-process mocks: Ansible modules and
ansible-playbook run in other processes and reach it over HTTP, and its state
dies with it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType

from .errors import EngineUnavailable
from .ports import LOOPBACK, free_port, port_open
from .processes import spawn, stop_process, wait_started

REGION = "us-east-1"
# moto accepts any credentials; fixed ones make sure real ones are never used.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

# Modules that `moto[server]` brings in besides moto itself.
_SERVER_MODULES = ("moto", "flask", "flask_cors", "werkzeug")


class MotoServer:
    """``python -m moto.server`` on a free loopback port, logging to ``base_dir/moto.log``."""

    def __init__(self, base_dir: Path | str, port: int | None = None, detached: bool = False) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.port = port or free_port()
        self.detached = detached
        self.log_path = self.base_dir / "moto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3/botocore (1.28+ for AWS_ENDPOINT_URL) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def start(self) -> MotoServer:
        missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            raise EngineUnavailable(
                f"moto server not available to {sys.executable} (missing Python modules: {', '.join(missing)}). "
                "Install it with `make setup` or `pip install 'moto[server]'`."
            )
        if self._proc and self._proc.poll() is None:
            return self
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn([sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)], self.log_path, detached=self.detached)
        wait_started(self._proc, lambda: port_open(LOOPBACK, self.port), self.log_path, f"moto server on {self.endpoint_url}")
        return self

    def reset(self) -> None:
        """Forget every resource created so far (moto's ``/moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        if self._proc:
            stop_process(self._proc)
            self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()
