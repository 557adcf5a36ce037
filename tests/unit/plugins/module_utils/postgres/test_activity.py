# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.postgres.activity import connection_counts, count, is_client


@pytest.mark.parametrize("row, expected", [
    (dict(backend_type="client backend", datname="app"), True),
    (dict(backend_type="walsender", datname=None), False),
    (dict(backend_type="walsender", datname="app"), False),  # logical replication sender attached to a database
    (dict(backend_type="autovacuum worker", datname="app"), False),
    (dict(backend_type="parallel worker", datname="app"), False),
    (dict(backend_type=None, datname="app"), True),  # another role's session, hidden from us
    (dict(backend_type=None, datname=None), False),
])
def test_is_client(row, expected):
    assert is_client(row) is expected


def test_count():
    assert count(["idle", "active", "idle"]) == {"idle": 2, "active": 1}
    assert count([]) == {}


def test_connection_counts_only_clients_and_unknown_state():
    rows = [
        dict(backend_type="client backend", datname="app", state="idle"),
        dict(backend_type="client backend", datname="app", state="active"),
        dict(backend_type="client backend", datname="app", state="idle"),
        dict(backend_type=None, datname="app", state=None),
        dict(backend_type="walsender", datname=None, state="streaming"),
        dict(backend_type="checkpointer", datname=None, state=None),
    ]
    assert connection_counts(rows) == {"total": 4, "by_state": {"idle": 2, "active": 1, "unknown": 1}}
