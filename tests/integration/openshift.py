"""OpenShift DeploymentConfigs for the integration tests: kubesim's `openshift` flavour and a DeploymentConfig to test on.

A test module uses the flavour with
    from tests.integration.openshift import openshift  # the fixture
    pytestmark = pytest.mark.usefixtures('openshift')  # or on the tests that need it
The fixture is module-scoped: the flavour holds from the first test that uses
it to the end of the module, so a module that mixes flavours puts its
DeploymentConfig tests last.
"""

import json

import pytest

from tests.integration.conftest import wait_for

PHASE = 'openshift.io/deployment.phase'
NO_OPENSHIFT = 'the cluster of KUBECONFIG does not serve apps.openshift.io/v1 DeploymentConfigs'


@pytest.fixture(scope='module')
def openshift(kube):
    """kubesim in its openshift flavour for this module, the previous flavour restored after it; a real cluster must serve DCs.

    A flavour change resets the simulator, so nothing of other modules is touched while they run.
    """
    if not kube.is_simulator:
        served = kube.kubectl('api-resources', '--api-group=apps.openshift.io', '-o', 'name', check=False)
        if served.returncode != 0 or 'deploymentconfigs' not in served.stdout:
            pytest.skip(NO_OPENSHIFT)
        yield
        return
    saved = kube.admin.config()['flavour']
    kube.admin.config(flavour='openshift')
    try:
        yield
    finally:
        kube.admin.config(flavour=saved)


def deploymentconfig(kube, namespace, image='nginx:1.25', replicas=3, image_trigger=True, timeout_seconds=600, name='web'):
    """Apply the DC `name` (ConfigChange trigger, and on kubesim an automatic ImageChange trigger), without waiting.

    A real OpenShift holds a DC back until its ImageChange trigger's image stream tag resolves, so the
    image trigger is only added on the simulator (which ignores ImageChange triggers, as documented).
    """
    triggers = [{'type': 'ConfigChange'}]
    if image_trigger and kube.is_simulator:
        triggers.append({'type': 'ImageChange', 'imageChangeParams': {
            'automatic': True, 'containerNames': ['nginx'], 'from': {'kind': 'ImageStreamTag', 'name': '%s:latest' % name}}})
    body = {
        'apiVersion': 'apps.openshift.io/v1', 'kind': 'DeploymentConfig', 'metadata': {'name': name, 'namespace': namespace},
        'spec': {
            'replicas': replicas, 'selector': {'app': name}, 'triggers': triggers,
            'strategy': {'type': 'Rolling', 'rollingParams': {'timeoutSeconds': timeout_seconds}},
            'template': {'metadata': {'labels': {'app': name}},
                         'spec': {'containers': [{'name': 'nginx', 'image': image, 'ports': [{'containerPort': 80}]}]}},
        },
    }
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps(body))


def phase(kube, namespace, version, name='web'):
    """The openshift.io/deployment.phase of version `version` (its ReplicationController), None before it exists."""
    proc = kube.kubectl('get', 'replicationcontroller', '%s-%d' % (name, version), '-n', namespace, '-o', 'json', check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)['metadata'].get('annotations', {}).get(PHASE)


def wait_complete(kube, namespace, version, name='web'):
    wait_for(lambda: phase(kube, namespace, version, name) == 'Complete', 90, 'version %d of dc/%s to complete' % (version, name))
