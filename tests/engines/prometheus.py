"""A real Prometheus server scraping given targets, with optional alerting rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import EngineUnavailable
from .ports import LOOPBACK, free_port, wait_until
from .processes import spawn, stop_process, wait_started

DEFAULT_BINARY = "/usr/bin/prometheus"
JOB_NAME = "sample-app"


class PrometheusServer:
    """Prometheus with its config, TSDB and log under ``base_dir``; ``rules`` is the content of a rule file."""

    def __init__(
        self,
        base_dir: Path | str,
        targets: Sequence[str],
        scrape_interval: str = "1s",
        port: int | None = None,
        binary: Path | str | None = None,
        rules: str | None = None,
        evaluation_interval: str | None = None,
        detached: bool = False,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval or scrape_interval
        self.port = port or free_port()
        self.binary = Path(binary or os.environ.get("SRE_PROMETHEUS_BIN") or DEFAULT_BINARY)
        self.rules = rules
        self.detached = detached
        self.config_path = self.base_dir / "prometheus.yml"
        self.rules_path = self.base_dir / "rules.yml"
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> PrometheusServer:
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            found = shutil.which(self.binary.name)
            hint = f" (a {self.binary.name} is on PATH at {found}: set SRE_PROMETHEUS_BIN={found} to use it)" if found else ""
            raise EngineUnavailable(
                f"prometheus not found at {self.binary}{hint}. Install it with `make setup` or `apt-get install prometheus`, "
                "or point SRE_PROMETHEUS_BIN at a prometheus binary."
            )
        if self._proc and self._proc.poll() is None:
            return self
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        cmd = [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
        ]
        self._proc = spawn(cmd, self.log_path, detached=self.detached, cwd=self.base_dir)
        wait_started(self._proc, self._ready, self.log_path, f"prometheus on {self.url}")
        return self

    def stop(self) -> None:
        if self._proc:
            stop_process(self._proc, timeout=30)
            self._proc = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    # -- HTTP API --------------------------------------------------------------

    def query(self, promql: str) -> dict[str, Any]:
        """Evaluate ``promql`` now; return the API's ``data`` (``resultType`` and ``result``)."""
        data: dict[str, Any] = self._api("query", {"query": promql})
        return data

    def query_value(self, promql: str) -> float | None:
        """The value of a query giving a scalar or a one-element vector; None for an empty vector."""
        data = self.query(promql)
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        result = data["result"]
        if data["resultType"] != "vector" or len(result) > 1:
            raise ValueError(f"{promql!r} gave {data['resultType']} with {len(result)} series, not one value")
        return float(result[0]["value"][1]) if result else None

    def wait_for_value(self, promql: str, accept: Callable[[float], bool], what: str, timeout: float = 90.0) -> float:
        """Poll ``query_value(promql)`` until ``accept(value)`` holds and return that value.

        Raises ``TimeoutError`` naming ``what`` and the last value seen. Rates over a
        window take that window to follow a change of the sample app.
        """
        last: list[float | None] = [None]

        def accepted() -> tuple[float] | None:
            last[0] = value = self.query_value(promql)
            return (value,) if value is not None and accept(value) else None  # a tuple: 0.0 is an answer too

        try:
            return wait_until(accepted, timeout, 0.5, what)[0]
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (last value: {last[0]!r})") from None

    def targets_health(self) -> list[dict[str, Any]]:
        """The active scrape targets (``/api/v1/targets``)."""
        return list(self._api("targets", {"state": "active"})["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts (``/api/v1/alerts``)."""
        return list(self._api("alerts", {})["alerts"])

    def wait_for_targets_up(self, timeout: float = 30.0) -> None:
        """Wait until every target has been scraped successfully."""
        def all_up() -> bool:
            health = self.targets_health()
            return len(health) == len(self.targets) and all(target["health"] == "up" for target in health)

        wait_until(all_up, timeout=timeout, interval=0.2, what=f"prometheus targets {', '.join(self.targets)} to be up")

    # -- internals -------------------------------------------------------------

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:  # refused, reset or timed out while it starts (URLError is an OSError)
            return False

    def _api(self, endpoint: str, params: dict[str, str]) -> Any:
        url = f"{self.url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            # The API answers errors (e.g. a bad query) as JSON with a 4xx status.
            body = json.load(exc)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {endpoint} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def _write_config(self) -> None:
        # JSON is YAML, and spares a YAML dependency for writing.
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval},
            "scrape_configs": [{"job_name": JOB_NAME, "static_configs": [{"targets": self.targets}]}],
        }
        if self.rules is not None:
            self.rules_path.write_text(self.rules, encoding="utf-8")
            config["rule_files"] = [str(self.rules_path)]
        self.config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
