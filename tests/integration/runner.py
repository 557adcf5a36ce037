"""Run real `ansible-playbook` processes and read back what every task returned."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CALLBACKS = Path(__file__).resolve().parent / 'callback_plugins'


@dataclasses.dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    args: list
    returncode: int
    output: str
    results: list

    def task(self, name, host='localhost'):
        """The result of the task called `name` on `host`; fails if it did not run exactly once."""
        found = [r for r in self.results if r['task'] == name and r['host'] == host]
        assert len(found) == 1, 'task %r ran %d times on %s:\n%s' % (name, len(found), host, self.output[-4000:])
        return found[0]['result']

    @property
    def changed(self):
        """Whether any task reported a change."""
        return any(r['result'].get('changed') for r in self.results)

    @property
    def failed_tasks(self):
        """Names of the tasks that failed."""
        return [r['task'] for r in self.results if r['status'] == 'failed']


def ansible_env(extra=None):
    """Environment for ansible-playbook: collections, the result recorder, no retry files."""
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CALLBACK_PLUGINS': str(CALLBACKS),
        'ANSIBLE_CALLBACKS_ENABLED': 'result_recorder',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
    })
    env.update(extra or {})
    return env


def run_playbook(playbook, tmp_path, extra_vars=None, check=False, diff=False, verbosity=0, env=None, expect_rc=0):
    """Run `playbook` against localhost; assert the exit status is `expect_rc` (None: any)."""
    log = Path(tmp_path) / ('results-%d.jsonl' % len(list(Path(tmp_path).glob('results-*.jsonl'))))
    args = [str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(playbook)]
    if extra_vars:
        args += ['--extra-vars', json.dumps(extra_vars)]
    if check:
        args.append('--check')
    if diff:
        args.append('--diff')
    if verbosity:
        args.append('-' + 'v' * verbosity)
    proc = subprocess.run(args, cwd=REPO, env=ansible_env(dict(env or {}, SRE_RESULT_LOG=str(log))),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
    results = [json.loads(line) for line in log.read_text(encoding='utf-8').splitlines()] if log.exists() else []
    run = PlaybookRun(args=args, returncode=proc.returncode, output=proc.stdout, results=results)
    if expect_rc is not None:
        assert proc.returncode == expect_rc, 'ansible-playbook exited %d (wanted %d):\n%s' % (proc.returncode, expect_rc, proc.stdout[-6000:])
    return run
