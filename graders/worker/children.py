"""The zygote's children: what runs between the zygote's fork and the worker's ``main()``.

For each submission the zygote (``zygote.py``) forks A; A makes the namespaces and forks B, their
init; B forks C, the worker:

    A: setsid; its own pids cgroup; unshare(mount, PID, network, IPC, UTS); every inherited mount
       read-only; fresh tmpfs on /tmp, the work directory, /dev/shm; loopback up; waits for B
    B: PID 1 of the new namespace (as bwrap's init): its own /proc with /proc/sys read-only; reaps
       orphans; ends when C ends
    C: the worker: the scrubbed environment, rlimits, no capability (bounding set, effective,
       permitted, ambient all empty; root-without-powers securebits), no_new_privs, the seccomp
       filter, then serve.py's main(), unchanged

A exits as B did, B as C did (128 + N for a signal). The isolation primitives are in ``isolate.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from . import isolate
from .codec import recv_frame


def probe(config: dict[str, Any]) -> str | None:
    """Try the whole isolation sequence once in a throw-away child: None when it works, else why not."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            isolate.new_namespaces(config["workdir"], 1 << 20, config.get("hide", ()))
            b = os.fork()
            if b == 0:
                try:
                    isolate.own_proc()
                    isolate.drop_privileges()
                    if config.get("seccomp"):
                        isolate.load_seccomp(bytes.fromhex(config["seccomp"]))
                    with open(os.path.join(config["workdir"], "probe"), "w") as f:
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


def child_a(req: dict[str, Any], wfd: int, ofd: int, wp: int, *, zygote: int, config: dict[str, Any], isolated: bool,
            serve_main: Callable[[list[str]], Any]) -> int:
    """A: outside the new PID namespace; makes the namespaces, forks their init B, waits for it.
    `wp`: where B's pid is written (one line) for the zygote."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    isolate.prctl(isolate.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:
        return 70
    isolate.close_fds_except({wfd, ofd, wp})
    isolate.own_cgroup(config.get("cgroup"), int(req["limits"]["processes"]))
    if isolated:
        isolate.new_namespaces(req["workdir"], int(req["tmp_bytes"]), config.get("hide", ()), int(config.get("shm_bytes", 0)))
    b = os.fork()
    if b == 0:
        code = 70
        try:
            os.close(wp)
            code = init_b(req, wfd, ofd, config=config, isolated=isolated, serve_main=serve_main)
        except BaseException:  # noqa: BLE001
            report(ofd, "the worker's namespace could not be set up")
        finally:
            os._exit(code)
    os.write(wp, f"{b}\n".encode())
    os.close(wp)
    os.close(wfd)
    os.close(ofd)
    return mirror(wait_for(b))


def init_b(req: dict[str, Any], wfd: int, ofd: int, *, config: dict[str, Any], isolated: bool,
           serve_main: Callable[[list[str]], Any]) -> int:
    """B: PID 1 of the new namespace (as bubblewrap's init): its own /proc, forks the worker C and
    reaps every orphan; when C ends, B ends, and the kernel ends whatever is left in the namespace."""
    isolate.prctl(isolate.PR_SET_PDEATHSIG, signal.SIGKILL)
    if isolated:
        isolate.own_proc()
    c = os.fork()
    if c == 0:
        code = 70
        try:
            code = worker_c(req, wfd, ofd, config=config, isolated=isolated, serve_main=serve_main)
        except BaseException:  # noqa: BLE001
            report(2, "the worker failed")
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
            return mirror(status)


def worker_c(req: dict[str, Any], wfd: int, ofd: int, *, config: dict[str, Any], isolated: bool,
             serve_main: Callable[[list[str]], Any]) -> int:
    """C: the worker (serve.py's main), with no privileges left."""
    isolate.prctl(isolate.PR_SET_PDEATHSIG, signal.SIGKILL)
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
    isolate.set_rlimits(req["limits"])
    if isolated:
        isolate.drop_privileges()
    if config.get("seccomp"):
        isolate.load_seccomp(bytes.fromhex(config["seccomp"]))
    isolate.close_fds_except({wfd})
    if req.get("files"):
        recv_files(wfd, workdir)
    sys.argv = ["graders-worker"]
    sys.path[:] = [p for p in sys.path if p]
    code = serve_main([str(wfd)])
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    return int(code or 0)


def recv_files(fd: int, workdir: str) -> None:
    """The judge sends a submission's extra files as one frame on the worker socket before anything else."""
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


def report(fd: int, what: str) -> None:
    try:
        os.write(fd, (f"graders zygote: {what}:\n" + traceback.format_exc()).encode())
    except OSError:
        pass


def wait_for(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def mirror(status: int) -> int:
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
