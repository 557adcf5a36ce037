"""kubesim's Deployment controller: revisions, rolling updates, rollback, history, pause, Recreate, progress deadline."""

from __future__ import annotations

import pytest

from tests.sandbox.kubesim.controllers import deployments
from tests.sandbox.kubesim.controllers.testing import create, deployment, get, items, new_sim, pods, ready, run_until, tick, update

REVISION = 'deployment.kubernetes.io/revision'


@pytest.fixture(name='env')
def env_fixture():
    return new_sim()


def replica_sets(sim, name='web'):
    return sorted((rs for rs in items(sim, 'apps/v1', 'ReplicaSet') if rs['metadata']['name'].startswith(name + '-')),
                  key=lambda rs: int(rs['metadata']['annotations'][REVISION]))


def complete(sim, name='web'):
    d = get(sim, 'apps/v1', 'Deployment', name)
    status = d.get('status') or {}
    progressing = next((c for c in status.get('conditions', []) if c['type'] == 'Progressing'), {})
    return (status.get('observedGeneration') == d['metadata']['generation'] and status.get('updatedReplicas') == d['spec']['replicas']
            and status.get('availableReplicas') == d['spec']['replicas'] and status.get('replicas') == d['spec']['replicas']
            and progressing.get('reason') == 'NewReplicaSetAvailable')


def set_image(sim, image, name='web', **annotations):
    def change(d):
        d['spec']['template']['spec']['containers'][0]['image'] = image
        if annotations:
            d['metadata'].setdefault('annotations', {}).update(annotations)
    update(sim, get(sim, 'apps/v1', 'Deployment', name), change)


def test_rollout_creates_revision_1_with_ready_pods(env):
    sim, clock = env
    create(sim, deployment(replicas=3))
    run_until(sim, clock, lambda: complete(sim))
    (rs,) = replica_sets(sim)
    d = get(sim, 'apps/v1', 'Deployment', 'web')
    pod_hash = rs['metadata']['labels']['pod-template-hash']
    assert rs['metadata']['name'] == f'web-{pod_hash}'
    assert rs['spec']['selector']['matchLabels'] == {'app': 'web', 'pod-template-hash': pod_hash}
    assert rs['metadata']['annotations'][REVISION] == '1' and d['metadata']['annotations'][REVISION] == '1'
    assert rs['metadata']['annotations']['deployment.kubernetes.io/desired-replicas'] == '3'
    assert rs['metadata']['annotations']['deployment.kubernetes.io/max-replicas'] == '4'
    assert rs['metadata']['ownerReferences'][0]['kind'] == 'Deployment' and rs['metadata']['ownerReferences'][0]['controller'] is True
    running = pods(sim, 'web')
    assert len(running) == 3 and all(p['status']['phase'] == 'Running' and ready(p) for p in running)
    assert all(p['metadata']['name'].startswith(f'web-{pod_hash}-') and len(p['metadata']['name']) == len(f'web-{pod_hash}-') + 5
               for p in running)
    assert len({p['spec']['nodeName'] for p in running}) == 3  # spread over the nodes
    assert [c['type'] for c in d['status']['conditions']] == ['Available', 'Progressing']
    assert d['status']['conditions'][1]['message'] == f'ReplicaSet "web-{pod_hash}" has successfully progressed.'
    scaled = [e['message'] for e in items(sim, 'v1', 'Event') if e['reason'] == 'ScalingReplicaSet']
    assert scaled == [f'Scaled up replica set web-{pod_hash} from 0 to 3']


