"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) routing every alert to one webhook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import EngineUnavailable
from .ports import LOOPBACK, free_port
from .processes import spawn, stop_process, wait_started

DEFAULT_BINARY = "/usr/bin/prometheus-alertmanager"


class AlertmanagerServer:
    """Alertmanager with its config, data and log under ``base_dir``, sending notifications to ``webhook_url``.

    ``group_by`` and the timings are the route's: with the defaults every alert
    is its own group, notified at once and repeated every ``repeat_interval``
    while it fires, as a flapping or long-firing alert is in production (where
    the interval is hours, not seconds). Clustering is off.
    """

    def __init__(
        self,
        base_dir: Path | str,
        webhook_url: str,
        group_by: tuple[str, ...] = ("...",),
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "2s",
        send_resolved: bool = True,
        port: int | None = None,
        binary: Path | str | None = None,
        detached: bool = False,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.webhook_url = webhook_url
        self.group_by = list(group_by)
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.send_resolved = send_resolved
        self.port = port or free_port()
        self.binary = Path(binary or os.environ.get("SRE_ALERTMANAGER_BIN") or DEFAULT_BINARY)
        self.detached = detached
        self.config_path = self.base_dir / "alertmanager.yml"
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "alertmanager.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> AlertmanagerServer:
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            found = shutil.which(self.binary.name) or shutil.which("alertmanager")
            hint = f" (one is on PATH at {found}: set SRE_ALERTMANAGER_BIN={found} to use it)" if found else ""
            raise EngineUnavailable(
                f"alertmanager not found at {self.binary}{hint}. Install it with `make setup` or "
                "`apt-get install prometheus-alertmanager`, or point SRE_ALERTMANAGER_BIN at an alertmanager binary."
            )
        if self._proc and self._proc.poll() is None:
            return self
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        cmd = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # An empty address turns the gossip cluster off (it would bind 0.0.0.0:9094).
            "--cluster.listen-address=",
        ]
        self._proc = spawn(cmd, self.log_path, detached=self.detached, cwd=self.base_dir)
        wait_started(self._proc, self._ready, self.log_path, f"alertmanager on {self.url}")
        return self

    def stop(self) -> None:
        if self._proc:
            stop_process(self._proc, timeout=30)
            self._proc = None

    def __enter__(self) -> AlertmanagerServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    # -- HTTP API (v2) -----------------------------------------------------------

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts``, as Prometheus sends them (labels, annotations, startsAt, endsAt)."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"alertmanager refused the alerts: {exc.code} {exc.read().decode(errors='replace')}") from None

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            return list(json.load(response))

    # -- internals -------------------------------------------------------------

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _write_config(self) -> None:
        # JSON is YAML.
        config = {
            "route": {
                "receiver": "webhook",
                "group_by": self.group_by,
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {"name": "webhook", "webhook_configs": [{"url": self.webhook_url, "send_resolved": self.send_resolved}]},
            ],
        }
        self.config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
