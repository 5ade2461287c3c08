"""The zygote: a fork server that has imported torch once and forks a fresh, sandboxed worker per submission.

Starting Python and importing torch costs ~2.2 s; forking a process that already did costs ~10 ms.
Like Chromium's zygote, one long-lived process imports torch, NumPy, IPython, safetensors and what
the assignment's notebooks import, with one torch thread and no other thread, and never runs student
code itself. It runs inside one bubblewrap sandbox (the view of graders/sandbox/bwrap.py), started
and spoken to by the judge's `ZygoteLauncher` (graders/sandbox/zygote.py). For each submission it
forks three times (``children.py``):

    judge ──ctl socket──▶ zygote
                            └─ A: setsid; unshare(mount, PID, network, IPC, UTS); every inherited mount
                                  read-only; fresh tmpfs on /tmp, /submission, /dev/shm; loopback up
                                  └─ B: PID 1 of the new namespace (as bwrap's init): its own /proc with
                                        /proc/sys read-only; reaps orphans; ends when C ends
                                        └─ C: the worker: rlimits, the scrubbed environment, no capability,
                                              no_new_privs, then serve.py's main(), unchanged

So nothing of one submission survives into the next: C is a fresh copy of the pristine zygote; /tmp,
the work directory and /dev/shm are new empty tmpfs mounts that vanish with the mount namespace;
everything else it sees is read-only; killing B (which the judge asks of the zygote) makes the kernel
end every process of the namespace, detached ones included. The zygote is not dumpable (no ptrace of
it), reaps its children and reports each exit to the judge that asked for it.

Protocol (JSON datagrams on a SOCK_SEQPACKET socket): the zygote says hello (`ready`, `isolation`,
`problem`, `preloaded`); then `{"op": "spawn", ...}` with the worker's socket and output pipe as
passed fds, `{"op": "kill", "pid": A}`, `{"op": "ping"}`; it notifies `{"exit": A, "status": S}`.

Staged into the sandbox with the rest of this package (as `graders_worker.zygote`): the standard
library and this package only.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from typing import Any

from . import children, isolate


class _Server:
    """One owner connection (the process that started the zygote: it ends when that one closes) and,
    when `listen` is configured, more judges connecting to a socket path; each gets its own replies and
    the exits of its own children."""

    def __init__(self, ctl: socket.socket, config: dict[str, Any]) -> None:
        self.ctl = ctl
        self.config = config
        self.pid = os.getpid()
        self.children: dict[int, int] = {}  # A -> B
        self.owner_of: dict[int, socket.socket] = {}  # A -> the connection that asked for it
        self.clients: list[socket.socket] = [ctl]
        self.listener: socket.socket | None = None
        self.hello: dict[str, Any] = {}
        self.late: list[tuple[str, Any]] = []  # warm-up steps done when idle, after the hello
        self.stale_cgroups: list[str] = []  # cgroups of ended workers, removed when empty
        self.loaded: dict[str, float] = {}
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        self.isolation = "none"

    # ------------------------------------------------------------------ boot
    def boot(self) -> dict[str, Any]:
        started = time.monotonic()
        isolate.prctl(isolate.PR_SET_PDEATHSIG, signal.SIGKILL)
        isolate.prctl(isolate.PR_SET_DUMPABLE, 0)  # children cannot ptrace or read the memory of the zygote
        import torch

        torch.set_num_threads(int(self.config.get("torch_threads", 1)))
        loaded: dict[str, float] = {"torch": round(time.monotonic() - started, 3)}
        for name in self.config.get("preload", []):
            t = time.monotonic()
            try:
                __import__(name)
            except BaseException:  # noqa: BLE001 - a module that cannot load is simply not preloaded
                continue
            loaded[name] = round(time.monotonic() - t, 3)
        try:  # make matplotlib non-interactive before anything imports pyplot
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            pass
        t = time.monotonic()
        self._warm_up(torch)
        from . import serve

        loaded["warm-up"] = round(time.monotonic() - t, 3)
        t = time.monotonic()

        self.serve = serve
        try:
            serve.make_shell()  # the IPython shell (a singleton): made once here, copied into every child
        except Exception:  # noqa: BLE001 - the worker makes its own then
            pass
        loaded["shell"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        problem = children.probe(self.config)
        self.isolation = "namespaces" if problem is None else "none"
        loaded["probe"] = round(time.monotonic() - t, 3)
        self.loaded = loaded
        if self.config.get("warm_training", True):
            self.late.append(("training", lambda: self._warm_up_training(torch)))
        return {"ready": True, "pid": self.pid, "isolation": self.isolation, "problem": problem, "preloaded": loaded,
                "threads": len(os.listdir("/proc/self/task")), "boot_s": round(time.monotonic() - started, 3)}

    @staticmethod
    def _warm_up(torch: Any) -> None:
        """Run the lazy initialisations once here instead of in every child (no threads are started)."""
        x = torch.randn(8, 4, requires_grad=True)
        lin = torch.nn.Linear(4, 2)
        loss = torch.nn.functional.mse_loss(lin(x), torch.zeros(8, 2))
        loss.backward()
        with torch.no_grad():
            (x @ x.T).sum()
        # the meta device's first use imports torch._meta_registrations and sympy (~0.3 s)
        torch.matmul(torch.empty((3, 4), device="meta"), torch.empty((4, 5), device="meta"))

    @staticmethod
    def _warm_up_training(torch: Any) -> None:
        """The first optimizer, like many meta-device and decomposed ops, imports torch._dynamo (~1-2 s):
        done once here, after the zygote said it is ready, whenever it has nothing else to do, so the
        first workers need not wait for it (a worker forked before pays it only if it needs it)."""
        import torch._dynamo  # noqa: F401

        lin = torch.nn.Linear(4, 2)
        opt = torch.optim.SGD(lin.parameters(), lr=0.1)
        lin(torch.ones(1, 4)).sum().backward()
        opt.step()
        opt.zero_grad()
        torch.matmul(torch.empty(4, device="meta"), torch.empty(4, device="meta"))

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.hello = self.boot()
        listen = self.config.get("listen")
        if listen and self.isolation == "namespaces":
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(listen)
            self.listener.bind(listen)
            self.listener.listen(16)
        self.send(self.ctl, self.hello)
        while True:
            self.reap()
            watch = [*self.clients, self.wake_r] + ([self.listener] if self.listener is not None else [])
            try:
                ready, _, _ = select.select(watch, [], [], 0.0 if self.late else 5.0)
            except InterruptedError:
                continue
            if not ready and self.late:
                name, step = self.late.pop(0)
                t = time.monotonic()
                try:
                    step()
                except Exception:  # noqa: BLE001 - a warm-up that fails is a warm-up not done
                    pass
                self.loaded[name] = round(time.monotonic() - t, 3)
                continue
            if self.wake_r in ready:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            if self.listener is not None and self.listener in ready:
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    conn = None
                if conn is not None:
                    self.clients.append(conn)
                    self.send(conn, self.hello)
            for conn in [c for c in self.clients if c in ready]:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 4)
                except InterruptedError:
                    continue
                except OSError:
                    data, fds = b"", []
                if not data:
                    self.drop(conn)
                    if conn is self.ctl:  # the owner is gone: so is the zygote, and all it forked
                        self.shutdown()
                        return
                    continue
                try:
                    self.handle(json.loads(data), fds, conn)
                except Exception as exc:  # noqa: BLE001 - report, keep serving
                    for fd in fds:
                        _close_quietly(fd)
                    self.send(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def send(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        try:
            conn.send(json.dumps(msg).encode())
        except OSError:
            if conn is self.ctl:
                self.shutdown()
                os._exit(0)
            self.drop(conn)

    def drop(self, conn: socket.socket) -> None:
        """A judge went away: end what it forked."""
        if conn in self.clients:
            self.clients.remove(conn)
        for a, owner in list(self.owner_of.items()):
            if owner is conn:
                self.kill(a)
        with contextlib.suppress(OSError):
            conn.close()

    def kill(self, a: int) -> None:
        for p in (self.children.get(a), a):  # B first: PID 1 of its namespace, its death ends every process in it
            if p:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                del self.children[pid]
                if self.config.get("cgroup"):
                    self.stale_cgroups.append(os.path.join(self.config["cgroup"], f"w{pid}"))
                owner = self.owner_of.pop(pid, None)
                if owner is not None and owner in self.clients:
                    self.send(owner, {"exit": pid, "status": status})
        still = []
        for d in self.stale_cgroups:  # empty once every process of that worker is gone
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                still.append(d)
        self.stale_cgroups = still

    def shutdown(self) -> None:
        for a in list(self.children):
            self.kill(a)

    def handle(self, req: dict[str, Any], fds: list[int], conn: socket.socket) -> None:
        op = req.get("op")
        if op == "spawn":
            reply = self.spawn(req, fds)
            if "pid" in reply:
                self.owner_of[int(reply["pid"])] = conn
            self.send(conn, reply)
        elif op == "kill":
            a = int(req["pid"])
            if self.owner_of.get(a) is conn:
                self.kill(a)  # no reply: the exit arrives as a notification
        elif op == "ping":
            self.send(conn, {"ok": True, "pong": True, "children": len(self.children), "warmed": self.loaded,
                             "warming": [name for name, _ in self.late]})
        else:
            self.send(conn, {"ok": False, "error": f"unknown op {op!r}"})

    # ------------------------------------------------------------------ spawn
    def spawn(self, req: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        if len(fds) != 2:
            for fd in fds:
                _close_quietly(fd)
            return {"ok": False, "error": "spawn needs the worker socket and the output pipe"}
        wfd, ofd = fds
        rp, wp = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # ---------------------------------------------------------------- A
            code = 70
            try:
                os.close(rp)
                code = children.child_a(req, wfd, ofd, wp, zygote=self.pid, config=self.config,
                                        isolated=self.isolation == "namespaces", serve_main=self.serve.main)
            except BaseException:  # noqa: BLE001
                try:
                    os.write(ofd, ("graders zygote: the worker could not be set up:\n" + traceback.format_exc()).encode())
                    os.write(wp, b"E\n")
                except OSError:
                    pass
            finally:
                os._exit(code)
        os.close(wp)
        _close_quietly(wfd)
        _close_quietly(ofd)
        line = _read_line(rp, 20.0)
        os.close(rp)
        self.children[pid] = 0
        if not line or not line.isdigit():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            return {"ok": False, "error": "the worker could not be set up (see its output)", "pid": pid}
        self.children[pid] = int(line)
        return {"ok": True, "pid": pid, "init": int(line), "isolation": self.isolation}


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _read_line(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            ready, _, _ = select.select([fd], [], [], left)
        except InterruptedError:
            continue
        if not ready:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        buf += chunk
    return buf.decode("ascii", "replace").strip()


def server_main(argv: list[str]) -> int:
    """Entry point inside the sandbox: ``server_main([CTL_FD, CONFIG_JSON])``."""
    ctl = socket.socket(fileno=int(argv[0]))
    config = json.loads(argv[1])
    _Server(ctl, config).run()
    return 0



if __name__ == "__main__":  # pragma: no cover
    sys.exit(server_main(sys.argv[1:]))
