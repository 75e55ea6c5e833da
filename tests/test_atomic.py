"""untwine.atomic: a reader sees the old content or the new, never half; nothing is left behind on failure."""

import os

import pytest

from untwine.atomic import atomic_write, atomic_write_with, replace_directory


def test_atomic_write_replaces_and_a_failed_write_keeps_the_old(tmp_path):
    path = tmp_path / "a.json"
    atomic_write(path, "old")
    atomic_write(path, b"new")
    assert path.read_text() == "new"

    def half(tmp):
        with open(tmp, "w") as handle:
            handle.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_with(path, half)
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    atomic_write_with(path, lambda tmp: open(tmp, "w").write("whole"))
    assert path.read_text() == "whole" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_replace_directory_swaps_in_the_new_and_removes_the_old(tmp_path):
    target = tmp_path / "events"
    first = tmp_path / ".events-new-1"
    first.mkdir()
    (first / "one").write_text("1")
    replace_directory(first, target)  # no target yet
    assert [p.name for p in target.iterdir()] == ["one"] and not first.exists()
    second = tmp_path / ".events-new-2"
    second.mkdir()
    (second / "two").write_text("2")
    inode = target.stat().st_ino
    replace_directory(second, target)
    assert [p.name for p in target.iterdir()] == ["two"] and target.stat().st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events"]  # the old copy is gone
    assert not any(name.startswith(f".events-old-{os.getpid()}") for name in os.listdir(tmp_path))
