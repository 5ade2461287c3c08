"""`graders feedback`: one HTML page per student from a really autograded class; nothing hidden leaks."""

from __future__ import annotations

import html
import inspect
import json
from pathlib import Path

import pytest

from graders.cli import main
from graders.course import get_assignment
from graders.feedback import feedback_html, hidden_category, write_feedback
from graders.result import CheckResult, SubmissionResult

from .classroom import STUDENTS, graded_class


@pytest.fixture(scope="module")
def class_root(tmp_path_factory, launcher) -> Path:  # type: ignore[no-untyped-def]
    return graded_class(tmp_path_factory, launcher)


@pytest.fixture(scope="module")
def pages(class_root: Path) -> dict[str, str]:
    paths = write_feedback(assignment="tensors", root=class_root)
    assert sorted(p.relative_to(class_root).as_posix() for p in paths) == sorted(
        f"feedback/{s}/tensors/tensors.html" for s in STUDENTS)
    return {p.parts[-3]: p.read_text(encoding="utf-8") for p in paths}


def _result(root: Path, student: str) -> SubmissionResult:
    return SubmissionResult.from_dict(json.loads((root / "autograded" / student / "tensors" / "result.json").read_text()))


def test_page_shows_points_messages_code_and_outputs(pages: dict[str, str], class_root: Path) -> None:
    page = pages["bob"]
    r = _result(class_root, "bob")
    assert f"Score: {r.score:g} / 10" in page
    for gid, (p, m) in r.question_scores().items():
        assert f"{p:g} / {m:g}" in page and f"id='q-{gid}'" in page
    failing_public = [c for c in r.checks if not c.hidden and c.status != "passed"]
    assert failing_public
    for c in failing_public:
        assert html.escape(c.message, quote=True) in page, c.id
    # the student's own code and its outputs
    assert "describe" in page and "<pre class='code" in page and "<pre class='out'>" in page
    assert "torch.float32" in page  # describe(torch.zeros(2, 3)) printed by the student's notebook
    assert pages["alice"].count("✘") == 0 and "Score: 10 / 10" in pages["alice"]


def test_no_hidden_code_inputs_or_messages_in_any_page(pages: dict[str, str], class_root: Path) -> None:
    mod = get_assignment("tensors").module()
    hidden_src = [inspect.getsource(f) for n, f in vars(mod).items() if n.startswith("test") and
                  any(m.name == "graders" and m.kwargs.get("hidden") for m in getattr(f, "pytestmark", []))]
    public_text = get_assignment("tensors").module_path.read_text()
    for src in hidden_src:
        public_text = public_text.replace(src, "")
    hidden_lines = [ln.strip() for src in hidden_src for ln in src.splitlines()[1:] if len(ln.strip()) > 20]
    hidden_lines = [ln for ln in hidden_lines if ln not in public_text]
    assert hidden_lines
    checked_messages = 0
    for student, page in pages.items():
        text = html.unescape(page)
        for ln in hidden_lines:
            assert ln not in text, (student, ln)
        if student == "erin":
            continue
        checks = _result(class_root, student).checks
        public_messages = {c.message for c in checks if not c.hidden}
        for c in checks:
            if c.hidden and c.status != "passed" and c.message and c.message not in public_messages:
                assert c.message not in text and html.escape(c.message) not in page, (student, c.id)
                checked_messages += 1
        # the instructor's copy of the notebook carries hidden messages in its grade cells: never copied
        nb = json.loads((class_root / "autograded" / student / "tensors" / "tensors.ipynb").read_text())
        for cell in nb["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell.get("outputs"):
                assert cell["outputs"][0]["data"]["text/markdown"] not in text
    assert checked_messages >= 8  # bob, carol and dave fail many hidden checks (a stub's refusal checks now say "not implemented yet", as its public ones)


def test_hidden_failures_are_shown_as_categories(pages: dict[str, str]) -> None:
    page = html.unescape(pages["bob"])
    assert "a hidden check (matmul_float64) failed: wrong shape" in page
    assert "a hidden check (matmul_shape_batch_mismatch) failed: returned a value where an exception was expected" in page
    assert "not implemented yet" in html.unescape(pages["carol"])


def test_ungraded_submission_says_why(pages: dict[str, str], class_root: Path) -> None:
    r = _result(class_root, "erin")
    assert r.status == "error"
    assert "Not graded" in pages["erin"] and html.escape(r.message or "") in pages["erin"]


def test_reveal_hidden_shows_hidden_messages_on_request(class_root: Path, tmp_path: Path) -> None:
    r = _result(class_root, "bob")
    page = feedback_html(result=r, notebook=None, questions=get_assignment("tensors").questions, reveal_hidden=True)
    hidden_failed = [c for c in r.checks if c.hidden and c.status != "passed"]
    assert all(html.escape(c.message, quote=True) in page for c in hidden_failed)


def test_cli_writes_one_students_page(class_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(class_root))
    assert main(["feedback", "tensors", "--student", "dave"]) == 0
    assert "feedback written for 1 student" in capsys.readouterr().out
    assert main(["feedback", "tensors", "--student", "nobody"]) == 2
    assert "no autograded result for nobody" in capsys.readouterr().err
    assert main(["feedback", "autograd"]) == 2  # nothing autograded for it


def test_student_html_is_shown_as_text() -> None:
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "hello <script>alert(1)</script>"},
        {"cell_type": "code", "metadata": {}, "source": "x", "outputs": [
            {"output_type": "display_data", "data": {"text/html": "<script>alert(2)</script>", "text/plain": "<b>x</b>"}},
            {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["\x1b[31mValueError\x1b[0m: bad"]},
        ]},
    ]}
    r = SubmissionResult(assignment="tensors", student="s", status="graded", max_score=10)
    page = feedback_html(result=r, notebook=nb, questions=get_assignment("tensors").questions)
    assert "<script>" not in page and "&lt;script&gt;" in page and "\x1b" not in page


@pytest.mark.parametrize("status, message, metrics, expected", [
    ("failed", "`matmul(a, b)` with a (6, 9) returned shape (2, 6), expected (6, 2)", {}, "wrong shape"),
    ("failed", "`f` returned 1.5 at index (0, 1), expected 3.25 (1 of 4 values differ)", {}, "wrong values"),
    ("failed", "`f` returned dtype int64, expected float32", {}, "wrong dtype"),
    ("error", "`one_hot` raised IndexError: index 3 is out of bounds", {}, "your code raised IndexError"),
    ("timeout", "`train` did not return within 30 s", {}, "your code did not finish within the time limit"),
    ("failed", "the model reached 0.912 accuracy on the grader's held-out data (182 of 200 test examples right); 0.95 earns these points",
     {"accuracy": 0.912}, "accuracy 0.912 on the grader's held-out data; 0.95 earns these points"),
])
def test_hidden_category_never_quotes_values(status: str, message: str, metrics: dict[str, float], expected: str) -> None:
    c = CheckResult(id="q::x", grade_id="q", status=status, points=0, max_points=1, hidden=True,  # type: ignore[arg-type]
                    message=message, metrics=metrics)
    got = hidden_category(c)
    assert got == expected
    for secret in ("(6, 9)", "3.25", "index 3", "182 of 200"):
        assert secret not in got
