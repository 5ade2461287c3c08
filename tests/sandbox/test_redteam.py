"""Red team (issue #3): student code cannot cheat, escape, leak or stop the grader.

Every scenario notebook in tests/data/redteam/ (see scenarios.py) is graded through the real
pipeline (`grade_notebook`, real bubblewrap, real worker), with fake secrets in the judge's
environment and a listener on the host, and must show:

- no unearned point (attacks score 0; an honest answer in the same notebook keeps its points),
- nothing planted on the host (hidden checks, source, gradebook, site-packages, the worker),
- no connection reaching the listener, no process left running, no secret in the result,
- a result within its time budget.

The fallback (no bubblewrap) is tested for honesty: it grades, says `"sandbox": "none"` and
warns; `require_sandbox` refuses instead. Nothing of the sandbox is mocked: bubblewrap's absence
is a PATH without `bwrap` on it.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from graders.errors import GradersError, SandboxUnavailable
from graders.grade import grade_notebook
from graders.judge.session import WorkerSession
from graders.result import SubmissionResult
from graders.sandbox import Limits
from graders.sandbox import bwrap as bwrap_module
from graders.sandbox.bwrap import BwrapLauncher, bwrap_problem
from graders.sandbox.cgroup import PidsCgroup
from graders.sandbox.plain import PlainLauncher
from graders.sandbox.policy import choose_launcher
from graders.sandbox.process import ENV_ALLOW

from .scenarios import (ABSTRACT_SOCKET, BY_NAME, COURSE_DATA, COURSE_SCENARIOS, DATA, MARK, PICKLE_FLAG, PORTS, PWNED, SCENARIOS,
                        Scenario, forged_notebook, render)

PACKAGE = Path(bwrap_module.__file__).resolve().parents[1]  # graders/ (with the hidden checks)
PROJECT = PACKAGE.parent
QUESTIONS = ("describe", "matmul_shape", "matmul", "one_hot")
SECRETS = {
    "GITHUB_TOKEN": "ghp_rt6d1fS3cretTokenValue",
    "AWS_SECRET_ACCESS_KEY": "rt6d1f-aws-S3cret-key",
    "GRADERS_GRADEBOOK_PASSWORD": "rt6d1f-gradebook-S3cret",
}
LIMITS = Limits(memory_bytes=1024**3, cpu_seconds=60, processes=32, file_bytes=64 * 1024**2, open_files=256,
                cell_timeout=2.0, call_timeout=2.0, output_bytes=64 * 1024, grace_seconds=1.0)
# Scenarios where the grader does not yet meet "the other questions keep theirs" (none now: a
# function that hung or crashed the worker once fails at once afterwards, without another restart).
KNOWN_GAPS: dict[str, str] = {}
# round two: the whole submission's time (Limits.total_seconds) is what stops slow-cells
LIMITS_FOR = {"slow-cells": LIMITS.with_overrides(total_seconds=6.0),
              # walks the whole filesystem it can see (all of the host's in the uid sandbox): room on a loaded machine
              "read-hidden-checks": LIMITS.with_overrides(cell_timeout=30.0)}
BUDGET_S = {"infinite-loop": 45.0, "training-hangs": 45.0, "trickle-frame": 60.0, "held-before": 60.0, "malformed-frame": 60.0}  # others: DEFAULT_BUDGET_S
DEFAULT_BUDGET_S = 30.0


# ------------------------------------------------------------------ fixtures and helpers
@pytest.fixture(scope="module")
def sandbox() -> BwrapLauncher:
    problem = bwrap_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"bubblewrap must work in CI: {problem}")
        pytest.skip(f"bubblewrap does not work here: {problem}")
    return BwrapLauncher()


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake CI secrets in the judge's own environment."""
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    return SECRETS


