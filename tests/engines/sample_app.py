"""A small HTTP service whose health, readiness and metrics the tests steer.

Endpoints: ``GET /health`` and ``GET /ready`` (200, or 503 when switched off),
``GET /metrics`` (Prometheus text format), ``GET /control`` (current knobs) and
``POST /control`` with a JSON object of knobs to change, e.g.
``{"error_rate": 0.12, "latency_seconds": 0.4, "healthy": false, "rps": 20}``.

The service makes up its own traffic: a ticker adds ``rps`` requests a second
to ``http_requests_total``, exactly ``error_rate`` of them with code 500, each
observed at ``latency_seconds`` in ``http_request_duration_seconds``. No
randomness, so the error-ratio PromQL over a window settles on ``error_rate``
and the 95th percentile falls in the histogram bucket holding
``latency_seconds``. Requests made to the service itself are not counted.

Run standalone (for the sandbox) with ``python -m tests.engines.sample_app --port N``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import signal
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

from .ports import LOOPBACK, free_port

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HANDLER = "/api/orders"
METHOD = "GET"
TICK_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class Control:
    """The knobs of the service."""

    error_rate: float = 0.0
    latency_seconds: float = 0.05
    healthy: bool = True
    ready: bool = True
    rps: float = 20.0
    memory_bytes: int = 64 * 1024 * 1024

    def updated(self, changes: dict[str, Any]) -> Control:
        """A copy with ``changes`` applied; ``ValueError`` on unknown knobs or bad values."""
        known = [field.name for field in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown control(s): {', '.join(unknown)}; known: {', '.join(known)}")
        for name, value in changes.items():
            if isinstance(getattr(self, name), bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        if changes.get("error_rate", 0) > 1:
            raise ValueError(f"error_rate must be between 0 and 1, not {changes['error_rate']!r}")
        return dataclasses.replace(self, **changes)


class _Traffic:
    """Counters of the made-up requests."""

    def __init__(self) -> None:
        self.by_code = {"200": 0, "500": 0}
        self.bucket_counts = [0] * len(BUCKETS)  # cumulative, like the exposition format
        self.duration_sum = 0.0
        self.count = 0
        # Fractions of a request (or of an error) carried over to the next tick,
        # so that low rates and ratios add up exactly instead of rounding to 0.
        self._requests_due = 0.0
        self._errors_due = 0.0

    def advance(self, seconds: float, control: Control) -> None:
        self._requests_due += control.rps * seconds
        requests = int(self._requests_due)
        self._requests_due -= requests
        self._errors_due += requests * control.error_rate
        errors = int(self._errors_due)
        self._errors_due -= errors
        self.by_code["500"] += errors
        self.by_code["200"] += requests - errors
        for index, bound in enumerate(BUCKETS):
            if control.latency_seconds <= bound:
                self.bucket_counts[index] += requests
        self.duration_sum += requests * control.latency_seconds
        self.count += requests

    def exposition(self, control: Control) -> str:
        labels = f'handler="{HANDLER}",method="{METHOD}"'
        lines = [
            "# HELP http_requests_total Requests handled, by status code.",
            "# TYPE http_requests_total counter",
            *(f'http_requests_total{{code="{code}",{labels}}} {count}' for code, count in sorted(self.by_code.items())),
            "# HELP http_request_duration_seconds Time spent handling requests.",
            "# TYPE http_request_duration_seconds histogram",
            *(f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}' for bound, count in zip(BUCKETS, self.bucket_counts)),
            f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {self.count}',
            f"http_request_duration_seconds_sum{{{labels}}} {self.duration_sum!r}",
            f"http_request_duration_seconds_count{{{labels}}} {self.count}",
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {control.memory_bytes}",
        ]
        return "\n".join(lines) + "\n"


class Sample(NamedTuple):
    """One sample line of the Prometheus text format."""

    name: str
    labels: dict[str, str]
    value: float


_SAMPLE_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_metrics(text: str) -> list[Sample]:
    """Parse the Prometheus text exposition format; ``ValueError`` on a malformed line."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _SAMPLE_LINE.match(line)
        if not match:
            raise ValueError(f"not a sample line: {line!r}")
        raw_labels = match["labels"] or ""
        labels = {label["key"]: label["value"] for label in _LABEL.finditer(raw_labels)}
        if _LABEL.sub("", raw_labels).strip():
            raise ValueError(f"malformed labels in: {line!r}")
        samples.append(Sample(match["name"], labels, float(match["value"])))
    return samples


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: SampleApp) -> None:
        self.app = app
        super().__init__((app.host, app.port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # pylint: disable=invalid-name  # http.server's naming
        app = self.server.app
        control = app.control
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":
            self._send_json(HTTPStatus.OK if control.healthy else HTTPStatus.SERVICE_UNAVAILABLE, {"status": "ok" if control.healthy else "unhealthy"})
        elif path == "/ready":
            self._send_json(HTTPStatus.OK if control.ready else HTTPStatus.SERVICE_UNAVAILABLE, {"status": "ready" if control.ready else "not ready"})
        elif path == "/metrics":
            self._send(HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8", app.metrics_text().encode())
        elif path == "/control":
            self._send_json(HTTPStatus.OK, dataclasses.asdict(control))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})

    def do_POST(self) -> None:  # pylint: disable=invalid-name  # http.server's naming
        if urllib.parse.urlsplit(self.path).path != "/control":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {self.path}"})
            return
        try:
            changes = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            control = self.server.app.update(changes)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._send_json(HTTPStatus.OK, dataclasses.asdict(control))

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin  # signature of the base class
        """Stay quiet: Prometheus scrapes every second."""

    def _send_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SampleApp:
    """The service on 127.0.0.1, served from threads of the current process."""

    def __init__(self, port: int | None = None) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._control = Control()
        self._traffic = _Traffic()
        self._server: _Server | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, as a Prometheus scrape target."""
        return f"{self.host}:{self.port}"

    @property
    def control(self) -> Control:
        with self._lock:
            return self._control

    def set(self, **changes: Any) -> Control:
        """Change knobs (error_rate, latency_seconds, healthy, ready, rps, memory_bytes); return the new ones."""
        return self.update(changes)

    def update(self, changes: dict[str, Any]) -> Control:
        """``set`` taking a dict, as ``POST /control`` does; ``ValueError`` on unknown knobs or bad values."""
        with self._lock:
            self._control = self._control.updated(changes)
            return self._control

    def reset(self) -> Control:
        """Put every knob back to its default (counters keep counting, as counters do)."""
        with self._lock:
            self._control = Control()
            return self._control

    def metrics_text(self) -> str:
        with self._lock:
            return self._traffic.exposition(self._control)

    def start(self) -> SampleApp:
        if self._server:
            return self
        self._server = _Server(self)
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name=f"sample-app-http-{self.port}", daemon=True),
            threading.Thread(target=self._tick, name=f"sample-app-traffic-{self.port}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if not self._server:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join()
        self._server = None

    def __enter__(self) -> SampleApp:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stopping.wait(TICK_SECONDS):
            now = time.monotonic()
            with self._lock:
                self._traffic.advance(now - last, self._control)
            last = now


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.engines.sample_app", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    args = parser.parse_args(argv)
    # Block the stop signals before any thread starts (threads inherit the mask),
    # so that only the main thread receives them, in sigwait, and stops cleanly.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    app = SampleApp(args.port).start()
    signal.sigwait(stop_signals)
    app.stop()


if __name__ == "__main__":
    main()
