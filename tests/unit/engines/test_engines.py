"""The real engines start, answer and stop (these tests run PostgreSQL, moto and Prometheus)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest

from tests.engines.errors import EngineUnavailable
from tests.engines.kube import KubeTarget
from tests.engines.moto_server import MotoServer
from tests.engines.ports import LOOPBACK, wait_until
from tests.engines.postgres import APP_DB, SRE_USER, PostgresCluster
from tests.engines.processes import pid_alive
from tests.engines.prometheus import PrometheusServer
from tests.engines.sample_app import SampleApp, Sample, parse_metrics

REPO_ROOT = Path(__file__).resolve().parents[3]
WAL_SEGMENT_BYTES = 16 * 1024 * 1024


def _http(url: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(sample.value for sample in samples if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()))


# -- PostgreSQL -----------------------------------------------------------------


def test_postgres_starts_and_psql_answers(pg_cluster: PostgresCluster) -> None:
    assert pg_cluster.version // 10000 == 15
    assert pg_cluster.psql("SELECT 40 + 2") == "42"
    assert pg_cluster.psql("SHOW wal_level") == "replica"
    assert pg_cluster.psql("SHOW listen_addresses") == LOOPBACK
    assert pg_cluster.psql("SELECT current_user", user=SRE_USER, dbname=APP_DB) == SRE_USER


def test_sre_role_needs_its_password(pg_cluster: PostgresCluster) -> None:
    with psycopg2.connect(**pg_cluster.conninfo) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        assert cur.fetchone() == (SRE_USER, APP_DB)
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(**{**pg_cluster.conninfo, "password": "wrong-password"})
    with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
        psycopg2.connect(**{**pg_cluster.conninfo, "password": ""})


def test_dsn_connects(pg_cluster: PostgresCluster) -> None:
    with psycopg2.connect(pg_cluster.dsn(SRE_USER, APP_DB)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_has_role('pg_monitor', 'MEMBER')")
        assert cur.fetchone() == (True,)
    conn.close()


def test_pg_basebackup(pg_cluster: PostgresCluster, tmp_path: Path) -> None:
    backup = pg_cluster.pg_basebackup(tmp_path / "backup")
    assert (backup / "PG_VERSION").read_text(encoding="ascii").strip() == "15"
    assert (backup / "backup_label").is_file()
    assert (backup / "backup_manifest").is_file()


def test_wal_archiving(pg_archive_cluster: PostgresCluster) -> None:
    assert pg_archive_cluster.psql("SHOW archive_mode") == "on"
    wal = pg_archive_cluster.switch_wal()
    archived = pg_archive_cluster.wait_archived(wal)
    assert archived.parent == pg_archive_cluster.archive_dir
    assert archived.stat().st_size == WAL_SEGMENT_BYTES


def test_existing_data_directory_is_served_on_the_new_port(tmp_path: Path) -> None:
    """make demo reuses the sandbox's data directory: a later start on another port must serve that port."""
    first = PostgresCluster(tmp_path / "pg").start()
    try:
        first_port = first.port
    finally:
        first.stop()
    second = PostgresCluster(tmp_path / "pg").start()
    try:
        assert second.port != first_port
        assert second.psql("SELECT current_setting('port')").strip() == str(second.port)
    finally:
        second.stop()


def test_missing_postgres_binaries_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable) as info:
        PostgresCluster(tmp_path / "pg", bin_dir=tmp_path / "no-such-bin").start()
    message = str(info.value)
    assert "PostgreSQL 15 server binaries not found" in message
    assert str(tmp_path / "no-such-bin") in message
    assert "make setup" in message and "apt-get install postgresql-15" in message


def test_busy_port_reports_server_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        cluster = PostgresCluster(tmp_path / "pg", port=squatter.getsockname()[1])
        with pytest.raises(RuntimeError, match="Address already in use"):
            cluster.start()
    assert not cluster.running


# -- moto -------------------------------------------------------------------------


def test_moto_s3_roundtrip(aws_env: dict[str, str]) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="sre-backups")
    s3.put_object(Bucket="sre-backups", Key="base/backup.tar", Body=b"base backup")
    assert s3.get_object(Bucket="sre-backups", Key="base/backup.tar")["Body"].read() == b"base backup"
    assert aws_env["AWS_ENDPOINT_URL"].startswith(f"http://{LOOPBACK}:")


def test_moto_state_is_reset_between_tests(aws_env: dict[str, str]) -> None:
    assert aws_env
    assert not boto3.client("s3").list_buckets()["Buckets"]


