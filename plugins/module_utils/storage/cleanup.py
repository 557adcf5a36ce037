# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Disk cleanup: which files to delete, found by a streaming scan, deleted safely, in bounded memory.

Standard library only, and no Ansible import: sre.runbooks.k8s_pod_disk_cleanup
ships this very file into a container and runs it there with python3
(run_scanner() is its entry point), so a pod is cleaned with the same rules
as a host.

The rules (Selection):
- roots: directories to clean. A root is resolved (realpath) first and refused
  when it is one of REFUSED_ROOTS (/, /etc, /var, /home...) or lies inside one
  of REFUSED_TREES (/etc, /usr, /boot...): see refuse_root().
- patterns: shell globs matched against the file name, or against the path
  relative to the root when the glob holds a "/". The first matching pattern
  owns the file.
- min_age (seconds since the last modification), min_size (bytes).
- keep_newest: the newest N files of each pattern (per root) are kept whatever
  their age: a bounded heap of N entries per pattern.
- protected: paths (and everything below) or absolute globs never deleted;
  protected directories are not even entered.
- Only regular files are deleted. Symbolic links are never followed and never
  deleted, so nothing outside a root is reached. Directories on another
  filesystem are not entered unless one_filesystem is false.

Triggering, per filesystem (roots on one filesystem are taken together):
- usage_threshold: do nothing unless the filesystem is more used than this percent;
- target_free_percent: delete oldest first, checking the real free space
  (statvfs) after every deletion, and stop as soon as the target is met.
  Without a target every selected file goes (find -delete).

Memory: the scan is streaming (os.scandir on an opened directory, one stack
entry per directory waiting to be read). Deletion without a target happens
during the scan. Oldest-first needs an order: a heap holds only the oldest
files that cover the bytes still missing, and never more than plan_batch
entries (default 50000, about 30 MB); when more files must go, the scan is
repeated after each batch (a batch is always the oldest files left, so the
order stays exact).

Deletion is race-safe: directories are opened with O_NOFOLLOW and checked
against the device and inode the parent listed; a file is unlinked relative
to its directory's descriptor after an lstat that must still show the same
regular file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import heapq
import json
import os
import re
import stat
import sys
import time

# Never a cleanup root: the filesystem root and directories whose loss breaks
# the system or a user (their subdirectories may be roots: /var/log, /var/tmp, /home/app/tmp).
REFUSED_ROOTS = (
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/usr", "/var", "/var/lib", "/var/spool",
)
# Never a root, nor anything inside them: system files, kernel interfaces, cluster and database state.
REFUSED_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr",
    "/var/lib/etcd", "/var/lib/mysql", "/var/lib/postgresql", "/var/lib/dpkg", "/var/lib/rpm",
)

DEFAULT_PLAN_BATCH = 50000
DEFAULT_REPORT_LIMIT = 1000
DELETED_SUFFIX = " (deleted)"
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2,
               "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


class CleanupError(Exception):
    """Bad rules or an unusable root; the message says which and why."""


# -- parsing ----------------------------------------------------------------------------------------------------


def parse_age(value):
    """Seconds from 30d, 12h, 90m, 45s, 2w or a number of seconds; ValueError otherwise."""
    if value is None or value == "":
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _NUMBER_UNIT.match(str(value))
        unit = match.group(2).lower() if match else None
        if not match or unit not in _AGE_UNITS and unit != "":
            raise ValueError("{0!r} is not an age (for example 30d, 12h, 90m, 45s or a number of seconds)".format(value))
        seconds = float(match.group(1)) * _AGE_UNITS.get(unit, 1)
    if seconds < 0:
        raise ValueError("an age cannot be negative, got {0!r}".format(value))
    return seconds


def parse_size(value):
    """Bytes from 100M, 1G, 512K, 1.5GiB or a number of bytes (binary units); ValueError otherwise."""
    if value is None or value == "":
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        size = float(value)
    else:
        match = _NUMBER_UNIT.match(str(value))
        unit = match.group(2).lower() if match else None
        if not match or unit not in _SIZE_UNITS:
            raise ValueError("{0!r} is not a size (for example 100M, 1G, 512K or a number of bytes)".format(value))
        size = float(match.group(1)) * _SIZE_UNITS[unit]
    if size < 0:
        raise ValueError("a size cannot be negative, got {0!r}".format(value))
    return int(size)


