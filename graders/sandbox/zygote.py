"""The judge's side of the zygote: `ZygoteLauncher` starts the fork server and asks it for workers.

The fork server itself (it has imported torch once and forks a fresh, sandboxed worker per
submission in ~10 ms instead of ~2.2 s for a new Python) runs inside one bubblewrap sandbox (the view
of bwrap.py) and is graders/worker/zygote.py: see there for what each worker is (three forks, new
namespaces, no privileges). It is staged into the sandbox with the rest of the worker package.

`ZygoteLauncher` is a `Launcher` (process.py), so `WorkerSession` uses it unchanged. Where per-child
namespaces cannot be made, `start()` raises `ZygoteUnavailable` and the caller uses the ordinary
launcher (graders/judge/process.py does that). One zygote can serve several judge processes
(`listen=True` / `connect=`): `graders autograde --workers N` shares one. Its sandbox is decided by
policy.py (bubblewrap or none); its pids cgroups are made by cgroup.py; what it preloads, by preload.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SandboxUnavailable, WorkerError
from ..worker import isolate
from ..worker.codec import send_frame
from . import policy
from .bwrap import SANDBOX_WORKER, SHM_BYTES, ZYGOTE_CGROUP, ZYGOTE_SOCKDIR, bwrap_binary, zygote_sandbox_args
from .cgroup import cgroup_tree, destroy_cgroup_tree, sweep_dead_trees
from .limits import Limits
from .preload import BASE_PRELOAD, notebook_imports
from .process import OutputDrain, WorkerProcess, describe_exit, rlimit_values, stage_worker_package, worker_env
from .seccomp import bwrap_program

__all__ = ["BASE_PRELOAD", "ZygoteLauncher", "ZygoteUnavailable", "ZygoteWorker", "notebook_imports"]

SANDBOX_WORKDIR = "/submission"


class ZygoteUnavailable(SandboxUnavailable):
    """The zygote cannot give each submission its own namespaces here; use the ordinary launcher."""


@dataclass
class ZygoteWorker(WorkerProcess):
    """A worker forked by the zygote: `pid` is A's pid as the zygote sees it."""

    _zygote: Any = None
    _status: list[int] = field(default_factory=list)

    def alive(self) -> bool:
        return not self._status and self._zygote is not None and self._zygote.child_alive(self.pid)

    def kill(self) -> None:
        z = self._zygote
        if z is not None:
            z.kill_child(self.pid)
            st = z.wait_child(self.pid, timeout=10)
            if st is not None and not self._status:
                self._status.append(st)
        self._release()

    def exit_description(self) -> str:
        # asked when the connection broke: the exit is on its way through A and B, give it a moment
        st = self._status[0] if self._status else (self._zygote.exit_status(self.pid, wait=2.0) if self._zygote else None)
        if st is None:
            return "the worker stopped answering"
        sig = os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0
        if os.WIFEXITED(st) and 128 < os.WEXITSTATUS(st) <= 128 + 64:
            sig = os.WEXITSTATUS(st) - 128  # the namespace's init exits with 128 + N when the worker died of signal N
        return describe_exit(signal_number=sig, code=os.WEXITSTATUS(st) if os.WIFEXITED(st) else st)


