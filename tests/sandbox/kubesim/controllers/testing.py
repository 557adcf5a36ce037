"""Helpers for driving the controllers in tests: a fake clock, a simulator on it, manifests, ticking until something holds."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..config import Config
from .defaults import apply_defaults

START = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def new_sim(**config: Any) -> tuple[Any, FakeClock]:
    """A Simulator with its controllers on a fake clock; keyword arguments are Config fields."""
    from ..sim import Simulator  # pylint: disable=import-outside-toplevel  # sim imports this package

    clock = FakeClock()
    return Simulator(Config(**config), clock=clock), clock


def tick(sim: Any, clock: FakeClock, seconds: float = 0.1, times: int = 1) -> None:
    """Advance the clock and run every controller, `times` times."""
    for _index in range(times):
        clock.advance(seconds)
        sim.tick()


def run_until(sim: Any, clock: FakeClock, predicate: Callable[[], bool], seconds: float = 0.1, limit: int = 500) -> int:
    """Tick until predicate() holds; returns the number of ticks (AssertionError after `limit`)."""
    for count in range(limit):
        if predicate():
            return count
        tick(sim, clock, seconds)
    if predicate():
        return limit
    raise AssertionError(f'condition not reached after {limit} ticks of {seconds}s')


def create(sim: Any, obj: dict, defaults: bool = True) -> dict:
    """Create an object as the HTTP layer would (defaults applied)."""
    res = sim.registry.get(obj['apiVersion'], obj['kind'])
    return sim.store.create(res, apply_defaults(res.kind, obj) if defaults else obj)


def get(sim: Any, api_version: str, kind: str, name: str, namespace: str | None = 'default') -> dict:
    """An object from the store."""
    return sim.store.get(sim.registry.get(api_version, kind), namespace, name)


def items(sim: Any, api_version: str, kind: str, namespace: str | None = None) -> list[dict]:
    """All objects of a kind."""
    return list(sim.store.items(sim.registry.get(api_version, kind), namespace))


def update(sim: Any, obj: dict, change: Callable[[dict], Any]) -> dict:
    """Read, change and replace an object (defaults applied), as kubectl edit or patch would."""
    res = sim.registry.get(obj['apiVersion'], obj['kind'])
    current = sim.store.get(res, obj['metadata'].get('namespace'), obj['metadata']['name'])
    change(current)
    current['metadata'].pop('resourceVersion', None)
    return sim.store.update(res, apply_defaults(res.kind, current))


def pod_template(app: str, image: str, annotations: dict | None = None, **container: Any) -> dict:
    """A pod template with one container `web`."""
    meta: dict = {'labels': {'app': app}}
    if annotations:
        meta['annotations'] = dict(annotations)
    return {'metadata': meta, 'spec': {'containers': [{'name': 'web', 'image': image, **copy.deepcopy(container)}]}}


def deployment(name: str = 'web', replicas: int = 3, image: str = 'shop:v1', namespace: str = 'default', **spec: Any) -> dict:
    """A Deployment manifest."""
    return {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'namespace': namespace},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': name}}, 'template': pod_template(name, image), **spec}}


def pods(sim: Any, app: str | None = None, namespace: str = 'default') -> list[dict]:
    """Pods (with label app=<app>)."""
    found = items(sim, 'v1', 'Pod', namespace)
    return [p for p in found if app is None or (p['metadata'].get('labels') or {}).get('app') == app]


def ready(pod: dict) -> bool:
    """Whether the pod is Ready."""
    return any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in (pod.get('status') or {}).get('conditions') or ())


def events_of(sim: Any, name: str | None = None, reason: str | None = None, namespace: str = 'default') -> list[dict]:
    """Events (about objects called `name`, with `reason`)."""
    found = items(sim, 'v1', 'Event', namespace)
    return [e for e in found if (name is None or e['involvedObject'].get('name') == name) and (reason is None or e.get('reason') == reason)]
