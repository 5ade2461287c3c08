"""Checks of assignment 2, `autograd` (10 points). See COURSE.md §2.

Every gradient is judged here from data the worker returns: references are computed in the judge
(analytic formulas, or autograd on the judge's own float64 reference implementation), vector-Jacobian
products come from autograd run through the student's function on inputs and upstream gradients the
judge chose, and finite differences are computed here from forward values the worker returned.
"""

from __future__ import annotations

import torch

from graders.checks import CheckFailure, assert_close, assert_dtype, assert_shape, assert_tensor, check, describe_value
from graders.checks._base import known_exception_name
from graders.checks.grad import (
    assert_grad_close,
    assert_no_graph,
    assert_vjp,
    eval_in_worker,
    request_forward,
    request_vjp,
)

QUESTIONS = {"poly_grad": 2, "mse_grads": 3, "sigmoid_fn": 3, "two_layer_backward": 2}

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


# ------------------------------------------------------------------ poly_grad (2)
def _poly_derivative(coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """p'(x) = Σ i·cᵢ·x^(i-1), elementwise, in float64 (the analytic reference)."""
    c = coeffs.to(F64)
    x64 = x.to(F64)
    out = torch.zeros_like(x64)
    for i in range(1, c.numel()):
        out = out + i * c[i] * x64 ** (i - 1)
    return out


def _poly_what(coeffs: torch.Tensor, x: torch.Tensor) -> str:
    return f"`poly_grad(coeffs, x)` with coeffs {[round(float(c), 3) for c in coeffs]} and x of shape {tuple(x.shape)}"


def _check_poly(submission, coeffs: torch.Tensor, x: torch.Tensor) -> None:
    what = _poly_what(coeffs, x)
    got = submission.poly_grad(coeffs, x)
    assert_shape(got, x.shape, what=what, hint="the gradient of sum(p(x)) with respect to x has the shape of x")
    assert_grad_close(got, _poly_derivative(coeffs, x), what=what, rtol=1e-7, atol=1e-9, factors=(),
                      hint="element i of the result is p'(x[i]) = Σ k·coeffs[k]·x[i]**(k-1)")


@check(grade_id="poly_grad", points=0.5)
def test_poly_grad_values(submission):
    _check_poly(submission, torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64), torch.linspace(-2, 2, 9, dtype=F64))


@check(grade_id="poly_grad", points=0.5, hidden=True)
def test_poly_grad_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 101)
    for shape in ((3, 4), (), (2, 1, 5)):
        degree = int(torch.randint(1, 6, (), generator=g))
        coeffs = torch.randn(degree + 1, generator=g, dtype=F64)
        _check_poly(submission, coeffs, torch.randn(shape, generator=g, dtype=F64) * 1.5)


@check(grade_id="poly_grad", points=0.5, hidden=True)
def test_poly_grad_no_graph(submission, hidden_seed):
    g = _gen(hidden_seed + 102)
    coeffs = torch.randn(4, generator=g, dtype=F64)
    for requires_grad in (False, True):
        x = torch.randn(6, generator=g, dtype=F64).requires_grad_(requires_grad)
        got = submission.poly_grad(coeffs, x)
        assert_no_graph(got, what=_poly_what(coeffs, x) + f" (x.requires_grad={requires_grad})",
                        hint="return the gradient detached from the graph (autograd.grad without create_graph, "
                             "x.grad, or .detach())")


@check(grade_id="poly_grad", points=0.5, hidden=True)
def test_poly_grad_keeps_requires_grad(submission, hidden_seed):
    g = _gen(hidden_seed + 103)
    coeffs = torch.randn(3, generator=g, dtype=F64)
    for before in (False, True):
        x = torch.randn(5, generator=g, dtype=F64).requires_grad_(before)
        got, after = eval_in_worker(submission, "(lambda f: (lambda r: (r, x.requires_grad))(f(c, x)))(user_ns[name])",
                                    what="`poly_grad`", name="poly_grad", c=coeffs, x=x)
        if after is not before:
            raise CheckFailure(
                f"after `poly_grad(coeffs, x)` x.requires_grad was {after}, expected {before} as before the call: "
                "do not change the caller's tensor; work on a copy (x.detach().requires_grad_()) or restore the flag")
        assert_grad_close(got, _poly_derivative(coeffs, x.detach()), what=_poly_what(coeffs, x) + f" (x.requires_grad={before})",
                          rtol=1e-7, atol=1e-9, factors=())