class ZygoteLauncher:
    """A `Launcher` whose workers are forked from a zygote that has imported torch.

    sandbox: "auto" (bubblewrap when it works here, else none with a RuntimeWarning), "bubblewrap"
    (insist) or "none"; default: the GRADERS_SANDBOX variable, as `choose_launcher`. `preload`:
    extra modules to import in the zygote (e.g. `notebook_imports(release notebook)`);
    `warm_training`: also import torch._dynamo and run an optimizer step there, once it is idle after
    starting (the first optimizer and many meta-device ops import it: ~1-2 s a worker need not pay).
    The zygote starts on first use (or `start()`), lives until `close()` or the process ends.

    Sharing one zygote between processes: `listen=True` makes it accept more judges on a socket
    (`address`, a path in a private folder; workers never see it); another process then uses
    `ZygoteLauncher(connect=address)`. Each judge gets only its own children's exits, and what
    a judge forked dies when it disconnects; the zygote dies with the process that started it.
    """

    def __init__(self, *, sandbox: str | None = None, require_sandbox: bool = False, preload: tuple[str, ...] | list[str] = (),
                 torch_threads: int = 1, warn: bool = True, warm_training: bool = True, listen: bool = False,
                 connect: str | None = None, hide: Sequence[Path] | None = None) -> None:
        mode = policy.check_mode(policy.requested_mode(sandbox), policy.ZYGOTE)
        self.mode, self.require_sandbox, self.warn = mode, require_sandbox, warn
        self.hide = None if hide is None else tuple(hide)
        self.preload = tuple(dict.fromkeys([*BASE_PRELOAD, *preload]))
        self.torch_threads = torch_threads
        self.warm_training = warm_training
        self.connect = connect
        self.name = policy.decide(mode, require_sandbox=require_sandbox, wording=policy.ZYGOTE, warn=warn, stacklevel=2)
        self._sockdir: Path | None = Path(tempfile.mkdtemp(prefix=f"graders-zsock-{os.getpid()}-")) if listen else None
        self.address: str | None = str(self._sockdir / "zygote.sock") if self._sockdir else connect
        self._broken = False
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._replies: list[dict[str, Any]] = []
        self._exits: dict[int, int] = {}
        self._live: set[int] = set()
        self._stage: Path | None = None
        self._cgroup: Any = None
        self._log: OutputDrain | None = None
        self._stop: threading.Event | None = None
        self.hello: dict[str, Any] = {}
        self.spawned = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> ZygoteLauncher:
        with self._lock:
            if self._alive_locked():
                return self
            self._close_locked()
            try:
                self._start_locked()
            except BaseException as exc:
                self.fail(f"{type(exc).__name__}: {exc}")
                raise
            return self

    def _alive_locked(self) -> bool:
        if self._ctl is None or self._broken:
            return False
        return self.connect is not None or (self._proc is not None and self._proc.poll() is None)

    def _connect_locked(self, timeout: float = 300.0) -> None:
        """Join a zygote another process started (waiting for it to come up)."""
        assert self.connect is not None
        path = Path(self.connect)
        deadline = time.monotonic() + timeout
        while True:
            failed = path.parent / "failed"
            if failed.exists():
                raise ZygoteUnavailable(f"the shared zygote did not start: {failed.read_text(errors='replace')[:500]}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect(str(path))
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise ZygoteUnavailable(f"no zygote answers at {path}") from None
                time.sleep(0.05)
        self._ctl, self._broken = sock, False
        self._replies, self._exits, self._live = [], {}, set()
        self._reader = threading.Thread(target=self._read_loop, args=(sock,), name="graders-zygote-reader", daemon=True)
        self._reader.start()
        hello = self._wait_reply(timeout=30, what="joining the zygote")
        if not hello.get("ready") or hello.get("isolation") != "namespaces":
            self._close_locked()
            raise ZygoteUnavailable(f"the shared zygote cannot be used: {hello.get('error') or hello.get('problem')}")
        self.hello = hello

    def fail(self, reason: str) -> None:
        """Tell processes waiting to connect that this zygote will not come (they use their own launcher)."""
        if self._sockdir is not None:
            with contextlib.suppress(OSError):
                (self._sockdir / "failed").write_text(reason)

    def _start_locked(self) -> None:
        if self.connect is not None:
            self._connect_locked()
            return
        _sweep_stale()
        stage = Path(tempfile.mkdtemp(prefix=f"graders-zygote-{os.getpid()}-"))
        self._stage = stage
        stage_worker_package(stage / "worker")  # the zygote is graders_worker.zygote
        (stage / "home").mkdir()
        judge_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = zygote_end.fileno()
        in_bwrap = self.name == "bubblewrap"
        inner_workdir = SANDBOX_WORKDIR if in_bwrap else "/tmp/submission"
        config: dict[str, Any] = {"preload": list(self.preload), "torch_threads": self.torch_threads, "workdir": inner_workdir,
                                  "warm_training": self.warm_training}
        program = bwrap_program()  # the bubblewrap launcher's seccomp filter and /dev/shm size, for the same limits
        if program:
            config["seccomp"] = program.hex()
        config["shm_bytes"] = SHM_BYTES
        if self._sockdir is not None:
            inner_sockdir = ZYGOTE_SOCKDIR if in_bwrap else str(self._sockdir)
            config["listen"] = f"{inner_sockdir}/zygote.sock"
            config["hide"] = [inner_sockdir]
        # a pids cgroup for the zygote and, inside it, one per worker (made by A): a fork bomb in one
        # submission exhausts its own limit, not what the zygote needs to serve the others
        self._cgroup, zygote_cg = cgroup_tree(Limits().processes * 4 + 16)
        if self._cgroup is not None:
            config["cgroup"] = ZYGOTE_CGROUP if in_bwrap else str(self._cgroup.path)
            config.setdefault("hide", []).append(config["cgroup"])
        if in_bwrap:
            args = zygote_sandbox_args(stage=stage, hide=self.hide, sockdir=self._sockdir,
                                       cgroup_dir=self._cgroup.path if self._cgroup is not None else None)
            cmd = [bwrap_binary() or "bwrap", *args, "--", sys.executable, "-I", "-c", _boot(SANDBOX_WORKER, fd), json.dumps(config)]
            env = worker_env(Path(SANDBOX_WORKDIR), extra={"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"})
            cwd = stage / "home"
        else:
            cmd = [sys.executable, "-I", "-c", _boot(str(stage / "worker"), fd), json.dumps(config)]
            env = worker_env(Path(inner_workdir))
            cwd = stage / "home"
        env["GRADERS_TORCH_THREADS"] = str(self.torch_threads)
        preexec = isolate.preexec(cgroup_procs=zygote_cg.procs_file if zygote_cg is not None else None)
        r, w = os.pipe()

        # bwrap --die-with-parent (and the zygote's own parent-death signal) fire when the *thread* that
        # started it ends: start it from a thread that lives as long as this launcher
        started: dict[str, Any] = {}
        ready = threading.Event()
        stop = threading.Event()

        def keeper() -> None:
            try:
                started["proc"] = subprocess.Popen(cmd, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=w,
                                                   stderr=w, pass_fds=(fd,), preexec_fn=preexec, close_fds=True)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                started["error"] = exc
            ready.set()
            stop.wait()

        self._stop = stop
        threading.Thread(target=keeper, name="graders-zygote-keeper", daemon=True).start()
        ready.wait()
        os.close(w)
        zygote_end.close()
        if "error" in started:
            os.close(r)
            raise started["error"]
        self._proc = started["proc"]
        self._log = OutputDrain(r, 256 * 1024)
        self._log.start()
        self._ctl = judge_end
        self._replies, self._exits, self._live = [], {}, set()
        self._reader = threading.Thread(target=self._read_loop, args=(judge_end,), name="graders-zygote-reader", daemon=True)
        self._reader.start()
        hello = self._wait_reply(timeout=180, what="starting the zygote")
        if not hello.get("ready"):
            raise ZygoteUnavailable(f"the zygote did not start: {hello.get('error') or self.log()[-800:]}")
        self.hello = hello
        if hello.get("isolation") != "namespaces":
            problem = hello.get("problem")
            self._close_locked()
            raise ZygoteUnavailable(f"the zygote cannot give each submission its own namespaces here ({problem})")

    def log(self) -> str:
        return self._log.text() if self._log else ""

    def close(self) -> None:
        with self._lock:
            self._close_locked()
            if self._sockdir is not None:
                shutil.rmtree(self._sockdir, ignore_errors=True)

    def _close_locked(self) -> None:
        if self._ctl is not None:
            try:
                self._ctl.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self._proc.kill()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
            self._proc = None
        if self._cgroup is not None:
            destroy_cgroup_tree(self._cgroup)
            self._cgroup = None
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        if self._log is not None:
            self._log.join(timeout=2)
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None
        self._cond.notify_all()

    def __enter__(self) -> ZygoteLauncher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            if self._proc is not None:
                self._proc.kill()
        except Exception:  # noqa: BLE001
            pass

    def __getstate__(self) -> dict[str, Any]:
        # a launcher crosses to another process (a pool, Dask) as its settings; it starts its own zygote there
        return {"mode": self.mode, "require_sandbox": self.require_sandbox, "preload": self.preload,
                "torch_threads": self.torch_threads, "warm_training": self.warm_training, "connect": self.address,
                "hide": self.hide}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(sandbox=state["mode"], require_sandbox=state["require_sandbox"],  # type: ignore[misc]
                      preload=state["preload"], torch_threads=state["torch_threads"], warn=False,
                      warm_training=state["warm_training"], connect=state["connect"], hide=state.get("hide"))

    # ---------------------------------------------------------------- control channel
    def _read_loop(self, ctl: socket.socket) -> None:
        while True:
            try:
                data = ctl.recv(1 << 20)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    if self._ctl is ctl:
                        self._broken = True
                        self._replies.append({"ok": False, "ready": False, "error": "the zygote ended: " + self.log()[-600:]})
                    for pid in list(self._live):
                        self._exits.setdefault(pid, signal.SIGKILL)
                    self._live.clear()
                    self._cond.notify_all()
                    return
                try:
                    msg = json.loads(data)
                except ValueError:
                    continue
                if "exit" in msg:
                    pid = int(msg["exit"])
                    self._exits[pid] = int(msg["status"])
                    self._live.discard(pid)
                else:
                    if msg.get("ok") and "init" in msg:  # before its exit can arrive
                        self._live.add(int(msg["pid"]))
                    self._replies.append(msg)
                self._cond.notify_all()

    def _wait_reply(self, *, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ZygoteUnavailable(f"the zygote did not answer ({what}) within {timeout:g} s")
                self._cond.wait(min(left, 1.0))
            return self._replies.pop(0)

    def ping(self, timeout: float = 30.0) -> dict[str, Any]:
        """The zygote's state: children alive, warm-up steps done (name -> seconds) and still to do."""
        with self._lock:
            if not self._alive_locked():
                self._close_locked()
                self._start_locked()
            assert self._ctl is not None
            self._ctl.send(json.dumps({"op": "ping"}).encode())
            return self._wait_reply(timeout=timeout, what="ping")

    def child_alive(self, pid: int) -> bool:
        with self._lock:
            return pid in self._live

    def exit_status(self, pid: int, *, wait: float = 0.0) -> int | None:
        deadline = time.monotonic() + wait
        with self._cond:
            while pid in self._live and time.monotonic() < deadline:
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            return self._exits.get(pid)

    def kill_child(self, pid: int) -> None:
        with self._lock:
            if pid in self._live and self._ctl is not None:
                try:
                    self._ctl.send(json.dumps({"op": "kill", "pid": pid}).encode())
                except OSError:
                    pass

    def wait_child(self, pid: int, *, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while pid in self._live:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
            if pid in self._live:  # the zygote did not manage: restart it (kills everything it forked)
                self._close_locked()
                return None
            return self._exits.pop(pid, None)

    # ---------------------------------------------------------------- Launcher
    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess:
        inner = SANDBOX_WORKDIR if self.name == "bubblewrap" else "/tmp/submission"
        env = worker_env(Path(inner))
        if self.name == "bubblewrap":
            env["PATH"] = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
        env["GRADERS_TORCH_THREADS"] = str(self.torch_threads)
        req = {"op": "spawn", "workdir": inner, "env": env, "files": bool(files),
               "tmp_bytes": max(16 * 1024**2, min(limits.file_bytes, 1024**3)), "limits": rlimit_values(limits)}
        judge_end, worker_end = socket.socketpair()
        r, w = os.pipe()
        with self._lock:
            if not self._alive_locked():
                self._close_locked()
                self._start_locked()
            try:
                assert self._ctl is not None
                socket.send_fds(self._ctl, [json.dumps(req).encode()], [worker_end.fileno(), w])
                reply = self._wait_reply(timeout=60, what="forking a worker")
            finally:
                worker_end.close()
                os.close(w)
        drain = OutputDrain(r, limits.output_bytes)
        drain.start()
        if not reply.get("ok"):
            judge_end.close()
            drain.join(timeout=2)
            raise WorkerError(f"the zygote could not fork a worker: {reply.get('error')} {drain.text()[-500:]}".strip())
        self.spawned += 1
        proc = ZygoteWorker(sock=judge_end, pid=int(reply["pid"]), sandbox=self.name, _drain=drain, _zygote=self)
        if files:
            blob = bytearray()
            index = {}
            for rel, data in files.items():
                index[rel] = (len(blob), len(blob) + len(data))
                blob += data
            try:
                send_frame(judge_end, {"files": index}, bytes(blob))
            except OSError:
                pass
        return proc


def _dead(pid_text: str) -> bool:
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    return pid != os.getpid() and not Path(f"/proc/{pid}").exists()


def _sweep_stale() -> None:
    """What judges killed before they could clean up left behind: staging and socket folders, and
    pids cgroups (with whatever still runs in them) of processes that no longer exist."""
    tmp = Path(tempfile.gettempdir())
    for pattern in ("graders-zygote-*-*", "graders-zsock-*-*"):
        for d in tmp.glob(pattern):
            if _dead(d.name.split("-")[2]):
                shutil.rmtree(d, ignore_errors=True)
    sweep_dead_trees(_dead)


def _boot(worker_dir: str, fd: int) -> str:
    """The zygote's boot line (`graders_zygote` in it names the process for benchmarks/scale.py)."""
    return (f"import sys; sys.path.insert(0, {worker_dir!r}); from graders_worker import zygote as graders_zygote; "
            f"raise SystemExit(graders_zygote.server_main([{str(fd)!r}, sys.argv[1]]))")
