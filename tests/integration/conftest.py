"""Fixtures for the Kubernetes integration tests: kubectl against kubesim or the cluster of $KUBECONFIG.

The tests assert what a real Kubernetes 1.32 cluster answers. They run against
the simulator (tests/sandbox/kubesim) by default and, unchanged, against a real
cluster when KUBECONFIG names a kubeconfig file (see docs/kubesim.md).
Each test works in its own namespace, so the tests can run in any order
against one shared API.
"""

import base64
import dataclasses
import json
import os
import re
import secrets
import string
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

KUBECTL = '/usr/bin/kubectl'
MANIFESTS = Path(__file__).parent / 'manifests'
ROLLOUT_TIMEOUT = '90s'
REVISION = 'deployment.kubernetes.io/revision'
CHANGE_CAUSE = 'kubernetes.io/change-cause'
LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'
FAILED_TASK = 2  # ansible-playbook's exit status when a task failed
SIMULATOR_ONLY_REASON = 'needs kubesim fault injection (KUBECONFIG points at a real cluster)'


def pytest_configure(config):
    """Markers of the Kubernetes tests (pytest.ini registers `kubernetes`)."""
    config.addinivalue_line('markers', 'simulator_only: needs kubesim (fault injection, simulator-only answers); skipped on a real cluster')


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy and return that; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %ss waiting for %s (last value: %r)' % (timeout, what, last))
        time.sleep(interval)


def b64(text: str) -> str:
    """Base64 of a UTF-8 string, as Secret data holds it."""
    return base64.b64encode(text.encode()).decode()


def manifest_text(manifest: str, **substitutions) -> str:
    """A file of manifests/ with its `${key}` placeholders filled in (a missing one is an error)."""
    return string.Template((MANIFESTS / manifest).read_text(encoding='utf-8')).substitute(substitutions)


