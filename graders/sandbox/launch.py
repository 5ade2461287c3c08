"""Starting a worker process. The plain launcher is the fallback: separate process + rlimits."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .limits import Limits

WORKER_PACKAGE = Path(__file__).resolve().parent.parent / "worker"

# variables a worker may see; everything else (tokens, secrets, CI variables) is dropped
ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
             "GRADERS_GPU_MEMORY_FRACTION")


def worker_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        HOME=str(workdir),
        TMPDIR=str(workdir),
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
        IPYTHONDIR=str(workdir / ".ipython"),
        MPLCONFIGDIR=str(workdir / ".matplotlib"),
    )
    if extra:
        env.update(extra)
    return env


class _OutputDrain(threading.Thread):
    """Reads a pipe to the end, keeping at most `cap` bytes (so an output flood costs nothing)."""

    def __init__(self, fd: int, cap: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.cap = fd, cap
        self.kept = bytearray()
        self.dropped = 0

    def run(self) -> None:
        try:
            while True:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                room = self.cap - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
                self.dropped += max(0, len(chunk) - max(room, 0))
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        t = self.kept.decode("utf-8", "replace")
        return t + (f"\n... [{self.dropped} more bytes of output not kept]" if self.dropped else "")


@dataclass
class WorkerProcess:
    """A running worker: the judge's end of the socket, and how to end it for good."""

    sock: socket.socket
    pid: int
    sandbox: str
    _popen: subprocess.Popen[bytes] | None = None
    _drain: _OutputDrain | None = None
    _cleanup: list[object] = field(default_factory=list)
    _cgroup: PidsCgroup | None = None

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def kill(self) -> None:
        """End the worker and every process it started (its own process group / PID namespace)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._popen is not None:
            try:
                self._popen.kill()
            except ProcessLookupError:
                pass
            try:
                self._popen.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        if self._cgroup is not None:  # whatever left the process group (setsid, start_new_session)
            self._cgroup.kill_all()
            self._cgroup.destroy()
            self._cgroup = None
        try:
            self.sock.close()
        except OSError:
            pass
        if self._drain is not None:
            self._drain.join(timeout=2)
        for fn in self._cleanup:
            fn()  # type: ignore[operator]
        self._cleanup.clear()

    def exit_description(self) -> str:
        if self._popen is None:
            return "the worker ended"
        rc = self._popen.poll()
        if rc is None:
            return "the worker stopped answering"
        if rc > 128 and self.sandbox == "bubblewrap":
            rc = -(rc - 128)  # bwrap exits with 128 + N when the worker inside was killed by signal N
        if rc < 0:
            try:
                sig = signal.Signals(-rc).name
            except ValueError:
                sig = f"signal {-rc}"
            why = {"SIGKILL": "killed (often: the memory limit was reached)", "SIGXCPU": "CPU time limit reached",
                   "SIGSEGV": "crashed (segmentation fault)", "SIGXFSZ": "file size limit reached"}.get(sig, f"killed by {sig}")
            return f"the worker process was {why}"
        return f"the worker process exited with code {rc} (the notebook ended its own Python process)"

    def output(self) -> str:
        return self._drain.text() if self._drain else ""


class Launcher(Protocol):
    name: str

    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess: ...


def set_rlimits(limits: Limits) -> None:
    """Applied in the child before exec (also used by the sandbox and the zygote)."""

    def lim(res: int, value: int) -> None:
        try:
            soft, hard = resource.getrlimit(res)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass

    lim(resource.RLIMIT_DATA, limits.memory_bytes)
    lim(resource.RLIMIT_CPU, limits.cpu_seconds)
    lim(resource.RLIMIT_FSIZE, limits.file_bytes)
    lim(resource.RLIMIT_NOFILE, limits.open_files)
    lim(resource.RLIMIT_CORE, 0)
    if os.geteuid() != 0:  # root ignores RLIMIT_NPROC; the PID namespace/cgroup bound it there
        lim(resource.RLIMIT_NPROC, limits.processes)


class PidsCgroup:
    """A pids cgroup for one worker: at most `limits.processes` processes (RLIMIT_NPROC does not bind
    processes that run as root on the host), and a way to kill every process in it, detached ones
    included. Best effort: `create` returns None where no pids cgroup can be made (then the PID
    namespace of the sandbox, or the process group of the plain launcher, is what ends processes)."""

    _parent: ClassVar[tuple[Path, bool] | None | bool] = False  # False: not looked up yet

    def __init__(self, path: Path, v2: bool) -> None:
        self.path, self.v2 = path, v2

    @classmethod
    def create(cls, max_processes: int) -> PidsCgroup | None:
        if cls._parent is False:
            cls._parent = _find_pids_cgroup()
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

    def enter(self) -> None:
        """Move the calling process in (run in the child between fork and exec)."""
        try:
            fd = os.open(self.path / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        except OSError:
            pass

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


def _find_pids_cgroup() -> tuple[Path, bool] | None:
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


def popen_worker(cmd: list[str], *, workdir: Path, limits: Limits, env: dict[str, str], sandbox: str,
                 cgroup: PidsCgroup | None = None, extra_fds: tuple[int, ...] = ()) -> WorkerProcess:
    """Start `cmd` ("{FD}" in it becomes the worker's socket fd) in its own session, with rlimits,
    `env` only, stdout/stderr drained and capped; `extra_fds` are inherited too (bwrap's --seccomp)."""
    judge_end, worker_end = socket.socketpair()
    r, w = os.pipe()
    fd = worker_end.fileno()
    cmd = [c.replace("{FD}", str(fd)) for c in cmd]

    parent = os.getpid()
    die_with_parent = _parent_death_signal()

    def preexec() -> None:
        os.setsid()
        die_with_parent()
        if os.getppid() != parent:  # the judge died before the signal was armed
            os._exit(1)
        if cgroup is not None:
            cgroup.enter()
        set_rlimits(limits)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            cmd, cwd=str(workdir), env=env, stdin=subprocess.DEVNULL, stdout=w, stderr=w,
            pass_fds=(fd, *extra_fds), preexec_fn=preexec, close_fds=True,
        )

    try:
        popen = _spawner_run(start)
    except BaseException:
        os.close(r)
        judge_end.close()
        if cgroup is not None:
            cgroup.destroy()
        raise
    finally:
        os.close(w)
        worker_end.close()
    drain = _OutputDrain(r, limits.output_bytes)
    drain.start()
    return WorkerProcess(sock=judge_end, pid=popen.pid, sandbox=sandbox, _popen=popen, _drain=drain, _cgroup=cgroup)


class _Spawner:
    """One long-lived thread that starts every worker. A parent-death signal (PR_SET_PDEATHSIG, and
    bwrap's --die-with-parent) fires when the *thread* that forked the child ends, not the process:
    a worker started from a short-lived thread (a thread pool's, a boot thread) would be killed with it."""

    def __init__(self) -> None:
        import queue

        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="graders-spawner", daemon=True).start()

    def _loop(self) -> None:
        while True:
            fn, box, done = self.jobs.get()
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                box["error"] = exc
            done.set()

    def run(self, fn: Callable[[], Any]) -> Any:
        box: dict[str, Any] = {}
        done = threading.Event()
        self.jobs.put((fn, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]


_SPAWNER: _Spawner | None = None
_SPAWNER_LOCK = threading.Lock()


def _spawner_run(fn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None or _SPAWNER.pid != os.getpid():  # none yet, or this is a forked copy of the judge
            _SPAWNER = _Spawner()
        spawner = _SPAWNER
    return spawner.run(fn)  # type: ignore[no-any-return]


def _parent_death_signal() -> Callable[[], object]:
    """A function for the child (between fork and exec): SIGKILL me when the judge dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return lambda: None
    return lambda: prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


class PlainLauncher:
    """No sandbox: a separate process with rlimits, its own session, a scrubbed environment."""

    name = "none"

    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess:
        for rel, data in (files or {}).items():
            (workdir / rel).write_bytes(data)
        # the worker package is put on the path alone, under its own name: `import graders` finds nothing
        stage = workdir / ".graders-worker"
        _stage_worker_package(stage)
        cmd = [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(stage)!r}); from graders_worker.serve import main; raise SystemExit(main(['{{FD}}']))"]
        cgroup = PidsCgroup.create(limits.processes)
        return popen_worker(cmd, workdir=workdir, limits=limits, env=worker_env(workdir), sandbox=self.name, cgroup=cgroup)


def _stage_worker_package(stage: Path) -> None:
    target = stage / "graders_worker"
    target.mkdir(parents=True, exist_ok=True)
    for f in WORKER_PACKAGE.glob("*.py"):
        (target / f.name).write_bytes(f.read_bytes())


SANDBOX_MODES = ("auto", "bubblewrap", "uid", "none")


def choose_launcher(*, require_sandbox: bool = False, sandbox: str | None = None) -> Launcher:
    """bubblewrap where it runs; else, for a grader running as root, the uid sandbox; otherwise the plain
    launcher with a loud warning.

    `sandbox` (default: the environment variable GRADERS_SANDBOX, else "auto"): "auto" takes
    bubblewrap when it works here, else the uid sandbox when this process is root and the grader's
    private files are private (graders/sandbox/uid.py), and falls back with a RuntimeWarning;
    "bubblewrap" and "uid" insist on one; "none" grades without a sandbox on purpose (still with a
    warning). `require_sandbox` (the CLI's --require-sandbox) turns every fallback to none into
    SandboxUnavailable. The launcher's `name` is what results report as `sandbox`: "bubblewrap", "uid"
    or "none".
    """
    from ..errors import GradersError, SandboxUnavailable

    mode = sandbox if sandbox is not None else (os.environ.get("GRADERS_SANDBOX", "").strip().lower() or "auto")
    if mode not in SANDBOX_MODES:
        raise GradersError(f"unknown sandbox {mode!r} (GRADERS_SANDBOX or --sandbox); use one of: {', '.join(SANDBOX_MODES)}")
    if mode == "none":
        if require_sandbox:
            raise SandboxUnavailable("a sandbox is required (--require-sandbox), but GRADERS_SANDBOX=none turns it off")
        warnings.warn("grading WITHOUT a sandbox (GRADERS_SANDBOX=none): student code runs as a plain process with rlimits only",
                      RuntimeWarning, stacklevel=2)
        return PlainLauncher()
    from .uid import UidLauncher, uid_problem

    if mode == "uid":
        if (why := uid_problem()) is not None:
            raise SandboxUnavailable(f"cannot sandbox student code (GRADERS_SANDBOX=uid): {why}")
        return UidLauncher()
    try:
        from .bwrap import BwrapLauncher, bwrap_problem
    except ImportError as exc:  # pragma: no cover - a broken installation
        problem: str | None = f"bubblewrap support cannot be loaded ({exc})"
    else:
        problem = bwrap_problem()
        if problem is None:
            return BwrapLauncher()
    if mode == "auto" and os.geteuid() == 0:  # root without bubblewrap (Gradescope): a uid of its own per worker
        why = uid_problem()
        if why is None:
            return UidLauncher()
        problem = f"{problem}; {why}"
    if require_sandbox or mode == "bubblewrap":
        why = "--require-sandbox" if require_sandbox else "GRADERS_SANDBOX=bubblewrap"
        raise SandboxUnavailable(f"cannot sandbox student code ({why}): {problem}; install bubblewrap "
                                 "(apt-get install -y bubblewrap) and allow user namespaces, or drop --require-sandbox")
    warnings.warn(f"grading WITHOUT a sandbox ({problem}): student code runs as a plain process with rlimits only; "
                  "results say \"sandbox\": \"none\"; use --require-sandbox to refuse instead", RuntimeWarning, stacklevel=2)
    return PlainLauncher()
