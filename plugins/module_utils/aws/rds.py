# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""RDS point-in-time restore: the decisions as pure functions, and the boto3 calls they need.

The decisions (option checks, the source's restorable window, what an existing
target is, what to verify) work on plain dicts shaped like the RDS API's
answers, so they are unit-tested without AWS. The calls at the end run inside
aws_errors(), so a botocore error becomes one RunbookError naming the instance.

A restore is recorded on the new instance by two tags set in the same
RestoreDBInstanceToPointInTime call, because RDS itself keeps no record of the
source or the time an instance was restored from:
  sre.runbooks/restored-from  the source DB instance identifier
  sre.runbooks/restore-time   the requested time (ISO 8601, UTC) or "latest"
They make the restore declarative: a target carrying the tags of the request
is that restore, already done.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re
import time

from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list, boto3_tag_list_to_ansible_dict

from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_ERRORS, aws_errors, describe_error

TAG_RESTORED_FROM = "sre.runbooks/restored-from"
TAG_RESTORE_TIME = "sre.runbooks/restore-time"
LATEST = "latest"
RESERVED_TAGS = (TAG_RESTORED_FROM, TAG_RESTORE_TIME)

AVAILABLE = "available"
# Statuses a new instance does not leave by itself: the restore failed.
FAILED_STATUSES = frozenset([
    "failed", "inaccessible-encryption-credentials", "incompatible-network", "incompatible-option-group",
    "incompatible-parameters", "incompatible-restore", "insufficient-capacity", "restore-error",
])
# Someone is deleting it: nothing to wait for and nothing to clean up.
DELETING_STATUSES = frozenset(["delete-precheck", "deleting", "deleted"])

# What RDS accepts as an instance identifier (it stores them in lower case).
IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

UTC = datetime.timezone.utc


# -- times -----------------------------------------------------------------------------------


def as_utc(value):
    """A datetime in UTC; a naive one is taken as UTC (as RDS and amazon.aws.rds_instance do). None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(text):
    """An ISO 8601 date and time ("2026-11-22T14:23:00Z", "+01:00" offsets, no zone meaning UTC) as a UTC datetime.

    Raises ValueError for anything else.
    """
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(value)
    if len(value) <= 10:
        raise ValueError("{0!r} is a date without a time".format(text))
    return as_utc(parsed)


def format_time(value):
    """ISO 8601 in UTC with a Z, microseconds only when there are any: the form tags and results carry."""
    value = as_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += ".%06d" % value.microsecond
    return text + "Z"


# -- options ---------------------------------------------------------------------------------


def identifier_problem(name, value):
    """Why value is not an RDS instance identifier, or None."""
    if not IDENTIFIER_RE.match(value) or value.endswith("-") or "--" in value:
        return ("{0} must be 1 to 63 letters, digits or hyphens, start with a letter, and neither end with a hyphen "
                "nor contain two consecutive hyphens, got {1!r}".format(name, value))
    return None


def option_problems(params):
    """Problems with the module's options, as sentences; empty when they are usable. Needs no AWS call."""
    problems = []
    target = (params.get("db_instance_identifier") or "").lower()
    source = (params.get("source_db_instance_identifier") or "").lower()
    problem = identifier_problem("db_instance_identifier", target)
    if problem:
        problems.append(problem)
    if target and target == source:
        problems.append("db_instance_identifier must name a new instance, not the source {0} itself: "
                        "a point-in-time restore creates a copy and never overwrites its source".format(source))
    restore_time = params.get("restore_time")
    latest = params.get("use_latest_restorable_time")
    if restore_time and latest:
        problems.append("restore_time and use_latest_restorable_time=true are mutually exclusive: give one")
    elif not restore_time and not latest:
        problems.append("give the time to restore to as restore_time, or use_latest_restorable_time=true")
    if restore_time:
        try:
            parse_time(restore_time)
        except ValueError:
            problems.append("restore_time must be an ISO 8601 date and time such as 2026-11-22T14:23:00Z, got {0!r}".format(restore_time))
    tags = params.get("tags") or {}
    reserved = sorted(key for key in tags if key in RESERVED_TAGS or key.lower().startswith("aws:"))
    if reserved:
        problems.append("tags may not set {0}: the sre.runbooks/ tags record the restore and aws: keys belong to AWS".format(", ".join(reserved)))
    if params.get("wait_timeout") is not None and params["wait_timeout"] < 0:
        problems.append("wait_timeout must be 0 or more seconds")
    if params.get("wait_sleep") is not None and params["wait_sleep"] < 1:
        problems.append("wait_sleep must be 1 second or more")
    return problems


