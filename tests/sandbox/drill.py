"""`make demo`: an incident drill on the built-in sandbox.

The sandbox comes up (the kubesim Kubernetes cluster, PostgreSQL 15, the
sample "checkout" app's metrics, Prometheus scraping them), checkout v1 is
released to the cluster, then a bad release v2 crash-loops (checkout is
released with the Recreate strategy, so the service goes down) and leaks
database connections. The sample app is bound to the checkout pods on the
cluster (tests/engines/app_binding.py): its error rate and health follow the
ready pods, so Prometheus, and the health gate, measure what the automation
really did. The runbook playbooks diagnose it and write evidence,
sre.runbooks.crash_loop picks the fix from the findings (a crash loop right
after a deploy: roll back) and verifies it with the health gate, and the drill
proves the recovery.
The incident runs through its lifecycle (sre.runbooks.incident): declared P0
when the alerts fire, with a notice to the sandbox's chat receiver; every task
of the runbook playbooks lands in the incident timeline (the
sre.runbooks.incident_timeline callback); resolved once verified; and the
post-incident review is rendered from that timeline.
The drill ends by printing the evidence, the timeline and the review it wrote.

    python -m tests.sandbox.drill [--keep]      # the drill (--keep leaves the sandbox up)
    python -m tests.sandbox.drill leak N        # internal: the leaking release, holds N sessions (PG* env)
"""

import argparse
import datetime
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.engines.app_binding import AppBinding
from tests.engines.prometheus import JOB_NAME
from tests.integration.notice_receiver import NoticeReceiver

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / 'playbooks'
GOOD_IMAGE = 'shop/checkout:v1'
BAD_IMAGE = 'shop/checkout:v2-crashloop'  # kubesim crash-loops images tagged with a fault word
ERROR_RATE = 'sum(rate(http_requests_total{code=~"5.."}[15s])) / sum(rate(http_requests_total[15s]))'
P95_LATENCY = 'histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[15s])) by (le))'
LEAKED_SESSIONS = 24
RATE_WINDOW = '15s'  # the runbooks' 5m windows, shortened so the drill takes a minute, not ten


class RemoteApp:
    """The sample app of the sandbox engines (another process), as AppBinding drives it: POST /control."""

    def __init__(self, url):
        self.url = url

    def update(self, controls):
        request = urllib.request.Request(self.url + '/control', data=json.dumps(controls).encode(),
                                         headers={'Content-Type': 'application/json'}, method='POST')
        with urllib.request.urlopen(request, timeout=10):
            pass


