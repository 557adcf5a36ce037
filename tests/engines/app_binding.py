"""Bind the sample app to a workload on a Kubernetes API, so the health gate measures what the automation did.

The Kubernetes test bed (kubesim, or a real cluster) runs no real service: its
pods serve nothing. The sample app (``sample_app.py``), which Prometheus scrapes,
stands in for the service those pods would be. ``AppBinding`` polls one workload
(a Deployment or StatefulSet, its pods and optionally its Ingress) every
``interval`` seconds and sets the sample app's knobs from what it sees, so that
a rollback, a restart or a scale-out done by a playbook shows in the error rate
and the latency that the health gate reads, instead of a test setting them.

The mapping (``controls_for``, a pure function):

- A pod counts when it is Running, its Ready condition is True and it is not
  being deleted.
- ``healthy`` and ``ready``: at least one pod counts. Without one, the service is
  down ("API completely down: all health checks failing, 100% error rate"):
  ``error_rate`` is 1.0.
- ``error_rate``: the mean over the counted pods of each pod's error rate: the
  pod annotation ``sre-test/error-rate`` (a number 0..1) when present, else
  ``ERRORS_WORD_RATE`` (0.5, the runbooks' "50% error rate" P1 example) when a
  container image tag has the dash-separated word ``errors``
  (``nginx:1.26-errors``: kubesim runs it normally, only the app fails), else 0.
  A rollout that is half done gives a mix.
- ``latency_seconds``: ``BASE_LATENCY`` (the sample app's 50 ms) while enough
  pods count for the load, ``OVERLOAD_LATENCY`` (3 s, above the runbooks' "P95
  >2s" alert) when fewer do. The load is the workload's (or its pod
  template's) annotation ``sre-test/load``: how many ready replicas the traffic
  needs. No annotation: no load limit.
- ``rps``: the offered traffic, annotation ``sre-test/rps`` (default: the
  sample app's 20 a second). An Ingress given to the binding with
  ``nginx.ingress.kubernetes.io/limit-rps`` admits at most that many: ``rps``
  becomes the admitted rate and the load needed shrinks in proportion (rounded
  up), which is what the runbooks' ingress rate limit is for.

A workload that cannot be read (not there yet, deleted) counts as no pods.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .sample_app import Control, SampleApp

ERROR_RATE_ANNOTATION = "sre-test/error-rate"
LOAD_ANNOTATION = "sre-test/load"
RPS_ANNOTATION = "sre-test/rps"
LIMIT_RPS_ANNOTATION = "nginx.ingress.kubernetes.io/limit-rps"
ERRORS_WORD = "errors"
ERRORS_WORD_RATE = 0.5
BASE_LATENCY = Control.latency_seconds
OVERLOAD_LATENCY = 3.0
DEFAULT_RPS = Control.rps
KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}


def _annotations(obj: Mapping[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("annotations") or {})


def _number(value: Any, default: float | None) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number >= 0 and math.isfinite(number) else default


def image_words(image: str) -> list[str]:
    """The dash-separated words of an image's tag: ``nginx:1.26-errors`` -> ``['1.26', 'errors']``."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return tag.split("-") if tag else []


def pod_counts(pod: Mapping[str, Any]) -> bool:
    """Running, Ready and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
    return status.get("phase") == "Running" and ready


def pod_error_rate(pod: Mapping[str, Any]) -> float:
    """The pod's share of failed requests: its sre-test/error-rate, else 0.5 for an image tagged ``-errors``, else 0."""
    given = _number(_annotations(pod).get(ERROR_RATE_ANNOTATION), None)
    if given is not None:
        return min(given, 1.0)
    containers = ((pod.get("spec") or {}).get("containers")) or ()
    if any(ERRORS_WORD in image_words(str(c.get("image") or "")) for c in containers):
        return ERRORS_WORD_RATE
    return 0.0


