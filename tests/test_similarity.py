"""`graders similarity`: a copied submission stands out among 20 honest ones (examples/similarity_class.py).

The honest students wrote each question one of five ways, no two sharing more than one; "copier" handed
in student07's answers with other names, comments and quotes. Real copydetect, real notebooks, the CLI.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from graders.cli import main
from graders.similarity import answer_code, similarity

from .classroom import course_copy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from similarity_class import COPIED, student_name, write_class  # noqa: E402


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    root = course_copy(tmp_path_factory.mktemp("similar") / "course")
    names = write_class(root)
    assert len(names) == 21
    return root


def test_the_copy_is_the_only_pair_above_the_threshold(course: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(course))
    assert main(["similarity", "tensors"]) == 0
    out = capsys.readouterr().out
    assert "21 submissions compared, 1 pair(s) above 0.8" in out
    rows = list(csv.DictReader((course / "reports" / "tensors" / "similarity.csv").open()))
    assert len(rows) == 1 and {rows[0]["student_a"], rows[0]["student_b"]} == {student_name(COPIED), "copier"}
    assert float(rows[0]["similarity_a"]) > 0.95 and float(rows[0]["similarity_b"]) > 0.95
    page = (course / "reports" / "tensors" / "similarity.html").read_text()
    assert "copier" in page and student_name(COPIED) in page and "graders-similarity-" not in page


def test_honest_students_stay_below_the_threshold_and_starting_code_does_not_count(course: Path) -> None:
    rep = similarity(assignment="tensors", root=course, threshold=0.5)
    copy = {student_name(COPIED), "copier"}
    top = rep.pairs[0]
    assert {top.student_a, top.student_b} == copy
    assert all(max(p.similarity_a, p.similarity_b) < 0.8 for p in rep.pairs if {p.student_a, p.student_b} != copy)
    # the stubs (the release's starting code) handed in by two students are not "similar": it is boilerplate
    for s in ("stub1", "stub2"):
        folder = course / "submitted" / s / "tensors"
        folder.mkdir(parents=True)
        (folder / "tensors.ipynb").write_bytes((course / "release" / "tensors" / "tensors.ipynb").read_bytes())
    rep = similarity(assignment="tensors", root=course)
    assert [{p.student_a, p.student_b} for p in rep.pairs] == [copy]
    assert "raise NotImplementedError" in answer_code(course / "release" / "tensors" / "tensors.ipynb")


def test_bad_threshold_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similarity", "tensors", "--threshold", "2"]) == 2
    assert "--threshold must lie between 0 and 1" in capsys.readouterr().err
