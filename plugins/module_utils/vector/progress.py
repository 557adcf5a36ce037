# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress of a long rebuild: rows done and rate, logged as it goes and returned in the result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


def rate(rows, seconds):
    """Rows per second, rounded; None when no time passed."""
    return round(rows / seconds, 1) if seconds and seconds > 0 else None


class Progress:
    """Count rows done; every `interval` seconds (and at the end) note rows, share and rate.

    log -- a callable taking one line of text (module.log: syslog/journal on the managed node)
    clock -- time.monotonic, replaceable in tests
    """

    def __init__(self, what, total=None, interval=5.0, log=None, clock=time.monotonic):
        self.what = what
        self.total = total
        self.interval = interval
        self.log = log
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.entries = []
        self._last = self.started

    @property
    def elapsed(self):
        return self.clock() - self.started

    def add(self, rows):
        self.done += rows
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.note()

    def note(self, **extra):
        """Record (and log) where we are now."""
        elapsed = self.elapsed
        entry = dict(rows_done=self.done, seconds=round(elapsed, 1), rows_per_second=rate(self.done, elapsed))
        if self.total:
            entry["rows_total"] = self.total
            entry["percent"] = round(100.0 * self.done / self.total, 1)
        entry.update(extra)
        self.entries.append(entry)
        if self.log is not None:
            self.log("{0}: {1} rows{2} in {3} s ({4} rows/s)".format(
                self.what, self.done, " of {0}".format(self.total) if self.total else "", entry["seconds"], entry["rows_per_second"]))
        return entry

    def finish(self):
        """The final entry: rows done, seconds and rate over the whole run."""
        return self.note()
