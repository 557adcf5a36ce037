#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_database_url
short_description: Point an application's database connection string (DATABASE_URL) at another host, port or database
version_added: 0.1.0
description:
  - The application side of a database cutover, as the runbooks do it after a restore ("update C(DATABASE_URL)", then
    restart). The connection string lives either in a key of a Secret (O(secret), O(key)) or in a literal env variable
    of a workload's pod template (O(name), O(env)).
  - Changes the host, and the port and database name when given, and nothing else. The user, the password and the
    parameters stay exactly as they were. URLs (C(postgresql://user:pass@host:5432/db?sslmode=require), any
    C(scheme://)) and libpq key/value strings (C(host=db port=5432 dbname=orders user=app)) are understood; a libpq
    C(hostaddr) is removed, since it would win over the new host.
  - Declarative. A string that already names the endpoint gives C(changed=false).
  - Writes a JSON patch that first tests the old value, so a string someone else changed in the meantime is never
    overwritten; the module fails instead.
  - Records the time of the change in the annotation C(sre.runbooks/database-url-changed-at) of the Secret or the
    pod template (RV(changed_at)). A Secret change reaches the pods only when they restart;
    M(sre.runbooks.k8s_rollout) with O(sre.runbooks.k8s_rollout#module:state=restarted) and
    O(sre.runbooks.k8s_rollout#module:restarted_after) set to RV(changed_at) restarts them exactly once, also when a
    first run stopped between the two steps. An env change rolls out new pods by itself; the template's
    C(kubectl.kubernetes.io/restartedAt) is set to the same time, so that restart finds nothing more to do.
  - Never returns or logs the connection string. Results and diffs carry the endpoint (host, port, database) and the
    string with its password replaced by C(********).
  - An env variable whose value comes from a Secret is refused, naming the Secret and key to repoint instead.
  - In check mode the patch is sent as a server-side dry run, so the API server validates it and stores nothing.
options:
  namespace:
    description: Namespace of the Secret or the workload.
    type: str
    required: true
  secret:
    description:
      - Name of the Secret that holds the connection string. Mutually exclusive with O(name).
    type: str
  key:
    description: The key of O(secret) that holds the connection string.
    type: str
    default: DATABASE_URL
  kind:
    description: Kind of the workload named by O(name).
    type: str
    choices: [Deployment, StatefulSet, DaemonSet, DeploymentConfig]
    default: Deployment
  name:
    description:
      - Name of the workload whose pod template sets the env variable O(env) to a literal value. Mutually exclusive
        with O(secret).
      - Every container and init container that sets O(env) gets the new value. They must agree on the current one;
        otherwise name one with O(container).
    type: str
  env:
    description: Name of the env variable that holds the connection string, with O(name).
    type: str
    default: DATABASE_URL
  container:
    description: With O(name), change O(env) in this container only.
    type: str
  host:
    description: The new host (a name or an address; an IPv6 address without brackets).
    type: str
    required: true
  port:
    description:
      - The new port. Left out, the string's own port (or none) stays.
      - V(0) removes the port from the string (the client's default applies), as putting back a string that named
        none needs.
    type: int
  database:
    description:
      - The new database name. Left out, the string's own database stays.
      - An empty string removes it from the string.
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - RBAC needs C(get) and C(patch) on the Secret, or on the workload.
  - A connection string with several hosts (C(postgresql://a:5432,b:5432/db)) is refused; repoint each host yourself.
  - The string in Git, Helm values or an external secret store is not changed; a later sync from there points the
    application back. Change it there too, or pause the sync during the incident.
seealso:
  - module: sre.runbooks.k8s_rollout
  - module: sre.runbooks.pg_pitr_restore
  - module: sre.runbooks.rds_pitr_restore
  - name: libpq connection strings
    description: The URL and key/value forms.
    link: https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Point the orders API's DATABASE_URL Secret at the restored RDS instance
  sre.runbooks.k8s_database_url:
    namespace: shop
    secret: orders-db
    key: DATABASE_URL
    host: orders-restored.abc123.eu-west-1.rds.amazonaws.com
    port: 5432
  register: repointed

- name: Restart the pods started before the change, once
  sre.runbooks.k8s_rollout:
    namespace: shop
    name: orders-api
    state: restarted
    restarted_after: "{{ repointed.changed_at }}"
  when: repointed.changed_at

- name: Repoint a literal env variable (its rollout starts by itself)
  sre.runbooks.k8s_database_url:
    namespace: shop
    name: orders-api
    env: DATABASE_URL
    host: 10.0.4.17
    port: 5433
    database: orders
"""

RETURN = r"""
where:
  description: Where the connection string lives.
  returned: success
  type: str
  sample: key DATABASE_URL of Secret shop/orders-db
endpoint_before:
  description: Host, port and database the string named before the module ran (port and database V(null) when it names none).
  returned: success
  type: dict
  sample: {"host": "db.internal", "port": 5432, "database": "orders"}
endpoint_after:
  description: Host, port and database it names after the module ran (in check mode, would name).
  returned: success
  type: dict
  sample: {"host": "10.0.4.17", "port": 5433, "database": "orders"}
changed_at:
  description:
    - When this collection last changed the string (the annotation C(sre.runbooks/database-url-changed-at)); the time of
      this change when the module changed it. V(null) when it never did.
    - Give it to M(sre.runbooks.k8s_rollout) as O(sre.runbooks.k8s_rollout#module:restarted_after).
  returned: success
  type: str
  sample: "2026-12-06T01:02:03Z"
resource_version:
  description: C(metadata.resourceVersion) of the Secret or workload after the change (in check mode, before it).
  returned: success
  type: str
  sample: "48213"
actions:
  description: What the module did, or in check mode would do. Empty when the string already names the endpoint.
  returned: success
  type: list
  elements: str
  sample:
    - point key DATABASE_URL of Secret shop/orders-db from db.internal:5432/orders to 10.0.4.17:5433/orders
diff:
  description: The connection string before and after, with its password replaced by C(********).
  returned: when diff mode is on
  type: dict
  sample:
    before: {"key DATABASE_URL of Secret shop/orders-db": "postgresql://app:********@db.internal:5432/orders"}
    after: {"key DATABASE_URL of Secret shop/orders-db": "postgresql://app:********@10.0.4.17:5433/orders"}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.database_url import ConnectionStringError, plan_env, plan_secret
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    JSON_PATCH,
    ROLLOUT_KINDS,
    apply_patch,
    call_api,
    describe,
    format_time,
    metadata_of,
    read_workload,
    to_dict,
    utc_now,
)


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        secret=dict(type="str", no_log=False),
        key=dict(type="str", default="DATABASE_URL", no_log=False),
        kind=dict(type="str", default="Deployment", choices=list(ROLLOUT_KINDS)),
        name=dict(type="str"),
        env=dict(type="str", default="DATABASE_URL"),
        container=dict(type="str"),
        host=dict(type="str", required=True),
        port=dict(type="int"),
        database=dict(type="str"),
    )
    return spec


def target_of(params):
    if params.get("secret"):
        return "key {0} of Secret {1}/{2}".format(params["key"], params["namespace"], params["secret"])
    return "env {0} of {1}".format(params["env"], describe(params["kind"], params["namespace"], params.get("name")))


def check_options(module):
    """Refuse bad input before connecting."""
    params = module.params
    problems = []
    if not params["host"].strip():
        problems.append("host is empty")
    if params.get("port") is not None and not 0 <= params["port"] < 65536:
        problems.append("port must be 1..65535 (or 0 to remove it), got {0}".format(params["port"]))
    if params.get("database") is not None and params["database"] != params["database"].strip():
        problems.append("database has surrounding white space")
    if params.get("container") and params.get("secret"):
        problems.append("container applies to an env variable (name), not to a Secret")
    if problems:
        raise RunbookError("repoint", target_of(params), "; ".join(problems))


def _read_secret(client, namespace, name):
    # The API's message names the Secret and the cause (not found, forbidden); never its data.
    resource = call_api("find the API of", "Secrets", client.resource, "Secret", "v1")
    return to_dict(call_api("read", "Secret {0}/{1}".format(namespace, name), client.get, resource, name=name, namespace=namespace))


def _patch_secret(client, namespace, name, patch):
    resource = call_api("find the API of", "Secrets", client.resource, "Secret", "v1")
    return to_dict(call_api("patch", "Secret {0}/{1}".format(namespace, name), client.patch, resource, patch, name=name,
                            namespace=namespace, content_type=JSON_PATCH))


def repoint_database_url(module, client):
    params = module.params
    now = format_time(utc_now())
    try:
        if params.get("secret"):
            current = _read_secret(client, params["namespace"], params["secret"])
            plan = plan_secret(current, params["key"], params["host"], params.get("port"), params.get("database"), now)
        else:
            current = read_workload(client, params["kind"], params["namespace"], params["name"])
            what = describe(params["kind"], params["namespace"], params["name"])
            plan = plan_env(current, what, params["env"], params.get("container"), params["host"], params.get("port"),
                            params.get("database"), now)
    except ConnectionStringError as error:
        raise RunbookError("repoint", target_of(params), str(error)) from None
    updated = current
    if plan["changed"]:
        if params.get("secret"):
            updated = _patch_secret(client, params["namespace"], params["secret"], plan["patch"])
        else:
            updated = apply_patch(client, params["kind"], current, JSON_PATCH, plan["patch"], "repoint " + plan["where"] + " in")
    # Read back (the dry run's answer in check mode): the string must name the new endpoint now.
    if params.get("secret"):
        check = plan_secret(updated, params["key"], params["host"], params.get("port"), params.get("database"), now)
    else:
        check = plan_env(updated, describe(params["kind"], params["namespace"], params["name"]), params["env"],
                         params.get("container"), params["host"], params.get("port"), params.get("database"), now)
    if check["changed"]:
        raise RunbookError("repoint", plan["where"], "the API server's answer still names {0}".format(check["before"]))
    return module.result(
        changed=plan["changed"],
        actions=plan["actions"],
        before={plan["where"]: plan["masked_before"]},
        after={plan["where"]: plan["masked_after"]},
        where=plan["where"],
        endpoint_before=plan["before"],
        endpoint_after=plan["after"],
        changed_at=plan["changed_at"],
        resource_version=metadata_of(updated).get("resourceVersion"),
    )


def main():
    module = RunbookModule(
        argument_spec=argument_spec(),
        required_libs=K8S_REQUIRED_LIBS,
        mutually_exclusive=[("secret", "name")],
        required_one_of=[("secret", "name")],
    )
    module.run(repoint_database_url, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