def desired_restore(params):
    """The request as the decisions below use it: identifiers in lower case, the time parsed, tags complete.

    Call after option_problems() found nothing.
    """
    restore_time = parse_time(params["restore_time"]) if params.get("restore_time") else None
    source = params["source_db_instance_identifier"].lower()
    user_tags = dict((key, str(value)) for key, value in (params.get("tags") or {}).items())
    tags = dict(user_tags)
    tags[TAG_RESTORED_FROM] = source
    tags[TAG_RESTORE_TIME] = format_time(restore_time) if restore_time else LATEST
    return dict(
        target=params["db_instance_identifier"].lower(),
        source=source,
        restore_time=restore_time,
        tags=tags,
        db_instance_class=params.get("db_instance_class"),
        db_subnet_group_name=params.get("db_subnet_group_name"),
        vpc_security_group_ids=params.get("vpc_security_group_ids"),
        port=params.get("port"),
        multi_az=params.get("multi_az"),
        publicly_accessible=bool(params.get("publicly_accessible")),
    )


def describe_request(desired):
    """'prod-db at 2026-11-22T14:23:00Z' or 'prod-db at its latest restorable time'."""
    if desired["restore_time"] is None:
        return "{0} at its latest restorable time".format(desired["source"])
    return "{0} at {1}".format(desired["source"], format_time(desired["restore_time"]))


def restore_request(desired):
    """Keyword arguments of RestoreDBInstanceToPointInTime for the request: only what was asked for."""
    request = dict(
        SourceDBInstanceIdentifier=desired["source"],
        TargetDBInstanceIdentifier=desired["target"],
        PubliclyAccessible=desired["publicly_accessible"],
        Tags=ansible_dict_to_boto3_tag_list(desired["tags"]),
    )
    if desired["restore_time"] is None:
        request["UseLatestRestorableTime"] = True
    else:
        request["RestoreTime"] = desired["restore_time"]
    for option, key in (("db_instance_class", "DBInstanceClass"), ("db_subnet_group_name", "DBSubnetGroupName"),
                        ("vpc_security_group_ids", "VpcSecurityGroupIds"), ("port", "Port"), ("multi_az", "MultiAZ")):
        if desired[option] is not None:
            request[key] = desired[option]
    return request


# -- the source ------------------------------------------------------------------------------


def restore_window(source, automated_backups=None):
    """The times source can be restored to: dict(earliest, latest, earliest_from), datetimes in UTC or None.

    latest is the instance's LatestRestorableTime. earliest is the RestoreWindow of its
    active automated backup (DescribeDBInstanceAutomatedBackups, matched by DbiResourceId
    so that retained backups of an older instance of the same name do not count); without
    one, its InstanceCreateTime, a lower bound RDS itself enforces.
    """
    latest = as_utc(source.get("LatestRestorableTime"))
    earliest, earliest_from = None, None
    for backup in automated_backups or ():
        window = backup.get("RestoreWindow") or {}
        if backup.get("DbiResourceId") != source.get("DbiResourceId") or backup.get("Status", "active") != "active":
            continue
        if window.get("EarliestTime") is not None:
            candidate = as_utc(window["EarliestTime"])
            if earliest is None or candidate < earliest:
                earliest, earliest_from = candidate, "automated_backup"
    if earliest is None and source.get("InstanceCreateTime") is not None:
        earliest, earliest_from = as_utc(source["InstanceCreateTime"]), "instance_create_time"
    return dict(earliest=earliest, latest=latest, earliest_from=earliest_from)


