# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Kubernetes client layer, reusing kubernetes.core.

The authentication options and the client come from kubernetes.core itself
(args_common.AUTH_ARG_SPEC and k8s.client.get_api_client), so option names,
aliases and the K8S_AUTH_* environment fallbacks behave exactly as in
kubernetes.core and a user's module_defaults for it work unchanged here.

Documentation: modules use
    extends_documentation_fragment:
      - kubernetes.core.k8s_auth_options
rather than a fragment of ours, so the documented options can never drift from
the ones this layer accepts.

Check mode lives here: the client returned by get_client() adds the server
side dry run (dry_run=All) to every write it makes, and dry_run_kwargs() gives
the same for calls made straight on a dynamic resource.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import traceback

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError

try:
    import kubernetes  # noqa: F401, pylint: disable=unused-import
    K8S_IMPORT_ERROR = None
except ImportError:
    K8S_IMPORT_ERROR = traceback.format_exc()

# For RunbookModule(required_libs=...): (import name, pip name, import error).
K8S_REQUIRED_LIBS = [("kubernetes", "kubernetes", K8S_IMPORT_ERROR)]

DRY_RUN_ALL = "All"


def k8s_argument_spec():
    """A copy of kubernetes.core's authentication options, to merge into a module's argument_spec."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def describe_api(params):
    """Name the API server for error messages, without secrets (kubeconfig may be an inline dict)."""
    host = params.get("host") or os.environ.get("K8S_AUTH_HOST")
    if host:
        return "Kubernetes API {0}".format(host)
    context = params.get("context") or os.environ.get("K8S_AUTH_CONTEXT")
    if context:
        return "Kubernetes API of context {0}".format(context)
    return "Kubernetes API (in-cluster or default kubeconfig)"


def get_client(module):
    """Return kubernetes.core's K8SClient for the module's auth options.

    Options left unset fall back to K8S_AUTH_* environment variables, then to
    in-cluster config, then to ~/.kube/config, all inside kubernetes.core.
    The client's writes (create, apply, patch, replace, delete) carry
    dry_run=All in check mode; its .client is the dynamic client.
    """
    if K8S_IMPORT_ERROR is not None:
        raise RunbookError("import", "the kubernetes Python library", "it is not installed; install it with 'pip install kubernetes'")
    # Pass only the auth options as keyword arguments: get_api_client(module=...)
    # expects kubernetes.core's own module class (requires(), server_side_dry_run).
    auth = dict((name, module.params.get(name)) for name in AUTH_ARG_SPEC)
    try:
        client = get_api_client(**auth)
    except Exception as error:  # pylint: disable=broad-exception-caught
        # Config errors, unreachable API server, TLS failures: all mean "could not connect".
        raise RunbookError("connect to", describe_api(module.params), error) from error
    client.dry_run = bool(module.check_mode)
    return client


def dry_run_kwargs(module):
    """Keyword arguments for a write made directly on a dynamic resource: dry_run=All in check mode."""
    if module.check_mode:
        return {"dry_run": DRY_RUN_ALL}
    return {}


def label_selector_string(selector):
    """A LabelSelector (matchLabels, matchExpressions) as the labelSelector query parameter; "" for none."""
    selector = selector or {}
    terms = ["{0}={1}".format(key, value) for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In":
            terms.append("{0} in ({1})".format(key, ",".join(values)))
        elif operator == "NotIn":
            terms.append("{0} notin ({1})".format(key, ",".join(values)))
        elif operator == "Exists":
            terms.append(key)
        elif operator == "DoesNotExist":
            terms.append("!" + key)
    return ",".join(terms)
