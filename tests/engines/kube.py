"""How the tests reach a Kubernetes API: a real cluster through KUBECONFIG, or the simulator.

The simulator (``tests/sandbox/kubesim``) comes later. Its contract: the module
exposes ``start(base_dir: pathlib.Path) -> KubeTarget`` that serves the API on
127.0.0.1, writes a kubeconfig for it, and returns a target whose ``stop``
shuts it down.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from .errors import EngineUnavailable

SIMULATOR_MODULE = "tests.sandbox.kubesim"


@dataclasses.dataclass
class KubeTarget:
    """A Kubernetes API the tests may use, described by a kubeconfig file."""

    kubeconfig: Path
    source: str  # "KUBECONFIG" (a real cluster) or "kubesim"
    stop: Callable[[], None] | None = None

    def env(self) -> dict[str, str]:
        """Variables pointing kubectl, the kubernetes client and kubernetes.core modules at this API."""
        return {"KUBECONFIG": str(self.kubeconfig), "K8S_AUTH_KUBECONFIG": str(self.kubeconfig)}

    def close(self) -> None:
        if self.stop:
            self.stop()

    @classmethod
    def discover(cls, base_dir: Path) -> KubeTarget:
        """The cluster of ``$KUBECONFIG`` when that file exists, else a simulator started under ``base_dir``."""
        kubeconfig = os.environ.get("KUBECONFIG")
        if kubeconfig and Path(kubeconfig).is_file():
            return cls(kubeconfig=Path(kubeconfig), source="KUBECONFIG")
        try:
            simulator = importlib.import_module(SIMULATOR_MODULE)
        except ModuleNotFoundError as exc:
            if exc.name in ("tests", "tests.sandbox", SIMULATOR_MODULE):
                raise EngineUnavailable(
                    "Kubernetes API simulator not available yet (tests/sandbox/kubesim); set KUBECONFIG to a real cluster to run Kubernetes integration tests"
                ) from None
            raise EngineUnavailable(f"the Kubernetes API simulator needs the Python module {exc.name}: install it with `make setup`") from None
        target: KubeTarget = simulator.start(base_dir)
        return target
