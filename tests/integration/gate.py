"""The health gate as the integration tests configure it: the real Prometheus scraping the sample app.

Not in conftest.py: pytest loads conftest.py before pytest-ansible makes the
collection importable, and these need its PromQL builders.
"""

from ansible_collections.sre.runbooks.plugins.module_utils.health.promql import error_rate_query, label_matchers
from tests.engines.prometheus import JOB_NAME

# The runbooks' 5m rate windows, shortened so that the measurements settle in seconds.
RATE_WINDOW = '15s'
ERROR_RATE = error_rate_query(label_matchers(job=JOB_NAME), RATE_WINDOW)


def gate_vars(prometheus, app=None, wait_timeout=30, **overrides):
    """The roles' health_gate_* variables: the runbook presets on the sample app's job, its /health when `app` is given, a short window."""
    values = dict(health_gate_prometheus_url=prometheus.url, health_gate_job=JOB_NAME, health_gate_rate_window=RATE_WINDOW,
                  health_gate_wait_timeout=wait_timeout, health_gate_retry_interval=2)
    if app is not None:
        values['health_gate_http_checks'] = [{'url': app.url + '/health', 'name': '/health'}]
    values.update(overrides)
    return values