def controls_for(workload: Mapping[str, Any] | None, pods: list[Mapping[str, Any]], ingress: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The sample app's knobs for a workload and its pods (and the Ingress in front of it); see the module docstring."""
    counted = [pod for pod in pods if pod_counts(pod)]
    settings = {**_annotations(((workload or {}).get("spec") or {}).get("template")), **_annotations(workload)}
    offered = _number(settings.get(RPS_ANNOTATION), DEFAULT_RPS) or 0.0
    limit = _number(_annotations(ingress).get(LIMIT_RPS_ANNOTATION), None) if ingress else None
    admitted = min(offered, limit) if limit is not None else offered
    load = _number(settings.get(LOAD_ANNOTATION), None)
    needed = math.ceil(load * admitted / offered - 1e-9) if load is not None and offered > 0 else load
    if not counted:
        return {"healthy": False, "ready": False, "error_rate": 1.0, "latency_seconds": BASE_LATENCY, "rps": admitted}
    error_rate = sum(pod_error_rate(pod) for pod in counted) / len(counted)
    overloaded = needed is not None and len(counted) < needed
    return {"healthy": True, "ready": True, "error_rate": round(error_rate, 6),
            "latency_seconds": OVERLOAD_LATENCY if overloaded else BASE_LATENCY, "rps": admitted}


@dataclasses.dataclass
class Observation:
    """What the binding last read, and the knobs it set from it."""

    workload: dict[str, Any] | None
    pods: list[dict[str, Any]]
    ingress: dict[str, Any] | None
    controls: dict[str, Any]


class AppBinding:
    """Polls a workload on a Kubernetes API and keeps ``app``'s knobs at ``controls_for`` of what it reads."""

    def __init__(self, app: SampleApp, kubeconfig: str | Path, namespace: str, name: str, kind: str = "Deployment",
                 ingress: str | None = None, interval: float = 0.2) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.app = app
        self.kubeconfig = str(kubeconfig)
        self.namespace = namespace
        self.name = name
        self.kind = kind
        self.ingress = ingress
        self.interval = interval
        self.last: Observation | None = None
        self._client: Any = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _get(self, path: str, query: list[tuple[str, str]] | None = None) -> dict[str, Any] | None:
        """GET a path of the API as JSON; None when the object is not there."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        try:
            response = self._client.call_api(path, "GET", query_params=query or [], header_params={"Accept": "application/json"},
                                             auth_settings=["BearerToken"], _preload_content=False, _request_timeout=10)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(response[0].data)

    def observe(self) -> Observation:
        """Read the workload, its pods and the Ingress once, set the app's knobs, and return what was seen."""
        if self._client is None:
            from kubernetes import config  # pylint: disable=import-outside-toplevel

            self._client = config.new_client_from_config(config_file=self.kubeconfig)
        base = f"/apis/apps/v1/namespaces/{self.namespace}/{KINDS[self.kind]}/{self.name}"
        workload = self._get(base)
        pods: list[dict[str, Any]] = []
        labels = (((workload or {}).get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if labels:
            selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
            found = self._get(f"/api/v1/namespaces/{self.namespace}/pods", [("labelSelector", selector)])
            pods = list((found or {}).get("items") or [])
        ingress = self._get(f"/apis/networking.k8s.io/v1/namespaces/{self.namespace}/ingresses/{self.ingress}") if self.ingress else None
        controls = controls_for(workload, pods, ingress)
        self.app.update(controls)
        observation = Observation(workload, pods, ingress, controls)
        with self._lock:
            self.last = observation
        return observation

    def start(self) -> AppBinding:
        """Observe once (so the app is bound when this returns), then keep observing in a thread."""
        if self._thread:
            return self
        self.observe()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"app-binding-{self.namespace}-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._thread:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.observe()
            except Exception:  # pylint: disable=broad-exception-caught  # a failed read is retried at the next poll
                continue

    def __enter__(self) -> AppBinding:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()
