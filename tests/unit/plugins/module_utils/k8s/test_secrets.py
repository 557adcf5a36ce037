# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Secret rotation plans: versions, backups, retention, checksums instead of values, consumers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import parse_time
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.secrets import (
    BACKUP_OF,
    BACKUP_VERSION,
    CHARSETS,
    ROLLED_BACK_FROM,
    ROTATED_AT,
    VERSION,
    RotationError,
    backup_name,
    backup_of,
    backups_of,
    checksum,
    consumers,
    generate,
    plan_rollback,
    plan_rotation,
    version_of,
)

NOW = "2026-12-06T01:00:00Z"
OLD, NEW = "old-key-1234567890", "new-key-abcdefghij"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(version=None, rotated_at=None, **data):
    annotations = {}
    if version is not None:
        annotations[VERSION] = str(version)
    if rotated_at:
        annotations[ROTATED_AT] = rotated_at
    meta = {"name": "payment", "namespace": "shop"}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "type": "Opaque", "data": {k: b64(v) for k, v in data.items()}}


def stored_backup(version, **data):
    obj = backup_of(secret(**data), version)
    return obj


def apply_json_patch(obj, patch):
    """Enough of RFC 6902 for these plans: test and add on object members."""
    obj = json.loads(json.dumps(obj))
    for op in patch:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = obj
        for part in parts[:-1]:
            parent = parent.setdefault(part, {})
        if op["op"] == "test":
            assert parent.get(parts[-1]) == op["value"], "test failed"
        elif op["op"] == "add":
            parent[parts[-1]] = op["value"]
        elif op["op"] == "remove":
            del parent[parts[-1]]
        else:
            raise AssertionError(op)
    return obj


def test_checksum_is_a_short_sha256_and_never_the_value():
    assert checksum("k") == hashlib.sha256(b"k").hexdigest()[:16]
    assert checksum(b"k") == checksum("k") and checksum(None) is None


@pytest.mark.parametrize("charset", sorted(CHARSETS))
def test_generate_draws_length_characters_from_the_charset(charset):
    value = generate(40, charset)
    assert len(value) == 40 and set(value) <= set(CHARSETS[charset])
    assert generate(40, charset) != value


def test_generate_refuses_short_values_and_unknown_charsets():
    with pytest.raises(RotationError, match="at least 16"):
        generate(8)
    with pytest.raises(RotationError, match="charset must be one of"):
        generate(32, "emoji")


def test_version_of_a_secret_never_rotated_is_zero_and_a_bad_annotation_is_refused():
    assert version_of(secret(API_KEY=OLD)) == 0
    assert version_of(secret(version=4, API_KEY=OLD)) == 4
    bad = secret(API_KEY=OLD)
    bad["metadata"]["annotations"] = {VERSION: "four"}
    with pytest.raises(RotationError, match="is not a number"):
        version_of(bad)


def test_rotation_keeps_the_current_version_then_sets_the_key_with_a_tested_patch():
    current = secret(version=2, API_KEY=OLD, OTHER="x")
    plan = plan_rotation(current, "API_KEY", value=NEW, now=NOW)
    assert plan["changed"] is True
    assert (plan["version_before"], plan["version_after"]) == (2, 3)
    assert (plan["checksum_before"], plan["checksum_after"]) == (checksum(OLD), checksum(NEW))
    assert plan["backup"]["metadata"]["name"] == "payment-v2"
    assert plan["backup"]["metadata"]["labels"] == {BACKUP_OF: "payment"}
    assert plan["backup"]["data"] == current["data"]
    assert plan["actions"] == [
        "keep version 2 of Secret shop/payment as Secret payment-v2",
        "set API_KEY of Secret shop/payment to a new value (checksum %s -> %s), version 2 -> 3" % (checksum(OLD), checksum(NEW)),
    ]
    assert plan["patch"][0] == {"op": "test", "path": "/data", "value": current["data"]}
    after = apply_json_patch(current, plan["patch"])
    assert base64.b64decode(after["data"]["API_KEY"]).decode() == NEW and after["data"]["OTHER"] == current["data"]["OTHER"]
    assert after["metadata"]["annotations"] == {VERSION: "3", ROTATED_AT: NOW}
    # no value in anything a module would return
    returned = {k: v for k, v in plan.items() if k not in ("patch", "backup")}
    assert OLD not in json.dumps(returned) and NEW not in json.dumps(returned) and b64(NEW) not in json.dumps(returned)