def test_moto_rds_point_in_time_restore(aws_env: dict[str, str]) -> None:
    assert aws_env
    rds = boto3.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.micro", Engine="postgres", EngineVersion="15.5",
        MasterUsername="sre", MasterUserPassword="not-a-real-password", AllocatedStorage=20,
    )
    restored = rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="orders-db", TargetDBInstanceIdentifier="orders-db-restored", UseLatestRestorableTime=True,
    )["DBInstance"]
    assert restored["DBInstanceIdentifier"] == "orders-db-restored"
    assert restored["Engine"] == "postgres"
    identifiers = {instance["DBInstanceIdentifier"] for instance in rds.describe_db_instances()["DBInstances"]}
    assert identifiers == {"orders-db", "orders-db-restored"}


def test_moto_secrets_manager_stages_move(aws_env: dict[str, str]) -> None:
    assert aws_env
    secrets = boto3.client("secretsmanager")
    first = secrets.create_secret(Name="app/db", SecretString="old-password")["VersionId"]
    pending = secrets.put_secret_value(SecretId="app/db", SecretString="new-password", VersionStages=["AWSPENDING"])["VersionId"]
    assert secrets.get_secret_value(SecretId="app/db", VersionStage="AWSPENDING")["SecretString"] == "new-password"
    secrets.update_secret_version_stage(SecretId="app/db", VersionStage="AWSCURRENT", MoveToVersionId=pending, RemoveFromVersionId=first)
    stages = {version["VersionId"]: set(version["VersionStages"]) for version in secrets.list_secret_version_ids(SecretId="app/db")["Versions"]}
    assert "AWSCURRENT" in stages[pending]
    assert stages[first] == {"AWSPREVIOUS"}
    assert secrets.get_secret_value(SecretId="app/db", VersionStage="AWSCURRENT")["SecretString"] == "new-password"


def test_moto_without_server_extras_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.engines.moto_server._SERVER_MODULES", ("moto", "no_such_module_for_sre_tests"))
    with pytest.raises(EngineUnavailable, match=r"no_such_module_for_sre_tests.*make setup.*moto\[server\]"):
        MotoServer(tmp_path).start()


# -- sample app -------------------------------------------------------------------


def test_sample_app_health_and_readiness_follow_control(sample_app: SampleApp) -> None:
    try:
        assert _http(f"{sample_app.url}/health") == (200, b'{"status": "ok"}')
        assert _http(f"{sample_app.url}/ready")[0] == 200
        status, body = _http(f"{sample_app.url}/control", {"healthy": False, "ready": False})
        assert status == 200 and json.loads(body)["healthy"] is False
        assert _http(f"{sample_app.url}/health") == (503, b'{"status": "unhealthy"}')
        assert _http(f"{sample_app.url}/ready")[0] == 503
        assert _http(f"{sample_app.url}/control", {"error_rate": 2})[0] == 400
        assert _http(f"{sample_app.url}/control", {"no_such_knob": 1})[0] == 400
        assert _http(f"{sample_app.url}/control", {"self": 1})[0] == 400
        assert _http(f"{sample_app.url}/control?from=test", {"rps": 10})[0] == 200
    finally:
        sample_app.reset()
    assert _http(f"{sample_app.url}/health")[0] == 200


def test_sample_app_metrics_follow_control(sample_app: SampleApp) -> None:
    try:
        sample_app.set(rps=200, error_rate=0.5, latency_seconds=0.4, memory_bytes=123456789)
        before = parse_metrics(_http(f"{sample_app.url}/metrics")[1].decode())
        start = _total(before, "http_requests_total")

        def grown() -> list[Sample]:
            samples = parse_metrics(_http(f"{sample_app.url}/metrics")[1].decode())
            return samples if _total(samples, "http_requests_total") >= start + 100 else []

        after = wait_until(grown, timeout=20, what="100 more requests in /metrics")
    finally:
        sample_app.reset()
    requests = _total(after, "http_requests_total") - start
    errors = _total(after, "http_requests_total", code="500") - _total(before, "http_requests_total", code="500")
    assert abs(errors - requests * 0.5) <= 1
    observed = _total(after, "http_request_duration_seconds_count") - _total(before, "http_request_duration_seconds_count")
    assert observed == requests
    assert _total(after, "http_request_duration_seconds_bucket", le="0.25") == _total(before, "http_request_duration_seconds_bucket", le="0.25")
    assert _total(after, "http_request_duration_seconds_bucket", le="0.5") - _total(before, "http_request_duration_seconds_bucket", le="0.5") == requests
    assert _total(after, "process_resident_memory_bytes") == 123456789


