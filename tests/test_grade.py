"""End to end: real worker process, real pytest judge, on the tensors scenario notebooks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graders import GradersError
from graders.errors import NotANotebook, UnknownAssignment, WrongAssignment
from graders.grade import grade_notebook, grade_or_record, grade_submission

DATA = Path(__file__).parent / "data" / "tensors"


@pytest.fixture(scope="module")
def graded(launcher):  # type: ignore[no-untyped-def]
    cache = {}

    def get(name: str):  # type: ignore[no-untyped-def]
        if name not in cache:
            cache[name] = grade_notebook(path=DATA / f"{name}.ipynb", assignment="tensors", device="cpu", launcher=launcher)
        return cache[name]

    return get


@pytest.mark.parametrize("name", ["correct", "correct-alternative", "cell-raises"])
def test_correct_answers_get_full_marks(graded, name: str) -> None:  # type: ignore[no-untyped-def]
    r = graded(name)
    assert r.status == "graded"
    assert r.score == r.max_score == 10.0, r.summary()


def test_stubs_score_zero_and_say_not_implemented(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("stubs")
    assert r.score == 0.0 and r.status == "graded"
    assert all("not implemented yet" in c.message for c in r.checks), r.summary()


def test_wrong_shape_loses_points_with_messages(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("wrong-shape")
    q = r.question_scores()
    assert q["describe"] == (2.0, 2.0) and q["one_hot"] == (2.0, 2.0)
    assert q["matmul_shape"][0] == 0.0 and q["matmul"][0] == 0.0
    msgs = {c.id: c.message for c in r.checks}
    assert msgs["matmul::matmul_small"] == (
        "`matmul(a, b)` with a (3, 4) and b (4, 5) returned shape (5, 3), expected (3, 5): the result of (n, k) @ (k, m) is (n, m)")
    assert "returned (3, 4), expected (3, 5)" in msgs["matmul_shape::matmul_shape_2d"]


def test_wrong_dtype_loses_only_one_hot(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("wrong-dtype")
    assert r.score == 8.5
    failed = [c for c in r.checks if c.status != "passed"]
    assert {c.grade_id for c in failed} == {"one_hot"}
    assert all("returned dtype int64, expected float32" in c.message for c in failed)


def test_syntax_error_cell_is_recorded_and_other_questions_graded(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("syntax-error")
    assert r.status == "graded" and r.score == 8.0
    assert any(c.status == "error" and "SyntaxError" in (c.error or "") for c in r.cells)
    # the message points at the cell that did not run, not at "define it"
    assert all(c.message == "`describe` is not defined because cell 4 could not run at line 1 (`def describe(t)`): SyntaxError: expected ':'"
               for c in r.checks if c.grade_id == "describe")


def test_cell_that_raises_is_recorded(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("cell-raises")
    errs = [c for c in r.cells if c.status == "error"]
    assert len(errs) == 1 and "RuntimeError: a cell that raises" in (errs[0].error or "")


def test_result_json_has_the_documented_shape(graded) -> None:  # type: ignore[no-untyped-def]
    d = graded("correct").to_dict()
    assert list(d) == ["assignment", "student", "status", "score", "max_score", "device", "duration_s", "sandbox", "checks"]
    c = d["checks"][0]
    assert list(c) == ["id", "grade_id", "status", "points", "max_points", "hidden", "message", "duration_s"]
    assert sum(ch["max_points"] for ch in d["checks"]) == 10.0
    assert {ch["hidden"] for ch in d["checks"]} == {True, False}


def test_public_only_runs_public_checks(launcher) -> None:  # type: ignore[no-untyped-def]
    r = grade_notebook(path=DATA / "wrong-dtype.ipynb", assignment="tensors", device="cpu", launcher=launcher, public_only=True)
    assert r.checks and not any(c.hidden for c in r.checks)
    assert r.max_score == sum(c.max_points for c in r.checks) < 10


@pytest.mark.parametrize("path,assignment,error", [
    (DATA / "not-a-notebook.ipynb", "tensors", NotANotebook),
    (DATA / "missing.ipynb", "tensors", GradersError),
    (DATA / "correct.ipynb", "nonsense", UnknownAssignment),
    (DATA.parent, "tensors", NotANotebook),
])
def test_bad_input_raises_a_clear_error(path: Path, assignment: str, error: type, launcher) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        grade_notebook(path=path, assignment=assignment, launcher=launcher)
    rec = grade_or_record(path=path, assignment=assignment, launcher=launcher)
    assert rec.status == "error" and rec.message and rec.score == 0


def test_notebook_of_another_assignment(tmp_path: Path, launcher) -> None:  # type: ignore[no-untyped-def]
    nb = json.loads((DATA / "correct.ipynb").read_text())
    nb["metadata"]["graders"]["assignment"] = "vision"
    p = tmp_path / "vision.ipynb"
    p.write_text(json.dumps(nb))
    with pytest.raises(WrongAssignment, match="belongs to assignment 'vision', not 'tensors'"):
        grade_notebook(path=p, assignment="tensors", launcher=launcher)


def test_a_submission_given_as_bytes_is_graded_like_its_file(graded, launcher) -> None:  # type: ignore[no-untyped-def]
    """The judge grades notebook bytes without writing them anywhere; `name` is what messages call it."""
    data = (DATA / "wrong-dtype.ipynb").read_bytes()
    r = grade_submission(notebook=data, name="alice/tensors.ipynb", assignment="tensors", device="cpu", launcher=launcher)
    by_path = graded("wrong-dtype")
    assert (r.status, r.score) == (by_path.status, by_path.score) == ("graded", 8.5)
    assert [(c.id, c.status, c.message) for c in r.checks] == [(c.id, c.status, c.message) for c in by_path.checks]
    rec = grade_or_record(notebook=b"{not json", name="alice/tensors.ipynb", assignment="tensors", launcher=launcher)
    assert rec.status == "error" and rec.message.startswith("alice/tensors.ipynb: not a Jupyter notebook (it is not valid JSON")
    with pytest.raises(TypeError):
        grade_or_record(assignment="tensors")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graders", *args], capture_output=True, text=True, timeout=300)


def test_cli_json_prints_exactly_one_object() -> None:
    p = _cli("grade", str(DATA / "wrong-dtype.ipynb"), "--assignment", "tensors", "--json", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["score"] == 8.5 and d["status"] == "graded" and d["device"] == "cpu"


@pytest.mark.parametrize("args,needle", [
    (["grade", str(DATA / "not-a-notebook.ipynb"), "-a", "tensors"], "not a Jupyter notebook"),
    (["grade", "no/such/file.ipynb", "-a", "tensors"], "no such file"),
    (["grade", str(DATA / "correct.ipynb"), "-a", "tensorz"], "unknown assignment 'tensorz'"),
])
def test_cli_errors_are_one_line_and_nonzero(args: list[str], needle: str) -> None:
    p = _cli(*args)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("graders: error:")]
    assert len(lines) == 1 and needle in lines[0]
