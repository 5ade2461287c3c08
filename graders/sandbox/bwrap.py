"""The sandbox around a worker: bubblewrap (Debian package `bubblewrap`).

What the student's code sees inside (everything else of the host does not exist there):

    /usr, /bin, /sbin, /lib*          read-only (the system's programs and libraries)
    /etc/{ld.so.cache,localtime,...}  read-only, only the few files programs need; passwd/group/hosts are ours
    <python prefix>, <venv>           read-only, at their host paths (the interpreter, torch, IPython)
    /opt/graders-worker               read-only: a copy of graders/worker/*.py as package `graders_worker`
    /submission                       read-write: this submission's work directory (a fresh one each time); the cwd
    /tmp                              a private tmpfs of limited size
    /proc, /dev                       the sandbox's own (its PID namespace, a minimal /dev)

Namespaces: user (uid 65534 inside, no capabilities, no nested user namespaces), PID, network (only
a loopback of its own), IPC, UTS (hostname `sandbox`), cgroup. The `graders` package itself, hidden
checks included, is masked wherever it would lie under a bound path (an editable install's `.pth`
hook too), so `import graders` inside fails. Processes: bwrap's init is PID 1 of the namespace;
killing bwrap (the judge does, at the end or on a timeout) ends every process in it, detached
ones (`setsid`, `start_new_session`) included. rlimits come from `set_rlimits` (inherited through
bwrap); the number of processes is bounded by a pids cgroup where one can be created (see
`launch.PidsCgroup`), since RLIMIT_NPROC does not bind processes that are root on the host.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from .datasets import dataset_binds
from .launch import PidsCgroup, WorkerProcess, _stage_worker_package, popen_worker, worker_env
from .limits import Limits

SANDBOX_WORKDIR = "/submission"
SANDBOX_WORKER = "/opt/graders-worker"
SANDBOX_UID = 65534  # "nobody" inside the user namespace
HOSTNAME = "sandbox"
SHM_BYTES = 64 * 1024**2  # /dev/shm (DataLoader workers use it)

# the parts of /etc that programs need (dynamic loader, time zone); the rest of /etc is not shown
ETC_KEEP = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "alternatives", "fonts", "nsswitch.conf", "mime.types")

# answers of the trial run, per bwrap binary (None: not installed)
_PROBED: dict[str | None, tuple[str | None, tuple[str, ...]]] = {}


def bwrap_binary() -> str | None:
    return shutil.which("bwrap")


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox workers here, or None when it can (the answer is cached per process)."""
    return _probe()[0]


def _probe() -> tuple[str | None, tuple[str, ...]]:
    binary = bwrap_binary()
    if binary not in _PROBED:
        _PROBED[binary] = _trial(binary)
    return _PROBED[binary]


