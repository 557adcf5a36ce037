"""Shared pytest set-up: the real engines, and a clear message when the environment is missing."""

import os

import pytest

pytest_plugins = ['tests.engines.pytest_plugin']


def _collection_roots():
    roots = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    missing = [p for p in roots if not os.path.isdir(os.path.join(p, 'ansible_collections'))]
    if not roots or missing:
        raise pytest.UsageError(
            'ANSIBLE_COLLECTIONS_PATH does not point at the installed collections (%s). '
            'Run the tests with `make test` (or `make units` / `make integration`), '
            'or run `make setup` and then `. scripts/env.sh` in this shell.' % (', '.join(missing) or 'unset'))
    return roots


def pytest_configure(config):  # pylint: disable=unused-argument
    """pytest-ansible (--ansible-unit-inject-only) imports collections from these paths; make sure they exist."""
    _collection_roots()
