"""Errors shared by the engines."""


class EngineUnavailable(Exception):
    """A prerequisite of an engine (binary, Python package) is missing.

    The message says what is missing and how to install it. The pytest fixtures
    turn it into a loud failure, never a skip: a suite that silently skips its
    integration tests on a badly provisioned machine looks green and proves nothing.
    """
