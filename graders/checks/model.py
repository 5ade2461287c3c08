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


def _numpy_permutation(n: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).permutation(n)


def _permutation(n: int, seed: int) -> Any:
    import torch

    return torch.from_numpy(_numpy_permutation(n, seed))


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


DIGITS_HOLDOUT_SEED = 8_0517  # fixed: the same held-out images for every seed, so the sandbox can leave them out


def digits_holdout_rows(n: int) -> tuple[Any, Any]:
    """digits_holdout as sorted NumPy index arrays: what the sandbox's copy of the digits is made from
    (graders/sandbox/datasets.py) without importing torch in the process that starts sandboxes."""
    import numpy as np

    perm = _numpy_permutation(n, DIGITS_HOLDOUT_SEED)
    n_test = round(TEST_FRACTION * n)
    return np.sort(perm[:n_test]), np.sort(perm[n_test:])


def digits_holdout(n: int) -> tuple[Any, Any]:
    """(held-out indices, public indices) of scikit-learn's `n` digits: the grader's test images come from
    the held-out fifth only, and the worker's copy of scikit-learn's digits holds the public rows only
    (graders/sandbox/datasets.py), so no test image is readable inside the sandbox."""
    import torch

    held, public = digits_holdout_rows(n)
    return torch.from_numpy(held), torch.from_numpy(public)


@cache
def digits_split(seed: int) -> Split:
    """scikit-learn's 8x8 digits in [0, 1], (N, 1, 8, 8) float32, int64 labels. The test images are the
    grader's held-out fifth (never in the sandbox), in an order chosen by `seed` and perturbed by Gaussian
    noise (sigma 0.02, also from `seed`) clipped to [0, 1]; the training images are the rest, shuffled by `seed`."""
    import torch

    X, y = _digits()
    held, public = digits_holdout(y.shape[0])
    test = held[_permutation(held.shape[0], seed + 2)]
    train = public[_permutation(public.shape[0], seed + 4)]
    g = torch.Generator().manual_seed(seed + 3)
    X_test = (X[test] + DIGITS_NOISE * torch.randn(X[test].shape, generator=g)).clamp(0.0, 1.0)
    return Split(X[train].contiguous(), y[train].contiguous(), X_test.contiguous(), y[test].contiguous())


# --------------------------------------------------------------------------- learning controls
# A second training run on data the judge transformed in a way no rule written in advance can
# follow: a model that learns from its training data does as well there; a hand-written rule
# (a radius threshold) or a lookup into a public copy of the data (scikit-learn's digits) does not.
CONTROL_BAR = 0.85  # accuracy the control run must reach for any accuracy points (chance: 0.5 / 0.1)


@cache
def circles_control(seed: int) -> Split:
    """Two circles of another draw, moved off the origin, stretched along the axes, with the labels swapped
    (1 = outer ring). An MLP learns them as well as the originals; `0.9 - |x|` does not."""
    import numpy as np
    import torch

    base = circles_split(seed + 7919)
    rng = np.random.default_rng([seed, 31])
    shift = torch.tensor(rng.uniform(0.3, 0.6, 2) * rng.choice([-1.0, 1.0], 2), dtype=torch.float32)
    scale = torch.tensor(rng.uniform(0.8, 1.25, 2), dtype=torch.float32)

    def move(X: Any) -> Any:
        return (X * scale + shift).contiguous()

    return Split(move(base.X_train), (1.0 - base.y_train).contiguous(), move(base.X_test), (1.0 - base.y_test).contiguous())


@cache
def digits_control(seed: int) -> Split:
    """The digits of `digits_split(seed)` transposed (rows become columns) and with the digit classes renamed
    by a permutation that moves every class: a CNN learns them as well; a lookup of the original digits
    (and their labels) is wrong on nearly every image."""
    import numpy as np
    import torch

    base = digits_split(seed + 7919)
    rng = np.random.default_rng([seed, 37])
    while True:
        rename = rng.permutation(10)
        if not (rename == np.arange(10)).any():
            break
    rename_t = torch.from_numpy(rename).to(torch.int64)
    return Split(base.X_train.transpose(-1, -2).contiguous(), rename_t[base.y_train].contiguous(),
                 base.X_test.transpose(-1, -2).contiguous(), rename_t[base.y_test].contiguous())


