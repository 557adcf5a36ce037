# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""aws_secret_rotate end to end for what the moto server cannot play.

method=lambda runs against botocore's Stubber: moto cannot run a rotation Lambda, so the
answers here are shaped like the Secrets Manager API's (and validated against its model by
the Stubber), not recorded from AWS. A rotation failing part way and AWS errors echoing the
value run against moto in this process, behind a client that fails the chosen call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

import boto3
import pytest

from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from ansible_collections.sre.runbooks.plugins.module_utils.aws import secretsmanager as sm
from ansible_collections.sre.runbooks.plugins.modules import aws_secret_rotate

UTC = datetime.timezone.utc
NAME = "prod/orders/db"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders/db-AbCdEf"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:rotate-orders-db"
OLD = "0b5c0e43-0d8e-4a44-9c3a-6f1f0a1d2e7b"
NEW = "5c6e0d1a-8a36-4f45-9a43-8e3c2b0c9e11"
CREATED = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
OLD_VALUE = "old-S3cret-value-d41d8cd98f"
NEW_VALUE = "new-S3cret-value-9e107d9d37"


class FakeTime:
    """Stands in for the time module inside module_utils/aws/secretsmanager.py: sleeping moves the clock."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(sm, "time", clock)
    return clock


@pytest.fixture
def rotate(run_module, monkeypatch, fake_time):  # pylint: disable=unused-argument
    """rotate(client, **args) runs the module's main() with client as its Secrets Manager client."""

    def _rotate(client, **args):
        monkeypatch.setattr(aws_secret_rotate, "connect", lambda module: client)
        module_args = dict(region="us-east-1", secret_id=NAME)
        module_args.update(args)
        return run_module(aws_secret_rotate.main, module_args)

    return _rotate


# -- method=lambda, with botocore's Stubber ----------------------------------------------------


def stubbed():
    client = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    return client, Stubber(client)


def described(stages, lambda_arn=LAMBDA, **extra):
    answer = dict(ARN=ARN, Name=NAME, VersionIdsToStages=stages, RotationEnabled=True, **extra)
    if lambda_arn:
        answer["RotationLambdaARN"] = lambda_arn
    return answer


def value_answer(version, value, created=CREATED, stages=("AWSCURRENT",)):
    return dict(ARN=ARN, Name=NAME, VersionId=version, SecretString=value, VersionStages=list(stages), CreatedDate=created)


def expect_read(stub, first_id=NAME, lambda_arn=LAMBDA):
    stub.add_response("describe_secret", described({OLD: ["AWSCURRENT"]}, lambda_arn), {"SecretId": first_id})
    stub.add_response("get_secret_value", value_answer(OLD, OLD_VALUE), {"SecretId": ARN, "VersionStage": "AWSCURRENT"})