def _trial(binary: str | None) -> tuple[str | None, tuple[str, ...]]:
    """Start the interpreter in the very sandbox workers get (every bind, the seccomp filter), with
    the namespaces we want; fall back to fewer only where bwrap allows it.

    Returns (problem, namespace options that worked)."""
    if binary is None:
        return "bubblewrap is not installed (no `bwrap` on PATH)", ()
    attempts = (
        ("--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)),
        ("--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)),
        ("--unshare-all",),  # no user namespace: only possible when bwrap is setuid or we are root
    )
    last = ""
    workdir = Path(tempfile.mkdtemp(prefix="graders-probe-"))
    try:
        for ns in attempts:
            stage = Path(tempfile.mkdtemp(prefix="graders-sandbox-", dir=workdir))
            _stage_worker_package(stage / "worker")
            fds: tuple[int, ...] = ()
            try:
                args = sandbox_args(workdir=workdir, stage=stage, limits=Limits(), namespaces=ns)
                fds, seccomp = _seccomp_args()
                cmd = [binary, *seccomp, *args, "--", sys.executable, "-I", "-S", "-c", "pass"]
                r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, pass_fds=fds,
                                   env={"PATH": "/usr/bin:/bin"})
            except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
                return f"bubblewrap does not run here ({exc})", ()
            finally:
                for fd in fds:
                    os.close(fd)
            if r.returncode == 0:
                return None, ns
            lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else f"exit code {r.returncode}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return f"bubblewrap cannot create its sandbox here ({last})", ()


def _seccomp_args() -> tuple[tuple[int, ...], list[str]]:
    """(fds to pass, bwrap options) for the seccomp filter; nothing where we have no filter."""
    program = seccomp_program()
    if program is None:
        return (), []
    r, w = os.pipe()
    try:
        os.write(w, program)  # a few hundred bytes: fits in the pipe's buffer
    finally:
        os.close(w)
    return (r,), ["--seccomp", str(r)]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    return args


@functools.cache
def _python_roots() -> list[Path]:
    """The interpreter's prefixes and site-packages: what the worker needs to run Python and torch."""
    cands = [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
             sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    roots: list[Path] = []
    for c in sorted({Path(c).resolve() if Path(c).is_symlink() else Path(c) for c in cands if c}, key=lambda p: len(p.parts)):
        if not c.is_dir() or c == Path("/"):
            continue
        if any(c == r or r in c.parents for r in roots) or c == Path("/usr") or Path("/usr") in c.parents:
            continue
        roots.append(c)
    return roots


COURSE_PRIVATE = ("source", "submitted", "autograded", "feedback", "gradebook.db")


def _hidden_paths() -> list[Path]:
    """What must never be visible inside: the graders package (hidden checks) and the course folder
    with its private parts (a course folder: one with nbgrader_config.py or source/)."""
    out = [Path(__file__).resolve().parent.parent]  # graders/ (this file is graders/sandbox/bwrap.py)
    try:
        from ..course import course_root

        root = course_root()
    except Exception:  # noqa: BLE001 - no course here: nothing more to hide
        return out
    if (root / "nbgrader_config.py").exists() or (root / "source").is_dir():
        out += [root, *(root / name for name in COURSE_PRIVATE)]
    return out


@functools.cache
def _graders_install_files() -> list[Path]:
    """Files in site-packages that put `graders` on sys.path: an editable install's .pth hook and
    finder module, or a .pth naming the checkout. Masked inside, so `import graders` finds nothing.
    (Found by looking, not through importlib.metadata, which may see a checkout's egg-info first.)"""
    import re

    checkout = str(Path(__file__).resolve().parents[2])
    mentions = re.compile(r"(?<![\w.-])graders(?![\w-])")
    out: list[Path] = []
    for site_dir in _site_dirs():
        try:
            entries = sorted(site_dir.iterdir())
        except OSError:
            continue
        for f in entries:
            if f.name.startswith("__editable__") and "graders" in f.name:
                out.append(f)
            elif f.suffix == ".pth" and f.is_file():
                try:
                    text = f.read_text(errors="replace")
                except OSError:
                    continue
                if mentions.search(text) or any(line.strip() == checkout for line in text.splitlines()):
                    out.append(f)
    return out


def _site_dirs() -> list[Path]:
    import site

    dirs = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys(Path(d) for d in dirs if Path(d).is_dir()))


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _etc_files(stage: Path) -> list[str]:
    etc = stage / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{SANDBOX_UID}:{SANDBOX_UID}:student:{SANDBOX_WORKDIR}:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{SANDBOX_UID}:\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost\n")
    (etc / "hostname").write_text(HOSTNAME + "\n")
    args: list[str] = []
    for name in ("passwd", "group", "hosts", "hostname"):
        args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    for name in ETC_KEEP:
        p = Path("/etc") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.exists():
            args += ["--ro-bind", str(p), str(p)]
    return args


def _gpu_binds() -> list[str]:
    """NVIDIA device nodes, when the host has them: CUDA grading needs them (the GPU is shared, not isolated)."""
    args: list[str] = []
    for dev in sorted(Path("/dev").glob("nvidia*")):
        if dev.is_dir():
            continue
        args += ["--dev-bind", str(dev), str(dev)]
    if args and Path("/proc/driver/nvidia").is_dir():
        args += ["--ro-bind", "/proc/driver/nvidia", "/proc/driver/nvidia"]
    return args


# ---------------------------------------------------------------- seccomp: memory that rlimits do not see
# RLIMIT_DATA counts private memory only. Shared anonymous memory (mmap(-1, n) with MAP_SHARED),
# memfd_create and System V shared memory are shmem: uncounted, unbounded by the tmpfs sizes below.
# A small classic-BPF filter refuses exactly those (EPERM); file-backed shared mappings (/dev/shm,
# bounded by its tmpfs size) still work, so multiprocessing and DataLoader workers do too.
_ARCHES = {  # machine -> (AUDIT_ARCH, mmap, memfd_create, shmget)
    "x86_64": (0xC000003E, 9, 319, 29),
    "aarch64": (0xC00000B7, 222, 279, 194),
}
_MAP_SHARED_ANON = 0x01 | 0x20  # MAP_SHARED | MAP_ANONYMOUS (MAP_SHARED_VALIDATE has bit 0x01 too)
# Refused outright (EPERM) in every sandbox, because no course needs them:
# - kernel keyrings (add_key, request_key, keyctl): keyrings are per user, not per namespace; a worker
#   that is uid 0 on the host (the zygote's children when the grader runs as root) would share root's
#   user keyring with the host and with every other submission (a channel between students);
# - ptrace, process_vm_readv/writev: the sandbox's PID 1 (bubblewrap's init) runs without this filter;
#   a worker that traced it could make it allocate the memory this filter refuses.
DENIED_SYSCALLS = {  # machine -> numbers
    "x86_64": (248, 249, 250, 101, 310, 311),
    "aarch64": (217, 218, 219, 117, 270, 271),
}
KEYRING_SYSCALLS = {m: nrs[:3] for m, nrs in DENIED_SYSCALLS.items()}


def seccomp_program() -> bytes | None:
    """The filter bwrap loads before exec (--seccomp FD), or None on an architecture we have no table for."""
    import errno
    import struct

    machine = os.uname().machine
    if machine not in _ARCHES or sys.byteorder != "little":  # the offsets below assume little endian
        return None
    arch, nr_mmap, nr_memfd, nr_shmget = _ARCHES[machine]
    ld_abs, jeq, jge, and_k, ret = 0x20, 0x15, 0x35, 0x54, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EPERM
    x32 = 0x40000000 if machine == "x86_64" else 0xFFFFFFFF
    denied = (nr_memfd, nr_shmget, *DENIED_SYSCALLS[machine])
    n = len(denied)
    # layout: 0 arch, 1 native?, 2 deny other ABIs, 3 load nr, 4 x32?, 5..4+n denied numbers, then mmap's test
    mmap_at = 5 + n
    deny_at = mmap_at + 5
    prog = [
        (ld_abs, 0, 0, 4),                # A = arch
        (jeq, 1, 0, arch),                # native -> 3
        (ret, 0, 0, deny),                # another ABI (i386, x32 tricks): nothing
        (ld_abs, 0, 0, 0),                # A = syscall number
        (jge, deny_at - 5, 0, x32),       # x32 numbers -> deny
    ]
    for i, nr in enumerate(denied):
        at = 5 + i
        prog.append((jeq, deny_at - at - 1, 0, nr))
    prog += [
        (jeq, 0, 3, nr_mmap),             # mmap -> next, else allow
        (ld_abs, 0, 0, 16 + 3 * 8),       # A = low word of flags (args[3])
        (and_k, 0, 0, _MAP_SHARED_ANON),
        (jeq, 1, 0, _MAP_SHARED_ANON),    # shared and anonymous -> deny
        (ret, 0, 0, allow),
        (ret, 0, 0, deny),
    ]
    assert len(prog) == deny_at + 1
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def sandbox_args(*, workdir: Path, stage: Path, limits: Limits, namespaces: tuple[str, ...]) -> list[str]:
    """bwrap's options for one worker (everything before `--`)."""
    args = [*namespaces, "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if "--unshare-all" in namespaces:
        args += ["--hostname", HOSTNAME]
    args += _system_binds()
    args += _etc_files(stage)
    # the private /tmp comes before the Python binds: a checkout (and its .venv) may itself live
    # under /tmp, and a later tmpfs would hide it.
    # tmpfs is memory that RLIMIT_DATA does not count: every writable tmpfs gets a size
    tmp_size = max(16 * 1024**2, min(limits.file_bytes, 1024**3))
    args += ["--size", str(tmp_size), "--tmpfs", "/tmp"]
    roots = _python_roots()
    for root in roots:
        args += ["--ro-bind", str(root), str(root)]
    args += ["--ro-bind", str(stage / "worker"), SANDBOX_WORKER]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += _gpu_binds()
    args += ["--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]
    # mask what lies under a bound path but must stay hidden (the graders package, the course folder)
    exposed = [Path("/usr"), *roots]
    needed = [*roots, *_site_dirs(), Path(sys.executable).parent]
    for hidden in _hidden_paths():
        if not any(_under(hidden, r) for r in exposed) or any(_under(n, hidden) for n in needed):
            continue  # not visible anyway; or the Python the worker runs lies inside (its private parts are masked one by one)
        if hidden.is_dir():
            args += ["--perms", "0555", "--tmpfs", str(hidden), "--remount-ro", str(hidden)]
        elif hidden.exists():
            args += ["--ro-bind", "/dev/null", str(hidden)]
    for f in _graders_install_files():
        if f.exists() and any(_under(f, r) for r in exposed):
            args += ["--ro-bind", "/dev/null", str(f)]
    args += dataset_binds(stage)  # scikit-learn's digits without the grader's held-out test images
    args += ["--bind", str(workdir), SANDBOX_WORKDIR, "--chdir", SANDBOX_WORKDIR]
    # bwrap's own root and /dev are (unbounded) tmpfs: read-only, so /submission, /tmp, /dev/shm are all that is writable
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    return args


def _sweep_stale_stages() -> None:
    """Remove the staging folders (/etc files, worker copy) of judges that were killed before cleaning up."""
    for d in Path(tempfile.gettempdir()).glob("graders-sandbox-*-*"):
        try:
            owner = int(d.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(d, ignore_errors=True)


class BwrapLauncher:
    """Each worker in its own bubblewrap sandbox (see the module docstring for what it sees)."""

    name = "bubblewrap"

    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess:
        problem, namespaces = _probe()
        binary = bwrap_binary()
        if problem is not None or binary is None:
            from ..errors import SandboxUnavailable

            raise SandboxUnavailable(f"cannot sandbox student code: {problem}")
        for rel, data in (files or {}).items():
            target = (workdir / rel).resolve()
            if not _under(target, workdir.resolve()):
                raise ValueError(f"file {rel!r} would lie outside the work directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _sweep_stale_stages()
        stage = Path(tempfile.mkdtemp(prefix=f"graders-sandbox-{os.getpid()}-"))
        cgroup = None
        extra: tuple[int, ...] = ()
        try:
            _stage_worker_package(stage / "worker")
            args = sandbox_args(workdir=workdir, stage=stage, limits=limits, namespaces=namespaces)
            boot = (f"import sys; sys.path.insert(0, {SANDBOX_WORKER!r}); "
                    "from graders_worker.serve import main; raise SystemExit(main(['{FD}']))")
            cmd = [binary, *args, "--", sys.executable, "-I", "-c", boot]
            env = worker_env(Path(SANDBOX_WORKDIR), extra={"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"})
            extra, seccomp = _seccomp_args()
            cmd[1:1] = seccomp
            cgroup = PidsCgroup.create(limits.processes)
            proc = popen_worker(cmd, workdir=workdir, limits=limits, env=env, sandbox=self.name,
                                cgroup=cgroup, extra_fds=extra)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            if cgroup is not None:
                cgroup.destroy()
            raise
        finally:
            for fd in extra:
                os.close(fd)
        proc._cleanup.append(lambda: shutil.rmtree(stage, ignore_errors=True))
        return proc
