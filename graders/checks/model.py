"""Helpers for trained-model checks: the judge's data, accuracy it computes itself, tiers, worker calls.

The judge generates every data set here from the hidden seed. Training inputs and training labels
are sent to the worker; of the test split only the inputs are sent, and the accuracy is computed
in the judge from the predictions that come back, so test labels never enter the student's process.

Data sets are cached per seed: grading a whole class generates them once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from ._base import CheckFailure, trace_of
from .tensors import describe_value

CIRCLES_SAMPLES = 1000
CIRCLES_NOISE = 0.03
CIRCLES_FACTOR = 0.8
TEST_FRACTION = 0.2
DIGITS_NOISE = 0.02


@dataclass(frozen=True)
class Split:
    """Train inputs and labels (sent to the worker), test inputs (sent) and test labels (kept)."""

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any  # never leaves the judge


def _permutation(n: int, seed: int) -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.random.default_rng(seed).permutation(n))


@cache
def circles_split(seed: int) -> Split:
    """Two circles like make_circles(n_samples=1000, noise=0.03, factor=0.8), split 80/20 by `seed`.

    X float32 (N, 2), y float32 of 0. and 1. (N,) (the label 1 is the inner circle, as scikit-learn does).
    """
    import torch
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=CIRCLES_SAMPLES, noise=CIRCLES_NOISE, factor=CIRCLES_FACTOR, random_state=seed % 2**32)
    X_t = torch.tensor(X, dtype=torch.float32)
    y_t = torch.tensor(y, dtype=torch.float32)
    perm = _permutation(CIRCLES_SAMPLES, seed + 1)
    n_test = round(TEST_FRACTION * CIRCLES_SAMPLES)
    test, train = perm[:n_test], perm[n_test:]
    return Split(X_t[train].contiguous(), y_t[train].contiguous(), X_t[test].contiguous(), y_t[test].contiguous())


@cache
def _digits() -> tuple[Any, Any]:
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    y = torch.tensor(d.target, dtype=torch.int64)
    return X, y


@cache
def digits_split(seed: int) -> Split:
    """scikit-learn's 8x8 digits in [0, 1], (N, 1, 8, 8) float32, int64 labels; the grader's own ~20% test
    split chosen by `seed`, its images perturbed by Gaussian noise (sigma 0.02) and clipped to [0, 1]."""
    import torch

    X, y = _digits()
    n = y.shape[0]
    perm = _permutation(n, seed + 2)
    n_test = round(TEST_FRACTION * n)
    test, train = perm[:n_test], perm[n_test:]
    g = torch.Generator().manual_seed(seed + 3)
    X_test = (X[test] + DIGITS_NOISE * torch.randn(X[test].shape, generator=g)).clamp(0.0, 1.0)
    return Split(X[train].contiguous(), y[train].contiguous(), X_test.contiguous(), y[test].contiguous())


# --------------------------------------------------------------------------- accuracy and tiers
def check_labels(pred: Any, n: int, *, what: str, num_classes: int = 2) -> None:
    """`pred` must be an int64 tensor of shape (n,) with values in 0..num_classes-1."""
    import torch

    classes = "0 or 1" if num_classes == 2 else f"in 0..{num_classes - 1}"
    if not isinstance(pred, torch.Tensor):
        raise CheckFailure(f"{what} returned {describe_value(pred)}, expected an int64 tensor of shape ({n},) of labels {classes}")
    if tuple(pred.shape) != (n,):
        hint = " (squeeze the last dimension: one label per example)" if tuple(pred.shape) == (n, 1) else ""
        raise CheckFailure(f"{what} returned {describe_value(pred)}, expected shape ({n},): one label per example{hint}",
                           trace=trace_of(pred))
    if pred.dtype != torch.int64:
        got = str(pred.dtype).removeprefix("torch.")
        if pred.is_floating_point() and pred.numel() and bool(((pred > 0) & (pred < 1)).any()):
            why = "these look like probabilities: turn them into labels (for example `(probs > 0.5)`) and then `.long()`"
        else:
            why = "convert the labels with `.long()`"
        raise CheckFailure(f"{what} returned dtype {got}, expected int64 labels {classes}: {why}")
    bad = (pred < 0) | (pred >= num_classes)
    if bool(bad.any()):
        raise CheckFailure(f"{what} returned the label {int(pred[bad][0])}, expected labels {classes}")


def accuracy_of(pred: Any, labels: Any) -> float:
    """Fraction of predictions equal to the labels, computed in the judge."""
    return float((pred.long() == labels.long()).double().mean())


def accuracy_tier_check(acc: float, threshold: float, *, what: str, n: int | None = None) -> None:
    """Pass when `acc` reaches `threshold`; otherwise say how far the model got and what was needed."""
    if acc + 1e-12 >= threshold:
        return
    count = f" ({round(acc * n)} of {n} test examples right)" if n else ""
    shown = math.floor(acc * 1000) / 1000  # rounded down: 0.9499 must not read as 0.950
    raise CheckFailure(f"{what} reached {shown:.3f} accuracy on the grader's held-out data{count}; {threshold:.2f} earns these points")


# --------------------------------------------------------------------------- talking to the submission
def call_limited(submission: Any, name: str, *args: Any, timeout: float, seed: int | None = None) -> Any:
    """Call the notebook's `name(*args)` with a time limit, after seeding torch/random/numpy with `seed`."""
    return submission.call(name, *args, timeout=timeout, seed=seed)


