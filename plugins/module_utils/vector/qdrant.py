# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Qdrant: the client, versioned collections behind an alias, and the plan of a rebuild.

The application reads the alias (for example C(documents)); each rebuild fills a
new collection C(<alias>_v<n+1>), verifies it, and moves the alias to it with one
update_collection_aliases request (delete + create, applied atomically by Qdrant),
so a reader resolving the alias sees the old collection or the new one, never
none. Older versions are kept or deleted per retention. Collections C(<alias>_v<n>)
newer than the alias's and not aliased are leftovers of an interrupted run and are
deleted before building again.

plan_collections() and retention() are pure and unit-tested.
qdrant-client's local mode (path=...) runs the same calls without a server; the
tests use it, production gives a server URL.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import decimal
import re
import time
import traceback
import uuid

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.vector.recall import COSINE, INNER_PRODUCT, L2

try:
    from qdrant_client import QdrantClient, models
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
    QDRANT_IMPORT_ERROR = None
except ImportError:
    QdrantClient = models = None
    ResponseHandlingException = UnexpectedResponse = None
    QDRANT_IMPORT_ERROR = traceback.format_exc()

QDRANT_REQUIRED_LIBS = [("qdrant_client", "qdrant-client", QDRANT_IMPORT_ERROR)]

# Qdrant's distance names -> the distance of recall.py that orders the same way.
DISTANCES = {"Euclid": L2, "Cosine": COSINE, "Dot": INNER_PRODUCT}
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
# Points whose source id is neither an unsigned integer nor a UUID get a UUID derived from it.
ID_NAMESPACE = uuid.UUID("5f0c7e8e-2d1a-4c1e-9a57-3f7f1b0c9d21")
SOURCE_ID_KEY = "source_id"


def qdrant_argument_spec():
    """Connection options: a server URL (production) or a local path (qdrant-client's local mode)."""
    return dict(
        qdrant_url=dict(type="str", fallback=(env_fallback, ["QDRANT_URL"])),
        qdrant_api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["QDRANT_API_KEY"])),
        qdrant_path=dict(type="path"),
        qdrant_timeout=dict(type="int", default=60),
    )


def describe_qdrant(params):
    if params.get("qdrant_path"):
        return "Qdrant local storage {0}".format(params["qdrant_path"])
    return "Qdrant {0}".format(params.get("qdrant_url"))


def get_client(params):
    """A QdrantClient for the options; RunbookError naming the store when it cannot be opened."""
    where = describe_qdrant(params)
    if params.get("qdrant_path") and params.get("qdrant_url"):
        raise RunbookError("connect to", where, "give qdrant_url or qdrant_path, not both")
    if not params.get("qdrant_path") and not params.get("qdrant_url"):
        raise RunbookError("connect to", "Qdrant", "give qdrant_url (or QDRANT_URL), or qdrant_path for local mode")
    try:
        if params.get("qdrant_path"):
            return QdrantClient(path=params["qdrant_path"])
        return QdrantClient(url=params["qdrant_url"], api_key=params.get("qdrant_api_key") or None, timeout=params["qdrant_timeout"])
    except Exception as error:  # pylint: disable=broad-except
        raise RunbookError("connect to", where, error) from None


_VERSION = re.compile(r"^(?P<base>.+)_v(?P<version>[0-9]+)$")


def version_of(name, alias):
    """n for a collection named <alias>_v<n>, else None."""
    match = _VERSION.match(name)
    if match and match.group("base") == alias:
        return int(match.group("version"))
    return None


def collection_name(alias, version):
    return "{0}_v{1}".format(alias, version)


def retention(versions, current, keep_previous):
    """Which versioned collections to delete once `current` is aliased: all but the keep_previous newest older ones.

    versions -- the version numbers present (ints); current -- the aliased version.
    Newer versions than current are not considered here (see plan_collections).
    """
    older = sorted((v for v in versions if v < current), reverse=True)
    return sorted(older[keep_previous:])


