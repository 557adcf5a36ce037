# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""AWS Secrets Manager rotation: the decisions as pure functions, and the boto3 calls they need.

The decisions (option checks, the new secret string, what to do, what to verify)
work on plain dicts shaped like the Secrets Manager API's answers, so they are
unit-tested without AWS. The calls at the end run inside scrubbed_errors(), which
turns a botocore error into a RunbookError whose text has every secret value given
to it replaced, and which keeps no reference to the original exception (its
traceback and message could carry request parameters).

Secret values never leave this layer except as the argument of PutSecretValue:
results, plans and errors carry version ids, stages, dates and checksum() of a value.

Stage semantics follow Secrets Manager's own rotation: the new version is put with
AWSPENDING, AWSCURRENT is moved to it from the old version (Secrets Manager then
moves AWSPREVIOUS to the old version by itself), and AWSPENDING is removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import hashlib
import json
import secrets
import string
import time
import uuid

from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_ERRORS, describe_error
from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
PENDING = "AWSPENDING"
# Custom staging label on the version a rollback moved AWSCURRENT away from. It makes
# state=rolled_back declarative: once AWSCURRENT has been moved back, AWSPREVIOUS
# sits on the rolled back version, and rolling back "to AWSPREVIOUS" again would
# undo the rollback. Only one version carries it at a time.
ROLLED_BACK = "SRE_ROLLED_BACK"

CHARSETS = {
    "alnum": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "ascii_printable": string.ascii_letters + string.digits + string.punctuation,
}
MAX_LENGTH = 4096
MASK = "********"

UTC = datetime.timezone.utc


# -- values, checksums, tokens ----------------------------------------------------------------


def checksum(text):
    """sha256 hex of text (UTF-8), truncated to 16 characters: what results carry instead of a value."""
    if text is None:
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def key_text(value):
    """A JSON value as text: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def generate_value(length, charset, choice=None):
    """A random string of length characters from the named charset (secrets.choice)."""
    choice = choice or secrets.choice
    alphabet = CHARSETS[charset]
    return "".join(choice(alphabet) for dummy in range(length))


def request_token(secret_arn, from_version, secret_string):
    """ClientRequestToken of the PutSecretValue that replaces from_version by secret_string.

    Deterministic, so a retry of the same rotation (same secret, same old version, same new
    string) names the same version and Secrets Manager treats it as the same request.
    """
    digest = hashlib.sha256("\0".join([secret_arn, from_version or "", hashlib.sha256(secret_string.encode("utf-8")).hexdigest()])
                            .encode("utf-8")).hexdigest()
    return str(uuid.UUID(digest[:32]))


# -- times -----------------------------------------------------------------------------------


def parse_time(text):
    """An RFC 3339 date and time ("2026-11-22T14:23:00Z", "+01:00" offsets) as a UTC datetime; ValueError otherwise."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    if len(value) <= 10:
        raise ValueError("{0!r} is a date without a time".format(text))
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("{0!r} has no time zone".format(text))
    return parsed.astimezone(UTC)


def format_time(value):
    """ISO 8601 in UTC with a Z (None stays None); naive datetimes are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += ".%06d" % value.microsecond
    return text + "Z"


# -- options ---------------------------------------------------------------------------------


def option_problems(params):
    """Problems with the module's options, as sentences; empty when they are usable. Needs no AWS call."""
    problems = []
    state = params.get("state") or "rotated"
    method = params.get("method") or "put_value"
    given = dict((name, params.get(name) is not None) for name in ("value", "generate", "json_key", "rotated_after", "rotation_lambda_arn", "version_id"))
    if state == "rolled_back":
        extra = [name for name in ("value", "generate", "json_key", "rotated_after", "rotation_lambda_arn") if given[name]]
        if extra:
            problems.append("state=rolled_back moves AWSCURRENT back to an existing version and takes none of {0}".format(", ".join(extra)))
        return problems
    if given["version_id"]:
        problems.append("version_id names the version to roll back to: use it with state=rolled_back")
    if method == "put_value":
        if given["value"] == given["generate"]:
            problems.append("method=put_value needs the new value: give exactly one of value and generate")
        if given["rotation_lambda_arn"]:
            problems.append("rotation_lambda_arn is for method=lambda")
        if given["rotated_after"] and not given["generate"]:
            problems.append("rotated_after is for generate and method=lambda; with value the module compares checksums")
    else:
        extra = [name for name in ("value", "generate", "json_key") if given[name]]
        if extra:
            problems.append("method=lambda lets the rotation Lambda make the new value and takes none of {0}".format(", ".join(extra)))
    generate = params.get("generate")
    if generate:
        length = generate.get("length")
        if length is None or not 1 <= length <= MAX_LENGTH:
            problems.append("generate.length must be 1 to {0}, got {1}".format(MAX_LENGTH, length))
        if generate.get("charset") not in CHARSETS:
            problems.append("generate.charset must be one of {0}".format(", ".join(sorted(CHARSETS))))
    if params.get("json_key") == "":
        problems.append("json_key must not be empty")
    if given["rotated_after"]:
        try:
            parse_time(params["rotated_after"])
        except ValueError:
            problems.append("rotated_after must be an RFC 3339 date and time with a zone, such as 2026-11-22T14:23:00Z")
    for name in ("wait_timeout", "wait_sleep"):
        if params.get(name) is not None and params[name] < (1 if name == "wait_sleep" else 0):
            problems.append("{0} must be {1} or more seconds".format(name, 1 if name == "wait_sleep" else 0))
    return problems


