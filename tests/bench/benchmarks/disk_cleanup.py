"""sre.runbooks.disk_cleanup against `find ROOT -type f -mtime +30 -delete`, on a tree of 1M files.

Setup (untimed, once): a template tree of 1 000 000 empty files in 1 000
directories, every other one dated 40 days back (500 000 to delete per run).
Before every run of either side, `prepare` replaces the working tree with a
hard-link copy of the template (`cp -al`, untimed), so both sides delete the
same 500 000 files. Ours is a playbook running the module (Ansible's start-up
included); "scanner" is the module's own code (module_utils/storage/cleanup.py
run_request, the code k8s_pod_disk_cleanup ships into containers) without
Ansible. Peak resident memory is reported for each side (wait4 ru_maxrss).
"""

import json
import os
import sys
import time
from pathlib import Path

from tests.bench.harness import Benchmark

# SRE_BENCH_DISK_FILES: a smaller tree, to try the benchmark quickly (a multiple of 1000).
FILES = int(os.environ.get('SRE_BENCH_DISK_FILES', '1000000'))
PER_DIR = 1000
PLAYBOOK = Path(__file__).resolve().parents[1] / 'playbooks' / 'disk_cleanup.yml'
REPO = Path(__file__).resolve().parents[3]


def _make_template(template):
    """1M empty files, every other one 40 days old; a marker file says it is complete."""
    done = template / '.complete'
    if done.exists():
        return
    old = time.time() - 40 * 86400
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for directory in range(FILES // PER_DIR):
        path = template / ('d%04d' % directory)
        path.mkdir(parents=True, exist_ok=True)
        for index in range(PER_DIR):
            name = str(path / ('f%04d.log' % index))
            os.close(os.open(name, flags, 0o644))
            if index % 2 == 0:
                os.utime(name, (old, old))
    done.touch()


def benchmarks(stack, workdir):  # pylint: disable=unused-argument
    base = Path(workdir) / 'disk_cleanup'
    template, work = base / 'template', base / 'work'
    _make_template(template)
    env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    prepare = ['bash', '-c', 'rm -rf "$1" && cp -al "$2" "$1" && rm -f "$1/.complete"', 'prepare', str(work), str(template)]
    raw = ['find', str(work), '-type', 'f', '-mtime', '+30', '-delete']
    ours = ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(PLAYBOOK), '-e', json.dumps({'root': str(work), 'min_age': '30d'})]
    request = json.dumps({'roots': [str(work)], 'min_age': '30d', 'report_limit': 0})
    # The self-contained file, exec'd as k8s_pod_disk_cleanup runs it in a container.
    source = REPO / 'plugins' / 'module_utils' / 'storage' / 'cleanup.py'
    scanner = [sys.executable, '-c', 'import json, sys; code = {}; '
               'exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), code); '
               'result = code["run_request"](json.loads(sys.argv[2])); '
               'sys.exit(0 if result["removed_files"] == %d else 1)' % (FILES // 2), str(source), request]
    return [
        Benchmark('disk cleanup, 1M files', 'find ROOT -type f -mtime +30 -delete (500k of 1M)', ours, raw, env, rounds=2, prepare=prepare,
                  report_memory=True),
        Benchmark('disk cleanup scanner only', 'find ROOT -type f -mtime +30 -delete (500k of 1M)', scanner, raw, env, rounds=2,
                  prepare=prepare, report_memory=True),
    ]
