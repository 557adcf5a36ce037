# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Repointing connection strings: only host, port and database change; passwords never come out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.database_url import (
    CHANGED_AT,
    KEY_VALUE,
    MASK,
    RESTARTED_AT,
    URL,
    ConnectionStringError,
    endpoint_of,
    format_of,
    masked,
    plan_env,
    plan_secret,
    repoint,
)

NOW = "2026-12-06T01:00:00Z"
PASSWORD = "s3cr:t/p@ss"
URL_TEXT = "postgresql://orders:s3cr%3At%2Fp%40ss@db.internal:5432/orders?sslmode=require&application_name=api"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


@pytest.mark.parametrize("text, expected", [
    (URL_TEXT, {"host": "db.internal", "port": 5432, "database": "orders"}),
    ("postgres://db.internal/orders", {"host": "db.internal", "port": None, "database": "orders"}),
    ("postgresql://u@[fd00::5]:6432/x", {"host": "fd00::5", "port": 6432, "database": "x"}),
    ("mysql://u:p@h", {"host": "h", "port": None, "database": None}),
    ("host=db port=5432 dbname=orders user=app password='a b\\'c'", {"host": "db", "port": 5432, "database": "orders"}),
    ("hostaddr=10.0.0.5 dbname = orders", {"host": "10.0.0.5", "port": None, "database": "orders"}),
])
def test_endpoint_of_reads_host_port_database(text, expected):
    assert endpoint_of(text) == expected


def test_format_of_tells_urls_from_key_value_strings():
    assert format_of(URL_TEXT) == URL
    assert format_of("host=db dbname=x") == KEY_VALUE
    with pytest.raises(ConnectionStringError, match="neither a URL"):
        format_of("just some text")
    with pytest.raises(ConnectionStringError, match="empty"):
        format_of("  ")


def test_repoint_url_keeps_user_password_and_parameters_byte_for_byte():
    new = repoint(URL_TEXT, "10.0.4.17", port=5433)
    assert new == "postgresql://orders:s3cr%3At%2Fp%40ss@10.0.4.17:5433/orders?sslmode=require&application_name=api"
    assert endpoint_of(new) == {"host": "10.0.4.17", "port": 5433, "database": "orders"}


def test_repoint_url_database_and_ipv6_host():
    new = repoint("postgresql://u:p@db:5432/orders?sslmode=require", "fd00::9", database="orders_restored")
    assert new == "postgresql://u:p@[fd00::9]:5432/orders_restored?sslmode=require"


def test_repoint_url_without_database_adds_one():
    assert repoint("postgresql://u:p@db", "db2", port=5432, database="app") == "postgresql://u:p@db2:5432/app"


def test_repoint_to_the_same_endpoint_is_the_same_string():
    assert repoint(URL_TEXT, "db.internal", port=5432, database="orders") == URL_TEXT
    text = "host=db port=5432 dbname=orders password='x y'"
    assert repoint(text, "db", port=5432) == text


def test_repoint_key_value_keeps_quoted_password_and_drops_hostaddr():
    text = "hostaddr=10.0.0.5 host=db port=5432 dbname=orders user=app password='a b\\'c'"
    new = repoint(text, "db-restored", port=5433)
    assert new == "host=db-restored port=5433 dbname=orders user=app password='a b\\'c'"
    assert endpoint_of(new) == {"host": "db-restored", "port": 5433, "database": "orders"}


def test_repoint_key_value_adds_missing_keys():
    assert repoint("user=app dbname=orders", "db2", port=6432) == "user=app dbname=orders host=db2 port=6432"


@pytest.mark.parametrize("text, message", [
    ("postgresql://u:p@a:5432,b:5432/db", "several hosts"),
    ("postgresql://u:p@db:abc/db", "port is not a number"),
    ("host=a,b dbname=x", "several hosts"),
])
def test_repoint_refuses_what_it_cannot_repoint(text, message):
    with pytest.raises(ConnectionStringError, match=message) as caught:
        repoint(text, "new")
    assert "p@" not in str(caught.value)


def test_masked_hides_passwords_in_every_form():
    assert masked(URL_TEXT) == "postgresql://orders:%s@db.internal:5432/orders?sslmode=require&application_name=api" % MASK
    assert masked("postgresql://u@h/db?password=hunter2&x=1") == "postgresql://u@h/db?password=%s&x=1" % MASK
    assert masked("host=db password='a b' user=u") == "host=db password=%s user=u" % MASK
    assert masked("not a connection string") == MASK


def _secret(text, annotations=None):
    metadata = {"name": "orders-db", "namespace": "shop", "resourceVersion": "7"}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "data": {"DATABASE_URL": b64(text), "OTHER": b64("x")}}


def test_plan_secret_patches_only_its_key_after_testing_the_old_value():
    secret = _secret(URL_TEXT + "\n")
    plan = plan_secret(secret, "DATABASE_URL", "10.0.4.17", 5433, None, NOW)
    assert plan["changed"] is True
    assert plan["actions"] == ["point key DATABASE_URL of Secret shop/orders-db from db.internal:5432/orders to 10.0.4.17:5433/orders"]
    test, replace, annotate = plan["patch"]
    assert test == {"op": "test", "path": "/data/DATABASE_URL", "value": secret["data"]["DATABASE_URL"]}
    # The trailing newline of a Secret made from a file stays.
    assert unb64(replace["value"]) == URL_TEXT.replace("db.internal:5432", "10.0.4.17:5433") + "\n"
    assert annotate == {"op": "add", "path": "/metadata/annotations", "value": {CHANGED_AT: NOW}}
    assert plan["changed_at"] == NOW
    assert PASSWORD not in repr({k: v for k, v in plan.items() if k not in ("new_text", "patch")})
    assert "s3cr%3At" not in plan["masked_after"]


