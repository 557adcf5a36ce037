# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Secrets Manager rotation decisions, on dicts shaped like the Secrets Manager API's answers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import re
import string

import pytest

from botocore.exceptions import ClientError, ParamValidationError

from ansible_collections.sre.runbooks.plugins.module_utils.aws import secretsmanager as sm
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

UTC = datetime.timezone.utc
OLD, NEW, OLDER = "v-old", "v-new", "v-older"
CREATED = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-AbCdEf"


def params(**overrides):
    values = dict(secret_id="prod/api", state="rotated", method="put_value", value=None, generate=None, json_key=None,
                  rotated_after=None, rotation_lambda_arn=None, version_id=None, wait_timeout=300, wait_sleep=5)
    values.update(overrides)
    return values


def current(checksum="aaaa", created=CREATED):
    return dict(version_id=OLD, checksum=checksum, created=created)


# -- values ----------------------------------------------------------------------------------


def test_checksum_is_sha256_hex_truncated_to_16():
    assert sm.checksum("hunter2") == hashlib.sha256(b"hunter2").hexdigest()[:16]
    assert len(sm.checksum("")) == 16 and sm.checksum(None) is None


@pytest.mark.parametrize("charset, allowed", [
    ("alnum", string.ascii_letters + string.digits), ("hex", "0123456789abcdef"),
    ("urlsafe", string.ascii_letters + string.digits + "-_"), ("ascii_printable", string.ascii_letters + string.digits + string.punctuation),
])
def test_generated_values_have_the_length_and_charset_asked(charset, allowed):
    value = sm.generate_value(64, charset)
    assert len(value) == 64 and set(value) <= set(allowed)
    assert sm.generate_value(64, charset) != value


def test_the_request_token_is_deterministic_and_shaped_as_aws_wants():
    token = sm.request_token(ARN, OLD, "new")
    assert token == sm.request_token(ARN, OLD, "new")
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", token)
    assert token != sm.request_token(ARN, NEW, "new") and token != sm.request_token(ARN, OLD, "other")
    assert "new" not in token


def test_new_secret_string_whole_value():
    text, before, after = sm.new_secret_string("old", "new")
    assert text == "new" and before == sm.checksum("old") and after == sm.checksum("new")


def test_new_secret_string_changes_only_the_json_key_and_keeps_the_order():
    text, before, after = sm.new_secret_string(json.dumps({"user": "app", "password": "old", "port": 5432}), "new", "password")
    assert json.loads(text) == {"user": "app", "password": "new", "port": 5432}
    assert list(json.loads(text)) == ["user", "password", "port"]
    assert before == sm.checksum("old") and after == sm.checksum("new")


def test_a_json_key_holding_a_non_string_is_never_the_same_value():
    dummy, before, after = sm.new_secret_string(json.dumps({"pin": 1234}), "1234", "pin")
    assert before != after


@pytest.mark.parametrize("document, reason", [
    ("not json at all: s3cr3t", "it is not JSON"),
    (json.dumps(["s3cr3t"]), "it is a JSON list"),
    (json.dumps({"user": "s3cr3t"}), "json_key password is not in the secret (its keys: user)"),
])
def test_json_key_refusals_never_quote_the_secret(document, reason):
    with pytest.raises(ValueError) as error:
        sm.new_secret_string(document, "new", "password")
    assert reason in str(error.value)
    assert "s3cr3t" not in str(error.value)


# -- options ---------------------------------------------------------------------------------


def test_usable_options_have_no_problems():
    assert sm.option_problems(params(value="x")) == []
    assert sm.option_problems(params(generate=dict(length=32, charset="alnum"), rotated_after="2026-11-22T14:23:00Z", json_key="k")) == []
    assert sm.option_problems(params(method="lambda", rotated_after="2026-11-22T14:23:00+01:00")) == []
    assert sm.option_problems(params(state="rolled_back", version_id=OLD)) == []


