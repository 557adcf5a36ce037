# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Repointing an application's database connection string (pure functions, unit-tested without a cluster).

The runbooks' cutover after a restore ("update DATABASE_URL" and restart) changes the
host, the port and perhaps the database name of a connection string, and nothing
else: the user, the password and the parameters stay exactly as they were, byte for
byte. Two forms are understood:

- URLs: postgresql://user:password@host:5432/orders?sslmode=require (also postgres://,
  and any scheme://, since frameworks use mysql://, postgis://, ...);
- libpq key/value strings: host=db port=5432 dbname=orders user=app password='p w'.

endpoint_of() reads the host, port and database; repoint() returns the string with
new ones; masked() gives a form safe to show (password replaced). Nothing here
ever returns a password.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

MASK = "********"
URL = "url"
KEY_VALUE = "keyvalue"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# libpq conninfo: key = value, the value bare or single-quoted with backslash escapes.
_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")


class ConnectionStringError(ValueError):
    """The text is not a connection string this module can repoint; the message never repeats it."""


def _url_parts(text):
    """(scheme, userinfo, hostport, rest) of a URL, split by hand so the other parts stay byte for byte."""
    match = _SCHEME.match(text)
    scheme = match.group(1)
    remainder = text[match.end():]
    cut = len(remainder)
    for char in "/?#":
        index = remainder.find(char)
        if index != -1:
            cut = min(cut, index)
    authority, rest = remainder[:cut], remainder[cut:]
    userinfo, sep, hostport = authority.rpartition("@")
    return scheme, (userinfo + sep), hostport, rest


def _split_hostport(hostport):
    if "," in hostport:
        raise ConnectionStringError("it names several hosts (a multi-host URL); repoint each host yourself")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            raise ConnectionStringError("its IPv6 host has no closing ]")
        host, port = hostport[1:end], hostport[end + 1:]
        if port and not port.startswith(":"):
            raise ConnectionStringError("unexpected text after its IPv6 host")
        port = port[1:]
    else:
        host, _sep, port = hostport.partition(":")
    if port and not port.isdigit():
        raise ConnectionStringError("its port is not a number")
    return host, (int(port) if port else None)


def _join_hostport(host, port):
    host_text = "[{0}]".format(host) if ":" in host else host
    return host_text if port is None else "{0}:{1}".format(host_text, port)


def _url_database(rest):
    path = rest.split("?", 1)[0].split("#", 1)[0]
    return path[1:] if path.startswith("/") and len(path) > 1 else None


def _url_with_database(rest, database):
    """The path, query and fragment of a URL with this database (None: no path)."""
    path_end = len(rest)
    for char in "?#":
        index = rest.find(char)
        if index != -1:
            path_end = min(path_end, index)
    return ("/" + database if database else "") + rest[path_end:]


def _pairs(text):
    """(key, raw value, start of the pair, start of the value, end) of each pair; ConnectionStringError when it is not one."""
    pairs, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _PAIR.match(text, position)
        if not match or match.end() == position:
            raise ConnectionStringError("it is neither a URL (scheme://...) nor libpq key=value pairs")
        pairs.append((match.group(1), match.group(2), match.start(1), match.start(2), match.end(2)))
        position = match.end()
    if not pairs:
        raise ConnectionStringError("it is empty")
    return pairs


def _unquote(raw):
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