def test_lambda_rotation_starts_rotate_secret_waits_and_verifies(rotate, fake_time):
    client, stub = stubbed()
    expect_read(stub)
    stub.add_response("rotate_secret", dict(ARN=ARN, Name=NAME, VersionId=NEW), {"SecretId": ARN, "RotateImmediately": True})
    for stages in ({OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}, {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]},
                   {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT"]}):
        stub.add_response("describe_secret", described(stages), {"SecretId": ARN})
    stub.add_response("get_secret_value", value_answer(NEW, NEW_VALUE, created=CREATED + datetime.timedelta(days=21)),
                      {"SecretId": ARN, "VersionStage": "AWSCURRENT"})
    with stub:
        outcome = rotate(client, method="lambda", wait_sleep=10)
        stub.assert_no_pending_responses()
    assert outcome.rc == 0, outcome.result
    result = outcome.result
    assert result["changed"] is True
    assert (result["version_before"], result["version_after"]) == (OLD, NEW)
    assert result["stages"] == {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT"]}
    assert (result["checksum_before"], result["checksum_after"]) == (sm.checksum(OLD_VALUE), sm.checksum(NEW_VALUE))
    assert result["created"] == {"before": "2026-11-01T08:00:00Z", "after": "2026-11-22T08:00:00Z"}
    assert result["actions"][0] == "start RotateSecret on {0} with the Lambda {1}, RotateImmediately".format(NAME, LAMBDA)
    assert fake_time.slept == [10, 10]
    assert OLD_VALUE not in json.dumps(result) and NEW_VALUE not in json.dumps(result)


def test_lambda_rotation_configures_the_lambda_given(rotate):
    client, stub = stubbed()
    expect_read(stub, lambda_arn=None)
    stub.add_response("rotate_secret", dict(ARN=ARN, Name=NAME, VersionId=NEW),
                      {"SecretId": ARN, "RotateImmediately": True, "RotationLambdaARN": LAMBDA})
    stub.add_response("describe_secret", described({OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AWSPENDING"]}), {"SecretId": ARN})
    stub.add_response("get_secret_value", value_answer(NEW, NEW_VALUE), {"SecretId": ARN, "VersionStage": "AWSCURRENT"})
    with stub:
        outcome = rotate(client, method="lambda", rotation_lambda_arn=LAMBDA)
        stub.assert_no_pending_responses()
    assert outcome.rc == 0, outcome.result
    assert "(configuring it as the secret's rotation Lambda)" in outcome.result["actions"][0]


def test_lambda_rotation_timeout_fails_with_the_rotation_state(rotate, fake_time):
    client, stub = stubbed()
    expect_read(stub)
    stub.add_response("rotate_secret", dict(ARN=ARN, Name=NAME, VersionId=NEW), {"SecretId": ARN, "RotateImmediately": True})
    pending = {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}
    for dummy in range(4):  # at 0, 10, 20 and 30 s
        stub.add_response("describe_secret", described(pending), {"SecretId": ARN})
    stub.add_response("describe_secret", described(pending, LastRotatedDate=CREATED), {"SecretId": ARN})
    with stub:
        outcome = rotate(client, method="lambda", wait_timeout=30, wait_sleep=10)
        stub.assert_no_pending_responses()
    assert outcome.rc == 1
    message = outcome.result["msg"]
    assert message.startswith("Failed to rotate secret {0}: the rotation did not finish within 30 s: ".format(NAME))
    assert "AWSCURRENT is on version {0}, AWSPENDING on {1} (rotation pending; last rotated 2026-11-01T08:00:00Z)".format(OLD, NEW) in message
    assert "Nothing was put back" in message
    details = outcome.result["error"]["details"]
    assert details["stages"] == pending and details["version_pending"] == NEW and details["rotation"] == "pending"
    assert fake_time.slept == [10, 10, 10]


def test_lambda_check_mode_plans_without_rotate_secret(rotate):
    client, stub = stubbed()
    expect_read(stub)
    with stub:
        outcome = rotate(client, method="lambda", _ansible_check_mode=True)
        stub.assert_no_pending_responses()
    assert outcome.result["changed"] is True and outcome.result["version_after"] is None
    assert len(outcome.result["actions"]) == 3


def test_lambda_rotation_already_done_after_rotated_after_is_a_no_op(rotate):
    client, stub = stubbed()
    expect_read(stub)
    with stub:
        outcome = rotate(client, method="lambda", rotated_after="2026-10-31T00:00:00Z")
        stub.assert_no_pending_responses()
    assert outcome.result["changed"] is False and outcome.result["version_after"] == OLD


def test_lambda_refuses_a_rotation_in_progress(rotate):
    client, stub = stubbed()
    stub.add_response("describe_secret", described({OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}), {"SecretId": NAME})
    stub.add_response("get_secret_value", value_answer(OLD, OLD_VALUE), {"SecretId": ARN, "VersionStage": "AWSCURRENT"})
    with stub:
        outcome = rotate(client, method="lambda")
    assert outcome.rc == 1 and "version {0} of {1} carries AWSPENDING".format(NEW, NAME) in outcome.result["msg"]


def test_a_missing_secret_is_refused(rotate):
    client, stub = stubbed()
    stub.add_client_error("describe_secret", "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    with stub:
        outcome = rotate(client, value=NEW_VALUE)
    assert outcome.rc == 1
    assert outcome.result["msg"] == "Failed to rotate secret {0}: it does not exist (no secret named {0} in this account and region)".format(NAME)


def test_bad_options_are_refused_before_any_client_exists(run_module, monkeypatch):
    def no_client(module):
        raise AssertionError("the module connected although its options were refused")

    monkeypatch.setattr(aws_secret_rotate, "connect", no_client)
    outcome = run_module(aws_secret_rotate.main, dict(secret_id=NAME, value=NEW_VALUE, generate=dict(length=8)))
    assert outcome.rc == 1
    assert outcome.result["msg"] == "Failed to rotate secret {0}: method=put_value needs the new value: give exactly one of value and generate".format(NAME)


# -- put_value failing part way, against moto in this process ----------------------------------


class FailingClient:
    """A Secrets Manager client that fails the n-th call of one operation, answering as AWS would."""

    def __init__(self, client, operation, nth=1, message="Internal failure"):
        self._client = client
        self._operation = operation
        self._nth = nth
        self._message = message
        self.calls = []

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("close", "get_paginator"):
            return attribute

        def call(**kwargs):
            self.calls.append(name)
            if name == self._operation and self.calls.count(name) == self._nth:
                raise ClientError({"Error": {"Code": "InternalServiceError", "Message": self._message}}, name)
            return attribute(**kwargs)

        return call


@pytest.fixture
def moto_secret():
    """A moto secret with three versions: AWSCURRENT on current, AWSPREVIOUS on previous."""
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name=NAME, SecretString="older-value")
        client.put_secret_value(SecretId=NAME, SecretString=OLD_VALUE)
        yield client


def stages_of(client):
    return sm.stages_of(client.describe_secret(SecretId=NAME))


@pytest.mark.parametrize("operation, nth", [
    ("update_secret_version_stage", 1),  # moving AWSCURRENT fails
    ("update_secret_version_stage", 2),  # removing AWSPENDING fails, AWSCURRENT already moved
    ("get_secret_value", 2),             # verification cannot read the value back
])
def test_a_rotation_failing_part_way_is_put_back(rotate, moto_secret, operation, nth):
    before = stages_of(moto_secret)
    current = [v for v, s in before.items() if "AWSCURRENT" in s][0]
    client = FailingClient(moto_secret, operation, nth)
    outcome = rotate(client, value=NEW_VALUE)
    assert outcome.rc == 1
    message = outcome.result["msg"]
    assert "Put back: " in message and "AWSCURRENT is on version {0} as before".format(current) in message
    assert "is left in the secret without a staging label" in message
    assert outcome.result["error"]["details"]["put_back"] is True
    assert stages_of(moto_secret) == before
    assert moto_secret.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")["SecretString"] == OLD_VALUE
    assert NEW_VALUE not in json.dumps(outcome.result) and OLD_VALUE not in json.dumps(outcome.result)

    # A retry of the same rotation reuses the version id (ClientRequestToken) and succeeds.
    retry = rotate(moto_secret, value=NEW_VALUE)
    assert retry.rc == 0, retry.result
    assert retry.result["version_after"] == outcome.result["error"]["details"]["version_new"]
    assert moto_secret.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")["SecretString"] == NEW_VALUE


def test_an_aws_error_echoing_the_value_is_scrubbed(rotate, moto_secret):
    client = FailingClient(moto_secret, "put_secret_value", message="SecretString {0} rejected, previous {1}".format(NEW_VALUE, OLD_VALUE))
    outcome = rotate(client, value=NEW_VALUE)
    assert outcome.rc == 1
    text = json.dumps(outcome.result)
    assert "InternalServiceError" in text and sm.MASK in outcome.result["msg"]
    assert NEW_VALUE not in text and OLD_VALUE not in text
    assert "exception" not in outcome.result or NEW_VALUE not in outcome.result["exception"]


def test_generated_json_key_rotation_and_rollback_in_process(rotate, moto_secret):
    moto_secret.put_secret_value(SecretId=NAME, SecretString=json.dumps({"user": "orders", "password": OLD_VALUE}))
    outcome = rotate(moto_secret, json_key="password", generate=dict(length=24, charset="urlsafe"))
    assert outcome.rc == 0, outcome.result
    document = json.loads(moto_secret.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")["SecretString"])
    assert document["user"] == "orders" and len(document["password"]) == 24
    assert outcome.result["checksum_after"] == sm.checksum(document["password"])
    assert document["password"] not in json.dumps(outcome.result)

    back = rotate(moto_secret, state="rolled_back")
    assert back.rc == 0 and back.result["changed"] is True
    assert back.result["stages"][outcome.result["version_after"]] == ["AWSPREVIOUS", sm.ROLLED_BACK]
    assert rotate(moto_secret, state="rolled_back").result["changed"] is False
