# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""rds_pitr_restore end to end against a scripted RDS client: what moto cannot play.

moto creates a restored instance available at once and never fails a restore; here the
client walks the instance through the statuses real RDS reports (creating, backing-up,
failed...) so the waiting, the clean-up and the timeout report are exercised.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

import pytest

from botocore.exceptions import ClientError

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils.aws import rds
from ansible_collections.sre.runbooks.plugins.modules import rds_pitr_restore

UTC = datetime.timezone.utc
CREATED = datetime.datetime(2026, 11, 15, 3, 0, tzinfo=UTC)
LATEST = datetime.datetime(2026, 11, 22, 14, 40, tzinfo=UTC)


class FakeTime:
    """Stands in for the time module inside module_utils/aws/rds.py: sleeping moves the clock."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def not_found(operation):
    return ClientError({"Error": {"Code": "DBInstanceNotFound", "Message": "DBInstance not found"}}, operation)


class FakeRDS:
    """An RDS client holding instances; a restored instance goes through `statuses`, one per describe."""

    def __init__(self, statuses=("creating", "backing-up", "available"), public=False, backups=None, delete_error=None):
        self.instances = {}
        self.statuses = list(statuses)
        self.public = public
        self.backups = backups
        self.delete_error = delete_error
        self.calls = []
        self.closed = False
        self.add(dict(DBInstanceIdentifier="orders-prod", DbiResourceId="db-SOURCE", DBInstanceStatus="available", Engine="postgres",
                      DBInstanceClass="db.t3.micro", BackupRetentionPeriod=7, InstanceCreateTime=CREATED, LatestRestorableTime=LATEST,
                      Endpoint=dict(Address="orders-prod.abc.eu-west-1.rds.amazonaws.com", Port=5432), PubliclyAccessible=False))

    def add(self, instance):
        self.instances[instance["DBInstanceIdentifier"]] = instance

    def describe_db_instances(self, DBInstanceIdentifier):
        self.calls.append(("describe_db_instances", DBInstanceIdentifier))
        instance = self.instances.get(DBInstanceIdentifier)
        if instance is None:
            raise not_found("DescribeDBInstances")
        if instance.get("_restored") and len(self.statuses) > 1 and instance["DBInstanceStatus"] != "deleting":
            instance["DBInstanceStatus"] = self.statuses.pop(0)
        elif instance.get("_restored") and instance["DBInstanceStatus"] != "deleting":
            instance["DBInstanceStatus"] = self.statuses[0]
        if instance["DBInstanceStatus"] == "available" and instance.get("_restored"):
            instance["Endpoint"] = dict(Address=DBInstanceIdentifier + ".abc.eu-west-1.rds.amazonaws.com", Port=5432)
        return {"DBInstances": [dict((k, copy.deepcopy(v)) for k, v in instance.items() if not k.startswith("_"))]}

    def describe_db_instance_automated_backups(self, DBInstanceIdentifier):
        self.calls.append(("describe_db_instance_automated_backups", DBInstanceIdentifier))
        if isinstance(self.backups, Exception):
            raise self.backups
        return {"DBInstanceAutomatedBackups": self.backups or []}

    def restore_db_instance_to_point_in_time(self, **kwargs):
        self.calls.append(("restore_db_instance_to_point_in_time", kwargs))
        instance = dict(DBInstanceIdentifier=kwargs["TargetDBInstanceIdentifier"], DBInstanceStatus="creating", Engine="postgres",
                        DBInstanceClass=kwargs.get("DBInstanceClass", "db.t3.micro"), PubliclyAccessible=self.public or kwargs["PubliclyAccessible"],
                        TagList=kwargs["Tags"], InstanceCreateTime=LATEST, _restored=True)
        self.add(instance)
        return {"DBInstance": dict((k, v) for k, v in instance.items() if not k.startswith("_"))}

    def delete_db_instance(self, **kwargs):
        self.calls.append(("delete_db_instance", kwargs))
        if self.delete_error:
            raise self.delete_error
        instance = self.instances[kwargs["DBInstanceIdentifier"]]
        instance["DBInstanceStatus"] = "deleting"
        return {"DBInstance": {"DBInstanceIdentifier": instance["DBInstanceIdentifier"], "DBInstanceStatus": "deleting"}}

    def close(self):
        self.closed = True

    def called(self, operation):
        return [args for name, args in self.calls if name == operation]


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(rds, "time", clock)
    return clock


@pytest.fixture
def restore(run_module, monkeypatch, fake_time):  # pylint: disable=unused-argument
    """restore(client, **args) runs the module's main() with client as its RDS client."""

    def _restore(client, **args):
        monkeypatch.setattr(rds_pitr_restore, "connect", lambda module: client)
        module_args = dict(region="eu-west-1", source_db_instance_identifier="orders-prod", db_instance_identifier="orders-restore",
                           restore_time="2026-11-22T14:22:00Z", wait_sleep=30)
        module_args.update(args)
        return run_module(rds_pitr_restore.main, module_args)

    return _restore


