"""The "uid" sandbox: for a grader running as root where bubblewrap cannot start (Gradescope's containers).

Without namespaces the worker still must not read the hidden checks or the gradebook, and must not be
able to plant anything or outlive its submission. Here, each worker runs as a uid of its own:

- a fresh, otherwise unused uid (and gid) per worker, no supplementary groups, no capabilities,
  ``no_new_privs``: it can read only what the world may read, write only its own work directory
  (and world-writable places such as /tmp, swept when it ends), and signal only its own processes;
- what must stay private is checked before every worker starts: the graders package (hidden checks)
  and the course folder (source/, submitted/, autograded/, feedback/, gradebook.db) must not be
  readable by other users. A world-readable one stops grading with a message naming it and the fix
  (``chmod -R go-rwx ...``); nothing is changed behind the user's back. The Python installation the
  worker runs on may lie inside the course folder (a checkout's .venv): then everything else there
  must be private;
- rlimits as every launcher (memory, CPU, file size, open files; RLIMIT_NPROC counts this uid only),
  a pids cgroup where one can be made, the scrubbed environment;
- a seccomp filter: the memory that RLIMIT_DATA does not count (shared anonymous mappings,
  memfd_create, System V shared memory) is refused as in the bubblewrap sandbox, and so are sockets
  of every family but AF_UNIX (no TCP/UDP/raw network);
- when the worker ends, every process of its uid is killed (``kill(-1)`` as that uid) and whatever it
  left in /tmp, /var/tmp and /dev/shm is removed.

What it does not give (bubblewrap does): a private view of the file system (world-readable files of
the host are readable), a private /tmp while it runs, isolation from abstract unix sockets, a PID
namespace. Results say ``"sandbox": "uid"``.
"""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

from .cgroup import PidsCgroup
from .cleanup import remove_tree
from .limits import Limits
from .private import private_paths
from .process import WorkerProcess, popen_worker, stage_worker_package, worker_env
from .seccomp import uid_program

UID_LOW = 1_900_000_000  # where uids are picked when the whole range is mapped (far from real users)
SUBMISSION_DIR = "submission"
WORKER_DIR = ".graders-worker"


# ----------------------------------------------------------------------------- what must stay private
def _needed() -> list[Path]:
    """The Python installation the worker runs on: it must stay readable."""
    cands = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sysconfig.get_paths()["purelib"],
             sysconfig.get_paths()["platlib"], str(Path(sys.executable).parent)}
    return sorted({Path(c).resolve() for c in cands if c})


def _others_can_enter(path: Path) -> bool:
    """Whether every folder above `path` lets other users through (o+x)."""
    for parent in path.parents:
        try:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def exposed(paths: list[Path], needed: list[Path] | None = None) -> list[str]:
    """Of `paths` (and what lies inside them), what another user could read: '<path> (mode 755)' each.

    A folder is private when others cannot enter it (no o+x) or cannot reach it (a folder above
    without o+x); a file when others cannot read it (no o+r) or reach it. A folder that holds a
    `needed` path (the Python installation) must stay enterable: then each of its other entries must
    be private instead."""
    needed = [p.resolve() for p in (needed if needed is not None else _needed())]
    found: list[str] = []

    def visit(p: Path, depth: int) -> None:
        try:
            st = os.lstat(p)
        except OSError:
            return
        if stat.S_ISLNK(st.st_mode) or len(found) >= 20:
            return
        mode = f"mode {stat.S_IMODE(st.st_mode):o}"
        if stat.S_ISDIR(st.st_mode):
            if not st.st_mode & stat.S_IXOTH:
                return
            inside = [n for n in needed if n == p or p in n.parents]
            if not inside:
                found.append(f"{p} ({mode})")
                return
            if any(n == p for n in inside) or depth > 12:
                return  # the Python installation itself: readable by design
            try:
                children = sorted(p.iterdir())
            except OSError:
                return
            for child in children:
                visit(child, depth + 1)
        elif stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
            found.append(f"{p} ({mode})")

    for path in paths:
        if path.exists() and _others_can_enter(path):
            visit(path, 0)
    return list(dict.fromkeys(found))


def uid_problem(private: Sequence[Path] | None = None) -> str | None:
    """Why the uid sandbox cannot run here, or None. `private`: what other users must not read (default:
    private.private_paths(), asked now)."""
    if not hasattr(os, "setresuid") or os.geteuid() != 0:
        return "the uid sandbox needs the grader to run as root (it starts each worker as a uid of its own)"
    needed = _needed()
    closed = [n for n in needed if n.is_dir() and not (_others_can_enter(n) and os.stat(n).st_mode & stat.S_IXOTH)]
    if closed:
        return (f"the uid sandbox runs the worker as another user, who cannot reach the Python installation it needs "
                f"({closed[0]}: a folder above it, or it, is private); use a Python every user can read (such as "
                "/usr/bin/python3.11 and a virtualenv outside private folders)")
    paths = private_paths() if private is None else private
    bad = exposed(list(dict.fromkeys(p.resolve() for p in paths)), needed)
    if not bad:
        return None
    shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    paths = [Path(b.rsplit(" (mode", 1)[0]) for b in bad]
    around = sorted({p.parent for p in paths if any(p.parent in n.parents for n in needed)})
    if around:  # a checkout with its .venv inside: everything else there
        keep = sorted({n.relative_to(a).parts[0] for a in around for n in needed if a in n.parents})
        fix = "; ".join(f"cd {a} && chmod -R go-rwx $(ls -A | grep -vx -e {' -e '.join(keep)})" for a in around)
        others = [p for p in paths if p.parent not in around]
        if others:
            fix += f"; chmod -R go-rwx {' '.join(map(str, others[:4]))}"
    else:
        fix = f"chmod -R go-rwx {' '.join(map(str, paths[:6]))}"
    return (f"the uid sandbox lets student code read whatever other users may read, and the grader's private files are "
            f"readable: {shown}; make them private first ({fix})")


