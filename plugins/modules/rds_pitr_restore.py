#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rds_pitr_restore
short_description: Restore an RDS DB instance to a point in time as a new, verified instance
version_added: 0.1.0
description:
  - Restores the RDS DB instance O(source_db_instance_identifier) to O(restore_time), or to its latest restorable
    time, as the new DB instance O(db_instance_identifier) (C(RestoreDBInstanceToPointInTime)); the source is never
    changed. Waits until the new instance is available and verifies it, then returns its endpoint.
  - Refuses, before creating anything, a source that does not exist, has automated backups turned off or belongs to a
    DB cluster; a O(restore_time) outside the source's restorable window; O(restore_time) together with
    O(use_latest_restorable_time=true); a target identifier equal to the source's; and a target that already exists
    but is not this restore.
  - Declarative. The source and the requested time are recorded as the tags C(sre.runbooks/restored-from) and
    C(sre.runbooks/restore-time) (the time in ISO 8601 UTC, or C(latest)) on the new instance, in the restore call
    itself. A target carrying the tags of the request, available and as asked, is left alone (C(changed=false));
    one still being created by an earlier run that timed out is waited for and verified.
  - Verification checks that the instance is available, has an endpoint address and port, carries the tags of the
    request, has the source's engine and every setting the task asked for (O(db_instance_class), O(port),
    O(multi_az), O(publicly_accessible), O(db_subnet_group_name), O(vpc_security_group_ids), O(tags)).
  - When the new instance ends in a failed status or fails verification it is deleted without a final snapshot
    (O(cleanup_on_failure)), and the failure says so. When the wait times out the instance is left as it is and the
    failure names it and its status; running the task again resumes the wait.
options:
  db_instance_identifier:
    description:
      - Identifier of the new DB instance to restore into. RDS keeps identifiers in lower case.
    type: str
    required: true
    aliases: [ instance_id, id ]
  source_db_instance_identifier:
    description:
      - Identifier of the DB instance to restore from, in the same account and region.
    type: str
    required: true
  restore_time:
    description:
      - The UTC date and time to restore to, in ISO 8601, for example V(2026-11-22T14:23:00Z); a time without a zone
        is taken as UTC, one with an offset is converted.
      - Must lie in the source's restorable window, from the earliest time of its automated backup (its creation
        time when that cannot be read) to its C(LatestRestorableTime).
      - Exactly one of O(restore_time) and O(use_latest_restorable_time=true) must be given.
    type: str
  use_latest_restorable_time:
    description:
      - Restore to the source's latest restorable time (usually a few minutes ago).
      - A target restored this way is recorded with C(sre.runbooks/restore-time=latest), so a second run leaves it alone
        rather than taking a fresher copy; use a new O(db_instance_identifier) for that.
    type: bool
    default: false
    aliases: [ restore_from_latest ]
  db_instance_class:
    description:
      - Compute and memory capacity of the new instance, for example V(db.t3.micro). By default the source's.
    type: str
    aliases: [ class, instance_type ]
  db_subnet_group_name:
    description:
      - DB subnet group of the new instance. Without it RDS uses the default subnet group, so name the source's group
        when clients in its VPC are to reach the copy.
    type: str
    aliases: [ subnet_group ]
  vpc_security_group_ids:
    description:
      - VPC security groups of the new instance. Without them RDS uses the VPC's default security group.
    type: list
    elements: str
  port:
    description:
      - Port the new instance listens on. By default the source's.
    type: int
  multi_az:
    description:
      - Whether the new instance is a Multi-AZ deployment. By default RDS makes it single-AZ.
    type: bool
  publicly_accessible:
    description:
      - Whether the new instance gets a publicly resolvable DNS name and address.
      - Defaults to V(false), unlike RDS itself, because a restored copy of a production database should not be reachable
        from the Internet unless asked for.
    type: bool
    default: false
  tags:
    description:
      - More tags for the new instance, set in the restore call. Keys C(sre.runbooks/restored-from),
        C(sre.runbooks/restore-time) and C(aws:*) are refused.
      - An existing target must carry them to count as this restore; they are not added to it afterwards.
    type: dict
    aliases: [ resource_tags ]
  wait:
    description:
      - Whether to wait for the new instance to be available and verify it.
      - With V(false) the module returns right after the restore call, with RV(verified=null) and no endpoint yet.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for the new instance to be available. A restore takes from minutes to hours,
        depending on the size of the database and the WAL to replay.
    type: int
    default: 3600
  wait_sleep:
    description:
      - Seconds between two reads of the new instance's status while waiting.
    type: int
    default: 30
  cleanup_on_failure:
    description:
      - Delete the new instance (without a final snapshot) when it ends in a failed status or fails verification,
        so that a failed restore leaves nothing behind that costs money or is mistaken for a good copy.
      - With V(false) it is left in place for inspection and the failure says so.
      - An existing target that this task did not create or resume is never deleted.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Reads the source and the target, checks the restorable window and returns the planned actions; makes no restore call.
  diff_mode:
    support: full
  platform:
    platforms: all
