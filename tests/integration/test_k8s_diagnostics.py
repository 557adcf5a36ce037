"""The sre.runbooks.diagnose playbook (role sre.runbooks.diagnostics, module sre.runbooks.k8s_diagnostics) through ansible-playbook.

Against the Kubernetes API under test. The faults (crash loop, OOM kill, node
pressure) come from kubesim's fault injection, so those tests are simulator
only; the check-mode and refusal tests also run on a real cluster. The
DeploymentConfig test switches kubesim to its openshift flavour until the end
of the module (tests.integration.openshift), so it comes last. Waiting is
done with wait_for, never by sleeping, and nothing asserts a duration.
"""

import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from tests.integration.conftest import deploy, live_pods, rollout_status, simulator_only, wait_for
from tests.integration.openshift import deploymentconfig, openshift, wait_complete  # noqa: F401 pylint: disable=unused-import
from tests.integration.runner import run_playbook

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.diagnose'
COLLECT = 'Collect the diagnostics snapshot into the evidence directory'
SUMMARY = 'Summarise the diagnostics'
REFUSE = 'Refuse a namespace or workload that cannot be read'
LITERAL_SECRET = 'literal-Hunter2-in-the-pod-spec'
SECRET_VALUE = 'value-of-the-Secret-object-9f3a'


def play(kube, tmp_path, namespace, check=False, expect_rc=0, verbosity=0, **extra):
    """Run the playbook on `namespace`; evidence under tmp_path/evidence; the kubeconfig as the playbook's `kubeconfig` variable."""
    extra_vars = dict(diagnostics_namespace=namespace, diagnostics_dest=str(tmp_path / 'evidence'), kubeconfig=str(kube.kubeconfig), **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc, verbosity=verbosity)


def workload(kube, namespace, image, name='web', replicas=2, memory_limit=None):
    """A Secret and a Deployment whose pods take one env var from it and one secret-looking literal."""
    secret = {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'db'}, 'stringData': {'password': SECRET_VALUE}}
    resources = {'requests': {'cpu': '10m', 'memory': '16Mi'}}
    if memory_limit:
        resources['limits'] = {'memory': memory_limit}
    container = {'name': 'app', 'image': image, 'resources': resources,
                 'env': [{'name': 'DB_PASSWORD', 'value': LITERAL_SECRET}, {'name': 'LOG_LEVEL', 'value': 'debug'},
                         {'name': 'DB_PASSWORD_FROM_SECRET', 'valueFrom': {'secretKeyRef': {'name': 'db', 'key': 'password'}}}]}
    deployment = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': name, 'labels': {'app': name}},
                  'spec': {'replicas': replicas, 'selector': {'matchLabels': {'app': name}},
                           'template': {'metadata': {'labels': {'app': name}}, 'spec': {'containers': [container]}}}}
    for obj in (secret, deployment):
        kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(obj))


def restarted(kube, namespace, selector, reason):
    """Every live pod of `selector` has restarted after a termination with `reason`."""
    pods = live_pods(kube, namespace, selector)
    return pods and all(any((cs.get('lastState') or {}).get('terminated', {}).get('reason') == reason and cs.get('restartCount', 0) > 0
                            for cs in p['status'].get('containerStatuses') or []) for p in pods)


def backing_off(kube, namespace, selector):
    """Every live pod of `selector` waits in CrashLoopBackOff after a termination with reason Error."""
    pods = live_pods(kube, namespace, selector)
    return pods and all(any((cs.get('state') or {}).get('waiting', {}).get('reason') == 'CrashLoopBackOff'
                            and (cs.get('lastState') or {}).get('terminated', {}).get('reason') == 'Error'
                            for cs in p['status'].get('containerStatuses') or []) for p in pods)


def evidence_texts(path):
    """{relative path: text} of every file under the evidence directory."""
    texts = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root) / name
            texts[str(full.relative_to(path))] = full.read_text(encoding='utf-8')
    return texts


