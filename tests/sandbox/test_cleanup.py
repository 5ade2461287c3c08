"""Removing a worker's folder whatever a submission made of it (issue #11): depth beyond Python's
recursion limit, paths beyond PATH_MAX, folders without permissions, symlinks out of the tree."""

from __future__ import annotations

import os
from pathlib import Path

from graders.sandbox.cleanup import remove_tree


def test_a_tree_deeper_than_the_recursion_limit_and_longer_than_path_max(tmp_path: Path) -> None:
    top = tmp_path / "work"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    name = "d" * 200  # 1,500 of these: 300,000 characters of path
    try:
        for _ in range(1500):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            with open(os.open("leaf", os.O_WRONLY | os.O_CREAT, dir_fd=nxt), "w") as f:
                f.write("x")
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    assert remove_tree(top) is True
    assert not top.exists()


def test_unreadable_folders_and_links_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("host file")
    top = tmp_path / "work"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    (top / "a" / "link").symlink_to(outside)
    (top / "a" / "b").chmod(0)
    (top / "a").chmod(0o100)
    assert remove_tree(top) is True
    assert (outside / "keep").read_text() == "host file"  # a link is removed, never followed
    assert remove_tree(top) is True  # already gone: still fine