class Listener:
    """TCP (IPv4 and IPv6), UDP and an abstract unix socket on the host; records whatever reaches them."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, bytes]] = []
        self.socks: list[tuple[str, socket.socket]] = []
        self.port = self._bind_tcp()
        for kind, family, stype, addr in (("tcp6", socket.AF_INET6, socket.SOCK_STREAM, ("::1", self.port)),
                                          ("udp", socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", self.port)),
                                          ("unix", socket.AF_UNIX, socket.SOCK_STREAM, ABSTRACT_SOCKET)):
            try:
                s = socket.socket(family, stype)
                s.bind(addr)
                if stype == socket.SOCK_STREAM:
                    s.listen(16)
                self.socks.append((kind, s))
            except OSError:
                s.close()  # no IPv6 here, say: the other listeners still count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _bind_tcp(self) -> int:
        for port in range(*PORTS):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            s.listen(16)
            self.socks.append(("tcp", s))
            return port
        raise RuntimeError(f"no free port in {PORTS}")

    def _serve(self) -> None:
        by_fd = {s.fileno(): (kind, s) for kind, s in self.socks}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(by_fd), [], [], 0.05)
            for fd in ready:
                kind, s = by_fd[fd]
                try:
                    if kind == "udp":
                        data, _ = s.recvfrom(4096)
                    else:
                        conn, _ = s.accept()
                        conn.settimeout(0.5)
                        try:
                            data = conn.recv(4096)
                        except OSError:
                            data = b""
                        conn.close()
                except OSError:
                    continue
                self.hits.append((kind, data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for _kind, s in self.socks:
            s.close()


@pytest.fixture
def listener():  # type: ignore[no-untyped-def]
    lst = Listener()
    yield lst
    lst.close()


def survivors(marker: str = MARK) -> list[str]:
    """Processes (not zombies) whose command line holds `marker`, or that sit in one of our workers' cgroups."""
    me = os.getpid()
    ours = f"graders-{me}-"
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == me:
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            cgroup = (p / "cgroup").read_text()
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue
        if marker.encode() in cmd or ours in cgroup:
            shown = cmd.replace(b"\0", b" ").decode(errors="replace")[:120]
            out.append(f"{p.name}: {shown}")
    return out


def wait_no_survivors(timeout: float = 5.0, *, only_marked: bool = False) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in survivors() if MARK in p] if only_marked else survivors()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def wait_no_survivors_marked() -> list[str]:
    """Like wait_no_survivors, but other workers of ours may still run."""
    return wait_no_survivors(only_marked=True)