@simulator_only
def test_crash_loop_snapshot_holds_the_previous_log_and_never_a_secret(kube, namespace, tmp_path):
    workload(kube, namespace, 'nginx:1.26-crashloop')
    wait_for(lambda: restarted(kube, namespace, 'app=web', 'Error'), 60, 'pods of web restarted after a crash')

    run = play(kube, tmp_path, namespace, diagnostics_name='web', diagnostics_archive=True, verbosity=1)
    result = run.task(COLLECT)
    assert result['changed'] is False
    evidence = Path(result['evidence_dir'])
    assert evidence.parent == tmp_path / 'evidence'
    assert evidence.name.endswith('_%s_web' % namespace)
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o700

    texts = evidence_texts(evidence)
    assert sorted(texts) == sorted(result['files'])
    assert all(stat.S_IMODE((evidence / name).stat().st_mode) == 0o600 for name in texts)
    pods = [p['metadata']['name'] for p in live_pods(kube, namespace, 'app=web')]
    previous = ['logs/%s_app.previous.log' % pod for pod in pods if 'logs/%s_app.previous.log' % pod in texts]
    assert previous, sorted(texts)
    assert 'FATAL app exiting: unrecoverable error (exit status 1)' in texts[previous[0]]
    assert 'describe/%s.txt' % pods[0] in texts or 'describe/%s.txt' % pods[1] in texts
    for name in ('summary.txt', 'findings.json', 'pods.json', 'events.txt', 'history.json', 'hpa.json', 'nodes.json', 'usage.json'):
        assert name in texts

    assert result['summary'][0].startswith('CrashLoopBackOff: 2 pods (')
    assert 'of revision 1 (the current revision, rolled out ' in result['summary'][0]
    assert 'last exit Error (exit code 1)' in result['summary'][0]
    assert 'CrashLoopBackOff' in texts['summary.txt'].split('What looks wrong (worst first):')[1].splitlines()[1]
    crash = [f for f in result['findings'] if f['reason'] == 'CrashLoopBackOff']
    assert len(crash) == 2 and all(f['revision'] == 1 and f['current'] for f in crash)
    assert result['rollout']['kind'] == 'Deployment' and result['rollout']['revision'] == 1
    assert result['rollout']['images'] == {'app': 'nginx:1.26-crashloop'}
    assert run.task(SUMMARY)['msg'][1] == result['summary'][0]

    # The archive is a readable tar.gz of the same directory.
    archive = Path(result['archive'])
    assert archive == evidence.parent / (evidence.name + '.tar.gz')
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert '%s/summary.txt' % evidence.name in names
        assert '%s/%s' % (evidence.name, previous[0]) in names
        archived = {member.name: tar.extractfile(member).read().decode() for member in tar.getmembers() if member.isfile()}

    # Secrets: neither the secret-looking literal nor the Secret's value is anywhere.
    assert 'DB_PASSWORD: <redacted>' in ''.join(t for n, t in texts.items() if n.startswith('describe/'))
    everything = [run.output, json.dumps(run.results)] + list(texts.values()) + list(archived.values())
    for text in everything:
        assert LITERAL_SECRET not in text
        assert SECRET_VALUE not in text


@simulator_only
def test_oom_killed_pods_are_named_with_their_memory_limit(kube, namespace, tmp_path):
    workload(kube, namespace, 'nginx:1.26-oom', memory_limit='64Mi')
    wait_for(lambda: restarted(kube, namespace, 'app=web', 'OOMKilled'), 60, 'pods of web OOMKilled')

    result = play(kube, tmp_path, namespace, diagnostics_name='web').task(COLLECT)
    assert result['summary'][0].startswith('OOMKilled: 2 pods (')
    oom = [f for f in result['findings'] if f['reason'] == 'OOMKilled']
    assert len(oom) == 2
    assert all('OOMKilled (exit code 137)' in f['message'] and 'memory limit 64Mi' in f['message'] for f in oom)
    texts = evidence_texts(result['evidence_dir'])
    assert any('reason=OOMKilled exitCode=137' in text for name, text in texts.items() if name.startswith('describe/'))


@pytest.fixture
def memory_pressure(kube):
    """memory_pressure(node) puts the node under MemoryPressure (kubesim node_pressure); lifted afterwards even if the test fails."""
    def press(node):
        kube.admin.config(node_pressure={node: ['MemoryPressure']})
        return node
    yield press
    kube.admin.config(node_pressure={})


@simulator_only
def test_node_memory_pressure_and_the_eviction_it_causes(kube, namespace, tmp_path, memory_pressure):
    deploy(kube, namespace, replicas=3)
    # The pods spread over the three nodes; the one on the pressured node is evicted.
    node = memory_pressure(live_pods(kube, namespace, 'app=web')[0]['spec']['nodeName'])

    def evicted():
        pods = kube.json('pods', '-n', namespace)['items']
        return [p for p in pods if p['status'].get('reason') == 'Evicted' and p['spec'].get('nodeName') == node]

    wait_for(evicted, 60, 'a pod evicted from %s' % node)

    result = play(kube, tmp_path, namespace, diagnostics_name='web').task(COLLECT)
    reasons = [(f['reason'], f['object']) for f in result['findings']]
    assert ('MemoryPressure', 'node/%s' % node) in reasons
    assert any(reason == 'Evicted' for reason, _obj in reasons)
    assert ('RequestsDifferFromLimits', 'deployment/web') in reasons
    pressured = next(n for n in result['nodes'] if n['name'] == node)
    assert pressured['pressure'] == ['MemoryPressure'] and pressured['hosts_pods'] is True
    assert any(line.startswith('MemoryPressure: node/%s' % node) for line in result['summary'])


