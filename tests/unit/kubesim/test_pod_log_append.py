"""kubesim's appended container logs (POST /kubesim/namespaces/<ns>/pods/<pod>/log) and the log options
sinceSeconds, sinceTime and timestamps, as the kubelet honours them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.sandbox.kubesim.controllers.kubelet import append_log, pod_log, rfc3339_nano
from tests.sandbox.kubesim.controllers.testing import START, create, get, new_sim, run_until, tick
from tests.sandbox.kubesim.errors import ApiError
from tests.sandbox.kubesim.server import make_app
from tests.sandbox.kubesim.sim import Simulator
from tests.sandbox.kubesim.store import rfc3339

ACCESS = '203.0.113.7 - - [14/Nov/2023:22:13:20 +0000] "GET /api/orders?page=2 HTTP/1.1" 200 512 "-" "curl/8.0"'


def pod(name='p', image='shop:v1', containers=None):
    return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': 'default'},
            'spec': {'containers': containers or [{'name': 'web', 'image': image}]}}


def running(sim, name='p'):
    statuses = get(sim, 'v1', 'Pod', name)['status'].get('containerStatuses') or []
    return bool(statuses) and all('running' in s['state'] for s in statuses)


@pytest.fixture(name='env')
def env_fixture():
    sim, clock = new_sim(pod_start_seconds=1, pod_ready_seconds=1, crashloop_backoff_seconds=2)
    create(sim, pod())
    run_until(sim, clock, lambda: running(sim))
    tick(sim, clock, 100, 2)  # the run's own lines are 200 s old
    return sim, clock


def test_appended_lines_follow_the_run_in_time_order(env):
    sim, clock = env
    own = pod_log(sim, 'default', 'p', None, False, None)
    answer = append_log(sim, 'default', 'p', None, [ACCESS, 'second line'])
    assert answer == {'namespace': 'default', 'pod': 'p', 'container': 'web', 'attempt': 0, 'appended': 2, 'time': rfc3339_nano(clock.now)}
    assert pod_log(sim, 'default', 'p', None, False, None) == own + ACCESS + '\nsecond line\n'
    # a line written earlier (but after the start) sorts before the later ones
    append_log(sim, 'default', 'p', 'web', ['earlier'], at=clock.now - 0.5)
    assert pod_log(sim, 'default', 'p', None, False, None).splitlines()[-3:] == ['earlier', ACCESS, 'second line']
    assert pod_log(sim, 'default', 'p', None, False, 2) == ACCESS + '\nsecond line\n'


def test_since_seconds_since_time_and_timestamps(env):
    sim, clock = env
    append_log(sim, 'default', 'p', None, ['old'], at=clock.now - 100)
    append_log(sim, 'default', 'p', None, ['recent'], at=clock.now - 10)
    append_log(sim, 'default', 'p', None, ['now'])
    assert pod_log(sim, 'default', 'p', None, False, None, since_seconds=30) == 'recent\nnow\n'
    assert pod_log(sim, 'default', 'p', None, False, None, since_time=rfc3339(clock.now - 10)) == 'recent\nnow\n'
    # sinceTime is inclusive, as the kubelet's
    assert pod_log(sim, 'default', 'p', None, False, None, since_time=rfc3339_nano(clock.now)) == 'now\n'
    # tailLines applies first, then since
    assert pod_log(sim, 'default', 'p', None, False, 3, since_seconds=30) == 'recent\nnow\n'
    assert pod_log(sim, 'default', 'p', None, False, 1, since_seconds=30) == 'now\n'
    stamped = pod_log(sim, 'default', 'p', None, False, None, since_seconds=30, timestamps=True).splitlines()
    assert stamped == [f'{rfc3339_nano(clock.now - 10)} recent', f'{rfc3339_nano(clock.now)} now']
    with pytest.raises(ApiError) as info:
        pod_log(sim, 'default', 'p', None, False, None, since_seconds=10, since_time=rfc3339(clock.now))
    assert info.value.code == 400 and 'at most one of' in info.value.message
    with pytest.raises(ApiError):
        pod_log(sim, 'default', 'p', None, False, None, since_seconds=0)
    with pytest.raises(ApiError) as info:
        append_log(sim, 'default', 'p', None, ['before the start'], at=clock.now - 1000)
    assert 'before the container started' in info.value.message


def test_rfc3339_nano_drops_trailing_zeros():
    assert rfc3339_nano(START) == '2023-11-14T22:13:20Z'
    assert rfc3339_nano(START + 0.25) == '2023-11-14T22:13:20.25Z'


def test_lines_stay_with_their_run_and_previous_logs():
    sim, clock = new_sim(pod_start_seconds=1, pod_ready_seconds=1, crashloop_backoff_seconds=2)
    create(sim, pod(image='shop:v2-crashloop'))
    run_until(sim, clock, lambda: running(sim))
    append_log(sim, 'default', 'p', None, ['first run'])

    def status():
        return get(sim, 'v1', 'Pod', 'p')['status']['containerStatuses'][0]
    run_until(sim, clock, lambda: status()['restartCount'] >= 1 and 'running' in status()['state'])
    assert 'first run' in pod_log(sim, 'default', 'p', None, True, None)
    assert 'first run' not in pod_log(sim, 'default', 'p', None, False, None)
    answer = append_log(sim, 'default', 'p', None, ['to the previous run'], previous=True)
    assert answer['attempt'] == 0
    assert pod_log(sim, 'default', 'p', None, True, None).endswith('first run\nto the previous run\n')


def test_append_refuses_what_reading_refuses():
    sim, clock = new_sim(pod_start_seconds=5)
    create(sim, pod(containers=[{'name': 'a', 'image': 'x:1'}, {'name': 'b', 'image': 'y:1'}]))
    tick(sim, clock, 0.1)
    with pytest.raises(ApiError) as info:
        append_log(sim, 'default', 'p', None, ['x'])
    assert info.value.code == 400 and 'a container name must be specified' in info.value.message
    with pytest.raises(ApiError) as info:
        append_log(sim, 'default', 'p', 'a', ['x'])
    assert 'waiting to start' in info.value.message
    with pytest.raises(ApiError) as info:
        append_log(sim, 'default', 'nope', 'a', ['x'])
    assert info.value.code == 404


def test_reset_forgets_appended_lines(env):
    sim, _clock = env
    append_log(sim, 'default', 'p', None, ['x'])
    assert sim.pod_logs
    sim.reset()
    assert sim.pod_logs == {}


async def _call(client: TestClient, method: str, path: str, body: Any = None, status: int = 200, **params: Any) -> Any:
    response = await client.request(method, path, data=None if body is None else json.dumps(body), params=params or None,
                                    headers={'Content-Type': 'application/json'})
    text = await response.text()
    assert response.status == status, f'{method} {path}: {response.status} {text}'
    return json.loads(text) if response.content_type.startswith('application/json') else text


def test_admin_endpoint_and_log_query_parameters():
    sim, clock = new_sim(pod_start_seconds=1, pod_ready_seconds=1)
    create(sim, pod())
    run_until(sim, clock, lambda: running(sim))
    tick(sim, clock, 100, 2)
    admin = '/kubesim/namespaces/default/pods/p/log'
    log = '/api/v1/namespaces/default/pods/p/log'

    async def main() -> None:
        async with TestClient(TestServer(make_app(sim, seed=7))) as client:
            answer = await _call(client, 'POST', admin, {'lines': [ACCESS], 'time': rfc3339(clock.now - 60)})
            assert answer['appended'] == 1 and answer['container'] == 'web'
            await _call(client, 'POST', admin, {'lines': ['late'], 'container': 'web'})
            text = await _call(client, 'GET', log, sinceSeconds='30')
            assert text == 'late\n'
            text = await _call(client, 'GET', log, sinceTime=rfc3339(clock.now - 60), timestamps='true')
            assert text.splitlines() == [f'{rfc3339(clock.now - 60)} {ACCESS}', f'{rfc3339_nano(clock.now)} late']
            for bad in ({}, {'lines': 'x'}, {'lines': ['a\nb']}, {'lines': [], 'time': 'yesterday'}, {'lines': [], 'other': 1},
                        {'lines': [], 'previous': 'yes'}, {'lines': [], 'container': 3}):
                await _call(client, 'POST', admin, bad, status=400)
            await _call(client, 'POST', '/kubesim/namespaces/default/pods/nope/log', {'lines': []}, status=404)
            await _call(client, 'GET', log, status=400, sinceSeconds='5', sinceTime=rfc3339(clock.now))
    asyncio.run(main())


def test_admin_endpoint_without_controllers_is_unavailable():
    async def main() -> None:
        async with TestClient(TestServer(make_app(Simulator(run_controllers=False), seed=7))) as client:
            # the kubelet module exists, but no pod is running: the pod is not found
            await _call(client, 'POST', '/kubesim/namespaces/default/pods/p/log', {'lines': ['x']}, status=404)
    asyncio.run(main())
