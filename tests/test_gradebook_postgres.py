"""The gradebook on a real PostgreSQL server (`--db postgresql://...`), started by the test itself
(tests/postgres.py: Debian's binaries, a throwaway cluster in a temporary folder).

Two `graders autograde` runs of different assignments, same students, writing at once into one new
database: nothing is lost. `nbgrader export` (and so the formgrader, which reads the same
`CourseDirectory.db_url` from nbgrader_config.py) sees the scores.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graders.gradebook import read_scores

from .postgres import PostgresServer, Unavailable
from .test_autograde import DATA, make_course

BIN = Path(sys.executable).parent
STUDENTS = {"ann": "correct", "bo": "stubs", "cy": "correct"}


@pytest.fixture(scope="module")
def postgres():  # type: ignore[no-untyped-def]
    try:
        server = PostgresServer().start()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server for the gradebook tests: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _submit(course: Path, assignment: str) -> None:
    for student, scenario in STUDENTS.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / f"{assignment}.ipynb").write_bytes((DATA / assignment / f"{scenario}.ipynb").read_bytes())
        (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")


def test_two_runs_writing_at_once_lose_nothing_and_nbgrader_export_reads_postgres(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    course = make_course(tmp_path)
    url = postgres.url()
    with (course / "nbgrader_config.py").open("a") as f:  # what the formgrader and nbgrader export read
        f.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
    for a in ("tensors", "autograd"):
        _submit(course, a)
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(course), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    procs = [subprocess.Popen([str(BIN / "graders"), "autograde", a, "--workers", "1", "--quiet", "--device", "cpu", "--db", url],
                              cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a in ("tensors", "autograd")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    scores = {(r["assignment"], r["student"]): r["score"] for r in read_scores(root=course, db_url=url)}
    assert scores == {("tensors", "ann"): 10.0, ("tensors", "bo"): 0.0, ("tensors", "cy"): 10.0,
                      ("autograd", "ann"): 10.0, ("autograd", "bo"): 0.0, ("autograd", "cy"): 10.0}
    assert not (course / "gradebook.db").exists()  # nothing went to the default SQLite file

    subprocess.run([str(BIN / "nbgrader"), "export", "--to", "grades.csv"], cwd=course, env=env, check=True,
                   capture_output=True, timeout=120)
    with (course / "grades.csv").open() as f:
        exported = {(r["assignment"], r["student_id"]): float(r["score"]) for r in csv.DictReader(f)}
    assert exported == scores

    rerun = subprocess.run([str(BIN / "graders"), "autograde", "tensors", "--quiet", "--db", url], cwd=course, env=env,
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and "3 up to date" in rerun.stdout, rerun.stdout + rerun.stderr


def test_an_unreachable_postgres_url_is_a_one_line_error(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    course = make_course(tmp_path)
    _submit(course, "tensors")
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(course)}
    bad = postgres.url("no_such_database")
    proc = subprocess.run([str(BIN / "graders"), "autograde", "tensors", "--quiet", "--workers", "1", "--db", bad], cwd=course,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "no_such_database" in proc.stderr, proc.stderr
    assert len(list((course / "autograded").rglob("result.json"))) == 3  # the grading itself is kept
