# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Incident lifecycle filters: severity names, notice texts, and what the policy says is due now.

The roles notify and incident call them; the logic is in
module_utils/incident (policy.py, messages.py), unit-tested with a fake clock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.module_utils.incident.messages import render_message
from ansible_collections.sre.runbooks.plugins.module_utils.incident.policy import (
    PolicyError,
    escalation_due,
    format_time,
    normalize_severity,
    update_due,
    utc_now,
)


def incident_severity(value):
    """P0..P3 from P0..P3 or SEV1..SEV4."""
    try:
        return normalize_severity(value)
    except PolicyError as exc:
        raise AnsibleFilterError(str(exc))


def incident_time(value=None):
    """The time as 2025-11-04T10:00:00Z (UTC); empty means now (the injectable clock of roles/incident)."""
    try:
        return format_time(value) if value else format_time(utc_now())
    except PolicyError as exc:
        raise AnsibleFilterError(str(exc))


def incident_message(incident, event, text="", now=None, details=None):
    """The notice text of `event` for the incident record (the runbooks' communication templates)."""
    try:
        return render_message(event, dict(incident or {}), text=text, now=now, details=dict(details or {}))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def incident_due(incident, policy, now, immediate=None):
    """{"escalation": escalation_due(...), "status_update": update_due(...)} at `now` (an ISO time: the clock is injectable)."""
    try:
        return {"escalation": escalation_due(dict(incident), dict(policy), now, immediate=immediate or None),
                "status_update": update_due(dict(incident), dict(policy), now)}
    except (PolicyError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("cannot evaluate the incident policy: {0}".format(exc))


class FilterModule(object):
    """Incident lifecycle filters."""

    def filters(self):
        return {
            "incident_severity": incident_severity,
            "incident_message": incident_message,
            "incident_due": incident_due,
            "incident_time": incident_time,
        }