def _inside(path, tree):
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def refuse_root(path):
    """Why a resolved root must not be cleaned, or None when it may be."""
    if not os.path.isabs(path):
        return "a root must be an absolute path"
    if path in REFUSED_ROOTS:
        return "{0} is a system directory that is never cleaned as a whole (refused roots: {1}); name a directory inside it, " \
               "such as /var/log or /var/tmp".format(path, ", ".join(REFUSED_ROOTS))
    for tree in REFUSED_TREES:
        if _inside(path, tree):
            return "{0} is inside {1}, where nothing is ever cleaned".format(path, tree)
    return None


class Selection(object):
    """The validated rules of one cleanup. Raises CleanupError for bad rules or roots."""

    def __init__(self, roots, patterns=None, min_age=0, min_size=0, keep_newest=0, protected=None, one_filesystem=True,
                 usage_threshold=None, target_free_percent=None, plan_batch=DEFAULT_PLAN_BATCH, now=None, realpath=os.path.realpath,
                 refuse_roots=True):
        problems = []
        if not roots:
            problems.append("give at least one root")
        self.roots = []
        for root in roots or ():
            real = realpath(root) if os.path.isabs(root) else root
            why = refuse_root(real) if refuse_roots else None
            if why is None and refuse_roots and real != os.path.normpath(root) and refuse_root(os.path.normpath(root)):
                why = refuse_root(os.path.normpath(root))
            if why:
                problems.append("root {0}: {1}".format(root, why))
            elif real not in self.roots:
                self.roots.append(real)
        # A root inside another one would be scanned twice: the outer one covers it.
        self.roots = [root for root in self.roots if not any(other != root and _inside(root, other) for other in self.roots)]
        self.patterns = list(patterns or ["*"])
        self._compiled = []
        for pattern in self.patterns:
            if not pattern or pattern.startswith("/"):
                problems.append("pattern {0!r}: patterns are relative to the root (a name glob such as *.log, or a relative path glob)".format(pattern))
                continue
            self._compiled.append((re.compile(fnmatch.translate(pattern)), "/" in pattern))
        try:
            self.min_age = parse_age(min_age)
            self.min_size = parse_size(min_size)
        except ValueError as error:
            problems.append(str(error))
        self.keep_newest = int(keep_newest or 0)
        if self.keep_newest < 0:
            problems.append("keep_newest must be 0 or more, got {0}".format(keep_newest))
        for name, value in (("usage_threshold", usage_threshold), ("target_free_percent", target_free_percent)):
            if value is not None and not 0 <= float(value) <= 100:
                problems.append("{0} must be a percentage between 0 and 100, got {1}".format(name, value))
        self.usage_threshold = None if usage_threshold is None else float(usage_threshold)
        self.target_free_percent = None if target_free_percent is None else float(target_free_percent)
        self.plan_batch = int(plan_batch)
        if self.plan_batch < 1:
            problems.append("plan_batch must be 1 or more, got {0}".format(plan_batch))
        self.one_filesystem = bool(one_filesystem)
        self.protected_paths = []
        self.protected_globs = []
        for entry in protected or ():
            if not os.path.isabs(entry):
                problems.append("protected path {0!r} must be absolute".format(entry))
            elif any(char in entry for char in "*?["):
                self.protected_globs.append(re.compile(fnmatch.translate(entry)))
            else:
                for form in sorted({os.path.normpath(entry), realpath(entry)}):
                    self.protected_paths.append(form.rstrip("/") or "/")
        for root in self.roots:
            for path in self.protected_paths:
                if _inside(root, path):
                    problems.append("root {0} is protected ({1})".format(root, path))
        if problems:
            raise CleanupError("; ".join(problems))
        self.now = time.time() if now is None else now

    def is_protected(self, path):
        for entry in self.protected_paths:
            if _inside(path, entry):
                return True
        for glob in self.protected_globs:
            if glob.match(path):
                return True
        return False

    def pattern_of(self, name, relative):
        """Index of the first pattern matching a file (its name, or its path relative to the root), or None."""
        for index, (regex, on_path) in enumerate(self._compiled):
            if regex.match(relative if on_path else name):
                return index
        return None

    def old_and_big_enough(self, st):
        return self.now - st.st_mtime >= self.min_age and st.st_size >= self.min_size


# -- filesystems -----------------------------------------------------------------------------------------------


def filesystem_usage(path, statvfs=os.statvfs):
    """size, free (available to unprivileged users) and used percent, as df shows them."""
    vfs = statvfs(path)
    avail = vfs.f_bavail * vfs.f_frsize
    used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
    size = used + avail
    used_percent = round(100.0 * used / size, 2) if size else 0.0
    return {"size": size, "free": avail, "used_percent": used_percent, "free_percent": round(100.0 - used_percent, 2)}