# ------------------------------------------------------------------ mse_grads (3)
def _mse_data(g: torch.Generator, n: int, d: int) -> tuple[torch.Tensor, ...]:
    X = torch.randn(n, d, generator=g, dtype=F64)
    w = torch.randn(d, generator=g, dtype=F64)
    b = torch.randn((), generator=g, dtype=F64)
    y = X @ torch.randn(d, generator=g, dtype=F64) + 0.5 * torch.randn(n, generator=g, dtype=F64)
    return w, b, X, y


def _mse_reference(w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The judge's own autograd on the reference formula."""
    w_, b_ = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    loss = ((X @ w_ + b_ - y) ** 2).mean()
    dw, db = torch.autograd.grad(loss, (w_, b_))
    return loss.detach(), dw, db


MSE_FACTORS = (
    (0.5, "it is half the expected gradient: the derivative of (ŷ - y)² is 2(ŷ - y), is the factor 2 missing?"),
    (-1.0, "it has the wrong sign: differentiate with the residual (ŷ - y), prediction minus target"),
)


def _mse_factors(n: int) -> tuple[tuple[float, str], ...]:
    extra = ((float(n), "it is N times the expected gradient: the loss is a mean, divide the sum by N"),
             (0.5 * n, "it is N/2 times the expected gradient: divide by N (the mean) and keep the factor 2"))
    return MSE_FACTORS + (extra if n > 1 else ())


def _check_mse(submission, w, b, X, y) -> None:
    n, d = X.shape
    what = f"`mse_grads(w, b, X, y)` with X of shape {tuple(X.shape)}"
    got = submission.mse_grads(w, b, X, y)
    if type(got) not in (tuple, list) or len(got) != 3:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a tuple (loss, dw, db)")
    loss, dw, db = got
    ref_loss, ref_dw, ref_db = _mse_reference(w, b, X, y)
    assert_grad_close(loss, ref_loss, what=f"{what}: loss", rtol=1e-8, atol=1e-8, factors=(),
                      hint="loss = mean((X @ w + b - y)**2)", shape_hint="the mean is a 0-D tensor")
    assert_grad_close(dw, ref_dw, what=f"{what}: dw", rtol=1e-8, atol=1e-8, factors=_mse_factors(n),
                      shape_hint="dw has the shape (D,) of w")
    assert_grad_close(db, ref_db, what=f"{what}: db", rtol=1e-8, atol=1e-8, factors=_mse_factors(n),
                      shape_hint="db is a 0-D tensor like b")


@check(grade_id="mse_grads", points=1)
def test_mse_grads_small(submission):
    X = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5], [-2.0, 1.0]], dtype=F64)
    w = torch.tensor([0.5, -1.0], dtype=F64)
    b = torch.tensor(0.25, dtype=F64)
    y = torch.tensor([1.0, 0.0, 2.0, -1.0], dtype=F64)
    _check_mse(submission, w, b, X, y)


@check(grade_id="mse_grads", points=1, hidden=True)
def test_mse_grads_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 201)
    for n, d in ((37, 5), (1, 1), (10, 3)):
        _check_mse(submission, *_mse_data(g, n, d))


