# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Kubernetes layer reuses kubernetes.core: same options, same K8S_AUTH_* fallbacks.

get_client() is exercised against a tiny local HTTP server that answers the
discovery requests the client makes while it is built (/version, /api, /apis),
so no real cluster is needed and nothing leaves the machine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import (
    K8S_REQUIRED_LIBS,
    dry_run_kwargs,
    get_client,
    k8s_argument_spec,
    label_selector_string,
)

K8S_ENV = ["K8S_AUTH_" + name.upper() for name in list(AUTH_ARG_SPEC) + ["verify_ssl", "ssl_ca_cert", "cert_file", "key_file"]]

DISCOVERY = {
    "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [{"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace", "verbs": ["get", "list"]}],
    },
    "/api/v1/namespaces/default": {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "default"}},
}


class FakeApiServer(BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        FakeApiServer.seen.append((self.path, self.headers.get("Authorization")))
        body = DISCOVERY.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server(monkeypatch, tmp_path):
    # kubernetes.core caches discovery in the temp dir, keyed by host: keep it per test.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    FakeApiServer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:{0}".format(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in K8S_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")


def write_kubeconfig(path, server, token):
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "tester", "namespace": "default"}}],
        "current-context": "test",
    }
    path.write_text(json.dumps(config))
    return str(path)


def test_argument_spec_is_kubernetes_core_auth_spec():
    spec = k8s_argument_spec()
    assert spec == AUTH_ARG_SPEC
    assert sorted(spec) == sorted([
        "kubeconfig", "context", "host", "api_key", "username", "password", "validate_certs", "ca_cert", "client_cert",
        "client_key", "proxy", "no_proxy", "proxy_headers", "persist_config", "impersonate_user", "impersonate_groups",
    ])
    spec["host"]["default"] = "changed"
    assert "default" not in AUTH_ARG_SPEC["host"]


def test_argument_spec_parses_kubernetes_core_aliases(module_args):
    with module_args({"verify_ssl": False, "ssl_ca_cert": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}):
        module = RunbookModule(argument_spec=k8s_argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    assert module.params["validate_certs"] is False
    assert module.params["ca_cert"] == "/ca.pem"
    assert module.params["client_cert"] == "/c.pem"
    assert module.params["client_key"] == "/k.pem"


def test_client_from_kubeconfig_in_k8s_auth_environment(module_args, monkeypatch, tmp_path, api_server):
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", write_kubeconfig(tmp_path / "config", api_server, "env-token"))
    with module_args({}):
        module = RunbookModule(argument_spec=k8s_argument_spec())
    client = get_client(module)
    assert client.configuration.host == api_server
    assert client.dry_run is False
    namespace = client.get(client.resource("Namespace", "v1"), name="default")
    assert namespace.metadata.name == "default"
    assert ("/api/v1/namespaces/default", "Bearer env-token") in FakeApiServer.seen


def test_options_win_over_environment_and_check_mode_dry_runs(module_args, monkeypatch, tmp_path, api_server):
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(tmp_path / "missing"))
    kubeconfig = write_kubeconfig(tmp_path / "config", api_server, "option-token")
    with module_args({"kubeconfig": kubeconfig, "_ansible_check_mode": True}):
        module = RunbookModule(argument_spec=k8s_argument_spec())
    client = get_client(module)
    assert client.configuration.host == api_server
    assert client.dry_run is True
    assert dry_run_kwargs(module) == {"dry_run": "All"}
    assert all(token == "Bearer option-token" for path, token in FakeApiServer.seen)


def test_unreachable_api_is_a_runbook_error(module_args):
    with module_args({"host": "http://127.0.0.1:1", "api_key": "t"}):
        module = RunbookModule(argument_spec=k8s_argument_spec())
    with pytest.raises(RunbookError) as info:
        get_client(module)
    assert str(info.value).startswith("Failed to connect to Kubernetes API http://127.0.0.1:1: ")
    assert dry_run_kwargs(module) == {}


def test_label_selector_string():
    assert label_selector_string({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web", "api"]}, {"key": "x", "operator": "NotIn", "values": ["y"]},
        {"key": "canary", "operator": "DoesNotExist"}, {"key": "team", "operator": "Exists"}]}) == \
        "a=1,b=2,tier in (web,api),x notin (y),!canary,team"
    assert label_selector_string(None) == ""
