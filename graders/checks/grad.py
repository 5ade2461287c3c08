"""Gradient checks judged from data: the worker returns values, the judge decides.

The worker is only ever asked for *values*: a function's output, the vector-Jacobian product
autograd computes through the student's function for an upstream gradient the judge chose, and
outputs at inputs the judge perturbed. Every comparison (against a reference the judge computes,
against central finite differences the judge computes from returned forward values) runs here,
in float64. No verdict of student code is trusted (no in-worker `gradcheck`).

Typical use in a check::

    y, g = request_vjp(submission, "sigmoid", x, v)          # data from the worker
    assert_vjp(lambda x, v: (y, g), x, v, reference, what="`sigmoid`")
    assert_vjp(lambda x, v: request_vjp(submission, "sigmoid", x, v), x, v, None,
               forward_many=lambda xs: request_forward(submission, "sigmoid", xs), what="`sigmoid`")

Only torch and the standard library are used (these helpers may also run in a student's kernel).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from ._base import CheckFailure, meta_of
from .tensors import _shape, assert_close, assert_shape, assert_tensor, describe_value

# Evaluated in the worker (the expression is the judge's; only `name` comes from the check):
# the student's function applied to x (sent with requires_grad=True), then autograd's
# vector-Jacobian product for the upstream gradient v, when the output can carry one.
_VJP_EXPR = (
    "(lambda f: (lambda y: (y, torch.autograd.grad(y, x, v, allow_unused=True)[0]"
    " if isinstance(y, torch.Tensor) and y.requires_grad and tuple(y.shape) == tuple(v.shape) else None))"
    "(f(x)))(user_ns[name])"
)
_FORWARD_EXPR = "(lambda f: [f(xi) for xi in xs])(user_ns[name])"

# factors by which a gradient is typically off, and what that usually means
COMMON_FACTORS: tuple[tuple[float, str], ...] = (
    (0.5, "it is half the expected gradient: is a factor 2 missing (d/dz of z² is 2z)?"),
    (2.0, "it is twice the expected gradient: is a factor 2 counted twice?"),
    (-1.0, "it has the wrong sign: the residual is (prediction - target), not (target - prediction)"),
)


def _rename(exc: BaseException, what: str, name: str = "") -> BaseException:
    """A student exception from `submission.eval` names 'the checked value'; name the function instead
    (and report a missing notebook name as the NameError it is, not as the KeyError of `user_ns[name]`)."""
    if type(exc).__name__ == "StudentCodeError" and hasattr(exc, "type_name"):
        type_name, message, mro = exc.type_name, exc.message, getattr(exc, "mro", None)  # type: ignore[attr-defined]
        if name and type_name == "KeyError" and message == repr(name):
            type_name, message, mro = "NameError", f"name {name!r} is not defined in the notebook", ["NameError", "Exception"]
        try:
            return type(exc)(what, type_name, message, mro, getattr(exc, "traceback", ""),  # type: ignore[call-arg]
                             trace=getattr(exc, "trace", ""))
        except Exception:  # noqa: BLE001 - keep the original if it cannot be rebuilt
            return exc
    return exc


def eval_in_worker(submission: Any, expr: str, *, what: str, timeout: float | None = None, **bindings: Any) -> Any:
    """`submission.eval(expr, **bindings)`, with the student's exceptions named after `what`.
    Write notebook names as `user_ns[name]` with `name` bound: a missing one becomes a NameError."""
    try:
        return submission.eval(expr, timeout=timeout, **bindings)
    except Exception as exc:
        new = _rename(exc, what, bindings.get("name", "") if isinstance(bindings.get("name"), str) else "")
        if new is exc:
            raise
        raise new from None


def request_vjp(submission: Any, name: str, x: Any, v: Any, *, timeout: float | None = None) -> tuple[Any, Any]:
    """Ask the worker for `name(x)` and autograd's vector-Jacobian product vᵀJ at x. Data only.

    Returns (y, g); g is None when the output carries no graph (or its shape differs from v's).
    """
    import torch

    xg = x.detach().clone().requires_grad_(True)
    vv = v.detach().clone() if isinstance(v, torch.Tensor) else v
    return eval_in_worker(submission, _VJP_EXPR, what=f"`{name}` (forward and backward)", timeout=timeout,  # type: ignore[no-any-return]
                          name=name, x=xg, v=vv)


def request_forward(submission: Any, name: str, xs: Sequence[Any], *, timeout: float | None = None) -> list[Any]:
    """Ask the worker for `name(x)` at each x of xs, in one round trip."""
    out = eval_in_worker(submission, _FORWARD_EXPR, what=f"`{name}`", timeout=timeout, name=name, xs=[x.detach().clone() for x in xs])
    if type(out) is not list or len(out) != len(xs):
        raise CheckFailure(f"`{name}` could not be evaluated at the {len(xs)} inputs the grader chose")
    return out  # type: ignore[no-any-return]


def central_difference_vjp(forward_many: Callable[[list[Any]], Sequence[Any]], x: Any, v: Any, *,
                           eps: float | None = None, what: str = "the function") -> Any:
    """vᵀJ at x by central differences (f(x + εeⱼ) - f(x - εeⱼ)) / 2ε, computed here in float64.

    `forward_many(xs)` returns the function's outputs at the inputs xs (one request to the worker).
    """
    import torch

    x64 = x.detach().to("cpu", torch.float64)
    v64 = v.detach().to("cpu", torch.float64)
    n = x64.numel()
    if eps is None:  # balances truncation (eps²) against rounding (machine epsilon / eps) for the dtype sent
        eps = 1e-6 if x.dtype == torch.float64 else 1e-3
    flat = x64.reshape(-1)
    xs: list[Any] = []
    for j in range(n):
        for sign in (1.0, -1.0):
            p = flat.clone()
            p[j] += sign * eps
            xs.append(p.reshape(x64.shape).to(x.dtype))
    outs = list(forward_many(xs))
    g = torch.zeros(n, dtype=torch.float64)
    for j in range(n):
        plus, minus = outs[2 * j], outs[2 * j + 1]
        for val in (plus, minus):
            assert_tensor(val, what=f"{what} at an input the grader perturbed")
            assert_shape(val, v64.shape, what=f"{what} at an input the grader perturbed")
        diff = plus.detach().to(torch.float64) - minus.detach().to(torch.float64)
        g[j] = (v64 * diff).sum() / (2 * eps)
    return g.reshape(x64.shape)


def _matches(got: Any, candidate: Any, rtol: float, atol: float) -> bool:
    import torch

    if tuple(got.shape) != tuple(candidate.shape):
        return False
    a = got.detach().to("cpu", torch.float64)
    b = candidate.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(a).all()) or not bool((b != 0).any()):
        return False
    return bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def mistake_hint(got: Any, expected: Any, *, mistakes: Iterable[tuple[Any, str]] = (),
                 factors: Iterable[tuple[float, str]] = COMMON_FACTORS, rtol: float = 1e-6, atol: float = 1e-9) -> str:
    """If `got` equals a known wrong answer (`mistakes`: (tensor, hint)) or `expected` times a
    common factor, the hint that explains it; else ''."""
    import torch

    if not isinstance(got, torch.Tensor) or not isinstance(expected, torch.Tensor):
        return ""
    for candidate, hint in mistakes:
        if _matches(got, candidate, rtol, atol):
            return hint
    for factor, hint in factors:
        if _matches(got, expected * factor, rtol, atol):
            return hint
    return ""


def assert_grad_close(got: Any, expected: Any, *, what: str, rtol: float = 1e-7, atol: float = 1e-9,
                      mistakes: Iterable[tuple[Any, str]] = (), factors: Iterable[tuple[float, str]] = COMMON_FACTORS,
                      hint: str = "", shape_hint: str = "") -> None:
    """Like assert_close (float64, shape first), plus a hint when `got` is a known typical mistake.
    `shape_hint` is added to a wrong shape only, `hint` to wrong values only."""
    mistakes = list(mistakes)
    assert_shape(got, expected.shape, what=what, hint=shape_hint)
    try:
        assert_close(got, expected, what=what, rtol=rtol, atol=atol, hint=hint)
    except CheckFailure as exc:
        extra = mistake_hint(got, expected, mistakes=mistakes, factors=factors, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9))
        if extra:
            raise CheckFailure(f"{exc}; {extra}") from None
        raise


def assert_no_graph(value: Any, *, what: str, hint: str = "") -> None:
    """The returned tensor must not be part of a computational graph (requires_grad False, no grad_fn)."""
    assert_tensor(value, what=what)
    meta = meta_of(value)
    requires_grad = meta.requires_grad if meta is not None else bool(value.requires_grad)
    has_grad_fn = meta.has_grad_fn if meta is not None else value.grad_fn is not None
    if requires_grad or has_grad_fn:
        state = f"requires_grad=True{', with a grad_fn' if has_grad_fn else ''}"
        raise CheckFailure(f"{what} returned a tensor that is still attached to a computational graph ({state}), "
                           "expected a plain tensor with requires_grad=False" + (f": {hint}" if hint else ""))


def assert_vjp(submission_fn: Callable[[Any, Any], tuple[Any, Any]], x: Any, v: Any, reference_vjp: Any = None, *,
               what: str, forward_many: Callable[[list[Any]], Sequence[Any]] | None = None,
               rtol: float = 1e-7, atol: float = 1e-10, fd_eps: float | None = None, fd_rtol: float = 1e-5,
               fd_atol: float = 1e-7, mistakes: Iterable[tuple[Any, str]] = (), reference_name: str = "") -> tuple[Any, Any]:
    """Judge a vector-Jacobian product returned by the worker.

    `submission_fn(x, v)` returns (y, g): the output at x and vᵀJ (see `request_vjp`).
    `reference_vjp` is the expected vᵀJ (a tensor, or a callable (x, v) -> tensor computed here);
    with `forward_many`, g must also agree with central differences of the returned forward values.
    Returns (y, g) so callers can check more.
    """
    import torch

    mistakes = list(mistakes)
    if reference_vjp is None and forward_many is None:
        raise ValueError("assert_vjp needs reference_vjp or forward_many")
    y, g = submission_fn(x, v)
    assert_tensor(y, what=what)
    assert_shape(y, v.shape, what=what, hint="an elementwise function keeps the shape of its input" if v.shape == x.shape else "")
    at = f"at x of shape {_shape(x.shape)} with upstream gradient v"
    if g is None:
        meta = meta_of(y)
        if meta is not None and not meta.requires_grad:
            raise CheckFailure(f"{what} returned a tensor without a computational graph (requires_grad=False) for an input "
                               "with requires_grad=True, so autograd cannot take its gradient; expected the output to carry "
                               "a grad_fn (do not detach it or compute it under torch.no_grad())")
        raise CheckFailure(f"the backward of {what} returned no gradient for x (None), expected a tensor of shape {_shape(x.shape)}")
    assert_tensor(g, what=f"the backward of {what}")
    assert_shape(g, x.shape, what=f"the backward of {what}", hint="the gradient with respect to x has the shape of x")
    if not bool(torch.isfinite(g.detach().double()).all()):
        raise CheckFailure(f"the backward of {what} {at} returned {describe_value(g)} with NaN or infinite values, expected finite gradients")
    if reference_vjp is not None:
        ref = reference_vjp(x, v) if callable(reference_vjp) else reference_vjp
        label = f" ({reference_name})" if reference_name else ""
        try:
            assert_grad_close(g, ref, what=f"the vector-Jacobian product of {what} {at}", rtol=rtol, atol=atol, mistakes=mistakes)
        except CheckFailure as exc:
            raise CheckFailure(str(exc).replace(", expected ", f", expected{label} ", 1) if label else str(exc)) from None
    if forward_many is not None:
        fd = central_difference_vjp(forward_many, x, v, eps=fd_eps, what=what)
        try:
            assert_close(g, fd, what=f"the backward of {what} {at}", rtol=fd_rtol, atol=fd_atol)
        except CheckFailure as exc:
            raise CheckFailure(
                f"{exc}: the expected value comes from central finite differences of your own forward, so your backward "
                "is not the derivative of your forward (or it does not multiply by the upstream gradient grad_output)"
                + (f"; {h}" if (h := mistake_hint(g, fd, mistakes=mistakes, factors=(), rtol=1e-4, atol=1e-7)) else "")
            ) from None
    return y, g
