"""nbgrader's own commands, run for real in a scratch copy of the course, grade only through graders.

`nbgrader autograde` (what the formgrader's Autograde button runs) on a class with an attacking
submission: the attack (read the hidden checks, `UPDATE grade SET manual_score = 1000` on
gradebook.db, plant files in the course root, /tmp and the home folder) runs in the sandbox and
achieves nothing; the gradebook holds exactly the scores `graders autograde` gives. `nbgrader
generate_feedback` writes `graders feedback`'s pages (no hidden message). `nbgrader validate` on a
submission, and `nbgrader autograde` of an assignment graders has no checks for, refuse before any
student code runs (their notebooks would plant a file in the host's /tmp).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from graders.nbgrader_routes import execution_refusal

from .classroom import DATA, ROOT, course_copy

sys.path.insert(0, str(ROOT / "tests" / "data"))
from fill import fill  # noqa: E402

MARK = "graders-route-7c2e"


def _no_sandbox() -> str | None:
    from graders.sandbox.bwrap import bwrap_problem

    return bwrap_problem()


pytestmark = pytest.mark.skipif(_no_sandbox() is not None, reason="without bubblewrap the worker sees the host's files: "
                                "the containment asserted here needs the sandbox (scripts/install-system-packages.sh)")
NBGRADER = Path(sys.executable).parent / "nbgrader"


def _attack(root: Path) -> str:
    """An answer cell that attacks the grader (as nbgrader's own Execute would let it)."""
    package = ROOT / "graders"
    return f'''
import glob, os, sqlite3
stolen = [p for p in glob.glob("{package}/assignments/*.py") + glob.glob("{root}/gradebook.db") if open(p, "rb").read(1)]
print("stolen:", len(stolen))
try:
    con = sqlite3.connect("{root}/gradebook.db")
    con.execute("UPDATE grade SET manual_score = 1000")
    con.commit()
    print("gradebook: edited")
except Exception as exc:
    print("gradebook:", exc)
for folder in ["{root}", "/tmp", os.path.expanduser("~"), "{Path.home()}"]:
    try:
        open(os.path.join(folder, "{MARK}-planted"), "w").write("x")
    except OSError:
        pass
'''


def _planted(root: Path) -> list[Path]:
    return [p for d in (root, Path("/tmp"), Path.home()) for p in d.glob(f"{MARK}-planted")]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GRADERS_COURSE_ROOT"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NBGRADER), *args], cwd=root, env=_env(), capture_output=True, text=True, timeout=900)


def _grades(root: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(root / "gradebook.db") as con:
        return sorted(con.execute("SELECT s.student_id, g.cell_id, g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade "
                                  "FROM grade g JOIN submitted_notebook n ON g.notebook_id = n.id "
                                  "JOIN submitted_assignment s ON n.assignment_id = s.id").fetchall())


def _checks(root: Path, student: str) -> list[tuple[str, str, float, str]]:
    record = json.loads((root / "autograded" / student / "tensors" / "result.json").read_text(encoding="utf-8"))
    return [(c["id"], c["status"], c["points"], c["message"]) for c in record["checks"]]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh course (no gradebook yet): alice correct, mallory attacking; graded by `nbgrader autograde`."""
    for p in _planted(Path("/tmp")):  # left by an earlier, interrupted run
        p.unlink()
    root = course_copy(tmp_path_factory.mktemp("nbgrader") / "course")
    (root / "submitted" / "alice" / "tensors").mkdir(parents=True)
    shutil.copy(DATA / "correct.ipynb", root / "submitted" / "alice" / "tensors" / "tensors.ipynb")
    mallory = root / "submitted" / "mallory" / "tensors"
    fill(root / "release" / "tensors" / "tensors.ipynb", {"describe": _attack(root)}, mallory / "tensors.ipynb")
    # files beside the notebook: a forged result, and a module a Jupyter kernel started in this folder would import
    (mallory / "result.json").write_text(json.dumps({"assignment": "tensors", "student": "mallory", "status": "graded",
                                                      "score": 10.0, "max_score": 10.0, "checks": []}))
    (mallory / "ipykernel_launcher.py").write_text(f"open('/tmp/{MARK}-planted', 'w').write('kernel started here')\n")
    done = _nbgrader(root, "autograde", "tensors", "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_nbgrader_autograde_grades_in_the_sandbox_and_contains_the_attack(course: Path) -> None:
    assert not _planted(course)
    record = json.loads((course / "autograded" / "mallory" / "tensors" / "result.json").read_text(encoding="utf-8"))
    assert record["sandbox"] == "bubblewrap"
    attack = next(c for c in record["cells"] if "stolen:" in c.get("stdout", ""))
    assert attack["status"] == "ok" and "stolen: 0" in attack["stdout"] and "gradebook: edited" not in attack["stdout"]
    grades = _grades(course)
    assert {row[0] for row in grades} == {"alice", "mallory"}
    assert all(row[3] is None for row in grades), grades  # no manual score appeared
    scores = {s: sum(r[2] for r in grades if r[0] == s) for s in ("alice", "mallory")}
    assert scores == {"alice": 10.0, "mallory": 0.0}
    assert record["score"] == 0.0 and record["checks"]  # graders' result, not the forged one
    # the autograded notebook is graders': the student's outputs and, under each grade cell, its checks
    nb = json.loads((course / "autograded" / "alice" / "tensors" / "tensors.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["graders"]["result"]["score"] == 10.0


def test_the_same_scores_and_results_as_graders_autograde(course: Path, launcher) -> None:  # type: ignore[no-untyped-def]
    from graders.autograde import autograde

    before = _grades(course)
    checks = {s: _checks(course, s) for s in ("alice", "mallory")}
    autograde(assignment="tensors", root=course, workers=1, launcher=launcher, force=True, progress=False)
    assert _grades(course) == before
    assert {s: _checks(course, s) for s in ("alice", "mallory")} == checks


def test_nbgrader_generate_feedback_writes_graders_pages(course: Path) -> None:
    from graders.autograded import results_of

    done = _nbgrader(course, "generate_feedback", "tensors", "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    page = (course / "feedback" / "mallory" / "tensors" / "tensors.html").read_text(encoding="utf-8")
    assert "Score: 0 / 10" in page and "a hidden check (" in page
    _folder, result = results_of(assignment="tensors", root=course)["mallory"]
    public = {c.message for c in result.checks if not c.hidden}
    hidden = {c.message for c in result.checks if c.hidden and c.status != "passed" and c.message} - public
    assert hidden and not any(m in page or html.escape(m) in page for m in hidden)
    # graders' own files (every check's message) stay in autograded/; nbgrader copies only the student's extra files
    assert sorted(p.name for p in (course / "feedback" / "mallory" / "tensors").iterdir()) == ["ipykernel_launcher.py", "tensors.html"]


def test_nbgrader_validate_refuses_a_submission_before_running_it(course: Path) -> None:
    done = _nbgrader(course, "validate", "submitted/mallory/tensors/tensors.ipynb")
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "nbgrader would run that student code outside the sandbox" in text
    assert f"graders check {course / 'submitted' / 'mallory' / 'tensors' / 'tensors.ipynb'}" in text
    # refused before a kernel started: unsandboxed, the notebook (or the ipykernel_launcher.py beside it, which a
    # kernel started in that folder imports first) would have planted a file in /tmp
    assert not _planted(course)


def test_an_assignment_without_checks_is_refused_not_executed(course: Path) -> None:
    """nbgrader knows the assignment (its gradebook has it), graders has no checks: nbgrader must not run it itself."""
    from graders.gradebook import open_gradebook

    with open_gradebook(root=course) as gb:
        gb.add_assignment("essay")
        gb.add_notebook("essay", "essay")
        gb.add_grade_cell("q1", "essay", "essay", max_score=1, cell_type="code")
    fill(course / "release" / "tensors" / "tensors.ipynb", {"describe": _attack(course)},
         course / "submitted" / "alice" / "essay" / "essay.ipynb")
    done = _nbgrader(course, "autograde", "essay", "--student", "alice", "--force")
    assert done.returncode != 0
    assert "assignment 'essay' has no checks in graders/assignments/" in done.stdout + done.stderr
    assert not _planted(course)


@pytest.mark.parametrize(("where", "autograding", "refused"), [
    ("submitted/bob/tensors", False, "submitted/ folder"),
    ("autograded/bob/tensors", False, "autograded/ folder"),
    ("release/tensors", False, None),  # a student validating their own notebook: runs, in their kernel
    ("release/tensors", True, "graders autograde"),
    (".exchange/course/inbound/bob+tensors+2026", False, "exchange inbox"),
])
def test_nbgraders_execute_is_refused_where_student_submissions_live(tmp_path: Path, where: str, autograding: bool,
                                                                      refused: str | None) -> None:
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / ".exchange" / "course" / "outbound").mkdir(parents=True)
    folder = tmp_path / where
    folder.mkdir(parents=True)
    why = execution_refusal(notebook_dir=folder, autograding=autograding)
    assert (why is None) if refused is None else (refused in str(why)), why
