"""Answers that game the checks earn nothing on the questions they game (issue 12).

Each scenario notebook is graded through the real pipeline (sandboxed worker, judge, pytest checks):

- classification/radius-rule: a CircleModel whose forward is the hand-written rule `0.9 - |x|`, and no
  training. It is perfect on the grader's circles; the learning control (circles the grader moved,
  stretched and relabelled) shows it learned nothing: no accuracy points.
- vision/digits-lookup: no training, a nearest-neighbour lookup into scikit-learn's digits. Inside the
  sandbox that copy holds no test image; and on digits the grader transposed and renamed, the lookup is
  at chance: no accuracy points.
- vision/hidden-parameters: a DigitsCNN of 5.2 M weights whose `parameters()` reports 2,730: the judge
  counts the tensors itself and the parameter limit fails.
- tensors/always-raises: every function raises ValueError: the checks asking for ValueError on bad
  input pay only when the same function works on valid input: 0 points.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.grade import grade_notebook

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def graded(launcher):  # type: ignore[no-untyped-def]
    cache: dict[str, object] = {}

    def get(scenario: str):  # type: ignore[no-untyped-def]
        if scenario not in cache:
            assignment = scenario.split("/")[0]
            cache[scenario] = grade_notebook(path=DATA / f"{scenario}.ipynb", assignment=assignment, device="cpu",
                                             launcher=launcher, hidden_seed=1)
        return cache[scenario]

    return get


def _points(result, grade_id: str) -> float:  # type: ignore[no-untyped-def]
    return sum(c.points for c in result.checks if c.grade_id == grade_id)


def _messages(result, grade_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.id: c.message for c in result.checks if c.grade_id == grade_id and c.status != "passed"}


CONTROL = "trained the same way on another data set of the grader (the same kind of task), the model reached only"


def test_a_hand_written_radius_rule_earns_no_accuracy_points(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("classification/radius-rule")
    assert _points(r, "circle_model") == 0.0
    tiers = [c for c in r.checks if c.id.startswith("circle_model::circle_model_accuracy")]
    assert len(tiers) == 2 and all(c.status == "failed" and CONTROL in c.message for c in tiers)
    assert all("a rule written in advance or a lookup of known examples earns nothing" in c.message for c in tiers)
    # the rule is perfect on the circles it was written for, at chance (or worse) on the control
    assert tiers[0].metrics["accuracy"] >= 0.95 and tiers[0].metrics["control_accuracy"] < 0.7
    assert _points(r, "accuracy") == 1.0 and _points(r, "bce_with_logits") == 3.0  # the other questions keep theirs


def test_a_lookup_into_scikit_learns_digits_earns_no_accuracy_points(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("vision/digits-lookup")
    assert _points(r, "train_digits") == 0.0
    tiers = [c for c in r.checks if c.id.startswith("train_digits::train_digits_accuracy")]
    assert len(tiers) == 2 and all(c.status == "failed" and CONTROL in c.message for c in tiers)
    assert tiers[0].metrics["control_accuracy"] < 0.3
    # only the public four fifths of the digits exist in the sandbox: the lookup is a nearest-neighbour
    # classifier there, not a copy of the test labels (a perfect score would mean it read the test images)
    assert tiers[0].metrics["accuracy"] < 1.0


def test_the_judge_counts_parameters_parameters_does_not_report(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("vision/hidden-parameters")
    assert _messages(r, "digits_cnn") == {
        "digits_cnn::digits_cnn_parameters": "`DigitsCNN()` has 5,230,230 parameters, expected at most 100,000: "
                                             "use fewer channels or pool before the linear layer"}


def test_a_function_that_always_raises_earns_nothing(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("tensors/always-raises")
    assert r.score == 0.0, [(c.id, c.points) for c in r.checks if c.points]
    refusals = ["matmul_shape::matmul_shape_mismatch", "matmul_shape::matmul_shape_batch_mismatch",
                "matmul_shape::matmul_shape_scalar", "matmul::matmul_mismatch", "one_hot::one_hot_bad_labels"]
    for check in (c for c in r.checks if c.id in refusals):
        assert check.status == "failed"
        assert check.message.endswith("raised ValueError, expected a result: refusing bad input earns these points only when "
                                      "valid input works too"), check.message


# ------------------------------------------------------------------ contract rules, each with a message naming the rule
def test_matmul_with_the_at_operator_breaks_the_exercises_rule(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("tensors/at-operator")
    assert _messages(r, "matmul") == {"matmul::matmul_float64": (
        "`matmul(a, b)` with a (6, 9) and b (9, 2) used the @ operator (or Tensor.matmul): the exercise asks for `matmul` "
        "written with broadcasting and sums (a[:, :, None] * b[None, :, :], summed over the inner dimension), not a library's "
        "matrix product")}
    assert r.score == 9.5


def test_fit_with_an_l1_loss_breaks_the_mse_rule(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("workflow/l1-loss")
    message = _messages(r, "fit")["fit::fit_loss_falls"]
    assert "on 40 points of a line with 4 large outliers learned weight" in message
    assert "the exercise's rule is that `fit` minimises the mean squared error (nn.MSELoss)" in message


def test_another_model_class_than_circle_model_breaks_the_rule(graded) -> None:  # type: ignore[no-untyped-def]
    r = graded("classification/other-class")
    assert _points(r, "circle_model") == 0.0
    assert set(_messages(r, "circle_model").values()) == {
        "`train_circle_model(X, y, seed)` returned a Sequential, expected a CircleModel: the exercise asks for the model class "
        "CircleModel of the notebook, so train and return `CircleModel()` itself"}
