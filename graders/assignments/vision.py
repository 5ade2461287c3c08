"""Checks of assignment 5, `vision` (10 points). See COURSE.md §5.

`digits_cnn` inspects a fresh `DigitsCNN()` in the worker (output shapes, parameter count, a
convolution). `train_digits` is called once per submission with the grader's training split of the
8x8 digits (hidden seed) and the grading device; the judge computes accuracy on its own held-out,
slightly noisy test images, and `device_agnostic` inspects where the trained model's tensors live.
"""

from __future__ import annotations

import pytest
import torch

from graders.checks import CheckFailure, assert_shape, check
from graders.checks._base import known_exception_name
from graders.checks.model import (
    accuracy_of,
    accuracy_tier_check,
    call_limited,
    control_check,
    digits_control,
    digits_split,
    has_module,
    logits_of,
    parameter_count,
    require_module,
    same_device,
    tensor_devices,
    worker_eval,
)
from graders.checks.tensors import describe_value
from graders.checks import StudentCodeError

QUESTIONS = {"digits_cnn": 3, "train_digits": 5, "device_agnostic": 2}

TRAIN_SECONDS = 60  # COURSE.md: at most 60 s on one CPU core
MAX_PARAMETERS = 100_000
LIMITS = {"call_timeout": 60, "cell_timeout": 180, "total_seconds": 900, "gpu": True}


# ------------------------------------------------------------------ digits_cnn (3)
def _fresh_cnn(submission):
    model = submission.DigitsCNN()
    require_module(submission, model, what="`DigitsCNN()`", expected="a DigitsCNN")
    return model


def _check_logits(submission, model, x: torch.Tensor, what: str) -> torch.Tensor:
    out = logits_of(submission, model, x)
    assert_shape(out, (x.shape[0], 10), what=what, hint="one row of 10 logits (one per digit) for each image")
    if not out.is_floating_point():
        raise CheckFailure(f"{what} returned {describe_value(out)}, expected float logits")
    if not bool(torch.isfinite(out).all()):
        raise CheckFailure(f"{what} returned non-finite logits (nan or inf)")
    return out


@check(grade_id="digits_cnn", points=1)
def test_digits_cnn_output_shape(submission):
    model = _fresh_cnn(submission)
    for n in (1, 7):
        _check_logits(submission, model, torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(n)),
                      f"a DigitsCNN called on a batch of {n} image{'s' if n > 1 else ''} (shape ({n}, 1, 8, 8))")


@check(grade_id="digits_cnn", points=1)
def test_digits_cnn_convolution(submission):
    model = _fresh_cnn(submission)
    if not has_module(submission, model, "Conv2d"):
        raise CheckFailure("`DigitsCNN()` has no nn.Conv2d layer, expected at least one convolution: "
                           "a CNN learns small filters that slide over the image")


@check(grade_id="digits_cnn", points=0.5)
def test_digits_cnn_parameters(submission):
    model = _fresh_cnn(submission)
    n = parameter_count(submission, model)
    if n > MAX_PARAMETERS:
        raise CheckFailure(f"`DigitsCNN()` has {n:,} parameters, expected at most {MAX_PARAMETERS:,}: "
                           "use fewer channels or pool before the linear layer")
    if n == 0:
        raise CheckFailure("`DigitsCNN()` has no parameters, expected learnable layers (nn.Conv2d, nn.Linear)")


@check(grade_id="digits_cnn", points=0.5, hidden=True)
def test_digits_cnn_batch(submission, hidden_seed):
    model = _fresh_cnn(submission)
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(hidden_seed + 51))
    out = _check_logits(submission, model, x, "a DigitsCNN called on a batch of 64 images")
    single = _check_logits(submission, model, x[5:6], "a DigitsCNN called on one image")
    if not torch.allclose(out[5:6], single, rtol=1e-3, atol=1e-4):
        raise CheckFailure("a DigitsCNN gave image 5 of a batch other logits than the same image alone, expected each "
                           "image's logits to depend on that image only (in evaluation mode)")


# ------------------------------------------------------------------ train_digits (5), device_agnostic (2)
TRAINED = "the model returned by `train_digits`"