# -- reading the secret ----------------------------------------------------------------------


def stages_of(description):
    """{version id: sorted stages} from a DescribeSecret answer, versions without stages left out."""
    return dict((version, sorted(stages)) for version, stages in (description.get("VersionIdsToStages") or {}).items() if stages)


def holder(stages, stage):
    """The version id carrying stage, or None."""
    for version, labels in stages.items():
        if stage in labels:
            return version
    return None


def pending_elsewhere(stages):
    """The version carrying AWSPENDING when it is not also AWSCURRENT (a rotation in progress), else None."""
    pending = holder(stages, PENDING)
    if pending is not None and pending != holder(stages, CURRENT):
        return pending
    return None


def new_secret_string(current_string, value, json_key=None):
    """(secret string to put, checksum of what is compared before, checksum after), or raise ValueError with a reason.

    With json_key, current_string must hold a JSON object with that key; only that key's
    value is replaced (keys and their order kept) and the checksums are of the key's value.
    The reasons never quote the secret.
    """
    if json_key is None:
        return value, checksum(current_string), checksum(value)
    try:
        document = json.loads(current_string)
    except ValueError:
        raise ValueError("json_key={0} needs the secret string to be a JSON object, and it is not JSON".format(json_key)) from None
    if not isinstance(document, dict):
        raise ValueError("json_key={0} needs the secret string to be a JSON object, and it is a JSON {1}".format(
            json_key, type(document).__name__))
    if json_key not in document:
        raise ValueError("json_key {0} is not in the secret (its keys: {1}); a misspelt key is refused rather than added".format(
            json_key, ", ".join(sorted(document)) or "none"))
    old = document[json_key]
    document[json_key] = value
    # A non-string value is a different value even when its text is the same: rotate it.
    before = checksum(old) if isinstance(old, str) else checksum("json:" + key_text(old))
    return json.dumps(document, separators=(",", ":")), before, checksum(value)


# -- plans -----------------------------------------------------------------------------------


def plan_put_value(name, stages, current, new_checksum, generated, rotated_after=None, token=None):
    """What a put_value rotation does. Pure.

    current -- dict(version_id, checksum, created) of the AWSCURRENT version (created a datetime or None);
               checksum is of what is compared (the whole string, or the json_key's value)
    new_checksum -- checksum of the new value (compared against current["checksum"]) when given
    generated -- whether the value is generated (then rotated_after decides, not the checksum)
    Returns dict(decision, actions, reason): rotate, current (nothing to do) or refuse.
    """
    old = current["version_id"]
    if not generated and new_checksum == current["checksum"]:
        return dict(decision="current", actions=[], reason="AWSCURRENT version {0} already holds the value (checksum {1})".format(old, new_checksum))
    if generated and rotated_after is not None and current["created"] is not None and current["created"] >= rotated_after:
        return dict(decision="current", actions=[], reason="AWSCURRENT version {0} was created at {1}, not before rotated_after {2}".format(
            old, format_time(current["created"]), format_time(rotated_after)))
    pending = pending_elsewhere(stages)
    if pending is not None and pending != token:
        return _refuse("version {0} of {1} carries AWSPENDING: a rotation is in progress or an earlier one was left unfinished. Let it "
                       "finish, or clear it with aws secretsmanager update-secret-version-stage --secret-id {1} --version-stage AWSPENDING "
                       "--remove-from-version-id {0}, and run again".format(pending, name))
    what = "a generated value" if generated else "the given value"
    actions = [
        "put {0} (checksum {1}) as a new version of {2} with stage AWSPENDING".format(what, new_checksum, name),
        "move AWSCURRENT from version {0} to the new version (AWSPREVIOUS moves to {0})".format(old),
        "remove AWSPENDING from the new version",
        "verify the stages and the checksum of the AWSCURRENT value",
    ]
    return dict(decision="rotate", actions=actions, reason=None)