@check(grade_id="mse_grads", points=0.5, hidden=True)
def test_mse_grads_shapes(submission, hidden_seed):
    w, b, X, y = _mse_data(_gen(hidden_seed + 202), 8, 4)
    what = "`mse_grads(w, b, X, y)` with X of shape (8, 4)"
    got = submission.mse_grads(w, b, X, y)
    if type(got) not in (tuple, list) or len(got) != 3:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a tuple (loss, dw, db)")
    for value, name, shape in zip(got, ("loss", "dw", "db"), ((), (4,), ())):
        assert_shape(value, shape, what=f"{what}: {name}", hint={"loss": "the mean is a 0-D tensor", "dw": "the shape of w",
                                                                  "db": "the shape of b (0-D)"}[name])
        assert_dtype(value, F64, what=f"{what}: {name}", hint="float64 inputs give float64 results")


@check(grade_id="mse_grads", points=0.5, hidden=True)
def test_mse_grads_by_hand(submission, hidden_seed):
    """Derived by hand: the function works with autograd switched off (torch.no_grad)."""
    w, b, X, y = _mse_data(_gen(hidden_seed + 203), 6, 2)
    what = "`mse_grads(w, b, X, y)` run under torch.no_grad()"
    try:
        got = eval_in_worker(submission, "torch.no_grad()(user_ns[name])(w, b, X, y)", what="`mse_grads`",
                             name="mse_grads", w=w, b=b, X=X, y=y)
    except Exception as exc:
        if type(exc).__name__ == "StudentCodeError" and "grad" in str(getattr(exc, "message", "")):
            raise CheckFailure(f"{what} raised {known_exception_name(exc.mro)} (an error about gradients); "  # type: ignore[attr-defined]
                               "expected it to work without autograd: "
                               "derive dw and db by hand (dw = 2/N · Xᵀ(ŷ - y), db = 2/N · Σ(ŷ - y)), without backward()") from None
        raise
    if type(got) not in (tuple, list) or len(got) != 3:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a tuple (loss, dw, db)")
    for value, name in zip(got, ("loss", "dw", "db")):
        assert_tensor(value, what=f"{what}: {name}")


# ------------------------------------------------------------------ sigmoid_fn (3)
def _sigmoid_vjp(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x.detach().to(F64))
    return s * (1 - s) * v.to(F64)


def _sigmoid_mistakes(x: torch.Tensor, v: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    s = torch.sigmoid(x.detach().to(F64))
    return [
        (s * (1 - s), "it equals σ(x)(1-σ(x)) without the upstream gradient: backward must return grad_output * σ(x)(1-σ(x))"),
        (s * v.to(F64), "it equals σ(x)·v: the derivative of σ is σ(x)(1-σ(x))"),
        (v.to(F64), "it equals the upstream gradient itself: multiply it by the local derivative σ(x)(1-σ(x))"),
    ]


def _check_sigmoid_forward(submission, x: torch.Tensor) -> None:
    what = f"`sigmoid(x)` for {describe_value(x)}"
    got = submission.sigmoid(x)
    assert_shape(got, x.shape, what=what, hint="sigmoid is applied elementwise")
    assert_dtype(got, x.dtype, what=what, hint="keep the dtype of the input")
    tol = (1e-10, 1e-12) if x.dtype == F64 else (1e-5, 1e-7)
    assert_close(got, torch.sigmoid(x), what=what, rtol=tol[0], atol=tol[1], hint="σ(x) = 1 / (1 + exp(-x))")


def _check_sigmoid_vjp(submission, x: torch.Tensor, v: torch.Tensor) -> None:
    assert_vjp(lambda x_, v_: request_vjp(submission, "sigmoid", x_, v_), x, v, _sigmoid_vjp, what="`sigmoid`",
               rtol=1e-8, atol=1e-12, mistakes=_sigmoid_mistakes(x, v), reference_name="σ(x)(1-σ(x))·v")


@check(grade_id="sigmoid_fn", points=0.5)
def test_sigmoid_fn_forward(submission):
    _check_sigmoid_forward(submission, torch.linspace(-6, 6, 13, dtype=F64))


@check(grade_id="sigmoid_fn", points=0.5)
def test_sigmoid_fn_vjp(submission):
    x = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0], dtype=F64)
    v = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0], dtype=F64)
    _check_sigmoid_vjp(submission, x, v)


