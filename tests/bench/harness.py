"""Alternating timer: automation and raw command take turns, so drift hits both alike."""

import dataclasses
import statistics
import subprocess
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


@dataclasses.dataclass
class Outcome:
    """Median seconds of each side and their ratio (ours / raw)."""

    name: str
    replaces: str
    ours_s: float
    raw_s: float
    size_bytes: int = None

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


def _run(bench, argv):
    """Prepare (untimed), then time argv."""
    if bench.prepare:
        _timed(bench.prepare, bench.env)
    return _timed(argv, bench.env)


def measure(bench):
    """Run both sides `rounds` times, alternating, after one untimed warm-up of each."""
    _run(bench, bench.ours)
    _run(bench, bench.raw)
    ours, raw = [], []
    for _round in range(bench.rounds):
        ours.append(_run(bench, bench.ours))
        raw.append(_run(bench, bench.raw))
    return Outcome(bench.name, bench.replaces, statistics.median(ours), statistics.median(raw), bench.size_bytes)


def report(outcomes):
    """A fixed-width table of the outcomes."""
    lines = ['%-28s %10s %10s %8s  %s' % ('benchmark', 'ours (s)', 'raw (s)', 'ratio', 'replaces')]
    for out in outcomes:
        lines.append('%-28s %10.3f %10.3f %7.2fx  %s' % (out.name, out.ours_s, out.raw_s, out.ratio, out.replaces))
        if out.size_bytes:
            lines.append('%-28s %10s %10s  MB/s: ours %.1f, raw %.1f' % ('', '', '', out.size_bytes / 1e6 / out.ours_s,
                                                                     out.size_bytes / 1e6 / out.raw_s))
    return '\n'.join(lines)
