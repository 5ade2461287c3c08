"""Isolation primitives: what a sandboxed process does to itself before student code runs.

Everything here runs in a child process, between fork and exec or between fork and the worker's
``main()``: a new session, the parent-death signal, entering a pids cgroup, rlimits, new namespaces
with read-only mounts and fresh tmpfs, a private /proc, dropping every capability, no_new_privs,
becoming a uid of its own, loading a seccomp filter. The judge's launchers (graders/sandbox/) use
these as ``preexec_fn`` or in the boot line of the worker; the zygote (``zygote.py``) uses them in
the processes it forks. Only the standard library: this package is staged into the sandbox alone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 4, 24, 28
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECBIT_NOROOT_ALL = 0x0F  # NOROOT, NOROOT_LOCKED, NO_SETUID_FIXUP, NO_SETUID_FIXUP_LOCKED
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine, 126)

_libc: Any = None


def libc() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def prctl(option: int, arg: int = 0) -> int:
    return int(libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    check(libc().mount(source.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None), f"mount {fstype or source} on {target}")


# =========================================================================== every launcher
RLIMIT_KEYS = ("memory_bytes", "cpu_seconds", "file_bytes", "open_files", "processes")


def set_rlimits(lim: Mapping[str, int]) -> None:
    """The worker's rlimits (keys: RLIMIT_KEYS), never above the hard limits already set. RLIMIT_DATA for
    memory (address space is not usable with torch); root ignores RLIMIT_NPROC, so it is set for others
    only (the PID namespace or a pids cgroup bound root's processes)."""

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


def parent_death_signal() -> Callable[[], object]:
    """A function for the child (between fork and exec): SIGKILL me when my parent's thread ends."""
    try:
        prctl_ = libc().prctl
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return lambda: None
    return lambda: prctl_(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def enter_cgroup(procs_file: str) -> None:
    """Move the calling process into the cgroup whose `cgroup.procs` is `procs_file` (best effort)."""
    try:
        fd = os.open(procs_file, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def preexec(*, parent: int | None = None, cgroup_procs: str | None = None,
            rlimits: Mapping[str, int] | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` (it runs in the child between fork and exec): a session of its own; with `parent`,
    SIGKILL when that process's forking thread ends (and exit at once if it already has); into the pids
    cgroup of `cgroup_procs`; `rlimits` (see set_rlimits). Everything it needs is resolved here, in the parent."""
    die_with_parent = parent_death_signal() if parent is not None else None

    def run() -> None:
        os.setsid()
        if die_with_parent is not None:
            die_with_parent()
            if os.getppid() != parent:  # the judge died before the signal was armed
                os._exit(1)
        if cgroup_procs is not None:
            enter_cgroup(cgroup_procs)
        if rlimits is not None:
            set_rlimits(rlimits)

    return run


def load_seccomp(program: bytes) -> None:
    """Install the classic-BPF filter `program` (needs no_new_privs or CAP_SYS_ADMIN)."""

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    ret = libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))
    check(ret, "seccomp")


# =========================================================================== the uid sandbox
def become_uid(uid: int, nproc: int, program: bytes = b"") -> None:
    """Run as root by the uid launcher's boot line before anything of the submission: become `uid` (gid
    too) with no supplementary groups, no_new_privs, RLIMIT_NPROC `nproc` (it counts this uid only), and
    the seccomp filter `program`. SystemExit when any of it does not hold."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise SystemExit("graders: no_new_privs failed")
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    except (ValueError, OSError):
        pass
    if program:
        try:
            load_seccomp(program)
        except OSError:
            raise SystemExit("graders: seccomp failed") from None
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (uid, uid, uid, uid) or os.getgroups():
        raise SystemExit("graders: could not drop privileges")


# =========================================================================== the zygote's children
def mounts() -> list[tuple[str, set[str], str]]:
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
# kernel filesystems that refuse a read-only remount hold no files a submission could leave behind
_KERNEL_FS = ("sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue", "securityfs", "debugfs", "tracefs", "bpf",
              "pstore", "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "autofs")


def remount_readonly(point: str, opts: set[str]) -> None:
    flags = 0
    for o in opts:
        flags |= _FLAG_OF.get(o, 0)
    mount("none", point, None, MS_REMOUNT | MS_BIND | flags | MS_RDONLY)


def loopback_up() -> None:
    import fcntl

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14s", b"lo", 0x1 | 0x8 | 0x40, b"")  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(s.fileno(), 0x8914, ifr)  # SIOCSIFFLAGS
    except OSError:
        pass
    finally:
        s.close()


def new_namespaces(workdir: str, tmp_bytes: int, hide: Iterable[str] = (), shm_bytes: int = 0) -> None:
    """In the zygote's child A: new namespaces (mount, PID, network, IPC, UTS); every mount it inherits
    read-only; fresh tmpfs where a worker writes; `hide` (the zygote's own socket folder) covered by an
    empty read-only tmpfs; the loopback up."""
    check(libc().unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    for point, opts, fstype in mounts():
        if "ro" in opts or fstype == "proc" or point == "/proc" or point.startswith("/proc/"):
            continue  # proc: B mounts its own
        try:
            remount_readonly(point, opts)
        except OSError:
            if fstype not in _KERNEL_FS:
                raise
    opts = f"size={tmp_bytes},mode=1777"
    # a checkout (and its .venv) may live under /tmp: keep the Python the worker imports from
    # visible through the fresh /tmp (bound back read-only from a handle opened before it is covered)
    roots = sorted({p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
                    if p.startswith("/tmp/") and os.path.isdir(p)}, key=len)
    roots = [p for i, p in enumerate(roots) if not any(p.startswith(q + "/") for q in roots[:i])]
    keep = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in roots]
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for path, fd in keep:
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    for shared in ("/dev/shm", "/var/tmp", "/run/lock"):
        if os.path.isdir(shared) and not os.path.islink(shared):
            size = shm_bytes if shared == "/dev/shm" and shm_bytes else tmp_bytes
            mount("tmpfs", shared, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for path in hide:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=0555")
    if workdir.startswith("/tmp/"):
        os.makedirs(workdir, mode=0o700, exist_ok=True)
    else:
        mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=0700")
    try:
        socket.sethostname("sandbox")
    except OSError:
        pass
    loopback_up()


def own_cgroup(base: str | None, max_processes: int) -> None:
    """In the zygote's child A, first: a pids cgroup of its own under the zygote's (every later fork lands in it)."""
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


def own_proc() -> None:
    """In child B (PID 1 of the new namespace): its own /proc, with the kernel's knobs read-only."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for sub in ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"):
        if os.path.exists(sub):
            mount(sub, sub, None, MS_BIND | MS_REC)
            mount("none", sub, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def drop_privileges() -> None:
    """Last thing before student code: no capabilities now or after any exec, no new privileges.

    The process keeps its uid (as the bubblewrap launcher's worker keeps root's on the host) but holds
    no capability: it cannot mount, unmount, trace or change any namespace."""
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if os.geteuid() == 0:  # root without root's powers, even through exec of a setuid program
        check(prctl(PR_SET_SECUREBITS, SECBIT_NOROOT_ALL), "securebits")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    check(libc().syscall(SYS_CAPSET, header, data), "capset")
    check(prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")


def close_fds_except(keep: set[int]) -> None:
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
