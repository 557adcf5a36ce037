"""playbooks/maintenance_window.yml (the sre.runbooks.maintenance role) against kubesim and a local notice receiver.

The receiver is a tiny HTTP server in a thread: it records every notice (a generic webhook and
community.general.mattermost's incoming webhook) and serves /health for the smoke tests and the
health gate, /broken (500) for a failing smoke test. The plans are written by the tests, with
windows around the real current time.
"""

import datetime
import http.server
import json
import threading

import pytest

from tests.integration.conftest import FAILED_TASK, deploy, simulator_only
from tests.integration.runner import run_playbook
from tests.integration.test_node_upgrade import NODES, UPGRADE_TASKS, nodes_now, seed_versions_fixture  # noqa: F401  # pylint: disable=unused-import

pytestmark = [pytest.mark.kubernetes, simulator_only]

PLAYBOOK = 'sre.runbooks.maintenance_window'
API_KEY = 'test-hook-key'


class Receiver(http.server.ThreadingHTTPServer):
    """Records POSTs as (path, JSON body); GET /health answers 200 ok, anything else 500."""

    def __init__(self):
        self.notices = []
        self.lock = threading.Lock()
        super().__init__(('127.0.0.1', 0), self._handler())

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                with server.lock:
                    server.notices.append((self.path, json.loads(body or b'null')))
                self._answer(200, b'{"ok": true}')

            def do_GET(self):  # noqa: N802
                self._answer(200, b'ok') if self.path == '/health' else self._answer(500, b'broken')

            def _answer(self, status, body):
                self.send_response(status)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server_address[1]

    def webhook(self):
        return [body for path, body in self.notices if path == '/notices']

    def mattermost(self):
        return [body for path, body in self.notices if path == '/hooks/' + API_KEY]


@pytest.fixture(name='receiver')
def receiver_fixture():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def iso(minutes_from_now):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes_from_now)).strftime('%Y-%m-%dT%H:%M:%SZ')


def plan(receiver, steps, start=-5, end=60, **extra):
    return dict({
        'name': 'Kubernetes test upgrade',
        'window': {'start': iso(start), 'end': iso(end)},
        'notify': {'progress_minutes': 0, 'targets': [
            {'type': 'webhook', 'url': receiver.url + '/notices'},
            {'type': 'mattermost', 'url': receiver.url, 'api_key': API_KEY, 'channel': 'maintenance'}]},
        'steps': steps,
        'rollback': {'description': 'revert the nodes to v1.32.0', 'automatic': False,
                     'steps': [{'name': 'Revert the nodes', 'type': 'node_upgrade', 'version': 'v1.32.0', 'tasks_file': str(UPGRADE_TASKS)}]},
        'success_criteria': ['All pods healthy', 'Smoke tests pass'],
    }, **extra)


def maintain(kube, tmp_path, the_plan, check=False, expect_rc=0, **extra):
    plan_file = tmp_path / 'plan.yml'
    plan_file.write_text(json.dumps(the_plan), encoding='utf-8')  # JSON is YAML
    extra_vars = dict(kubeconfig=str(kube.kubeconfig), maintenance_plan_file=str(plan_file), maintenance_report_dir=str(tmp_path / 'reports'),
                      kubesim_url=kube.admin.url, kubesim_restart_seconds=0.5, node_upgrade_ready_sleep=1, **extra)
    return run_playbook(PLAYBOOK, tmp_path, extra_vars=extra_vars, check=check, env=kube.env, expect_rc=expect_rc)


def report_of(tmp_path):
    (json_file,) = (tmp_path / 'reports').glob('*.json')
    (text_file,) = (tmp_path / 'reports').glob('*.txt')
    return json.loads(json_file.read_text(encoding='utf-8')), text_file.read_text(encoding='utf-8')