def tags_of(instance):
    return dict((tag["Key"], tag["Value"]) for tag in instance["TagList"])


def test_restores_waits_through_creation_verifies_and_returns_the_endpoint(restore, fake_time):
    client = FakeRDS()
    outcome = restore(client, tags={"incident": "INC-1"})
    assert outcome.rc == 0, outcome.result
    result = outcome.result
    assert result["changed"] is True and result["verified"] is True
    assert result["endpoint"] == dict(address="orders-restore.abc.eu-west-1.rds.amazonaws.com", port=5432, hosted_zone_id=None)
    assert result["status"] == "available" and result["restore_time"] == "2026-11-22T14:22:00Z"
    [request] = client.called("restore_db_instance_to_point_in_time")
    assert request["RestoreTime"] == datetime.datetime(2026, 11, 22, 14, 22, tzinfo=UTC)
    assert request["PubliclyAccessible"] is False
    assert tags_of(client.instances["orders-restore"]) == {
        "incident": "INC-1", "sre.runbooks/restored-from": "orders-prod", "sre.runbooks/restore-time": "2026-11-22T14:22:00Z"}
    assert fake_time.slept == [30, 30]
    assert client.closed


def test_check_mode_reads_and_plans_without_a_restore_call(restore):
    client = FakeRDS()
    outcome = restore(client, _ansible_check_mode=True)
    assert outcome.result["changed"] is True
    assert outcome.result["actions"][0] == "restore orders-prod at 2026-11-22T14:22:00Z as the new DB instance orders-restore"
    assert client.called("restore_db_instance_to_point_in_time") == []
    assert "orders-restore" not in client.instances


def test_bad_options_are_refused_before_any_client_exists(run_module, monkeypatch):
    def no_client(module):
        raise AssertionError("the module connected although its options were refused")

    monkeypatch.setattr(rds_pitr_restore, "connect", no_client)
    outcome = run_module(rds_pitr_restore.main, dict(source_db_instance_identifier="orders-prod", db_instance_identifier="orders-prod",
                                                     restore_time="2026-11-22T14:22:00Z", use_latest_restorable_time=True))
    assert outcome.rc == 1
    assert outcome.result["msg"].startswith("Failed to restore RDS DB instance orders-prod: ")
    assert "not the source orders-prod itself" in outcome.result["msg"] and "mutually exclusive" in outcome.result["msg"]


