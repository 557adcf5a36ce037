# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The RDS point-in-time restore decisions, on dicts shaped like the RDS API's answers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from botocore.exceptions import ClientError

from ansible_collections.sre.runbooks.plugins.module_utils.aws import rds
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

UTC = datetime.timezone.utc
CREATED = datetime.datetime(2026, 11, 15, 3, 0, tzinfo=UTC)
LATEST = datetime.datetime(2026, 11, 22, 14, 40, tzinfo=UTC)
WANTED = datetime.datetime(2026, 11, 22, 14, 22, tzinfo=UTC)


def params(**overrides):
    values = dict(
        db_instance_identifier="orders-restore", source_db_instance_identifier="orders-prod", restore_time="2026-11-22T14:22:00Z",
        use_latest_restorable_time=False, db_instance_class=None, db_subnet_group_name=None, vpc_security_group_ids=None,
        port=None, multi_az=None, publicly_accessible=False, tags=None, wait=True, wait_timeout=3600, wait_sleep=30,
        cleanup_on_failure=True,
    )
    values.update(overrides)
    return values


def desired(**overrides):
    return rds.desired_restore(params(**overrides))


def source(**overrides):
    instance = dict(
        DBInstanceIdentifier="orders-prod", DbiResourceId="db-SOURCE", DBInstanceStatus="available", Engine="postgres",
        BackupRetentionPeriod=7, InstanceCreateTime=CREATED, LatestRestorableTime=LATEST,
    )
    instance.update(overrides)
    return instance


def restored(request, **overrides):
    """The instance RDS makes for request (a desired_restore()), available, as describe_db_instances shows it."""
    instance = dict(
        DBInstanceIdentifier=request["target"], DBInstanceStatus="available", Engine="postgres", DBInstanceClass="db.t3.micro",
        Endpoint=dict(Address=request["target"] + ".abc.eu-west-1.rds.amazonaws.com", Port=5432, HostedZoneId="Z2R2ITUGPM61AM"),
        MultiAZ=False, PubliclyAccessible=False, VpcSecurityGroups=[dict(VpcSecurityGroupId="sg-1", Status="active")],
        DBSubnetGroup=dict(DBSubnetGroupName="default"), TagList=[dict(Key=k, Value=v) for k, v in request["tags"].items()],
        InstanceCreateTime=LATEST,
    )
    instance.update(overrides)
    return instance


def window(earliest=CREATED, latest=LATEST, earliest_from="instance_create_time"):
    return dict(earliest=earliest, latest=latest, earliest_from=earliest_from)


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22T14:22:00Z", WANTED),
    ("2026-11-22T14:22:00+00:00", WANTED),
    ("2026-11-22T15:22:00+01:00", WANTED),
    ("2026-11-22T14:22:00", WANTED),
    ("2026-11-22 14:22:00z", WANTED),
    ("2026-11-22T14:22:00.250000Z", WANTED.replace(microsecond=250000)),
])
def test_restore_times_are_read_as_utc(text, expected):
    parsed = rds.parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize("text", ["2026-11-22", "yesterday", "2026-13-01T00:00:00Z", ""])
def test_anything_but_a_date_and_time_is_refused(text):
    with pytest.raises(ValueError):
        rds.parse_time(text)


def test_times_are_formatted_in_utc_with_microseconds_only_when_present():
    assert rds.format_time(WANTED) == "2026-11-22T14:22:00Z"
    assert rds.format_time(datetime.datetime(2026, 11, 22, 15, 22, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))) == (
        "2026-11-22T14:22:00.000005Z")
    assert rds.parse_time(rds.format_time(WANTED.replace(microsecond=7))) == WANTED.replace(microsecond=7)


# -- options ---------------------------------------------------------------------------------


def test_usable_options_have_no_problems():
    assert rds.option_problems(params()) == []
    assert rds.option_problems(params(restore_time=None, use_latest_restorable_time=True, tags={"incident": "INC-1"})) == []


def test_restore_time_and_latest_exclude_each_other_and_one_is_needed():
    assert rds.option_problems(params(use_latest_restorable_time=True)) == [
        "restore_time and use_latest_restorable_time=true are mutually exclusive: give one"]
    assert rds.option_problems(params(restore_time=None)) == [
        "give the time to restore to as restore_time, or use_latest_restorable_time=true"]