def test_defaults_fill_what_the_apiserver_would(env):
    sim, _clock = env
    d = create(sim, deployment())
    assert d['spec']['strategy'] == {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': '25%', 'maxSurge': '25%'}}
    assert d['spec']['revisionHistoryLimit'] == 10 and d['spec']['progressDeadlineSeconds'] == 600
    template = d['spec']['template']
    assert template['metadata']['creationTimestamp'] is None
    assert template['spec']['restartPolicy'] == 'Always' and template['spec']['dnsPolicy'] == 'ClusterFirst'
    assert template['spec']['terminationGracePeriodSeconds'] == 30 and template['spec']['schedulerName'] == 'default-scheduler'
    container = template['spec']['containers'][0]
    assert container['imagePullPolicy'] == 'IfNotPresent' and container['terminationMessagePath'] == '/dev/termination-log'
    assert container['terminationMessagePolicy'] == 'File'


@pytest.mark.parametrize('replicas, surge, unavailable', [(4, '25%', '25%'), (10, 3, 0), (5, 0, 2), (3, '50%', '0%')])
def test_rolling_update_respects_surge_and_unavailable_at_every_step(env, replicas, surge, unavailable):
    sim, clock = env
    create(sim, deployment(replicas=replicas, strategy={'type': 'RollingUpdate', 'rollingUpdate': {'maxSurge': surge, 'maxUnavailable': unavailable}}))
    run_until(sim, clock, lambda: complete(sim))
    d = deployments.apply_defaults('Deployment', get(sim, 'apps/v1', 'Deployment', 'web'))
    max_surge, max_unavailable = deployments.resolve_fenceposts(d)
    set_image(sim, 'shop:v2')
    seen_new = 0
    for _step in range(400):
        tick(sim, clock, 0.05)
        rss = replica_sets(sim)
        assert sum(rs['spec']['replicas'] for rs in rss) <= replicas + max_surge
        live = [p for p in pods(sim, 'web') if p['status'].get('phase') not in ('Failed', 'Succeeded')]
        assert len(live) <= replicas + max_surge
        assert sum(1 for p in live if ready(p)) >= replicas - max_unavailable
        seen_new = max(seen_new, len(rss))
        if complete(sim) and len(live) == replicas:
            break
    else:
        pytest.fail('the rollout did not complete')
    rss = replica_sets(sim)
    assert [rs['metadata']['annotations'][REVISION] for rs in rss] == ['1', '2']
    assert [rs['spec']['replicas'] for rs in rss] == [0, replicas]
    assert get(sim, 'apps/v1', 'Deployment', 'web')['metadata']['annotations'][REVISION] == '2'
    assert all(p['spec']['containers'][0]['image'] == 'shop:v2' for p in pods(sim, 'web'))


def test_rollback_reuses_the_old_replica_set_as_revision_3(env):
    sim, clock = env
    d = deployment()
    d['metadata']['annotations'] = {'kubernetes.io/change-cause': 'deploy v1'}
    create(sim, d)
    run_until(sim, clock, lambda: complete(sim))
    first = replica_sets(sim)[0]
    set_image(sim, 'shop:v2', **{'kubernetes.io/change-cause': 'deploy v2'})
    run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 3)
    rss = replica_sets(sim)
    assert [rs['metadata']['annotations']['kubernetes.io/change-cause'] for rs in rss] == ['deploy v1', 'deploy v2']
    # kubectl rollout undo: the template of revision 1 (without its pod-template-hash label), and its change-cause
    template = rss[0]['spec']['template']
    template['metadata']['labels'].pop('pod-template-hash')

    def undo(obj):
        obj['spec']['template'] = template
        obj['metadata']['annotations']['kubernetes.io/change-cause'] = 'deploy v1'
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), undo)
    run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 3)
    rss = replica_sets(sim)
    assert len(rss) == 2
    reused = rss[-1]
    assert reused['metadata']['uid'] == first['metadata']['uid']
    assert reused['metadata']['annotations'][REVISION] == '3'
    assert reused['metadata']['annotations']['deployment.kubernetes.io/revision-history'] == '1'
    assert reused['spec']['replicas'] == 3 and rss[0]['spec']['replicas'] == 0
    assert get(sim, 'apps/v1', 'Deployment', 'web')['metadata']['annotations'][REVISION] == '3'
    # and once more: revision 2's set comes back as 4 with history "2"
    template = rss[0]['spec']['template']
    template['metadata']['labels'].pop('pod-template-hash')
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda obj: obj['spec'].__setitem__('template', template))
    run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 3)
    rss = replica_sets(sim)
    assert [(rs['metadata']['annotations'][REVISION], rs['metadata']['annotations'].get('deployment.kubernetes.io/revision-history'))
            for rs in rss] == [('3', '1'), ('4', '2')]


def test_change_cause_and_other_annotations_are_copied_but_not_last_applied(env):
    sim, clock = env
    d = deployment()
    d['metadata']['annotations'] = {'kubernetes.io/change-cause': 'kubectl apply v1', 'team': 'shop',
                                    'kubectl.kubernetes.io/last-applied-configuration': '{}'}
    create(sim, d)
    run_until(sim, clock, lambda: complete(sim))
    annotations = replica_sets(sim)[0]['metadata']['annotations']
    assert annotations['kubernetes.io/change-cause'] == 'kubectl apply v1' and annotations['team'] == 'shop'
    assert 'kubectl.kubernetes.io/last-applied-configuration' not in annotations


def test_revision_history_limit_prunes_the_oldest(env):
    sim, clock = env
    create(sim, deployment(replicas=1, revisionHistoryLimit=2))
    run_until(sim, clock, lambda: complete(sim))
    for version in range(2, 7):
        set_image(sim, f'shop:v{version}')
        run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 1)
    tick(sim, clock, 0.1, 3)
    rss = replica_sets(sim)
    assert [rs['metadata']['annotations'][REVISION] for rs in rss] == ['4', '5', '6']
    assert [rs['spec']['template']['spec']['containers'][0]['image'] for rs in rss] == ['shop:v4', 'shop:v5', 'shop:v6']