def plan_lambda(name, stages, description, current, rotated_after=None, lambda_arn=None, timeout=0):
    """What a Lambda rotation does. Pure; description is the DescribeSecret answer."""
    old = current["version_id"]
    if rotated_after is not None and current["created"] is not None and current["created"] >= rotated_after:
        return dict(decision="current", actions=[], reason="AWSCURRENT version {0} was created at {1}, not before rotated_after {2}".format(
            old, format_time(current["created"]), format_time(rotated_after)))
    configured = description.get("RotationLambdaARN")
    if not lambda_arn and not configured:
        return _refuse("{0} has no rotation Lambda configured: give rotation_lambda_arn".format(name))
    pending = pending_elsewhere(stages)
    if pending is not None:
        return _refuse("version {0} of {1} carries AWSPENDING: a rotation is in progress or an earlier one did not finish (its Lambda "
                       "retries it). Look at the Lambda's logs; run again once AWSPENDING is gone".format(pending, name))
    function = lambda_arn or configured
    start = "start RotateSecret on {0} with the Lambda {1}, RotateImmediately".format(name, function)
    if lambda_arn and lambda_arn != configured:
        start += " (configuring it as the secret's rotation Lambda)"
    actions = [start, "wait up to {0} s for AWSCURRENT to move from version {1} to the new version and AWSPENDING to clear".format(timeout, old),
               "verify the stages"]
    return dict(decision="rotate", actions=actions, reason=None)


def plan_rollback(name, stages, target=None):
    """What state=rolled_back does. Pure.

    target -- the version id asked for, or None for "the version before the current one": the
              AWSPREVIOUS version, unless it carries ROLLED_BACK (this rollback is done already).
    Returns dict(decision, target, actions, reason): rollback, current or refuse.
    """
    current = holder(stages, CURRENT)
    pending = pending_elsewhere(stages)
    if pending is not None:
        return dict(_refuse("version {0} of {1} carries AWSPENDING: a rotation is in progress or an earlier one was left unfinished, "
                            "and moving AWSCURRENT under it would leave the stages inconsistent. Let it finish, or clear it with aws "
                            "secretsmanager update-secret-version-stage --secret-id {1} --version-stage AWSPENDING --remove-from-version-id {0}, "
                            "and run again".format(pending, name)), target=target)
    if target is None:
        previous = holder(stages, PREVIOUS)
        if previous is not None and ROLLED_BACK in stages.get(previous, []):
            return dict(decision="current", target=current, actions=[], reason="AWSCURRENT version {0} is already the result of a rollback "
                        "from version {1}".format(current, previous))
        if previous is None:
            return dict(_refuse("{0} has no AWSPREVIOUS version to roll back to: give version_id".format(name)), target=None)
        target = previous
    if target == current:
        return dict(decision="current", target=target, actions=[], reason="AWSCURRENT is already on version {0}".format(target))
    if target not in stages:
        return dict(_refuse("{0} has no version {1} with a staging label (versions: {2}); a version without a label may already be "
                            "deprecated by Secrets Manager".format(name, target, ", ".join(sorted(stages)) or "none")), target=target)
    actions = ["move AWSCURRENT from version {0} back to version {1} (AWSPREVIOUS moves to {0})".format(current, target),
               "mark version {0} with the label {1}, so a second rollback is a no-op".format(current, ROLLED_BACK),
               "verify the stages and the checksum of the AWSCURRENT value"]
    return dict(decision="rollback", target=target, actions=actions, reason=None)


def _refuse(reason):
    return dict(decision="refuse", actions=[], reason=reason)


# -- verification ----------------------------------------------------------------------------


def stage_problems(stages, current, previous, pending_allowed_on_current=False):
    """What does not hold in stages for AWSCURRENT on current and AWSPREVIOUS on previous with no AWSPENDING, as sentences."""
    problems = []
    if holder(stages, CURRENT) != current:
        problems.append("AWSCURRENT is on version {0}, not {1}".format(holder(stages, CURRENT), current))
    if previous is not None and holder(stages, PREVIOUS) != previous:
        problems.append("AWSPREVIOUS is on version {0}, not {1}".format(holder(stages, PREVIOUS), previous))
    pending = holder(stages, PENDING)
    if pending is not None and not (pending_allowed_on_current and pending == current):
        problems.append("AWSPENDING is still on version {0}".format(pending))
    return problems