def test_the_target_may_not_be_the_source_whatever_the_case():
    problems = rds.option_problems(params(db_instance_identifier="Orders-Prod"))
    assert len(problems) == 1 and "not the source orders-prod itself" in problems[0]


@pytest.mark.parametrize("identifier", ["1orders", "orders-", "orders--restore", "orders_restore", "o" * 64, ""])
def test_identifiers_rds_refuses_are_refused(identifier):
    problems = rds.option_problems(params(db_instance_identifier=identifier))
    assert any(problem.startswith("db_instance_identifier must be 1 to 63 letters") for problem in problems)


def test_a_restore_time_that_does_not_parse_is_refused():
    assert rds.option_problems(params(restore_time="last tuesday")) == [
        "restore_time must be an ISO 8601 date and time such as 2026-11-22T14:23:00Z, got 'last tuesday'"]


def test_tags_may_not_overwrite_the_restore_record_or_aws_keys():
    problems = rds.option_problems(params(tags={rds.TAG_RESTORED_FROM: "x", "aws:cloudformation:stack": "y", "team": "db"}))
    assert problems == ["tags may not set aws:cloudformation:stack, sre.runbooks/restored-from: "
                        "the sre.runbooks/ tags record the restore and aws: keys belong to AWS"]


def test_wait_settings_must_be_sane():
    assert rds.option_problems(params(wait_timeout=-1, wait_sleep=0)) == [
        "wait_timeout must be 0 or more seconds", "wait_sleep must be 1 second or more"]


def test_the_request_carries_identifiers_in_lower_case_and_the_record_tags():
    request = desired(db_instance_identifier="Orders-Restore", source_db_instance_identifier="Orders-Prod", restore_time="2026-11-22T15:22:00+01:00",
                      tags={"incident": "INC-1", "ticket": 42})
    assert (request["target"], request["source"], request["restore_time"]) == ("orders-restore", "orders-prod", WANTED)
    assert request["tags"] == {"incident": "INC-1", "ticket": "42", rds.TAG_RESTORED_FROM: "orders-prod",
                               rds.TAG_RESTORE_TIME: "2026-11-22T14:22:00Z"}
    assert desired(restore_time=None, use_latest_restorable_time=True)["tags"][rds.TAG_RESTORE_TIME] == "latest"


def test_restore_request_sends_only_what_was_asked_for_and_never_a_public_default():
    request = rds.restore_request(desired())
    assert request == dict(
        SourceDBInstanceIdentifier="orders-prod", TargetDBInstanceIdentifier="orders-restore", RestoreTime=WANTED, PubliclyAccessible=False,
        Tags=[dict(Key=rds.TAG_RESTORED_FROM, Value="orders-prod"), dict(Key=rds.TAG_RESTORE_TIME, Value="2026-11-22T14:22:00Z")],
    )
    latest = rds.restore_request(desired(restore_time=None, use_latest_restorable_time=True, db_instance_class="db.r6g.large", port=6543,
                                         multi_az=False, db_subnet_group_name="private", vpc_security_group_ids=["sg-2", "sg-1"]))
    assert latest["UseLatestRestorableTime"] is True and "RestoreTime" not in latest
    assert (latest["DBInstanceClass"], latest["Port"], latest["MultiAZ"], latest["DBSubnetGroupName"], latest["VpcSecurityGroupIds"]) == (
        "db.r6g.large", 6543, False, "private", ["sg-2", "sg-1"])


# -- the source ------------------------------------------------------------------------------


def test_window_starts_at_the_active_automated_backup_of_this_very_instance():
    earliest = datetime.datetime(2026, 11, 16, 3, 10, tzinfo=UTC)
    backups = [
        # A retained backup of an older instance of the same name reaches further back: it does not count.
        dict(DbiResourceId="db-OLDER", Status="retained", RestoreWindow=dict(EarliestTime=CREATED - datetime.timedelta(days=30))),
        dict(DbiResourceId="db-SOURCE", Status="active", RestoreWindow=dict(EarliestTime=earliest, LatestTime=LATEST)),
    ]
    assert rds.restore_window(source(), backups) == window(earliest=earliest, earliest_from="automated_backup")


