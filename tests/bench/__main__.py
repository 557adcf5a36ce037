"""Run every benchmark in tests/bench/benchmarks and print ours/raw ratios.

`python -m tests.bench pg_pitr pg_logical` runs only the named modules.

Each module there defines `benchmarks(stack, workdir)`, which starts what it
needs on the ExitStack and returns a list of harness.Benchmark.
"""

import contextlib
import importlib
import pkgutil
import sys
import tempfile

from tests.bench import benchmarks as registry
from tests.bench.harness import measure, report
from tests.engines.errors import EngineUnavailable


def main(argv=None):
    """Measure the registered benchmarks (all, or those named); exit non-zero if one could not run."""
    outcomes = []
    names = sorted(m.name for m in pkgutil.iter_modules(registry.__path__))
    wanted = sys.argv[1:] if argv is None else argv
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print('unknown benchmark(s): %s; registered: %s' % (', '.join(unknown), ', '.join(names)), file=sys.stderr)
        return 2
    names = [name for name in names if not wanted or name in wanted]
    if not names:
        print('no benchmarks registered yet (tests/bench/benchmarks)')
        return 0
    with tempfile.TemporaryDirectory(prefix='sre-bench-') as workdir, contextlib.ExitStack() as stack:
        for name in names:
            module = importlib.import_module('%s.%s' % (registry.__name__, name))
            try:
                benches = module.benchmarks(stack, workdir)
            except EngineUnavailable as exc:
                print('%s: %s' % (name, exc), file=sys.stderr)
                return 1
            for bench in benches:
                print('measuring %s ...' % bench.name, flush=True)
                outcomes.append(measure(bench))
    print()
    print(report(outcomes))
    return 0


if __name__ == '__main__':
    sys.exit(main())