@pytest.mark.parametrize("overrides, problem", [
    (dict(), "give exactly one of value and generate"),
    (dict(value="x", generate=dict(length=8, charset="hex")), "give exactly one of value and generate"),
    (dict(generate=dict(length=0, charset="hex")), "generate.length must be 1 to 4096"),
    (dict(generate=dict(length=8, charset="emoji")), "generate.charset must be one of"),
    (dict(value="x", rotated_after="2026-11-22T14:23:00Z"), "with value the module compares checksums"),
    (dict(generate=dict(length=8, charset="hex"), rotated_after="2026-11-22"), "rotated_after must be an RFC 3339"),
    (dict(generate=dict(length=8, charset="hex"), rotated_after="2026-11-22T14:23:00"), "rotated_after must be an RFC 3339"),
    (dict(value="x", version_id=OLD), "use it with state=rolled_back"),
    (dict(value="x", rotation_lambda_arn="arn:aws:lambda:x"), "rotation_lambda_arn is for method=lambda"),
    (dict(method="lambda", value="x", json_key="k"), "method=lambda lets the rotation Lambda make the new value and takes none of value, json_key"),
    (dict(state="rolled_back", value="x"), "state=rolled_back moves AWSCURRENT back to an existing version and takes none of value"),
    (dict(value="x", json_key=""), "json_key must not be empty"),
    (dict(method="lambda", wait_sleep=0), "wait_sleep must be 1 or more seconds"),
])
def test_bad_options_are_refused(overrides, problem):
    problems = sm.option_problems(params(**overrides))
    assert any(problem in text for text in problems), problems


def test_problems_never_quote_the_value():
    assert "s3cr3t" not in " ".join(sm.option_problems(params(value="s3cr3t", generate=dict(length=0, charset="x"), version_id="v"))).lower()


def test_parse_time_needs_a_zone():
    assert sm.parse_time("2026-11-22T15:23:00+01:00") == datetime.datetime(2026, 11, 22, 14, 23, tzinfo=UTC)
    assert sm.format_time(sm.parse_time("2026-11-22T14:23:00z")) == "2026-11-22T14:23:00Z"
    with pytest.raises(ValueError):
        sm.parse_time("2026-11-22T14:23:00")


# -- stages ----------------------------------------------------------------------------------


