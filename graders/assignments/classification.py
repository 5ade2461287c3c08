"""Checks of assignment 4, `classification` (10 points). See COURSE.md §4.

`accuracy` and `bce_with_logits` are checked on values the judge chose; `circle_model` is trained in
the worker on two-circles data the judge generates from the hidden seed, and the judge computes the
test accuracy from the predicted labels (the test labels never leave the judge). One training run
per submission is shared by the accuracy tiers.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graders.checks import CheckFailure, assert_close, assert_shape, check
from graders.checks.model import (
    accuracy_of,
    accuracy_tier_check,
    call_limited,
    check_labels,
    circles_control,
    circles_split,
    control_check,
    logits_of,
    require_class,
    require_module,
)
from graders.checks.seeds import one_way_seed
from graders.checks.tensors import describe_value

QUESTIONS = {"accuracy": 1, "bce_with_logits": 3, "circle_model": 6}

TRAIN_SECONDS = 30  # COURSE.md: training takes at most 30 s on one CPU core
LIMITS = {"call_timeout": 30, "cell_timeout": 120, "total_seconds": 600, "gpu": True}


# ------------------------------------------------------------------ accuracy (1)
def _check_accuracy(submission, y_true: torch.Tensor, y_pred: torch.Tensor, label: str) -> None:
    what = f"`accuracy(y_true, y_pred)` for {label}"
    got = submission.accuracy(y_true, y_pred)
    exp = float((y_true == y_pred).double().mean())
    if isinstance(got, torch.Tensor):
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected the Python float {exp:g}: use `.item()`")
    if type(got) not in (float, int):
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected the float {exp:g}")
    if not math.isclose(float(got), exp, rel_tol=1e-6, abs_tol=1e-9):
        hint = ""
        if math.isclose(float(got), 100 * exp, rel_tol=1e-6, abs_tol=1e-9) and exp > 0:
            hint = ": accuracy is a fraction in [0, 1], not a percentage"
        elif math.isclose(float(got), exp * y_true.numel(), rel_tol=1e-6, abs_tol=1e-9) and exp > 0:
            hint = ": divide the number of correct predictions by the number of predictions"
        raise CheckFailure(f"{what} returned {float(got):g}, expected {exp:g}{hint}")


@check(grade_id="accuracy", points=0.5)
def test_accuracy_small(submission):
    _check_accuracy(submission, torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 0]), "4 labels, 2 of them right")


@check(grade_id="accuracy", points=0.5, hidden=True)
def test_accuracy_hidden(submission, hidden_seed):
    g = torch.Generator().manual_seed(hidden_seed + 41)
    y = torch.randint(0, 2, (37,), generator=g)
    flip = torch.rand(37, generator=g) < 0.3
    _check_accuracy(submission, y, torch.where(flip, 1 - y, y), "37 labels with some wrong")
    _check_accuracy(submission, y.float(), torch.where(flip, 1 - y, y).float(), "float labels 0. and 1.")
    _check_accuracy(submission, y, y.clone(), "all predictions right")
    _check_accuracy(submission, y, 1 - y, "all predictions wrong")
    multi = torch.randint(0, 10, (50,), generator=g)
    _check_accuracy(submission, multi, torch.randint(0, 10, (50,), generator=g), "50 labels of 10 classes")


# ------------------------------------------------------------------ bce_with_logits (3)
def _check_bce(submission, logits: torch.Tensor, targets: torch.Tensor, label: str, *, hint: str = "") -> None:
    what = f"`bce_with_logits(logits, targets)` for {label}"
    got = submission.bce_with_logits(logits, targets)
    exp = F.binary_cross_entropy_with_logits(logits.double(), targets.double())
    assert_shape(got, (), what=what, hint="the loss is the mean over all elements: a 0-D tensor")
    if got.is_floating_point() and not bool(torch.isfinite(got).all()):
        raise CheckFailure(f"{what} returned {float(got)}, expected {float(exp):.6g}" + (f": {hint}" if hint else ""))
    assert_close(got, exp, what=what, rtol=1e-4, atol=1e-5, hint=hint)


@check(grade_id="bce_with_logits", points=1)
def test_bce_with_logits_small(submission):
    logits = torch.tensor([2.0, -1.0, 0.5, 0.0, -3.0])
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    _check_bce(submission, logits, targets, "5 moderate logits")


@check(grade_id="bce_with_logits", points=1, hidden=True)
def test_bce_with_logits_hidden(submission, hidden_seed):
    g = torch.Generator().manual_seed(hidden_seed + 42)
    logits = 4 * torch.randn(64, generator=g)
    targets = torch.randint(0, 2, (64,), generator=g).float()
    _check_bce(submission, logits, targets, "64 random logits")
    logits2 = 3 * torch.randn(8, 3, generator=g)
    targets2 = torch.randint(0, 2, (8, 3), generator=g).float()
    _check_bce(submission, logits2, targets2, "a (8, 3) batch of logits (mean over all elements)")


@check(grade_id="bce_with_logits", points=1, hidden=True)
def test_bce_with_logits_large(submission):
    hint = ("sigmoid(1000) rounds to exactly 1.0 in floating point, so log(1 - sigmoid(x)) is log(0); "
            "rewrite the loss as max(x, 0) - x*t + log(1 + exp(-|x|)) (the log-sum-exp trick)")
    _check_bce(submission, torch.tensor([1000.0, -1000.0, 1000.0, -1000.0]), torch.tensor([1.0, 0.0, 0.0, 1.0]),
               "logits of +-1000", hint=hint)
    _check_bce(submission, torch.tensor([200.0, -150.0, 90.0]), torch.tensor([0.0, 1.0, 1.0]), "logits of 200, -150 and 90",
               hint=hint)


# ------------------------------------------------------------------ circle_model (6)
CIRCLE_MODEL = "the CircleModel returned by `train_circle_model`"


@check(grade_id="circle_model", points=0)
def test_circle_model_interface(submission):
    """No points: lets students see early that the pieces fit (the points are for accuracy)."""
    model = submission.CircleModel()
    require_module(submission, model, what="`CircleModel()`", expected="a CircleModel")
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, -0.8], [0.5, 0.5], [-1.0, 0.2]])
    out = logits_of(submission, model, x)
    assert_shape(out, (5, 1), what="a CircleModel called on 5 points of 2 features",
                 hint="2 features in, 1 logit out per example: the last layer is nn.Linear(..., 1)")
    pred = submission.predict_labels(model, x)
    check_labels(pred, 5, what="`predict_labels(model, X)` for 5 points")


class _CircleRun:
    """Training runs of a submission under one hidden seed, shared by the tier checks: one on the grader's
    two circles, one control on circles the grader moved, stretched and relabelled (a model that learns
    from its data does as well there; a rule written in advance does not)."""

    def __init__(self, submission, hidden_seed: int) -> None:
        self.accuracy: float | None = None
        self.control: float | None = None
        self.n = self.n_control = 0
        self.error: BaseException | None = None
        try:
            self.accuracy, self.n = self._run(submission, circles_split(hidden_seed), hidden_seed)
            self.control, self.n_control = self._run(submission, circles_control(hidden_seed), hidden_seed + 1)
        except Exception as exc:  # re-raised by each tier check, which reports it
            self.error = exc

    @staticmethod
    def _run(submission, data, seed: int) -> tuple[float, int]:
        arg = one_way_seed(seed, purpose="train_circle_model") % 10_000 + 1  # reveals nothing of the hidden seed
        model = call_limited(submission, "train_circle_model", data.X_train, data.y_train, arg,
                             timeout=TRAIN_SECONDS, seed=seed)
        require_module(submission, model, what="`train_circle_model(X, y, seed)`", expected="the trained CircleModel")
        require_class(submission, model, "CircleModel", what="`train_circle_model(X, y, seed)`")
        pred = call_limited(submission, "predict_labels", model, data.X_test, timeout=10)
        check_labels(pred, data.X_test.shape[0], what=f"`predict_labels(model, X)` for the grader's {data.X_test.shape[0]} test points")
        return accuracy_of(pred, data.y_test), int(data.y_test.shape[0])

    def tier(self, threshold: float, record_property) -> None:
        if self.error is not None:
            raise self.error
        assert self.accuracy is not None
        record_property("accuracy", self.accuracy)
        record_property("control_accuracy", self.control)
        accuracy_tier_check(self.accuracy, threshold, what=CIRCLE_MODEL, n=self.n)
        control_check(self.control, what=CIRCLE_MODEL, n=self.n_control)


@pytest.fixture(scope="module")
def circle_run(submission, hidden_seed):
    return _CircleRun(submission, hidden_seed)


@check(grade_id="circle_model", points=3, hidden=True)
def test_circle_model_accuracy_085(circle_run, record_property):
    circle_run.tier(0.85, record_property)


@check(grade_id="circle_model", points=3, hidden=True)
def test_circle_model_accuracy_095(circle_run, record_property):
    circle_run.tier(0.95, record_property)
