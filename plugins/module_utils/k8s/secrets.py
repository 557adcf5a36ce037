# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Rotation of Kubernetes Secrets (pure functions, unit-tested without a cluster).

The runbooks rotate a leaked key with `kubectl create secret ... --dry-run=client -o yaml |
kubectl apply -f -` and a rolling restart. Here a rotation is planned from the Secret as
the API returns it:

- versions: the Secret carries its version number and rotation time in annotations; the
  version before a rotation is kept as a backup Secret <name>-v<version>, labelled, so that
  a rollback can put it back and only the newest backup_retention backups are kept;
- checksums, never values: a value is compared by its SHA-256, and what a module returns
  carries checksum() (16 hex digits of it), versions and names only;
- consumers: the workloads whose pods read the Secret (env, envFrom, volumes, projected
  volumes), which must restart to see a new value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import re
import secrets as random_source
import string

VERSION = "sre.runbooks/secret-version"
ROTATED_AT = "sre.runbooks/rotated-at"
ROLLED_BACK_FROM = "sre.runbooks/rolled-back-from"
BACKUP_OF = "sre.runbooks/backup-of"
BACKUP_VERSION = "sre.runbooks/backup-version"
CHECKSUM_LENGTH = 16

CHARSETS = {
    "alnum": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
    # Printable ASCII without space, quotes and backslash: safe in URLs' userinfo only when encoded, so not the default.
    "ascii_printable": "".join(c for c in string.printable if c not in string.whitespace + "'\"\\`"),
}
DEFAULT_CHARSET = "alnum"
DEFAULT_LENGTH = 32
MIN_LENGTH = 16

# Kinds whose pod templates can read a Secret, and where their pod template is.
CONSUMER_KINDS = (
    ("Deployment", "apps/v1", ("spec", "template")),
    ("StatefulSet", "apps/v1", ("spec", "template")),
    ("DaemonSet", "apps/v1", ("spec", "template")),
    ("CronJob", "batch/v1", ("spec", "jobTemplate", "spec", "template")),
)
RESTARTABLE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


class RotationError(ValueError):
    """A rotation or rollback that cannot be planned; the message names no value."""


def checksum(value):
    """The first 16 hex digits of the SHA-256 of a value (bytes or text): what results may carry instead of it."""
    if value is None:
        return None
    if not isinstance(value, bytes):
        value = str(value).encode("utf-8")
    return hashlib.sha256(value).hexdigest()[:CHECKSUM_LENGTH]


def decoded(secret, key):
    """The bytes of data[key] of a Secret (None when absent)."""
    raw = ((secret or {}).get("data") or {}).get(key)
    return None if raw is None else base64.b64decode(raw)


def encoded(value):
    if not isinstance(value, bytes):
        value = str(value).encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def data_checksums(secret):
    """{key: checksum} of every key of a Secret."""
    return dict((key, checksum(base64.b64decode(raw))) for key, raw in sorted(((secret or {}).get("data") or {}).items()))


def generate(length=DEFAULT_LENGTH, charset=DEFAULT_CHARSET, choice=random_source.choice):
    """A new random value from the operating system's CSPRNG."""
    if charset not in CHARSETS:
        raise RotationError("charset must be one of {0}, got {1}".format(", ".join(sorted(CHARSETS)), charset))
    if length < MIN_LENGTH:
        raise RotationError("a generated value must be at least {0} characters long, got {1}".format(MIN_LENGTH, length))
    alphabet = CHARSETS[charset]
    return "".join(choice(alphabet) for _index in range(length))


def _meta(obj):
    return (obj or {}).get("metadata") or {}


def version_of(secret):
    """The Secret's version: its annotation, or 0 for a Secret this collection never rotated."""
    text = (_meta(secret).get("annotations") or {}).get(VERSION)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        raise RotationError("the annotation {0} of Secret {1}/{2} is not a number".format(
            VERSION, _meta(secret).get("namespace"), _meta(secret).get("name"))) from None


def backup_name(name, version):
    """<name>-v<version>, cut so it stays a valid object name (253 characters)."""
    suffix = "-v{0}".format(version)
    return name[:253 - len(suffix)] + suffix


def backup_of(secret, version):
    """The backup Secret that keeps `secret`'s data as version `version`: same type and data, labelled and annotated."""
    meta = _meta(secret)
    annotations = {BACKUP_VERSION: str(version)}
    rotated_at = (meta.get("annotations") or {}).get(ROTATED_AT)
    if rotated_at:
        annotations[ROTATED_AT] = rotated_at
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": backup_name(meta.get("name"), version),
            "namespace": meta.get("namespace"),
            # Label values are limited to 63 characters; the annotation holds the full name.
            "labels": {BACKUP_OF: meta.get("name")[:63]},
            "annotations": dict(annotations, **{BACKUP_OF: meta.get("name")}),
        },
        "type": secret.get("type") or "Opaque",
        "data": dict(secret.get("data") or {}),
    }