def plan_collections(alias, collections, aliases, current_problems, keep_previous, force=False):
    """What to do so that `alias` points at a verified collection. Pure: no Qdrant needed.

    collections -- names of every collection; aliases -- {alias name: collection name}
    current_problems -- why the aliased collection is not good (config, count, recall), or None when it was not checked
    Returns dict(current, current_version, reasons, leftovers (delete first), build (new collection name or None),
    retire (delete after the switch), keep).
    """
    current = aliases.get(alias)
    versions = dict((name, version_of(name, alias)) for name in collections)
    versions = dict((name, v) for name, v in versions.items() if v is not None)
    current_version = versions.get(current)
    aliased = set(aliases.values())
    reasons = []
    if current is None:
        reasons.append("alias {0} does not exist".format(alias))
    elif current not in collections:
        reasons.append("alias {0} points at {1}, which does not exist".format(alias, current))
    else:
        reasons.extend(current_problems or [])
        if not reasons and force:
            reasons.append("rebuild forced")
    if current_version is None:
        leftovers = sorted(name for name, v in versions.items() if name not in aliased)
    else:
        leftovers = sorted(name for name, v in versions.items() if v > current_version and name not in aliased)
    plan = dict(current=current, current_version=current_version, reasons=reasons, leftovers=leftovers if reasons else [],
                build=None, retire=[], keep=[])
    if not reasons:
        return plan
    remaining = [v for name, v in versions.items() if name not in leftovers]
    new_version = max(remaining + [0]) + 1
    plan["build"] = collection_name(alias, new_version)
    by_version = dict((v, name) for name, v in versions.items() if name not in leftovers)
    retire = retention(list(by_version), new_version, keep_previous)
    # a collection another alias points at is never deleted
    plan["retire"] = [by_version[v] for v in retire if by_version[v] not in aliased or by_version[v] == current]
    plan["keep"] = sorted(name for v, name in by_version.items() if name not in plan["retire"])
    return plan


def config_problems(info, dimensions, distance):
    """Why an existing collection's vectors are not as wanted (size, distance); empty when they are."""
    vectors = info.config.params.vectors
    if isinstance(vectors, dict):
        return ["it has named vectors {0}; a single unnamed vector is expected".format(", ".join(sorted(vectors)))]
    problems = []
    if vectors.size != dimensions:
        problems.append("vector size is {0}, not {1}".format(vectors.size, dimensions))
    actual = getattr(vectors.distance, "value", vectors.distance)
    if actual != distance:
        problems.append("distance is {0}, not {1}".format(actual, distance))
    return problems


def point_id(value):
    """A Qdrant point id for a source id: unsigned ints and UUIDs as they are, anything else a UUID derived from it."""
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    text = str(value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(ID_NAMESPACE, text))


def json_value(value):
    """A payload value Qdrant can store (JSON): dates as ISO text, decimals as float, bytes as hex."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return dict((str(k), json_value(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def to_points(batch):
    """PointStructs from source rows (id, vector, payload); the source id is kept in the payload when it had to be mapped."""
    points = []
    for source_id, vector, payload in batch:
        pid = point_id(source_id)
        body = dict((key, json_value(value)) for key, value in payload.items())
        if pid != source_id:
            body[SOURCE_ID_KEY] = json_value(source_id)
        points.append(models.PointStruct(id=pid, vector=[float(x) for x in vector], payload=body))
    return points


def is_transient(error):
    """Whether an error is worth retrying: timeouts, connection failures, 408/429/5xx, gRPC UNAVAILABLE."""
    if UnexpectedResponse is not None and isinstance(error, UnexpectedResponse):
        return error.status_code in TRANSIENT_STATUS
    if ResponseHandlingException is not None and isinstance(error, ResponseHandlingException):
        return True
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    code = getattr(error, "code", None)
    if callable(code):
        try:
            name = getattr(code(), "name", "")
        except Exception:  # pylint: disable=broad-except
            return False
        return name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED")
    return False


def with_retries(call, what, where, retries, delay, sleep=time.sleep, on_retry=None):
    """call() with up to `retries` retries of transient errors, delay doubling from `delay`; returns (result, retries used)."""
    attempt = 0
    while True:
        try:
            return call(), attempt
        except Exception as error:  # pylint: disable=broad-except
            if not is_transient(error) or attempt >= retries:
                raise RunbookError(what, where, error, attempts=attempt + 1) from error
            if on_retry is not None:
                on_retry(attempt + 1, error)
            sleep(delay * (2 ** attempt))
            attempt += 1


def alias_switch_operations(alias, collection, current):
    """The one request that moves the alias: delete it (when it exists) and create it on the new collection."""
    operations = []
    if current is not None:
        operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
    operations.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)))
    return operations


def read_state(client, where):
    """(collection names, {alias: collection})."""
    try:
        collections = sorted(c.name for c in client.get_collections().collections)
        aliases = dict((a.alias_name, a.collection_name) for a in client.get_aliases().aliases)
    except Exception as error:  # pylint: disable=broad-except
        raise RunbookError("read collections and aliases of", where, error) from error
    return collections, aliases


def search_ids(client, collection, vector, k, hnsw_ef=None):
    """Ids of the k nearest points, nearest first."""
    params = models.SearchParams(hnsw_ef=hnsw_ef) if hnsw_ef else None
    answer = client.query_points(collection_name=collection, query=[float(x) for x in vector], limit=k, with_payload=False,
                                 search_params=params)
    return [point.id for point in answer.points]


def exact_count(client, collection):
    return client.count(collection_name=collection, exact=True).count
