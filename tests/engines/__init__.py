"""Real engines (PostgreSQL, moto, Prometheus, a sample app) started by the test suite itself.

Each engine is a small class with ``start()``/``stop()`` and context manager
support; ``tests.engines.pytest_plugin`` turns them into pytest fixtures and
``python -m tests.engines`` starts them detached for molecule and the sandbox.
"""
