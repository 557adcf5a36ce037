"""kubesim faults the incident scenarios need: a memory leak that ends in OOMKilled, and a CPU load shared by a workload's pods."""

from __future__ import annotations

import pytest

from tests.sandbox.kubesim.controllers.faults import leak_exhausted, leaked_memory
from tests.sandbox.kubesim.controllers.metrics import container_usage, pod_metrics
from tests.sandbox.kubesim.controllers.testing import create, deployment, get, new_sim, pods, ready, run_until, tick, update

MI = 2 ** 20


@pytest.fixture(name='env')
def env_fixture():
    return new_sim(pod_start_seconds=0.2, pod_ready_seconds=0.2, crashloop_backoff_seconds=1)


def leaking_pod(leak='10Mi', base='20Mi', limit='128Mi'):
    annotations = {'kubesim.io/memory-leak': leak}
    if base:
        annotations['kubesim.io/memory-usage'] = base
    resources = {'limits': {'memory': limit}} if limit else {}
    return {'metadata': {'name': 'p', 'namespace': 'default', 'annotations': annotations},
            'spec': {'containers': [{'name': 'web', 'image': 'shop:v1', 'resources': resources}]}}


def test_leaked_memory_grows_with_uptime_from_the_base():
    pod = leaking_pod()
    assert leaked_memory(pod, 'web', 0) == 20 * MI
    assert leaked_memory(pod, 'web', 3) == 50 * MI
    assert leaked_memory(leaking_pod(base=None), 'web', 2) == 20 * MI
    assert leaked_memory({'metadata': {}}, 'web', 100) is None
    assert leaked_memory(leaking_pod(leak='lots'), 'web', 100) is None


def test_leak_exhausts_the_limit_only_above_it():
    pod = leaking_pod()
    container = pod['spec']['containers'][0]
    assert not leak_exhausted(pod, container, 10.8)  # 128Mi exactly
    assert leak_exhausted(pod, container, 10.9)
    unlimited = leaking_pod(limit=None)
    assert not leak_exhausted(unlimited, unlimited['spec']['containers'][0], 10_000)


def status(sim):
    return get(sim, 'v1', 'Pod', 'p')['status']


def web(sim):
    statuses = status(sim).get('containerStatuses') or [{}]
    return statuses[0]


def memory_in_metrics(sim):
    (metric,) = pod_metrics(sim, 'default', 'p')
    return metric['containers'][0]['usage']['memory']


def test_leaking_container_grows_in_metrics_is_oom_killed_and_starts_again_from_the_bottom(env):
    sim, clock = env
    body = leaking_pod(leak='20Mi', base='20Mi', limit='100Mi')
    body['apiVersion'], body['kind'] = 'v1', 'Pod'
    create(sim, body)
    run_until(sim, clock, lambda: web(sim).get('ready'))
    # Whole seconds: the status's startedAt has second resolution, as the real one.
    tick(sim, clock, 1.0, times=2)
    grown = memory_in_metrics(sim)
    assert grown.endswith('Mi') and 40 <= int(grown[:-2]) <= 100
    assert web(sim)['restartCount'] == 0
    run_until(sim, clock, lambda: web(sim)['restartCount'] >= 1)
    last = web(sim)['lastState']['terminated']
    assert (last['reason'], last['exitCode']) == ('OOMKilled', 137)
    run_until(sim, clock, lambda: web(sim).get('ready'))
    assert int(memory_in_metrics(sim)[:-2]) < 60


def test_rolling_restart_resets_a_leak_and_a_higher_limit_delays_the_oom(env):
    sim, clock = env
    d = deployment(replicas=1)
    d['spec']['template']['metadata']['annotations'] = {'kubesim.io/memory-leak': '10Mi', 'kubesim.io/memory-usage': '20Mi'}
    d['spec']['template']['spec']['containers'][0]['resources'] = {'limits': {'memory': '64Mi'}}
    create(sim, d)
    run_until(sim, clock, lambda: any(web_of(p).get('restartCount', 0) >= 1 for p in pods(sim, 'web')))

    def raise_limit(obj):
        obj['spec']['template']['spec']['containers'][0]['resources'] = {'limits': {'memory': '1Gi'}}
    update(sim, d, raise_limit)
    run_until(sim, clock, lambda: [web_of(p).get('restartCount', 0) for p in pods(sim, 'web') if ready(p)] == [0])
    tick(sim, clock, 1.0, times=10)  # 120Mi: far past the old limit, under the new one
    (fresh,) = [p for p in pods(sim, 'web') if ready(p)]
    assert web_of(fresh)['restartCount'] == 0


def web_of(pod):
    return ((pod.get('status') or {}).get('containerStatuses') or [{}])[0]


def test_cpu_load_is_shared_by_the_running_pods_of_one_owner(env):
    sim, clock = env
    d = deployment(replicas=2)
    d['spec']['template']['metadata']['annotations'] = {'kubesim.io/cpu-load': '2'}
    create(sim, d)
    other = deployment(name='other', replicas=1)
    other['spec']['template']['metadata']['annotations'] = {'kubesim.io/cpu-load': '500m'}
    create(sim, other)
    run_until(sim, clock, lambda: len([p for p in pods(sim) if ready(p)]) == 3)
    cpu = {m['metadata']['name']: m['containers'][0]['usage']['cpu'] for m in pod_metrics(sim, 'default', None)}
    assert sorted(cpu.values()) == ['1', '1', '500m']

    update(sim, d, lambda obj: obj['spec'].update(replicas=4))
    run_until(sim, clock, lambda: len([p for p in pods(sim, 'web') if p['status'].get('phase') == 'Running']) == 4)
    shares = [m['containers'][0]['usage']['cpu'] for m in pod_metrics(sim, 'default', None) if m['metadata']['labels']['app'] == 'web']
    assert shares == ['500m'] * 4


def test_cpu_usage_annotation_wins_over_the_load():
    pod = {'metadata': {'name': 'p', 'uid': 'u', 'annotations': {'kubesim.io/cpu-load': '2', 'kubesim.io/cpu-usage': '100m'}},
           'status': {'phase': 'Running', 'containerStatuses': [{'name': 'web', 'state': {'running': {}}}]}}
    assert container_usage(pod, 'web', None, {})[0] == pytest.approx(0.1)
