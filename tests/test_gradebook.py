"""Scores in nbgrader's real gradebook, per grade cell: what the formgrader and `nbgrader export` read."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from graders.errors import CourseError
from graders.gradebook import open_gradebook, read_scores, record_results, register_assignment
from graders.result import CheckResult, SubmissionResult

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(tmp_path))
    return tmp_path


def result(student: str, points: dict[str, float], status: str = "graded") -> SubmissionResult:
    maxima = {"describe": 2.0, "matmul_shape": 3.0, "matmul": 3.0, "one_hot": 2.0}
    checks = [CheckResult(id=f"{q}::x", grade_id=q, status="passed" if p == maxima[q] else "failed", points=p,
                          max_points=maxima[q], hidden=False) for q, p in points.items()]
    return SubmissionResult(assignment="tensors", student=student, status=status, score=sum(points.values()),
                            max_score=10.0, checks=checks, message=None if status == "graded" else "not a notebook")


def export_csv(root: Path, db_url: str | None = None) -> list[dict[str, str]]:
    """nbgrader's own CSV exporter (what `nbgrader export` runs) on this gradebook."""
    from nbgrader.plugins.export import CsvExportPlugin

    out = root / "grades.csv"
    with open_gradebook(root=root, db_url=db_url) as gb:
        CsvExportPlugin(to=str(out)).export(gb)
    with out.open() as f:
        return list(csv.DictReader(f))


def test_scores_land_per_grade_cell_and_nbgrader_exports_them(course: Path) -> None:
    assert register_assignment(assignment="tensors", root=course) is True
    assert register_assignment(assignment="tensors", root=course) is False  # already there: nothing to do
    record_results([result("alice", {"describe": 2, "matmul_shape": 1.5, "matmul": 3, "one_hot": 0}),
                    result("bob", {}, status="error")], root=course, timestamps={"alice": "2026-11-20 10:00:00 UTC"})
    rows = {r["student"]: r for r in read_scores(root=course)}
    assert rows["alice"]["score"] == 6.5 and rows["alice"]["max_score"] == 10.0
    assert rows["alice"]["questions"]["matmul_shape"] == {"score": 1.5, "max_score": 3.0, "auto_score": 1.5, "manual_score": None}
    assert rows["alice"]["timestamp"] == "2026-11-20T10:00:00"
    assert rows["bob"]["score"] == 0.0 and set(rows["bob"]["questions"]) == {"describe", "matmul_shape", "matmul", "one_hot"}
    exported = {r["student_id"]: r for r in export_csv(course)}
    assert float(exported["alice"]["score"]) == 6.5 and float(exported["alice"]["max_score"]) == 10.0
    assert float(exported["bob"]["score"]) == 0.0


def test_regrading_updates_auto_scores_but_keeps_a_graders_manual_score(course: Path) -> None:
    record_results([result("carol", {"describe": 0, "matmul_shape": 3, "matmul": 3, "one_hot": 2})], root=course)
    with open_gradebook(root=course) as gb:
        grade = gb.find_grade("describe", "tensors", "tensors", "carol")
        grade.manual_score = 1.0  # a grader in the formgrader gave partial credit
        gb.db.commit()
    record_results([result("carol", {"describe": 0, "matmul_shape": 3, "matmul": 1, "one_hot": 2})], root=course)
    row = read_scores(root=course, assignment="tensors")[0]
    assert row["questions"]["describe"]["score"] == 1.0 and row["questions"]["matmul"]["auto_score"] == 1.0
    assert row["score"] == 1.0 + 3 + 1 + 2 and row["auto_score"] == 6.0
    assert row["needs_manual_grade"] is True


def test_any_sqlalchemy_url_and_an_empty_gradebook(course: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'grades.sqlite'}"
    (tmp_path / "elsewhere").mkdir()
    assert read_scores(root=course, db_url=url) == []  # no database yet: no scores, no file made
    record_results([result("dan", {"describe": 2, "matmul_shape": 3, "matmul": 3, "one_hot": 2})], root=course, db_url=url)
    assert [(r["student"], r["score"]) for r in read_scores(root=course, db_url=url)] == [("dan", 10.0)]
    assert not (course / "gradebook.db").exists()
    assert {r["student_id"] for r in export_csv(course, url)} == {"dan"}


def test_changing_grade_cells_under_existing_submissions_is_refused(course: Path) -> None:
    record_results([result("erin", {"describe": 2})], root=course)
    release = course / "release" / "tensors" / "tensors.ipynb"
    text = release.read_text()
    release.write_text(text.replace('"grade_id": "one_hot"', '"grade_id": "one_hot_renamed"'))
    with pytest.raises(CourseError):
        register_assignment(assignment="tensors", root=course)


def test_points_changed_in_the_gradebook_are_registered_again(course: Path) -> None:
    register_assignment(assignment="tensors", root=course)
    with open_gradebook(root=course) as gb:
        gb.find_grade_cell("matmul", "tensors", "tensors").max_score = 99.0
        gb.db.commit()
    assert register_assignment(assignment="tensors", root=course) is True
    with open_gradebook(root=course) as gb:
        assert gb.find_grade_cell("matmul", "tensors", "tensors").max_score == 3.0