@check(grade_id="sigmoid_fn", points=0.5, hidden=True)
def test_sigmoid_fn_forward_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 301)
    _check_sigmoid_forward(submission, torch.randn(3, 4, generator=g, dtype=F64) * 4)
    _check_sigmoid_forward(submission, torch.randn(2, 3, 2, generator=g) * 4)  # float32
    _check_sigmoid_forward(submission, torch.tensor(float(torch.randn((), generator=g)), dtype=F64))
    _check_sigmoid_forward(submission, torch.tensor([-30.0, -15.0, 15.0, 30.0], dtype=F64))


@check(grade_id="sigmoid_fn", points=0.5, hidden=True)
def test_sigmoid_fn_vjp_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 302)
    for shape in ((3, 4), (7,), ()):
        x = torch.randn(shape, generator=g, dtype=F64) * 3
        _check_sigmoid_vjp(submission, x, torch.randn(shape, generator=g, dtype=F64))


@check(grade_id="sigmoid_fn", points=0.5, hidden=True)
def test_sigmoid_fn_finite_differences(submission, hidden_seed):
    """The backward is the derivative of the student's own forward: central differences, computed here."""
    g = _gen(hidden_seed + 303)
    x = torch.randn(2, 3, generator=g, dtype=F64) * 2
    v = torch.randn(2, 3, generator=g, dtype=F64)
    assert_vjp(lambda x_, v_: request_vjp(submission, "sigmoid", x_, v_), x, v, None, what="`sigmoid`",
               forward_many=lambda xs: request_forward(submission, "sigmoid", xs), mistakes=_sigmoid_mistakes(x, v))


@check(grade_id="sigmoid_fn", points=0.5, hidden=True)
def test_sigmoid_fn_custom_function(submission):
    """`sigmoid` goes through the student's own autograd.Function (its backward is what autograd calls)."""
    info = eval_in_worker(
        submission,
        "(lambda F, y: (None if F is None else [c.__module__ + '.' + c.__qualname__ for c in getattr(F, '__mro__', ())],"
        " getattr(F, '__name__', None), type(y.grad_fn).__name__ if getattr(y, 'grad_fn', None) is not None else None))"
        "(user_ns.get('SigmoidFn'), user_ns[name](x))",
        what="`sigmoid`", name="sigmoid", x=torch.tensor([0.5, -1.0], dtype=F64).requires_grad_(True))
    mro, fn_name, grad_fn = info
    if mro is None:
        raise CheckFailure("the notebook defines no class `SigmoidFn`, expected `class SigmoidFn(torch.autograd.Function)` "
                           "with static methods forward and backward")
    if "torch.autograd.function.Function" not in mro:
        raise CheckFailure(f"`SigmoidFn` derives from {mro[1] if len(mro) > 1 else 'object'}, expected torch.autograd.Function")
    expected = f"{fn_name}Backward"
    if grad_fn != expected:
        raise CheckFailure(f"`sigmoid(x)` for x with requires_grad=True has grad_fn {grad_fn}, expected {expected} "
                           "(the backward of SigmoidFn): define sigmoid(x) as SigmoidFn.apply(x)")


# ------------------------------------------------------------------ two_layer_backward (2)
_LAYER_KEYS = ("W1", "b1", "W2", "b2")


def _two_layer_data(g: torch.Generator, n: int, d: int, h: int, o: int) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(n, d, generator=g, dtype=F64), "W1": torch.randn(h, d, generator=g, dtype=F64) / d ** 0.5,
            "b1": torch.randn(h, generator=g, dtype=F64) * 0.5, "W2": torch.randn(o, h, generator=g, dtype=F64) / h ** 0.5,
            "b2": torch.randn(o, generator=g, dtype=F64) * 0.5, "y": torch.randn(n, o, generator=g, dtype=F64)}


