"""sre.runbooks.rollback (undo, wait, health gate) against `kubectl rollout undo` + `kubectl rollout status`, on kubesim.

Before every run of either side the same bad release is staged on the same
simulator (same controller delays): the web deployment gets a crash-looping
image and the staging waits until its new pods crash. Ours is the rollback
playbook with an HTTP health gate on the sample app's /health; raw is the
runbook's `kubectl rollout undo` then `kubectl rollout status`, then a curl of
the same /health (the runbook's "/health returns 200" check).

Run alone: python -m tests.bench.benchmarks.k8s_rollback stage <kubeconfig> stages one bad release.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.harness import Benchmark

NAMESPACE = 'bench-rollback'
GOOD = 'nginx:1.25'
BAD = 'nginx:1.26-crashloop'
STAGE_TIMEOUT = 60


def _deployment():
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web', 'namespace': NAMESPACE},
        'spec': {'replicas': 3, 'selector': {'matchLabels': {'app': 'web'}},
                 'template': {'metadata': {'labels': {'app': 'web'}},
                              'spec': {'containers': [{'name': 'nginx', 'image': GOOD}]}}},
    }


def _kubectl(*args, env, stdin=None):
    return subprocess.run(['kubectl', *args], input=stdin, env=env, text=True, check=True, capture_output=True).stdout


def _crashing(env):
    """Whether a pod of the bad image has crashed at least once."""
    pods = json.loads(_kubectl('get', 'pods', '-n', NAMESPACE, '-l', 'app=web', '-o', 'json', env=env))['items']
    for pod in pods:
        if pod['spec']['containers'][0]['image'] != BAD or pod['metadata'].get('deletionTimestamp'):
            continue
        if any(s.get('restartCount') for s in pod.get('status', {}).get('containerStatuses', [])):
            return True
    return False


def stage(kubeconfig):
    """The bad release: set the crash-looping image, return once its new pods crash (untimed by the harness)."""
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    _kubectl('set', 'image', 'deployment/web', 'nginx=%s' % BAD, '-n', NAMESPACE, env=env)
    deadline = time.monotonic() + STAGE_TIMEOUT
    while not _crashing(env):
        if time.monotonic() > deadline:
            raise SystemExit('the bad release did not crash within %ds' % STAGE_TIMEOUT)
        time.sleep(0.2)


def benchmarks(stack, workdir):
    """kubesim with a 3-replica web deployment and the sample app for /health."""
    # Imported here: the staging entry point below runs without the engines.
    from tests.engines.sample_app import SampleApp  # pylint: disable=import-outside-toplevel
    from tests.sandbox.kubesim import start  # pylint: disable=import-outside-toplevel

    target = start(Path(workdir) / 'kubesim-rollback')
    stack.callback(target.close)
    app = SampleApp().start()
    stack.callback(app.stop)
    env = dict(os.environ, KUBECONFIG=str(target.kubeconfig), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    _kubectl('apply', '-f', '-', env=env, stdin=json.dumps({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}}))
    _kubectl('apply', '-f', '-', env=env, stdin=json.dumps(_deployment()))
    _kubectl('rollout', 'status', 'deployment/web', '-n', NAMESPACE, '--timeout=60s', env=env)

    health = '%s/health' % app.url
    checks = [{'name': 'web health', 'url': health}]
    extra = json.dumps({
        'kubeconfig': str(target.kubeconfig), 'rollback_name': 'web', 'rollback_namespace': NAMESPACE,
        # The rollback role's gate is the health_gate role's: without health_gate_http_checks it would run no gate.
        'health_gate_http_checks': checks,
    })
    ours = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', 'sre.runbooks.rollback', '-e', extra]
    raw = ['bash', '-c', 'kubectl rollout undo deployment/web -n {ns} && kubectl rollout status deployment/web -n {ns} --timeout=300s '
                         '&& curl -fsS -o /dev/null {health}'.format(ns=NAMESPACE, health=health)]
    prepare = [sys.executable, '-m', 'tests.bench.benchmarks.k8s_rollback', 'stage', str(target.kubeconfig)]
    return [Benchmark('rollback a bad release', 'kubectl rollout undo + rollout status + curl /health', ours, raw, env,
                      rounds=5, prepare=prepare)]


if __name__ == '__main__':
    if len(sys.argv) != 3 or sys.argv[1] != 'stage':
        raise SystemExit('usage: python -m tests.bench.benchmarks.k8s_rollback stage <kubeconfig>')
    stage(sys.argv[2])