def test_a_plan_outside_its_window_is_refused_and_an_emergency_needs_a_reason(kube, receiver, tmp_path):
    the_plan = plan(receiver, [{'name': 'Upgrade', 'type': 'node_upgrade', 'version': 'v1.33.0', 'tasks_file': str(UPGRADE_TASKS)}],
                    start=-180, end=-60)
    before = nodes_now(kube)
    refused = maintain(kube, tmp_path, the_plan, expect_rc=FAILED_TASK)
    msg = refused.task('Refuse to start outside the window')['msg']
    assert msg.startswith('Refusing to start maintenance "Kubernetes test upgrade": the window closed at %s' % the_plan['window']['end'])
    assert 'Nothing was changed and no notice was sent' in msg and 'maintenance_force=true' in msg
    later = maintain(kube, tmp_path, plan(receiver, the_plan['steps'], start=60, end=120), expect_rc=FAILED_TASK)
    assert 'the window opens at' in later.task('Refuse to start outside the window')['msg']
    no_reason = maintain(kube, tmp_path, the_plan, expect_rc=FAILED_TASK, maintenance_emergency=True)
    assert no_reason.task('Refuse an emergency without a reason')['msg'].startswith('Emergency maintenance needs a reason')
    assert receiver.notices == [] and nodes_now(kube) == before and not (tmp_path / 'reports').exists()


def test_check_then_maintenance_with_notices_progress_and_report(kube, namespace, receiver, seed_versions, tmp_path):
    deploy(kube, namespace, name='web', replicas=3)
    steps = [
        {'name': 'Drain each node, upgrade, uncordon', 'type': 'node_upgrade', 'planned_minutes': 90, 'version': 'v1.33.2',
         'tasks_file': str(UPGRADE_TASKS)},
        {'name': 'Verify pods rescheduled healthy', 'type': 'verify_workloads', 'planned_minutes': 5, 'namespaces': [namespace]},
        {'name': 'Verify all nodes upgraded', 'type': 'verify_nodes', 'planned_minutes': 5, 'version': 'v1.33.2'},
        {'name': 'Run smoke tests', 'type': 'smoke_tests', 'planned_minutes': 10,
         'checks': [{'name': 'health', 'url': receiver.url + '/health', 'contains': 'ok'}]},
        {'name': 'Monitor', 'type': 'monitor', 'planned_minutes': 10, 'for_seconds': 0, 'http_checks': [{'name': '/health', 'url': receiver.url + '/health'}]},
        {'name': 'Close maintenance window', 'type': 'note', 'planned_minutes': 0},
    ]
    the_plan = plan(receiver, steps)
    before = nodes_now(kube)

    checked = maintain(kube, tmp_path, the_plan, check=True)
    assert nodes_now(kube) == before and receiver.notices == [] and not list((tmp_path / 'reports').glob('*'))
    planned = checked.task('Build the report')['ansible_facts']['maintenance_report']
    assert planned['check_mode'] is True and [s['result'] for s in planned['steps']] == ['ok', 'skipped', 'skipped', 'skipped', 'skipped', 'ok']

    run = maintain(kube, tmp_path, the_plan)
    assert all(s == {'version': 'v1.33.2', 'unschedulable': False, 'ready': True} for s in nodes_now(kube).values())
    report, text = report_of(tmp_path)
    assert report['outcome'] == 'succeeded' and report['name'] == 'Kubernetes test upgrade' and report['forced'] is False
    assert [s['name'] for s in report['steps']] == [s['name'] for s in steps]
    for step, row in zip(steps, report['steps']):
        assert row['result'] == 'ok' and row['planned_minutes'] == step['planned_minutes']
        assert isinstance(row['actual_seconds'], (int, float)) and row['actual_seconds'] >= 0
        assert isinstance(row['actual_minutes'], (int, float)) and row['actual_minutes'] >= 0
    assert report['planned_minutes'] == 120 and report['actual_minutes'] >= 0
    assert text.startswith('Maintenance: Kubernetes test upgrade - succeeded') and 'Run smoke tests' in text
    assert 'Fail when a step failed' not in run.failed_tasks

    # Notices: start, a progress notice at each step boundary (progress_minutes 0), completion; to both targets.
    events = [n['event'] for n in receiver.webhook()]
    assert events == ['start'] + ['progress'] * (len(steps) - 1) + ['completion']
    assert all(n['plan'] == 'Kubernetes test upgrade' and n['emergency'] is False for n in receiver.webhook())
    start, *progress, completion = receiver.webhook()
    assert start['text'].startswith('[Kubernetes test upgrade] Maintenance window started: Kubernetes test upgrade (6 steps, planned 120')
    assert progress[0]['text'].startswith('[Kubernetes test upgrade] Maintenance in progress: step 1/6 "Drain each node, upgrade, uncordon" ok (planned 90 min')
    assert 'Next: "Verify pods rescheduled healthy"' in progress[0]['text']
    assert [s['result'] for s in progress[-1]['steps']] == ['ok'] * 5
    assert completion['text'] == '[Kubernetes test upgrade] Maintenance complete: Kubernetes test upgrade, 6 steps ok'
    assert [s['name'] for s in completion['steps']] == [s['name'] for s in steps]
    assert [m['text'] for m in receiver.mattermost()] == [n['text'] for n in receiver.webhook()]
    assert all(m['channel'] == 'maintenance' for m in receiver.mattermost())
    assert [(n['event'], n['sent'], n['failed']) for n in report['notices']] == [(e, 2, []) for e in events]