class _DigitsRun:
    """One call of `train_digits` per submission, hidden seed and device, shared by the checks below."""

    def __init__(self, submission, hidden_seed: int, device: str) -> None:
        self.submission, self.device = submission, device
        self.model = None
        self.accuracy: float | None = None
        self.control: float | None = None
        self.n = self.n_control = 0
        self.error: BaseException | None = None
        try:
            self._train(hidden_seed)
        except Exception as exc:  # re-raised by each check that needs the model
            self.error = exc
        self.eval_error: BaseException | None = None
        if self.error is None:
            try:
                self._evaluate(hidden_seed)
            except Exception as exc:
                self.eval_error = exc

    def _train(self, hidden_seed: int) -> None:
        data = digits_split(hidden_seed)
        model = call_limited(self.submission, "train_digits", data.X_train, data.y_train, self.device,
                             timeout=TRAIN_SECONDS, seed=hidden_seed)
        require_module(self.submission, model, what=f"`train_digits(X, y, {self.device!r})`", expected="the trained DigitsCNN")
        self.model = model

    def _evaluate(self, hidden_seed: int) -> None:
        self.accuracy, self.n = self._accuracy(self.model, digits_split(hidden_seed))
        # the learning control: the same training on digits the grader transposed and whose classes it renamed
        control = digits_control(hidden_seed)
        model = call_limited(self.submission, "train_digits", control.X_train, control.y_train, self.device,
                             timeout=TRAIN_SECONDS, seed=hidden_seed + 1)
        require_module(self.submission, model, what=f"`train_digits(X, y, {self.device!r})`", expected="the trained DigitsCNN")
        self.control, self.n_control = self._accuracy(model, control)

    def _accuracy(self, model, data) -> tuple[float, int]:
        n = int(data.X_test.shape[0])
        out = logits_of(self.submission, model, data.X_test, timeout=30)
        assert_shape(out, (n, 10), what=f"{TRAINED}, called on the grader's {n} test images",
                     hint="one row of 10 logits (one per digit) for each image")
        return accuracy_of(out.float().argmax(dim=1), data.y_test), n

    def trained(self):
        if self.error is not None:
            raise self.error
        return self.model

    def tier(self, threshold: float, record_property) -> None:
        self.trained()
        if self.eval_error is not None:
            raise self.eval_error
        assert self.accuracy is not None
        record_property("accuracy", self.accuracy)
        record_property("control_accuracy", self.control)
        accuracy_tier_check(self.accuracy, threshold, what=TRAINED, n=self.n)
        control_check(self.control, what=TRAINED, n=self.n_control)


@pytest.fixture(scope="module")
def digits_run(submission, hidden_seed, device):
    return _DigitsRun(submission, hidden_seed, device)


SMALL_TRAIN = 200  # images of the public self-check's quick run


@pytest.fixture(scope="module")
def small_run(submission, device):
    """A quick public run on 200 visible training images: is a model on `device` returned?"""
    data = digits_split(0)
    try:
        model = call_limited(submission, "train_digits", data.X_train[:SMALL_TRAIN], data.y_train[:SMALL_TRAIN], device,
                             timeout=TRAIN_SECONDS, seed=0)
        require_module(submission, model, what=f"`train_digits(X, y, {device!r})` on {SMALL_TRAIN} images",
                       expected="the trained DigitsCNN")
        return model, None
    except Exception as exc:  # reported by the checks below
        return None, exc


@check(grade_id="train_digits", points=0)
def test_train_digits_interface(small_run, submission):
    """No points: shows early that `train_digits` returns a model giving 10 logits per image."""
    model, error = small_run
    if error is not None:
        raise error
    _check_logits(submission, model, digits_split(0).X_test[:5], f"the model `train_digits` returned after {SMALL_TRAIN} images, called on 5 images,")


@check(grade_id="device_agnostic", points=0)
def test_device_agnostic_interface(small_run, submission, device):
    """No points: the quick run's model lives on `device`."""
    model, error = small_run
    if error is not None:
        raise error
    wrong = [d for d in tensor_devices(submission, model) if not same_device(d, device)]
    if wrong:
        raise CheckFailure(f"the model `train_digits` returned with device={device!r} has tensors on {', '.join(wrong)}, "
                           f"expected all on {device!r}: `model.to(device)`")


@check(grade_id="train_digits", points=3, hidden=True)
def test_train_digits_accuracy_090(digits_run, record_property):
    digits_run.tier(0.90, record_property)


@check(grade_id="train_digits", points=2, hidden=True)
def test_train_digits_accuracy_095(digits_run, record_property):
    digits_run.tier(0.95, record_property)


@check(grade_id="device_agnostic", points=1, hidden=True)
def test_device_agnostic_parameters(digits_run, device):
    model = digits_run.trained()
    found = tensor_devices(digits_run.submission, model)
    wrong = [d for d in found if not same_device(d, device)]
    if not found:
        raise CheckFailure(f"{TRAINED} has no parameters, expected its parameters on {device!r}")
    if wrong:
        raise CheckFailure(f"{TRAINED} with device={device!r} has parameters or buffers on {', '.join(wrong)}, expected all on "
                           f"{device!r}: move the model with `model.to(device)` (and the data with `X.to(device)`)")


@check(grade_id="device_agnostic", points=1, hidden=True)
def test_device_agnostic_forward(digits_run, device):
    """Everything the model makes lives on `device` too: logits for an input on `device` stay there."""
    model = digits_run.trained()
    what = f"{TRAINED} with device={device!r}, called on images on {device!r},"
    try:
        found = worker_eval(digits_run.submission,
                            "str(torch.no_grad()(lambda: m.eval()(torch.rand(3, 1, 8, 8, device=dev)))().device)",
                            m=model, dev=device)
    except StudentCodeError as exc:  # a hidden check: the student's own error text is not repeated
        raise CheckFailure(f"{what} raised {known_exception_name(exc.mro)}; expected logits on {device!r} "
                           "(create every tensor of the forward pass on the input's device)") from None
    try:
        where = str(torch.device(found)) if type(found) is str and len(found) < 20 else None
    except (RuntimeError, ValueError):
        where = None
    if where is None:
        raise CheckFailure(f"{what} returned no tensor with a device, expected logits on {device!r}")
    if not same_device(where, device):
        raise CheckFailure(f"{what} returned logits on {where!r}, expected them on {device!r}")
