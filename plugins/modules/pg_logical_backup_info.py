#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_logical_backup_info
short_description: List the logical PostgreSQL backups in S3 and find the latest
version_added: 0.1.0
description:
  - Lists the backups M(sre.runbooks.pg_logical_backup) wrote under O(bucket)/O(prefix), each described by its
    manifest (checksum, size, database, versions, dump times, table and row counts), newest first, and returns the
    latest usable backup, optionally of one O(database).
  - A backup is usable when its manifest reads and its dump object is there with the manifest's size. Its checksum is
    verified by M(sre.runbooks.pg_logical_restore) on download, not here (that would mean reading every dump).
  - Evidence dumps taken by M(sre.runbooks.pg_logical_restore) before replacing a database are listed with
    RV(backups[].kind=evidence) but are never RV(latest), so that restoring "the latest" never brings back the state
    a restore replaced.
  - Dumps without a manifest (an upload that did not finish) are listed in RV(incomplete).
  - Read-only.
options:
  bucket:
    description:
      - Name of the S3 bucket holding the backups.
    type: str
    required: true
  prefix:
    description:
      - Only keys starting with this prefix, taken literally (end it with C(/) for a folder).
    type: str
    default: ''
  database:
    description:
      - Only backups of this database (the manifest's database, whatever the key).
    type: str
  include_tables:
    description:
      - Return each backup's table list with its row counts in RV(backups[].tables).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Needs C(s3:ListBucket) and C(s3:GetObject). Reads every manifest under the prefix, one request each.
seealso:
  - module: sre.runbooks.pg_logical_backup
  - module: sre.runbooks.pg_logical_restore
  - module: amazon.aws.s3_object_info
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Find the latest backup of the orders database
  sre.runbooks.pg_logical_backup_info:
    region: eu-west-1
    bucket: acme-db-backups
    prefix: postgres/
    database: orders
  register: backups

- name: Fail when there is no backup of the last 26 hours
  ansible.builtin.assert:
    that:
      - backups.latest is not none
      - backups.latest_age_seconds < 93600
    fail_msg: "No recent logical backup of orders under s3://acme-db-backups/postgres/"
"""

RETURN = r"""
bucket:
  description: The bucket.
  returned: always
  type: str
prefix:
  description: The prefix listed.
  returned: always
  type: str
backups:
  description: The backups found, newest first (by the end of their dump).
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: Key of the dump.
      type: str
      sample: postgres/orders/orders-20261122T142334Z.dump
    manifest_key:
      description: Key of its manifest.
      type: str
    kind:
      description: V(backup), or V(evidence) for a dump taken before a restore replaced a database.
      type: str
      sample: backup
    database:
      description: The database dumped.
      type: str
    sha256:
      description: SHA-256 of the dump, from the manifest.
      type: str
    size_bytes:
      description: Size of the dump, from the manifest.
      type: int
    server_version:
      description: Version of the server dumped.
      type: str
    pg_dump_version:
      description: Version of C(pg_dump).
      type: str
    started_at:
      description: When the dump started, ISO 8601 in UTC.
      type: str
    finished_at:
      description: When the dump finished, ISO 8601 in UTC.
      type: str
    last_modified:
      description: When the dump object was last written, ISO 8601 in UTC.
      type: str
    table_count:
      description: Number of tables in the dump.
      type: int
    total_rows:
      description: Rows in all its tables.
      type: int
    tables:
      description: The tables with their row counts, when O(include_tables=true).
      type: list
      elements: dict
    usable:
      description: Whether the manifest reads and the dump object is there with its size.
      type: bool
    problems:
      description: Why the backup is not usable.
      type: list
      elements: str
latest:
  description: The newest usable backup (never an evidence dump), as in RV(backups); V(null) when there is none.
  returned: always
  type: dict
latest_age_seconds:
  description: Seconds since the latest backup's dump finished; V(null) without one.
  returned: always
  type: float
  sample: 3600.5
incomplete:
  description: Keys of dumps under the prefix that have no manifest (an upload that did not finish).
  returned: always
  type: list
  elements: str
"""

import calendar
import time

from ansible_collections.sre.runbooks.plugins.module_utils.aws.client import AWS_REQUIRED_LIBS, aws_argument_spec, get_boto3_client
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.postgres import logical


def argument_spec():
    spec = aws_argument_spec()
    spec.update(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        database=dict(type="str"),
        include_tables=dict(type="bool", default=False),
    )
    return spec


def age_seconds(iso, now):
    """Seconds from an ISO 8601 UTC time ('2026-11-22T14:23:34Z') to now; None stays None."""
    if not iso:
        return None
    return round(now - calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")), 1)


def connect_s3(module):
    return get_boto3_client(module, "s3")


def report_backups(module, s3):
    params = module.params
    logical.require_bucket(s3, params["bucket"])
    entries, incomplete = logical.list_backups(s3, params["bucket"], params["prefix"], params["include_tables"])
    backups, latest = logical.summarise_backups(entries, params["database"])
    return module.result(changed=False, bucket=params["bucket"], prefix=params["prefix"], backups=backups, latest=latest,
                         latest_age_seconds=age_seconds(latest["finished_at"], time.time()) if latest else None, incomplete=incomplete)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=AWS_REQUIRED_LIBS)
    module.run(report_backups, connect=connect_s3)


if __name__ == "__main__":
    main()
