# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Disk cleanup rules: parsing, refused roots, selection, keep-newest, symlinks, protected paths, oldest-first to a target."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.storage import cleanup
from ansible_collections.sre.runbooks.plugins.module_utils.storage.cleanup import (
    CleanupError,
    Report,
    Selection,
    bytes_to_target,
    clean,
    parse_age,
    parse_size,
    refuse_root,
    run_request,
    usage_summary,
)

DAY = 86400


def make(path, size=10, age_days=0, now=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = (now or time.time()) - age_days * DAY
    os.utime(path, (when, when))
    return path


def tree_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize("text, seconds", [("30d", 30 * DAY), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 14 * DAY), (60, 60), ("", 0), (None, 0)])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text, size", [("100M", 100 * 2 ** 20), ("1G", 2 ** 30), ("512K", 512 * 1024), ("1.5GiB", int(1.5 * 2 ** 30)), (42, 42), ("0", 0)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["30 days", "x", "-1d", "10y"])
def test_parse_age_refuses(bad):
    with pytest.raises(ValueError):
        parse_age(bad)


@pytest.mark.parametrize("root", ["/", "/etc", "/usr", "/boot", "/bin", "/lib", "/var", "/home", "/var/lib", "/usr/local/lib", "/etc/nginx",
                                  "/proc/1", "/var/lib/postgresql/15/main"])
def test_dangerous_roots_are_refused(root):
    assert refuse_root(root)
    with pytest.raises(CleanupError, match="root"):
        Selection([root], realpath=lambda p: p)


@pytest.mark.parametrize("root", ["/var/log", "/var/tmp", "/tmp", "/home/app/tmp", "/var/lib/docker/containers", "/data/logs"])
def test_ordinary_roots_are_allowed(root):
    assert refuse_root(root) is None


def test_a_symlink_to_a_refused_root_is_refused(tmp_path):
    link = tmp_path / "etc-link"
    link.symlink_to("/etc")
    with pytest.raises(CleanupError, match="/etc"):
        Selection([str(link)])


def test_bad_rules_are_refused_together(tmp_path):
    with pytest.raises(CleanupError) as error:
        Selection([str(tmp_path)], patterns=["/abs/*.log"], min_age="soon", keep_newest=-1, target_free_percent=120, protected=["relative"])
    text = str(error.value)
    for part in ("pattern", "soon", "keep_newest", "target_free_percent", "relative"):
        assert part in text


def test_a_protected_root_is_refused(tmp_path):
    with pytest.raises(CleanupError, match="protected"):
        Selection([str(tmp_path / "a")], protected=[str(tmp_path)])


def test_selection_by_pattern_age_and_size(tmp_path):
    now = time.time()
    make(tmp_path / "old.log", 100, 40, now)
    make(tmp_path / "new.log", 100, 1, now)
    make(tmp_path / "old-small.log", 5, 40, now)
    make(tmp_path / "old.txt", 100, 40, now)
    make(tmp_path / "sub" / "deep" / "old.log", 100, 40, now)
    make(tmp_path / "sub" / "rotated.log.1", 100, 40, now)
    sel = Selection([str(tmp_path)], patterns=["*.log", "sub/*.log.[0-9]"], min_age="30d", min_size=10, now=now)
    result = clean(sel, check_mode=True)
    assert sorted(os.path.relpath(f["path"], str(tmp_path)) for f in result["files"]) == ["old.log", "sub/deep/old.log", "sub/rotated.log.1"]
    assert result["removed_bytes"] == 300 and result["changed"] is True
    assert len(tree_files(tmp_path)) == 6  # check mode deletes nothing


def test_keep_newest_per_pattern(tmp_path):
    now = time.time()
    for index in range(6):
        make(tmp_path / ("app.log.%d" % index), 10, 40 + index, now)  # app.log.0 newest
    for index in range(3):
        make(tmp_path / ("db.gz.%d" % index), 10, 40 + index, now)
    sel = Selection([str(tmp_path)], patterns=["app.log.*", "db.gz.*"], min_age="30d", keep_newest=2, now=now)
    result = clean(sel)
    assert tree_files(tmp_path) == ["app.log.0", "app.log.1", "db.gz.0", "db.gz.1"]
    assert result["roots"][0]["kept_newest"] == 4 and result["removed_files"] == 5