def bytes_to_target(usage, target_free_percent):
    """Bytes still to free for the target free percent (0 when met)."""
    wanted = usage["size"] * target_free_percent / 100.0
    return max(0, int(wanted - usage["free"] + 0.999))


def freed_estimate(st):
    """Space a deletion gives back: the file's blocks, or nothing while another hard link keeps it."""
    if st.st_nlink > 1:
        return 0
    return st.st_blocks * 512


# -- scanning ----------------------------------------------------------------------------------------------------


class Counters(object):
    """What one root's scan saw and skipped."""

    FIELDS = ("scanned_files", "matched_files", "kept_newest", "protected", "symlinks", "other_filesystems", "errors", "changed_meanwhile")

    def __init__(self):
        for field in self.FIELDS:
            setattr(self, field, 0)

    def to_dict(self):
        return dict((field, getattr(self, field)) for field in self.FIELDS)


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def walk_files(root, selection, counters):
    """Yield (dir_fd, name, path, lstat) for every regular file under root, streaming.

    dir_fd stays open until the generator resumes: a consumer may unlink(name, dir_fd=dir_fd) meanwhile.
    Symlinks are counted, never followed; protected directories and other filesystems are not entered.
    """
    root_st = os.lstat(root)
    if not stat.S_ISDIR(root_st.st_mode):
        raise CleanupError("root {0} is not a directory".format(root))
    stack = [(root, root_st.st_dev, root_st.st_ino)]
    while stack:
        path, dev, ino = stack.pop()
        try:
            fd = os.open(path, _DIR_FLAGS)
        except OSError:
            counters.errors += 1
            continue
        try:
            dst = os.fstat(fd)
            if (dst.st_dev, dst.st_ino) != (dev, ino):
                counters.changed_meanwhile += 1  # replaced (by a symlink or another directory) since it was listed
                continue
            with os.scandir(fd) as entries:
                for entry in entries:
                    full = path + "/" + entry.name
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        counters.errors += 1
                        continue
                    mode = st.st_mode
                    if stat.S_ISREG(mode):
                        counters.scanned_files += 1
                        yield fd, entry.name, full, st
                    elif stat.S_ISDIR(mode):
                        if selection.is_protected(full):
                            counters.protected += 1
                        elif selection.one_filesystem and st.st_dev != root_st.st_dev:
                            counters.other_filesystems += 1
                        else:
                            stack.append((full, st.st_dev, st.st_ino))
                    elif stat.S_ISLNK(mode):
                        counters.symlinks += 1
        finally:
            os.close(fd)


def candidates(root, selection, counters):
    """Yield (dir_fd or None, name, path, lstat) for each file selected under root, streaming.

    With keep_newest the newest N of each pattern stay in a heap (dir_fd None then: their directory was closed).
    """
    keep = selection.keep_newest
    heaps = {}
    prefix = len(root) + 1
    for fd, name, path, st in walk_files(root, selection, counters):
        if selection.is_protected(path):
            counters.protected += 1
            continue
        index = selection.pattern_of(name, path[prefix:])
        if index is None:
            continue
        counters.matched_files += 1
        if keep:
            heap = heaps.setdefault(index, [])
            item = (st.st_mtime, path, st)
            if len(heap) < keep:
                heapq.heappush(heap, item)
                continue
            oldest = heapq.heappushpop(heap, item)
            if oldest[1] is not path:  # an older file leaves the N newest; its directory may be closed by now
                fd, name, path, st = None, os.path.basename(oldest[1]), oldest[1], oldest[2]
        if selection.old_and_big_enough(st):
            yield fd, name, path, st
    for heap in heaps.values():
        counters.kept_newest += len(heap)


# -- deleting ----------------------------------------------------------------------------------------------------


