"""A small class graded end to end: autograded/, the gradebook, nbgrader export, resuming, Dask.

The class: correct, partly wrong, stubs, a broken file, a hang, another assignment's notebook and a
misnamed notebook. One in-process run is shared by most tests; the kill test runs the real CLI.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graders.autograde import autograde
from graders.gradebook import read_scores

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LIMITS = {"cell_timeout": 2, "grace_seconds": 1}


TEST_COURSE_SECRET = "0" * 63 + "1"


def make_course(base: Path) -> Path:
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, base / name)
    shutil.copy(ROOT / "nbgrader_config.py", base)
    # one course secret for every test course: two courses grading the same class derive the same
    # per-student hidden inputs (graders/secret.py), as two runs of one course do
    (base / ".graders-secret").write_text(TEST_COURSE_SECRET + "\n")
    (base / ".graders-secret").chmod(0o600)
    return base


def submit(course: Path, student: str, src: Path | bytes, *, name: str = "tensors.ipynb", extra_cell: str | None = None) -> Path:
    target = course / "submitted" / student / "tensors" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    data = src if isinstance(src, bytes) else src.read_bytes()
    if extra_cell is not None:
        nb = json.loads(data)
        nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": extra_cell})
        data = json.dumps(nb).encode()
    target.write_bytes(data)
    return target


CLASS = {
    "ann": "correct", "bo": "wrong-dtype", "cy": "stubs", "di": "not-a-notebook",
}


def make_class(course: Path) -> None:
    for student, scenario in CLASS.items():
        submit(course, student, DATA / "tensors" / f"{scenario}.ipynb")
    submit(course, "ed", DATA / "tensors" / "correct.ipynb", extra_cell="while True:\n    pass")  # hangs after its answers
    submit(course, "fay", DATA / "autograd" / "correct.ipynb")  # the wrong assignment
    submit(course, "gus", DATA / "tensors" / "correct.ipynb", name="tensors (1).ipynb")  # misnamed


@pytest.fixture(scope="module")
def batch_launcher(launcher):  # type: ignore[no-untyped-def]
    """The default (zygote) where bubblewrap works, as in production; else the plain fixture launcher."""
    from graders.sandbox.bwrap import bwrap_problem

    return None if bwrap_problem() is None else launcher


@pytest.fixture(scope="module")
def graded(tmp_path_factory, batch_launcher):  # type: ignore[no-untyped-def]
    course = make_course(tmp_path_factory.mktemp("course"))
    make_class(course)
    old = os.environ.get("GRADERS_COURSE_ROOT")
    os.environ["GRADERS_COURSE_ROOT"] = str(course)
    try:
        run = autograde(assignment="tensors", root=course, workers=1, progress=False, launcher=batch_launcher,
                        device="cpu", limits=LIMITS)
    finally:
        if old is None:
            os.environ.pop("GRADERS_COURSE_ROOT", None)
        else:
            os.environ["GRADERS_COURSE_ROOT"] = old
    return course, run


def test_every_submission_gets_a_result_and_the_batch_goes_on(graded) -> None:  # type: ignore[no-untyped-def]
    _course, run = graded
    by = run.by_student()
    assert sorted(by) == ["ann", "bo", "cy", "di", "ed", "fay", "gus"]
    assert sorted(run.graded) == sorted(by) and run.up_to_date == []
    assert (by["ann"].status, by["ann"].score) == ("graded", 10.0)
    assert (by["bo"].status, by["bo"].score) == ("graded", 8.5)
    assert (by["cy"].status, by["cy"].score) == ("graded", 0.0)
    assert by["ed"].score == 10.0 and [c.status for c in by["ed"].cells][-1] == "timeout"  # the hang cost only its cell
    assert by["di"].status == "error" and "not a Jupyter notebook" in (by["di"].message or "")
    assert "submitted/di/tensors/tensors.ipynb" in (by["di"].message or "")  # the path a person knows, not a temp file
    assert by["fay"].status == "error" and "'autograd'" in (by["fay"].message or "")
    assert by["gus"].status == "error" and "tensors (1).ipynb" in (by["gus"].message or "")


def test_autograded_holds_the_executed_notebook_and_result_json(graded) -> None:  # type: ignore[no-untyped-def]
    course, _run = graded
    out = course / "autograded" / "bo" / "tensors"
    record = json.loads((out / "result.json").read_text())
    assert record["score"] == 8.5 and record["cells"] and record["checks"]
    assert len(record["autograde"]["submission_sha256"]) == 64 and len(record["autograde"]["checks_sha256"]) == 64
    nb = json.loads((out / "tensors.ipynb").read_text())
    grade_cells = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    shown = {c["metadata"]["nbgrader"]["grade_id"]: c["outputs"][0]["data"]["text/markdown"] for c in grade_cells}
    assert shown["describe"].startswith("**describe: 2 / 2 points**")
    assert shown["one_hot"].startswith("**one_hot: 0.5 / 2 points**") and "expected float32" in shown["one_hot"]
    student_outputs = [o for c in nb["cells"] if c["cell_type"] == "code" and c not in grade_cells for o in c["outputs"]]
    assert any(o["output_type"] == "execute_result" for o in student_outputs)  # the student's own outputs are there
    assert not (course / "autograded" / "di" / "tensors" / "tensors.ipynb").exists()  # nothing to show for a broken file
    assert json.loads((course / "autograded" / "di" / "tensors" / "result.json").read_text())["status"] == "error"
    assert not list((course / "autograded").rglob(".tmp-*"))


def test_scores_are_in_the_gradebook_and_nbgrader_export_shows_them(graded) -> None:  # type: ignore[no-untyped-def]
    course, run = graded
    scores = {r["student"]: r for r in read_scores(root=course)}
    assert {s: scores[s]["score"] for s in scores} == {r.student: (r.score if r.status == "graded" else 0.0) for r in run}
    assert scores["bo"]["questions"]["one_hot"]["auto_score"] == 0.5
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "export", "--to", "grades.csv"], cwd=course, env=env,
                   check=True, capture_output=True, timeout=120)
    with (course / "grades.csv").open() as f:
        exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert exported == {"ann": 10.0, "bo": 8.5, "cy": 0.0, "di": 0.0, "ed": 10.0, "fay": 0.0, "gus": 0.0}


def test_unchanged_submissions_are_not_graded_again_and_a_changed_one_is(graded, batch_launcher) -> None:  # type: ignore[no-untyped-def]
    course, _run = graded
    stamp = {p: p.stat().st_mtime_ns for p in (course / "autograded").rglob("result.json")}
    again = autograde(assignment="tensors", root=course, workers=1, progress=False, launcher=batch_launcher, device="cpu", limits=LIMITS)
    assert again.graded == [] and sorted(again.up_to_date) == ["ann", "bo", "cy", "di", "ed", "fay", "gus"]
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert [r.score for r in again] == [r.score for r in _run]
    submit(course, "bo", DATA / "tensors" / "correct.ipynb")  # bo fixes the dtype and submits again
    third = autograde(assignment="tensors", root=course, workers=1, progress=False, launcher=batch_launcher, device="cpu", limits=LIMITS)
    assert third.graded == ["bo"] and third.by_student()["bo"].score == 10.0
    assert {r["student"]: r["score"] for r in read_scores(root=course)}["bo"] == 10.0


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(k) for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
            except OSError:
                continue
            for k in kids:
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_run_killed_half_way_resumes_without_grading_anything_twice(tmp_path: Path, batch_launcher) -> None:  # type: ignore[no-untyped-def]
    course = make_course(tmp_path)
    for i, scenario in enumerate(["correct", "wrong-dtype", "stubs", "correct-alternative"]):
        submit(course, f"s{i}", DATA / "tensors" / f"{scenario}.ipynb")
    for i in (4, 5):  # slow ones: the run cannot be over when the first result appears
        submit(course, f"s{i}", DATA / "tensors" / "correct.ipynb", extra_cell="import time\ntime.sleep(2)")
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(course)}
    cmd = [str(Path(sys.executable).parent / "graders"), "autograde", "tensors", "--workers", "2", "--quiet", "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = course / "autograded"
    deadline = time.monotonic() + 180
    try:
        while not list(results.rglob("result.json")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no result appeared"
            time.sleep(0.02)
        helpers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = {p.parent.parent.name: p.stat().st_mtime_ns for p in results.rglob("result.json")}
    assert 1 <= len(done_before) < 6, done_before
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in helpers if _alive(p)], "judge processes or workers outlived the killed run"

    resumed = autograde(assignment="tensors", root=course, workers=1, progress=False, launcher=batch_launcher, device="cpu")
    assert sorted(resumed.up_to_date) == sorted(done_before)
    assert sorted(resumed.graded) == sorted({f"s{i}" for i in range(6)} - set(done_before))
    assert {s: (results / s / "tensors" / "result.json").stat().st_mtime_ns for s in done_before} == done_before
    assert {r.student: r.score for r in resumed} == {"s0": 10.0, "s1": 8.5, "s2": 0.0, "s3": 10.0, "s4": 10.0, "s5": 10.0}
    assert len(read_scores(root=course)) == 6
    assert not list(results.rglob(".tmp-*"))


def test_a_dask_localcluster_gives_the_same_results_as_a_local_run(graded, tmp_path: Path, batch_launcher) -> None:  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    _course, local = graded
    course = make_course(tmp_path)
    for student, scenario in CLASS.items():
        submit(course, student, DATA / "tensors" / f"{scenario}.ipynb")
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        run = autograde(assignment="tensors", root=course, cluster=cluster, progress=False, launcher=batch_launcher, device="cpu")
        hosts = {json.loads((course / "autograded" / s / "tensors" / "result.json").read_text())["autograde"]["judge"].get("pid")
                 for s in ("ann", "bo", "cy")}
    assert os.getpid() not in hosts  # graded in the cluster's worker processes, written here

    def essence(r):  # type: ignore[no-untyped-def]
        return (r.status, r.score, [(c.id, c.status, c.points, c.message) for c in r.checks], (r.message or "").split(":")[0])

    theirs, ours = run.by_student(), local.by_student()
    assert sorted(theirs) == sorted(CLASS)
    for student in CLASS:
        assert essence(theirs[student]) == essence(ours[student]), student
    assert {r["student"]: r["score"] for r in read_scores(root=course)} == {"ann": 10.0, "bo": 8.5, "cy": 0.0, "di": 0.0}


def test_the_demo_grades_the_bundled_example_class(tmp_path: Path, batch_launcher, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import io

    from graders.demo import run_demo

    course = make_course(tmp_path)
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(course))
    if batch_launcher is not None:
        pytest.skip("the demo grades with the default launcher, which warns where bubblewrap cannot run")
    out = io.StringIO()
    runs = run_demo(root=course, workers=1, progress=False, generate=False, reports=False, file=out)
    by = runs["tensors"].by_student()
    assert {s: r.score for s, r in by.items() if r.status == "graded"} == {
        "ada": 10.0, "ben": 10.0, "chloe": 4.0, "dev": 8.5, "emil": 0.0, "mallory": 0.0}
    assert by["fatima"].status == "error"  # the broken upload
    attack = next(c for c in by["mallory"].cells if "visible" in c.stdout)
    assert "graders/assignments/tensors.py not visible" in attack.stdout and "gradebook.db not visible" in attack.stdout
    assert "the class: points per assignment" in out.getvalue()
    assert not host_processes_with("600")


def host_processes_with(arg: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd[:1] == [b"sleep"] and arg.encode() in cmd:
                pids.append(int(entry))
    return pids


def test_a_big_batch_keeps_a_small_summary_of_each_result_in_memory(graded) -> None:  # type: ignore[no-untyped-def]
    import copy

    from graders.autograde import _slim

    _course, run = graded
    for r in run:
        slim = _slim(copy.deepcopy(r))
        assert slim.question_scores() == r.question_scores() and slim.score == r.score and slim.status == r.status
        assert [c.status for c in slim.cells] == [c.status for c in r.cells if c.status != "ok"]
        assert all(not c.stdout for c in slim.cells)
    ed = _slim(copy.deepcopy(run.by_student()["ed"]))
    assert [c.status for c in ed.cells] == ["timeout"]
    bo = _slim(copy.deepcopy(run.by_student()["bo"]))
    assert {c.id: c.status for c in bo.checks}["one_hot"] == "failed" and len(bo.checks) == len(bo.question_scores())