def _two_layer_reference(data: dict[str, torch.Tensor], *, mask: bool = True, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Autograd on the reference network (in the judge). mask=False / scale: typical wrong variants for hints."""
    p = {k: data[k].detach().clone().requires_grad_() for k in _LAYER_KEYS}
    z = data["x"] @ p["W1"].T + p["b1"]
    a = torch.relu(z) if mask else z.detach().clamp(min=0) + (z - z.detach())  # no mask: ReLU's forward, identity's backward
    out = a @ p["W2"].T + p["b2"]
    loss = ((out - data["y"]) ** 2).mean() * scale
    grads = torch.autograd.grad(loss, [p[k] for k in _LAYER_KEYS])
    return dict(zip(_LAYER_KEYS, grads))


def _check_two_layer(submission, data: dict[str, torch.Tensor]) -> None:
    n, d = data["x"].shape
    h, o = data["W1"].shape[0], data["W2"].shape[0]
    what = f"`two_layer_backward` with N={n}, D={d}, H={h}, O={o}"
    got = submission.two_layer_backward(data["x"], data["W1"], data["b1"], data["W2"], data["b2"], data["y"])
    if type(got) is not dict:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a dict with keys W1, b1, W2, b2")
    missing = [k for k in _LAYER_KEYS if k not in got]
    if missing:
        raise CheckFailure(f"{what} returned a dict without key {missing[0]!r}, expected keys W1, b1, W2, b2")
    ref = _two_layer_reference(data)
    no_mask = _two_layer_reference(data, mask=False)
    per_n = _two_layer_reference(data, scale=float(o)) if o > 1 else None
    for k in _LAYER_KEYS:
        mistakes = [(no_mask[k], "it matches the network without the ReLU's mask: multiply the gradient flowing back "
                                 "through the ReLU by (z > 0), where z = x @ W1.T + b1")] if k in ("W1", "b1") else []
        if per_n is not None:
            mistakes.append((per_n[k], f"it is O={o} times the expected gradient: the mean is over all N·O elements of out, "
                                       "divide by N·O, not by N"))
        assert_grad_close(got[k], ref[k], what=f"{what}: gradient {k!r}", rtol=1e-8, atol=1e-10, mistakes=mistakes,
                          shape_hint=f"the gradient of {k} has the shape of {k}")


@check(grade_id="two_layer_backward", points=1)
def test_two_layer_backward_small(submission):
    _check_two_layer(submission, _two_layer_data(_gen(0), 4, 3, 5, 2))


@check(grade_id="two_layer_backward", points=0.5, hidden=True)
def test_two_layer_backward_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 401)
    _check_two_layer(submission, _two_layer_data(g, 9, 6, 10, 3))
    _check_two_layer(submission, _two_layer_data(g, 1, 2, 3, 1))


@check(grade_id="two_layer_backward", points=0.5, hidden=True)
def test_two_layer_backward_by_hand(submission, hidden_seed):
    """Derived by hand: works with autograd switched off, gradients shaped like the parameters."""
    data = _two_layer_data(_gen(hidden_seed + 402), 5, 4, 6, 2)
    what = "`two_layer_backward` run under torch.no_grad()"
    try:
        got = eval_in_worker(submission, "torch.no_grad()(user_ns[name])(x, W1, b1, W2, b2, y)", what="`two_layer_backward`",
                             name="two_layer_backward", **data)
    except Exception as exc:
        if type(exc).__name__ == "StudentCodeError" and "grad" in str(getattr(exc, "message", "")):
            raise CheckFailure(f"{what} raised {known_exception_name(exc.mro)} (an error about gradients); "  # type: ignore[attr-defined]
                               "expected it to work without autograd: "
                               "apply the chain rule by hand, layer by layer, without backward()") from None
        raise
    if type(got) is not dict:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a dict with keys W1, b1, W2, b2")
    for k in _LAYER_KEYS:
        if k not in got:
            raise CheckFailure(f"{what} returned a dict without key {k!r}, expected keys W1, b1, W2, b2")
        assert_shape(got[k], data[k].shape, what=f"{what}: gradient {k!r}", hint=f"a gradient has the shape of its parameter {k}")