class Remover(object):
    """Unlinks files safely; records what it removed (or would, in check mode)."""

    def __init__(self, check_mode, on_file, parent_cache=256):
        self.check_mode = check_mode
        self.on_file = on_file
        self._verified = {}
        self._cache_size = parent_cache

    def _parent_is_real(self, parent):
        known = self._verified.get(parent)
        if known is None:
            known = os.path.realpath(parent) == parent
            if len(self._verified) >= self._cache_size:
                self._verified.clear()
            self._verified[parent] = known
        return known

    def remove(self, root, fd, name, path, st):
        """True when removed (or, in check mode, when it would be); False when it changed or vanished meanwhile."""
        if self.check_mode:
            self.on_file(root, path, st)
            return True
        if fd is not None:
            try:
                os.unlink(name, dir_fd=fd)
            except OSError as error:
                if error.errno == errno.ENOENT:
                    return False
                raise
            self.on_file(root, path, st)
            return True
        parent = os.path.dirname(path)
        if not self._parent_is_real(parent):
            return False  # a directory on the way became a symlink: never follow it
        try:
            pfd = os.open(parent, _DIR_FLAGS)
        except OSError:
            return False
        try:
            try:
                now = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except OSError:
                return False
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino, now.st_mtime) != (st.st_dev, st.st_ino, st.st_mtime):
                return False
            os.unlink(name, dir_fd=pfd)
        finally:
            os.close(pfd)
        self.on_file(root, path, now)
        return True