def test_the_same_value_is_no_change():
    plan = plan_rotation(secret(version=3, API_KEY=NEW), "API_KEY", value=NEW, now=NOW)
    assert plan["changed"] is False and plan["actions"] == [] and plan["patch"] is None and plan["version_after"] == 3


def test_a_new_key_is_added_to_a_secret_without_annotations():
    current = secret(OTHER="x")
    plan = plan_rotation(current, "API_KEY", value=NEW, now=NOW)
    after = apply_json_patch(current, plan["patch"])
    assert set(after["data"]) == {"API_KEY", "OTHER"}
    assert after["metadata"]["annotations"] == {VERSION: "1", ROTATED_AT: NOW}
    assert plan["checksum_before"] is None and plan["backup"]["metadata"]["name"] == "payment-v0"


def test_generated_values_rotate_once_after_rotated_after():
    rotated_after = parse_time("2026-12-06T00:30:00Z")
    fresh = secret(version=5, rotated_at="2026-12-06T00:45:00Z", API_KEY=NEW)
    plan = plan_rotation(fresh, "API_KEY", generated="g" * 32, rotated_after=rotated_after, now=NOW, parse_time=parse_time)
    assert plan["changed"] is False and plan["rotated_at"] == "2026-12-06T00:45:00Z"
    stale = secret(version=5, rotated_at="2026-12-05T00:00:00Z", API_KEY=OLD)
    plan = plan_rotation(stale, "API_KEY", generated="g" * 32, rotated_after=rotated_after, now=NOW, parse_time=parse_time)
    assert plan["changed"] is True and plan["checksum_after"] == checksum("g" * 32) and plan["rotated_at"] == NOW
    assert plan_rotation(stale, "API_KEY", generated="h" * 32, now=NOW, parse_time=parse_time)["changed"] is True


def test_retention_prunes_the_oldest_backups_but_never_the_new_one():
    backups = backups_of("payment", [stored_backup(v, API_KEY="v%d" % v) for v in (1, 4, 3, 2)])
    assert [b["metadata"]["name"] for b in backups] == ["payment-v4", "payment-v3", "payment-v2", "payment-v1"]
    plan = plan_rotation(secret(version=5, API_KEY=OLD), "API_KEY", value=NEW, now=NOW, backups=backups, retention=3)
    assert plan["prune"] == ["payment-v2", "payment-v1"]
    assert "delete the old backup Secret shop/payment-v2 (retention 3)" in plan["actions"]
    plan = plan_rotation(secret(version=5, API_KEY=OLD), "API_KEY", value=NEW, now=NOW, backups=backups, retention=1)
    assert plan["prune"] == ["payment-v4", "payment-v3", "payment-v2", "payment-v1"]


def test_an_existing_backup_with_other_data_is_refused():
    backups = [stored_backup(2, API_KEY="something else")]
    with pytest.raises(RotationError, match="the backup payment-v2 of version 2 holds other data"):
        plan_rotation(secret(version=2, API_KEY=OLD), "API_KEY", value=NEW, now=NOW, backups=backups)
    # the same data: a rerun after an interrupted rotation reuses it
    plan = plan_rotation(secret(version=2, API_KEY=OLD), "API_KEY", value=NEW, now=NOW, backups=[stored_backup(2, API_KEY=OLD)])
    assert plan["backup"] is None and plan["changed"] is True


def test_rollback_puts_the_previous_version_back_whole_and_keeps_the_current_one():
    current = secret(version=3, API_KEY=NEW, ADDED="y")
    backups = backups_of("payment", [stored_backup(2, API_KEY=OLD), stored_backup(1, API_KEY="first-key-000000")])
    plan = plan_rollback(current, backups, now=NOW)
    assert plan["changed"] is True and plan["to_version"] == 2 and plan["from_backup"] == "payment-v2"
    assert (plan["version_before"], plan["version_after"]) == (3, 2)
    assert plan["backup"]["metadata"]["name"] == "payment-v3"
    after = apply_json_patch(current, plan["patch"])
    assert after["data"] == {"API_KEY": b64(OLD)}
    assert after["metadata"]["annotations"] == {VERSION: "2", ROTATED_AT: NOW, ROLLED_BACK_FROM: "3"}
    assert plan["checksums_after"] == {"API_KEY": checksum(OLD)}
    assert plan_rollback(current, backups, to_version=1, now=NOW)["to_version"] == 1