def rotation_state(stages, old):
    """Where a Lambda rotation stands: done, pending (AWSPENDING on a new version) or not_started."""
    current = holder(stages, CURRENT)
    pending = pending_elsewhere(stages)
    if current != old and pending is None:
        return "done"
    if pending is not None:
        return "pending"
    return "not_started"


def wait_for_rotation(describe, old, timeout, interval, clock=None, sleep=None):
    """Poll describe() (the secret's stages) until AWSCURRENT leaves old and AWSPENDING is gone, or timeout seconds pass.

    Returns (outcome, stages): outcome is done or timeout.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    while True:
        stages = describe()
        if rotation_state(stages, old) == "done":
            return "done", stages
        remaining = deadline - clock()
        if remaining <= 0:
            return "timeout", stages
        sleep(min(interval, remaining))


# -- boto3 calls -----------------------------------------------------------------------------


def scrub(text, values):
    """text with every value in values (and its JSON-escaped form) replaced by a mask."""
    text = "{0}".format(text)
    for value in sorted((v for v in values if v), key=len, reverse=True):
        for form in (value, json.dumps(value)[1:-1]):
            if form:
                text = text.replace(form, MASK)
    return text


@contextlib.contextmanager
def scrubbed_errors(action, obj, values=()):
    """Re-raise botocore errors as RunbookError(action, obj, cause text with values masked, code=...).

    The cause is text, never the exception: its traceback and message could quote request
    parameters, and RunbookModule returns a RunbookError's exception traceback.
    """
    try:
        yield
    except AWS_ERRORS as error:
        details = {}
        code = describe_error(error)
        if code:
            details["code"] = code
        cause = scrub(error, values)
        raise RunbookError(action, obj, cause, **details) from None


def describe_secret(client, secret_id):
    """The DescribeSecret answer for secret_id, or None when there is no such secret."""
    with scrubbed_errors("describe", "secret {0}".format(secret_id)):
        try:
            return client.describe_secret(SecretId=secret_id)
        except AWS_ERRORS as error:
            if describe_error(error) == "ResourceNotFoundException":
                return None
            raise


def read_version(client, secret_id, version_id=None, stage=None):
    """The GetSecretValue answer for a version id or a stage; raises RunbookError (the value never in it)."""
    request = dict(SecretId=secret_id)
    if version_id:
        request["VersionId"] = version_id
    if stage:
        request["VersionStage"] = stage
    what = "version {0}".format(version_id) if version_id else "the {0} version".format(stage)
    with scrubbed_errors("read", "{0} of secret {1}".format(what, secret_id)):
        return client.get_secret_value(**request)


def put_pending(client, secret_id, token, secret_string, values):
    """PutSecretValue with stage AWSPENDING; the new version id."""
    with scrubbed_errors("put a new version of", "secret {0}".format(secret_id), values=list(values) + [secret_string]):
        answer = client.put_secret_value(SecretId=secret_id, ClientRequestToken=token, SecretString=secret_string, VersionStages=[PENDING])
    return answer["VersionId"]


def move_stage(client, secret_id, stage, to_version=None, from_version=None):
    """UpdateSecretVersionStage: move (or add, or remove) stage."""
    request = dict(SecretId=secret_id, VersionStage=stage)
    if to_version:
        request["MoveToVersionId"] = to_version
    if from_version:
        request["RemoveFromVersionId"] = from_version
    if to_version and from_version:
        what = "move {0} from version {1} to version {2} of".format(stage, from_version, to_version)
    elif to_version:
        what = "add {0} to version {1} of".format(stage, to_version)
    else:
        what = "remove {0} from version {1} of".format(stage, from_version)
    with scrubbed_errors(what, "secret {0}".format(secret_id)):
        client.update_secret_version_stage(**request)


def start_rotation(client, secret_id, lambda_arn=None):
    """RotateSecret with RotateImmediately; the version id of the pending version."""
    request = dict(SecretId=secret_id, RotateImmediately=True)
    if lambda_arn:
        request["RotationLambdaARN"] = lambda_arn
    with scrubbed_errors("start the rotation of", "secret {0}".format(secret_id)):
        return client.rotate_secret(**request).get("VersionId")
