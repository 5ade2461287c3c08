"""pids cgroups: a bound on a worker's processes that holds for root too, and a way to end them all.

RLIMIT_NPROC does not bind processes that run as root on the host, and a process group does not hold
what left it (setsid, start_new_session). A pids cgroup per worker does both: at most
`limits.processes` processes, and `kill_all` reaches every one, detached ones included. Best effort:
where no pids cgroup can be made, the PID namespace of the sandbox (or the process group of the plain
launcher) is what ends processes. The zygote gets a tree: its own cgroup, a leaf for itself and one
cgroup per worker beside it (made inside the sandbox by graders/worker/isolate.py's `own_cgroup`).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar


class PidsCgroup:
    """A pids cgroup for one worker (or the zygote's tree); `create` returns None where none can be made."""

    _parent: ClassVar[tuple[Path, bool] | None | bool] = False  # False: not looked up yet

    def __init__(self, path: Path, v2: bool) -> None:
        self.path, self.v2 = path, v2

    @classmethod
    def create(cls, max_processes: int) -> PidsCgroup | None:
        if cls._parent is False:
            cls._parent = find_pids_cgroup()
        if not cls._parent:
            return None
        parent, v2 = cls._parent  # type: ignore[misc]
        _sweep_stale_cgroups(parent)
        path = parent / f"graders-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(int(max_processes)))
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
            return None
        return cls(path, v2)

    @property
    def procs_file(self) -> str:
        """Where a process writes its pid to enter (graders.worker.isolate.enter_cgroup, in the child)."""
        return str(self.path / "cgroup.procs")

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> None:
        kill_file = self.path / "cgroup.kill"
        if self.v2 and kill_file.exists():
            try:
                kill_file.write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def destroy(self) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                self.kill_all()
                time.sleep(0.02)


def _sweep_stale_cgroups(parent: Path) -> None:
    """Remove the empty cgroups of graders that died without cleaning up (their pid is gone)."""
    try:
        entries = list(parent.glob("graders-*-*"))
    except OSError:
        return
    for d in entries:
        try:
            owner = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if owner == os.getpid() or Path(f"/proc/{owner}").exists():
            continue
        try:
            d.rmdir()  # fails (EBUSY) while processes are in it: then it is not stale
        except OSError:
            pass


def find_pids_cgroup() -> tuple[Path, bool] | None:
    """The folder under which this process may create pids cgroups: (path, is cgroup v2), or None."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    v1_mount = v2_mount = None
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        if rfields[0] == "cgroup" and "pids" in rfields[2].split(","):
            v1_mount = Path(fields[4])
        elif rfields[0] == "cgroup2" and v2_mount is None:
            v2_mount = Path(fields[4])
    for line in own:
        hid, _, rest = line.partition(":")
        ctrls, _, rel = rest.partition(":")
        if v1_mount is not None and "pids" in ctrls.split(","):
            parent = v1_mount / rel.lstrip("/")
            if os.access(parent, os.W_OK):
                return parent, False
        if hid == "0" and ctrls == "" and v2_mount is not None:
            parent = v2_mount / rel.lstrip("/")
            try:  # only where the pids controller is already delegated to our children
                enabled = "pids" in (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if enabled and os.access(parent, os.W_OK):
                return parent, True
    return None


# ------------------------------------------------------------------ the zygote's tree
def cgroup_tree(max_processes: int) -> tuple[PidsCgroup | None, PidsCgroup | None]:
    """(the zygote's pids cgroup, the leaf the zygote itself runs in), or (None, None) where there is none.
    With cgroup v2 the zygote must sit in a leaf of its own beside the workers' cgroups."""
    top = PidsCgroup.create(max_processes)
    if top is None:
        return None, None
    if not top.v2:
        return top, top
    try:
        leaf = top.path / "zygote"
        leaf.mkdir()
        (top.path / "cgroup.subtree_control").write_text("+pids")
        return top, PidsCgroup(leaf, True)
    except OSError:
        destroy_cgroup_tree(top)
        return None, None


def destroy_cgroup_tree(top: PidsCgroup) -> None:
    subs = [d for d in top.path.iterdir() if d.is_dir()] if top.path.is_dir() else []
    for d in subs:
        sub = PidsCgroup(d, top.v2)
        sub.kill_all()
        sub.destroy()
    top.kill_all()
    top.destroy()


def sweep_dead_trees(dead: Callable[[str], bool]) -> None:
    """Destroy the cgroups (with whatever still runs in them) of graders processes that no longer exist;
    `dead(pid_text)` says whether the owner named in a cgroup's name is gone."""
    found = find_pids_cgroup()
    if not found:
        return
    parent, v2 = found
    try:
        tops = [d for d in parent.glob("graders-*-*") if d.is_dir() and dead(d.name.split("-")[1])]
    except OSError:
        return
    for d in tops:
        destroy_cgroup_tree(PidsCgroup(d, v2))
