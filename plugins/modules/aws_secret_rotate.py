#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: aws_secret_rotate
short_description: Rotate an AWS Secrets Manager secret, verified, put back on failure, or roll it back
version_added: 0.1.0
description:
  - Rotates the secret O(secret_id) the way Secrets Manager's own rotation does, keeping the old version as
    C(AWSPREVIOUS), and verifies the result; or moves C(AWSCURRENT) back to an earlier version (O(state=rolled_back)).
  - With O(method=put_value) the new value is O(value), or generated (O(generate)); with O(json_key) only that key of a
    JSON object secret changes and the other keys stay. The new version is put with the stage C(AWSPENDING) (with a
    C(ClientRequestToken) derived from the secret, the old version and the new value, so a retry is the same request),
    C(AWSCURRENT) is moved to it from the old version (Secrets Manager then moves C(AWSPREVIOUS) to the old version),
    and C(AWSPENDING) is removed. Verification reads back the stages (C(AWSCURRENT) on the new version, C(AWSPREVIOUS)
    on the old one, no C(AWSPENDING)) and the checksum of the C(AWSCURRENT) value.
  - When a step after the put fails, or verification fails, the stages are put back (C(AWSCURRENT) on the old version,
    C(AWSPREVIOUS) where it was, no C(AWSPENDING)) and the failure says what was left (the new version stays in the
    secret without a staging label, and Secrets Manager deprecates it in time).
  - With O(method=lambda) it starts C(RotateSecret) with the secret's rotation Lambda (or O(rotation_lambda_arn)) and
    C(RotateImmediately), and waits until C(AWSCURRENT) is on a new version and C(AWSPENDING) is on no other version.
    On timeout it fails with the rotation's state; the Lambda's work cannot be undone from here.
  - O(state=rolled_back) moves C(AWSCURRENT) to O(version_id), or to the C(AWSPREVIOUS) version, marks the version it
    left with the staging label C(SRE_ROLLED_BACK), and verifies the stages and the value's checksum.
  - Idempotent. With O(value), the checksum of the current value (or of the O(json_key)'s value) is compared with the new
    one's, never the values, and the same value reports C(changed=false). A generated value cannot be compared, so with
    O(generate) or O(method=lambda) every run rotates, unless O(rotated_after) is given; then the secret is rotated only
    when its C(AWSCURRENT) version was created before that time, and a rerun reports C(changed=false).
    O(state=rolled_back) does nothing when C(AWSCURRENT) is already on the version asked for, or, without O(version_id),
    when the C(AWSPREVIOUS) version carries C(SRE_ROLLED_BACK) (the rollback already happened).
  - Secret values never appear in the result, the diff or an error, at any verbosity; they carry version ids, stages,
    creation dates and checksums (the SHA-256 of the value in hex, first 16 characters). Error messages from AWS are
    returned with any secret value masked and without their traceback.
options:
  secret_id:
    description:
      - Name or ARN of the secret. It must exist, and hold a string value (binary secrets are refused).
    type: str
    required: true
    aliases: [ name ]
  state:
    description:
      - V(rotated) puts a new value in place; V(rolled_back) moves C(AWSCURRENT) back to an earlier version.
    type: str
    choices: [ rotated, rolled_back ]
    default: rotated
  method:
    description:
      - How to rotate with O(state=rotated). V(put_value) puts O(value) or a generated value; V(lambda) runs the
        secret's rotation Lambda through C(RotateSecret).
    type: str
    choices: [ put_value, lambda ]
    default: put_value
  value:
    description:
      - The new value (O(method=put_value)); the whole secret string, or the value of O(json_key).
      - Exactly one of O(value) and O(generate) is required with O(method=put_value).
    type: str
    aliases: [ secret ]
  generate:
    description:
      - Generate the new value with Python's C(secrets) module (O(method=put_value)).
      - The value is never returned; read it from Secrets Manager (stage C(AWSCURRENT)).
    type: dict
    suboptions:
      length:
        description: Number of characters, 1 to 4096.
        type: int
        default: 32
      charset:
        description:
          - V(alnum) letters and digits; V(hex) 0-9a-f; V(urlsafe) letters, digits, C(-) and C(_);
            V(ascii_printable) letters, digits and ASCII punctuation (no space).
        type: str
        choices: [ alnum, hex, urlsafe, ascii_printable ]
        default: alnum
  json_key:
    description:
      - Change only this key of a secret whose string is a JSON object; the other keys and their values stay.
      - A secret that is not a JSON object, or has no such key, is refused (a misspelt key is not added).
      - The checksums returned are then of the key's value.
    type: str
  rotated_after:
    description:
      - With O(generate) or O(method=lambda), rotate only when the C(AWSCURRENT) version was created before this RFC 3339
        time (for example the start of the incident, V(2026-11-22T14:23:00Z)), so a rerun does not rotate again.
    type: str
  rotation_lambda_arn:
    description:
      - ARN of the rotation Lambda for O(method=lambda). Optional when the secret already has one configured;
        when given and different, C(RotateSecret) configures it on the secret.
    type: str
  version_id:
    description:
      - With O(state=rolled_back), the version to move C(AWSCURRENT) to. By default the C(AWSPREVIOUS) version.
    type: str
  wait_timeout:
    description:
      - Seconds to wait for a Lambda rotation to finish.
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two reads of the secret's stages while waiting for a Lambda rotation.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    details: Reads the secret (its stages and the checksum of its current value) and returns the planned actions; writes nothing.
  diff_mode:
    support: full
    details: The diff shows version ids, stages and checksums, never values.
  platform:
    platforms: all
notes:
  - The value options are C(no_log). A generated value exists only in Secrets Manager; a consumer reads it from there by
    O(secret_id) and the stage C(AWSCURRENT).
  - Needs C(secretsmanager:DescribeSecret), C(secretsmanager:GetSecretValue), C(secretsmanager:PutSecretValue),
    C(secretsmanager:UpdateSecretVersionStage), and C(secretsmanager:RotateSecret) with O(method=lambda)
    (plus C(lambda:InvokeFunction) permission for Secrets Manager on the Lambda).
  - Tested against moto's Secrets Manager server for O(method=put_value) and O(state=rolled_back). moto cannot run a
    rotation Lambda, so O(method=lambda) (starting C(RotateSecret), the wait, the timeout report) is tested only with
    botocore's Stubber in unit tests, against answers shaped like the API's, not against AWS.
  - A version left without a staging label (a rotation put back after a failure) is not deleted; Secrets Manager
    removes such versions itself when a secret has more than about 100 versions.
seealso:
  - module: community.aws.secretsmanager_secret
    description: Creates, updates and deletes secrets and configures their rotation.
  - plugin: amazon.aws.secretsmanager_secret
    plugin_type: lookup
    description: Reads a secret's value, for example with C(version_stage=AWSCURRENT).
  - name: Rotation by staging labels
    description: How Secrets Manager moves AWSPENDING, AWSCURRENT and AWSPREVIOUS.
    link: https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Replace the leaked API key in the payments secret, keeping the other keys
  sre.runbooks.aws_secret_rotate:
    region: eu-west-1
    secret_id: prod/payments/api
    json_key: api_key
    value: "{{ new_api_key }}"
  register: rotated

- name: Generate a new password once for this incident (a rerun after the given time does nothing)
  sre.runbooks.aws_secret_rotate:
    secret_id: prod/orders/db
    json_key: password
    generate:
      length: 40
      charset: urlsafe
    rotated_after: "2026-11-22T14:23:00Z"

- name: Rotate with the secret's rotation Lambda and wait for it
  sre.runbooks.aws_secret_rotate:
    secret_id: prod/orders/db
    method: lambda
    wait_timeout: 600

- name: Verification failed downstream - put the previous value back
  sre.runbooks.aws_secret_rotate:
    secret_id: prod/payments/api
    state: rolled_back
    version_id: "{{ rotated.version_before }}"
"""

RETURN = r"""
secret_arn:
  description: ARN of the secret.
  returned: success
  type: str
  sample: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/payments/api-AbCdEf
version_before:
  description: The version that carried C(AWSCURRENT) before the run.
  returned: success
  type: str
  sample: 5c6e0d1a-8a36-4f45-9a43-8e3c2b0c9e11
version_after:
  description:
    - The version that carries C(AWSCURRENT) after the run. In check mode, the version a rotation with O(value) would
      create (its id is derived from the request); V(null) when it cannot be known (O(generate), O(method=lambda)).
  returned: success
  type: str
  sample: 0b5c0e43-0d8e-5a44-9c3a-6f1f0a1d2e7b
checksum_before:
  description: Checksum (SHA-256 hex, first 16 characters) of the C(AWSCURRENT) value before, or of its O(json_key)'s value.
  returned: success
  type: str
  sample: 9f86d081884c7d65
checksum_after:
  description: The same checksum after the run; in check mode, of the value to put when it is known.
  returned: success
  type: str
  sample: 2c26b46b68ffc68f
stages:
  description: Version id to its staging labels after the run (in check mode, as they are). Versions without a label are left out.
  returned: success
  type: dict
  sample: {"0b5c0e43-0d8e-5a44-9c3a-6f1f0a1d2e7b": ["AWSCURRENT"], "5c6e0d1a-8a36-4f45-9a43-8e3c2b0c9e11": ["AWSPREVIOUS"]}
created:
  description: Creation dates (ISO 8601 UTC) of the versions before and after, as Secrets Manager reports them.
  returned: success
  type: dict
  sample: {"before": "2026-11-01T08:00:00Z", "after": "2026-11-22T14:31:07Z"}
rotated_at:
  description:
    - When this run moved C(AWSCURRENT) (ISO 8601 UTC); with O(method=lambda), when the run saw the rotation finished.
    - V(null) when it moved nothing or ran in check mode.
  returned: success
  type: str
  sample: "2026-11-22T14:31:08Z"
actions:
  description: What the module did, or in check mode would do; empty when nothing was to be done.
  returned: success
  type: list
  elements: str
  sample:
    - put the given value (checksum 2c26b46b68ffc68f) as a new version of prod/payments/api with stage AWSPENDING
    - move AWSCURRENT from version 5c6e0d1a-8a36-4f45-9a43-8e3c2b0c9e11 to the new version (AWSPREVIOUS moves to 5c6e0d1a-8a36-4f45-9a43-8e3c2b0c9e11)
    - remove AWSPENDING from the new version
    - verify the stages and the checksum of the AWSCURRENT value
"""

import datetime
import json

from ansible_collections.sre.runbooks.plugins.module_utils.aws import secretsmanager as sm
from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_REQUIRED_LIBS, aws_argument_spec, get_boto3_client
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule


def argument_spec():
    spec = aws_argument_spec()
    spec.update(
        secret_id=dict(type="str", required=True, aliases=["name"]),
        state=dict(type="str", choices=["rotated", "rolled_back"], default="rotated"),
        method=dict(type="str", choices=["put_value", "lambda"], default="put_value"),
        value=dict(type="str", no_log=True, aliases=["secret"]),
        generate=dict(type="dict", options=dict(
            length=dict(type="int", default=32),
            charset=dict(type="str", choices=sorted(sm.CHARSETS), default="alnum"),
        )),
        json_key=dict(type="str", no_log=False),
        rotated_after=dict(type="str"),
        rotation_lambda_arn=dict(type="str"),
        version_id=dict(type="str"),
        wait_timeout=dict(type="int", default=300),
        wait_sleep=dict(type="int", default=5),
    )
    return spec


def check_options(module):
    problems = sm.option_problems(module.params)
    if problems:
        action = "roll back" if module.params["state"] == "rolled_back" else "rotate"
        raise RunbookError(action, "secret {0}".format(module.params["secret_id"]), "; ".join(problems))


def connect(module):
    return get_boto3_client(module, "secretsmanager")


def now():
    return datetime.datetime.now(sm.UTC)


class Rotation:
    """One run of the module: what was read, the secret values to keep out of every message, the result."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.name = self.params["secret_id"]
        self.arn = None
        self.stages = {}
        self.put_done = False
        # Every secret value this run holds: masked in any AWS error text.
        self.secret_values = [self.params.get("value")]

    @property
    def action(self):
        return "roll back" if self.params["state"] == "rolled_back" else "rotate"

    def fail(self, cause, **details):
        raise RunbookError(self.action, "secret {0}".format(self.name), cause, **details)

    # -- reads

    def describe(self):
        description = sm.describe_secret(self.client, self.arn or self.name)
        if description is None:
            self.fail("it does not exist (no secret named {0} in this account and region)".format(self.name))
        return description

    def read_stages(self):
        return sm.stages_of(self.describe())

    def read_value(self, version_id=None, stage=None):
        """(secret string, answer without the value); refuses a binary secret."""
        answer = sm.read_version(self.client, self.arn, version_id=version_id, stage=stage)
        text = answer.get("SecretString")
        if text is None:
            self.fail("version {0} holds a binary value (SecretBinary); this module rotates string secrets".format(answer.get("VersionId")))
        self.secret_values.append(text)
        return text, dict(version_id=answer.get("VersionId"), created=answer.get("CreatedDate"))

    # -- result

    def result(self, changed, actions, before, after, stages, rotated):
        """before/after: dict(version_id, checksum, created)."""
        diff_before = dict(version_id=before["version_id"], checksum=before["checksum"], stages=self.stages)
        diff_after = dict(version_id=after["version_id"], checksum=after["checksum"], stages=stages)
        return self.module.result(
            changed=changed, actions=actions, before=diff_before, after=diff_after,
            secret_arn=self.arn,
            version_before=before["version_id"],
            version_after=after["version_id"],
            checksum_before=before["checksum"],
            checksum_after=after["checksum"],
            stages=stages,
            created=dict(before=sm.format_time(before.get("created")), after=sm.format_time(after.get("created"))),
            rotated_at=sm.format_time(rotated) if rotated else None,
        )

    # -- the run

    def run(self):
        description = self.describe()
        if description.get("DeletedDate"):
            self.fail("it is scheduled for deletion on {0}; restore it (aws secretsmanager restore-secret --secret-id {1}) first".format(
                sm.format_time(description["DeletedDate"]), self.name))
        self.arn = description["ARN"]
        self.stages = sm.stages_of(description)
        if sm.holder(self.stages, sm.CURRENT) is None:
            self.fail("no version carries AWSCURRENT (stages: {0})".format(self.stages or "none"))
        if self.params["state"] == "rolled_back":
            return self.roll_back()
        if self.params["method"] == "lambda":
            return self.rotate_with_lambda(description)
        return self.put_value()

    def put_value(self):
        params = self.params
        current_string, current = self.read_value(stage=sm.CURRENT)
        old = current["version_id"]
        generated = params.get("generate") is not None
        if generated:
            value = sm.generate_value(params["generate"]["length"], params["generate"]["charset"])
            self.secret_values.append(value)
        else:
            value = params["value"]
        json_key = params.get("json_key")
        if json_key is not None:
            try:
                old_key_value = json.loads(current_string).get(json_key)
                if isinstance(old_key_value, str):
                    self.secret_values.append(old_key_value)
            except (ValueError, AttributeError):
                pass
        try:
            secret_string, checksum_before, checksum_new = sm.new_secret_string(current_string, value, json_key)
        except ValueError as error:
            self.fail("{0}".format(error))
        self.secret_values.append(secret_string)
        token = sm.request_token(self.arn, old, secret_string)
        rotated_after = sm.parse_time(params["rotated_after"]) if params.get("rotated_after") else None
        plan = sm.plan_put_value(self.name, self.stages, dict(version_id=old, checksum=checksum_before, created=current["created"]),
                                 checksum_new, generated, rotated_after=rotated_after, token=token)
        before = dict(version_id=old, checksum=checksum_before, created=current["created"])
        if plan["decision"] == "refuse":
            self.fail(plan["reason"])
        if plan["decision"] == "current":
            return self.result(False, [], before, before, self.stages, None)
        if self.module.check_mode:
            planned = dict(version_id=None if generated else token, checksum=None if generated else checksum_new, created=None)
            return self.result(True, plan["actions"], before, planned, self.stages, None)

        previous = sm.holder(self.stages, sm.PREVIOUS)
        new = token
        self.put_done = False
        try:
            new = sm.put_pending(self.client, self.arn, token, secret_string, self.secret_values)
            self.put_done = True
            moved_at = now()
            stages = self.read_stages()
            if sm.holder(stages, sm.CURRENT) != new:
                sm.move_stage(self.client, self.arn, sm.CURRENT, to_version=new, from_version=old)
            stages = self.read_stages()
            if sm.PENDING in stages.get(new, []):
                sm.move_stage(self.client, self.arn, sm.PENDING, from_version=new)
            if sm.ROLLED_BACK in stages.get(new, []):
                # The value of an earlier rolled back version is current again: it is no longer a rolled back version.
                sm.move_stage(self.client, self.arn, sm.ROLLED_BACK, from_version=new)
            stages, after = self.verify(new, old, secret_string, json_key, checksum_new)
        except RunbookError as error:
            self.put_back(error, old, new, previous)
        return self.result(True, plan["actions"], before, after, stages, moved_at)

    def verify(self, new, old, secret_string, json_key, checksum_new):
        """Read back the stages and the AWSCURRENT value; raise RunbookError naming what does not hold."""
        stages = self.read_stages()
        problems = sm.stage_problems(stages, new, old)
        text, answer = self.read_value(stage=sm.CURRENT)
        if answer["version_id"] != new:
            problems.append("GetSecretValue AWSCURRENT answers version {0}, not {1}".format(answer["version_id"], new))
        elif sm.checksum(text) != sm.checksum(secret_string):
            problems.append("the AWSCURRENT value's checksum is {0}, not the {1} put".format(sm.checksum(text), sm.checksum(secret_string)))
        if problems:
            raise RunbookError("verify", "secret {0}".format(self.name), "; ".join(problems))
        return stages, dict(version_id=new, checksum=checksum_new, created=answer["created"])

    def put_back(self, error, old, new, previous):
        """Undo a rotation part way: AWSCURRENT back on old, AWSPREVIOUS back on previous, no AWSPENDING on new. Always raises."""
        cause = error.message
        steps = []
        try:
            stages = self.read_stages()
            if sm.holder(stages, sm.CURRENT) == new and new != old:
                sm.move_stage(self.client, self.arn, sm.CURRENT, to_version=old, from_version=new)
                steps.append("AWSCURRENT moved back to version {0}".format(old))
                stages = self.read_stages()
            if sm.holder(stages, sm.PREVIOUS) != previous:
                # Moving AWSCURRENT back put AWSPREVIOUS on the new version.
                holder = sm.holder(stages, sm.PREVIOUS)
                if previous is not None:
                    sm.move_stage(self.client, self.arn, sm.PREVIOUS, to_version=previous, from_version=holder)
                    steps.append("AWSPREVIOUS moved back to version {0}".format(previous))
                else:
                    sm.move_stage(self.client, self.arn, sm.PREVIOUS, from_version=holder)
                    steps.append("AWSPREVIOUS removed from version {0}".format(holder))
                stages = self.read_stages()
            if sm.holder(stages, sm.PENDING) == new:
                sm.move_stage(self.client, self.arn, sm.PENDING, from_version=new)
                steps.append("AWSPENDING removed from version {0}".format(new))
                stages = self.read_stages()
        except RunbookError as undo_error:
            self.fail("{0}. Putting the stages back failed too ({1}) after: {2}. Stages now: see error.details.stages; put AWSCURRENT "
                      "back with aws secretsmanager update-secret-version-stage --secret-id {3} --version-stage AWSCURRENT "
                      "--move-to-version-id {4} --remove-from-version-id <the version carrying it>".format(
                          cause, undo_error.cause_text, "; ".join(steps) or "nothing", self.name, old),
                      put_back=False, stages=self.stages_or_none(), version_before=old, version_new=new)
        problems = sm.stage_problems(stages, old, previous)
        if problems:
            self.fail("{0}. The stages were put back only in part ({1}): {2}".format(cause, "; ".join(steps) or "nothing done", "; ".join(problems)),
                      put_back=False, stages=stages, version_before=old, version_new=new)
        if self.put_done:
            left = "version {0} is left in the secret without a staging label".format(new)
        else:
            left = "the put of version {0} failed, so no new version should exist".format(new)
        self.fail("{0}. Put back: {1}; AWSCURRENT is on version {2} as before; {3}".format(
            cause, "; ".join(steps) or "nothing had moved", old, left), put_back=True, stages=stages, version_before=old, version_new=new)

    def stages_or_none(self):
        try:
            return self.read_stages()
        except RunbookError:
            return None

    def rotate_with_lambda(self, description):
        params = self.params
        current_string, current = self.read_value(stage=sm.CURRENT)
        old = current["version_id"]
        before = dict(version_id=old, checksum=sm.checksum(current_string), created=current["created"])
        rotated_after = sm.parse_time(params["rotated_after"]) if params.get("rotated_after") else None
        plan = sm.plan_lambda(self.name, self.stages, description, current, rotated_after=rotated_after,
                              lambda_arn=params.get("rotation_lambda_arn"), timeout=params["wait_timeout"])
        if plan["decision"] == "refuse":
            self.fail(plan["reason"])
        if plan["decision"] == "current":
            return self.result(False, [], before, before, self.stages, None)
        if self.module.check_mode:
            return self.result(True, plan["actions"], before, dict(version_id=None, checksum=None, created=None), self.stages, None)
        pending = sm.start_rotation(self.client, self.arn, params.get("rotation_lambda_arn"))
        outcome, stages = sm.wait_for_rotation(self.read_stages, old, params["wait_timeout"], params["wait_sleep"])
        if outcome == "timeout":
            state = sm.rotation_state(stages, old)
            described = self.describe()
            self.fail("the rotation did not finish within {0} s: AWSCURRENT is on version {1}, AWSPENDING on {2} (rotation {3}; "
                      "last rotated {4}). Nothing was put back: the Lambda owns the rotation and Secrets Manager retries it. Read the "
                      "Lambda's logs; run the task again once AWSPENDING is gone".format(
                          params["wait_timeout"], sm.holder(stages, sm.CURRENT), sm.holder(stages, sm.PENDING) or "no version",
                          state, sm.format_time(described.get("LastRotatedDate")) or "never"),
                      stages=stages, version_before=old, version_pending=pending, rotation=state)
        new = sm.holder(stages, sm.CURRENT)
        problems = sm.stage_problems(stages, new, old, pending_allowed_on_current=True)
        text, answer = self.read_value(stage=sm.CURRENT)
        if answer["version_id"] != new:
            problems.append("GetSecretValue AWSCURRENT answers version {0}, not {1}".format(answer["version_id"], new))
        if problems:
            self.fail("the rotation finished but {0}".format("; ".join(problems)), stages=stages, version_before=old)
        after = dict(version_id=new, checksum=sm.checksum(text), created=answer["created"])
        if after["checksum"] == before["checksum"]:
            self.module.warn("The rotation Lambda made version {0} with the same value as version {1} (checksum {2})".format(new, old, after["checksum"]))
        return self.result(True, plan["actions"], before, after, stages, now())

    def roll_back(self):
        current_id = sm.holder(self.stages, sm.CURRENT)
        plan = sm.plan_rollback(self.name, self.stages, self.params.get("version_id"))
        if plan["decision"] == "refuse":
            self.fail(plan["reason"])
        current_string, current = self.read_value(version_id=current_id)
        before = dict(version_id=current_id, checksum=sm.checksum(current_string), created=current["created"])
        if plan["decision"] == "current":
            return self.result(False, [], before, before, self.stages, None)
        target = plan["target"]
        target_string, target_answer = self.read_value(version_id=target)
        after = dict(version_id=target, checksum=sm.checksum(target_string), created=target_answer["created"])
        if self.module.check_mode:
            return self.result(True, plan["actions"], before, after, self.stages, None)
        sm.move_stage(self.client, self.arn, sm.CURRENT, to_version=target, from_version=current_id)
        moved_at = now()
        marked = sm.holder(self.stages, sm.ROLLED_BACK)
        if marked != current_id:
            sm.move_stage(self.client, self.arn, sm.ROLLED_BACK, to_version=current_id, from_version=marked)
        stages = self.read_stages()
        problems = sm.stage_problems(stages, target, current_id)
        text, answer = self.read_value(stage=sm.CURRENT)
        if answer["version_id"] != target:
            problems.append("GetSecretValue AWSCURRENT answers version {0}, not {1}".format(answer["version_id"], target))
        elif sm.checksum(text) != after["checksum"]:
            problems.append("the AWSCURRENT value's checksum is {0}, not version {1}'s {2}".format(sm.checksum(text), target, after["checksum"]))
        if problems:
            self.fail("AWSCURRENT was moved from version {0} to {1} but verification failed: {2}".format(current_id, target, "; ".join(problems)),
                      stages=stages, version_before=current_id)
        return self.result(True, plan["actions"], before, after, stages, moved_at)


def rotate(module, client):
    return Rotation(module, client).run()


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=AWS_REQUIRED_LIBS)
    module.run(rotate, connect=connect, precheck=check_options)


if __name__ == "__main__":
    main()