# ----------------------------------------------------------------------------- a uid of its own
def _mapped(kind: str) -> list[tuple[int, int]]:
    """[(first, count)] of ids usable here (all of them outside a user namespace)."""
    try:
        lines = Path(f"/proc/self/{kind}_map").read_text().split("\n")
    except OSError:
        return [(0, 2**32 - 1)]
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            out.append((int(parts[0]), int(parts[2])))
    return out or [(0, 2**32 - 1)]


def _in_use(uid: int) -> bool:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    return True
            except OSError:
                continue
    return False


def pick_uid() -> int:
    """An unused uid (also used as the gid): far above real users where the whole id range is mapped."""
    ranges = [(lo, n) for lo, n in _mapped("uid") if n > 1]
    gids = _mapped("gid")
    for _ in range(50):
        lo, n = max(ranges, key=lambda r: r[1])
        if lo <= UID_LOW < lo + n - 10_000_000:
            uid = random.randrange(UID_LOW, UID_LOW + 10_000_000)
        else:  # a container with a small mapping: stay well above system users
            start = lo + min(n // 2, 100_000)
            uid = random.randrange(start, lo + n - 1)
        if any(g <= uid < g + m for g, m in gids) and not _in_use(uid):
            return uid
    from ..errors import SandboxUnavailable

    raise SandboxUnavailable("the uid sandbox found no unused uid to run the worker as")


def end_uid(uid: int, *, seconds: float = 5.0) -> None:
    """Kill every process of `uid` (as that uid: kill(-1) reaches exactly its own processes), then remove
    what it left in the world-writable folders."""
    deadline = time.monotonic() + seconds
    while _in_use(uid) and time.monotonic() < deadline:
        try:
            subprocess.run([sys.executable, "-I", "-S", "-c", "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass"],
                           user=uid, group=uid, extra_groups=[], env={}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10, cwd="/")
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.02)
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
                if st.st_uid != uid:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    remove_tree(e.path)
                else:
                    os.unlink(e.path)
            except OSError:
                pass


# run by `python -I -c` as root: drops to the worker's uid (graders/worker/isolate.py) before anything of
# the submission runs; the staged package is root's and read-only for the worker
_BOOT = """import sys
sys.path.insert(0, {stage!r})
from graders_worker.isolate import become_uid
become_uid({uid}, {nproc}, bytes.fromhex({prog!r}))
from graders_worker.serve import main
raise SystemExit(main(["{{FD}}"]))
"""


class UidLauncher:
    """Each worker as a uid of its own (see the module docstring): the fallback where bubblewrap cannot run.
    `private`: what other users must not read (default: private.private_paths(), asked at each spawn)."""

    name = "uid"

    def __init__(self, *, private: Sequence[Path] | None = None) -> None:
        self.private = None if private is None else tuple(private)

    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess:
        problem = uid_problem(self.private)
        if problem is not None:
            from ..errors import SandboxUnavailable

            raise SandboxUnavailable(f"cannot sandbox student code: {problem}")
        uid = pick_uid()
        workdir = Path(workdir)
        os.chmod(workdir, 0o711)  # root's: the worker passes through to its own folder, lists nothing
        sub = workdir / SUBMISSION_DIR
        sub.mkdir(mode=0o700)
        for rel, data in (files or {}).items():
            target = (sub / rel).resolve()
            if not (target == sub.resolve() or sub.resolve() in target.parents):
                raise ValueError(f"file {rel!r} would lie outside the work directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for dirpath, dirnames, filenames in os.walk(sub):
            for name in [*dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), uid, uid)
        os.chown(sub, uid, uid)
        stage = workdir / WORKER_DIR
        stage_worker_package(stage)  # root's, readable: the worker runs it but cannot change it
        for dirpath, _dirnames, filenames in os.walk(stage):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        boot = _BOOT.format(uid=uid, nproc=int(limits.processes), prog=uid_program().hex(), stage=str(stage))
        env = worker_env(sub, extra={"USER": "student", "LOGNAME": "student"})
        cgroup = PidsCgroup.create(limits.processes)
        try:
            proc = popen_worker([sys.executable, "-I", "-c", boot], workdir=sub, limits=limits, env=env, sandbox=self.name,
                                cgroup=cgroup)
        except BaseException:
            end_uid(uid)
            raise
        proc._cleanup.append(lambda: end_uid(uid))
        return proc