def worker_eval(submission: Any, expr: str, *, timeout: float | None = None, **bindings: Any) -> Any:
    """Evaluate a judge-written expression about the submission's objects (where they live: the worker)."""
    return submission.eval(expr, timeout=timeout, **bindings)


def is_module(submission: Any, obj: Any) -> bool:
    if obj is None or isinstance(obj, (int, float, str, bool, list, tuple, dict)):
        return False
    import torch

    if isinstance(obj, torch.Tensor):
        return False
    return bool(worker_eval(submission, "isinstance(m, torch.nn.Module)", m=obj))


def require_module(submission: Any, obj: Any, *, what: str, expected: str) -> None:
    if not is_module(submission, obj):
        raise CheckFailure(f"{what} returned {describe_value(obj)}, expected {expected} (an nn.Module): return the trained model")


# forward pass in evaluation mode, without a graph, on the model's own device; logits come back on the CPU
_FORWARD = (
    "torch.no_grad()(lambda: m.eval()(x.to(next(iter(m.parameters()), torch.empty(0)).device)))()"
)


def logits_of(submission: Any, model: Any, x: Any, *, timeout: float | None = None) -> Any:
    """The model's outputs for inputs `x` (evaluation mode, no gradients)."""
    return worker_eval(submission, _FORWARD, timeout=timeout, m=model, x=x)


def parameter_count(submission: Any, model: Any) -> int:
    return int(worker_eval(submission, "sum(p.numel() for p in m.parameters())", m=model))


def has_module(submission: Any, model: Any, kind: str) -> bool:
    """Whether some module inside `model` is a `torch.nn.<kind>` (subclasses count)."""
    return bool(worker_eval(submission, f"any(isinstance(mod, torch.nn.{kind}) for mod in m.modules())", m=model))


def tensor_devices(submission: Any, model: Any) -> list[str]:
    """Devices of every parameter and buffer of `model`, like ['cpu'] or ['cuda:0']."""
    return list(worker_eval(submission, "sorted({str(t.device) for t in list(m.parameters()) + list(m.buffers())})", m=model))


def same_device(found: str, wanted: str) -> bool:
    """'cuda:0' counts as 'cuda'; 'cpu' as 'cpu'."""
    import torch

    f, w = torch.device(found), torch.device(wanted)
    return f.type == w.type and (w.index is None or f.index == w.index)