def plants() -> list[str]:
    """Anything an attack wrote where it never should: files named PWNED, or PWNED inside sensitive files."""
    found = []
    for root, dirs, files in os.walk(PROJECT):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules", "__pycache__")]
        found += [os.path.join(root, n) for n in files + dirs if PWNED in n]
    site = [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    for d in site + [Path("/"), Path("/usr/lib"), Path("/tmp")]:
        try:
            found += [str(p) for p in d.iterdir() if PWNED in p.name]
        except OSError:
            pass
    sensitive = [*PACKAGE.glob("assignments/*.py"), *PACKAGE.glob("worker/*.py"), PROJECT / "gradebook.db",
                 Path(sys.base_prefix) / "lib" / "python3.11" / "os.py", Path("/etc/passwd")]
    for f in sensitive:
        try:
            if PWNED.encode() in f.read_bytes():
                found.append(f"{f} (written into)")
        except OSError:
            pass
    return found


def our_cgroups() -> list[str]:
    parent = PidsCgroup._parent
    if not parent:
        return []
    return [p.name for p in parent[0].glob(f"graders-{os.getpid()}-*")]  # type: ignore[index]


def cgroup_bounds_processes() -> bool:
    cg = PidsCgroup.create(LIMITS.processes)
    if cg is None:
        return False
    cg.destroy()
    return True


def grade(s: Scenario, launcher: object) -> tuple[SubmissionResult, str]:
    result = grade_notebook(path=s.path, assignment="tensors", student=f"redteam-{s.name}", device="cpu",
                            launcher=launcher, limits=LIMITS_FOR.get(s.name, LIMITS))  # type: ignore[arg-type]
    return result, json.dumps(result.to_dict(with_cells=True))


def points(result: SubmissionResult) -> dict[str, float]:
    got = {q: 0.0 for q in QUESTIONS}
    for c in result.checks:
        got[c.grade_id] = got.get(c.grade_id, 0.0) + c.points
    return got


def checks_of(result: SubmissionResult, grade_id: str) -> list:
    return [c for c in result.checks if c.grade_id == grade_id]


def cell_output(result: SubmissionResult) -> str:
    return "".join((c.stdout or "") + (c.stderr or "") + (c.error or "") for c in result.cells)


# ------------------------------------------------------------------ scenario-specific evidence
def _evidence_network(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert "reached [] unix" in cell_output(result), cell_output(result)


def _evidence_process_flood(result: SubmissionResult, text: str, listener: Listener) -> None:
    out = cell_output(result)
    assert "started" in out, out
    if cgroup_bounds_processes():
        started = int(out.split("started", 1)[1].split()[0])
        assert started < LIMITS.processes, f"{started} processes started, limit {LIMITS.processes}"


def _evidence_read_hidden(result: SubmissionResult, text: str, listener: Listener) -> None:
    # the way out worked (the report reached the result), but it carried nothing hidden
    assert "FileNotFoundError" in text, "the attack's report did not reach the result: the test proves nothing"
    hidden = (PACKAGE / "assignments" / "tensors.py").read_text()
    canaries = [ln.strip() for ln in hidden.splitlines() if ln.startswith("def _check") or "hidden_seed +" in ln]
    assert canaries, "no canary lines found in the hidden checks"
    for line in canaries:
        assert line not in text, f"hidden checks leaked: {line!r}"
    assert "BEGIN SOLUTION" not in text
    # a write may succeed only into the sandbox's own private /tmp (a checkout under /tmp shows its
    # paths there, inside an empty tmpfs); that nothing reached the host is checked for every scenario
    wrote = re.findall(r"'([^']+)': 'WROTE'", text)
    assert all(p.startswith("/tmp/") for p in wrote), f"writes succeeded outside the private /tmp: {wrote}"


def _evidence_env(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert "MPLBACKEND" in text, "the environment did not reach the result: the test proves nothing"
    assert not any(k in text for k in SECRETS), "a secret's name reached the worker"


def _evidence_pickle(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert not Path(PICKLE_FLAG).exists(), "a pickle payload ran in the judge"


def _evidence_output_flood(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert len(text) < 512 * 1024, f"result of {len(text)} bytes: output was not capped"


def _evidence_hang(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert {c.status for c in checks_of(result, "matmul")} == {"timeout"}


def _evidence_os_exit(result: SubmissionResult, text: str, listener: Listener) -> None:
    first = checks_of(result, "describe")[0]
    assert first.status == "error" and "exited with code 0" in first.message, first.message


def _evidence_cheats(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert all(c.status in ("failed", "error") for c in result.checks)


# ------------------------------------------------------------------ round two (issue #11)
def _evidence_trickle(result: SubmissionResult, text: str, listener: Listener) -> None:
    # the cell that trickled is stopped like a hang (one deadline for the whole frame), and so is the answer
    assert [c.status for c in result.cells].count("timeout") == 1, [c.status for c in result.cells]
    assert {c.status for c in checks_of(result, "describe")} == {"timeout"}


def _evidence_malformed(result: SubmissionResult, text: str, listener: Listener) -> None:
    bad = [c for c in result.cells if c.error and "the worker sent malformed data" in c.error]
    assert len(bad) == 2, [c.error for c in result.cells]  # the non-UTF-8 header, the nesting
    for gid in ("matmul_shape", "matmul"):
        for c in checks_of(result, gid):
            if c.status != "passed":  # never "your code raised UnicodeDecodeError / RecursionError"
                assert "raised" not in c.message and "Error" not in c.message.split("(")[0], c.message
    assert "malformed data" in " ".join(c.message for c in checks_of(result, "matmul"))


def _evidence_shared_tensors(result: SubmissionResult, text: str, listener: Listener) -> None:
    for gid in ("matmul", "one_hot"):
        msgs = [c.message for c in checks_of(result, gid) if c.status == "error"]
        assert msgs and any("MiB of tensor data" in m for m in msgs), msgs


def _evidence_message_flood(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert len(text) <= 1024 * 1024, f"result of {len(text)} bytes"
    for c in result.checks:
        assert len(c.message) <= 2100, (c.id, len(c.message))
    assert any("characters cut)" in c.message for c in result.checks)


def _evidence_deep_tree(result: SubmissionResult, text: str, listener: Listener) -> None:
    assert result.cells[1].status == "ok", result.cells[1]
    import tempfile
    left = [p for p in Path(tempfile.gettempdir()).glob("graders-work-*") if (p / "d" / "d" / "d").exists()]
    assert not left, f"the deep tree stayed on the host: {left}"


def _evidence_slow_cells(result: SubmissionResult, text: str, listener: Listener) -> None:
    statuses = [c.status for c in result.cells]
    assert statuses[:3] == ["ok"] * 3 and statuses[-1] == "timeout", statuses
    assert result.message and "total time limit of 6 s" in result.message and "cell 3 (" in result.message, result.message
    assert {c.status for c in result.checks} == {"timeout"}
    assert all("total time limit" in c.message for c in result.checks)


def _evidence_held(result: SubmissionResult, text: str, listener: Listener) -> None:
    out = cell_output(result)
    assert "ptrace -1 Operation not permitted" in out, out[:2000]  # seccomp: PID 1 runs without the filter
    assert "sparse 1099511627776" not in out
    statuses = [c.status for c in result.cells]
    assert statuses[5] == "timeout", statuses  # the C call with SIGALRM blocked is stopped all the same


EVIDENCE = {
    "held-before": _evidence_held,
    "trickle-frame": _evidence_trickle,
    "malformed-frame": _evidence_malformed,
    "shared-tensor-bomb": _evidence_shared_tensors,
    "message-flood": _evidence_message_flood,
    "deep-tree": _evidence_deep_tree,
    "slow-cells": _evidence_slow_cells,
    "network": _evidence_network,
    "process-flood": _evidence_process_flood,
    "read-hidden-checks": _evidence_read_hidden,
    "env-secrets": _evidence_env,
    "pickle-payload": _evidence_pickle,
    "output-flood": _evidence_output_flood,
    "training-hangs": _evidence_hang,
    "os-exit": _evidence_os_exit,
    "patch-allclose": _evidence_cheats,
    "always-equal": _evidence_cheats,
    "excepthook": _evidence_cheats,
}


# ------------------------------------------------------------------ the scenarios, sandboxed
@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario(name: str, sandbox: BwrapLauncher, secrets: dict[str, str], listener: Listener) -> None:
    s = BY_NAME[name]
    if name == "fork-bomb" and not cgroup_bounds_processes():
        pytest.skip("no pids cgroup here: a fork bomb would not be bounded (root ignores RLIMIT_NPROC)")
    Path(PICKLE_FLAG).unlink(missing_ok=True)
    started = time.monotonic()
    result, text = grade(s, sandbox)
    elapsed = time.monotonic() - started

    assert result.status == "graded", result.message
    assert result.sandbox == "bubblewrap" and json.loads(text)["sandbox"] == "bubblewrap"
    # no unearned point
    expected = {q: float(s.expected.get(q, 0.0)) for q in QUESTIONS}
    got = points(result)
    assert all(got[q] <= expected[q] for q in QUESTIONS), result.summary()
    # nothing leaked, planted, reached or left running
    for value in secrets.values():
        assert value not in text, "a secret of the judge's environment reached the result"
    assert plants() == []
    assert listener.hits == []
    assert wait_no_survivors() == []
    assert our_cgroups() == []
    # within its limits
    assert elapsed < BUDGET_S.get(name, DEFAULT_BUDGET_S), f"{name} took {elapsed:.1f} s"
    if name in EVIDENCE:
        EVIDENCE[name](result, text, listener)
    # and honest answers in the same notebook keep their points
    if name in KNOWN_GAPS:
        if got == expected:
            pytest.fail(f"{name} now keeps the honest answer's points: remove it from KNOWN_GAPS")
        pytest.xfail(KNOWN_GAPS[name])
    assert got == expected, result.summary()
    assert result.score == s.score


def test_scenario_notebooks_are_generated_from_scenarios() -> None:
    """tests/data/redteam/*.ipynb are data; `python -m tests.sandbox.scenarios` writes them."""
    assert sorted(p.stem for p in DATA.glob("*.ipynb")) == sorted(BY_NAME)
    for s in SCENARIOS:
        assert s.path.read_text(encoding="utf-8") == render(s), f"{s.path} is stale: run python -m tests.sandbox.scenarios"
    for s in COURSE_SCENARIOS:
        path = COURSE_DATA / f"{s.name}.ipynb"
        assert path.read_text(encoding="utf-8") == render(s), f"{path} is stale: run python -m tests.sandbox.scenarios"
    correct = json.loads((DATA.parent / "tensors" / "correct.ipynb").read_text(encoding="utf-8"))
    forged = json.dumps(forged_notebook(correct), indent=1, ensure_ascii=False) + "\n"
    assert (COURSE_DATA / "forged-outputs.ipynb").read_text(encoding="utf-8") == forged


# ------------------------------------------------------------------ controls: the attacks are real
def test_network_attack_reaches_the_host_without_the_sandbox(listener: Listener) -> None:
    """The same notebook, unsandboxed, does reach the listener: so the sandboxed run's silence means something."""
    result, _text = grade(BY_NAME["network"], PlainLauncher())
    assert result.sandbox == "none" and result.score == 0
    kinds = {kind for kind, _data in listener.hits}
    assert {"tcp", "unix"} <= kinds, listener.hits
    assert any(MARK.encode() in data for _kind, data in listener.hits)


# ------------------------------------------------------------------ what the worker sees
VIEW = '''import os, socket, sys
def view():
    import torch
    try:
        import graders
        g = "imported " + repr(getattr(graders, "__path__", graders))
    except ModuleNotFoundError:
        g = "ModuleNotFoundError"
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    def writable(d):
        try:
            with open(os.path.join(d, ".rt-probe"), "w"):
                pass
            os.unlink(os.path.join(d, ".rt-probe"))
            return True
        except OSError:
            return False
    paths = [PACKAGE, PROJECT + "/source", PROJECT + "/graders/assignments/tensors.py", "/root/.bashrc", "/etc/shadow", "/home"]
    return {
        "graders": g, "uid": os.getuid(), "caps": status["CapEff"].strip(), "hostname": socket.gethostname(),
        "cwd": os.getcwd(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "visible": {p: os.path.exists(p) for p in paths}, "env": sorted(os.environ),
        "writable": {d: writable(d) for d in ("/", "/usr", "/etc", "/opt/graders-worker", sys.prefix, "/tmp", "/dev/shm", ".")},
        "torch": (torch.ones(2, 3) @ torch.ones(3, 4)).tolist(),
        "interfaces": [name for _i, name in socket.if_nameindex()],
    }
'''


def test_what_the_worker_sees(sandbox: BwrapLauncher) -> None:
    cells = [f"PACKAGE, PROJECT = {str(PACKAGE)!r}, {str(PROJECT)!r}", VIEW]
    with WorkerSession(launcher=sandbox, limits=LIMITS, cells=cells) as session:
        assert [o.status for o in session.start()] == ["ok", "ok"]
        v = session.call("view")
    assert v["graders"] == "ModuleNotFoundError"
    assert v["torch"] == [[3.0] * 4] * 2
    assert (v["uid"], v["caps"], v["hostname"], v["cwd"]) == (65534, "0000000000000000", "sandbox", "/submission")
    assert len(v["pids"]) <= 3, v["pids"]  # bwrap's init and the worker: nothing of the host
    assert not any(v["visible"].values()), v["visible"]
    assert set(v["env"]) <= set(ENV_ALLOW) | {"HOME", "TMPDIR", "MPLBACKEND", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
                                              "IPYTHONDIR", "MPLCONFIGDIR", "PWD"}, v["env"]
    assert v["writable"] == {"/": False, "/usr": False, "/etc": False, "/opt/graders-worker": False, sys.prefix: False,
                             "/tmp": True, "/dev/shm": True, ".": True}
    assert v["interfaces"] == ["lo"]


def test_submissions_do_not_see_each_other(sandbox: BwrapLauncher) -> None:
    """What one submission writes or leaves running is invisible to another, then and later."""
    leave = f'''import os, subprocess
for d in ("/tmp", "/dev/shm", "."):
    open(os.path.join(d, "rt-left"), "w").write("from submission A")
subprocess.Popen(["{MARK}-left", "600"], executable="/bin/sleep", start_new_session=True)
os.environ["RT_LEFT"] = "1"'''
    look = '''import os
def look(paths):
    return {p: os.path.exists(p) for p in paths}
def procs():
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                out.append(open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace"))
            except OSError:
                pass
    return out
def env():
    return "RT_LEFT" in os.environ'''
    a = WorkerSession(launcher=sandbox, limits=LIMITS, cells=[leave])
    b = WorkerSession(launcher=sandbox, limits=LIMITS, cells=[look])
    c = WorkerSession(launcher=sandbox, limits=LIMITS, cells=[look])
    try:
        assert [o.status for o in a.start()] == ["ok"]
        a_workdir = a._workdir
        assert a_workdir is not None and (a_workdir / "rt-left").exists()
        assert [o.status for o in b.start()] == ["ok"]
        paths = ["/tmp/rt-left", "/dev/shm/rt-left", "rt-left", str(a_workdir), str(a_workdir / "rt-left")]
        assert b.call("look", paths) == {p: False for p in paths}  # while A still runs
        assert not any(MARK in cmd for cmd in b.call("procs"))
        assert b.call("env") is False
        a.close()
        assert not a_workdir.exists()
        assert wait_no_survivors_marked() == []
        c.start()  # the next submission graded
        assert c.call("look", paths) == {p: False for p in paths}
    finally:
        for session in (a, b, c):
            session.close()
    assert wait_no_survivors() == []


DETACH = f'''import os, subprocess
subprocess.Popen(["{MARK}-detached", "600"], executable="/bin/sleep", start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["{MARK}-daemon", "600"])
    os._exit(0)'''


def test_pid_namespace_alone_ends_detached_processes(sandbox: BwrapLauncher, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pids cgroup (not every machine has one), killing bwrap still ends everything inside."""
    monkeypatch.setattr(PidsCgroup, "_parent", None)
    with WorkerSession(launcher=sandbox, limits=LIMITS, cells=[DETACH]) as session:
        session.start()
        deadline = time.monotonic() + 5
        while len(survivors()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(survivors()) == 2, survivors()
    assert wait_no_survivors() == []


def test_nothing_outlives_a_judge_that_is_killed(sandbox: BwrapLauncher, tmp_path: Path) -> None:
    """If the grader itself dies (SIGKILL, no clean-up at all), bwrap --die-with-parent ends the sandbox."""
    script = tmp_path / "judge.py"
    script.write_text(f'''import sys, time
from graders.judge.session import WorkerSession
from graders.sandbox import Limits
from graders.sandbox.bwrap import BwrapLauncher
from graders.sandbox.cgroup import PidsCgroup
PidsCgroup._parent = None  # the PID namespace alone must do it
s = WorkerSession(launcher=BwrapLauncher(), limits=Limits(cell_timeout=10), cells=[{DETACH!r}])
s.start()
print("ready", flush=True)
time.sleep(600)
''')
    judge = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={**os.environ, "GRADERS_SANDBOX": "bubblewrap"})
    try:
        assert judge.stdout is not None and judge.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 5
        while len([p for p in survivors() if "-detached" in p or "-daemon" in p]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len([p for p in survivors() if "-detached" in p or "-daemon" in p]) == 2, survivors()
    finally:
        judge.send_signal(signal.SIGKILL)
        judge.wait()
        judge.stdout.close()  # type: ignore[union-attr]
    assert wait_no_survivors() == []


def test_a_worker_outlives_the_thread_that_started_it(sandbox: BwrapLauncher) -> None:
    """Parent-death signals follow the thread that forked: workers must not die when a pool's thread does."""
    session = WorkerSession(launcher=sandbox, limits=LIMITS, cells=["def f():\n    return 42"])
    boot = threading.Thread(target=session.start)
    try:
        boot.start()
        boot.join()
        time.sleep(0.2)
        assert session.proc is not None and session.proc.alive()
        assert session.call("f") == 42 and session.restarts == 0
    finally:
        session.close()


# ------------------------------------------------------------------ the honest fallback
def test_without_bubblewrap_grading_warns_or_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bwrap
    monkeypatch.delenv("GRADERS_SANDBOX", raising=False)
    problem = bwrap_problem()
    assert problem is not None and "not installed" in problem
    with pytest.raises(SandboxUnavailable, match="require-sandbox"):
        choose_launcher(require_sandbox=True)
    with pytest.raises(SandboxUnavailable, match="require-sandbox"):
        grade_notebook(path=BY_NAME["honest"].path, assignment="tensors", device="cpu", limits=LIMITS, require_sandbox=True)
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
        assert choose_launcher().name == "none"
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):  # the fallback grades, and says so
        result = grade_notebook(path=BY_NAME["honest"].path, assignment="tensors", device="cpu", limits=LIMITS)
    assert (result.status, result.score, result.sandbox) == ("graded", 10.0, "none")
    assert json.loads(result.to_json())["sandbox"] == "none"
    monkeypatch.setenv("GRADERS_SANDBOX", "bubblewrap")
    with pytest.raises(SandboxUnavailable, match="GRADERS_SANDBOX=bubblewrap"):
        choose_launcher()


def test_bubblewrap_that_cannot_create_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed but unusable (user namespaces off, say): the problem names bwrap's own complaint."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    problem = bwrap_problem()
    assert problem is not None and "No permissions to create new namespace" in problem
    with pytest.raises(SandboxUnavailable, match="No permissions"):
        choose_launcher(require_sandbox=True)


def test_sandbox_choice_from_the_environment(sandbox: BwrapLauncher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADERS_SANDBOX", raising=False)
    assert choose_launcher().name == "bubblewrap"  # no warning: warnings are errors here
    assert choose_launcher(require_sandbox=True).name == "bubblewrap"
    monkeypatch.setenv("GRADERS_SANDBOX", "none")
    with pytest.warns(RuntimeWarning, match="GRADERS_SANDBOX=none"):
        assert choose_launcher().name == "none"
    with pytest.raises(SandboxUnavailable):
        choose_launcher(require_sandbox=True)
    monkeypatch.setenv("GRADERS_SANDBOX", "docker")
    with pytest.raises(GradersError, match="unknown sandbox"):
        choose_launcher()


# ------------------------------------------------------------------ round two: the judge's memory
PEAK = '''import json, resource, sys
from graders.grade import grade_notebook
from graders.course import get_assignment
from graders.sandbox import Limits
from graders.sandbox.bwrap import BwrapLauncher
import torch, pytest
get_assignment("tensors").module()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
limits = Limits(**json.loads(sys.argv[2]))
result = grade_notebook(path=sys.argv[1], assignment="tensors", device="cpu", launcher=BwrapLauncher(), limits=limits)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "score": result.score}))
'''


def test_a_reply_of_shared_tensors_stays_within_the_judges_memory(sandbox: BwrapLauncher) -> None:
    """40 references to one 64 MiB tensor: decoded once per reference that would be 2.5 GiB in the judge;
    the decode budget refuses the answer, and the judge's peak stays under 1 GiB above its baseline."""
    limits = {k: getattr(LIMITS, k) for k in ("memory_bytes", "cpu_seconds", "processes", "file_bytes", "open_files",
                                              "cell_timeout", "call_timeout", "output_bytes", "grace_seconds")}
    run = subprocess.run([sys.executable, "-c", PEAK, str(BY_NAME["shared-tensor-bomb"].path), json.dumps(limits)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "GRADERS_SANDBOX": "bubblewrap"})
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["score"] == 2.0, got  # describe's honest answer; the bombs earn nothing
    assert got["peak"] - got["base"] < 1024**3, f"the judge grew by {(got['peak'] - got['base']) / 1024**2:.0f} MiB"
