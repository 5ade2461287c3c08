"""Loss curves: the training loss the student's own code computed, in feedback and in the report.

A small classification class is autograded through the real pipeline (the worker observes the
training calls): alice's correct classifier, bob's CircleModel without a non-linearity (it cannot
separate circles, its loss stays at ln 2). The diagnosis rules are also checked on synthetic curves.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
from pathlib import Path

import pytest

from graders.cli import main
from graders.curves import diagnose, plot_training, training_of
from graders.result import SubmissionResult

from .classroom import course_copy

DATA = Path(__file__).resolve().parent / "data" / "classification"
STUDENTS = {"alice": "correct", "bob": "linear"}


def curve(values: list[float | None], *, per: str = "step") -> dict:
    bad = next((i + 1 for i, v in enumerate(values) if v is None or not math.isfinite(v)), None)
    return {"call": "train", "per": per, "steps": len(values), "x": list(range(1, len(values) + 1)),
            "loss": [v if v is not None and math.isfinite(v) else None for v in values], "first_nonfinite": bad,
            "first": values[0], "last": values[-1] if values[-1] is not None and math.isfinite(values[-1]) else None}


def test_diagnosis_says_only_what_is_clear() -> None:
    n = 200
    converged = [0.7 * math.exp(-i / 15) + 1e-3 for i in range(n)]
    assert diagnose(curve(converged)) == ""
    assert "at step 121 of 200" in diagnose(curve([0.7] * 120 + [None] * 80), lost_points=False)  # NaN: always said
    flat = diagnose(curve([math.log(2) + 0.001 * math.sin(i) for i in range(n)]))
    assert "did not decrease" in flat and "ln 2" in flat and "zero_grad()" in flat
    assert "rose" in diagnose(curve([0.5 + i / 100 for i in range(n)]))
    slow = [0.7 * math.exp(-i / 400) + 0.05 for i in range(n)]
    assert "still falling" in diagnose(curve(slow)) and "train longer" in diagnose(curve(slow))
    assert diagnose(curve(slow), lost_points=False) == ""  # full points: no advice needed
    per_backward = diagnose(curve([1.0] * 10 + [float("inf")] * 5, per="backward"))
    assert "at backward pass 11" in per_backward


@pytest.fixture(scope="module")
def class_root(tmp_path_factory, launcher) -> Path:  # type: ignore[no-untyped-def]
    from graders.autograde import autograde

    root = course_copy(tmp_path_factory.mktemp("curves") / "course", ("classification",))
    for student, scenario in STUDENTS.items():
        folder = root / "submitted" / student / "classification"
        folder.mkdir(parents=True)
        shutil.copy(DATA / f"{scenario}.ipynb", folder / "classification.ipynb")
    autograde(assignment="classification", root=root, workers=1, launcher=launcher, device="cpu", progress=False)
    return root


def _result(root: Path, student: str) -> SubmissionResult:
    return SubmissionResult.from_dict(json.loads((root / "autograded" / student / "classification" / "result.json").read_text()))


def test_results_carry_the_training_loss(class_root: Path) -> None:
    alice, bob = _result(class_root, "alice"), _result(class_root, "bob")
    assert alice.score == 10 and bob.score < 10
    t = training_of(alice)["circle_model"]
    main_curve = t.main
    assert main_curve is not None and main_curve["call"] == "train_circle_model" and main_curve["per"] == "step"
    assert main_curve["steps"] >= 100 and main_curve["loss"][-1] < 0.1 * main_curve["loss"][0]
    assert t.accuracy is not None and t.accuracy >= 0.95 and t.tiers == [(0.85, 3.0), (0.95, 3.0)]
    # the curves are stored once, on the check whose run trained the model: the main run and the learning control
    assert sum(len(c.curves) for c in alice.checks) == 2
    assert "learns nothing" in diagnose(training_of(bob)["circle_model"].main)


def test_feedback_plots_the_loss_curve_with_accuracy_and_tiers(class_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(class_root))
    assert main(["feedback", "classification"]) == 0
    alice = (class_root / "feedback" / "alice" / "classification" / "classification.html").read_text()
    bob = (class_root / "feedback" / "bob" / "classification" / "classification.html").read_text()
    for page in (alice, bob):
        panel = page.split("id='q-circle_model'", 1)[1]
        img = panel.split("<img alt='training loss of circle_model' src='data:image/png;base64,", 1)[1].split("'", 1)[0]
        assert base64.b64decode(img, validate=True)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "learns nothing" in bob and "did not decrease" in bob
    assert "learns nothing" not in alice and "<b>" not in alice.split("id='q-circle_model'", 1)[1].split("</figure>")[0]


def test_report_shows_the_class_curves_in_one_plot(class_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADERS_COURSE_ROOT", str(class_root))
    assert main(["report", "classification"]) == 0
    out = class_root / "reports" / "classification"
    png = (out / "loss_curves_circle_model.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "Training loss: circle_model" in page and base64.b64encode(png).decode() in page


def test_a_plot_for_a_curve_that_diverged(class_root: Path, tmp_path: Path) -> None:
    result = _result(class_root, "alice")
    for c in result.checks:
        for cv in c.curves:
            cv["loss"] = [v if x < 50 else None for x, v in zip(cv["x"], cv["loss"])]
            cv["first_nonfinite"] = next(x for x in cv["x"] if x >= 50)
    png = plot_training(training_of(result)["circle_model"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "diverged.png").write_bytes(png)