def window_text(window):
    earliest = format_time(window["earliest"]) if window["earliest"] else "(unknown)"
    latest = format_time(window["latest"]) if window["latest"] else "(none)"
    return "{0} .. {1}".format(earliest, latest)


def source_problems(source, desired, window):
    """Why source cannot be restored as desired, as sentences; empty when it can."""
    name = desired["source"]
    problems = []
    if source.get("DBClusterIdentifier"):
        problems.append("{0} belongs to the DB cluster {1}: restore the cluster (RestoreDBClusterToPointInTime), "
                        "not one of its instances".format(name, source["DBClusterIdentifier"]))
        return problems
    if source.get("BackupRetentionPeriod") == 0:
        problems.append("{0} has automated backups turned off (BackupRetentionPeriod 0), so it has no point in time "
                        "to restore to".format(name))
        return problems
    if window["latest"] is None:
        problems.append("{0} reports no LatestRestorableTime: it has no completed automated backup yet".format(name))
        return problems
    wanted = desired["restore_time"]
    if wanted is not None:
        too_early = window["earliest"] is not None and wanted < window["earliest"]
        if too_early or wanted > window["latest"]:
            problems.append("restore_time {0} is outside the restorable window of {1}: {2} (earliest from {3}, latest "
                            "from LatestRestorableTime)".format(format_time(wanted), name, window_text(window),
                                                                window["earliest_from"] or "nowhere"))
    return problems


# -- the target ------------------------------------------------------------------------------


def instance_tags(instance):
    return boto3_tag_list_to_ansible_dict(instance.get("TagList") or [])


def restored_as(instance):
    """(source, restore time tag) the instance's sre.runbooks/ tags record; (None, None) when it has none."""
    tags = instance_tags(instance)
    return tags.get(TAG_RESTORED_FROM), tags.get(TAG_RESTORE_TIME)


def same_restore_time(tag_value, wanted):
    """Whether a restore-time tag records the wanted time (a datetime, or None for the latest)."""
    if tag_value is None:
        return False
    if wanted is None:
        return tag_value == LATEST
    try:
        return parse_time(tag_value) == wanted
    except ValueError:
        return False


def is_this_restore(instance, desired):
    """Whether the instance's tags record the restore desired: same source, same time."""
    source, restore_time = restored_as(instance)
    return source == desired["source"] and same_restore_time(restore_time, desired["restore_time"])


def instance_state(instance):
    """'available', 'failed', 'deleting', 'in_progress', or 'absent' for None."""
    if instance is None:
        return "absent"
    status = instance.get("DBInstanceStatus")
    if status == AVAILABLE:
        return "available"
    if status in FAILED_STATUSES:
        return "failed"
    if status in DELETING_STATUSES:
        return "deleting"
    return "in_progress"


def endpoint_of(instance):
    """dict(address, port, hosted_zone_id) of the instance's endpoint, or None before it has one."""
    endpoint = (instance or {}).get("Endpoint") or {}
    if not endpoint.get("Address"):
        return None
    return dict(address=endpoint["Address"], port=endpoint.get("Port"), hosted_zone_id=endpoint.get("HostedZoneId"))


