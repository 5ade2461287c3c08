"""classification: fair trained-model checks.

The instructor's notebook and answers written differently get full marks under several hidden seeds
(the accuracies are printed: `pytest -s` shows their spread), the stubs get zero, and each typical
mistake loses points on its own question with a message naming what was expected and what came back.
Scenario notebooks: tests/data/classification/ (rebuilt by its make.py). One worker per notebook,
checks run per seed. The judge's data helpers are tested directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graders.checks import CheckFailure
from graders.checks.model import accuracy_of, accuracy_tier_check, check_labels, circles_control, circles_split
from graders.course import course_root, get_assignment
from graders.grade import grade_notebook, run_checks
from graders.judge.session import Submission, WorkerSession
from graders.notebook import read_notebook

NAME = "classification"
DATA = Path(__file__).resolve().parents[1] / "data" / NAME
SEEDS = (0, 1, 7, 1234, 20261125)
CORRECT = ["correct", "correct-tanh-softplus", "correct-square-features"]

# scenario -> {check id: fragments its message must contain}; every other check must pass
MISTAKES = {
    "percentage": {
        "accuracy::accuracy_small": ["returned 50, expected 0.5", "not a percentage"],
        "accuracy::accuracy_hidden": ["expected 0.", "not a percentage"],
    },
    "unstable-bce": {
        "bce_with_logits::bce_with_logits_large": ["logits of +-1000 returned nan, expected 500", "log-sum-exp trick"],
    },
    "linear": {
        "circle_model::circle_model_accuracy_085": ["reached 0.", "accuracy on the grader's held-out data", "0.85 earns these points"],
        "circle_model::circle_model_accuracy_095": ["reached 0.", "0.95 earns these points"],
    },
    "probabilities": {
        "circle_model::circle_model_interface": ["returned dtype float32, expected int64 labels 0 or 1", "probabilities"],
        "circle_model::circle_model_accuracy_085": ["returned dtype float32, expected int64 labels", "probabilities"],
        "circle_model::circle_model_accuracy_095": ["returned dtype float32, expected int64 labels", "probabilities"],
    },
}
MISTAKES["other-class"] = {
    "circle_model::circle_model_accuracy_085": ["`train_circle_model(X, y, seed)` returned a Sequential, expected a CircleModel",
                                                "the exercise asks for the model class CircleModel"],
    "circle_model::circle_model_accuracy_095": ["returned a Sequential, expected a CircleModel"],
}
SCORES = {
    "other-class": {"accuracy": 1.0, "bce_with_logits": 3.0, "circle_model": 0.0},
    "percentage": {"accuracy": 0.0, "bce_with_logits": 3.0, "circle_model": 6.0},
    "unstable-bce": {"accuracy": 1.0, "bce_with_logits": 2.0, "circle_model": 6.0},
    "linear": {"accuracy": 1.0, "bce_with_logits": 3.0, "circle_model": 0.0},
    "probabilities": {"accuracy": 1.0, "bce_with_logits": 3.0, "circle_model": 0.0},
}


@pytest.fixture(scope="module")
def graded(launcher):  # type: ignore[no-untyped-def]
    """scenario -> {seed: check results}: one worker per notebook, closed once its seeds are done."""
    spec = get_assignment(NAME)
    cache: dict[str, dict[int, list]] = {}

    def get(scenario: str, seeds: tuple[int, ...] = (SEEDS[1],)) -> dict[int, list]:
        if scenario not in cache:
            nb = read_notebook(DATA / f"{scenario}.ipynb")
            with WorkerSession(launcher=launcher, limits=spec.limits, cells=[src for _i, src in nb.code_to_run()]) as session:
                outcomes = session.start()
                assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.status != "ok"]
                cache[scenario] = {s: run_checks(assignment=spec, submission=Submission(session), device="cpu", hidden_seed=s)
                                   for s in seeds}
        return cache[scenario]

    return get


def _failures(results: list) -> dict[str, str]:
    return {c.id: f"[{c.status}] {c.message}" for c in results if c.status != "passed"}


def _per_question(results: list) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in results:
        out[c.grade_id] = out.get(c.grade_id, 0.0) + c.points
    return out


def test_source_notebook_gets_full_marks(launcher) -> None:  # type: ignore[no-untyped-def]
    """The teaching notebook itself, with its plots and demo training: every cell runs, 10/10."""
    r = grade_notebook(path=course_root() / "source" / NAME / f"{NAME}.ipynb", assignment=NAME, device="cpu", launcher=launcher)
    assert r.status == "graded" and r.score == r.max_score == 10.0, r.summary()
    assert all(c.status == "ok" for c in r.cells), [c.error for c in r.cells if c.status != "ok"]
    accuracy = [c.metrics["accuracy"] for c in r.checks if c.id == "circle_model::circle_model_accuracy_095"]
    assert accuracy and accuracy[0] >= 0.95


@pytest.mark.parametrize("scenario", CORRECT)
def test_correct_answers_get_full_marks_under_hidden_seeds(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    accuracies = []
    for seed, results in graded(scenario, SEEDS).items():
        assert sum(c.points for c in results) == 10.0, (seed, _failures(results))
        assert len(results) == 8
        (acc,) = {c.metrics["accuracy"] for c in results if c.grade_id == "circle_model" and "accuracy" in c.metrics}
        accuracies.append(acc)
    print(f"\n{NAME}/{scenario}: circle test accuracy over seeds {SEEDS}: {[round(a, 3) for a in accuracies]} "
          f"(min {min(accuracies):.3f}, max {max(accuracies):.3f})")


def test_stubs_score_zero(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("stubs").values()
    assert sum(c.points for c in results) == 0.0
    assert all(c.status == "error" and "is not implemented yet" in c.message for c in results), _failures(results)


@pytest.mark.parametrize("scenario", sorted(MISTAKES))
def test_each_mistake_loses_points_on_its_question_with_a_clear_message(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded(scenario).values()
    failures = _failures(results)
    assert set(failures) == set(MISTAKES[scenario]), failures
    for check_id, fragments in MISTAKES[scenario].items():
        assert failures[check_id].startswith("[failed]"), failures[check_id]
        for fragment in fragments:
            assert fragment in failures[check_id], (check_id, fragment, failures[check_id])
    assert _per_question(results) == SCORES[scenario]


def test_linear_model_gets_an_accuracy_far_below_the_tiers(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("linear").values()
    (acc,) = {c.metrics["accuracy"] for c in results if "accuracy" in c.metrics}
    assert acc < 0.75


# ------------------------------------------------------------------ the judge's helpers
def test_circles_are_generated_by_the_hidden_seed_and_split_80_20() -> None:
    a, b, c = circles_split(5), circles_split(5), circles_split(6)
    assert a is b  # cached per seed
    assert a.X_train.shape == (800, 2) and a.X_test.shape == (200, 2) and a.y_train.shape == (800,) and a.y_test.shape == (200,)
    assert a.X_train.dtype == torch.float32 and a.y_train.dtype == torch.float32
    assert set(a.y_train.unique().tolist()) == {0.0, 1.0} and 0.4 < float(a.y_test.mean()) < 0.6
    assert not torch.equal(a.X_test, c.X_test)
    radius = torch.cat([a.X_train, a.X_test]).norm(dim=1)
    labels = torch.cat([a.y_train, a.y_test])
    assert 0.7 < float(radius[labels == 1].mean()) < 0.9 and 0.9 < float(radius[labels == 0].mean()) < 1.1  # factor 0.8


def test_accuracy_tiers_say_what_was_reached_and_what_earns_the_points() -> None:
    accuracy_tier_check(0.95, 0.95, what="the model")
    accuracy_tier_check(1.0, 0.85, what="the model")
    with pytest.raises(CheckFailure, match=r"^the model reached 0\.870 accuracy on the grader's held-out data; 0\.95 earns these points$"):
        accuracy_tier_check(0.87, 0.95, what="the model")
    with pytest.raises(CheckFailure, match=r"reached 0\.949 accuracy .*\(341 of 359 test examples right\); 0\.95 earns"):
        accuracy_tier_check(341 / 359, 0.95, what="the model", n=359)  # 0.9499 is not shown as 0.950
    assert accuracy_of(torch.tensor([1, 0, 1, 1]), torch.tensor([1.0, 1.0, 1.0, 0.0])) == 0.5


@pytest.mark.parametrize(("pred", "fragment"), [
    (torch.tensor([0.2, 0.9, 0.6]), "look like probabilities"),
    (torch.tensor([0.0, 1.0, 1.0]), "convert the labels with `.long()`"),
    (torch.tensor([True, False, True]), "returned dtype bool, expected int64"),
    (torch.tensor([[0], [1], [1]]), "expected shape (3,): one label per example (squeeze"),
    (torch.tensor([0, 2, 1]), "returned the label 2, expected labels 0 or 1"),
    ([0, 1, 1], "returned list [0, 1, 1], expected an int64 tensor of shape (3,)"),
])
def test_predicted_labels_must_be_int64_zeros_and_ones(pred: object, fragment: str) -> None:
    with pytest.raises(CheckFailure) as info:
        check_labels(pred, 3, what="`predict_labels(model, X)`")
    assert fragment in str(info.value)
    check_labels(torch.tensor([0, 1, 1]), 3, what="`predict_labels(model, X)`")


def test_the_learning_control_moves_stretches_and_relabels_the_circles() -> None:
    base, control = circles_split(5 + 7919), circles_control(5)
    assert torch.equal(control.y_train, 1 - base.y_train) and torch.equal(control.y_test, 1 - base.y_test)
    centre = control.X_train.mean(dim=0)
    assert 0.25 < float(centre.abs().min()) and float(centre.abs().max()) < 0.65  # moved off the origin
    ratio = (control.X_train - centre).std(dim=0) / base.X_train.std(dim=0)
    assert bool(((ratio > 0.75) & (ratio < 1.3)).all())
    # the radius rule that is perfect on the originals is wrong on the control
    rule = ((0.9 - control.X_test.norm(dim=1)) > 0).float()
    assert accuracy_of(rule, control.y_test) < 0.6