class Drill:
    """One run of the drill: its sandbox, evidence directory and timeline."""

    def __init__(self, home, evidence_root, incident_id):
        self.state_dir = home / 'sandbox'
        self.evidence_dir = evidence_root / incident_id
        self.timeline_path = self.evidence_dir / 'timeline.jsonl'
        self.engines = {}
        self.kubeconfig = ''
        self.leak = None
        self.binding = None
        # The incident: declared when the alerts fire; its record, timeline and review under incidents/<id>/.
        self.incident_id = 'INC-' + incident_id.split('-', 1)[-1]
        self.incident_dir = self.evidence_dir / 'incidents'
        self.incident_open = False
        self.chat = None

    # -- narration and records ------------------------------------------------

    @staticmethod
    def step(title):
        """Print a step header."""
        print('\n\033[1m== %s\033[0m' % title, flush=True)

    def record(self, event, **detail):
        """Append an event to the timeline and echo it."""
        entry = {'time': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), 'event': event}
        entry.update(detail)
        with self.timeline_path.open('a', encoding='utf-8') as handle:
            handle.write(json.dumps(entry, sort_keys=True) + '\n')
        print('   [timeline] %s %s' % (entry['time'], event), flush=True)

    # -- sandbox ----------------------------------------------------------------

    def sandbox_up(self):
        """Start PostgreSQL, the sample app and Prometheus (stopping a stale sandbox first)."""
        engines = [sys.executable, '-m', 'tests.engines']
        subprocess.run(engines + ['down', '--state-dir', str(self.state_dir)], cwd=REPO, check=False, stdout=subprocess.DEVNULL)
        proc = subprocess.run(engines + ['up', '--state-dir', str(self.state_dir), '--with', 'postgres,prometheus'],
                              cwd=REPO, check=False, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit('the sandbox did not come up (see above)')
        self.engines = json.loads(proc.stdout)
        kubesim = [sys.executable, '-m', 'tests.sandbox.kubesim']
        subprocess.run(kubesim + ['stop', '--state-dir', str(self.state_dir / 'kubesim')], cwd=REPO, check=False, stderr=subprocess.DEVNULL)
        proc = subprocess.run(kubesim + ['start', '--state-dir', str(self.state_dir / 'kubesim')], cwd=REPO, check=False, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit('the sandbox cluster did not come up (see above)')
        self.kubeconfig = json.loads(proc.stdout)['kubeconfig']

    def sandbox_down(self):
        """Stop the sandbox engines."""
        if self.binding:
            self.binding.stop()
        subprocess.run([sys.executable, '-m', 'tests.engines', 'down', '--state-dir', str(self.state_dir)], cwd=REPO, check=False)
        subprocess.run([sys.executable, '-m', 'tests.sandbox.kubesim', 'stop', '--state-dir', str(self.state_dir / 'kubesim')], cwd=REPO, check=False)

    def promql(self, query):
        """The first value of an instant query, or None when there is no data yet."""
        url = '%s/api/v1/query?%s' % (self.engines['prometheus']['url'], urllib.parse.urlencode({'query': query}))
        with urllib.request.urlopen(url, timeout=10) as response:
            result = json.load(response)['data']['result']
        if not result:
            return None
        value = float(result[0]['value'][1])
        return None if math.isnan(value) else value  # NaN before there is any traffic

    def wait_for(self, query, accept, what, timeout=60):
        """Poll Prometheus until accept(value) holds; return the value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.promql(query)
            if value is not None and accept(value):
                return value
            time.sleep(1)
        raise SystemExit('timed out after %d s waiting for %s (last value %s)' % (timeout, what, value))

    # -- runbook playbooks ----------------------------------------------------

    def playbook(self, playbook, extra):
        """Run ansible-playbook on localhost; return its exit status.

        Once the incident is declared, every task of the run goes to its timeline (the incident_timeline callback).
        """
        env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false',
                   ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
        if self.incident_open:
            env.update(ANSIBLE_CALLBACKS_ENABLED='sre.runbooks.incident_timeline', SRE_INCIDENT_DIR=str(self.incident_dir),
                       SRE_INCIDENT_ID=self.incident_id)
        cmd = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(playbook), '-e', json.dumps(extra)]
        print('   $ ansible-playbook %s -e ...' % (playbook if isinstance(playbook, str) else playbook.relative_to(REPO)), flush=True)
        return subprocess.run(cmd, cwd=REPO, env=env, check=False).returncode

    def diagnose(self, fail_when_exhausted, evidence=True):
        """Run sre.runbooks.diagnose_db_connections against the sandbox database; return its exit status."""
        conninfo = self.engines['postgres']['conninfo']
        extra = {
            'pg_login_host': conninfo['host'], 'pg_login_port': conninfo['port'], 'pg_login_user': conninfo['user'],
            'pg_login_password': conninfo['password'], 'pg_db': conninfo['dbname'],
            'db_connections_fail_when_exhausted': fail_when_exhausted,
        }
        if evidence:
            extra['evidence_dir'] = str(self.evidence_dir)
        return self.playbook('sre.runbooks.diagnose_db_connections', extra)

    def release(self, image, wait):
        """Ship a checkout release to the cluster (the sandbox's CD pipeline)."""
        extra = {'kubeconfig': self.kubeconfig, 'checkout_image': image, 'checkout_wait': wait}
        if self.playbook(PLAYBOOKS / 'checkout_release.yml', extra) != 0:
            raise SystemExit('releasing %s failed' % image)

    def pods(self):
        """The checkout pods, as the API reports them."""
        proc = subprocess.run(['kubectl', 'get', 'pods', '-n', 'shop', '-l', 'app=checkout', '-o', 'json'], env=dict(os.environ, KUBECONFIG=self.kubeconfig),
                              check=True, stdout=subprocess.PIPE, text=True)
        return json.loads(proc.stdout)['items']

    def crash_looping(self):
        """Names and restart counts of checkout pods in CrashLoopBackOff."""
        looping = {}
        for pod in self.pods():
            for status in pod['status'].get('containerStatuses', []):
                if (status.get('state', {}).get('waiting') or {}).get('reason') == 'CrashLoopBackOff':
                    looping[pod['metadata']['name']] = status['restartCount']
        return looping

    def wait_until(self, check, what, timeout=60):
        """Poll check() until it returns something true; return that."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(1)
        raise SystemExit('timed out after %d s waiting for %s' % (timeout, what))

    def figures(self):
        """The connection figures the last diagnosis saved."""
        newest = sorted(self.evidence_dir.glob('db-connections-localhost-*.json'))[-1]
        return json.loads(newest.read_text(encoding='utf-8'))

    def findings(self):
        """What the newest diagnostics snapshot found (its findings.json)."""
        newest = sorted((self.evidence_dir / 'cluster').iterdir())[-1]
        summary = [line[4:] for line in (newest / 'summary.txt').read_text(encoding='utf-8').splitlines() if line.startswith('  - ')]
        return {'findings': json.loads((newest / 'findings.json').read_text(encoding='utf-8')), 'summary': summary,
                'rollout': json.loads((newest / 'history.json').read_text(encoding='utf-8'))['rollout']}

    def save_metrics(self, name):
        """Keep Prometheus's view of the app as evidence."""
        metrics = {'error_rate': self.promql(ERROR_RATE), 'p95_latency_seconds': self.promql(P95_LATENCY)}
        (self.evidence_dir / ('metrics-%s.json' % name)).write_text(json.dumps(metrics, indent=2) + '\n', encoding='utf-8')
        return metrics

    # -- the incident lifecycle ----------------------------------------------------

    def incident(self, action, **extra):
        """One step of sre.runbooks.incident (declare, resolve, review) on the drill's incident; notices to the chat receiver."""
        extra = dict(extra, incident_action=action, incident_id=self.incident_id, incident_dir=str(self.incident_dir),
                     incident_targets=[{'type': 'webhook', 'name': 'incident chat', 'url': self.chat.url + '/chat'}])
        if self.playbook('sre.runbooks.incident', extra) != 0:
            raise SystemExit('the incident step %s failed (see above)' % action)
        for notice in self.chat.requests_to('/chat')[self.notices_shown:]:
            print('   [notice to incident chat] %s' % notice['body']['text'].splitlines()[0], flush=True)
        self.notices_shown = len(self.chat.requests_to('/chat'))

    def start_chat(self):
        """The sandbox's incident chat: a local receiver the notices are posted to."""
        self.chat = NoticeReceiver()
        threading.Thread(target=self.chat.serve_forever, daemon=True).start()
        self.notices_shown = 0

    def stop_chat(self):
        if self.chat is not None:
            self.chat.shutdown()
            self.chat.server_close()

    # -- the drill ------------------------------------------------------------------

    def run(self):
        """The drill, step by step."""
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        self.timeline_path.write_text('', encoding='utf-8')

        self.step('1. The sandbox comes up: a 3-node Kubernetes cluster (kubesim), PostgreSQL 15, Prometheus, the incident chat')
        self.sandbox_up()
        self.start_chat()
        self.record('sandbox up', postgres=self.engines['postgres']['port'], prometheus=self.engines['prometheus']['url'],
                    kubeconfig=self.kubeconfig)
        self.wait_for(ERROR_RATE, lambda v: v < 0.01, 'healthy baseline traffic')

        self.step('2. checkout v1 is released; the runbook finds the database healthy')
        self.release(GOOD_IMAGE, wait=True)
        self.binding = AppBinding(RemoteApp(self.engines['sample_app']['url']), self.kubeconfig, 'shop', 'checkout', interval=0.5).start()
        self.record('release checkout v1 deployed', image=GOOD_IMAGE, pods=len(self.pods()))
        if self.diagnose(fail_when_exhausted=True, evidence=False) != 0:
            raise SystemExit('the baseline diagnosis failed on a healthy sandbox')
        self.record('baseline healthy')

        self.step('3. A bad release (checkout v2): its pods crash-loop, checkout is down, it leaks database connections')
        self.release(BAD_IMAGE, wait=False)
        conninfo = self.engines['postgres']['conninfo']
        # The app's credentials travel in the environment, never on a command line.
        leak_env = dict(os.environ, PGHOST=conninfo['host'], PGPORT=str(conninfo['port']), PGUSER=conninfo['user'],
                        PGPASSWORD=conninfo['password'], PGDATABASE=conninfo['dbname'])
        self.leak = subprocess.Popen([sys.executable, '-m', 'tests.sandbox.drill', 'leak', str(LEAKED_SESSIONS)],
                                     cwd=REPO, env=leak_env, stdout=subprocess.PIPE, text=True)
        self.leak.stdout.readline()  # "holding N sessions"
        self.record('release checkout v2 deployed', image=BAD_IMAGE)
        rate = self.wait_for(ERROR_RATE, lambda v: v > 0.05, 'the error rate to rise')
        self.record('alert: high error rate', error_rate_percent=round(rate * 100, 1))
        looping = self.wait_until(self.crash_looping, 'checkout v2 pods to crash-loop')
        self.record('alert: pods crash-looping', pods=sorted(looping), restarts=sum(looping.values()))
        self.incident('declare', incident_severity='P0', incident_service='checkout', incident_title='checkout down after release v2',
                      incident_commander='@on-call', incident_channel='#incident-checkout',
                      incident_impact='checkout returns errors for every request',
                      incident_update_findings=['error rate %.0f%%' % (rate * 100), '%d pods crash-looping' % len(looping)])
        self.incident_open = True
        self.record('incident declared', incident=self.incident_id, severity='P0')

        self.step('4. Diagnose: the database and the cluster, evidence written')
        self.diagnose(fail_when_exhausted=False)
        snapshot = {'kubeconfig': self.kubeconfig, 'diagnostics_namespace': 'shop', 'diagnostics_name': 'checkout',
                    'diagnostics_dest': str(self.evidence_dir / 'cluster')}
        if self.playbook('sre.runbooks.diagnose', snapshot) != 0:
            raise SystemExit('the diagnostics snapshot failed (see above)')
        findings = self.findings()
        figures = self.figures()
        metrics = self.save_metrics('during-incident')
        self.record('diagnosis: connections exhausted' if figures['exhausted'] else 'diagnosis: connections within limits',
                    total_connections=figures['total_connections'], max_connections=figures['max_connections'],
                    utilization_percent=figures['utilization_percent'], idle_in_transaction=figures['idle_in_transaction'],
                    by_database=figures['by_database'], error_rate_percent=round(metrics['error_rate'] * 100, 1))
        if not figures['exhausted']:
            raise SystemExit('the diagnosis did not find the connection leak it was staged to find')
        self.record('diagnosis: cluster findings', summary=findings['summary'][:3],
                    reasons=sorted({f['reason'] for f in findings['findings']}), revision=findings['rollout']['revision'],
                    seconds_since_update=findings['rollout']['seconds_since_update'])

        self.step('5. Recover: sre.runbooks.crash_loop picks the fix from the findings and gates the result')
        recover = {
            'kubeconfig': self.kubeconfig, 'workload_name': 'checkout', 'workload_namespace': 'shop',
            'diagnostics_dest': str(self.evidence_dir / 'cluster'),
            'health_gate_prometheus_url': self.engines['prometheus']['url'], 'health_gate_job': JOB_NAME,
            'health_gate_rate_window': RATE_WINDOW, 'health_gate_wait_timeout': 90, 'health_gate_retry_interval': 5,
            'health_gate_http_checks': [{'name': 'checkout /health', 'url': self.engines['sample_app']['url'] + '/health'}],
        }
        if self.playbook('sre.runbooks.crash_loop', recover) != 0:
            raise SystemExit('the crash loop was not fixed (see above)')
        # The leaking sessions belonged to the v2 pods, gone with them.
        self.leak.send_signal(signal.SIGTERM)
        self.leak.wait(timeout=30)
        self.record('rolled back checkout v2 to v1', playbook='sre.runbooks.crash_loop',
                    reason='pods crash-looping right after the deploy; connection leak: %d%% of usable connections, %d idle in transaction'
                    % (figures['utilization_percent'], figures['idle_in_transaction']))

        self.step('6. Verify: all checkout pods ready on v1, connections within limits, error rate below 1%')
        pods = self.pods()
        images = sorted({c['image'] for pod in pods for c in pod['spec']['containers']})
        ready = [p for p in pods if any(c['type'] == 'Ready' and c['status'] == 'True' for c in p['status'].get('conditions', []))]
        if images != [GOOD_IMAGE] or len(ready) != 3:
            raise SystemExit('verification failed: checkout pods %s, %d of 3 ready' % (images, len(ready)))
        if self.diagnose(fail_when_exhausted=True) != 0:
            raise SystemExit('verification failed: connections are still exhausted')
        rate = self.wait_for(ERROR_RATE, lambda v: v < 0.01, 'the error rate to fall below 1%')
        self.save_metrics('after-recovery')
        self.record('recovered', ready_pods=len(ready), image=GOOD_IMAGE, total_connections=self.figures()['total_connections'],
                    error_rate_percent=round(rate * 100, 2))
        self.incident('resolve', incident_resolution='rolled back checkout v2 to v1; all pods ready, error rate %.2f%%' % (rate * 100),
                      incident_root_cause='release v2 crash-loops at start and leaks database connections (to be confirmed)',
                      incident_update_actions=['sre.runbooks.crash_loop rolled back v2 to v1 and passed the health gate'])
        self.incident('review')
        self.incident_open = False
        self.record('incident resolved, review written', incident=self.incident_id)

        self.step('7. Evidence, timelines and the post-incident review written by this run (%s)' % self.evidence_dir)
        for path in sorted(p for p in self.evidence_dir.iterdir() if p.is_file()):
            print('   %-48s %7d bytes' % (path.name, path.stat().st_size))
        for snapshot in sorted((self.evidence_dir / 'cluster').iterdir()):
            files = [p for p in snapshot.rglob('*') if p.is_file()]
            kinds = ', '.join(sorted({p.relative_to(snapshot).parts[0] for p in files}))
            size = sum(p.stat().st_size for p in files)
            print('   %-48s %7d bytes in %d files (%s)' % (snapshot.relative_to(self.evidence_dir), size, len(files), kinds))
        incident = self.incident_dir / self.incident_id
        tasks = [json.loads(line) for line in (incident / 'timeline.jsonl').read_text(encoding='utf-8').splitlines()]
        print('   %-48s %d entries: every task of the runbook playbooks since the declaration' % (
            (incident / 'timeline.jsonl').relative_to(self.evidence_dir), len(tasks)))
        print('   %-48s the post-incident review, rendered from that timeline' % (incident / 'review.md').relative_to(self.evidence_dir))
        print()
        for line in self.timeline_path.read_text(encoding='utf-8').splitlines():
            entry = json.loads(line)
            detail = {k: v for k, v in entry.items() if k not in ('time', 'event')}
            print('   %s  %-38s %s' % (entry['time'], entry['event'], json.dumps(detail) if detail else ''))
        print()
        review = (incident / 'review.md').read_text(encoding='utf-8').splitlines()
        for line in review[:40]:
            print('   | ' + line)
        if len(review) > 40:
            print('   | ... (%d more lines in %s)' % (len(review) - 40, incident / 'review.md'))


def hold_sessions(count):
    """The leaking release: open `count` sessions (PG* environment), leave each idle in a transaction, hold them until SIGTERM."""
    import psycopg2  # pylint: disable=import-outside-toplevel  # only the leak process needs the driver

    conns = []
    for _index in range(count):
        conn = psycopg2.connect('', application_name='checkout-v2')
        conn.cursor().execute('SELECT 1')  # opens a transaction that is never committed
        conns.append(conn)
    print('holding %d sessions' % count, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for conn in conns:
        conn.close()


def main(argv):
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--keep', action='store_true', help='leave the sandbox running at the end')
    parser.add_argument('--evidence-root', type=Path, default=REPO / 'evidence', help='where the drill writes its evidence')
    sub = parser.add_subparsers(dest='command')
    leak = sub.add_parser('leak')
    leak.add_argument('count', type=int)
    args = parser.parse_args(argv)
    if args.command == 'leak':
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        hold_sessions(args.count)
        return 0
    home = Path(os.environ.get('SRE_RUNBOOKS_HOME', Path.home() / '.cache' / 'sre-runbooks'))
    drill = Drill(home, args.evidence_root.resolve(), 'drill-' + datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ'))
    try:
        drill.run()
    finally:
        if drill.leak and drill.leak.poll() is None:
            drill.leak.terminate()
        drill.stop_chat()
        if not args.keep:
            drill.sandbox_down()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
