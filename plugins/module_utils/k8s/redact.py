# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Redaction of Kubernetes objects and text (pure): what any module returns of a pod template must pass through here.

redact_object() and redact_template() blank what could be secret in a pod, a workload or a pod
template (env values whose names or values look secret, values from Secrets, secret-looking
command-line flags, the last-applied and encoded-config annotations that repeat them);
sensitive_values() and scrub() keep the same literals out of logs, events and messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import DC_ENCODED, LAST_APPLIED, metadata_of

REDACTED = "<redacted>"
# Env names that hold credentials by convention. "key" also matches API_KEY, ACCESS_KEY, PRIVATE_KEY.
SECRET_NAME = re.compile(r"(passw|passphrase|pwd|secret|token|key|credential|auth|private|cert|session|cookie|dsn|conn(ection)?_?str)",
                         re.IGNORECASE)
# "--password=x", "password: x", "token=x", "Authorization: Bearer x" in args, logs and event messages.
SECRET_ASSIGNMENT = re.compile(
    r"(?i)((?:passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|credentials?)[\w.-]*\"?\s*[:=]\s*\"?)[^\s\"',;&]+")
# postgres://user:password@host: the password of a URL.
URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@")
BEARER = re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}")
MIN_SCRUB_LENGTH = 4
REDACTED_ANNOTATIONS = (LAST_APPLIED, DC_ENCODED)


def secret_looking(name):
    """Whether an env variable's name says it holds a credential."""
    return bool(name) and SECRET_NAME.search(name) is not None


def redact_args(args):
    """Command or args with values of secret-looking flags blanked: --password=x and --password x."""
    redacted = []
    hide_next = False
    for arg in args or []:
        text = str(arg)
        if hide_next:
            redacted.append(REDACTED)
            hide_next = False
            continue
        if re.match(r"^--?[\w.-]+$", text) and secret_looking(text):
            hide_next = True
        redacted.append(SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text))
    return redacted


def sensitive_entry(entry):
    """Whether a literal env entry holds a credential: by its name, or by its value (password=..., a URL with a password)."""
    value = str(entry.get("value") or "")
    return bool(value) and (secret_looking(entry.get("name")) or SECRET_ASSIGNMENT.search(value) is not None
                            or URL_PASSWORD.search(value) is not None)


def redact_env(env):
    """Env entries with secret-looking literal values and values from Secrets shown as <redacted>."""
    redacted = []
    for entry in env or []:
        entry = dict(entry)
        value_from = entry.get("valueFrom") or {}
        if "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"] or {}
            entry["value"] = REDACTED
            entry["valueFrom"] = {"secretKeyRef": {"name": ref.get("name"), "key": ref.get("key")}}
        elif "value" in entry and sensitive_entry(entry):
            entry["value"] = REDACTED
        redacted.append(entry)
    return redacted


def _redact_pod_spec(spec):
    for section in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(section) or []:
            if "env" in container:
                container["env"] = redact_env(container["env"])
            for key in ("command", "args"):
                if key in container:
                    container[key] = redact_args(container[key])


def redact_object(obj):
    """A copy of a pod, a workload or a ReplicationController without secret material."""
    obj = copy.deepcopy(obj or {})
    annotations = metadata_of(obj).get("annotations") or {}
    for key in REDACTED_ANNOTATIONS:
        if key in annotations:
            annotations[key] = REDACTED
    if obj.get("kind") == "Pod" or "containers" in (obj.get("spec") or {}):
        _redact_pod_spec(obj.get("spec") or {})
    template_spec = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
    _redact_pod_spec(template_spec)
    return obj


def redact_template(template):
    """A copy of a pod template without secret material (env values, flags, the annotations that repeat them)."""
    template = copy.deepcopy(template or {})
    annotations = metadata_of(template).get("annotations") or {}
    for key in REDACTED_ANNOTATIONS:
        if key in annotations:
            annotations[key] = REDACTED
    _redact_pod_spec(template.get("spec") or {})
    return template


def all_containers(spec):
    """Init, regular and ephemeral containers of a pod spec."""
    return (spec.get("initContainers") or []) + (spec.get("containers") or []) + (spec.get("ephemeralContainers") or [])


def sensitive_values(objects):
    """The literal env values of secret-looking names in these pods or workloads: to scrub from logs and events."""
    values = set()
    for obj in objects:
        spec = (obj or {}).get("spec") or {}
        specs = [spec, (((spec.get("template") or {}).get("spec")) or {})]
        for pod_spec in specs:
            for container in all_containers(pod_spec):
                for entry in container.get("env") or []:
                    value = entry.get("value")
                    if value and sensitive_entry(entry) and len(str(value)) >= MIN_SCRUB_LENGTH:
                        values.add(str(value))
    return values


def scrub(text, values=()):
    """Text with the given literals and credential-looking assignments replaced by <redacted>."""
    if not text:
        return text
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text)
    text = URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return BEARER.sub(lambda m: m.group(1) + REDACTED, text)