def test_plan_secret_already_pointing_changes_nothing_and_reports_the_earlier_change():
    secret = _secret("postgresql://u:p@10.0.4.17:5433/orders", annotations={CHANGED_AT: "2026-12-06T00:00:00Z"})
    plan = plan_secret(secret, "DATABASE_URL", "10.0.4.17", 5433, "orders", NOW)
    assert plan["changed"] is False
    assert plan["actions"] == []
    assert "patch" not in plan
    assert plan["changed_at"] == "2026-12-06T00:00:00Z"


def test_plan_secret_refuses_a_missing_key_naming_the_keys_there():
    with pytest.raises(ConnectionStringError, match="has no key DB_URL .it has: DATABASE_URL, OTHER"):
        plan_secret(_secret(URL_TEXT), "DB_URL", "h", None, None, NOW)


def test_plan_secret_escapes_keys_in_json_pointers():
    secret = {"metadata": {"name": "s", "namespace": "n", "annotations": {"a": "b"}}, "data": {"db/url": b64("host=a")}}
    plan = plan_secret(secret, "db/url", "b", None, None, NOW)
    assert plan["patch"][0]["path"] == "/data/db~1url"
    assert plan["patch"][2] == {"op": "add", "path": "/metadata/annotations/sre.runbooks~1database-url-changed-at", "value": NOW}


def _workload(containers, init=None, annotations=None):
    template = {"spec": {"containers": containers}}
    if init:
        template["spec"]["initContainers"] = init
    if annotations is not None:
        template["metadata"] = {"annotations": annotations}
    return {"metadata": {"name": "api", "namespace": "shop"}, "spec": {"template": template}}


def test_plan_env_sets_every_container_and_init_container_and_stamps_the_restart():
    url = "postgresql://u:pw@db:5432/orders"
    workload = _workload([{"name": "app", "env": [{"name": "X", "value": "1"}, {"name": "DATABASE_URL", "value": url}]},
                          {"name": "sidecar"}],
                         init=[{"name": "migrate", "env": [{"name": "DATABASE_URL", "value": url}]}],
                         annotations={"team": "shop"})
    plan = plan_env(workload, "deployment shop/api", "DATABASE_URL", None, "db2", None, None, NOW)
    assert plan["where"] == "env DATABASE_URL of container app, migrate in deployment shop/api"
    paths = [(op["op"], op["path"]) for op in plan["patch"]]
    assert paths == [
        ("test", "/spec/template/spec/initContainers/0/env/0/value"),
        ("replace", "/spec/template/spec/initContainers/0/env/0/value"),
        ("test", "/spec/template/spec/containers/0/env/1/value"),
        ("replace", "/spec/template/spec/containers/0/env/1/value"),
        ("add", "/spec/template/metadata/annotations/sre.runbooks~1database-url-changed-at"),
        ("add", "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"),
    ]
    assert plan["patch"][1]["value"] == "postgresql://u:pw@db2:5432/orders"
    assert plan["patch"][5]["value"] == NOW


def test_plan_env_without_template_annotations_adds_the_map():
    workload = _workload([{"name": "app", "env": [{"name": "DATABASE_URL", "value": "host=a"}]}])
    plan = plan_env(workload, "w", "DATABASE_URL", None, "b", None, None, NOW)
    assert plan["patch"][-2:] == [{"op": "add", "path": "/spec/template/metadata", "value": {}},
                                  {"op": "add", "path": "/spec/template/metadata/annotations",
                                   "value": {CHANGED_AT: NOW, RESTARTED_AT: NOW}}]


def test_plan_env_refuses_a_value_from_a_secret_naming_it():
    workload = _workload([{"name": "app", "env": [{"name": "DATABASE_URL",
                                                   "valueFrom": {"secretKeyRef": {"name": "orders-db", "key": "url"}}}]}])
    with pytest.raises(ConnectionStringError, match=r"comes from key url of Secret orders-db: repoint the Secret \(secret=orders-db, key=url\)"):
        plan_env(workload, "deployment shop/api", "DATABASE_URL", None, "b", None, None, NOW)


def test_plan_env_refuses_missing_or_disagreeing_values():
    workload = _workload([{"name": "a", "env": [{"name": "DATABASE_URL", "value": "host=x"}]},
                          {"name": "b", "env": [{"name": "DATABASE_URL", "value": "host=y"}]}])
    with pytest.raises(ConnectionStringError, match="different values; name one with container"):
        plan_env(workload, "w", "DATABASE_URL", None, "z", None, None, NOW)
    plan = plan_env(workload, "w", "DATABASE_URL", "b", "z", None, None, NOW)
    assert [op["path"] for op in plan["patch"] if op["op"] == "replace"] == ["/spec/template/spec/containers/1/env/0/value"]
    with pytest.raises(ConnectionStringError, match="no container c of w sets the env variable DATABASE_URL"):
        plan_env(workload, "w", "DATABASE_URL", "c", "z", None, None, NOW)


def test_port_zero_and_empty_database_remove_them_so_a_revert_is_exact():
    url = "postgresql://u:p@db-old/orders?sslmode=require"
    forward = repoint(url, "10.0.4.17", port=5433, database="orders_restored")
    assert forward == "postgresql://u:p@10.0.4.17:5433/orders_restored?sslmode=require"
    assert repoint(forward, "db-old", port=0, database="orders") == url
    assert repoint("postgresql://u:p@db:5432/app", "db", database="") == "postgresql://u:p@db:5432"
    text = "host=db-old user=app password='x y'"
    forward = repoint(text, "db2", port=6432, database="app")
    assert forward == "host=db2 user=app password='x y' port=6432 dbname=app"
    assert repoint(forward, "db-old", port=0, database="") == text
