# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS client layer, reusing amazon.aws.

The options come from amazon.aws's own aws_argument_spec() and are resolved by
its get_aws_connection_info(), so names, aliases, environment fallbacks
(AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_URL, ...) and the
profile/keys rules behave exactly as in amazon.aws.

Documentation: modules use
    extends_documentation_fragment:
      - amazon.aws.common.modules
      - amazon.aws.region.modules
      - amazon.aws.boto3
rather than a fragment of ours, so docs and options cannot drift.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import traceback
import weakref

from ansible_collections.amazon.aws.plugins.module_utils.botocore import boto3_inventory_conn, get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec as _amazon_aws_argument_spec

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

try:
    import botocore.config
    from botocore.exceptions import BotoCoreError, ClientError
    import boto3  # noqa: F401, pylint: disable=unused-import
    BOTO3_IMPORT_ERROR = None
    AWS_ERRORS = (BotoCoreError, ClientError)
except ImportError:
    BOTO3_IMPORT_ERROR = traceback.format_exc()
    AWS_ERRORS = ()

# For RunbookModule(required_libs=...): (import name, pip name, import error).
AWS_REQUIRED_LIBS = [("boto3", "boto3", BOTO3_IMPORT_ERROR)]

# Throttling is common during incidents (everyone is calling the same APIs):
# retry with botocore's standard mode, as many times as amazon.aws's AWSRetry does.
# A user's aws_config (retries included) takes precedence.
DEFAULT_RETRIES = {"mode": "standard", "max_attempts": 10}


def aws_argument_spec():
    """amazon.aws's common AWS options (a fresh dict), to merge into a module's argument_spec."""
    return _amazon_aws_argument_spec()


def describe_error(error):
    """The AWS error code of a ClientError (for RunbookError details), or None."""
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code")


@contextlib.contextmanager
def aws_errors(action, obj):
    """Re-raise botocore errors raised in the block as RunbookError(action, obj, cause, code=...)."""
    try:
        yield
    except AWS_ERRORS as error:
        details = {}
        code = describe_error(error)
        if code:
            details["code"] = code
        raise RunbookError(action, obj, error, **details) from error


# module -> set of 'service:Operation' called, for debug_botocore_endpoint_logs.
_RESOURCE_ACTIONS = weakref.WeakKeyDictionary()


def _record_resource_actions(module, client):
    """Honour debug_botocore_endpoint_logs: return the 'service:Operation' calls made, as amazon.aws does."""
    actions = _RESOURCE_ACTIONS.get(module)
    if actions is None:
        actions = _RESOURCE_ACTIONS[module] = set()
        module.add_report("resource_actions", lambda: sorted(actions))
    prefix = client.meta.service_model.endpoint_prefix

    def record(model, **_kwargs):
        actions.add("{0}:{1}".format(prefix, model.name))

    client.meta.events.register("before-call", record)


def get_boto3_client(module, service):
    """Return a boto3 client for service honouring region, profile, endpoint_url, keys, CA bundle and aws_config.

    Raises RunbookError when the client cannot be created (no region, unknown profile, bad endpoint).
    Calls made on the client should run inside aws_errors(action, obj).
    """
    if BOTO3_IMPORT_ERROR is not None:
        raise RunbookError("import", "the boto3 Python library", "it is not installed; install it with 'pip install boto3'")
    # Fails the module itself when both a profile and keys are given (amazon.aws's rule).
    region, endpoint_url, connect_kwargs = get_aws_connection_info(module)
    target = "AWS {0} API in {1}".format(service, region or "the default region")
    if endpoint_url:
        target += " at {0}".format(endpoint_url)
    with aws_errors("create a client for", target):
        try:
            client = boto3_inventory_conn(
                "client", service, region=region, endpoint=endpoint_url,
                config=botocore.config.Config(retries=DEFAULT_RETRIES), **connect_kwargs
            )
        except ValueError as error:
            # botocore raises ValueError for a malformed endpoint_url.
            raise RunbookError("create a client for", target, error) from error
    if module.params.get("debug_botocore_endpoint_logs"):
        _record_resource_actions(module, client)
    return client