def test_a_restore_ending_failed_is_deleted_and_says_so(restore):
    client = FakeRDS(statuses=("creating", "incompatible-restore"))
    outcome = restore(client)
    assert outcome.rc == 1
    message = outcome.result["msg"]
    assert "it ended in status incompatible-restore" in message
    assert "being deleted without a final snapshot (cleanup_on_failure)" in message
    [delete] = client.called("delete_db_instance")
    assert delete == dict(DBInstanceIdentifier="orders-restore", SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    assert outcome.result["error"]["details"]["cleaned_up"] is True


def test_a_restore_failing_verification_is_deleted(restore):
    # As moto does: the copy comes up public although PubliclyAccessible=false was sent.
    client = FakeRDS(statuses=("available",), public=True)
    outcome = restore(client)
    assert outcome.rc == 1
    assert "its publicly_accessible is true, asked for false" in outcome.result["msg"]
    assert len(client.called("delete_db_instance")) == 1


def test_without_cleanup_a_failed_restore_is_left_and_named(restore):
    client = FakeRDS(statuses=("failed",))
    outcome = restore(client, cleanup_on_failure=False)
    assert outcome.rc == 1
    assert "left in place (cleanup_on_failure=false), status failed" in outcome.result["msg"]
    assert outcome.result["error"]["details"]["left"] == dict(db_instance_identifier="orders-restore", status="failed")
    assert client.called("delete_db_instance") == []


def test_a_failed_clean_up_says_what_is_left(restore):
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed to delete"}}, "DeleteDBInstance")
    client = FakeRDS(statuses=("failed",), delete_error=denied)
    outcome = restore(client)
    assert outcome.rc == 1
    assert "Deleting it failed too" in outcome.result["msg"] and "not allowed to delete" in outcome.result["msg"]
    assert outcome.result["error"]["details"]["left"] == dict(db_instance_identifier="orders-restore", status="failed")


def test_a_timeout_names_the_instance_and_status_and_leaves_it(restore, fake_time):
    client = FakeRDS(statuses=("creating",))
    outcome = restore(client, wait_timeout=90)
    assert outcome.rc == 1
    assert "timed out after 90 s" in outcome.result["msg"]
    assert "Left in place: DB instance orders-restore, status creating" in outcome.result["msg"]
    assert outcome.result["error"]["details"]["left"] == dict(db_instance_identifier="orders-restore", status="creating")
    assert client.called("delete_db_instance") == []
    assert sum(fake_time.slept) == 90


def test_a_second_run_after_a_timeout_resumes_the_wait_without_restoring_again(restore):
    client = FakeRDS(statuses=("creating",))
    assert restore(client, wait_timeout=0).rc == 1
    client.statuses = ["backing-up", "available"]
    outcome = restore(client)
    assert outcome.rc == 0, outcome.result
    assert outcome.result["changed"] is False and outcome.result["verified"] is True
    assert outcome.result["endpoint"]["address"] == "orders-restore.abc.eu-west-1.rds.amazonaws.com"
    assert len(client.called("restore_db_instance_to_point_in_time")) == 1


def test_without_wait_it_returns_after_the_call(restore):
    client = FakeRDS()
    outcome = restore(client, wait=False)
    assert outcome.rc == 0
    assert (outcome.result["changed"], outcome.result["verified"], outcome.result["status"], outcome.result["endpoint"]) == (True, None, "creating", None)
    assert outcome.result["actions"] == ["restore orders-prod at 2026-11-22T14:22:00Z as the new DB instance orders-restore"]


def test_the_earliest_time_of_the_automated_backup_bounds_the_window(restore):
    earliest = datetime.datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    client = FakeRDS(backups=[dict(DbiResourceId="db-SOURCE", Status="active", RestoreWindow=dict(EarliestTime=earliest, LatestTime=LATEST))])
    outcome = restore(client, restore_time="2026-11-19T12:00:00Z")
    assert outcome.rc == 1
    assert "outside the restorable window of orders-prod: 2026-11-20T00:00:00Z .. 2026-11-22T14:40:00Z (earliest from automated_backup" in outcome.result["msg"]
    assert client.called("restore_db_instance_to_point_in_time") == []


def test_unreadable_automated_backups_fall_back_to_the_creation_time_with_a_warning(restore, monkeypatch):
    warnings = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: warnings.append(warning))
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no rds:DescribeDBInstanceAutomatedBackups"}}, "DescribeDBInstanceAutomatedBackups")
    client = FakeRDS(statuses=("available",), backups=denied)
    outcome = restore(client)
    assert outcome.rc == 0, outcome.result
    assert outcome.result["restorable_window"]["earliest_from"] == "instance_create_time"
    assert len(warnings) == 1
    assert "The automated backup of orders-prod could not be read" in warnings[0] and "AccessDenied" in warnings[0]
    assert "2026-11-15T03:00:00Z .. 2026-11-22T14:40:00Z" in warnings[0]
