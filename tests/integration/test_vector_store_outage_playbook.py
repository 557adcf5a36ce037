"""playbooks/vector_store_outage.yml end to end: a Deployment on the Kubernetes API under test (kubesim by default)
and a pgvector index on a real PostgreSQL 15.

The application reads VECTOR_SEARCH_MODE from its ConfigMap; the playbook health-checks the index, switches the
application to degraded mode and restarts it, rebuilds, verifies, and puts it back to normal mode with a second
restart. Checked with kubectl and SQL; nothing here asserts a duration.
"""

import json

import pytest

from tests.integration.conftest import deploy, deployment, written_state
from tests.integration.runner import run_playbook
from tests.integration.test_vector_index_rebuild import INDEX, explain_uses, indexes, load_documents, pgvector_cluster  # noqa: F401 pylint: disable=unused-import

pytestmark = pytest.mark.kubernetes

PLAYBOOK = 'sre.runbooks.vector_store_outage'
RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
CHANGED_AT = 'sre.runbooks/vector-search-mode-changed-at'


def configmap(kube, namespace):
    return kube.json('configmap', 'web-config', '-n', namespace)


def restarted_at(obj):
    return (obj['spec']['template']['metadata'].get('annotations') or {}).get(RESTARTED_AT)


def play(kube, cluster, tmp_path, namespace, check=False, expect_rc=0):
    info = cluster.conninfo
    extra_vars = dict(pg_login_host=info['host'], pg_login_port=info['port'], pg_login_user=info['user'],
                      pg_login_password=info['password'], pg_db=info['dbname'], kubeconfig=str(kube.kubeconfig),
                      vector_store_outage_app='web', vector_store_outage_namespace=namespace, vector_store_outage_configmap='web-config',
                      vector_index_rebuild_target='pgvector', vector_index_rebuild_table='documents',
                      vector_index_rebuild_index_name=INDEX)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def test_vector_store_outage_degrades_rebuilds_and_restores(kube, namespace, pgvector_cluster, tmp_path):  # noqa: F811
    data = load_documents(pgvector_cluster)  # no index: the application's searches fail over to keyword search
    deploy(kube, namespace, replicas=2)
    kube.kubectl('apply', '-n', namespace, '-f', '-', input=json.dumps({
        'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'web-config'}, 'data': {'VECTOR_SEARCH_MODE': 'normal'}}))
    before = deployment(kube, namespace)
    cm_before = configmap(kube, namespace)

    checked = play(kube, pgvector_cluster, tmp_path, namespace, check=True)
    assert checked.task('Verify the pgvector index and plan its rebuild')['plan']['reasons'] == ['index %s does not exist' % INDEX]
    assert checked.task('Switch the application to degraded mode')['changed'] is True
    assert checked.task('Restart the workload and wait for the rollout')['changed'] is True
    assert written_state(deployment(kube, namespace)) == written_state(before)
    assert configmap(kube, namespace)['data'] == cm_before['data']
    assert indexes(pgvector_cluster) == {}

    run = play(kube, pgvector_cluster, tmp_path, namespace)
    degraded = run.task('Switch the application to degraded mode')
    assert degraded['changed'] and degraded['result']['data']['VECTOR_SEARCH_MODE'] == 'degraded'
    assert run.task('Rebuild the pgvector index')['verification']['passed']
    assert run.task('Restore normal mode')['changed']
    restarts = [r for r in run.results if r['task'] == 'Restart the workload and wait for the rollout']
    assert len(restarts) == 2 and all(r['result']['changed'] for r in restarts)  # into degraded mode, back to normal
    cm_after = configmap(kube, namespace)
    assert cm_after['data']['VECTOR_SEARCH_MODE'] == 'normal' and CHANGED_AT in cm_after['metadata']['annotations']
    assert restarted_at(deployment(kube, namespace)) is not None
    assert indexes(pgvector_cluster) == {INDEX: True}
    assert explain_uses(pgvector_cluster, data, INDEX)

    again = play(kube, pgvector_cluster, tmp_path, namespace)
    assert not again.changed
    assert 'healthy' in again.task('Summarise the vector store outage')['msg'][0]
