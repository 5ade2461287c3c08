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
checks included, and the course folder's private parts (private.py; or the `hide` paths a launcher is
given) are masked wherever they would lie under a bound path (an editable install's `.pth` hook too),
so `import graders` inside fails. Processes: bwrap's init is PID 1 of the namespace;
killing bwrap (the judge does, at the end or on a timeout) ends every process in it, detached
ones (`setsid`, `start_new_session`) included. rlimits are set before bwrap starts (graders/worker/
isolate.py, inherited through bwrap); the number of processes is bounded by a pids cgroup where one can
be created (cgroup.py), since RLIMIT_NPROC does not bind processes that are root on the host. The seccomp
filter (seccomp.py) is loaded by bwrap itself (--seccomp FD).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .cgroup import PidsCgroup
from .datasets import dataset_binds
from .limits import Limits
from .private import private_paths
from .process import WorkerProcess, popen_worker, stage_worker_package, worker_env
from .seccomp import bwrap_program

SANDBOX_WORKDIR = "/submission"
SANDBOX_WORKER = "/opt/graders-worker"
SANDBOX_UID = 65534  # "nobody" inside the user namespace
HOSTNAME = "sandbox"
ZYGOTE_SOCKDIR = "/tmp/.graders-zygote"  # inside the zygote's sandbox: where other judges connect (hidden from workers)
ZYGOTE_CGROUP = "/tmp/.graders-cgroup"  # inside the zygote's sandbox: its pids cgroup (hidden from workers)
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
            stage_worker_package(stage / "worker")
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
    program = bwrap_program()
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


def sandbox_args(*, workdir: Path, stage: Path, limits: Limits, namespaces: tuple[str, ...],
                 hide: Sequence[Path] | None = None) -> list[str]:
    """bwrap's options for one worker (everything before `--`); `hide`: what must not be visible inside
    (default: private.private_paths(), asked now)."""
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
    for hidden in (private_paths() if hide is None else hide):
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


def zygote_sandbox_args(*, stage: Path, hide: Sequence[Path] | None, sockdir: Path | None,
                        cgroup_dir: Path | None) -> list[str]:
    """bwrap's options for the zygote (zygote.py): the workers' view, but with the capabilities it needs to
    make per-child namespaces (its children drop them all): as root it uses no user namespace (children
    then run as uid 65534 without capabilities), otherwise uid 0 of its own; its socket folder and pids
    cgroup bound at ZYGOTE_SOCKDIR and ZYGOTE_CGROUP."""
    if os.geteuid() == 0:
        ns: tuple[str, ...] = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
    else:
        ns = ("--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0")
    args = sandbox_args(workdir=stage / "home", stage=stage, limits=Limits(), namespaces=ns, hide=hide)
    i = args.index("--cap-drop")  # sandbox_args puts exactly one "--cap-drop ALL"
    del args[i:i + 2]
    if os.geteuid() != 0:
        args = ["--cap-add", "ALL", *args]
    if "--unshare-all" not in ns:
        args += ["--hostname", HOSTNAME]
    if sockdir is not None:
        args += ["--bind", str(sockdir), ZYGOTE_SOCKDIR]
    if cgroup_dir is not None:
        args += ["--bind", str(cgroup_dir), ZYGOTE_CGROUP]
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
    """Each worker in its own bubblewrap sandbox (see the module docstring for what it sees). `hide`: the
    paths that must not be visible inside (default: private.private_paths(), asked at each spawn)."""

    name = "bubblewrap"

    def __init__(self, *, hide: Sequence[Path] | None = None) -> None:
        self.hide = None if hide is None else tuple(hide)

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
            stage_worker_package(stage / "worker")
            args = sandbox_args(workdir=workdir, stage=stage, limits=limits, namespaces=namespaces, hide=self.hide)
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
