"""Gradescope: results.json (validated against graders/schemas/gradescope-results.schema.json) and the
autograder.zip, whose setup.sh and run_autograder really run against a scratch copy of Gradescope's
/autograder layout (source, submission, results) and grade a correct and a wrong submission."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from graders.errors import CourseError, GradersError
from graders.gradescope import (
    SCHEMA,
    build_autograder,
    fenced,
    find_submission,
    md_text,
    read_settings,
    results_json,
)
from graders.result import CellOutcome, CheckResult, SubmissionResult

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "tensors"


def validate(data: dict) -> None:
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(data)


@pytest.fixture(scope="module")
def wrong_shape() -> dict:
    """`graders grade NB --assignment tensors --format gradescope` of the wrong-shape scenario."""
    proc = subprocess.run([sys.executable, "-m", "graders", "grade", str(DATA / "wrong-shape.ipynb"), "--assignment", "tensors",
                           "--format", "gradescope"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_grade_format_gradescope_validates(wrong_shape: dict) -> None:
    validate(wrong_shape)
    tests = wrong_shape["tests"]
    assert 0 < wrong_shape["score"] < 10 and wrong_shape["score"] == sum(t["score"] for t in tests)
    assert sum(t["max_score"] for t in tests) == 10
    assert {t["visibility"] for t in tests if "hidden" in t["tags"]} == {"after_published"}
    assert {t["visibility"] for t in tests if "public" in t["tags"]} == {"visible"}
    assert all(t["status"] == ("passed" if t["score"] == t["max_score"] else "failed") for t in tests if t["max_score"])
    assert [t["number"] for t in tests if t["tags"][0] == "matmul"][:2] == ["3.1", "3.2"]
    failing = next(t for t in tests if t["name"] == "matmul: matmul_small")
    assert failing["status"] == "failed" and failing["output_format"] == "md"
    assert "returned shape (5, 3), expected (3, 5)" in failing["output"]
    assert wrong_shape["stdout_visibility"] == "hidden" and wrong_shape["visibility"] == "visible"


def _synthetic() -> SubmissionResult:
    trace = "Net.forward on a (5, 2) batch:\n  fc  Linear(8 → 1)  (5, 2) → ✗ expects 8 input features, got 2 ```"
    checks = [
        CheckResult("circle_model::circle_model_interface", "circle_model", "error", 0, 0, False,
                    message="`Net` raised RuntimeError: <script>alert(1)</script>\n# not a title\n" + trace, trace=trace),
        CheckResult("circle_model::circle_model_accuracy_085", "circle_model", "failed", 0, 3, True,
                    message="reached 0.500 accuracy", metrics={"accuracy": 0.5},
                    curves=[{"call": "train", "per": "step", "steps": 4, "x": [1, 2, 3, 4], "loss": [0.69, 0.69, 0.69, 0.69],
                             "first_nonfinite": None, "first": 0.69, "last": 0.69}]),
        CheckResult("accuracy::accuracy_small", "accuracy", "passed", 1, 1, False),
    ]
    return SubmissionResult("classification", "", "graded", score=1, max_score=10, duration_s=3.2, sandbox="uid", checks=checks,
                            cells=[CellOutcome(2, "error", error="NameError: name 'x' is not defined")])


def test_messages_are_markdown_safe_and_traces_fenced() -> None:
    data = results_json(_synthetic(), settings={"hidden_visibility": "after_due_date"})
    validate(data)
    first = data["tests"][0]["output"]
    assert "&lt;script&gt;" in first and "<script>" not in first and "\\# not a title" in first
    assert "````text\nNet.forward on a (5, 2) batch:" in first  # the fence outgrows the backticks inside
    assert [t["number"] for t in data["tests"]] == ["3.1", "3.2", "1.1"]
    assert data["tests"][1]["visibility"] == "after_due_date" and data["tests"][1]["extra_data"]["metrics"] == {"accuracy": 0.5}
    assert "learns nothing" in data["output"] and "cell 3: NameError" in data["output"]
    assert md_text("a_b *c* 1. [x](y)") == "a\\_b \\*c\\* 1. \\[x\\](y)"
    assert fenced("x").startswith("```text")


def test_an_ungradable_submission_still_gets_results() -> None:
    from graders.grade import grade_or_record

    result = grade_or_record(path=DATA / "not-a-notebook.ipynb", assignment="tensors", device="cpu")
    data = results_json(result)
    validate(data)
    assert data["score"] == 0 and data["tests"] == [] and "could not be graded" in data["output"]


def test_settings_per_assignment(tmp_path: Path) -> None:
    mod = tmp_path / "a.py"
    mod.write_text('QUESTIONS = {"q": 1}\nGRADESCOPE = {"hidden_visibility": "hidden", "stdout_visibility": "visible"}\n')
    assert read_settings(mod) == {"hidden_visibility": "hidden", "public_visibility": "visible", "visibility": "visible",
                                  "stdout_visibility": "visible"}
    mod.write_text('GRADESCOPE = {"hidden_visiblity": "hidden"}\n')
    with pytest.raises(CourseError, match="unknown key 'hidden_visiblity'"):
        read_settings(mod)
    mod.write_text('GRADESCOPE = {"visibility": "later"}\n')
    with pytest.raises(CourseError, match="after_published"):
        read_settings(mod)


def test_which_notebook_is_graded(tmp_path: Path) -> None:
    sub = tmp_path / "submission"
    sub.mkdir()
    with pytest.raises(GradersError, match="no notebook"):
        find_submission(sub, "tensors")
    (sub / "repo" / "tensors").mkdir(parents=True)
    shutil.copy(DATA / "correct.ipynb", sub / "repo" / "tensors" / "tensors.ipynb")  # uploaded from GitHub
    (sub / "repo" / "notes.ipynb").write_text("{}")
    assert find_submission(sub, "tensors") == sub / "repo" / "tensors" / "tensors.ipynb"
    shutil.copy(DATA / "correct.ipynb", sub / "tensors.ipynb")
    with pytest.raises(GradersError, match="several notebooks"):
        find_submission(sub, "tensors")


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return build_autograder(assignment="tensors", out=tmp_path_factory.mktemp("gradescope"))


def test_the_zip_holds_what_gradescope_needs_and_only_this_assignment(autograder: Path) -> None:
    with zipfile.ZipFile(autograder) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        lock = zf.read("requirements.lock").decode().splitlines()
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "requirements.lock", "grader/graders/__main__.py",
            "grader/graders/assignments/tensors.py", "grader/graders/worker/serve.py"} <= set(names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    if "GRADERS_HIDDEN_SEED" not in os.environ:  # the course secret travels (privately) for per-student hidden seeds
        with zipfile.ZipFile(autograder) as zf:
            assert zf.read("grader.env").decode().startswith("export GRADERS_COURSE_SECRET=") and modes["grader.env"] == 0o600
    assert sorted(n for n in names if n.startswith("grader/graders/assignments/")) == [
        "grader/graders/assignments/__init__.py", "grader/graders/assignments/tensors.py"]
    assert not any("__pycache__" in n for n in names)
    assert lock[0] == "torch==2.13.0" and all("==" in ln for ln in lock) and not any(ln.startswith("graders==") for ln in lock)
    assert setup.index('"torch==2.13.0"') < setup.index("requirements.lock\"")
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


def _gradescope_world(tmp: Path, zip_path: Path) -> Path:
    """A scratch /autograder: the zip in source/, empty submission/ and results/; setup.sh run as on Gradescope
    (but reusing this test run's Python environment instead of downloading it)."""
    root = tmp / "autograder"
    for d in ("source", "submission", "results"):
        (root / d).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            zf.extract(info, root / "source")
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    env = {**os.environ, "GRADERS_AUTOGRADER_ROOT": str(root), "GRADERS_SETUP_REUSE_VENV": sys.prefix}
    proc = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grader ready for tensors (10 points)" in proc.stdout
    assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "source" / "grader" / "graders" / "assignments" / "tensors.py").stat().st_mode) & 0o077 == 0
    return root


