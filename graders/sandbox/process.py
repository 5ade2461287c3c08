"""Starting a worker process, judge side: the environment it sees, its socket, its output, its end.

Every launcher (plain.py, bwrap.py, uid.py) starts its worker through `popen_worker`: a new session,
the parent-death signal, the pids cgroup and the rlimits are applied in the child between fork and
exec by graders/worker/isolate.py's `preexec`; stdout/stderr are drained and capped here. The zygote
(zygote.py) forks its workers itself but describes their ends with the same words (`describe_exit`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..worker import isolate
from .cgroup import PidsCgroup
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


def rlimit_values(limits: Limits) -> dict[str, int]:
    """What graders.worker.isolate.set_rlimits applies in the worker (also sent to the zygote)."""
    return {k: int(getattr(limits, k)) for k in isolate.RLIMIT_KEYS}


def stage_worker_package(stage: Path) -> None:
    """Copy graders/worker/ into `stage` as the package `graders_worker`: all the sandbox may see of graders."""
    target = stage / "graders_worker"
    target.mkdir(parents=True, exist_ok=True)
    for f in WORKER_PACKAGE.glob("*.py"):
        (target / f.name).write_bytes(f.read_bytes())


class OutputDrain(threading.Thread):
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


_WHY = {"SIGKILL": "killed (often: the memory limit was reached)", "SIGXCPU": "CPU time limit reached",
        "SIGSEGV": "crashed (segmentation fault)", "SIGXFSZ": "file size limit reached"}


def describe_exit(*, signal_number: int = 0, code: int | None = None) -> str:
    """How a worker ended, for the student: killed by `signal_number`, else exited with `code`."""
    if signal_number:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = f"signal {signal_number}"
        return f"the worker process was {_WHY.get(name, f'killed by {name}')}"
    return f"the worker process exited with code {code} (the notebook ended its own Python process)"


@dataclass
class WorkerProcess:
    """A running worker: the judge's end of the socket, and how to end it for good."""

    sock: socket.socket
    pid: int
    sandbox: str
    _popen: subprocess.Popen[bytes] | None = None
    _drain: OutputDrain | None = None
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
        self._release()

    def _release(self) -> None:
        """The judge's ends of a worker that is gone: its socket, its output drain, its clean-ups."""
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
        return describe_exit(signal_number=-rc if rc < 0 else 0, code=rc)

    def output(self) -> str:
        return self._drain.text() if self._drain else ""


class Launcher(Protocol):
    name: str

    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess: ...


def popen_worker(cmd: list[str], *, workdir: Path, limits: Limits, env: dict[str, str], sandbox: str,
                 cgroup: PidsCgroup | None = None, extra_fds: tuple[int, ...] = ()) -> WorkerProcess:
    """Start `cmd` ("{FD}" in it becomes the worker's socket fd) in its own session, with rlimits,
    `env` only, stdout/stderr drained and capped; `extra_fds` are inherited too (bwrap's --seccomp)."""
    judge_end, worker_end = socket.socketpair()
    r, w = os.pipe()
    fd = worker_end.fileno()
    cmd = [c.replace("{FD}", str(fd)) for c in cmd]
    preexec = isolate.preexec(parent=os.getpid(), cgroup_procs=cgroup.procs_file if cgroup is not None else None,
                              rlimits=rlimit_values(limits))

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
    drain = OutputDrain(r, limits.output_bytes)
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