def test_window_falls_back_to_the_creation_time_without_a_restore_window():
    assert rds.restore_window(source(), None) == window()
    # moto's automated backups carry no RestoreWindow (nor DbiResourceId).
    assert rds.restore_window(source(), [dict(DBInstanceIdentifier="orders-prod", Status="active")]) == window()
    assert rds.restore_window(source(LatestRestorableTime=None)) == window(latest=None)


def test_a_time_inside_the_window_or_the_latest_can_be_restored():
    assert rds.source_problems(source(), desired(), window()) == []
    assert rds.source_problems(source(), desired(restore_time=rds.format_time(LATEST)), window()) == []
    assert rds.source_problems(source(), desired(restore_time=None, use_latest_restorable_time=True), window()) == []


@pytest.mark.parametrize("wanted", [CREATED - datetime.timedelta(seconds=1), LATEST + datetime.timedelta(seconds=1)])
def test_a_time_outside_the_window_is_refused_naming_the_window(wanted):
    problems = rds.source_problems(source(), desired(restore_time=rds.format_time(wanted)), window())
    assert problems == ["restore_time {0} is outside the restorable window of orders-prod: 2026-11-15T03:00:00Z .. 2026-11-22T14:40:00Z "
                        "(earliest from instance_create_time, latest from LatestRestorableTime)".format(rds.format_time(wanted))]


def test_sources_without_a_point_in_time_are_refused():
    latest = desired(restore_time=None, use_latest_restorable_time=True)
    no_backups = rds.source_problems(source(BackupRetentionPeriod=0), latest, window())
    assert len(no_backups) == 1 and "automated backups turned off (BackupRetentionPeriod 0)" in no_backups[0]
    never_backed_up = rds.source_problems(source(LatestRestorableTime=None), latest, window(latest=None))
    assert len(never_backed_up) == 1 and "no LatestRestorableTime" in never_backed_up[0]
    member = rds.source_problems(source(DBClusterIdentifier="orders-aurora"), latest, window())
    assert len(member) == 1 and "belongs to the DB cluster orders-aurora" in member[0]


# -- the decision ----------------------------------------------------------------------------


def test_an_absent_target_of_a_restorable_source_is_restored():
    plan = rds.plan_restore(desired(), source(), None, window())
    assert plan == dict(decision="restore", reason=None, actions=[
        "restore orders-prod at 2026-11-22T14:22:00Z as the new DB instance orders-restore",
        "wait for orders-restore to be available, then verify it",
    ])
    assert rds.plan_restore(desired(), source(), None, window(), wait=False)["actions"] == [
        "restore orders-prod at 2026-11-22T14:22:00Z as the new DB instance orders-restore"]


def test_a_missing_source_is_refused():
    plan = rds.plan_restore(desired(), None, None, None)
    assert plan["decision"] == "refuse" and plan["reason"].startswith("the source DB instance orders-prod does not exist")


def test_an_out_of_window_time_is_refused_before_anything_is_planned():
    plan = rds.plan_restore(desired(restore_time="2026-11-01T00:00:00Z"), source(), None, window())
    assert plan["decision"] == "refuse" and plan["actions"] == []
    assert "outside the restorable window" in plan["reason"]


def test_the_same_restore_already_available_is_left_alone():
    request = desired()
    assert rds.plan_restore(request, source(), restored(request), None) == dict(decision="present", actions=[], reason=None)
    # The time written another way is the same time.
    assert rds.plan_restore(desired(restore_time="2026-11-22T15:22:00+01:00"), source(), restored(request), None)["decision"] == "present"


def test_the_same_restore_still_being_created_is_waited_for():
    request = desired()
    plan = rds.plan_restore(request, source(), restored(request, DBInstanceStatus="backing-up", Endpoint=None), None)
    assert plan == dict(decision="wait", actions=["wait for orders-restore to be available, then verify it"], reason=None)
    assert rds.plan_restore(request, source(), restored(request, DBInstanceStatus="creating"), None, wait=False)["actions"] == []