def _run(root: Path, notebook: Path | None, **env: str) -> dict:
    sub = root / "submission"
    shutil.rmtree(sub)
    sub.mkdir()
    (root / "results" / "results.json").unlink(missing_ok=True)
    if notebook is not None:
        shutil.copy(notebook, sub / "tensors.ipynb")
    # Gradescope copies run_autograder to /autograder and runs it from there
    runner = root / "run_autograder"
    shutil.copy(root / "source" / "run_autograder", runner)
    proc = subprocess.run([str(runner)], cwd=root, env={"PATH": os.environ["PATH"], "GRADERS_AUTOGRADER_ROOT": str(root), **env},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    validate(data)
    return data


def test_the_autograder_grades_in_gradescopes_layout(autograder: Path, tmp_path: Path, wrong_shape: dict) -> None:
    root = _gradescope_world(tmp_path, autograder)
    right = _run(root, DATA / "correct.ipynb")
    assert right["score"] == 10 and all(t["status"] == "passed" for t in right["tests"])
    wrong = _run(root, DATA / "wrong-shape.ipynb")
    assert wrong["score"] == wrong_shape["score"] < 10
    assert [(t["name"], t["score"]) for t in wrong["tests"]] == [(t["name"], t["score"]) for t in wrong_shape["tests"]]
    sandbox = wrong["extra_data"]["sandbox"]
    assert sandbox in ("bubblewrap", "uid")  # never unsandboxed (--require-sandbox semantics)
    nothing = _run(root, None)
    assert nothing["score"] == 0 and "no notebook" in nothing["output"]
