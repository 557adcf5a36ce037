"""pytest fixtures starting the real engines; register with ``pytest_plugins = ["tests.engines.pytest_plugin"]``.

A missing prerequisite fails the test with the install hint (``pytest.fail``,
no traceback) instead of skipping it: a suite that skips its integration tests
on a badly provisioned machine looks green and proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from .app_binding import AppBinding
from .errors import EngineUnavailable
from .kube import KubeTarget
from .moto_server import MotoServer
from .postgres import PostgresCluster
from .prometheus import PrometheusServer
from .sample_app import SampleApp

T = TypeVar("T")

# Credentials and profiles of the caller that would take precedence over, or mix with, the moto ones.
_AWS_VARIABLES_TO_CLEAR = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _required(start: Callable[[], T]) -> T:
    """``start()``, turning a missing prerequisite into a failure that shows only the install hint."""
    try:
        return start()
    except EngineUnavailable as exc:
        missing = str(exc)
    # What pytest.fail(missing, pytrace=False) raises, raised outside the except
    # block: inside it, pytest would repeat the message under "During handling
    # of the above exception".
    raise pytest.fail.Exception(missing, pytrace=False)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A PostgreSQL 15 cluster shared by the session (roles ``postgres`` and ``sre``, database ``app``)."""
    cluster = _required(PostgresCluster(tmp_path_factory.mktemp("pg")).start)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def pg_archive_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A PostgreSQL 15 cluster with WAL archiving into ``archive_dir``, one per test module."""
    cluster = _required(PostgresCluster(tmp_path_factory.mktemp("pg-archive"), archive=True).start)
    yield cluster
    cluster.stop()


# name=: the fixtures that other fixtures here use get another function name,
# so that their parameters do not shadow a module-level name.
@pytest.fixture(scope="session", name="moto_server")
def moto_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto's AWS simulator shared by the session; ``aws_env`` resets it for each test."""
    server = _required(MotoServer(tmp_path_factory.mktemp("moto")).start)
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 in this process (and the processes it starts) at an emptied moto; return the variables set."""
    moto_server.reset()
    for name in _AWS_VARIABLES_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    env = moto_server.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session", name="sample_app")
def sample_app_fixture() -> Iterator[SampleApp]:
    """The sample service shared by the session; a test that turns its knobs calls ``sample_app.reset()`` when done."""
    app = SampleApp()
    app.start()
    yield app
    app.stop()


@pytest.fixture
def fresh_sample_app(sample_app: SampleApp) -> Iterator[SampleApp]:
    """The shared sample service at its defaults (healthy, no errors, 50 ms), and put back to them after the test."""
    sample_app.reset()
    yield sample_app
    sample_app.reset()


@pytest.fixture(scope="session")
def prometheus(sample_app: SampleApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Prometheus scraping ``sample_app`` every second, with its first scrape done."""
    server = _required(PrometheusServer(tmp_path_factory.mktemp("prometheus"), [sample_app.address], scrape_interval="1s").start)
    try:
        server.wait_for_targets_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kube_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeTarget]:
    """The Kubernetes API of ``$KUBECONFIG``, or the simulator once it exists."""
    base_dir = tmp_path_factory.mktemp("kube")
    target = _required(lambda: KubeTarget.discover(base_dir))
    yield target
    target.close()


@pytest.fixture
def bind_app(fresh_sample_app: SampleApp, kube_target: KubeTarget) -> Iterator[Callable[..., AppBinding]]:
    """``bind_app(namespace, name, kind="Deployment", ingress=None)``: bind the sample app to a workload (see app_binding.py).

    The app's knobs then follow the workload's pods; every binding stops after the
    test and the app goes back to its defaults.
    """
    bindings: list[AppBinding] = []

    def bind(namespace: str, name: str, **options: Any) -> AppBinding:
        binding = AppBinding(fresh_sample_app, kube_target.kubeconfig, namespace, name, **options).start()
        bindings.append(binding)
        return binding

    yield bind
    for binding in bindings:
        binding.stop()