def test_an_instance_that_is_not_this_restore_is_refused():
    request = desired()
    foreign = restored(request, TagList=[dict(Key="team", Value="payments")])
    plan = rds.plan_restore(request, source(), foreign, None)
    assert plan["decision"] == "refuse"
    assert plan["reason"] == (
        "the DB instance orders-restore already exists (status available) and it was not restored by sre.runbooks.rds_pitr_restore "
        "(no sre.runbooks/restored-from tag), not of orders-prod at 2026-11-22T14:22:00Z. Choose another db_instance_identifier, "
        "or delete that instance first")
    other_time = rds.plan_restore(desired(restore_time="2026-11-22T14:00:00Z"), source(), restored(request), None)
    assert other_time["decision"] == "refuse"
    assert "it is a restore of orders-prod at 2026-11-22T14:22:00Z, not of orders-prod at 2026-11-22T14:00:00Z" in other_time["reason"]
    latest = rds.plan_restore(desired(restore_time=None, use_latest_restorable_time=True), source(), restored(request), None)
    assert latest["decision"] == "refuse" and "not of orders-prod at its latest restorable time" in latest["reason"]


def test_an_earlier_failed_or_deleted_restore_is_refused_with_what_to_do():
    request = desired()
    failed = rds.plan_restore(request, source(), restored(request, DBInstanceStatus="incompatible-restore"), None)
    assert failed["decision"] == "refuse"
    assert "failed (status incompatible-restore)" in failed["reason"] and "delete-db-instance --db-instance-identifier orders-restore" in failed["reason"]
    deleting = rds.plan_restore(request, source(), restored(request, DBInstanceStatus="deleting"), None)
    assert deleting["decision"] == "refuse" and "is being deleted (status deleting)" in deleting["reason"]


def test_the_same_restore_with_other_settings_is_refused_not_modified():
    request = desired(port=6543)
    plan = rds.plan_restore(request, source(), restored(request), None)
    assert plan["decision"] == "refuse"
    assert "its port is 5432, asked for 6543" in plan["reason"] and "does not modify instances" in plan["reason"]


def test_the_decision_about_an_existing_restore_does_not_need_the_source():
    request = desired()
    assert rds.plan_restore(request, None, restored(request), None)["decision"] == "present"


# -- verification ----------------------------------------------------------------------------


def test_a_good_restore_verifies():
    request = desired(db_instance_class="db.t3.micro", port=5432, multi_az=False, db_subnet_group_name="default",
                      vpc_security_group_ids=["sg-1"], tags={"incident": "INC-1"})
    assert rds.verification_problems(restored(request), request, source()) == []


def test_verification_names_every_difference():
    request = desired(db_instance_class="db.r6g.large", vpc_security_group_ids=["sg-2", "sg-1"], multi_az=True, tags={"incident": "INC-1"})
    instance = restored(request, PubliclyAccessible=True, Engine="mysql", Endpoint=dict(Address=""), DBInstanceClass="db.t3.micro",
                        VpcSecurityGroups=[dict(VpcSecurityGroupId="sg-1")])
    instance["TagList"] = [tag for tag in instance["TagList"] if tag["Key"] != "incident"]
    assert rds.verification_problems(instance, request, source()) == [
        "it has no endpoint address and port",
        "its tags incident differ from the tags asked for",
        "its engine is mysql, the source's is postgres",
        "its db_instance_class is db.t3.micro, asked for db.r6g.large",
        "its multi_az is false, asked for true",
        "its publicly_accessible is true, asked for false",
        "its vpc_security_group_ids is [sg-1], asked for [sg-1, sg-2]",
    ]


def test_verification_checks_the_record_of_source_and_time():
    request = desired()
    other = desired(source_db_instance_identifier="orders-staging")
    problems = rds.verification_problems(restored(other), request, source())
    assert problems == ["its tags record a restore of orders-staging at 2026-11-22T14:22:00Z, not orders-prod at 2026-11-22T14:22:00Z"]


def test_security_groups_compare_as_a_set():
    request = desired(vpc_security_group_ids=["sg-2", "sg-1"])
    instance = restored(request, VpcSecurityGroups=[dict(VpcSecurityGroupId="sg-1"), dict(VpcSecurityGroupId="sg-2")])
    assert rds.verification_problems(instance, request, source()) == []


