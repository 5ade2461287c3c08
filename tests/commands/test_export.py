"""`graders export`: grades from nbgrader's gradebook, the same CSV `nbgrader export` writes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from graders.cli import main
from graders.result import SubmissionResult

from ..classroom import STUDENTS, graded_class


@pytest.fixture(scope="module")
def class_root(tmp_path_factory, launcher) -> Path:  # type: ignore[no-untyped-def]
    return graded_class(tmp_path_factory, launcher)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_default_export_is_nbgraders(class_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(class_root))
    assert main(["export"]) == 0
    ours = capsys.readouterr().out
    nbg = tmp_path / "nbgrader.csv"
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "nbgrader"), "export", "--to", str(nbg)], cwd=class_root, check=True, capture_output=True,
                   timeout=120, env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert ours == nbg.read_text()
    rows = {r["student_id"]: r for r in _rows(ours)}
    graded = {s for s in STUDENTS if json.loads((class_root / "autograded" / s / "tensors" / "result.json").read_text())["status"] == "graded"}
    assert graded <= set(rows)
    for s in graded:
        r = SubmissionResult.from_dict(json.loads((class_root / "autograded" / s / "tensors" / "result.json").read_text()))
        assert float(rows[s]["score"]) == pytest.approx(r.score) and rows[s]["max_score"] == "10.0"


def test_by_question_and_manual_scores(class_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from graders.gradebook import open_gradebook

    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(class_root))
    out = tmp_path / "grades.csv"
    assert main(["export", "--by-question", "--out", str(out), "--assignment", "tensors"]) == 0
    rows = _rows(out.read_text())
    bob = {r["question"]: r for r in rows if r["student_id"] == "bob"}
    assert list(bob) == ["describe", "matmul_shape", "matmul", "one_hot"]
    r = SubmissionResult.from_dict(json.loads((class_root / "autograded" / "bob" / "tensors" / "result.json").read_text()))
    for q, (p, m) in r.question_scores().items():
        assert float(bob[q]["auto_score"]) == pytest.approx(p) and float(bob[q]["max_score"]) == pytest.approx(m)
    # an instructor gives bob 1 point by hand in the formgrader: the export shows it
    with open_gradebook(root=class_root) as gb:
        grade = gb.find_grade("matmul", "tensors", "tensors", "bob")
        before = grade.manual_score
        grade.manual_score = 1.0
        gb.db.commit()
    try:
        assert main(["export", "--by-question"]) == 0
        bob = {r["question"]: r for r in _rows(capsys.readouterr().out) if r["student_id"] == "bob"}
        assert bob["matmul"]["manual_score"] == "1" and bob["matmul"]["score"] == "1"
        assert main(["export"]) == 0
        total = {r["student_id"]: r for r in _rows(capsys.readouterr().out)}["bob"]
        assert float(total["score"]) == pytest.approx(r.score + 1.0)
    finally:
        with open_gradebook(root=class_root) as gb:
            gb.find_grade("matmul", "tensors", "tensors", "bob").manual_score = before
            gb.db.commit()


def test_missing_gradebook_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--db", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "no gradebook at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_canvas_gradebook_import_layout(class_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Canvas's own layout: Student, ID, SIS User ID, SIS Login ID, Section, assignments; a Points Possible row."""
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(class_root))
    assert main(["export"]) == 0
    nbgrader_rows = {r["student_id"]: r for r in _rows(capsys.readouterr().out)}
    out = tmp_path / "canvas.csv"
    assert main(["export", "--format", "canvas", "--out", str(out), "--canvas-name", "tensors=Tensors (4711)"]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tensors (4711)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10"]
    by_id = {r[2]: r for r in rows[2:]}
    assert set(by_id) == set(nbgrader_rows)
    for sid, r in by_id.items():
        assert r[1] == r[3] == r[4] == "" and r[0]  # Canvas matches on the SIS User ID
        assert float(r[5]) == pytest.approx(float(nbgrader_rows[sid]["score"]))
    assert main(["export", "--format", "canvas", "--canvas-id", "sis_login_id"]) == 0
    login = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert {r[3] for r in login[2:]} == set(nbgrader_rows) and {r[2] for r in login[2:]} == {""}
    assert main(["export", "--format", "canvas", "--by-question"]) == 2
    assert "one score per assignment" in capsys.readouterr().err
    assert main(["export", "--format", "canvas", "--canvas-name", "tensors"]) == 2
    assert "ASSIGNMENT=HEADER" in capsys.readouterr().err


def test_canvas_cells_are_never_formulas() -> None:
    from graders.canvas import canvas_csv

    rows = [{"student_id": "=HYPERLINK(1)", "last_name": "+evil", "first_name": "x", "assignment": "tensors", "score": "7"},
            {"student_id": "bob", "last_name": "", "first_name": "", "assignment": "tensors", "score": "3.25"}]
    text = canvas_csv(rows, assignments=["tensors", "autograd"], max_scores={"tensors": 10, "autograd": 10})
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[2] == ["bob", "", "bob", "", "", "3.25", "0"]  # no submission: 0, as nbgrader's export
    assert parsed[3][0] == "'+evil, x" and parsed[3][2] == "'=HYPERLINK(1)"
