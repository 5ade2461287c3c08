"""Removing what a worker left on the host, whatever its shape.

A submission controls the tree under its working folder: 1,500 nested directories make
`shutil.rmtree` raise RecursionError (Python 3.11), names near NAME_MAX make the paths exceed
PATH_MAX, and a directory without read or execute permission stops a naive walk. `remove_tree`
walks iteratively with at most two open directory descriptors (it goes back up through `..` of
the directory it holds, never through a path), so neither depth nor path length matters, and it
never raises: a clean-up problem must not cost a submission its result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Remove `path` (a directory tree, a file or a symlink; symlinks are removed, never followed).
    Returns whether it is gone. Never raises."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return not os.path.lexists(path)
    try:
        shutil.rmtree(path)  # the fast path for ordinary trees
    except (OSError, RecursionError):
        pass
    if os.path.lexists(path):
        with contextlib.suppress(OSError, RecursionError):
            _remove_deep(path)
    return not os.path.lexists(path)


def _remove_deep(path: str) -> None:
    """Depth-first without recursion: hold one directory; empty its files; go down into its first
    subdirectory; when it is empty go back up through '..' and remove it by name."""
    parent = os.path.dirname(os.path.abspath(path))
    pfd = os.open(parent, _DIR_FLAGS)
    try:
        cur = os.open(os.path.basename(path), _DIR_FLAGS, dir_fd=pfd)
    finally:
        os.close(pfd)
    depth = 0
    try:
        while True:
            with contextlib.suppress(OSError):
                os.fchmod(cur, 0o700)  # a folder the submission made unreadable
            sub = None
            with os.scandir(cur) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        sub = entry.name
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.name, dir_fd=cur)
            if sub is not None:
                nxt = os.open(sub, _DIR_FLAGS, dir_fd=cur)
                os.close(cur)
                cur, depth = nxt, depth + 1
                continue
            if depth == 0:
                break
            up = os.open("..", _DIR_FLAGS, dir_fd=cur)
            os.close(cur)
            cur, depth = up, depth - 1
            # the child we came from is empty unless it holds more subdirectories: rmdir what is empty
            with os.scandir(cur) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        with contextlib.suppress(OSError):
                            os.rmdir(entry.name, dir_fd=cur)
    finally:
        os.close(cur)
    os.rmdir(path)
