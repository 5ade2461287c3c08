"""The zygote: a fork server that has imported torch once and forks a fresh, sandboxed worker per submission.

Starting Python and importing torch costs ~2.2 s; forking a process that already did costs ~10 ms.
Like Chromium's zygote, one long-lived process imports torch, NumPy, IPython, safetensors and what
the assignment's notebooks import, with one torch thread and no other thread, and never runs student
code itself. For each submission it forks three times:

    judge ──ctl socket──▶ zygote (in one bubblewrap sandbox: the view of graders/sandbox/bwrap.py)
                            └─ A: setsid; unshare(mount, PID, network, IPC, UTS); every inherited mount
                                  read-only; fresh tmpfs on /tmp, /submission, /dev/shm; loopback up
                                  └─ B: PID 1 of the new namespace (as bwrap's init): its own /proc with
                                        /proc/sys read-only; reaps orphans; ends when C ends
                                        └─ C: the worker: rlimits, the scrubbed environment, no capability
                                              (bounding set, effective, permitted, ambient all empty;
                                              root-without-powers securebits), no_new_privs, then
                                              graders/worker/serve.py's main(), unchanged

So nothing of one submission survives into the next: C is a fresh copy of the pristine zygote; /tmp,
the work directory and /dev/shm are new empty tmpfs mounts that vanish with the mount namespace;
everything else it sees is read-only; killing B (which the judge asks of the zygote) makes the kernel
end every process of the namespace, detached ones included. A waits for B and exits as B did; B exits
as C did (128 + N for a signal). The zygote is not dumpable (no ptrace of it), reaps its children and
reports each exit to the judge that asked for it.

`ZygoteLauncher` is a `Launcher` (graders/sandbox/launch.py), so `WorkerSession` uses it unchanged.
Where per-child namespaces cannot be made, `start()` raises `ZygoteUnavailable` and the caller uses
the ordinary launcher (graders/autograde.py does that). One zygote can serve several judge processes
(`listen=True` / `connect=`): `graders autograde --workers N` shares one.

This file is also copied into the sandbox as the module `graders_zygote` (next to `graders_worker`):
the server half below imports only the standard library and the worker package.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

# modules every worker needs; an assignment adds what its notebook imports (see notebook_imports)
BASE_PRELOAD = ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils.data", "numpy",
                "safetensors.torch", "IPython.core.interactiveshell", "matplotlib")

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 4, 24, 28
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECBIT_NOROOT_ALL = 0x0F  # NOROOT, NOROOT_LOCKED, NO_SETUID_FIXUP, NO_SETUID_FIXUP_LOCKED
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine, 126)

_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _prctl(option: int, arg: int = 0) -> int:
    return int(_c().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_c().mount(source.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                      data.encode() if data else None), f"mount {fstype or source} on {target}")


# =========================================================================== server (in the sandbox)
def _set_rlimits(lim: dict[str, int]) -> None:
    import resource

    def one(res: int, value: int) -> None:
        try:
            _soft, hard = resource.getrlimit(res)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass

    one(resource.RLIMIT_DATA, lim["memory_bytes"])
    one(resource.RLIMIT_CPU, lim["cpu_seconds"])
    one(resource.RLIMIT_FSIZE, lim["file_bytes"])
    one(resource.RLIMIT_NOFILE, lim["open_files"])
    one(resource.RLIMIT_CORE, 0)
    if os.geteuid() != 0:
        one(resource.RLIMIT_NPROC, lim["processes"])


def _mounts() -> list[tuple[str, set[str], str]]:
    """(mount point, per-mount options, fs type) of every mount this process sees."""
    out = []
    for line in open("/proc/self/mountinfo").read().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        point = fields[4].encode().decode("unicode_escape")  # octal escapes such as \040
        out.append((point, set(fields[5].split(",")), right.split()[0] if right else ""))
    return out


_FLAG_OF = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
            "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}


def _remount_readonly(point: str, opts: set[str]) -> None:
    flags = 0
    for o in opts:
        flags |= _FLAG_OF.get(o, 0)
    _mount("none", point, None, MS_REMOUNT | MS_BIND | flags | MS_RDONLY)


def _loopback_up() -> None:
    import fcntl

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14s", b"lo", 0x1 | 0x8 | 0x40, b"")  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(s.fileno(), 0x8914, ifr)  # SIOCSIFFLAGS
    except OSError:
        pass
    finally:
        s.close()


def _isolate(workdir: str, tmp_bytes: int, hide: list[str] | tuple[str, ...] = (), shm_bytes: int = 0) -> None:
    """In child A: new namespaces; every mount it inherits read-only; fresh tmpfs where a worker writes;
    `hide` (the zygote's own socket folder) covered by an empty read-only tmpfs."""
    _check(_c().unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    for point, opts, fstype in _mounts():
        if "ro" in opts or fstype == "proc" or point == "/proc" or point.startswith("/proc/"):
            continue  # proc: B mounts its own
        try:
            _remount_readonly(point, opts)
        except OSError:
            # kernel filesystems that refuse it hold no files a submission could leave behind
            if fstype not in ("sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue", "securityfs", "debugfs",
                              "tracefs", "bpf", "pstore", "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "autofs"):
                raise
    opts = f"size={tmp_bytes},mode=1777"
    # a checkout (and its .venv) may live under /tmp: keep the Python the worker imports from
    # visible through the fresh /tmp (bound back read-only from a handle opened before it is covered)
    import sys

    roots = sorted({p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
                    if p.startswith("/tmp/") and os.path.isdir(p)}, key=len)
    roots = [p for i, p in enumerate(roots) if not any(p.startswith(q + "/") for q in roots[:i])]
    keep = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in roots]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for path, fd in keep:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    for shared in ("/dev/shm", "/var/tmp", "/run/lock"):
        if os.path.isdir(shared) and not os.path.islink(shared):
            size = shm_bytes if shared == "/dev/shm" and shm_bytes else tmp_bytes
            _mount("tmpfs", shared, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for path in hide:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=0555")
    if workdir.startswith("/tmp/"):
        os.makedirs(workdir, mode=0o700, exist_ok=True)
    else:
        _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=0700")
    try:
        socket.sethostname("sandbox")
    except OSError:
        pass
    _loopback_up()


def _own_cgroup(base: str | None, max_processes: int) -> None:
    """In child A, first: a pids cgroup of its own under the zygote's (every later fork lands in it)."""
    if not base:
        return
    d = os.path.join(base, f"w{os.getpid()}")
    try:
        os.mkdir(d)
        with open(os.path.join(d, "pids.max"), "w") as f:
            f.write(str(max_processes))
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        pass  # best effort: the zygote's own cgroup still bounds the total


def _own_proc() -> None:
    """In child B (PID 1 of the new namespace): its own /proc, with the kernel's knobs read-only."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for sub in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"):
        if os.path.exists(sub):
            _mount(sub, sub, None, MS_BIND | MS_REC)
            _mount("none", sub, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _drop_privileges() -> None:
    """In child B, last thing before student code: no capabilities now or after any exec, no new privileges.

    B keeps the uid of the zygote (as the bubblewrap launcher's worker keeps root's on the host) but
    holds no capability: it cannot mount, unmount, trace or change any namespace, and everything it
    can write is its own fresh tmpfs."""
    for cap in range(64):
        if _prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if os.geteuid() == 0:  # root without root's powers, even through exec of a setuid program
        _check(_prctl(PR_SET_SECUREBITS, SECBIT_NOROOT_ALL), "securebits")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    _check(_c().syscall(SYS_CAPSET, header, data), "capset")
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")


def _load_seccomp(program: bytes) -> None:
    """In child C, after no_new_privs: the bubblewrap launcher's classic-BPF filter (graders/sandbox/bwrap.py)."""

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    ret = _c().prctl(22, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0))  # PR_SET_SECCOMP, FILTER
    _check(ret, "seccomp")


def _close_fds_except(keep: set[int]) -> None:
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _recv_files(fd: int, workdir: str) -> None:
    """The judge sends a submission's extra files as one frame on the worker socket before anything else."""
    from graders_worker.codec import recv_frame

    sock = socket.socket(fileno=os.dup(fd))
    try:
        header, blob = recv_frame(sock)
    finally:
        sock.detach()
    base = os.path.realpath(workdir)
    for rel, (start, end) in header.get("files", {}).items():
        target = os.path.realpath(os.path.join(workdir, rel))
        if not target.startswith(base + os.sep):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(blob[start:end])


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
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _prctl(PR_SET_DUMPABLE, 0)  # children cannot ptrace or read the memory of the zygote
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
        from graders_worker import serve

        loaded["warm-up"] = round(time.monotonic() - t, 3)
        t = time.monotonic()

        self.serve = serve
        try:
            serve._make_shell()  # the IPython shell (a singleton): made once here, copied into every child
        except Exception:  # noqa: BLE001 - the worker makes its own then
            pass
        loaded["shell"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        problem = self._probe()
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

    def _probe(self) -> str | None:
        """Try the whole isolation sequence once in a throw-away child."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                _isolate(self.config["workdir"], 1 << 20, self.config.get("hide", ()))
                b = os.fork()
                if b == 0:
                    try:
                        _own_proc()
                        _drop_privileges()
                        if self.config.get("seccomp"):
                            _load_seccomp(bytes.fromhex(self.config["seccomp"]))
                        with open(os.path.join(self.config["workdir"], "probe"), "w") as f:
                            f.write("ok")
                        try:
                            open("/probe", "w")
                        except OSError:
                            pass
                        else:
                            raise OSError("the root folder stayed writable")
                        os._exit(0)
                    except BaseException as exc:  # noqa: BLE001
                        os.write(w, f"{exc}".encode()[:500])
                        os._exit(1)
                _, st = os.waitpid(b, 0)
                code = 0 if os.waitstatus_to_exitcode(st) == 0 else 1
            except BaseException as exc:  # noqa: BLE001
                os.write(w, f"{exc}".encode()[:500])
            finally:
                os._exit(code)
        os.close(w)
        _, st = os.waitpid(pid, 0)
        msg = b""
        while chunk := os.read(r, 4096):
            msg += chunk
        os.close(r)
        if os.waitstatus_to_exitcode(st) == 0:
            return None
        return msg.decode("utf-8", "replace") or f"the trial child ended with status {st}"

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
                code = self.child_a(req, wfd, ofd, wp)
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

    def child_a(self, req: dict[str, Any], wfd: int, ofd: int, wp: int) -> int:
        """A: outside the new PID namespace; makes the namespaces, forks their init B, waits for it."""
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.pid:
            return 70
        _close_fds_except({wfd, ofd, wp})
        _own_cgroup(self.config.get("cgroup"), int(req["limits"]["processes"]))
        isolated = self.isolation == "namespaces"
        if isolated:
            _isolate(req["workdir"], int(req["tmp_bytes"]), self.config.get("hide", ()), int(self.config.get("shm_bytes", 0)))
        b = os.fork()
        if b == 0:
            code = 70
            try:
                os.close(wp)
                code = self.init_b(req, wfd, ofd, isolated)
            except BaseException:  # noqa: BLE001
                _report(ofd, "the worker's namespace could not be set up")
            finally:
                os._exit(code)
        os.write(wp, f"{b}\n".encode())
        os.close(wp)
        os.close(wfd)
        os.close(ofd)
        return _mirror(_wait_for(b))

    def init_b(self, req: dict[str, Any], wfd: int, ofd: int, isolated: bool) -> int:
        """B: PID 1 of the new namespace (as bubblewrap's init): its own /proc, forks the worker C and
        reaps every orphan; when C ends, B ends, and the kernel ends whatever is left in the namespace."""
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if isolated:
            _own_proc()
        c = os.fork()
        if c == 0:
            code = 70
            try:
                code = self.child_b(req, wfd, ofd, isolated)
            except BaseException:  # noqa: BLE001
                _report(2, "the worker failed")
            finally:
                os._exit(code)
        os.close(wfd)
        os.close(ofd)
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except InterruptedError:
                continue
            except ChildProcessError:
                return 70
            if pid == c:
                return _mirror(status)

    def child_b(self, req: dict[str, Any], wfd: int, ofd: int, isolated: bool) -> int:
        """C: the worker (graders/worker/serve.py), with no privileges left."""
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(ofd, 1)
        os.dup2(ofd, 2)
        os.close(ofd)
        workdir = req["workdir"]
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update(req["env"])
        _set_rlimits(req["limits"])
        if isolated:
            _drop_privileges()
        if self.config.get("seccomp"):
            _load_seccomp(bytes.fromhex(self.config["seccomp"]))
        _close_fds_except({wfd})
        if req.get("files"):
            _recv_files(wfd, workdir)
        sys.argv = ["graders-worker"]
        sys.path[:] = [p for p in sys.path if p]
        code = self.serve.main([str(wfd)])
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        return int(code or 0)


def _report(fd: int, what: str) -> None:
    try:
        os.write(fd, (f"graders zygote: {what}:\n" + traceback.format_exc()).encode())
    except OSError:
        pass


def _wait_for(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _mirror(status: int) -> int:
    """End the way the child ended (same signal, same exit code), so the judge can say why."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL, SIGSTOP: always the default
            pass
        os.kill(os.getpid(), sig)  # PID 1 ignores this one from inside: fall through to the exit code
        return 128 + sig
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70


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


# =========================================================================== judge side
try:  # the judge's half needs the graders package; the staged copy in the sandbox does not have it
    from .launch import WorkerProcess, _OutputDrain, _stage_worker_package, worker_env
    from .limits import Limits
except ImportError:  # pragma: no cover - running as graders_zygote inside the sandbox
    WorkerProcess = object  # type: ignore[misc,assignment]

if WorkerProcess is not object:
    import shutil
    import subprocess
    import tempfile
    import threading
    import warnings
    from dataclasses import asdict, dataclass, field
    from pathlib import Path

    from ..errors import SandboxUnavailable

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
            # asked when the connection broke: the exit is on its way through A and B, give it a moment
            st = self._status[0] if self._status else (self._zygote.exit_status(self.pid, wait=2.0) if self._zygote else None)
            if st is None:
                return "the worker stopped answering"
            sig = os.WTERMSIG(st) if os.WIFSIGNALED(st) else 0
            if os.WIFEXITED(st) and 128 < os.WEXITSTATUS(st) <= 128 + 64:
                sig = os.WEXITSTATUS(st) - 128  # the namespace's init exits with 128 + N when the worker died of signal N
            if sig:
                try:
                    name = signal.Signals(sig).name
                except ValueError:
                    name = f"signal {sig}"
                why = {"SIGKILL": "killed (often: the memory limit was reached)", "SIGXCPU": "CPU time limit reached",
                       "SIGSEGV": "crashed (segmentation fault)", "SIGXFSZ": "file size limit reached"}.get(name, f"killed by {name}")
                return f"the worker process was {why}"
            rc = os.WEXITSTATUS(st) if os.WIFEXITED(st) else st
            return f"the worker process exited with code {rc} (the notebook ended its own Python process)"

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
                     connect: str | None = None) -> None:
            mode = sandbox if sandbox is not None else (os.environ.get("GRADERS_SANDBOX", "").strip().lower() or "auto")
            if mode not in ("auto", "bubblewrap", "none"):
                from ..errors import GradersError

                raise GradersError(f"unknown sandbox {mode!r} (GRADERS_SANDBOX or --sandbox); use auto, bubblewrap or none")
            self.mode, self.require_sandbox, self.warn = mode, require_sandbox, warn
            self.preload = tuple(dict.fromkeys([*BASE_PRELOAD, *preload]))
            self.torch_threads = torch_threads
            self.warm_training = warm_training
            self.connect = connect
            self.name = "bubblewrap" if self._use_bwrap(check_only=True) else "none"
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
            self._log: _OutputDrain | None = None
            self._stop: threading.Event | None = None
            self.hello: dict[str, Any] = {}
            self.spawned = 0

        # ---------------------------------------------------------------- mode
        def _use_bwrap(self, *, check_only: bool = False) -> bool:
            if self.mode == "none":
                if self.require_sandbox:
                    raise SandboxUnavailable("a sandbox is required (--require-sandbox), but GRADERS_SANDBOX=none turns it off")
                if check_only and self.warn:
                    warnings.warn("grading WITHOUT a sandbox (GRADERS_SANDBOX=none): student code runs in forked processes with "
                                  "their own namespaces but sees the host's files", RuntimeWarning, stacklevel=3)
                return False
            try:
                from .bwrap import bwrap_problem

                problem = bwrap_problem()
            except ImportError as exc:  # pragma: no cover
                problem = f"bubblewrap support cannot be loaded ({exc})"
            if problem is None:
                return True
            if self.require_sandbox or self.mode == "bubblewrap":
                raise SandboxUnavailable(f"cannot sandbox student code: {problem}; install bubblewrap or drop --require-sandbox")
            if check_only and self.warn:
                warnings.warn(f"grading WITHOUT a sandbox ({problem}): student code runs in forked processes with their own "
                              "namespaces but sees the host's files; results say \"sandbox\": \"none\"", RuntimeWarning, stacklevel=3)
            return False

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
            _stage_worker_package(stage / "worker")
            (stage / "worker" / "graders_zygote.py").write_bytes(Path(__file__).read_bytes())
            (stage / "home").mkdir()
            judge_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            fd = zygote_end.fileno()
            in_bwrap = self.name == "bubblewrap"
            inner_workdir = SANDBOX_WORKDIR if in_bwrap else "/tmp/submission"
            config: dict[str, Any] = {"preload": list(self.preload), "torch_threads": self.torch_threads, "workdir": inner_workdir,
                                      "warm_training": self.warm_training}
            try:  # the bubblewrap launcher's seccomp filter and /dev/shm size, for the same limits
                from . import bwrap as _bw

                program = _bw.seccomp_program()
                if program:
                    config["seccomp"] = program.hex()
                config["shm_bytes"] = int(getattr(_bw, "SHM_BYTES", 0))
            except Exception:  # noqa: BLE001 - without it, the worker has the rest of its sandbox
                pass
            if self._sockdir is not None:
                inner_sockdir = "/tmp/.graders-zygote" if in_bwrap else str(self._sockdir)
                config["listen"] = f"{inner_sockdir}/zygote.sock"
                config["hide"] = [inner_sockdir]
            # a pids cgroup for the zygote and, inside it, one per worker (made by A): a fork bomb in one
            # submission exhausts its own limit, not what the zygote needs to serve the others
            self._cgroup, zygote_cg = _cgroup_tree(Limits().processes * 4 + 16)
            if self._cgroup is not None:
                config["cgroup"] = "/tmp/.graders-cgroup" if in_bwrap else str(self._cgroup.path)
                config.setdefault("hide", []).append(config["cgroup"])
            if in_bwrap:
                from . import bwrap

                worker_dir = "/opt/graders-worker"
                ns = self._bwrap_namespaces()
                args = bwrap.sandbox_args(workdir=stage / "home", stage=stage, limits=Limits(), namespaces=ns)
                args = _without_cap_drop(args)
                if os.geteuid() != 0:
                    args = ["--cap-add", "ALL", *args]
                if "--unshare-all" not in ns:
                    args += ["--hostname", "sandbox"]
                if self._sockdir is not None:
                    args += ["--bind", str(self._sockdir), "/tmp/.graders-zygote"]
                if self._cgroup is not None:
                    args += ["--bind", str(self._cgroup.path), "/tmp/.graders-cgroup"]
                boot = (f"import sys; sys.path.insert(0, {worker_dir!r}); import graders_zygote; "
                        f"raise SystemExit(graders_zygote.server_main([{str(fd)!r}, sys.argv[1]]))")
                cmd = [bwrap.bwrap_binary() or "bwrap", *args, "--", sys.executable, "-I", "-c", boot, json.dumps(config)]
                env = worker_env(Path(SANDBOX_WORKDIR), extra={"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"})
                cwd = stage / "home"
            else:
                worker_dir = str(stage / "worker")
                boot = (f"import sys; sys.path.insert(0, {worker_dir!r}); import graders_zygote; "
                        f"raise SystemExit(graders_zygote.server_main([{str(fd)!r}, sys.argv[1]]))")
                cmd = [sys.executable, "-I", "-c", boot, json.dumps(config)]
                env = worker_env(Path(inner_workdir))
                cwd = stage / "home"
            env["GRADERS_TORCH_THREADS"] = str(self.torch_threads)
            cgroup = zygote_cg
            r, w = os.pipe()

            def preexec() -> None:
                os.setsid()
                if cgroup is not None:
                    cgroup.enter()

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
            self._log = _OutputDrain(r, 256 * 1024)
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

        @staticmethod
        def _bwrap_namespaces() -> tuple[str, ...]:
            # the zygote keeps the capabilities it needs to make per-child namespaces: as root it uses no user
            # namespace (children then run as uid 65534 without capabilities), otherwise uid 0 of its own
            if os.geteuid() == 0:
                return ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
            return ("--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0")

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
                _destroy_cgroup_tree(self._cgroup)
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
                    "torch_threads": self.torch_threads, "warm_training": self.warm_training, "connect": self.address}

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.__init__(sandbox=state["mode"], require_sandbox=state["require_sandbox"],  # type: ignore[misc]
                          preload=state["preload"], torch_threads=state["torch_threads"], warn=False,
                          warm_training=state["warm_training"], connect=state["connect"])

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
            from ..worker.codec import send_frame

            inner = SANDBOX_WORKDIR if self.name == "bubblewrap" else "/tmp/submission"
            env = worker_env(Path(inner))
            if self.name == "bubblewrap":
                env["PATH"] = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
            env["GRADERS_TORCH_THREADS"] = str(self.torch_threads)
            lim = asdict(limits)
            req = {"op": "spawn", "workdir": inner, "env": env, "files": bool(files),
                   "tmp_bytes": max(16 * 1024**2, min(limits.file_bytes, 1024**3)),
                   "limits": {k: int(lim[k]) for k in ("memory_bytes", "cpu_seconds", "file_bytes", "open_files", "processes")}}
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
            drain = _OutputDrain(r, limits.output_bytes)
            drain.start()
            if not reply.get("ok"):
                judge_end.close()
                drain.join(timeout=2)
                from ..errors import WorkerError

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
        from .launch import PidsCgroup, _find_pids_cgroup

        found = _find_pids_cgroup()
        if not found:
            return
        parent, v2 = found
        try:
            tops = [d for d in parent.glob("graders-*-*") if d.is_dir() and _dead(d.name.split("-")[1])]
        except OSError:
            return
        for d in tops:
            _destroy_cgroup_tree(PidsCgroup(d, v2))

    def _cgroup_tree(max_processes: int) -> tuple[Any, Any]:
        """(the zygote's pids cgroup, the leaf the zygote itself runs in), or (None, None) where there is none.
        With cgroup v2 the zygote must sit in a leaf of its own beside the workers' cgroups."""
        from .launch import PidsCgroup

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
            _destroy_cgroup_tree(top)
            return None, None

    def _destroy_cgroup_tree(top: Any) -> None:
        from .launch import PidsCgroup

        subs = [d for d in top.path.iterdir() if d.is_dir()] if top.path.is_dir() else []
        for d in subs:
            sub = PidsCgroup(d, top.v2)
            sub.kill_all()
            sub.destroy()
        top.kill_all()
        top.destroy()

    def _without_cap_drop(args: list[str]) -> list[str]:
        out: list[str] = []
        skip = False
        for i, a in enumerate(args):
            if skip:
                skip = False
                continue
            if a == "--cap-drop" and i + 1 < len(args) and args[i + 1] == "ALL":
                skip = True
                continue
            out.append(a)
        return out

    def notebook_imports(path: Path) -> list[str]:
        """Modules a notebook imports at the top level of its cells (to preload them in the zygote)."""
        import ast

        from ..notebook import read_notebook

        try:
            nb = read_notebook(path)
        except Exception:  # noqa: BLE001
            return []
        found: list[str] = []
        for _i, src in nb.code_to_run():
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    found += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.append(node.module)
        return [m for m in dict.fromkeys(found) if m.split(".")[0] not in ("otter", "graders", "os", "sys")]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(server_main(sys.argv[1:]))