def verification_problems(instance, desired, source=None):
    """What does not hold for a restored instance to be the restore desired, as sentences; empty when all holds.

    Available, with an endpoint address and port, tagged with the requested source and
    time (and the user's tags), the source's engine, and every setting the task asked for.
    """
    problems = []
    status = instance.get("DBInstanceStatus")
    if status != AVAILABLE:
        problems.append("its status is {0}, not available".format(status))
    endpoint = instance.get("Endpoint") or {}
    if not endpoint.get("Address") or not endpoint.get("Port"):
        problems.append("it has no endpoint address and port")
    tags = instance_tags(instance)
    if tags.get(TAG_RESTORED_FROM) != desired["source"] or not same_restore_time(tags.get(TAG_RESTORE_TIME), desired["restore_time"]):
        problems.append("its tags record a restore of {0} at {1}, not {2}".format(
            tags.get(TAG_RESTORED_FROM), tags.get(TAG_RESTORE_TIME), describe_request(desired)))
    wrong = sorted(key for key, value in desired["tags"].items() if key not in RESERVED_TAGS and tags.get(key) != value)
    if wrong:
        problems.append("its tags {0} differ from the tags asked for".format(", ".join(wrong)))
    if source is not None and source.get("Engine") and instance.get("Engine") != source["Engine"]:
        problems.append("its engine is {0}, the source's is {1}".format(instance.get("Engine"), source["Engine"]))
    subnet_group = (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    security_groups = sorted(group.get("VpcSecurityGroupId") for group in instance.get("VpcSecurityGroups") or [])
    checks = (
        ("db_instance_class", instance.get("DBInstanceClass")),
        ("port", endpoint.get("Port") or instance.get("DbInstancePort")),
        ("multi_az", instance.get("MultiAZ")),
        ("publicly_accessible", bool(instance.get("PubliclyAccessible"))),
        ("db_subnet_group_name", subnet_group),
        ("vpc_security_group_ids", security_groups),
    )
    for option, actual in checks:
        wanted = desired[option]
        if option == "vpc_security_group_ids" and wanted is not None:
            wanted = sorted(wanted)
        if wanted is not None and actual != wanted:
            problems.append("its {0} is {1}, asked for {2}".format(option, _show(actual), _show(wanted)))
    return problems


def _show(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def plan_restore(desired, source, target, window, wait=True):
    """Decide from what exists what to do. Pure: source and target are describe answers (None: absent).

    Returns dict(decision, actions, reason):
      restore -- the target is absent and the source can be restored as asked
      present -- the target is this restore, available and as asked: nothing to do
      wait    -- the target is this restore, still being created: wait for it (when wait)
      refuse  -- anything else; reason says why and what to do
    """
    name = desired["target"]
    wait_action = "wait for {0} to be available, then verify it".format(name)
    state = instance_state(target)
    if state == "absent":
        if source is None:
            return _refuse("the source DB instance {0} does not exist. A deleted instance's retained automated backups "
                           "are not restored by this module".format(desired["source"]))
        problems = source_problems(source, desired, window)
        if problems:
            return _refuse("; ".join(problems))
        actions = ["restore {0} as the new DB instance {1}".format(describe_request(desired), name)]
        if wait:
            actions.append(wait_action)
        return dict(decision="restore", actions=actions, reason=None)

    status = target.get("DBInstanceStatus")
    if not is_this_restore(target, desired):
        from_source, from_time = restored_as(target)
        if from_source is None:
            what = "it was not restored by sre.runbooks.rds_pitr_restore (no {0} tag)".format(TAG_RESTORED_FROM)
        else:
            what = "it is a restore of {0} at {1}".format(from_source, from_time)
        return _refuse("the DB instance {0} already exists (status {1}) and {2}, not of {3}. Choose another "
                       "db_instance_identifier, or delete that instance first".format(name, status, what, describe_request(desired)))
    if state == "failed":
        return _refuse("{0} is an earlier restore of {1} that failed (status {2}) and was left in place. Delete it "
                       "(aws rds delete-db-instance --db-instance-identifier {0} --skip-final-snapshot) and run again".format(
                           name, describe_request(desired), status))
    if state == "deleting":
        return _refuse("{0} is an earlier restore of {1} that is being deleted (status {2}); run again once it is gone".format(
            name, describe_request(desired), status))
    if state == "in_progress":
        return dict(decision="wait", actions=[wait_action] if wait else [], reason=None)
    problems = verification_problems(target, desired, source)
    if problems:
        return _refuse("{0} is a restore of {1} but {2}. This module does not modify instances: change it with "
                       "amazon.aws.rds_instance, or delete it and run again".format(name, describe_request(desired), "; ".join(problems)))
    return dict(decision="present", actions=[], reason=None)


def _refuse(reason):
    return dict(decision="refuse", actions=[], reason=reason)


def wait_for_instance(describe, timeout, interval, seen=True, clock=None, sleep=None):
    """Poll describe() until the instance is available, failed, being deleted or gone, or timeout seconds pass.

    describe() returns the instance or None. seen -- whether the instance was already seen
    (the restore call answered with it): not finding an instance never seen is taken for
    eventual consistency and waited on; not finding one seen means it is gone.
    Returns (outcome, instance): outcome is available, failed, deleting, gone or timeout;
    instance is the last answer (None when gone).
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    instance = None
    while True:
        instance = describe()
        state = instance_state(instance)
        if state == "absent" and seen:
            return "gone", None
        if state not in ("absent", "in_progress"):
            return state, instance
        seen = seen or instance is not None
        remaining = deadline - clock()
        if remaining <= 0:
            return "timeout", instance
        sleep(min(interval, remaining))


# -- results ---------------------------------------------------------------------------------


def _time_or_none(value):
    return format_time(value) if value is not None else None


def instance_facts(instance):
    """The parts of a DB instance a restore's result reports, in snake_case."""
    if instance is None:
        return None
    return dict(
        db_instance_identifier=instance.get("DBInstanceIdentifier"),
        db_instance_arn=instance.get("DBInstanceArn"),
        db_instance_status=instance.get("DBInstanceStatus"),
        db_instance_class=instance.get("DBInstanceClass"),
        engine=instance.get("Engine"),
        engine_version=instance.get("EngineVersion"),
        multi_az=instance.get("MultiAZ"),
        publicly_accessible=instance.get("PubliclyAccessible"),
        db_subnet_group_name=(instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        vpc_security_group_ids=[group.get("VpcSecurityGroupId") for group in instance.get("VpcSecurityGroups") or []],
        instance_create_time=_time_or_none(as_utc(instance.get("InstanceCreateTime"))),
        tags=instance_tags(instance),
    )


def window_facts(window):
    if window is None:
        return None
    return dict(earliest=_time_or_none(window["earliest"]), latest=_time_or_none(window["latest"]), earliest_from=window["earliest_from"])


# -- boto3 calls -----------------------------------------------------------------------------


def describe_instance(client, identifier):
    """The DB instance called identifier, or None when there is none."""
    with aws_errors("describe", "RDS DB instance {0}".format(identifier)):
        try:
            found = client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
        except AWS_ERRORS as error:
            if describe_error(error) == "DBInstanceNotFound":
                return None
            raise
    return found[0] if found else None


def describe_automated_backups(client, source):
    """(automated backups of the source, None), or (None, why they could not be read)."""
    try:
        answer = client.describe_db_instance_automated_backups(DBInstanceIdentifier=source["DBInstanceIdentifier"])
    except AWS_ERRORS as error:
        return None, "{0}".format(error)
    return answer.get("DBInstanceAutomatedBackups", []), None


def start_restore(client, desired):
    """Call RestoreDBInstanceToPointInTime; the new instance as RDS answers."""
    with aws_errors("restore", "RDS DB instance {0} from {1}".format(desired["target"], describe_request(desired))):
        return client.restore_db_instance_to_point_in_time(**restore_request(desired))["DBInstance"]


def delete_instance(client, identifier):
    """Start deleting a restored instance without a final snapshot (it is a copy); its status afterwards."""
    with aws_errors("delete", "RDS DB instance {0}".format(identifier)):
        answer = client.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    return answer["DBInstance"].get("DBInstanceStatus")
