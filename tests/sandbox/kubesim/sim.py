"""The simulator: configuration, resource registry, store and the controllers that act on it."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .config import Config
from .resources import Registry
from .store import Store

LOG = logging.getLogger('kubesim')
_CONTROLLERS_MODULE = f'{__package__}.controllers'
_WARNED: list[bool] = []


def _import_controllers() -> ModuleType | None:
    """The controllers package, or None while it does not exist (logged once).

    A directory without __init__.py imports as an empty namespace package: that counts as not there yet.
    """
    try:
        module: ModuleType | None = importlib.import_module(_CONTROLLERS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _CONTROLLERS_MODULE:
            raise
        module = None
    if module is not None and getattr(module, '__file__', None) is not None:
        return module
    if not _WARNED:
        LOG.warning('%s is not available: the simulator runs without controllers', _CONTROLLERS_MODULE)
        _WARNED.append(True)
    return None


class Simulator:
    """A Kubernetes API's state and behaviour, without HTTP (see server.make_app for that).

    `run_controllers=False` gives a plain object store: no nodes are seeded and
    nothing reconciles, which keeps API-level tests deterministic.
    """

    def __init__(self, config: Config | None = None, clock: Callable[[], float] = time.time, run_controllers: bool = True) -> None:
        self.config = config or Config()
        self.clock = clock
        self.run_controllers = run_controllers
        self.registry = Registry(self.config.flavour)
        self.store = Store(self.registry, clock)
        self.controllers: list[Any] = []
        # Kubelet restarts in progress (POST /kubesim/nodes/<name>/kubelet-restart): node -> {'version', 'until'}.
        self.kubelet_restarts: dict[str, dict[str, Any]] = {}
        # Lines appended to container logs (POST /kubesim/namespaces/<ns>/pods/<pod>/log):
        # (namespace, pod, uid, container, attempt) -> [(epoch seconds, line)].
        self.pod_logs: dict[tuple[str, str, str, str, int], list[tuple[float, str]]] = {}
        self._start_controllers()

    def _start_controllers(self) -> None:
        self.controllers = []
        if not self.run_controllers:
            return
        module = _import_controllers()
        if module is None:
            return
        self.controllers = list(module.build(self))
        nodes = importlib.import_module(f'{_CONTROLLERS_MODULE}.nodes')
        nodes.seed_nodes(self)

    def reset(self) -> None:
        """Forget every object, then start again as a fresh simulator would (with a new registry if the flavour changed)."""
        if self.registry.flavour != self.config.flavour:
            self.registry = Registry(self.config.flavour)
            self.store = Store(self.registry, self.clock)
        else:
            self.store.reset()
        self.kubelet_restarts = {}
        self.pod_logs = {}
        self._start_controllers()

    def restart_kubelet(self, node: str, version: str | None = None, seconds: float = 1.0) -> dict[str, Any]:
        """Restart a node's kubelet, as an upgrade does: NotReady for `seconds`, then Ready again, reporting `version`
        (status.nodeInfo.kubeletVersion and kubeProxyVersion; unchanged when None). KeyError when the node does not exist."""
        res = self.registry.get('v1', 'Node')
        current = self.store.find(res, None, node)
        if current is None:
            raise KeyError(node)
        version = version or ((current.get('status') or {}).get('nodeInfo') or {}).get('kubeletVersion') or self.config.kubelet_version
        self.kubelet_restarts[node] = {'version': version, 'until': self.clock() + max(0.0, float(seconds))}
        return {'node': node, 'version': version, 'seconds': max(0.0, float(seconds))}

    def tick(self) -> None:
        """Run each controller's reconcile once; one failing controller does not stop the others."""
        for controller in self.controllers:
            try:
                controller.reconcile()
            except Exception:  # pylint: disable=broad-exception-caught  # a controller bug must not stop the API or the other controllers
                LOG.exception('controller %s failed', type(controller).__name__)

    async def run(self) -> None:
        """Tick every config.tick_seconds until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(self.config.tick_seconds)