notes:
  - RDS records neither the source nor the time an instance was restored from; the module's tags are the record.
    Verification of the source and time therefore checks the tags the restore call set, plus the engine.
  - The restorable window's earliest time is read from C(DescribeDBInstanceAutomatedBackups) (C(RestoreWindow.EarliestTime)
    of the source's active automated backup); when that call is refused or answers no window, the source's
    C(InstanceCreateTime) is used and a warning says so, and RDS itself still rejects a time it cannot reach.
  - Needs C(rds:DescribeDBInstances), C(rds:RestoreDBInstanceToPointInTime), C(rds:AddTagsToResource) (tags in the
    restore call), C(rds:DeleteDBInstance) for O(cleanup_on_failure), and optionally
    C(rds:DescribeDBInstanceAutomatedBackups).
  - Tested against moto 5.2.5's RDS server. moto creates the restored instance C(available) at once, does not
    validate the restore time or the restore window, has no C(RestoreWindow) in its automated backups (so the window's
    earliest time is the source's creation time there), copies the source's C(PubliclyAccessible=true) even when
    V(false) is asked for, and deletes instances at once. The waiting through C(creating) and C(backing-up), a
    restore ending in a failed status, and the earliest time from C(RestoreWindow) are covered by unit tests only.
  - Aurora and Multi-AZ DB clusters are restored with C(RestoreDBClusterToPointInTime); this module refuses their
    member instances.
seealso:
  - module: amazon.aws.rds_instance
    description: Creates, modifies and deletes RDS instances; also restores with O(amazon.aws.rds_instance#module:creation_source=instance).
  - module: amazon.aws.rds_instance_info
  - name: RestoreDBInstanceToPointInTime
    description: The RDS API call this module makes.
    link: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceToPointInTime.html
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Restore the orders database to just before the bad migration, next to production
  sre.runbooks.rds_pitr_restore:
    region: eu-west-1
    source_db_instance_identifier: orders-prod
    db_instance_identifier: orders-prod-restore-1422
    restore_time: "2026-11-22T14:22:00Z"
    db_subnet_group_name: orders-prod-subnets
    vpc_security_group_ids:
      - sg-0a1b2c3d4e5f60718
    tags:
      incident: INC-2291
  register: restored

- name: Point the data recovery job at the copy
  ansible.builtin.debug:
    msg: "Restored copy at {{ restored.endpoint.address }}:{{ restored.endpoint.port }}"

- name: Plan a restore to the latest restorable time (check mode changes nothing)
  sre.runbooks.rds_pitr_restore:
    source_db_instance_identifier: orders-prod
    db_instance_identifier: orders-prod-latest
    use_latest_restorable_time: true
    db_instance_class: db.r6g.large
  check_mode: true
"""

RETURN = r"""
db_instance_identifier:
  description: Identifier of the restored instance.
  returned: success
  type: str
  sample: orders-prod-restore-1422
source_db_instance_identifier:
  description: Identifier of the source instance.
  returned: success
  type: str
  sample: orders-prod
restore_time:
  description: The requested restore time, ISO 8601 in UTC; V(null) for the latest restorable time.
  returned: success
  type: str
  sample: "2026-11-22T14:22:00Z"
use_latest_restorable_time:
  description: Whether the restore is to the source's latest restorable time.
  returned: success
  type: bool
  sample: false
restorable_window:
  description: The source's restorable window, read before a restore; V(null) when the target already existed.
  returned: success
  type: dict
  contains:
    earliest:
      description: Earliest restorable time, ISO 8601 in UTC.
      type: str
      sample: "2026-11-15T03:10:00Z"
    latest:
      description: The source's C(LatestRestorableTime), ISO 8601 in UTC.
      type: str
      sample: "2026-11-22T14:40:00Z"
    earliest_from:
      description: Where the earliest time comes from, V(automated_backup) or V(instance_create_time).
      type: str
      sample: automated_backup
status:
  description: Status of the restored instance; V(absent) in check mode before a restore.
  returned: success
  type: str
  sample: available
endpoint:
  description: Where the restored instance accepts connections; V(null) until it has an endpoint.
  returned: success
  type: dict
  contains:
    address:
      description: DNS name of the instance.
      type: str
      sample: orders-prod-restore-1422.c9akciq32.eu-west-1.rds.amazonaws.com
    port:
      description: Port.
      type: int
      sample: 5432
    hosted_zone_id:
      description: Route 53 hosted zone of the address.
      type: str
      sample: Z29XKXDKYMONMX
verified:
  description:
    - Whether the restored instance passed verification; V(null) when it was not verified (O(wait=false), check mode).
  returned: success
  type: bool
  sample: true
instance:
  description: The restored instance; V(null) in check mode before a restore.
  returned: success
  type: dict
  contains:
    db_instance_identifier:
      description: Identifier.
      type: str
    db_instance_arn:
      description: ARN.
      type: str
    db_instance_status:
      description: Status.
      type: str
    db_instance_class:
      description: Instance class.
      type: str
    engine:
      description: Engine.
      type: str
    engine_version:
      description: Engine version.
      type: str
    multi_az:
      description: Whether it is a Multi-AZ deployment.
      type: bool
    publicly_accessible:
      description: Whether it is publicly accessible.
      type: bool
    db_subnet_group_name:
      description: DB subnet group.
      type: str
    vpc_security_group_ids:
      description: VPC security groups.
      type: list
      elements: str
    instance_create_time:
      description: When it was created, ISO 8601 in UTC.
      type: str
    tags:
      description: Its tags, the C(sre.runbooks/) ones included.
      type: dict
actions:
  description: What the module did, or in check mode would do; empty when the restore was already there.
  returned: success
  type: list
  elements: str
  sample:
    - restore orders-prod at 2026-11-22T14:22:00Z as the new DB instance orders-prod-restore-1422
    - wait for orders-prod-restore-1422 to be available, then verify it
"""

from ansible_collections.sre.runbooks.plugins.module_utils.aws import rds
from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_REQUIRED_LIBS, aws_argument_spec, get_boto3_client
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule


def argument_spec():
    spec = aws_argument_spec()
    spec.update(
        db_instance_identifier=dict(type="str", required=True, aliases=["instance_id", "id"]),
        source_db_instance_identifier=dict(type="str", required=True),
        restore_time=dict(type="str"),
        use_latest_restorable_time=dict(type="bool", default=False, aliases=["restore_from_latest"]),
        db_instance_class=dict(type="str", aliases=["class", "instance_type"]),
        db_subnet_group_name=dict(type="str", aliases=["subnet_group"]),
        vpc_security_group_ids=dict(type="list", elements="str"),
        port=dict(type="int"),
        multi_az=dict(type="bool"),
        publicly_accessible=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
        wait_sleep=dict(type="int", default=30),
        cleanup_on_failure=dict(type="bool", default=True),
    )
    return spec


def check_options(module):
    problems = rds.option_problems(module.params)
    if problems:
        raise RunbookError("restore", "RDS DB instance {0}".format(module.params["db_instance_identifier"]), "; ".join(problems))


def connect(module):
    return get_boto3_client(module, "rds")


class Restore:
    """One run of the module: the request, what was read, and the result fields."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.desired = rds.desired_restore(module.params)
        self.name = self.desired["target"]
        self.source = None
        self.window = None

    @property
    def what(self):
        return "RDS DB instance {0} from {1}".format(self.name, rds.describe_request(self.desired))

    def fail(self, cause, **details):
        raise RunbookError("restore", self.what, cause, **details)

    def result(self, changed, actions, instance, verified, before_state):
        desired = self.desired
        state = instance.get("DBInstanceStatus") if instance else "absent"
        after = dict(db_instance_identifier=self.name, status=state if instance else "available",
                     tags=dict((key, desired["tags"][key]) for key in rds.RESERVED_TAGS))
        return self.module.result(
            changed=changed, actions=actions,
            before=dict(db_instance_identifier=self.name, status=before_state),
            after=after,
            db_instance_identifier=self.name,
            source_db_instance_identifier=desired["source"],
            restore_time=rds.format_time(desired["restore_time"]) if desired["restore_time"] else None,
            use_latest_restorable_time=desired["restore_time"] is None,
            restorable_window=rds.window_facts(self.window),
            status=state,
            endpoint=rds.endpoint_of(instance),
            verified=verified,
            instance=rds.instance_facts(instance),
        )

    def read_window(self):
        backups, problem = rds.describe_automated_backups(self.client, self.source)
        window = rds.restore_window(self.source, backups)
        if self.desired["restore_time"] is not None and window["earliest_from"] != "automated_backup":
            reason = "could not be read ({0})".format(problem) if problem else "has no restore window"
            self.module.warn("The automated backup of {0} {1}: its restorable window is taken to start at its creation time, {2}; "
                             "RDS still refuses a time it cannot reach".format(self.desired["source"], reason, rds.window_text(window)))
        return window

    def run(self):
        params = self.module.params
        self.source = rds.describe_instance(self.client, self.desired["source"])
        target = rds.describe_instance(self.client, self.name)
        if self.source is not None and target is None:
            self.window = self.read_window()
        plan = rds.plan_restore(self.desired, self.source, target, self.window, wait=params["wait"])
        if plan["decision"] == "refuse":
            self.fail(plan["reason"])
        if self.source is None:
            self.module.warn("The source DB instance {0} no longer exists; {1} is its restore, found as it was".format(self.desired["source"], self.name))

        if plan["decision"] == "present":
            return self.result(False, plan["actions"], target, True, target["DBInstanceStatus"])
        if plan["decision"] == "wait":
            # An earlier run restored it and stopped waiting: resume the wait; nothing new is changed.
            if self.module.check_mode or not params["wait"]:
                return self.result(False, plan["actions"], target, None, target["DBInstanceStatus"])
            instance = self.wait_and_verify(resumed=True)
            return self.result(False, plan["actions"], instance, True, target["DBInstanceStatus"])

        if self.module.check_mode:
            return self.result(True, plan["actions"], None, None, "absent")
        created = rds.start_restore(self.client, self.desired)
        if not params["wait"]:
            return self.result(True, plan["actions"], created, None, "absent")
        instance = self.wait_and_verify(resumed=False)
        return self.result(True, plan["actions"], instance, True, "absent")

    def wait_and_verify(self, resumed):
        params = self.module.params
        outcome, instance = rds.wait_for_instance(lambda: rds.describe_instance(self.client, self.name),
                                                  params["wait_timeout"], params["wait_sleep"], seen=True)
        if outcome == "timeout":
            status = instance.get("DBInstanceStatus") if instance else "not found"
            self.fail("timed out after {0} s waiting for it to be available. Left in place: DB instance {1}, status {2}. "
                      "Run the task again to keep waiting (it resumes and verifies this restore), or delete the instance "
                      "(aws rds delete-db-instance --db-instance-identifier {1} --skip-final-snapshot)".format(params["wait_timeout"], self.name, status),
                      left=dict(db_instance_identifier=self.name, status=status))
        if outcome == "gone":
            self.fail("the new instance {0} disappeared while waiting for it: someone deleted it".format(self.name))
        if outcome == "deleting":
            self.fail("the new instance {0} is being deleted (status {1}) by someone else".format(self.name, instance.get("DBInstanceStatus")))
        if outcome == "failed":
            problems = ["it ended in status {0}".format(instance.get("DBInstanceStatus"))]
        else:
            problems = rds.verification_problems(instance, self.desired, self.source)
        if problems:
            self.clean_up("; ".join(problems), instance, resumed)
        return instance

    def clean_up(self, cause, instance, resumed):
        status = instance.get("DBInstanceStatus")
        left = dict(db_instance_identifier=self.name, status=status)
        origin = "resumed from an earlier run" if resumed else "created by this run"
        if not self.module.params["cleanup_on_failure"]:
            self.fail("the new instance {0} ({1}) is not a usable restore: {2}. It was left in place (cleanup_on_failure=false), "
                      "status {3}; delete it with aws rds delete-db-instance --db-instance-identifier {0} --skip-final-snapshot".format(
                          self.name, origin, cause, status), left=left, cleaned_up=False)
        try:
            deleted_status = rds.delete_instance(self.client, self.name)
        except RunbookError as error:
            self.fail("the new instance {0} ({1}) is not a usable restore: {2}. Deleting it failed too ({3}): it is left in place, "
                      "status {4}; delete it with aws rds delete-db-instance --db-instance-identifier {0} --skip-final-snapshot".format(
                          self.name, origin, cause, error.cause_text, status), left=left, cleaned_up=False)
        self.fail("the new instance {0} ({1}) is not a usable restore: {2}. It is being deleted without a final snapshot "
                  "(cleanup_on_failure), status {3}".format(self.name, origin, cause, deleted_status),
                  cleaned_up=True, deleted=dict(db_instance_identifier=self.name, status=deleted_status))


def restore(module, client):
    return Restore(module, client).run()


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=AWS_REQUIRED_LIBS)
    module.run(restore, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
