"""`graders report`: HTML with embedded plots, the PNGs, and scores.csv; on a really graded class and
on a larger synthetic one with trained-model accuracies."""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import re
from pathlib import Path

import pytest

from graders.cli import main
from graders.report import accuracy_data, write_report
from graders.result import CheckResult, SubmissionResult

from .classroom import STUDENTS, course_copy, graded_class

CHECKS = [  # classification-like checks: (id, points, hidden)
    ("accuracy::accuracy_small", 0.5, False), ("accuracy::accuracy_hidden", 0.5, True),
    ("bce_with_logits::bce_with_logits_small", 1, False), ("bce_with_logits::bce_with_logits_hidden", 2, True),
    ("circle_model::circle_model_interface", 0, False),
    ("circle_model::circle_model_accuracy_085", 3, True), ("circle_model::circle_model_accuracy_095", 3, True),
]


def synthetic_class(root: Path, n: int = 45, seed: int = 0) -> dict[str, SubmissionResult]:
    """autograded/*/classification/result.json for `n` students (every 15th not graded)."""
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        student = f"s{i:03d}"
        if i % 15 == 14:
            r = SubmissionResult("classification", student, "error", max_score=10, message="not a Jupyter notebook", duration_s=0.01)
        else:
            skill = rng.random()
            acc = min(1.0, max(0.45, rng.gauss(0.80 + 0.18 * skill, 0.05)))
            checks = []
            for cid, pts, hidden in CHECKS:
                metrics = {}
                if "accuracy_0" in cid:
                    ok, metrics = acc >= int(cid[-3:]) / 100, {"accuracy": round(acc, 4)}
                else:
                    ok = rng.random() < 0.4 + 0.6 * skill
                checks.append(CheckResult(cid, cid.split("::")[0], "passed" if ok else "failed", pts if ok else 0.0, pts, hidden,
                                          "" if ok else "wrong", rng.uniform(0.01, 0.2), metrics))
            r = SubmissionResult("classification", student, "graded", sum(c.points for c in checks), 10, "cpu",
                                 rng.uniform(8, 30), "bubblewrap", checks)
        folder = root / "autograded" / student / "classification"
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps(r.to_dict(with_cells=True)))
        out[student] = r
    return out


def _png_ok(data: bytes) -> tuple[int, int]:
    import matplotlib.image as mpimg

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(io.BytesIO(data), format="png")
    assert img.std() > 0.05, "a blank plot"
    return img.shape[1], img.shape[0]


@pytest.fixture(scope="module")
def big_class(tmp_path_factory) -> tuple[Path, dict[str, SubmissionResult]]:  # type: ignore[no-untyped-def]
    root = course_copy(tmp_path_factory.mktemp("big") / "course", assignments=())
    return root, synthetic_class(root)


def test_report_has_four_plots_embedded_and_saved(big_class) -> None:  # type: ignore[no-untyped-def]
    root, results = big_class
    path = write_report(assignment="classification", root=root)
    assert path == root / "reports" / "classification" / "report.html"
    page = path.read_text()
    embedded = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    names = ["score_distribution", "pass_rate", "grading_time", "accuracy", "items"]  # items: graders/items.py
    assert len(embedded) == 5
    for name, b64 in zip(names, embedded):
        saved = (path.parent / f"{name}.png").read_bytes()
        assert base64.b64decode(b64) == saved
        w, h = _png_ok(saved)
        assert w >= 600 and h >= 150
    graded = [r for r in results.values() if r.status == "graded"]
    assert f"<tr><td>graded</td><td>{len(graded)}</td></tr>" in page
    assert "Not graded" in page and "circle_model" in page and "0.85, 0.95" in page


def test_scores_csv_is_student_by_question(big_class) -> None:  # type: ignore[no-untyped-def]
    root, results = big_class
    write_report(assignment="classification", root=root)
    rows = list(csv.DictReader((root / "reports" / "classification" / "scores.csv").open()))
    assert [r["student"] for r in rows] == sorted(results)
    assert list(rows[0]) == ["student", "status", "accuracy", "bce_with_logits", "circle_model", "score", "max_score", "duration_s"]
    for row in rows:
        r = results[row["student"]]
        assert row["status"] == r.status and float(row["score"]) == pytest.approx(r.score)
        for q, (p, _m) in r.question_scores().items():
            assert float(row[q]) == pytest.approx(p)


def test_accuracy_comes_from_check_metrics_with_tiers(big_class) -> None:  # type: ignore[no-untyped-def]
    _root, results = big_class
    data = accuracy_data([r for r in results.values() if r.status == "graded"])
    assert list(data) == ["circle_model"]
    assert data["circle_model"]["thresholds"] == [0.85, 0.95]
    assert len(data["circle_model"]["values"]) == sum(r.status == "graded" for r in results.values())


def test_report_of_a_really_graded_class(tmp_path_factory, launcher, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = graded_class(tmp_path_factory, launcher)
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(root))
    assert main(["report", "tensors"]) == 0
    assert "report written to" in capsys.readouterr().out
    out = root / "reports" / "tensors"
    assert sorted(p.name for p in out.glob("*.png")) == ["grading_time.png", "items.png", "pass_rate.png", "score_distribution.png"]
    for p in out.glob("*.png"):
        _png_ok(p.read_bytes())
    rows = {r["student"]: r for r in csv.DictReader((out / "scores.csv").open())}
    assert set(rows) == set(STUDENTS)
    assert rows["alice"]["score"] == "10" and rows["carol"]["score"] == "0" and rows["erin"]["status"] == "error"
    assert main(["report", "vision"]) == 2  # nothing autograded for it
    assert "run `graders autograde vision` first" in capsys.readouterr().err


def test_the_report_lists_submissions_stopped_by_a_time_limit() -> None:
    from graders.report import stopped_by_limits, stopped_html
    from graders.result import CellOutcome, CheckResult, SubmissionResult

    def result(student: str, cells: list[CellOutcome], checks: list[CheckResult]) -> SubmissionResult:
        return SubmissionResult(assignment="tensors", student=student, status="graded", max_score=10.0, cells=cells, checks=checks)

    hung = result("hugo", [CellOutcome(0, "ok"), CellOutcome(4, "timeout", error="cell did not finish within 60 s (time limit)")], [])
    slow = result("sam", [CellOutcome(0, "ok")], [CheckResult(id="matmul::hidden", grade_id="matmul", status="timeout", points=0.0,
                                                                max_points=1.0, hidden=True, message="`matmul` did not return within 30 s")])
    fine = result("fay", [CellOutcome(0, "ok")], [])
    stopped = stopped_by_limits({"hugo": hung, "sam": slow, "fay": fine})
    assert stopped == [("hugo", ["cell 5: cell did not finish within 60 s (time limit)"]),
                       ("sam", ["check matmul::hidden: `matmul` did not return within 30 s"])]
    page = stopped_html({"hugo": hung, "fay": fine})
    assert "Stopped by a time limit" in page and "hugo" in page and "fay" not in page
    assert stopped_html({"fay": fine}) == ""
