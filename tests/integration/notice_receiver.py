"""A local HTTP receiver for incident notices: webhooks, Mattermost, PagerDuty Events v2 and a statuspage.io-style API.

It runs in a thread of the test process on 127.0.0.1 and records every request
as (method, path, headers, JSON body). Answers: PagerDuty /v2/enqueue 202 with
the dedup_key, status page POST 201 with a new incident id (PATCH 200), /fail 500,
anything else 200.
"""

import http.server
import itertools
import json
import threading

import pytest


class NoticeReceiver(http.server.ThreadingHTTPServer):
    """Records requests; `requests_to(path_prefix)` returns the recorded bodies in order."""

    daemon_threads = True

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        super().__init__(('127.0.0.1', 0), self._handler())

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _body(self):
                raw = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                try:
                    return json.loads(raw or b'null')
                except ValueError:
                    return raw.decode('utf-8', 'replace')

            def _record(self, method):
                body = self._body()
                with server.lock:
                    server.requests.append({'method': method, 'path': self.path, 'headers': dict(self.headers), 'body': body})
                return body

            def do_POST(self):  # noqa: N802
                body = self._record('POST')
                if self.path.startswith('/fail'):
                    return self._answer(500, {'error': 'receiver told to fail'})
                if self.path.endswith('/v2/enqueue'):
                    return self._answer(202, {'status': 'success', 'message': 'Event processed', 'dedup_key': (body or {}).get('dedup_key')})
                if '/incidents' in self.path:
                    return self._answer(201, {'id': 'sp%d' % next(server.ids), 'status': ((body or {}).get('incident') or {}).get('status')})
                return self._answer(200, {'ok': True})

            def do_PATCH(self):  # noqa: N802
                body = self._record('PATCH')
                return self._answer(200, {'id': self.path.rsplit('/', 1)[-1], 'status': ((body or {}).get('incident') or {}).get('status')})

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None

            def log_message(self, *args):
                pass

        return Handler

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server_address[1]

    def requests_to(self, prefix):
        with self.lock:
            return [r for r in self.requests if r['path'].startswith(prefix)]

    def everything(self):
        """Every request as text, to search for a leaked secret."""
        with self.lock:
            return json.dumps(self.requests)


@pytest.fixture(name='notice_receiver')
def notice_receiver_fixture():
    server = NoticeReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
