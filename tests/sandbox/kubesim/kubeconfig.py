"""A kubeconfig pointing kubectl, the kubernetes client and kubernetes.core at a kubesim server."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

# kubesim does no authentication; a token keeps clients from looking for other credentials.
TOKEN = 'kubesim-token'


def kubeconfig(server_url: str, context: str = 'kubesim', namespace: str = 'default') -> dict:
    """The kubeconfig document: one cluster (plain http), one user with a dummy token, one context."""
    return {
        'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
        'clusters': [{'name': context, 'cluster': {'server': server_url}}],
        'users': [{'name': context, 'user': {'token': TOKEN}}],
        'contexts': [{'name': context, 'context': {'cluster': context, 'user': context, 'namespace': namespace}}],
        'current-context': context,
    }


def write_kubeconfig(path: Path | str, server_url: str, context: str = 'kubesim', namespace: str = 'default') -> Path:
    """Write the kubeconfig to `path` (mode 0600, as kubectl wants it) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server_url, context, namespace), sort_keys=False)
    partial = path.with_name(path.name + '.tmp')
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write(text)
    partial.replace(path)
    return path
