"""Alert-driven runs: real Alertmanager webhook payloads through the rulebook, evaluated as ansible-rulebook would.

A real Alertmanager (Debian's prometheus-alertmanager) receives alerts on its
v2 API and sends its real webhook notifications to a local receiver; the
captured payloads go through the ansible.eda.alertmanager source's event
split and the rulebook's conditions and throttle (tests/rulebook.py, since
ansible-rulebook cannot be installed here). No playbook is run.
"""

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from tests.engines.alertmanager import AlertmanagerServer
from tests.engines.errors import EngineUnavailable
from tests.engines.ports import wait_until
from tests.integration.runner import REPO
from tests.rulebook import Ruleset
from tests.setup import awx_templates

RULEBOOK = REPO / 'extensions' / 'eda' / 'rulebooks' / 'alerts.yml'
WORKLOAD = {'namespace': 'shop', 'deployment': 'checkout'}


class Receiver(BaseHTTPRequestHandler):
    """The webhook end of Alertmanager: keeps every payload with its arrival time."""

    payloads = []

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def do_POST(self):  # pylint: disable=invalid-name
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        self.payloads.append((time.monotonic(), self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()


@pytest.fixture(name='receiver')
def receiver_fixture():
    Receiver.payloads = []
    server = ThreadingHTTPServer(('127.0.0.1', 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield 'http://127.0.0.1:%d/alerts' % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(name='alertmanager')
def alertmanager_fixture(receiver, tmp_path):
    server = AlertmanagerServer(tmp_path / 'alertmanager', receiver)
    try:
        server.start()
    except EngineUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def alert(name, ends_in=300, **labels):
    now = datetime.now(timezone.utc)
    return {'labels': dict(alertname=name, severity='critical', **labels), 'annotations': {'summary': name},
            'startsAt': (now - timedelta(seconds=30)).isoformat(), 'endsAt': (now + timedelta(seconds=ends_in)).isoformat(),
            'generatorURL': 'http://prometheus.invalid/graph'}


def notified(name, status):
    return [p for p in Receiver.payloads if any(a['labels']['alertname'] == name and a['status'] == status for a in p[3]['alerts'])]


def test_alerts_launch_the_right_playbooks_once_within_the_throttle(alertmanager):
    others = [
        alert('PodCrashLooping', namespace='shop', deployment='cart', instance='10.0.0.7:8080'),
        alert('HighLatency', namespace='shop', deployment='search'),
        alert('KubeNodeNotReady', node='node-2', namespace='shop', condition='Ready'),
        alert('KubePersistentVolumeFillingUp', namespace='shop', persistentvolumeclaim='data-db-0'),
        alert('Watchdog'),
        alert('HighErrorRate', namespace='shop'),  # no workload label: nothing to act on
    ]
    alertmanager.post_alerts(others)
    # HighErrorRate fires and keeps firing (Prometheus re-sends it every evaluation);
    # Alertmanager repeats the notification every repeat_interval (2 s here).
    deadline = time.monotonic() + 60
    while len(notified('HighErrorRate', 'firing')) < 4 and time.monotonic() < deadline:
        alertmanager.post_alerts([alert('HighErrorRate', **WORKLOAD)])
        time.sleep(1)
    assert len(notified('HighErrorRate', 'firing')) >= 4
    # It flaps: resolved, then firing again.
    alertmanager.post_alerts([alert('HighErrorRate', ends_in=-1, **WORKLOAD)])
    wait_until(lambda: any(a['labels'].get('deployment') == 'checkout' for p in notified('HighErrorRate', 'resolved')
                           for a in p[3]['alerts'] if a['status'] == 'resolved'), 30, 0.2, 'the resolved notification')
    alertmanager.post_alerts([alert('HighErrorRate', **WORKLOAD)])
    wait_until(lambda: notified('HighErrorRate', 'firing')[-1][0] > notified('HighErrorRate', 'resolved')[-1][0], 30, 0.2,
               'the firing notification after the resolved one')
    for name in ('PodCrashLooping', 'HighLatency', 'KubeNodeNotReady', 'KubePersistentVolumeFillingUp'):
        wait_until(lambda name=name: notified(name, 'firing'), 30, 0.2, '%s notification' % name)

    payloads = list(Receiver.payloads)
    for _arrival, _path, headers, body in payloads:  # the real webhook format (version 4)
        assert body['version'] == '4' and body['receiver'] == 'webhook' and headers['Content-Type'] == 'application/json'
        assert {'status', 'groupLabels', 'commonLabels', 'externalURL', 'alerts'} <= set(body)

    [ruleset_data] = yaml.safe_load(RULEBOOK.read_text(encoding='utf-8'))
    ruleset = Ruleset(ruleset_data)
    start = payloads[0][0]
    launches = []
    for arrival, path, headers, body in payloads:
        for event in ruleset.alertmanager_events(body, endpoint=path.strip('/'), headers=headers):
            launch = ruleset.process(event, now=arrival - start)
            if launch:
                launches.append(launch)
    by_playbook = {}
    for launch in launches:
        by_playbook.setdefault(launch.playbook, []).append(launch)

    # Once each, however often the alert was notified within the window.
    assert {k: len(v) for k, v in by_playbook.items()} == {
        'sre.runbooks.high_error_rate': 1, 'sre.runbooks.crash_loop': 1, 'sre.runbooks.high_latency': 1,
        'sre.runbooks.pod_eviction': 1, 'sre.runbooks.disk_full': 1}
    assert by_playbook['sre.runbooks.high_error_rate'][0].extra_vars == {'workload_namespace': 'shop', 'workload_name': 'checkout'}
    assert by_playbook['sre.runbooks.crash_loop'][0].extra_vars == {'workload_namespace': 'shop', 'workload_name': 'cart'}
    assert by_playbook['sre.runbooks.high_latency'][0].extra_vars == {'workload_namespace': 'shop', 'workload_name': 'search'}
    assert by_playbook['sre.runbooks.pod_eviction'][0].extra_vars == {'workload_namespace': 'shop'}
    assert by_playbook['sre.runbooks.disk_full'][0].extra_vars == {'disk_full_namespace': 'shop', 'disk_full_pvc': 'data-db-0'}

    # The same alert after the 15-minute window launches again, once.
    last = [p for p in notified('HighErrorRate', 'firing')
            if any(a['labels'].get('deployment') == 'checkout' and a['status'] == 'firing' for a in p[3]['alerts'])][-1]
    again = [ruleset.process(e, now=last[0] - start + 15 * 60 + 1) for e in ruleset.alertmanager_events(last[3])]
    assert [launch.playbook for launch in again if launch] == ['sre.runbooks.high_error_rate']

    # Every playbook named exists and accepts the extra vars (disk_full: when it has landed).
    catalog = awx_templates.load_yaml(REPO / 'awx' / 'catalog.yml')
    for playbook, runs in by_playbook.items():
        name = playbook.removeprefix('sre.runbooks.')
        if name == 'disk_full':
            # Written in parallel: its inputs are not role options yet; it must at least use them.
            path = REPO / 'playbooks' / 'disk_full.yml'
            assert not path.is_file() or all(var in path.read_text(encoding='utf-8') for var in runs[0].extra_vars)
            continue
        accepted = awx_templates.accepted_inputs(name, catalog)
        assert set(runs[0].extra_vars) <= set(accepted), (playbook, set(runs[0].extra_vars) - set(accepted))