@dataclasses.dataclass
class Kube:
    """The Kubernetes API under test, and kubectl pointed at it."""

    kubeconfig: Path
    env: dict
    is_simulator: bool
    admin: Optional[Any] = None

    def kubectl(self, *args, input=None, check=True, timeout=120):  # pylint: disable=redefined-builtin
        """Run the unmodified kubectl; with `check`, a non-zero exit fails the test showing its output."""
        proc = subprocess.run([KUBECTL, *map(str, args)], input=input, env=self.full_env(), capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError('kubectl %s exited %d\nstdout:\n%s\nstderr:\n%s' % (' '.join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def popen(self, *args, stdout):
        """Start kubectl in the background (stdout and stderr into the file object `stdout`)."""
        return subprocess.Popen([KUBECTL, *map(str, args)], env=self.full_env(), stdout=stdout, stderr=subprocess.STDOUT, text=True)

    def full_env(self):
        """The caller's environment with the variables pointing at this API."""
        return dict(os.environ, **self.env)

    def json(self, *args):
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl('get', *args, '-o', 'json').stdout)

    def exists(self, *args):
        """Whether `kubectl get <args>` finds the object."""
        proc = self.kubectl('get', *args, '-o', 'name', check=False)
        if proc.returncode == 0:
            return True
        assert 'NotFound' in proc.stderr or 'not found' in proc.stderr, proc.stderr
        return False

    def apply(self, namespace, manifest, **substitutions):
        """`kubectl apply -n <namespace> -f -` of a file of manifests/, its `${key}` placeholders filled in."""
        return self.kubectl('apply', '-n', namespace, '-f', '-', input=manifest_text(manifest, **substitutions))

    def schedulable_nodes(self):
        """Names of the Ready nodes new pods can go to (not cordoned, no NoSchedule/NoExecute taint)."""
        names = []
        for node in self.json('nodes')['items']:
            if node['spec'].get('unschedulable'):
                continue
            if any(t.get('effect') in ('NoSchedule', 'NoExecute') for t in node['spec'].get('taints', [])):
                continue
            ready = [c for c in node.get('status', {}).get('conditions', []) if c['type'] == 'Ready']
            if ready and ready[0]['status'] == 'True':
                names.append(node['metadata']['name'])
        return names


def _simulator_admin(kubeconfig: Path):
    """kubesim's admin client for the server of `kubeconfig`."""
    from tests.sandbox.kubesim import KubesimAdmin  # pylint: disable=import-outside-toplevel
    return KubesimAdmin.from_kubeconfig(kubeconfig)


@pytest.fixture(scope='session')
def kube(kube_target):
    """The API of the session: kubesim, or the real cluster of $KUBECONFIG."""
    is_simulator = kube_target.source == 'kubesim'
    return Kube(kubeconfig=Path(kube_target.kubeconfig), env=kube_target.env(), is_simulator=is_simulator,
                admin=_simulator_admin(Path(kube_target.kubeconfig)) if is_simulator else None)


def require_simulator(kube):
    """Skip the calling test unless it runs against kubesim."""
    if not kube.is_simulator:
        pytest.skip(SIMULATOR_ONLY_REASON)


@pytest.fixture(autouse=True)
def _simulator_only(request):
    """Honour @pytest.mark.simulator_only (starts the API only for the tests that carry it)."""
    if request.node.get_closest_marker('simulator_only'):
        require_simulator(request.getfixturevalue('kube'))


simulator_only = pytest.mark.simulator_only


@pytest.fixture
def real_backoff(kube):
    """kubesim's crash-loop back-off as long as a kubelet's, so a crash-looping container stays in CrashLoopBackOff while read."""
    require_simulator(kube)
    saved = kube.admin.config()['crashloop_backoff_seconds']
    kube.admin.config(crashloop_backoff_seconds=60.0)
    yield
    kube.admin.config(crashloop_backoff_seconds=saved)


def _namespace_name(test_name: str) -> str:
    """`t-<test name as a DNS label>-<4 hex>`, at most 63 characters."""
    name = re.sub(r'[^a-z0-9]+', '-', test_name.lower().removeprefix('test_')).strip('-')
    return 't-%s-%s' % (name[:54].rstrip('-') or 'x', secrets.token_hex(2))


@pytest.fixture
def namespace(kube, request):
    """A fresh namespace for the test, deleted (without waiting) afterwards."""
    name = _namespace_name(request.node.name)
    # `kubectl apply`, not `kubectl create namespace`: kubectl create sends protobuf, which kubesim refuses (415).
    kube.kubectl('apply', '-f', '-', input=json.dumps({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': name}}))
    yield name
    kube.kubectl('delete', 'namespace', name, '--wait=false', '--ignore-not-found', check=False)


@pytest.fixture
def uncordon(kube):
    """Nodes the test cordons or drains (append their names); uncordoned afterwards, even if the test fails."""
    nodes = []
    yield nodes
    for node in nodes:
        kube.kubectl('uncordon', node, check=False)


# Helpers shared by the Kubernetes tests.

def rollout_status(kube, namespace, ref):
    """`kubectl rollout status <ref>`, which must exit 0; its output."""
    return kube.kubectl('rollout', 'status', ref, '-n', namespace, '--timeout=%s' % ROLLOUT_TIMEOUT).stdout


def deploy(kube, namespace, name='web', replicas=3, image='nginx:1.25'):
    """Apply manifests/deployment.yaml and wait for its rollout."""
    kube.apply(namespace, 'deployment.yaml', name=name, replicas=replicas, image=image)
    rollout_status(kube, namespace, 'deployment/%s' % name)
    return kube.json('deployment', name, '-n', namespace)


def history(kube, namespace, ref):
    """`kubectl rollout history <ref>` as {revision: change cause}; asserts the real header."""
    out = kube.kubectl('rollout', 'history', ref, '-n', namespace).stdout
    lines = [line.rstrip() for line in out.splitlines() if line.strip()]
    header = [index for index, line in enumerate(lines) if line.startswith('REVISION')]
    assert header, out
    assert re.fullmatch(r'REVISION\s+CHANGE-CAUSE', lines[header[0]]), out
    revisions = {}
    for line in lines[header[0] + 1:]:
        match = re.fullmatch(r'(\d+)\s+(.*)', line)
        assert match, 'unexpected line %r in:\n%s' % (line, out)
        revisions[int(match.group(1))] = match.group(2).strip()
    return revisions


def template_image(obj, container=0):
    """The image of a pod template's container."""
    return obj['spec']['template']['spec']['containers'][container]['image']


def live_pods(kube, namespace, selector):
    """The pods of `selector` that are not being deleted."""
    return [p for p in kube.json('pods', '-n', namespace, '-l', selector)['items'] if not p['metadata'].get('deletionTimestamp')]


def condition(obj, kind):
    """The status condition of type `kind`, or {}."""
    return next((c for c in obj.get('status', {}).get('conditions', []) if c['type'] == kind), {})


def pod_ready(pod):
    """Whether a pod is Running with its Ready condition True."""
    return pod['status'].get('phase') == 'Running' and condition(pod, 'Ready').get('status') == 'True'


def owned_by(obj, owner):
    """Whether `owner` is the controller of `obj`."""
    return any(ref.get('controller') and ref['uid'] == owner['metadata']['uid'] for ref in obj['metadata'].get('ownerReferences', []))


def controller_revisions(kube, namespace, owner):
    """The ControllerRevisions `owner` controls, as {revision: revision object}."""
    return {cr['revision']: cr for cr in kube.json('controllerrevisions', '-n', namespace)['items'] if owned_by(cr, owner)}


def written_state(obj):
    """What a client's write would change: spec, labels, annotations and generation.

    Controllers keep writing status (and so resourceVersion) while a rollout is in
    progress; "nothing changed" means nothing of this changed.
    """
    meta = obj['metadata']
    return {'generation': meta.get('generation'), 'labels': meta.get('labels'), 'annotations': meta.get('annotations'),
            'spec': obj.get('spec')}


def deployment(kube, namespace, name='web'):
    """Deployment `name` of `namespace`, as the API returns it."""
    return kube.json('deployment', name, '-n', namespace)


def apply_object(kube, namespace, obj):
    """kubectl apply of one object given as a dict."""
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(obj))


def hpa_settled(kube, namespace, replicas, name='web'):
    """A wait_for predicate: HPA `name` has observed its current spec and wants `replicas`."""
    def settled():
        current = kube.json('hpa', name, '-n', namespace)
        status = current.get('status', {})
        return status.get('observedGeneration', 0) >= current['metadata']['generation'] and status.get('desiredReplicas') == replicas
    return settled
