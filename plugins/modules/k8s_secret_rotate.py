#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_secret_rotate
short_description: Rotate a key of a Kubernetes Secret, keeping the previous version for a rollback, or roll it back
version_added: 0.1.0
description:
  - The runbooks' rotation of a leaked key (C(kubectl create secret ... --dry-run=client -o yaml | kubectl apply -f -)),
    made reversible and verifiable. O(state=rotated) sets O(key) of the Secret to a new value, given in O(value) or
    generated (O(generate)). O(state=rolled_back) puts an earlier version back.
  - Versions. The Secret carries its version number (annotation C(sre.runbooks/secret-version); a Secret never rotated
    by this module is version 0) and the time of its last rotation (C(sre.runbooks/rotated-at)). Before a change, the
    data of the current version is kept in a backup Secret C(<name>-v<version>) of the same type, labelled
    C(sre.runbooks/backup-of=<name>). Only the newest O(backup_retention) backups are kept.
  - Declarative. A given O(value) equal to the current one (compared by checksum) is no change. A generated value
    changes every run, unless O(rotated_after) says since when the Secret is fresh enough. A rollback to data the
    Secret already holds is no change.
  - The write is a JSON patch that first tests the data as read, so a Secret someone changed in the meantime is never
    overwritten; the module fails instead.
  - Finds the consumers, the Deployments, StatefulSets, DaemonSets and CronJobs of the namespace whose pods read the
    Secret (env C(valueFrom.secretKeyRef), C(envFrom), secret and projected volumes), and returns them in
    RV(consumers), so that they can be restarted (M(sre.runbooks.k8s_rollout) with
    O(sre.runbooks.k8s_rollout#module:restarted_after) set to RV(rotated_at)). The module restarts nothing itself.
  - Never returns or logs a value. Results, diffs and errors carry versions, names and checksums (the first 16 hex
    digits of the SHA-256 of a value).
  - In check mode the writes are sent as server-side dry runs, so the API server validates them but stores nothing.
options:
  namespace:
    description: Namespace of the Secret.
    type: str
    required: true
  name:
    description: Name of the Secret. It must exist.
    type: str
    required: true
  state:
    description:
      - V(rotated) sets O(key) to a new value.
      - V(rolled_back) puts the data of a backup back into the Secret, the newest backup of an earlier version, or the
        one of O(to_version). The data the Secret held is kept as a backup of its own version first.
    type: str
    choices: [rotated, rolled_back]
    default: rotated
  key:
    description: The key of the Secret's data to rotate. Required with O(state=rotated); created when the Secret lacks it.
    type: str
  value:
    description:
      - The new value. Mutually exclusive with O(generate).
      - Never shown; its checksum is.
    type: str
  generate:
    description:
      - Generate the new value from the operating system's random source.
      - Mutually exclusive with O(value).
    type: dict
    suboptions:
      length:
        description: Number of characters, at least 16.
        type: int
        default: 32
      charset:
        description: The characters to draw from.
        type: str
        choices: [alnum, hex, urlsafe, ascii_printable]
        default: alnum
  rotated_after:
    description:
      - With O(generate), rotate only if the Secret was last rotated (C(sre.runbooks/rotated-at)) before this time, an
        RFC 3339 timestamp such as C(2026-12-06T01:00:00Z), for example the time the leak was found. A second run with
        the same value then reports C(changed=false). A time in the future is refused.
      - Unset, every run with O(generate) rotates.
    type: str
  to_version:
    description: With O(state=rolled_back), the version to put back. Unset, the newest backup older than the current version.
    type: int
  backup:
    description: Keep the current version as a backup Secret before changing it. Without it, a rollback is impossible.
    type: bool
    default: true
  backup_retention:
    description: How many backups of this Secret to keep, newest first. Older ones are deleted after a rotation.
    type: int
    default: 3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - RBAC needs C(get), C(patch), C(list), C(create) and C(delete) on Secrets, and C(list) on Deployments, StatefulSets,
    DaemonSets and CronJobs of the namespace.
  - The backup Secrets hold the old values. They are as sensitive as the Secret itself; the retention keeps them few.
  - A CronJob reads the new value at its next run, and is listed in RV(consumers) with C(restartable=false).
  - Revoking the old key at its provider is not this module's job. The C(sre.runbooks.secret_rotation) role runs a
    revocation hook after the new key is verified.
seealso:
  - module: sre.runbooks.k8s_rollout
  - module: sre.runbooks.aws_secret_rotate
  - name: Secrets
    description: How pods consume Secrets, and when they see a change.
    link: https://kubernetes.io/docs/concepts/configuration/secret/
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Rotate the leaked payment API key (the new key issued by the provider)
  sre.runbooks.k8s_secret_rotate:
    namespace: shop
    name: payment-api
    key: API_KEY
    value: "{{ new_payment_key }}"
  register: rotated

- name: Restart what reads it, once
  sre.runbooks.k8s_rollout:
    namespace: shop
    kind: "{{ item.kind }}"
    name: "{{ item.name }}"
    state: restarted
    restarted_after: "{{ rotated.rotated_at }}"
  loop: "{{ rotated.consumers | selectattr('restartable') | list }}"
  when: rotated.rotated_at

- name: Generate a new session signing key, once since the leak was found
  sre.runbooks.k8s_secret_rotate:
    namespace: shop
    name: session
    key: SIGNING_KEY
    generate:
      length: 64
      charset: urlsafe
    rotated_after: "2026-12-06T01:00:00Z"

- name: Put the previous version back
  sre.runbooks.k8s_secret_rotate:
    namespace: shop
    name: payment-api
    state: rolled_back
"""

RETURN = r"""
version_before:
  description: The Secret's version before the module ran.
  returned: success
  type: int
  sample: 3
version_after:
  description: Its version after the module ran (in check mode, as it would be).
  returned: success
  type: int
  sample: 4
checksums_before:
  description: Checksum of each key's value before (the first 16 hex digits of its SHA-256).
  returned: success
  type: dict
  sample: {"API_KEY": "9f86d081884c7d65"}
checksums_after:
  description: Checksum of each key's value after (in check mode, as it would be).
  returned: success
  type: dict
  sample: {"API_KEY": "60303ae22b998861"}
rotated_at:
  description:
    - When the Secret was last rotated or rolled back (C(sre.runbooks/rotated-at)); the time of this change when the
      module changed it; V(null) when this module never changed it.
    - Give it to M(sre.runbooks.k8s_rollout) as O(sre.runbooks.k8s_rollout#module:restarted_after).
  returned: success
  type: str
  sample: "2026-12-06T01:02:03Z"
backup:
  description: The backup Secret that holds the version before the change (created now, or already there); V(null) without one.
  returned: success
  type: dict
  contains:
    name:
      description: Its name.
      type: str
      sample: payment-api-v3
    version:
      description: The version it holds.
      type: int
      sample: 3
  sample: {"name": "payment-api-v3", "version": 3}
backups:
  description: The backups of the Secret after the module ran, newest first, with versions, times and checksums.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "payment-api-v3", "version": 3, "rotated_at": "2026-11-01T08:00:00Z", "checksums": {"API_KEY": "9f86d081884c7d65"}}]
pruned:
  description: Backup Secrets deleted by the retention.
  returned: success
  type: list
  elements: str
  sample: [payment-api-v0]
consumers:
  description: The workloads of the namespace whose pods read the Secret, and how.
  returned: success
  type: list
  elements: dict
  sample:
    - {"kind": "Deployment", "name": "checkout", "via": ["env PAYMENT_KEY of container app (key API_KEY)"], "restartable": true}
    - {"kind": "CronJob", "name": "settle", "via": ["envFrom of container job"], "restartable": false}
to_version:
  description: With O(state=rolled_back), the version put back.
  returned: when O(state=rolled_back)
  type: int
  sample: 3
actions:
  description: What the module did, or in check mode would do. Empty when nothing needed changing.
  returned: success
  type: list
  elements: str
  sample:
    - keep version 3 of Secret shop/payment-api as Secret payment-api-v3
    - set API_KEY of Secret shop/payment-api to a new value (checksum 9f86d081884c7d65 -> 60303ae22b998861), version 3 -> 4
diff:
  description: Versions and checksums before and after, never values.
  returned: when diff mode is on
  type: dict
  sample:
    before: {"version": 3, "checksums": {"API_KEY": "9f86d081884c7d65"}}
    after: {"version": 4, "checksums": {"API_KEY": "60303ae22b998861"}}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    JSON_PATCH,
    call_api,
    format_time,
    parse_time,
    to_dict,
    utc_now,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.secrets import (
    BACKUP_OF,
    CHARSETS,
    CONSUMER_KINDS,
    DEFAULT_CHARSET,
    DEFAULT_LENGTH,
    MIN_LENGTH,
    RotationError,
    backup_summary,
    backups_of,
    consumers,
    data_checksums,
    generate,
    plan_rollback,
    plan_rotation,
)

ROTATED = "rotated"
ROLLED_BACK = "rolled_back"


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", default=ROTATED, choices=[ROTATED, ROLLED_BACK]),
        key=dict(type="str", no_log=False),
        value=dict(type="str", no_log=True),
        generate=dict(type="dict", options=dict(
            length=dict(type="int", default=DEFAULT_LENGTH),
            charset=dict(type="str", default=DEFAULT_CHARSET, choices=sorted(CHARSETS)),
        )),
        rotated_after=dict(type="str"),
        to_version=dict(type="int"),
        backup=dict(type="bool", default=True),
        backup_retention=dict(type="int", default=3),
    )
    return spec