def test_sample_app_metrics_pass_promtool(sample_app: SampleApp) -> None:
    promtool = Path("/usr/bin/promtool")
    if not promtool.is_file():
        pytest.fail(f"promtool not found at {promtool}. Install it with `make setup` or `apt-get install prometheus`.", pytrace=False)
    result = subprocess.run([str(promtool), "check", "metrics"], input=sample_app.metrics_text(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Prometheus -------------------------------------------------------------------


ERROR_RATIO = 'sum(rate(http_requests_total{code=~"5.."}[5s])) / sum(rate(http_requests_total[5s]))'
P95 = "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5s])) by (le))"


def test_prometheus_sees_the_error_rate(prometheus: PrometheusServer, sample_app: SampleApp) -> None:
    assert prometheus.query_value('up{job="sample-app"}') == 1.0
    readings: list[tuple[float | None, float | None]] = []

    def settled() -> bool:
        readings.append((prometheus.query_value(ERROR_RATIO), prometheus.query_value(P95)))
        ratio, p95 = readings[-1]
        return ratio is not None and abs(ratio - 0.25) <= 0.03 and p95 is not None and 0.25 < p95 <= 0.5

    try:
        sample_app.set(rps=50, error_rate=0.25, latency_seconds=0.4)
        # A [5s] window holds only post-change samples a few scrapes after the change.
        wait_until(settled, timeout=30, interval=0.5, what="the error ratio and p95 in prometheus")
    except TimeoutError as exc:
        pytest.fail(f"{exc}; readings (error ratio, p95): {readings}")
    finally:
        sample_app.reset()
    ratio, p95 = readings[-1]
    assert ratio == pytest.approx(0.25, abs=0.03)
    # All requests take 0.4 s, so the estimate lies in the (0.25, 0.5] bucket.
    assert p95 is not None and 0.25 < p95 <= 0.5


def test_prometheus_rejects_bad_promql(prometheus: PrometheusServer) -> None:
    with pytest.raises(RuntimeError, match="bad_data"):
        prometheus.query("sum(")


def test_missing_prometheus_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match=r"prometheus not found.*make setup.*apt-get install prometheus"):
        PrometheusServer(tmp_path, ["127.0.0.1:1"], binary=tmp_path / "no-such-prometheus").start()


# -- Kubernetes hook and fixture plumbing -----------------------------------------


def test_kube_target_without_a_cluster_starts_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    target = KubeTarget.discover(tmp_path)
    try:
        assert target.source == "kubesim"
        assert "server: http://127.0.0.1:" in target.kubeconfig.read_text(encoding="utf-8")
    finally:
        target.close()


def test_kube_target_uses_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    target = KubeTarget.discover(tmp_path)
    assert target.source == "KUBECONFIG"
    assert target.env() == {"KUBECONFIG": str(kubeconfig), "K8S_AUTH_KUBECONFIG": str(kubeconfig)}


def test_missing_engine_fails_the_run_with_the_hint(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.engines.pytest_plugin"]\n', encoding="utf-8")
    (tmp_path / "test_needs_postgres.py").write_text("def test_it(pg_cluster):\n    pass\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SRE_PG_BINDIR": str(tmp_path / "no-such-bin")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), "--basetemp", str(tmp_path / "basetemp"), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert "PostgreSQL 15 server binaries not found" in result.stdout and "apt-get install postgresql-15" in result.stdout
    # The hint alone: no traceback, and not repeated as a chained exception.
    assert "Traceback" not in result.stdout and "During handling" not in result.stdout


# -- python -m tests.engines ------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.engines", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_cli_up_status_down(tmp_path: Path) -> None:
    state_dir = tmp_path / "engines"
    up = _cli("up", "--state-dir", str(state_dir), "--with", "postgres,moto,prometheus")
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((state_dir / "engines.json").read_text(encoding="utf-8"))
        assert json.loads(up.stdout) == state
        assert set(state) == {"state_dir", "postgres", "moto", "prometheus", "sample_app"}  # prometheus brings the sample app

        with psycopg2.connect(**state["postgres"]["conninfo"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('archive_mode')")
            assert cur.fetchone() == ("on",)
        conn.close()
        assert _http(f"{state['sample_app']['url']}/health")[0] == 200
        assert _http(f"{state['prometheus']['url']}/-/ready")[0] == 200
        moto_env = state["moto"]["env"]
        s3 = boto3.client(
            "s3", endpoint_url=moto_env["AWS_ENDPOINT_URL"], region_name=moto_env["AWS_DEFAULT_REGION"],
            aws_access_key_id=moto_env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=moto_env["AWS_SECRET_ACCESS_KEY"],
        )
        assert s3.list_buckets()["Buckets"] == []

        status = _cli("status", "--state-dir", str(state_dir))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["alive"] == {"postgres": True, "sample_app": True, "moto": True, "prometheus": True}
        assert _cli("up", "--state-dir", str(state_dir)).returncode == 1  # already up
    finally:
        down = _cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert not (state_dir / "engines.json").exists()
    for name in ("sample_app", "moto", "prometheus"):
        assert not pid_alive(state[name]["pid"]), name
    assert not Path(state["postgres"]["data_dir"], "postmaster.pid").exists()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(**state["postgres"]["conninfo"], connect_timeout=5)
    assert _cli("status", "--state-dir", str(state_dir)).returncode == 1
