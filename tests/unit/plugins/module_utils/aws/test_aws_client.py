# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The AWS layer reuses amazon.aws's options; get_boto3_client() is checked against a local moto server."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec as amazon_aws_argument_spec

from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import (
    AWS_REQUIRED_LIBS,
    aws_argument_spec,
    aws_errors,
    get_boto3_client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule

moto_server = pytest.importorskip("moto.server")

AWS_ENV = [
    "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_URL", "AWS_CA_BUNDLE", "ANSIBLE_DEBUG_BOTOCORE_LOGS",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    # Keep the developer's ~/.aws out of the tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


@pytest.fixture(scope="module")
def moto_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield "http://127.0.0.1:{0}".format(port)
    server.stop()


def make_module(module_args, args):
    with module_args(args):
        return RunbookModule(argument_spec=aws_argument_spec(), required_libs=AWS_REQUIRED_LIBS)


def test_argument_spec_is_amazon_aws_spec():
    spec = aws_argument_spec()
    assert spec == amazon_aws_argument_spec()
    assert spec["region"]["aliases"] == ["aws_region"]
    assert spec["access_key"]["aliases"] == ["aws_access_key_id", "aws_access_key"]
    assert spec["secret_key"]["no_log"] is True
    assert spec["session_token"]["no_log"] is True
    assert spec["endpoint_url"]["aliases"] == ["aws_endpoint_url"]
    assert spec["profile"]["aliases"] == ["aws_profile"]


def test_options_route_through_to_the_client(module_args, moto_endpoint):
    module = make_module(module_args, {
        "region": "eu-west-1",
        "endpoint_url": moto_endpoint,
        "access_key": "AKIAEXAMPLE",
        "secret_key": "example-secret",
    })
    s3 = get_boto3_client(module, "s3")
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.endpoint_url == moto_endpoint
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 11}  # botocore counts the first call too
    s3.create_bucket(Bucket="runbook-evidence", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert "runbook-evidence" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_aliases_and_environment_fallbacks(module_args, monkeypatch, moto_endpoint):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_URL", moto_endpoint)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    module = make_module(module_args, {"aws_access_key_id": "AKIAALIAS", "aws_config": {"retries": {"max_attempts": 2}}})
    assert module.params["access_key"] == "AKIAALIAS"
    assert module.params["secret_key"] == "env-secret"
    assert "env-secret" in module.no_log_values
    sts = get_boto3_client(module, "sts")
    assert sts.meta.region_name == "us-west-2"
    assert sts.meta.config.retries["total_max_attempts"] == 3  # the user's aws_config wins
    assert sts.get_caller_identity()["Account"]


def test_client_errors_become_runbook_errors(module_args, moto_endpoint):
    module = make_module(module_args, {"region": "us-east-1", "endpoint_url": moto_endpoint, "access_key": "a", "secret_key": "b"})
    s3 = get_boto3_client(module, "s3")
    with pytest.raises(RunbookError) as info:
        with aws_errors("read", "S3 bucket no-such-bucket"):
            s3.get_bucket_tagging(Bucket="no-such-bucket")
    assert str(info.value).startswith("Failed to read S3 bucket no-such-bucket: ")
    assert info.value.to_dict()["details"] == {"code": "NoSuchBucket"}


def test_unknown_profile_is_a_runbook_error(module_args):
    module = make_module(module_args, {"region": "us-east-1", "profile": "no-such-profile"})
    with pytest.raises(RunbookError, match="^Failed to create a client for AWS s3 API in us-east-1: .*no-such-profile"):
        get_boto3_client(module, "s3")


def test_debug_botocore_endpoint_logs_reports_resource_actions(module_args, moto_endpoint, run_module):
    args = {"region": "us-east-1", "endpoint_url": moto_endpoint, "access_key": "a", "secret_key": "b", "debug_botocore_endpoint_logs": True}

    def list_buckets(module):
        get_boto3_client(module, "s3").list_buckets()
        return module.result()

    outcome = run_module(lambda: RunbookModule(argument_spec=aws_argument_spec()).run(list_buckets), args)
    assert outcome.result["resource_actions"] == ["s3:ListBuckets"]
