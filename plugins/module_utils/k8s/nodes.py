# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Nodes on the Kubernetes API: the reads and writes of k8s_node_drain and k8s_node_drain_info.

The only code of the drain that talks to the API; the rules are in drain.py.
Every failure is a RunbookError naming what was attempted on what. Writes made
with the K8SClient (cordon, uncordon) carry the server-side dry run in check
mode; evictions and deletions are never sent in check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.diagnostics import core_api
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.drain import plan_drain, pod_key
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import api_error_text, list_objects

MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "sre.runbooks"
EVICTION_API = "policy/v1"


def node_text(name):
    return "node {0}".format(name)


def status_cause(error):
    """The API's message of a failed request, with the causes of its Status (a 429's DisruptionBudget cause)."""
    text = api_error_text(error)
    body = getattr(error, "body", None)
    try:
        causes = (json.loads(body).get("details") or {}).get("causes") or [] if body else []
    except (TypeError, ValueError, AttributeError):
        causes = []
    messages = [c.get("message") for c in causes if c.get("message")]
    return "{0}: {1}".format(text, "; ".join(messages)) if messages else text


def grace_kwargs(grace_period):
    return {} if grace_period is None else {"grace_period_seconds": grace_period}


class NodeApi(object):
    """Reads and writes for one module run. core_factory makes the CoreV1Api (for evictions) from the client."""

    def __init__(self, module, client, core_factory=core_api):
        self.module = module
        self.client = client
        self._core_factory = core_factory
        self._core = None

    @property
    def core(self):
        if self._core is None:
            self._core = self._core_factory(self.client)
        return self._core

    def _resource(self, kind, api_version):
        try:
            return self.client.resource(kind, api_version)
        except Exception as error:  # pylint: disable=broad-exception-caught
            raise RunbookError("find the API of", "{0} {1}".format(api_version, kind), api_error_text(error)) from error

    def read_node(self, name, action):
        """The Node as a dict; RunbookError(action, node, "it does not exist") when there is none."""
        resource = self._resource("Node", "v1")
        try:
            return self.client.get(resource, name=name).to_dict()
        except Exception as error:  # pylint: disable=broad-exception-caught
            if getattr(error, "status", None) == 404:
                raise RunbookError(action, node_text(name), "it does not exist") from error
            raise RunbookError("read", node_text(name), api_error_text(error)) from error

    def set_unschedulable(self, name, value):
        """Cordon (True) or uncordon (False) the node; the Node the API returns (a dry run in check mode)."""
        resource = self._resource("Node", "v1")
        body = {"spec": {"unschedulable": True if value else None}}
        try:
            return self.client.patch(resource, body, name=name, content_type=MERGE_PATCH, field_manager=FIELD_MANAGER).to_dict()
        except Exception as error:  # pylint: disable=broad-exception-caught
            raise RunbookError("cordon" if value else "uncordon", node_text(name), api_error_text(error)) from error

    def node_pods(self, name, pod_selector=None):
        params = {"field_selector": "spec.nodeName={0}".format(name)}
        if pod_selector:
            params["label_selector"] = pod_selector
        return list_objects(self.client, "Pod", "v1", None, node_text(name), **params)

    def all_pods(self):
        return list_objects(self.client, "Pod", "v1", None, "the cluster")

    def nodes(self):
        return list_objects(self.client, "Node", "v1", None, "the cluster")

    def pdbs(self):
        return list_objects(self.client, "PodDisruptionBudget", EVICTION_API, None, "the cluster")

    def daemonsets(self):
        return set(pod_key(ds) for ds in list_objects(self.client, "DaemonSet", "apps/v1", None, "the cluster"))

    def read_plan(self, node, params):
        """plan_drain() of the node with the cluster as it is now; also returns every pod read (for the wait)."""
        name = (node.get("metadata") or {}).get("name")
        node_pods = self.node_pods(name, params.get("pod_selector"))
        all_pods = self.all_pods()
        plan = plan_drain(node, node_pods, self.nodes(), all_pods, self.pdbs(), self.daemonsets(), params)
        return plan, node_pods, all_pods

    # The calls below run in worker threads: they raise the client's exceptions and the caller words them.

    def evict(self, pod, grace_period=None):
        meta = pod["metadata"]
        body = {"apiVersion": EVICTION_API, "kind": "Eviction", "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
        if grace_period is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period}
        self.core.create_namespaced_pod_eviction(meta["name"], meta["namespace"], body)

    def delete(self, pod, grace_period=None):
        meta = pod["metadata"]
        self.core.delete_namespaced_pod(meta["name"], meta["namespace"], **grace_kwargs(grace_period))

    def pod_uid(self, pod):
        """The uid of the pod of that name now, or None when there is none."""
        meta = pod["metadata"]
        try:
            current = self.core.read_namespaced_pod(meta["name"], meta["namespace"])
        except Exception as error:  # pylint: disable=broad-exception-caught
            if getattr(error, "status", None) == 404:
                return None
            raise
        return current.metadata.uid