def test_a_failed_step_stops_the_plan_prints_or_runs_the_rollback_and_an_emergency_records_its_reason(kube, receiver, tmp_path):
    steps = [
        {'name': 'Announce', 'type': 'note', 'planned_minutes': 1},
        {'name': 'Run smoke tests', 'type': 'smoke_tests', 'planned_minutes': 10,
         'checks': [{'name': 'health', 'url': receiver.url + '/health'}, {'name': 'broken', 'url': receiver.url + '/broken'}]},
        {'name': 'Close maintenance window', 'type': 'note', 'planned_minutes': 0},
    ]
    the_plan = plan(receiver, steps, start=-180, end=-60,
                    rollback={'description': 'put it back', 'automatic': True, 'steps': [{'name': 'Revert by hand', 'type': 'note'}]})
    run = maintain(kube, tmp_path, the_plan, expect_rc=FAILED_TASK, maintenance_emergency=True, maintenance_emergency_reason='CVE-2026-0001 in the kubelet')
    failure = run.task('Fail when a step failed')['msg']
    assert failure.startswith('Maintenance "Kubernetes test upgrade" failed at step 2 "Run smoke tests": Smoke tests failed: broken: HTTP 500')
    assert 'Rollback: ran Revert by hand: ok.' in failure
    report, text = report_of(tmp_path)
    assert report['outcome'] == 'failed' and report['failed_step'] == 'Run smoke tests'
    assert report['emergency'] is True and report['reason'] == 'CVE-2026-0001 in the kubelet' and report['forced'] is False
    assert [s['result'] for s in report['steps']] == ['ok', 'failed', 'not_run']
    assert report['steps'][2]['actual_seconds'] is None and report['steps'][1]['actual_seconds'] >= 0
    assert report['rollback']['actions'] == ['ran Revert by hand: ok']
    assert 'Reason: CVE-2026-0001 in the kubelet' in text and 'Rollback plan: put it back' in text
    events = [n['event'] for n in receiver.webhook()]
    assert events == ['start', 'progress', 'completion']
    start, _progress, completion = receiver.webhook()
    assert start['text'] == '[Kubernetes test upgrade] Emergency Maintenance in Progress: Kubernetes test upgrade. Reason: CVE-2026-0001 in the kubelet'
    assert start['emergency'] is True and start['reason'] == 'CVE-2026-0001 in the kubelet'
    assert completion['text'].startswith('[Kubernetes test upgrade] Maintenance stopped: Kubernetes test upgrade, step 2 "Run smoke tests" failed')
    assert completion['text'].endswith('Rollback: ran Revert by hand: ok')
    assert [s['result'] for s in completion['steps']] == ['ok', 'failed', 'not_run']

    # Not automatic: the rollback plan is printed and the report says it was not run.
    receiver.notices.clear()
    printed = plan(receiver, steps)
    (tmp_path / 'second').mkdir()
    maintain(kube, tmp_path / 'second', printed, expect_rc=FAILED_TASK)
    report, _text = report_of(tmp_path / 'second')
    assert report['forced'] is False and report['emergency'] is False
    assert report['rollback']['actions'] == ['rollback not run automatically; the plan: revert the nodes to v1.32.0; steps to run: Revert the nodes']