def target_of(params):
    return "Secret {0}/{1}".format(params["namespace"], params["name"])


def check_options(module):
    """Refuse bad input before connecting."""
    params = module.params
    problems = []
    if params["state"] == ROTATED:
        if not params.get("key"):
            problems.append("state=rotated needs key")
        if params.get("value") is None and params.get("generate") is None:
            problems.append("state=rotated needs value or generate")
        if params.get("value") == "":
            problems.append("value is empty")
        if params.get("generate") and params["generate"]["length"] < MIN_LENGTH:
            problems.append("generate.length must be at least {0}".format(MIN_LENGTH))
    else:
        problems.extend("{0} applies to state=rotated only".format(o) for o in ("value", "generate", "rotated_after")
                        if params.get(o) is not None)
    if params.get("rotated_after") is not None:
        if params.get("generate") is None:
            problems.append("rotated_after applies to generated values; a given value is compared by checksum")
        try:
            if parse_time(params["rotated_after"]) > utc_now():
                problems.append("rotated_after {0} is in the future".format(params["rotated_after"]))
        except ValueError:
            problems.append("rotated_after {0!r} is not an RFC 3339 time".format(params["rotated_after"]))
    if params["backup_retention"] < 1:
        problems.append("backup_retention must be 1 or more")
    if problems:
        raise RunbookError("rotate" if params["state"] == ROTATED else "roll back", target_of(params), "; ".join(problems))