def control_check(acc: float | None, *, what: str, n: int | None = None) -> None:
    """No accuracy points unless the control run (same task, data the grader transformed) reached CONTROL_BAR."""
    if acc is None or acc + 1e-12 >= CONTROL_BAR:
        return
    count = f" ({round(acc * n)} of {n} right)" if n else ""
    shown = math.floor(acc * 1000) / 1000
    raise CheckFailure(f"{what}: trained the same way on another data set of the grader (the same kind of task), the model reached "
                       f"only {shown:.3f} accuracy{count}; {CONTROL_BAR:.2f} is needed for any accuracy points. The model must "
                       "learn from the training data it is given: a rule written in advance or a lookup of known "
                       "examples earns nothing")


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


def require_class(submission: Any, obj: Any, name: str, *, what: str) -> None:
    """The object must be an instance of the notebook's own class `name` itself (not another class, not a subclass)."""
    if bool(worker_eval(submission, f"type(m) is user_ns.get({name!r})", m=obj)):
        return
    got = getattr(obj, "type_name", type(obj).__name__)
    raise CheckFailure(f"{what} returned a {got}, expected a {name}: the exercise asks for the model class {name} "
                       f"of the notebook, so train and return `{name}()` itself")


# forward pass in evaluation mode, without a graph, on the model's own device; logits come back on the CPU
_FORWARD = (
    "torch.no_grad()(lambda: m.eval()(x.to(next(iter(m.parameters()), torch.empty(0)).device)))()"
)


def logits_of(submission: Any, model: Any, x: Any, *, timeout: float | None = None) -> Any:
    """The model's outputs for inputs `x` (evaluation mode, no gradients)."""
    return worker_eval(submission, _FORWARD, timeout=timeout, m=model, x=x)


# Runs in the worker (through eval + exec): every tensor a model holds, found without calling any
# method the student's classes could override (parameters(), state_dict(), modules(), named_*):
# registered parameters and buffers, and tensors kept as plain attributes, of the module and of every
# submodule (walked through the instance dictionaries), each storage once, copied as plain CPU tensors.
_HELD_TENSORS = """
def held_tensors(root):
    T = torch.Tensor
    seen_mods, seen_data, out, stack = set(), set(), {}, [("", root)]
    with torch._C.DisableTorchFunctionSubclass():
        while stack and len(out) < 10000:
            prefix, mod = stack.pop()
            if id(mod) in seen_mods:
                continue
            seen_mods.add(id(mod))
            d = object.__getattribute__(mod, "__dict__")
            found = list(dict(d.get("_parameters") or {}).items())
            norm = isinstance(mod, torch.nn.modules.batchnorm._NormBase)  # running statistics: not weights
            found += [(k, v) for k, v in dict(d.get("_buffers") or {}).items() if not (norm and k in ("running_mean", "running_var"))]
            found += [(k, v) for k, v in d.items() if isinstance(v, T)]
            for k, v in d.items():
                if isinstance(v, (list, tuple)):
                    found += [(f"{k}.{i}", t) for i, t in enumerate(v) if isinstance(t, T)]
                elif isinstance(v, dict):
                    found += [(f"{k}.{j}", t) for j, t in v.items() if isinstance(t, T)]
            for k, v in found:
                if not isinstance(v, T):
                    continue
                key = (T.data_ptr(v), tuple(T.size(v)), T.dtype.__get__(v)) if T.numel(v) else ("empty", id(v))
                if key in seen_data:
                    continue
                seen_data.add(key)
                out[prefix + str(k)] = T.detach(v).to("cpu").as_subclass(T).clone()
            for k, sub in dict(d.get("_modules") or {}).items():
                if isinstance(sub, torch.nn.Module):
                    stack.append((f"{prefix}{k}.", sub))
    return out
"""


def held_tensors(submission: Any, model: Any) -> dict[str, Any]:
    """Every tensor the model holds (parameters, buffers, tensor attributes, of all submodules), sent as data."""
    found = worker_eval(submission, "(lambda g: (exec(src, g), g['held_tensors'](m))[1])({'torch': torch})",
                        src=_HELD_TENSORS, m=model)
    import torch

    if type(found) is not dict or not all(isinstance(t, torch.Tensor) for t in found.values()):
        raise CheckFailure("the grader could not read the model's tensors")
    return found


def parameter_count(submission: Any, model: Any) -> int:
    """Counted by the judge from the tensors themselves: what the model's parameters() says does not matter.
    Floating-point buffers count too (weights can hide there); integer buffers (BatchNorm's step counter) do not."""
    return sum(int(t.numel()) for t in held_tensors(submission, model).values() if t.is_floating_point() or t.is_complex())


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