# -- waiting ---------------------------------------------------------------------------------


class FakeClock:
    """A clock that sleep() moves forward: no real time passes."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def describing(*answers):
    answers = list(answers)
    return lambda: answers.pop(0) if len(answers) > 1 else answers[0]


def test_waits_through_creation_until_available():
    clock = FakeClock()
    request = desired()
    describe = describing(restored(request, DBInstanceStatus="creating"), restored(request, DBInstanceStatus="backing-up"), restored(request))
    outcome, instance = rds.wait_for_instance(describe, 600, 30, clock=clock, sleep=clock.sleep)
    assert (outcome, instance["DBInstanceStatus"]) == ("available", "available")
    assert clock.slept == [30, 30]


def test_a_failed_status_ends_the_wait_at_once():
    clock = FakeClock()
    request = desired()
    outcome, instance = rds.wait_for_instance(describing(restored(request, DBInstanceStatus="creating"), restored(request, DBInstanceStatus="failed")),
                                              600, 30, clock=clock, sleep=clock.sleep)
    assert (outcome, instance["DBInstanceStatus"], clock.slept) == ("failed", "failed", [30])


def test_the_wait_times_out_with_the_last_status_and_never_sleeps_past_the_deadline():
    clock = FakeClock()
    outcome, instance = rds.wait_for_instance(describing(restored(desired(), DBInstanceStatus="creating")), 70, 30, clock=clock, sleep=clock.sleep)
    assert (outcome, instance["DBInstanceStatus"]) == ("timeout", "creating")
    assert clock.slept == [30, 30, 10]


def test_an_instance_not_yet_visible_is_waited_for_and_one_that_vanishes_is_gone():
    clock = FakeClock()
    request = desired()
    outcome, _instance = rds.wait_for_instance(describing(None, restored(request)), 600, 30, seen=False, clock=clock, sleep=clock.sleep)
    assert outcome == "available"
    outcome, instance = rds.wait_for_instance(describing(restored(request, DBInstanceStatus="creating"), None), 600, 30, clock=clock, sleep=clock.sleep)
    assert (outcome, instance) == ("gone", None)
    assert rds.wait_for_instance(describing(restored(request, DBInstanceStatus="deleting")), 600, 30, clock=clock, sleep=clock.sleep)[0] == "deleting"


# -- results and calls -----------------------------------------------------------------------


def test_results_carry_the_endpoint_and_instance_in_snake_case():
    request = desired(tags={"incident": "INC-1"})
    instance = restored(request)
    assert rds.endpoint_of(instance) == dict(address="orders-restore.abc.eu-west-1.rds.amazonaws.com", port=5432, hosted_zone_id="Z2R2ITUGPM61AM")
    assert rds.endpoint_of(restored(request, Endpoint=None)) is None
    facts = rds.instance_facts(instance)
    assert facts["tags"] == request["tags"]
    assert (facts["db_subnet_group_name"], facts["vpc_security_group_ids"], facts["instance_create_time"]) == ("default", ["sg-1"], "2026-11-22T14:40:00Z")
    assert rds.window_facts(window()) == dict(earliest="2026-11-15T03:00:00Z", latest="2026-11-22T14:40:00Z", earliest_from="instance_create_time")


class ErrorClient:
    """A client whose describe_db_instances raises the ClientError with code."""

    def __init__(self, code):
        self.code = code

    def describe_db_instances(self, **_kwargs):
        raise ClientError({"Error": {"Code": self.code, "Message": "{0} happened".format(self.code)}}, "DescribeDBInstances")


def test_a_missing_instance_is_none_and_other_errors_are_runbook_errors():
    assert rds.describe_instance(ErrorClient("DBInstanceNotFound"), "orders-prod") is None
    with pytest.raises(RunbookError) as info:
        rds.describe_instance(ErrorClient("AccessDenied"), "orders-prod")
    assert str(info.value).startswith("Failed to describe RDS DB instance orders-prod: ")
    assert info.value.to_dict()["details"] == {"code": "AccessDenied"}