def read_consumers(client, namespace, name):
    found = {}
    for kind, api_version, _path in CONSUMER_KINDS:
        try:
            resource = client.resource(kind, api_version)
        except Exception:  # pylint: disable=broad-exception-caught
            continue  # not served here (an API server without batch/v1 CronJobs): nothing of that kind reads it
        found[kind] = (to_dict(call_api("list {0}s in".format(kind), "namespace " + namespace, client.get, resource, namespace=namespace))
                       or {}).get("items") or []
    return consumers(found, name)


def rotate_secret(module, client):
    params = module.params
    namespace, name = params["namespace"], params["name"]
    what = target_of(params)
    action = "rotate" if params["state"] == ROTATED else "roll back"
    secrets_api = call_api("find the API of", "Secrets", client.resource, "Secret", "v1")
    secret = to_dict(call_api("read", what, client.get, secrets_api, name=name, namespace=namespace))
    listed = to_dict(call_api("list the backups of", what, client.get, secrets_api, namespace=namespace,
                              label_selector="{0}={1}".format(BACKUP_OF, name[:63])))
    backups = backups_of(name, (listed or {}).get("items") or [])
    now = format_time(utc_now())
    try:
        if params["state"] == ROTATED:
            generated = None
            if params.get("value") is None:
                generated = generate(params["generate"]["length"], params["generate"]["charset"])
            plan = plan_rotation(secret, params["key"], value=params.get("value"), generated=generated,
                                 rotated_after=parse_time(params["rotated_after"]) if params.get("rotated_after") else None,
                                 now=now, parse_time=parse_time, backups=backups, backup=params["backup"],
                                 retention=params["backup_retention"])
        else:
            plan = plan_rollback(secret, backups, to_version=params.get("to_version"), now=now, backup=params["backup"])
    except RotationError as error:
        raise RunbookError(action, what, str(error)) from None

    checksums_before = data_checksums(secret)
    after = secret
    pruned = []
    if plan["changed"]:
        if plan["backup"] is not None:
            call_api("keep the current version of", what, client.create, secrets_api, plan["backup"], namespace=namespace)
        after = to_dict(call_api(action, what, client.patch, secrets_api, plan["patch"], name=name, namespace=namespace,
                                 content_type=JSON_PATCH))
        for old in plan["prune"]:
            call_api("delete the old backup", "Secret {0}/{1}".format(namespace, old), client.delete, secrets_api, name=old, namespace=namespace)
            pruned.append(old)
    # Read back (in check mode, the dry run's answer): the data must be what the plan said.
    checksums_after = data_checksums(after)
    if params["state"] == ROTATED and checksums_after.get(params["key"]) != plan["checksum_after"]:
        raise RunbookError(action, what, "the API server's answer holds checksum {0}, not {1}".format(
            checksums_after.get(params["key"]), plan["checksum_after"]))
    if params["state"] == ROLLED_BACK and checksums_after != plan["checksums_after"]:
        raise RunbookError(action, what, "the API server's answer does not hold version {0}'s data".format(plan["to_version"]))

    kept = ([plan["backup"]] if plan["backup"] is not None and not module.check_mode else []) + backups
    kept = [b for b in kept if b["metadata"]["name"] not in plan["prune"]]
    summaries = sorted((backup_summary(b) for b in kept), key=lambda b: b["version"], reverse=True)
    backup = next(({"name": b["name"], "version": b["version"]} for b in summaries if b["version"] == plan["version_before"]), None)
    if backup is None and plan["backup"] is not None:
        backup = {"name": plan["backup"]["metadata"]["name"], "version": plan["version_before"]}
    values = dict(
        version_before=plan["version_before"],
        version_after=plan["version_after"],
        checksums_before=checksums_before,
        checksums_after=checksums_after,
        rotated_at=plan["rotated_at"],
        backup=backup,
        backups=summaries,
        pruned=pruned if not module.check_mode else list(plan["prune"]),
        consumers=read_consumers(client, namespace, name),
    )
    if params["state"] == ROLLED_BACK:
        values["to_version"] = plan["to_version"]
    before = {"version": plan["version_before"], "checksums": checksums_before}
    after_view = {"version": plan["version_after"], "checksums": checksums_after}
    return module.result(changed=plan["changed"], actions=plan["actions"], before=before if plan["changed"] else None,
                         after=after_view if plan["changed"] else None, **values)


def main():
    module = RunbookModule(
        argument_spec=argument_spec(),
        required_libs=K8S_REQUIRED_LIBS,
        mutually_exclusive=[("value", "generate")],
    )
    module.run(rotate_secret, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