def backups_of(name, candidates):
    """The backups of Secret `name` among `candidates` (Secrets), newest version first."""
    found = []
    for item in candidates:
        annotations = _meta(item).get("annotations") or {}
        if annotations.get(BACKUP_OF) != name:
            continue
        try:
            found.append((int(annotations.get(BACKUP_VERSION)), item))
        except (TypeError, ValueError):
            continue
    return [item for _version, item in sorted(found, key=lambda pair: pair[0], reverse=True)]


def backup_summary(backup):
    annotations = _meta(backup).get("annotations") or {}
    return {"name": _meta(backup).get("name"), "version": int(annotations.get(BACKUP_VERSION)),
            "rotated_at": annotations.get(ROTATED_AT), "checksums": data_checksums(backup)}


def prune(backups, retention, keep=()):
    """Names of the backups beyond the newest `retention` (never those in `keep`)."""
    return [_meta(b).get("name") for b in backups[retention:] if _meta(b).get("name") not in keep]


def _pointer(key):
    return key.replace("~", "~0").replace("/", "~1")


def _data_patch(secret, annotations, changes=None, data=None):
    """A JSON patch: test the data as read, then set keys (`changes`) or the whole `data`, and the annotations.

    The test makes the write fail, rather than overwrite, when someone changed the Secret in between.
    """
    current = secret.get("data") or {}
    patch = [{"op": "test", "path": "/data", "value": dict(current)}] if current else []
    if data is not None:
        patch.append({"op": "add", "path": "/data", "value": dict(data)})
    else:
        if not current:
            patch.append({"op": "add", "path": "/data", "value": {}})
        for key, value in sorted((changes or {}).items()):
            patch.append({"op": "add", "path": "/data/" + _pointer(key), "value": value})
    if _meta(secret).get("annotations") is None:
        patch.append({"op": "add", "path": "/metadata/annotations", "value": dict(annotations)})
    else:
        for key, value in sorted(annotations.items()):
            patch.append({"op": "add", "path": "/metadata/annotations/" + _pointer(key), "value": value})
    return patch


def _rotated_since(secret, rotated_after, parse_time):
    text = (_meta(secret).get("annotations") or {}).get(ROTATED_AT)
    if not text or rotated_after is None:
        return False
    try:
        return parse_time(text) >= rotated_after
    except ValueError:
        return False


def plan_rotation(secret, key, value=None, generated=None, rotated_after=None, now=None, parse_time=None,
                  backups=(), backup=True, retention=3):
    """Plan the rotation of data[key].

    value -- the new value (bytes or text), compared by checksum: the same value is no change;
    generated -- a freshly generated value, used when value is None; with rotated_after, a Secret rotated
                 at or after that time is left alone (a rerun is no change);
    backups -- the Secret's existing backups (backups_of()).

    Returns {changed, actions, patch, backup (object or None), prune (names), version_before, version_after,
    checksum_before, checksum_after, rotated_at}.
    """
    meta = _meta(secret)
    what = "Secret {0}/{1}".format(meta.get("namespace"), meta.get("name"))
    if not re.match(r"^[-._a-zA-Z0-9]+$", key or ""):
        raise RotationError("{0!r} is not a valid Secret key (letters, digits, '-', '_', '.')".format(key))
    version = version_of(secret)
    current = decoded(secret, key)
    plan = {"changed": False, "actions": [], "patch": None, "backup": None, "prune": [], "version_before": version,
            "version_after": version, "checksum_before": checksum(current), "checksum_after": checksum(current),
            "rotated_at": (meta.get("annotations") or {}).get(ROTATED_AT)}
    if value is None and generated is None:
        raise RotationError("give the new value or generate one")
    if value is not None:
        new = value if isinstance(value, bytes) else str(value).encode("utf-8")
        if current is not None and hmac.compare_digest(current, new):
            return plan
    else:
        if _rotated_since(secret, rotated_after, parse_time):
            return plan
        new = generated if isinstance(generated, bytes) else str(generated).encode("utf-8")
    version_after = version + 1
    plan.update(changed=True, version_after=version_after, checksum_after=checksum(new), rotated_at=now)
    if backup:
        existing = next((b for b in backups if backup_summary(b)["version"] == version), None)
        if existing is not None and data_checksums(existing) != data_checksums(secret):
            raise RotationError("the backup {0} of version {1} holds other data than {2}: rename or delete it first".format(
                _meta(existing).get("name"), version, what))
        if existing is None:
            plan["backup"] = backup_of(secret, version)
            plan["actions"].append("keep version {0} of {1} as Secret {2}".format(version, what, plan["backup"]["metadata"]["name"]))
        kept = [plan["backup"]] + list(backups) if plan["backup"] else list(backups)
        plan["prune"] = prune(kept, retention, keep=(backup_name(meta.get("name"), version),))
        plan["actions"].extend("delete the old backup Secret {0}/{1} (retention {2})".format(meta.get("namespace"), n, retention)
                               for n in plan["prune"])
    plan["actions"].append("set {0} of {1} to a new value (checksum {2} -> {3}), version {4} -> {5}".format(
        key, what, plan["checksum_before"] or "none", plan["checksum_after"], version, version_after))
    plan["patch"] = _data_patch(secret, {VERSION: str(version_after), ROTATED_AT: now}, changes={key: encoded(new)})
    if ROLLED_BACK_FROM in (meta.get("annotations") or {}):
        plan["patch"].append({"op": "remove", "path": "/metadata/annotations/" + _pointer(ROLLED_BACK_FROM)})
    return plan