def test_a_second_rollback_holds_the_version_and_a_rotation_ends_the_hold():
    current = secret(version=3, API_KEY=NEW)
    backups = backups_of("payment", [stored_backup(2, API_KEY=OLD), stored_backup(1, API_KEY="first-key-000000")])
    first = plan_rollback(current, backups, now=NOW)
    rolled_back = apply_json_patch(current, first["patch"])
    backups = backups_of("payment", [first["backup"]] + backups)
    again = plan_rollback(rolled_back, backups, now=NOW)
    assert again["changed"] is False and again["to_version"] == 2 and again["patch"] is None
    rotated = apply_json_patch(rolled_back, plan_rotation(rolled_back, "API_KEY", value="third-key-0000000", now=NOW)["patch"])
    assert ROLLED_BACK_FROM not in rotated["metadata"]["annotations"] and rotated["metadata"]["annotations"][VERSION] == "3"


def test_rollback_to_data_already_there_is_no_change_and_missing_backups_are_refused():
    backups = backups_of("payment", [stored_backup(2, API_KEY=OLD)])
    assert plan_rollback(secret(version=3, API_KEY=OLD), backups, now=NOW)["changed"] is False
    with pytest.raises(RotationError, match=r"no backup of an earlier version to roll back to \(backups: none\)"):
        plan_rollback(secret(version=1, API_KEY=OLD), [], now=NOW)
    with pytest.raises(RotationError, match=r"has no backup of version 7 \(backups: 2\)"):
        plan_rollback(secret(version=3, API_KEY=NEW), backups, to_version=7, now=NOW)


def test_backup_names_stay_valid_object_names():
    assert len(backup_name("x" * 253, 12)) == 253 and backup_name("x" * 253, 12).endswith("-v12")
    assert backups_of("payment", [{"metadata": {"name": "z", "annotations": {BACKUP_OF: "payment", BACKUP_VERSION: "x"}}}]) == []


def _workload(kind, name, pod_spec):
    template = {"spec": pod_spec}
    if kind == "CronJob":
        return {"kind": kind, "metadata": {"name": name}, "spec": {"jobTemplate": {"spec": {"template": template}}}}
    return {"kind": kind, "metadata": {"name": name}, "spec": {"template": template}}


def test_consumers_are_found_through_env_envfrom_volumes_and_projected_volumes():
    workloads = {
        "Deployment": [
            _workload("Deployment", "api", {"containers": [{"name": "app", "env": [
                {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "payment", "key": "API_KEY"}}}]}]}),
            _workload("Deployment", "unrelated", {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "other"}}]}]}),
        ],
        "StatefulSet": [_workload("StatefulSet", "worker", {"initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "payment"}}]}],
                                                            "containers": [{"name": "w"}]})],
        "DaemonSet": [_workload("DaemonSet", "agent", {"containers": [{"name": "a"}], "volumes": [
            {"name": "creds", "secret": {"secretName": "payment"}},
            {"name": "bundle", "projected": {"sources": [{"configMap": {"name": "c"}}, {"secret": {"name": "payment"}}]}}]})],
        "CronJob": [_workload("CronJob", "settle", {"containers": [{"name": "job", "envFrom": [{"secretRef": {"name": "payment"}}]}]})],
    }
    assert consumers(workloads, "payment") == [
        {"kind": "CronJob", "name": "settle", "via": ["envFrom of container job"], "restartable": False},
        {"kind": "DaemonSet", "name": "agent", "via": ["volume creds", "projected volume bundle"], "restartable": True},
        {"kind": "Deployment", "name": "api", "via": ["env KEY of container app (key API_KEY)"], "restartable": True},
        {"kind": "StatefulSet", "name": "worker", "via": ["envFrom of container init"], "restartable": True},
    ]
    assert consumers(workloads, "nobody") == []
