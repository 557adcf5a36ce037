"""playbooks/awx_configure.yml in check mode against a small stub of the AWX API.

No AWX controller can run here. The stub answers the reads the awx.awx modules
make (lookups by name, object details) as a controller that already holds an
object of every name asked for, with different fields; it records every
request. What this exercises: the playbook parses, its templates render every
job template, survey, workflow and schedule into valid awx.awx module
arguments (the modules' own argument validation), each module reads the
controller and reports a change, and check mode writes nothing (no POST,
PATCH, PUT or DELETE reaches the stub). What it does not: AWX's server-side
validation of the survey specs, workflow node creation (in check mode the
module stops before it), and a real run.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tests.integration.runner import REPO, run_playbook

PLAYBOOK = REPO / 'playbooks' / 'awx_configure.yml'


class ControllerStub(BaseHTTPRequestHandler):
    """Reads answered as a controller holding one object of every name asked for; writes refused and recorded."""

    requests = []

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('X-API-Product-Name', 'AWX')
        self.send_header('X-API-Product-Version', '24.6.1')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # pylint: disable=invalid-name
        url = urlparse(self.path)
        self.requests.append(('GET', url.path, parse_qs(url.query)))
        parts = [p for p in url.path.split('/') if p]
        if parts[-1] in ('api', 'v2'):
            self._send(200, {'current_version': '/api/v2/', 'available_versions': {'v2': '/api/v2/'}})
            return
        if parts[-1] in ('survey_spec',):
            self._send(200, {})
            return
        if parts[-1].isdigit():
            self._send(200, self._object(parts[-2], int(parts[-1]), 'existing'))
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        name = query.get('name') or query.get('or__name') or query.get('identifier') or 'existing'
        if parts[-1] in ('credentials', 'labels', 'instance_groups', 'workflow_nodes', 'success_nodes',
                         'failure_nodes', 'always_nodes', 'schedules'):
            self._send(200, {'count': 0, 'next': None, 'previous': None, 'results': []})
            return
        self._send(200, {'count': 1, 'next': None, 'previous': None, 'results': [self._object(parts[-1], 1, name)]})

    def _refuse(self):
        self.requests.append((self.command, urlparse(self.path).path, {}))
        self._send(405, {'detail': 'the stub accepts no writes'})

    do_POST = do_PATCH = do_PUT = do_DELETE = _refuse  # noqa: N815

    @staticmethod
    def _object(endpoint, ident, name):
        return {'id': ident, 'name': name, 'type': endpoint.rstrip('s'), 'url': '/api/v2/%s/%d/' % (endpoint, ident),
                'description': 'stub', 'related': {'survey_spec': '/api/v2/%s/%d/survey_spec/' % (endpoint, ident)},
                'summary_fields': {}, 'organization': 1, 'variables': '', 'survey_enabled': False, 'kind': '',
                'inventory': 1, 'project': 1}


@pytest.fixture(name='controller')
def controller_fixture():
    ControllerStub.requests = []
    server = ThreadingHTTPServer(('127.0.0.1', 0), ControllerStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_awx_configure_check_mode_against_a_controller_stub(controller, tmp_path):
    templates = yaml.safe_load((REPO / 'awx' / 'job_templates.yml').read_text(encoding='utf-8'))['awx_job_templates']
    run = run_playbook(PLAYBOOK, tmp_path, check=True,
                       extra_vars={'controller_host': controller, 'controller_oauthtoken': 'stub-token',
                                   'controller_validate_certs': False})
    assert not run.task('Create the organization').get('failed')  # only its name: already there
    for task in ('Create the execution environment', 'Create the project', 'Create the inventory'):
        assert run.task(task)['changed'] is True, task
    job_templates = run.task('Create a job template per playbook, with its survey')
    assert len(job_templates['results']) == len(templates)
    assert all(r['changed'] and not r.get('failed') for r in job_templates['results'])
    assert run.task('Create the incident workflows')['results'][0]['changed'] is True
    assert run.task('Schedule the maintenance windows')['results'][0]['changed'] is True
    writes = [r for r in ControllerStub.requests if r[0] != 'GET']
    assert writes == [], 'check mode wrote to the controller: %s' % writes
    looked_up = {q.get('name', [None])[0] for _method, path, q in ControllerStub.requests if path.endswith('/job_templates/')}
    assert {t['name'] for t in templates} <= looked_up
