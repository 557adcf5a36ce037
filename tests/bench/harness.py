"""Alternating timer: automation and raw command take turns, so drift hits both alike.

With `report_memory`, each side's peak resident memory is also reported: the
largest ru_maxrss of the process (GNU time's %M, which covers the descendants
it waited for, so a playbook's module process is included), over its runs.
"""

import dataclasses
import os
import statistics
import subprocess
import tempfile
import time


@dataclasses.dataclass
class Benchmark:
    """One comparison. `ours` and `raw` are argv lists run with `env`.

    `prepare`, when given, is an argv run untimed before every run of either side
    (for example staging the same bad release before each rollback).
    """

    name: str
    replaces: str
    ours: list
    raw: list
    env: dict
    rounds: int = 5
    prepare: list = None
    # Bytes each run moves (a database's size): the report adds MB/s for both sides.
    size_bytes: int = None
    # Items each run handles (rows, vectors): the report adds items/s for both sides.
    items: int = None
    items_name: str = 'items'
    # Report each side's peak resident memory (largest over its runs).
    report_memory: bool = False


@dataclasses.dataclass
class Outcome:
    """Median seconds of each side and their ratio (ours / raw)."""

    name: str
    replaces: str
    ours_s: float
    raw_s: float
    size_bytes: int = None
    items: int = None
    items_name: str = 'items'
    ours_peak_kib: int = None
    raw_peak_kib: int = None

    @property
    def ratio(self):
        """How many times longer our automation takes than the raw commands."""
        return self.ours_s / self.raw_s


def _timed(argv, env):
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError('%s exited %d:\n%s' % (' '.join(argv), proc.returncode, proc.stdout[-3000:]))
    return elapsed


# GNU time forks the measured command from a small process: a child forked straight from this Python would
# start its ru_maxrss at this Python's size (the kernel keeps the high-water mark across fork and exec).
GNU_TIME = '/usr/bin/time'


def _timed_peak(argv, env):
    """Seconds argv took and its peak resident memory in KiB (ru_maxrss of the process and the descendants it waited for)."""
    with tempfile.NamedTemporaryFile('r', prefix='bench-rss-') as rss:
        wrapped = [GNU_TIME, '-f', '%M', '-o', rss.name] + list(argv) if os.path.exists(GNU_TIME) else list(argv)
        start = time.perf_counter()
        with subprocess.Popen(wrapped, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            output = proc.stdout.read()
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError('%s exited %d:\n%s' % (' '.join(argv), proc.returncode, output[-3000:]))
        text = rss.read().strip().splitlines()
        peak = int(text[-1]) if text and text[-1].isdigit() else usage.ru_maxrss
    return elapsed, peak


def _run(bench, argv, peaks=None):
    """Prepare (untimed), then time argv (recording its peak memory in `peaks` when given)."""
    if bench.prepare:
        _timed(bench.prepare, bench.env)
    if peaks is None:
        return _timed(argv, bench.env)
    elapsed, peak = _timed_peak(argv, bench.env)
    peaks.append(peak)
    return elapsed


def measure(bench):
    """Run both sides `rounds` times, alternating, after one untimed warm-up of each."""
    ours_peaks = [] if bench.report_memory else None
    raw_peaks = [] if bench.report_memory else None
    _run(bench, bench.ours)
    _run(bench, bench.raw)
    ours, raw = [], []
    for _round in range(bench.rounds):
        ours.append(_run(bench, bench.ours, ours_peaks))
        raw.append(_run(bench, bench.raw, raw_peaks))
    outcome = Outcome(bench.name, bench.replaces, statistics.median(ours), statistics.median(raw), bench.size_bytes,
                      bench.items, bench.items_name)
    if bench.report_memory:
        outcome.ours_peak_kib, outcome.raw_peak_kib = max(ours_peaks), max(raw_peaks)
    return outcome


def report(outcomes):
    """A fixed-width table of the outcomes."""
    lines = ['%-28s %10s %10s %8s  %s' % ('benchmark', 'ours (s)', 'raw (s)', 'ratio', 'replaces')]
    for out in outcomes:
        lines.append('%-28s %10.3f %10.3f %7.2fx  %s' % (out.name, out.ours_s, out.raw_s, out.ratio, out.replaces))
        if out.size_bytes:
            lines.append('%-28s %10s %10s  MB/s: ours %.1f, raw %.1f' % (
                '', '', '', out.size_bytes / 1e6 / out.ours_s, out.size_bytes / 1e6 / out.raw_s))
        if out.items:
            lines.append('%-28s %10s %10s  %s/s: ours %.0f, raw %.0f' % (
                '', '', '', out.items_name, out.items / out.ours_s, out.items / out.raw_s))
        if out.ours_peak_kib is not None:
            lines.append('%-28s %10s %10s  peak RSS: ours %.1f MiB, raw %.1f MiB' % (
                '', '', '', out.ours_peak_kib / 1024.0, out.raw_peak_kib / 1024.0))
    return '\n'.join(lines)
