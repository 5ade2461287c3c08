"""`graders autograde --cluster` on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on localhost, started here and stopped at the end (one worker declares `GPU=1`).

Same results as local grading; a killed run resumes; a worker killed half way loses nothing; the
warm-up plugin readies every worker; a GPU-tagged task lands only on the worker with the resource.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graders.autograde import autograde
from graders.gradebook import read_scores

from .test_autograde import CLASS, DATA, LIMITS, batch_launcher, make_course, submit  # noqa: F401 - a fixture

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def _start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}  # ROOT: tests._where
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (a nanny and its worker, a worker's zygote), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)


class Cluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.file = base / "scheduler.json"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def start(self) -> Cluster:
        self.procs.append(_start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(self.file)], self.base / "scheduler.log"))
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert self.procs[0].poll() is None, (self.base / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]
        for name, extra in (("plain", []), ("gpu", ["--resources", "GPU=1"])):
            self.procs.append(_start([str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--name", name,
                                      "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0", *extra],
                                     self.base / f"worker-{name}.log"))
        self.wait_for_workers(2)
        return self

    def client(self):  # type: ignore[no-untyped-def]
        from distributed import Client

        return Client(self.address, timeout="30s", set_as_default=False)

    def wait_for_workers(self, n: int) -> None:
        with self.client() as c:
            c.wait_for_workers(n, timeout=120)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):  # type: ignore[no-untyped-def]
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield c.start()
    finally:
        c.stop()


def essence(r):  # type: ignore[no-untyped-def]
    return (r.status, r.score, [(c.id, c.status, c.points, c.message) for c in r.checks], (r.message or "").split(":")[0])


def test_a_real_cluster_grades_as_the_local_run_does_and_warms_its_workers(cluster, tmp_path: Path, batch_launcher) -> None:  # type: ignore[no-untyped-def]
    courses = []
    for where in ("local", "cluster"):
        course = make_course(tmp_path / where)
        for student, scenario in CLASS.items():
            submit(course, student, DATA / "tensors" / f"{scenario}.ipynb")
        courses.append(course)
    local = autograde(assignment="tensors", root=courses[0], workers=1, progress=False, launcher=batch_launcher, device="cpu")
    course = courses[1]
    run = autograde(assignment="tensors", root=course, cluster=cluster.address, progress=False, launcher=batch_launcher, device="cpu")
    assert run.executor.startswith("Dask cluster tcp://127.0.0.1:")
    theirs, ours = run.by_student(), local.by_student()
    assert sorted(theirs) == sorted(CLASS)
    for student in CLASS:
        assert essence(theirs[student]) == essence(ours[student]), student
    judges = {json.loads((course / "autograded" / s / "tensors" / "result.json").read_text())["autograde"]["judge"].get("pid")
              for s in ("ann", "bo", "cy")}
    assert os.getpid() not in judges
    assert {r["student"]: r["score"] for r in read_scores(root=course)} == {"ann": 10.0, "bo": 8.5, "cy": 0.0, "di": 0.0}

    with cluster.client() as c:  # the plugin warmed both workers, the one that graded nothing too
        warm = c.run(_warm_assignments)
    assert sorted(warm.values()) == [["tensors"], ["tensors"]], warm

    again = autograde(assignment="tensors", root=course, cluster=cluster.address, progress=False, launcher=batch_launcher, device="cpu")
    assert again.graded == [] and sorted(again.up_to_date) == sorted(CLASS)


def _warm_assignments() -> list[str]:
    from graders.autograde import _JUDGES

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        warm = sorted({a for j in _JUDGES.values() for a in j._warm})
        if warm:
            return warm
        time.sleep(0.1)
    return []


def test_a_worker_killed_half_way_loses_nothing_and_records_each_result_once(cluster, tmp_path: Path, batch_launcher) -> None:  # type: ignore[no-untyped-def]
    import threading

    course = make_course(tmp_path)
    students = [f"s{i}" for i in range(6)]
    for s in students:  # each takes a second or more, so a worker is busy when it is killed
        submit(course, s, DATA / "tensors" / "correct.ipynb", extra_cell="import time\ntime.sleep(1.5)")
    killed: dict[str, int] = {}

    def kill_a_busy_worker() -> None:
        with cluster.client() as c:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                busy = [addr for addr, keys in c.processing().items() if keys]
                results = list((course / "autograded").rglob("result.json"))
                if busy and results:  # half way: one result in, work in flight
                    pids = c.run(os.getpid, workers=[busy[0]])
                    killed["pid"] = pids[busy[0]]
                    os.kill(killed["pid"], signal.SIGKILL)  # as the OOM killer would: the nanny starts a new one
                    return
                time.sleep(0.05)

    t = threading.Thread(target=kill_a_busy_worker)
    t.start()
    run = autograde(assignment="tensors", root=course, cluster=cluster.address, progress=False, launcher=batch_launcher,
                    device="cpu", limits={"cell_timeout": 20})
    t.join()
    assert killed, "no worker was killed"
    assert sorted(run.graded) == students  # each recorded once
    assert {r.student: (r.status, r.score) for r in run} == {s: ("graded", 10.0) for s in students}
    assert len(read_scores(root=course)) == 6
    judges = {json.loads((course / "autograded" / s / "tensors" / "result.json").read_text())["autograde"]["judge"]["pid"] for s in students}
    assert killed["pid"] not in judges or len(judges) >= 2
    cluster.wait_for_workers(2)  # the nanny replaced it


def test_a_killed_cluster_run_resumes_without_grading_anything_twice(cluster, tmp_path: Path, batch_launcher) -> None:  # type: ignore[no-untyped-def]
    course = make_course(tmp_path)
    for i, scenario in enumerate(["correct", "wrong-dtype", "stubs", "correct"]):
        submit(course, f"s{i}", DATA / "tensors" / f"{scenario}.ipynb", extra_cell="import time\ntime.sleep(1)")
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(course)}
    cmd = [str(BIN / "graders"), "autograde", "tensors", "--cluster", cluster.address, "--quiet", "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = course / "autograded"
    deadline = time.monotonic() + 120
    try:
        while not list(results.rglob("result.json")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no result appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = {p.parent.parent.name: p.stat().st_mtime_ns for p in results.rglob("result.json")}
    assert 1 <= len(done_before) < 4, done_before
    resumed = autograde(assignment="tensors", root=course, cluster=cluster.address, progress=False, launcher=batch_launcher, device="cpu")
    assert sorted(resumed.up_to_date) == sorted(done_before)
    assert sorted(resumed.graded) == sorted({f"s{i}" for i in range(4)} - set(done_before))
    assert {s: (results / s / "tensors" / "result.json").stat().st_mtime_ns for s in done_before} == done_before
    assert {r.student: r.score for r in resumed} == {"s0": 10.0, "s1": 8.5, "s2": 0.0, "s3": 10.0}


def test_a_gpu_tagged_task_lands_only_on_the_worker_with_the_gpu_resource(cluster) -> None:  # type: ignore[no-untyped-def]
    from graders.autograde import JudgeSettings
    from graders.cluster import DaskExecutor
    from graders.course import get_assignment

    assert get_assignment("classification").gpu and get_assignment("vision").gpu and not get_assignment("tensors").gpu
    with cluster.client() as c:
        ex = DaskExecutor(c, JudgeSettings(sandbox="none"), ["tensors"], gpu={"classification"})
        gpu_addr = [a for a, w in c.scheduler_info()["workers"].items() if w.get("resources", {}).get("GPU")]
        assert len(gpu_addr) == 1
        tagged = {"assignment": "classification", "device": "auto"}
        assert ex.resources_for(tagged) == {"GPU": 1}
        assert ex.resources_for({"assignment": "tensors", "device": "auto"}) is None
        assert ex.resources_for({**tagged, "device": "cpu"}) is None
        futs = [c.submit(_where, i, pure=False, resources=ex.resources_for(tagged)) for i in range(6)]
        assert set(c.gather(futs)) == {gpu_addr[0]}
        for f in futs:
            f.release()
        caps = c.run(os.getenv, "GRADERS_GPU_MEMORY_FRACTION")  # the worker plugin set a GPU memory cap
        assert caps[gpu_addr[0]] == "0.900" and [v for a, v in caps.items() if a != gpu_addr[0]] == [None]


def _where(_i: int) -> str:
    from distributed import get_worker

    time.sleep(0.05)
    return str(get_worker().address)