def test_stages_of_leaves_out_versions_without_labels():
    found = sm.stages_of({"VersionIdsToStages": {OLD: ["AWSPREVIOUS"], NEW: ["AWSPENDING", "AWSCURRENT"], "v-gone": []}})
    assert found == {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AWSPENDING"]}
    assert sm.holder(found, sm.CURRENT) == NEW and sm.holder(found, "X") is None
    # AWSPENDING on the AWSCURRENT version is a finished rotation, not one in progress.
    assert sm.pending_elsewhere(found) is None
    assert sm.pending_elsewhere({OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}) == NEW


# -- put_value plan --------------------------------------------------------------------------


def test_the_same_value_is_nothing_to_do():
    plan = sm.plan_put_value("prod/api", {OLD: ["AWSCURRENT"]}, current("c1"), "c1", generated=False)
    assert plan["decision"] == "current" and plan["actions"] == []


def test_a_new_value_is_put_pending_then_made_current():
    plan = sm.plan_put_value("prod/api", {OLD: ["AWSCURRENT"], OLDER: ["AWSPREVIOUS"]}, current("c1"), "c2", generated=False)
    assert plan["decision"] == "rotate"
    assert plan["actions"] == [
        "put the given value (checksum c2) as a new version of prod/api with stage AWSPENDING",
        "move AWSCURRENT from version v-old to the new version (AWSPREVIOUS moves to v-old)",
        "remove AWSPENDING from the new version",
        "verify the stages and the checksum of the AWSCURRENT value",
    ]


def test_a_generated_value_rotates_every_run_unless_rotated_after_says_it_is_done():
    stages = {OLD: ["AWSCURRENT"]}
    assert sm.plan_put_value("s", stages, current(), None, generated=True)["decision"] == "rotate"
    assert sm.plan_put_value("s", stages, current(), None, generated=True, rotated_after=CREATED + datetime.timedelta(seconds=1))["decision"] == "rotate"
    plan = sm.plan_put_value("s", stages, current(), None, generated=True, rotated_after=CREATED)
    assert plan["decision"] == "current"
    assert "created at 2026-11-01T08:00:00Z, not before rotated_after 2026-11-01T08:00:00Z" in plan["reason"]


def test_a_rotation_in_progress_is_refused_but_our_own_unfinished_put_is_resumed():
    stages = {OLD: ["AWSCURRENT"], "v-lambda": ["AWSPENDING"]}
    plan = sm.plan_put_value("prod/api", stages, current("c1"), "c2", generated=False, token="v-ours")
    assert plan["decision"] == "refuse"
    assert "version v-lambda of prod/api carries AWSPENDING" in plan["reason"]
    assert "--version-stage AWSPENDING --remove-from-version-id v-lambda" in plan["reason"]
    resumed = sm.plan_put_value("prod/api", {OLD: ["AWSCURRENT"], "v-ours": ["AWSPENDING"]}, current("c1"), "c2", generated=False, token="v-ours")
    assert resumed["decision"] == "rotate"


# -- lambda plan -----------------------------------------------------------------------------


def test_lambda_needs_a_function():
    plan = sm.plan_lambda("prod/api", {OLD: ["AWSCURRENT"]}, {}, current())
    assert plan["decision"] == "refuse" and "has no rotation Lambda configured: give rotation_lambda_arn" in plan["reason"]
    configured = sm.plan_lambda("prod/api", {OLD: ["AWSCURRENT"]}, {"RotationLambdaARN": "arn:fn"}, current(), timeout=60)
    assert configured["decision"] == "rotate"
    assert configured["actions"][0] == "start RotateSecret on prod/api with the Lambda arn:fn, RotateImmediately"
    assert configured["actions"][1] == "wait up to 60 s for AWSCURRENT to move from version v-old to the new version and AWSPENDING to clear"
    other = sm.plan_lambda("prod/api", {OLD: ["AWSCURRENT"]}, {"RotationLambdaARN": "arn:fn"}, current(), lambda_arn="arn:other")
    assert "(configuring it as the secret's rotation Lambda)" in other["actions"][0]


def test_lambda_refuses_a_rotation_in_progress_and_honours_rotated_after():
    plan = sm.plan_lambda("prod/api", {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}, {"RotationLambdaARN": "arn:fn"}, current())
    assert plan["decision"] == "refuse" and "version v-new of prod/api carries AWSPENDING" in plan["reason"]
    done = sm.plan_lambda("prod/api", {OLD: ["AWSCURRENT"]}, {"RotationLambdaARN": "arn:fn"}, current(), rotated_after=CREATED)
    assert done["decision"] == "current"


def test_rotation_state_and_wait():
    assert sm.rotation_state({OLD: ["AWSCURRENT"]}, OLD) == "not_started"
    assert sm.rotation_state({OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}, OLD) == "pending"
    assert sm.rotation_state({OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AWSPENDING"]}, OLD) == "done"
    assert sm.rotation_state({OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT"]}, OLD) == "done"

    answers = [{OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}] * 2 + [{OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT"]}]
    clock = dict(now=0.0)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock["now"] += seconds

    outcome, stages = sm.wait_for_rotation(lambda: answers.pop(0), OLD, 60, 5, clock=lambda: clock["now"], sleep=sleep)
    assert outcome == "done" and stages[NEW] == ["AWSCURRENT"] and slept == [5, 5]
    outcome, stages = sm.wait_for_rotation(lambda: {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}, OLD, 12, 5,
                                           clock=lambda: clock["now"], sleep=sleep)
    assert outcome == "timeout" and slept[2:] == [5, 5, 2]


# -- rollback plan ---------------------------------------------------------------------------


def test_rollback_goes_to_awsprevious_and_marks_the_version_it_leaves():
    plan = sm.plan_rollback("prod/api", {NEW: ["AWSCURRENT"], OLD: ["AWSPREVIOUS"]})
    assert plan["decision"] == "rollback" and plan["target"] == OLD
    assert plan["actions"][0] == "move AWSCURRENT from version v-new back to version v-old (AWSPREVIOUS moves to v-new)"
    assert sm.ROLLED_BACK in plan["actions"][1]


def test_a_second_rollback_is_a_no_op():
    after = {OLD: ["AWSCURRENT"], NEW: ["AWSPREVIOUS", sm.ROLLED_BACK]}
    assert sm.plan_rollback("prod/api", after)["decision"] == "current"
    assert sm.plan_rollback("prod/api", after, target=OLD)["decision"] == "current"
    # A rotation after the rollback: AWSPREVIOUS is the rolled back-to version again, so rollback acts.
    rotated = {"v-3": ["AWSCURRENT"], OLD: ["AWSPREVIOUS"], NEW: [sm.ROLLED_BACK]}
    assert sm.plan_rollback("prod/api", rotated)["target"] == OLD


def test_rollback_refusals():
    assert "no AWSPREVIOUS version to roll back to: give version_id" in sm.plan_rollback("prod/api", {OLD: ["AWSCURRENT"]})["reason"]
    missing = sm.plan_rollback("prod/api", {OLD: ["AWSCURRENT"]}, target="v-x")
    assert missing["decision"] == "refuse" and "has no version v-x with a staging label (versions: v-old)" in missing["reason"]
    pending = sm.plan_rollback("prod/api", {NEW: ["AWSCURRENT"], OLD: ["AWSPREVIOUS"], "v-p": ["AWSPENDING"]})
    assert pending["decision"] == "refuse" and "version v-p of prod/api carries AWSPENDING" in pending["reason"]


def test_stage_problems():
    assert sm.stage_problems({NEW: ["AWSCURRENT"], OLD: ["AWSPREVIOUS"]}, NEW, OLD) == []
    assert sm.stage_problems({NEW: ["AWSCURRENT", "AWSPENDING"], OLD: ["AWSPREVIOUS"]}, NEW, OLD) == ["AWSPENDING is still on version v-new"]
    assert sm.stage_problems({NEW: ["AWSCURRENT", "AWSPENDING"], OLD: ["AWSPREVIOUS"]}, NEW, OLD, pending_allowed_on_current=True) == []
    assert sm.stage_problems({OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}, NEW, OLD) == [
        "AWSCURRENT is on version v-old, not v-new", "AWSPREVIOUS is on version None, not v-old", "AWSPENDING is still on version v-new"]


# -- errors ----------------------------------------------------------------------------------


def test_aws_errors_are_scrubbed_and_carry_no_traceback():
    echo = ClientError({"Error": {"Code": "ValidationException", "Message": 'value "s3cr3t\\"q" and s3cr3t rejected'}}, "PutSecretValue")
    with pytest.raises(RunbookError) as raised:
        with sm.scrubbed_errors("put a new version of", "secret prod/api", values=['s3cr3t"q', "s3cr3t", None]):
            raise echo
    error = raised.value
    assert "s3cr3t" not in str(error) and "s3cr3t" not in repr(error.to_dict())
    assert error.traceback() is None and error.__cause__ is None and error.__suppress_context__
    assert error.details == {"code": "ValidationException"}
    assert str(error).startswith("Failed to put a new version of secret prod/api: An error occurred (ValidationException)")


def test_parameter_validation_errors_are_scrubbed_too():
    with pytest.raises(RunbookError) as raised:
        with sm.scrubbed_errors("put", "secret x", values=["s3cr3t"]):
            raise ParamValidationError(report="Invalid type for parameter SecretString, value: s3cr3t, type: <class 'str'>")
    assert "s3cr3t" not in str(raised.value) and sm.MASK in str(raised.value)