def test_symlinks_are_never_followed_nor_deleted(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    make(outside / "precious.log", 10, 100)
    make(root / "old.log", 10, 100)
    (root / "escape").symlink_to(outside)
    (root / "file-link.log").symlink_to(outside / "precious.log")
    (root / "dangling.log").symlink_to(tmp_path / "missing")
    result = clean(Selection([str(root)], patterns=["*.log"]))
    assert (outside / "precious.log").exists() and (root / "file-link.log").is_symlink() and (root / "escape").is_symlink()
    assert result["removed_files"] == 1 and result["roots"][0]["symlinks"] == 3


def test_protected_paths_and_globs(tmp_path):
    for name in ("keep/a.log", "keep/deep/b.log", "other/c.log", "other/important.log", "d.log"):
        make(tmp_path / name, 10, 100)
    sel = Selection([str(tmp_path)], patterns=["*.log"], protected=[str(tmp_path / "keep"), str(tmp_path) + "/*/important.log"])
    clean(sel)
    assert tree_files(tmp_path) == ["keep/a.log", "keep/deep/b.log", "other/important.log"]


def test_unicode_names(tmp_path):
    make(tmp_path / "журнал" / "ログ.log", 10, 100)
    make(tmp_path / "naïve café.log", 10, 100)
    result = clean(Selection([str(tmp_path)], patterns=["*.log"]))
    assert result["removed_files"] == 2 and tree_files(tmp_path) == []


def test_a_directory_replaced_by_a_symlink_is_not_followed(tmp_path, monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    make(root / "d" / "old.log", 10, 100)
    make(outside / "old.log", 10, 100)
    # Swap before the scan reaches d: listing root sees d as a directory, then d becomes a symlink.
    real_scandir = os.scandir

    def scandir(target):
        entries = list(real_scandir(target))
        if isinstance(target, int) and any(e.name == "d" for e in entries):
            os.rename(str(root / "d"), str(tmp_path / "moved"))
            (root / "d").symlink_to(outside)
        return _Entries(entries)
    monkeypatch.setattr(cleanup.os, "scandir", scandir)
    result = clean(Selection([str(root)], patterns=["*.log"]))
    assert (outside / "old.log").exists() and result["removed_files"] == 0
    seen = result["roots"][0]
    assert seen["symlinks"] + seen["changed_meanwhile"] + seen["errors"] == 1
    assert (tmp_path / "moved" / "old.log").exists()


class _Entries(list):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Vfs = collections.namedtuple("Vfs", "f_bavail f_bfree f_blocks f_frsize")


class FakeDisk(object):
    """A filesystem of `size` bytes whose used space is the files under `root` plus `base`."""

    def __init__(self, root, size, base=0):
        self.root, self.size, self.base = root, size, base

    def __call__(self, _path):
        used = self.base + sum(p.stat().st_blocks * 512 for p in self.root.rglob("*") if p.is_file())
        free = self.size - used
        return Vfs(free // 4096, free // 4096, self.size // 4096, 4096)


def test_oldest_first_until_the_target_then_stops(tmp_path):
    now = time.time()
    for index in range(20):
        make(tmp_path / ("f%02d.log" % index), 4096, 100 - index, now)  # f00 oldest
    disk = FakeDisk(tmp_path, 100 * 4096)  # 20 of 100 blocks used: 80% free
    sel = Selection([str(tmp_path)], patterns=["*.log"], target_free_percent=85, now=now)
    planned = clean(sel, check_mode=True, statvfs=disk)
    assert [os.path.basename(f["path"]) for f in planned["files"]] == ["f00.log", "f01.log", "f02.log", "f03.log", "f04.log"]
    done = clean(Selection([str(tmp_path)], patterns=["*.log"], target_free_percent=85, now=now), statvfs=disk)
    assert [f["path"] for f in done["files"]] == [f["path"] for f in planned["files"]]
    assert done["filesystems"][0]["target_reached"] is True and done["filesystems"][0]["after"]["free_percent"] == 85
    again = clean(Selection([str(tmp_path)], patterns=["*.log"], target_free_percent=85, now=now), statvfs=disk)
    assert again["changed"] is False and "already meets" in again["filesystems"][0]["reason"]


def test_small_batches_still_delete_oldest_first(tmp_path):
    now = time.time()
    for index in range(30):
        make(tmp_path / ("d%d" % (index % 4)) / ("f%02d.log" % index), 4096, 100 - index, now)
    disk = FakeDisk(tmp_path, 100 * 4096)
    sel = Selection([str(tmp_path)], patterns=["*.log"], target_free_percent=90, plan_batch=3, now=now)
    report = Report(report_limit=100)
    result = clean(sel, report=report, statvfs=disk)
    assert [os.path.basename(f["path"]) for f in result["files"]] == ["f%02d.log" % i for i in range(20)]
    assert result["filesystems"][0]["target_reached"] is True


def test_target_out_of_reach_is_reported(tmp_path):
    make(tmp_path / "a.log", 4096, 10)
    disk = FakeDisk(tmp_path, 10 * 4096, base=8 * 4096)
    result = clean(Selection([str(tmp_path)], patterns=["*.log"], target_free_percent=50), statvfs=disk)
    assert result["removed_files"] == 1 and result["filesystems"][0]["target_reached"] is False
    assert "still has less than 50%" in result["filesystems"][0]["reason"]


def test_usage_threshold_gates_the_cleanup(tmp_path):
    make(tmp_path / "a.log", 4096, 10)
    disk = FakeDisk(tmp_path, 10 * 4096)
    result = clean(Selection([str(tmp_path)], patterns=["*.log"], usage_threshold=50), statvfs=disk)
    assert result["changed"] is False and "not above the usage_threshold" in result["filesystems"][0]["reason"]
    assert (tmp_path / "a.log").exists()


def test_bytes_to_target():
    assert bytes_to_target({"size": 1000, "free": 100}, 20) == 100
    assert bytes_to_target({"size": 1000, "free": 300}, 20) == 0


def test_hard_linked_files_free_nothing(tmp_path):
    make(tmp_path / "a.log", 8192, 10)
    os.link(str(tmp_path / "a.log"), str(tmp_path / "b.txt"))
    result = clean(Selection([str(tmp_path)], patterns=["*.log"]))
    assert result["roots"][0]["freed_estimate"] == 0 and result["removed_bytes"] == 8192


def test_deleted_but_open_files_are_found_and_truncated(tmp_path):
    log = make(tmp_path / "app.log.1", 50000, 0)
    holder = subprocess.Popen([sys.executable, "-c", "import sys,time; f=open(sys.argv[1]); print('open', flush=True); time.sleep(60)", str(log)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        log.unlink()
        request = {"roots": [str(tmp_path)], "patterns": ["*.log.*"], "truncate_deleted_open": True, "check_mode": True}
        planned = run_request(request)
        assert [(d["path"], d["bytes"], d["truncated"]) for d in planned["deleted_open"]] == [(str(log), 50000, True)]
        assert planned["deleted_open"][0]["holders"][0]["pid"] == holder.pid
        done = run_request(dict(request, check_mode=False))
        assert done["truncated_bytes"] == 50000 and done["changed"] is True
        again = run_request(dict(request, check_mode=False))
        assert again["deleted_open"][0]["bytes"] == 0 and again["changed"] is False
    finally:
        holder.kill()
        holder.wait()


def test_usage_summary(tmp_path):
    make(tmp_path / "big" / "one.bin", 100000)
    make(tmp_path / "small" / "two.bin", 1000)
    summary = usage_summary(str(tmp_path), top=2, depth=1)
    assert summary["largest_directories"][0]["path"] == str(tmp_path)
    assert summary["largest_directories"][1]["path"] == str(tmp_path / "big")
    assert summary["largest_files"][0]["path"] == str(tmp_path / "big" / "one.bin")


def test_manifest_lists_every_file(tmp_path):
    root = tmp_path / "root"
    for index in range(5):
        make(root / ("f%d.log" % index), 10, 40)
    manifest = tmp_path / "manifest.tsv"
    result = run_request({"roots": [str(root)], "patterns": ["*.log"], "report_limit": 2, "manifest": str(manifest), "check_mode": True})
    assert result["files_truncated"] is True and len(result["files"]) == 2
    assert len(manifest.read_text().splitlines()) == 5


def test_nested_roots_are_scanned_once(tmp_path):
    make(tmp_path / "a" / "b" / "x.log", 10, 40)
    sel = Selection([str(tmp_path / "a" / "b"), str(tmp_path / "a")], patterns=["*.log"])
    assert sel.roots == [str(tmp_path / "a")]
    assert clean(sel, check_mode=True)["removed_files"] == 1