def plan_rollback(secret, backups, to_version=None, now=None, backup=True):
    """Plan putting a backup's data back: the newest backup older than the current version, or to_version.

    Declarative: a Secret whose last change was a rollback (annotation ROLLED_BACK_FROM) stays at
    that version unless to_version says otherwise, so a rerun does not go one version further back.

    The Secret then holds that version's data and carries its number; the data it held is kept
    as a backup of its own version first, so a rollback can itself be undone. A Secret whose data
    already equals the backup's is no change.
    """
    meta = _meta(secret)
    what = "Secret {0}/{1}".format(meta.get("namespace"), meta.get("name"))
    version = version_of(secret)
    summaries = [(backup_summary(b), b) for b in backups]
    if to_version is None and ROLLED_BACK_FROM in (meta.get("annotations") or {}):
        # The last change was a rollback to this version: hold it, never "one further back" on a rerun.
        to_version = version
    if to_version is None:
        older = [(s, b) for s, b in summaries if s["version"] < version]
        if not older:
            raise RotationError("{0} (version {1}) has no backup of an earlier version to roll back to (backups: {2})".format(
                what, version, ", ".join(str(s["version"]) for s, _b in summaries) or "none"))
        target_summary, target = older[0]
    else:
        match = [(s, b) for s, b in summaries if s["version"] == to_version]
        if not match:
            raise RotationError("{0} has no backup of version {1} (backups: {2})".format(
                what, to_version, ", ".join(str(s["version"]) for s, _b in summaries) or "none"))
        target_summary, target = match[0]
    plan = {"changed": False, "actions": [], "patch": None, "backup": None, "prune": [], "version_before": version,
            "version_after": version, "checksums_before": data_checksums(secret), "checksums_after": data_checksums(secret),
            "to_version": target_summary["version"], "from_backup": target_summary["name"],
            "rotated_at": (meta.get("annotations") or {}).get(ROTATED_AT)}
    if data_checksums(secret) == target_summary["checksums"]:
        return plan
    if backup and not any(s["version"] == version for s, _b in summaries):
        plan["backup"] = backup_of(secret, version)
        plan["actions"].append("keep version {0} of {1} as Secret {2}".format(version, what, plan["backup"]["metadata"]["name"]))
    plan.update(changed=True, version_after=target_summary["version"], checksums_after=target_summary["checksums"], rotated_at=now)
    plan["actions"].append("put version {0} back into {1} from Secret {2} (version {3} -> {0})".format(
        target_summary["version"], what, target_summary["name"], version))
    # The whole data is replaced: keys the later version added go too.
    patch = _data_patch(secret, {VERSION: str(target_summary["version"]), ROTATED_AT: now, ROLLED_BACK_FROM: str(version)},
                        data=target.get("data") or {})
    plan["patch"] = patch
    return plan


def _template(obj, path):
    for part in path:
        obj = (obj or {}).get(part) or {}
    return obj


def references(template, name):
    """How a pod template reads Secret `name`: ["env X of container c", "envFrom of container c", "volume v", ...]."""
    spec = (template or {}).get("spec") or {}
    found = []
    for section in ("initContainers", "containers"):
        for container in spec.get(section) or []:
            cname = container.get("name")
            for entry in container.get("env") or []:
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("name") == name:
                    found.append("env {0} of container {1} (key {2})".format(entry.get("name"), cname, ref.get("key")))
            for source in container.get("envFrom") or []:
                if (source.get("secretRef") or {}).get("name") == name:
                    found.append("envFrom of container {0}".format(cname))
    for volume in spec.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName") == name:
            found.append("volume {0}".format(volume.get("name")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name") == name:
                found.append("projected volume {0}".format(volume.get("name")))
    return found


def consumers(workloads_by_kind, name):
    """[{kind, name, via, restartable}] of the workloads whose pods read Secret `name`.

    workloads_by_kind -- {kind: [objects]} for the kinds of CONSUMER_KINDS (a kind missing: not served).
    """
    found = []
    for kind, _api_version, path in CONSUMER_KINDS:
        for obj in workloads_by_kind.get(kind) or []:
            via = references(_template(obj, path), name)
            if via:
                found.append({"kind": kind, "name": _meta(obj).get("name"), "via": via, "restartable": kind in RESTARTABLE_KINDS})
    return sorted(found, key=lambda c: (c["kind"], c["name"]))