def _quote(value):
    text = str(value)
    if text and not re.search(r"[\s'\\]", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_of(text):
    """URL or KEY_VALUE; ConnectionStringError for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ConnectionStringError("it is empty")
    if _SCHEME.match(text.strip()):
        return URL
    _pairs(text)
    return KEY_VALUE


def endpoint_of(text):
    """{"host", "port", "database"} of a connection string (port and database None when it does not name them)."""
    text = text.strip() if isinstance(text, str) else text
    if format_of(text) == URL:
        _scheme, _userinfo, hostport, rest = _url_parts(text)
        host, port = _split_hostport(hostport)
        return {"host": host or None, "port": port, "database": _url_database(rest)}
    values = dict((pair[0], _unquote(pair[1])) for pair in _pairs(text))
    port = values.get("port")
    if port is not None and not port.isdigit():
        raise ConnectionStringError("its port is not a number")
    if "," in values.get("host", ""):
        raise ConnectionStringError("it names several hosts; repoint each host yourself")
    return {"host": values.get("host") or values.get("hostaddr"), "port": int(port) if port else None,
            "database": values.get("dbname")}


def repoint(text, host, port=None, database=None):
    """The connection string with this host (and port, database when given); everything else unchanged.

    A port or database left None keeps the string's own; port 0 and database "" remove
    them (what putting back a string that named none needs). The result of repointing a
    string that already names this endpoint is the string itself.
    """
    if not host:
        raise ConnectionStringError("the new host is empty")
    text = text.strip()
    current = endpoint_of(text)
    port = current["port"] if port is None else (int(port) or None)
    database = current["database"] if database is None else (database or None)
    if format_of(text) == URL:
        scheme, userinfo, _hostport, rest = _url_parts(text)
        if database != current["database"]:
            rest = _url_with_database(rest, database)
        return "{0}://{1}{2}{3}".format(scheme, userinfo, _join_hostport(host, port), rest)
    replacements = {"host": host, "port": port, "dbname": database}
    pairs = _pairs(text)
    seen = set(pair[0] for pair in pairs)
    pieces, position = [], 0
    for key, raw, key_start, start, end in pairs:
        wanted = replacements.get(key)
        # hostaddr wins over host in libpq: the numeric address of the old server must go; so must a removed key.
        if key == "hostaddr" or (key in replacements and wanted is None):
            pieces.append(text[position:key_start])
            position = end
            continue
        if wanted is not None and _unquote(raw) != str(wanted):
            pieces.append(text[position:start])
            pieces.append(_quote(wanted))
            position = end
    pieces.append(text[position:])
    result = "".join(pieces).strip()
    for key in ("host", "port", "dbname"):
        if key not in seen and replacements[key] is not None:
            result += " {0}={1}".format(key, _quote(replacements[key]))
    return re.sub(r"\s{2,}", " ", result)


def masked(text):
    """The connection string with its password replaced by ********: what diffs and messages may show."""
    if not text:
        return text
    try:
        kind = format_of(text.strip())
    except ConnectionStringError:
        return MASK
    text = text.strip()
    if kind == URL:
        scheme, userinfo, hostport, rest = _url_parts(text)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":" + MASK + "@"
        # Passwords can also travel as a query parameter.
        rest = re.sub(r"(?i)([?&]password=)[^&#]*", lambda m: m.group(1) + MASK, rest)
        return "{0}://{1}{2}{3}".format(scheme, userinfo, hostport, rest)
    pieces, position = [], 0
    for key, _raw, _key_start, start, end in _pairs(text):
        if key == "password":
            pieces.append(text[position:start])
            pieces.append(MASK)
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


def describe_endpoint(endpoint):
    """host:port/database as people write it, for actions and messages."""
    if not endpoint:
        return "nothing"
    text = _join_hostport(endpoint.get("host") or "", endpoint.get("port"))
    return text + ("/" + endpoint["database"] if endpoint.get("database") else "")


# -- plans: where the string lives, what to write ----------------------------------------------------------

# Recorded on the Secret, or on the pod template, when this collection repoints the string: the
# restart that follows (restart role, restarted_after) replaces only pods started before it.
CHANGED_AT = "sre.runbooks/database-url-changed-at"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _json_pointer(key):
    return key.replace("~", "~0").replace("/", "~1")


def _plan(where, current_text, host, port, database, now):
    """The common part of both plans: endpoints before and after, masked strings, actions."""
    try:
        before = endpoint_of(current_text)
        # Surrounding whitespace (a Secret made from a file ends in a newline) stays as it was.
        stripped = current_text.strip()
        start = current_text.find(stripped)
        new_text = current_text[:start] + repoint(stripped, host, port=port, database=database) + current_text[start + len(stripped):]
    except ConnectionStringError as error:
        raise ConnectionStringError("{0} cannot be repointed: {1}".format(where, error)) from None
    after = endpoint_of(new_text)
    changed = new_text != current_text
    actions = []
    if changed:
        actions.append("point {0} from {1} to {2}".format(where, describe_endpoint(before), describe_endpoint(after)))
    return {
        "changed": changed,
        "actions": actions,
        "before": before,
        "after": after,
        "masked_before": masked(current_text),
        "masked_after": masked(new_text),
        "new_text": new_text,
        "changed_at": now if changed else None,
    }


def plan_secret(secret, key, host, port, database, now):
    """Plan repointing key of a Secret (a dict as the API returns it: data values in base64).

    The plan's patch is a JSON patch that first tests the old value, so a Secret
    changed by someone else in between is not overwritten.
    """
    metadata = secret.get("metadata") or {}
    where = "key {0} of Secret {1}/{2}".format(key, metadata.get("namespace"), metadata.get("name"))
    data = secret.get("data") or {}
    if key not in data:
        raise ConnectionStringError("Secret {0}/{1} has no key {2} (it has: {3})".format(
            metadata.get("namespace"), metadata.get("name"), key, ", ".join(sorted(data)) or "no keys"))
    try:
        current = base64.b64decode(data[key]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ConnectionStringError("{0} is not base64 of UTF-8 text".format(where)) from None
    plan = _plan(where, current, host, port, database, now)
    plan["where"] = where
    annotations = metadata.get("annotations") or {}
    plan["changed_at"] = now if plan["changed"] else annotations.get(CHANGED_AT)
    if plan["changed"]:
        patch = [{"op": "test", "path": "/data/" + _json_pointer(key), "value": data[key]},
                 {"op": "replace", "path": "/data/" + _json_pointer(key),
                  "value": base64.b64encode(plan["new_text"].encode("utf-8")).decode("ascii")}]
        if annotations:
            patch.append({"op": "add", "path": "/metadata/annotations/" + _json_pointer(CHANGED_AT), "value": now})
        else:
            patch.append({"op": "add", "path": "/metadata/annotations", "value": {CHANGED_AT: now}})
        plan["patch"] = patch
    return plan


def env_locations(template, env_name, container=None):
    """[(section, container index, env index, container name, entry)] of env_name in the template's containers.

    Init containers count too: a migration job in an init container reads the same URL.
    """
    spec = template.get("spec") or {}
    found = []
    for section in ("initContainers", "containers"):
        for c_index, item in enumerate(spec.get(section) or []):
            if container is not None and item.get("name") != container:
                continue
            for e_index, entry in enumerate(item.get("env") or []):
                if entry.get("name") == env_name:
                    found.append((section, c_index, e_index, item.get("name"), entry))
    return found


def plan_env(workload, what, env_name, container, host, port, database, now):
    """Plan repointing the env variable env_name in the workload's pod template.

    Every container (or the named one) that sets it gets the same new value. A value
    taken from a Secret (valueFrom.secretKeyRef) is refused, naming the Secret to
    repoint instead. Changing the template rolls out new pods; its restartedAt and
    CHANGED_AT annotations are set to the same time, so a restart with
    restarted_after=changed_at finds them new enough.
    """
    template = (workload.get("spec") or {}).get("template") or {}
    locations = env_locations(template, env_name, container)
    if not locations:
        raise ConnectionStringError("no {0} sets the env variable {1}".format(
            "container {0} of {1}".format(container, what) if container else "container of " + what, env_name))
    from_secret = [(name, entry) for _s, _c, _e, name, entry in locations if "value" not in entry]
    if from_secret:
        name, entry = from_secret[0]
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            raise ConnectionStringError("{0} of container {1} in {2} comes from key {3} of Secret {4}: repoint the Secret "
                                        "(secret={4}, key={3}) instead".format(env_name, name, what, ref.get("key"), ref.get("name")))
        raise ConnectionStringError("{0} of container {1} in {2} is not a literal value".format(env_name, name, what))
    values = set(entry.get("value") or "" for _s, _c, _e, _n, entry in locations)
    if len(values) > 1:
        raise ConnectionStringError("the containers of {0} set {1} to different values; name one with container".format(what, env_name))
    names = ", ".join(sorted(set(n for _s, _c, _e, n, _entry in locations)))
    where = "env {0} of container {1} in {2}".format(env_name, names, what)
    plan = _plan(where, values.pop(), host, port, database, now)
    plan["where"] = where
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    plan["changed_at"] = now if plan["changed"] else annotations.get(CHANGED_AT)
    if plan["changed"]:
        patch = []
        for section, c_index, e_index, _name, entry in locations:
            path = "/spec/template/spec/{0}/{1}/env/{2}/value".format(section, c_index, e_index)
            patch.append({"op": "test", "path": path, "value": entry.get("value")})
            patch.append({"op": "replace", "path": path, "value": plan["new_text"]})
        if annotations:
            for key in (CHANGED_AT, RESTARTED_AT):
                patch.append({"op": "add", "path": "/spec/template/metadata/annotations/" + _json_pointer(key), "value": now})
        else:
            if not template.get("metadata"):
                patch.append({"op": "add", "path": "/spec/template/metadata", "value": {}})
            patch.append({"op": "add", "path": "/spec/template/metadata/annotations", "value": {CHANGED_AT: now, RESTARTED_AT: now}})
        plan["patch"] = patch
    return plan
