"""The zygote: workers forked from a process that imported torch, each in fresh namespaces.

Nothing of one submission may survive into the next: files in /tmp, the work directory or
/dev/shm, a changed module, a detached process. One zygote serves the whole module.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from graders.judge.session import WorkerSession
from graders.sandbox.limits import Limits

DATA = Path(__file__).resolve().parents[1] / "data" / "tensors"
MARK = "31337421"  # a unique argument: the host's /proc shows whether that process still lives


@pytest.fixture(scope="module")
def zygote():  # type: ignore[no-untyped-def]
    from graders.sandbox.zygote import ZygoteLauncher, ZygoteUnavailable

    launcher = ZygoteLauncher(warn=False)
    try:
        launcher.start()
    except ZygoteUnavailable as exc:
        pytest.skip(f"no zygote here: {exc}")
    yield launcher
    launcher.close()


def run_cells(zygote, cells: list[str], limits: Limits | None = None):  # type: ignore[no-untyped-def]
    session = WorkerSession(launcher=zygote, limits=limits or Limits(cell_timeout=20, call_timeout=10), cells=cells)
    outcomes = session.start()
    return session, outcomes


def host_processes_with(arg: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if arg.encode() in cmd:
                pids.append(int(entry))
    return pids


def test_the_zygote_has_one_thread_and_preloaded_torch(zygote) -> None:  # type: ignore[no-untyped-def]
    assert zygote.hello["isolation"] == "namespaces"
    assert zygote.hello["threads"] == 1  # forking a threaded process would copy held locks
    assert "torch" in zygote.hello["preloaded"] and "IPython.core.interactiveshell" in zygote.hello["preloaded"]
    deadline = time.monotonic() + 60
    while (state := zygote.ping())["warming"] and time.monotonic() < deadline:  # the optimizer warm-up, once idle
        time.sleep(0.2)
    assert "training" in state["warmed"] and state["children"] == 0


def test_nothing_of_one_submission_reaches_the_next(zygote) -> None:  # type: ignore[no-untyped-def]
    first, outs = run_cells(zygote, [
        "import os, subprocess, torch\n"
        "open('/tmp/left-behind', 'w').write('x'); open('mine.txt', 'w').write('y'); open('/dev/shm/shm-left', 'w').write('z')\n"
        f"subprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid(); import time; time.sleep(600)\n"
        "torch.graders_was_here = True\n"
        "os.getpid(), sorted(os.listdir('.'))",
    ])
    assert [o.status for o in outs] == ["ok"], outs
    assert outs[0].result == "(2, ['mine.txt'])"  # PID 2 of its own namespace (1 is its init), its own work directory
    assert host_processes_with(MARK), "the detached process should be running while its submission is"
    first.close()
    deadline = time.monotonic() + 5
    while host_processes_with(MARK) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not host_processes_with(MARK), "a detached process outlived its submission"

    second, outs = run_cells(zygote, [
        "import os, torch\n"
        "(os.path.exists('/tmp/left-behind'), os.path.exists('/dev/shm/shm-left'), sorted(os.listdir('.')), "
        "hasattr(torch, 'graders_was_here'), sorted(p for p in os.listdir('/proc') if p.isdigit()))",
    ])
    try:
        assert [o.status for o in outs] == ["ok"], outs
        assert outs[0].result == "(False, False, [], False, ['1', '2'])"
    finally:
        second.close()


def test_the_worker_has_no_privileges_network_or_writable_system(zygote) -> None:  # type: ignore[no-untyped-def]
    session, outs = run_cells(zygote, [
        "import os, socket\n"
        "caps = open('/proc/self/status').read().split('CapEff:')[1].split()[0]\n"
        "def writable(p):\n"
        "    try:\n"
        "        open(p, 'w').close(); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "def online():\n"
        "    try:\n"
        "        socket.create_connection(('1.1.1.1', 53), timeout=1); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "def shared_memory():  # uncounted by rlimits: refused, as in the bubblewrap launcher\n"
        "    import mmap\n"
        "    try:\n"
        "        mmap.mmap(-1, 4096); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "caps, writable('/probe'), writable('/usr/probe'), online(), socket.gethostname(), shared_memory()",
    ])
    try:
        assert [o.status for o in outs] == ["ok"], outs
        assert outs[0].result == "('0000000000000000', False, False, False, 'sandbox', False)"
    finally:
        session.close()


def test_a_hang_an_exit_and_a_crash_are_reported_and_the_zygote_lives_on(zygote) -> None:  # type: ignore[no-untyped-def]
    session, outs = run_cells(zygote, ["x = 1", "while True: pass", "import os; os._exit(3)", "y = 2"],
                              limits=Limits(cell_timeout=1, call_timeout=5, grace_seconds=1))
    try:
        assert [o.status for o in outs] == ["ok", "timeout", "error", "ok"], outs
        assert "exited with code 3" in (outs[2].error or "")
        assert session.eval("user_ns['x'] + user_ns['y']") == 3  # restarted without the bad cells
        with pytest.raises(Exception, match="killed"):
            session.eval("__import__('os').kill(__import__('os').getpid(), 9)")
    finally:
        session.close()
    again, outs = run_cells(zygote, ["z = 40 + 2"])
    try:
        assert outs[0].status == "ok" and again.eval("user_ns['z']") == 42
    finally:
        again.close()


def test_extra_files_arrive_in_the_work_directory(zygote) -> None:  # type: ignore[no-untyped-def]
    session = WorkerSession(launcher=zygote, limits=Limits(), cells=["data = open('data/x.bin', 'rb').read()"],
                            files={"data/x.bin": b"\x00\x01payload"})
    try:
        assert session.start()[0].status == "ok"
        assert session.eval("user_ns['data'].hex()") == b"\x00\x01payload".hex()
    finally:
        session.close()


def test_forking_a_worker_is_fast_and_grades_like_any_launcher(zygote) -> None:  # type: ignore[no-untyped-def]
    from graders.grade import grade_notebook

    times = []
    for _ in range(5):
        t = time.monotonic()
        session, outs = run_cells(zygote, ["a = 1"])
        times.append(time.monotonic() - t)
        session.close()
    assert min(times) < 0.5, times  # ~0.03 s on an idle machine; a new Python with torch takes ~2 s
    r = grade_notebook(path=DATA / "correct.ipynb", assignment="tensors", device="cpu", launcher=zygote)
    assert r.status == "graded" and r.score == 10.0, r.summary()
    assert r.sandbox == zygote.name


def test_a_fork_bomb_does_not_starve_the_submission_beside_it(zygote) -> None:  # type: ignore[no-untyped-def]
    import threading

    bomb: dict[str, object] = {}

    def run_bomb() -> None:
        session, outs = run_cells(zygote, ["import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"],
                                  limits=Limits(cell_timeout=4, call_timeout=5, grace_seconds=1, processes=32))
        bomb["outs"] = outs
        session.close()

    t = threading.Thread(target=run_bomb)
    t.start()
    time.sleep(2)  # the bomb is at its limit by now
    try:
        beside, outs = run_cells(zygote, ["import subprocess\nsubprocess.run(['true']).returncode"])
        try:
            assert [o.status for o in outs] == ["ok"] and outs[0].result == "0", outs
        finally:
            beside.close()
    finally:
        t.join(timeout=60)
    assert [o.status for o in bomb["outs"]] == ["timeout"]  # type: ignore[union-attr]
