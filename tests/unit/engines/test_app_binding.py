"""The binding between a workload on a Kubernetes API and the sample app: the mapping, and one live binding on kubesim."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engines.app_binding import (BASE_LATENCY, ERRORS_WORD_RATE, OVERLOAD_LATENCY, AppBinding, controls_for, image_words,
                                       pod_error_rate)
from tests.engines.kube import KubeTarget
from tests.engines.sample_app import SampleApp
from tests.sandbox import kubesim


def pod(image: str = "shop:v1", ready: bool = True, phase: str = "Running", deleting: bool = False, annotations: dict | None = None) -> dict:
    meta: dict[str, Any] = {"name": "p", "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"name": "web", "image": image}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def workload(**annotations: str) -> dict:
    return {"metadata": {"annotations": dict(annotations)}, "spec": {"template": {"metadata": {}}}}


def test_image_words():
    assert image_words("nginx:1.26-errors") == ["1.26", "errors"]
    assert image_words("registry:5000/shop/web:v2-errors-x@sha256:abc") == ["v2", "errors", "x"]
    assert image_words("registry:5000/shop") == []


def test_pod_error_rate_from_the_annotation_the_image_word_or_nothing():
    assert pod_error_rate(pod()) == 0.0
    assert pod_error_rate(pod("shop:v2-errors")) == ERRORS_WORD_RATE
    assert pod_error_rate(pod("shop:v2-errorsome")) == 0.0
    assert pod_error_rate(pod("shop:v2-errors", annotations={"sre-test/error-rate": "0.2"})) == 0.2
    assert pod_error_rate(pod(annotations={"sre-test/error-rate": "7"})) == 1.0
    assert pod_error_rate(pod(annotations={"sre-test/error-rate": "lots"})) == 0.0


def test_no_ready_pod_is_a_service_down():
    for pods in ([], [pod(ready=False)], [pod(phase="Pending")], [pod(deleting=True)]):
        controls = controls_for(workload(), pods)
        assert (controls["healthy"], controls["ready"], controls["error_rate"]) == (False, False, 1.0)
    assert controls_for(None, [])["healthy"] is False


def test_error_rate_is_the_mean_over_ready_pods():
    pods = [pod("shop:v2-errors"), pod("shop:v1"), pod("shop:v2-errors", ready=False)]
    controls = controls_for(workload(), pods)
    assert controls["healthy"] is True
    assert controls["error_rate"] == ERRORS_WORD_RATE / 2
    assert controls["latency_seconds"] == BASE_LATENCY


def test_latency_rises_when_fewer_pods_are_ready_than_the_load_needs():
    assert controls_for(workload(**{"sre-test/load": "3"}), [pod(), pod()])["latency_seconds"] == OVERLOAD_LATENCY
    assert controls_for(workload(**{"sre-test/load": "3"}), [pod(), pod(), pod()])["latency_seconds"] == BASE_LATENCY
    template_load = {"metadata": {}, "spec": {"template": {"metadata": {"annotations": {"sre-test/load": "2"}}}}}
    assert controls_for(template_load, [pod()])["latency_seconds"] == OVERLOAD_LATENCY
    assert controls_for(workload(), [pod()])["latency_seconds"] == BASE_LATENCY


def test_ingress_rate_limit_admits_less_traffic_and_shrinks_the_load():
    busy = workload(**{"sre-test/load": "6", "sre-test/rps": "100"})
    pods = [pod(), pod(), pod()]
    assert controls_for(busy, pods) == {"healthy": True, "ready": True, "error_rate": 0.0, "latency_seconds": OVERLOAD_LATENCY, "rps": 100.0}
    limited = {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/limit-rps": "50"}}}
    assert controls_for(busy, pods, limited) == {"healthy": True, "ready": True, "error_rate": 0.0, "latency_seconds": BASE_LATENCY, "rps": 50.0}
    assert controls_for(busy, pods, {"metadata": {}})["latency_seconds"] == OVERLOAD_LATENCY


@pytest.fixture(scope="module", name="target")
def target_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeTarget]:
    target = kubesim.start(tmp_path_factory.mktemp("kubesim"))
    yield target
    target.close()


def kubectl(target: KubeTarget, *args: str, body: dict | None = None) -> str:
    proc = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", str(target.kubeconfig), *args], input=json.dumps(body) if body else None,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def deployment(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}}}


def wait_until(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_live_binding_follows_a_rollout_on_kubesim(target: KubeTarget):
    with SampleApp() as app, AppBinding(app, target.kubeconfig, "default", "web", interval=0.1) as binding:
        assert app.control.healthy is False  # nothing deployed yet
        assert binding.last is not None and binding.last.workload is None
        kubectl(target, "apply", "-f", "-", body=deployment("shop:v1"))
        wait_until(lambda: app.control.healthy and len([p for p in binding.last.pods if p["status"].get("phase") == "Running"]) == 2)
        assert app.control.error_rate == 0.0
        kubectl(target, "apply", "-f", "-", body=deployment("shop:v2-errors"))
        wait_until(lambda: app.control.error_rate == ERRORS_WORD_RATE)
        kubectl(target, "scale", "deployment/web", "--replicas=0")
        wait_until(lambda: not app.control.healthy)
        assert app.control.error_rate == 1.0
    kubectl(target, "delete", "deployment", "web")