def test_paused_deployment_makes_no_new_replica_set_until_resumed(env):
    sim, clock = env
    create(sim, deployment())
    run_until(sim, clock, lambda: complete(sim))
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec'].__setitem__('paused', True))
    set_image(sim, 'shop:v2')
    tick(sim, clock, 0.1, 10)
    assert len(replica_sets(sim)) == 1
    d = get(sim, 'apps/v1', 'Deployment', 'web')
    progressing = next(c for c in d['status']['conditions'] if c['type'] == 'Progressing')
    assert (progressing['status'], progressing['reason'], progressing['message']) == ('Unknown', 'DeploymentPaused', 'Deployment is paused')
    assert d['status']['observedGeneration'] == d['metadata']['generation']
    assert 'updatedReplicas' not in d['status']  # the paused template has no ReplicaSet yet (0, left out)
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec'].__setitem__('paused', False))
    run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 3)
    assert len(replica_sets(sim)) == 2


def test_scaling_a_deployment_scales_its_replica_set(env):
    sim, clock = env
    create(sim, deployment(replicas=2))
    run_until(sim, clock, lambda: complete(sim))
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec'].__setitem__('replicas', 5))
    run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 5)
    (rs,) = replica_sets(sim)
    assert rs['spec']['replicas'] == 5 and rs['metadata']['annotations']['deployment.kubernetes.io/desired-replicas'] == '5'
    messages = [e['message'] for e in items(sim, 'v1', 'Event') if e['reason'] == 'ScalingReplicaSet']
    assert messages[-1] == f'Scaled up replica set {rs["metadata"]["name"]} from 2 to 5'


def test_recreate_scales_old_pods_away_before_new_ones_start(env):
    sim, clock = env
    create(sim, deployment(replicas=3, strategy={'type': 'Recreate'}))
    run_until(sim, clock, lambda: complete(sim))
    set_image(sim, 'shop:v2')
    mixed = False
    for _step in range(200):
        tick(sim, clock, 0.05)
        images = {p['spec']['containers'][0]['image'] for p in pods(sim, 'web')}
        mixed = mixed or len(images) > 1
        if complete(sim) and len(pods(sim, 'web')) == 3:
            break
    assert not mixed
    assert [rs['spec']['replicas'] for rs in replica_sets(sim)] == [0, 3]


def test_progress_deadline_exceeded_with_a_crashlooping_image(env):
    sim, clock = env
    create(sim, deployment(replicas=2, progressDeadlineSeconds=3))
    run_until(sim, clock, lambda: complete(sim))
    set_image(sim, 'shop:v2-crashloop')

    def timed_out():
        d = get(sim, 'apps/v1', 'Deployment', 'web')
        return any(c['type'] == 'Progressing' and c['reason'] == 'ProgressDeadlineExceeded' for c in d['status']['conditions'])
    run_until(sim, clock, timed_out, seconds=0.25)
    d = get(sim, 'apps/v1', 'Deployment', 'web')
    new = replica_sets(sim)[-1]
    progressing = next(c for c in d['status']['conditions'] if c['type'] == 'Progressing')
    assert progressing['status'] == 'False'
    assert progressing['message'] == f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.'
    # the old pods are still serving: the rollout stalled at the surge pod
    assert d['status']['availableReplicas'] == 2 and d['status']['unavailableReplicas'] == 1
    available = next(c for c in d['status']['conditions'] if c['type'] == 'Available')
    assert available['status'] == 'True'


def test_rollout_restart_annotation_makes_a_new_replica_set(env):
    sim, clock = env
    create(sim, deployment(replicas=2))
    run_until(sim, clock, lambda: complete(sim))
    update(sim, get(sim, 'apps/v1', 'Deployment', 'web'), lambda d: d['spec']['template']['metadata'].setdefault('annotations', {})
           .__setitem__('kubectl.kubernetes.io/restartedAt', '2026-01-01T00:00:00Z'))
    run_until(sim, clock, lambda: complete(sim) and len(pods(sim, 'web')) == 2)
    rss = replica_sets(sim)
    assert len(rss) == 2 and rss[-1]['metadata']['annotations'][REVISION] == '2'
    assert all(p['metadata']['annotations']['kubectl.kubernetes.io/restartedAt'] == '2026-01-01T00:00:00Z' for p in pods(sim, 'web'))


def test_fenceposts_round_as_upstream():
    def fence(replicas, surge, unavailable):
        return deployments.resolve_fenceposts({'spec': {'replicas': replicas, 'strategy': {
            'type': 'RollingUpdate', 'rollingUpdate': {'maxSurge': surge, 'maxUnavailable': unavailable}}}})
    assert fence(3, '25%', '25%') == (1, 0)
    assert fence(10, '25%', '25%') == (3, 2)
    assert fence(1, '0%', '0%') == (0, 1)
    assert fence(4, 2, '50%') == (2, 2)


def test_template_hash_is_stable_and_collision_count_changes_it():
    template = {'metadata': {'labels': {'app': 'web'}}, 'spec': {'containers': [{'name': 'web', 'image': 'shop:v1'}]}}
    first = deployments.template_hash(template)
    assert first == deployments.template_hash({'spec': template['spec'], 'metadata': template['metadata']})
    assert first != deployments.template_hash(template, 1)
    assert set(first) <= set('bcdfghjklmnpqrstvwxz2456789')