class Report(object):
    """Totals, the first report_limit files and an optional manifest file (one line per file: bytes, mtime, path)."""

    def __init__(self, report_limit=DEFAULT_REPORT_LIMIT, manifest=None):
        self.report_limit = report_limit
        self.files = []
        self.count = 0
        self.bytes = 0
        self.per_root = {}
        self._manifest = manifest

    def add(self, root, path, st):
        self.count += 1
        self.bytes += st.st_size
        entry = self.per_root.setdefault(root, {"removed_files": 0, "removed_bytes": 0, "freed_estimate": 0})
        entry["removed_files"] += 1
        entry["removed_bytes"] += st.st_size
        entry["freed_estimate"] += freed_estimate(st)
        if len(self.files) < self.report_limit:
            self.files.append({"path": path, "bytes": st.st_size, "mtime": int(st.st_mtime)})
        if self._manifest is not None:
            self._manifest.write("{0}\t{1}\t{2}\n".format(st.st_size, int(st.st_mtime), path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")))


def _group_by_filesystem(roots):
    groups = []
    by_dev = {}
    for root in roots:
        try:
            dev = os.stat(root).st_dev
        except OSError as error:
            raise CleanupError("root {0} cannot be read: {1}".format(root, error.strerror or error))
        if dev not in by_dev:
            by_dev[dev] = []
            groups.append(by_dev[dev])
        by_dev[dev].append(root)
    return groups


def _clean_all(roots, selection, remover, counters):
    for root in roots:
        for fd, name, path, st in candidates(root, selection, counters[root]):
            remover.remove(root, fd, name, path, st)


class _Planned(object):
    """What the oldest-first plan keeps of a file: enough to re-check it before the unlink, and no more (memory)."""

    __slots__ = ("st_mtime", "st_size", "st_dev", "st_ino", "st_nlink", "st_blocks")

    def __init__(self, st):
        self.st_mtime, self.st_size, self.st_dev, self.st_ino = st.st_mtime, st.st_size, st.st_dev, st.st_ino
        self.st_nlink, self.st_blocks = st.st_nlink, st.st_blocks


def _oldest_covering(roots, selection, counters, need):
    """The oldest selected files whose estimated freed bytes cover `need`, at most plan_batch of them, oldest first.

    Returns (files, truncated): truncated when the batch limit cut the list (more may have to go after it).
    """
    heap = []  # max-heap on mtime (negated): the newest of the kept files on top, dropped first
    covered = 0
    truncated = False
    sequence = 0
    for index, root in enumerate(roots):
        for _fd, _name, path, st in candidates(root, selection, counters[root]):
            gain = freed_estimate(st)
            sequence += 1
            heapq.heappush(heap, (-st.st_mtime, -sequence, gain, index, path, _Planned(st)))
            covered += gain
            while heap and (covered - heap[0][2] >= need or len(heap) > selection.plan_batch):
                if len(heap) > selection.plan_batch:
                    truncated = True
                covered -= heapq.heappop(heap)[2]
    heap.sort(key=lambda item: (-item[0], -item[1]))
    files = [(roots[item[3]], os.path.basename(item[4]), item[4], item[5], item[2]) for item in heap]
    return files, truncated


def _clean_to_target(roots, selection, remover, counters, statvfs, check_mode, max_passes=1000):
    """Delete oldest first until the filesystem has target_free_percent free; returns whether it was reached."""
    probe = roots[0]
    estimated = 0
    for _pass in range(max_passes):
        usage = filesystem_usage(probe, statvfs)
        need = bytes_to_target(usage, selection.target_free_percent) - estimated
        if need <= 0:
            return True
        for root in roots:
            counters[root].__init__()  # each pass scans again: the figures are the last pass's
        files, truncated = _oldest_covering(roots, selection, counters, need)
        if not files:
            return False
        for root, name, path, st, gain in files:
            if not remover.remove(root, None, name, path, st):
                continue
            if check_mode:
                estimated += gain
                if estimated >= need:
                    return True
            elif bytes_to_target(filesystem_usage(probe, statvfs), selection.target_free_percent) <= 0:
                return True
        if check_mode:
            return False  # one batch is all check mode can plan without deleting
        if not truncated:
            return bytes_to_target(filesystem_usage(probe, statvfs), selection.target_free_percent) <= 0
    return False


def clean(selection, check_mode=False, report=None, statvfs=os.statvfs):
    """Run a cleanup. Returns a dict: per root and per filesystem figures, the report, changed."""
    report = report or Report()
    remover = Remover(check_mode, report.add)
    counters = dict((root, Counters()) for root in selection.roots)
    filesystems = []
    for roots in _group_by_filesystem(selection.roots):
        before = filesystem_usage(roots[0], statvfs)
        entry = {"roots": list(roots), "before": before, "triggered": True, "reason": None, "target_reached": None}
        if selection.usage_threshold is not None and before["used_percent"] <= selection.usage_threshold:
            entry["triggered"] = False
            entry["reason"] = "{0:g}% used, not above the usage_threshold of {1:g}%".format(before["used_percent"], selection.usage_threshold)
        elif selection.target_free_percent is not None:
            if bytes_to_target(before, selection.target_free_percent) <= 0:
                entry["triggered"] = False
                entry["target_reached"] = True
                entry["reason"] = "{0:g}% free already meets the target_free_percent of {1:g}%".format(before["free_percent"], selection.target_free_percent)
            else:
                entry["target_reached"] = _clean_to_target(roots, selection, remover, counters, statvfs, check_mode)
                if not entry["target_reached"]:
                    entry["reason"] = "every selected file {0} removed and the filesystem still has less than {1:g}% free".format(
                        "would be" if check_mode else "was", selection.target_free_percent)
        else:
            _clean_all(roots, selection, remover, counters)
        entry["after"] = filesystem_usage(roots[0], statvfs)
        filesystems.append(entry)
    roots_out = []
    for root in selection.roots:
        figures = dict(report.per_root.get(root) or {"removed_files": 0, "removed_bytes": 0, "freed_estimate": 0})
        figures.update(counters[root].to_dict())
        figures["path"] = root
        roots_out.append(figures)
    return {
        "changed": report.count > 0,
        "roots": roots_out,
        "filesystems": filesystems,
        "removed_files": report.count,
        "removed_bytes": report.bytes,
        "files": report.files,
        "files_truncated": report.count > len(report.files),
    }


# -- deleted but still open --------------------------------------------------------------------------------------


def deleted_open_files(selection, proc="/proc", limit=DEFAULT_REPORT_LIMIT):
    """Files deleted from under the roots while a process still holds them open: one entry per file.

    Their space comes back only when the last holder closes them (or they are truncated).
    """
    devices = set()
    for root in selection.roots:
        try:
            devices.add(os.stat(root).st_dev)
        except OSError:
            pass
    found = {}
    try:
        pids = [entry.name for entry in os.scandir(proc) if entry.name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        fd_dir = "{0}/{1}/fd".format(proc, pid)
        try:
            fds = list(os.scandir(fd_dir))
        except OSError:
            continue  # gone, or not ours to read
        command = None
        for entry in fds:
            try:
                target = os.readlink(entry.path)
            except OSError:
                continue
            if not target.endswith(DELETED_SUFFIX) or not target.startswith("/"):
                continue
            try:
                st = os.stat(entry.path)
            except OSError:
                continue
            if st.st_dev not in devices or not stat.S_ISREG(st.st_mode):
                continue
            path = target[:-len(DELETED_SUFFIX)]
            if not any(_inside(path, root) for root in selection.roots):
                continue
            if command is None:
                try:
                    with open("{0}/{1}/comm".format(proc, pid)) as handle:
                        command = handle.read().strip()
                except (IOError, OSError):
                    command = ""
            key = (st.st_dev, st.st_ino)
            item = found.get(key)
            if item is None:
                if len(found) >= limit:
                    continue
                item = found[key] = {"path": path, "bytes": st.st_size, "holders": [], "_fd": entry.path}
            item["holders"].append({"pid": int(pid), "fd": int(entry.name), "command": command})
    return list(found.values())


def truncatable(selection, item):
    """Whether a deleted-but-open file is a rotated log the rules select: under a root, matching a pattern, not protected."""
    path = item["path"]
    for root in selection.roots:
        if _inside(path, root) and path != root:
            return not selection.is_protected(path) and selection.pattern_of(os.path.basename(path), path[len(root) + 1:]) is not None
    return False


def handle_deleted_open(selection, truncate, check_mode, proc="/proc"):
    """Report deleted-but-open files; with truncate, empty those the rules select. Returns (entries, truncated_bytes)."""
    entries = deleted_open_files(selection, proc)
    truncated_bytes = 0
    for item in entries:
        fd_path = item.pop("_fd")
        item["truncated"] = False
        if truncate and item["bytes"] > 0 and truncatable(selection, item):
            if not check_mode:
                try:
                    os.truncate(fd_path, 0)  # opens the deleted file through the holder's descriptor
                except OSError:
                    continue
            item["truncated"] = True
            truncated_bytes += item["bytes"]
    return entries, truncated_bytes


# -- usage summary (read only) -------------------------------------------------------------------------------------


def usage_summary(root, top=10, depth=2, one_filesystem=True):
    """The largest directories (to `depth` below root, sizes including everything under them) and files, streaming.

    Memory: one counter per directory down to `depth`, and a heap of `top` files.
    """
    selection = Selection([root], one_filesystem=one_filesystem, refuse_roots=False)  # read only: measuring /var is fine
    real = selection.roots[0]
    counters = Counters()
    dirs = {real: 0}
    files = []
    prefix = len(real) + 1
    for _fd, _name, path, st in walk_files(real, selection, counters):
        used = st.st_blocks * 512
        parts = path[prefix:].split("/")[:-1]
        for level in range(min(depth, len(parts)) + 1):
            key = real + ("/" + "/".join(parts[:level]) if level else "")
            dirs[key] = dirs.get(key, 0) + used
        item = (used, path)
        if len(files) < top:
            heapq.heappush(files, item)
        elif item > files[0]:
            heapq.heapreplace(files, item)
    largest_dirs = sorted(dirs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "path": real,
        "total_bytes": dirs.get(real, 0),
        "files": counters.scanned_files,
        "largest_directories": [{"path": path, "bytes": size} for path, size in largest_dirs],
        "largest_files": [{"path": path, "bytes": size} for size, path in sorted(files, reverse=True)],
        "filesystem": filesystem_usage(real),
        "skipped": counters.to_dict(),
    }


# -- the scanner shipped into containers ------------------------------------------------------------------------------


def run_request(request):
    """Run one cleanup request (the options as a dict); returns the result dict. Used by the host module and the pod scanner."""
    selection = Selection(
        request["roots"], patterns=request.get("patterns"), min_age=request.get("min_age"), min_size=request.get("min_size"),
        keep_newest=request.get("keep_newest") or 0, protected=request.get("protected"), one_filesystem=request.get("one_filesystem", True),
        usage_threshold=request.get("usage_threshold"), target_free_percent=request.get("target_free_percent"),
        plan_batch=request.get("plan_batch") or DEFAULT_PLAN_BATCH)
    check_mode = bool(request.get("check_mode"))
    manifest = None
    if request.get("manifest"):
        manifest = open(request["manifest"], "w", encoding="utf-8")
    try:
        result = clean(selection, check_mode, Report(request.get("report_limit", DEFAULT_REPORT_LIMIT), manifest))
    finally:
        if manifest is not None:
            manifest.close()
    if request.get("deleted_open", True):
        entries, truncated_bytes = handle_deleted_open(selection, request.get("truncate_deleted_open", False), check_mode)
        result["deleted_open"] = entries
        result["truncated_bytes"] = truncated_bytes
        if truncated_bytes:
            result["changed"] = True
    return result


def run_scanner(argv=None):
    """Entry point inside a container: argv[1] is the request as JSON; prints the result as JSON; exit 2 on refused rules."""
    argv = sys.argv if argv is None else argv
    try:
        result = run_request(json.loads(argv[1]))
    except CleanupError as error:
        sys.stdout.write(json.dumps({"failed": True, "msg": str(error)}) + "\n")
        return 2
    sys.stdout.write(json.dumps(result) + "\n")
    return 0