def test_check_mode_collects_but_writes_nothing(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2)

    run = play(kube, tmp_path, namespace, check=True, diagnostics_label_selectors=['app=web'], diagnostics_archive=True)
    result = run.task(COLLECT)
    assert run.changed is False
    assert not (tmp_path / 'evidence').exists()
    assert result['evidence_dir'].startswith(str(tmp_path / 'evidence') + os.sep)
    assert result['evidence_dir'].endswith('_' + namespace)
    assert result['archive'] == result['evidence_dir'] + '.tar.gz'
    assert len(result['pods']) == 2
    assert 'summary.txt' in result['files']
    assert run.task(SUMMARY)['msg'][0] == 'Diagnostics of namespace %s: would be written to %s and %s' % (
        namespace, result['evidence_dir'], result['archive'])


def test_a_restart_is_not_taken_for_a_release(kube, namespace, tmp_path):
    deploy(kube, namespace, replicas=2, image='nginx:1.25')
    deploy(kube, namespace, replicas=2, image='nginx:1.26')
    kube.kubectl('rollout', 'restart', 'deployment/web', '-n', namespace)
    rollout_status(kube, namespace, 'deployment/web')

    rollout = play(kube, tmp_path, namespace, check=True, diagnostics_name='web').task(COLLECT)['rollout']
    # Revision 3 is the restart of revision 2 (nginx:1.26): the release before it is revision 1, and it was deployed with revision 2.
    assert (rollout['revision'], rollout['previous_revision'], rollout['images']) == (3, 1, {'nginx': 'nginx:1.26'})
    replicasets = kube.json('replicasets', '-n', namespace, '-l', 'app=web')['items']
    created = {rs['metadata']['annotations']['deployment.kubernetes.io/revision']: rs['metadata']['creationTimestamp'] for rs in replicasets}
    assert rollout['updated_at'] == created['2']


def test_missing_workload_and_namespace_are_refused_before_anything_is_written(kube, namespace, tmp_path):
    run = play(kube, tmp_path, namespace, diagnostics_name='absent', expect_rc=2)
    assert run.failed_tasks == [REFUSE]
    msg = run.task(REFUSE)['msg']
    assert msg.startswith('Cannot collect diagnostics of deployment %s/absent: ' % namespace)
    assert 'not found' in msg and 'Nothing was written' in msg

    missing = play(kube, tmp_path, namespace + '-missing', expect_rc=2)
    assert missing.task(REFUSE)['msg'].startswith(
        'Cannot collect diagnostics of namespace %s-missing: Failed to collect diagnostics of namespace %s-missing: the namespace does not exist.'
        % (namespace, namespace))
    assert not (tmp_path / 'evidence').exists()


# Last in the module: the openshift flavour holds from here to the end of the module.
@simulator_only
@pytest.mark.usefixtures('openshift')
def test_crash_looping_deploymentconfig_is_named_with_its_current_version(kube, namespace, tmp_path, real_backoff):
    good, bad = 'nginx:1.25', 'nginx:1.26-crashloop'
    deploymentconfig(kube, namespace, image=good, image_trigger=False)
    wait_complete(kube, namespace, 1)
    deploymentconfig(kube, namespace, image=bad, image_trigger=False)
    # With a kubelet's back-off the crashed containers wait in CrashLoopBackOff while the snapshot reads them
    # (with kubesim's 0.5 s one, a container caught running between two crashes reads as progressing).
    wait_for(lambda: backing_off(kube, namespace, 'deployment=web-2'), 60, 'pods of version 2 in CrashLoopBackOff after a crash')

    result = play(kube, tmp_path, namespace, diagnostics_name='web', diagnostics_kind='DeploymentConfig').task(COLLECT)
    assert result['rollout']['kind'] == 'DeploymentConfig'
    assert (result['rollout']['revision'], result['rollout']['previous_revision']) == (2, 1)
    assert result['rollout']['images'] == {'nginx': bad}
    assert result['rollout']['state'] == 'failed'

    crash = [f for f in result['findings'] if f['reason'] == 'CrashLoopBackOff']
    version_2 = sorted(p['metadata']['name'] for p in live_pods(kube, namespace, 'deployment=web-2'))
    assert crash and sorted(f['object'][4:] for f in crash) == version_2
    assert all(f['revision'] == 2 and f['current'] and f['container'] == 'nginx' for f in crash)
    assert result['summary'][0].startswith('CrashLoopBackOff: ')
    assert 'of revision 2 (the current revision, rolled out ' in result['summary'][0]
    assert 'last exit Error (exit code 1)' in result['summary'][0]
    # The pods of version 1 still serve, tagged with their version as not current.
    assert {(p['revision'], p['current']) for p in result['pods']} == {(1, False), (2, True)}

    texts = evidence_texts(result['evidence_dir'])
    for pod in version_2:
        assert 'FATAL nginx exiting: unrecoverable error (exit status 1)' in texts['logs/%s_nginx.previous.log' % pod]
    history = json.loads(texts['history.json'])
    assert [(h['revision'], h['images'], h['current'], h['phase']) for h in history['history']][0] == (1, {'nginx': good}, False, 'Complete')
    assert history['history'][1]['revision'] == 2 and history['history'][1]['current'] is True
