from __future__ import annotations

from typing import Any, Callable

from ._base import CheckFailure, known_exception_name, trace_of


def describe_value(value: Any) -> str:
    """How a returned value is named in messages: 'a float32 tensor of shape (3, 5)'."""
    import torch

    if isinstance(value, torch.Tensor):
        dt = str(value.dtype).removeprefix("torch.")
        return f"a {dt} tensor of shape {_shape(value.shape)}"
    if value is None:
        return "None (did the function forget to `return`?)"
    tn = getattr(value, "type_name", None)
    if tn is not None:
        return f"a {tn} object"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def _shape(shape: Any) -> str:
    t = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, t)) + ("," if len(t) == 1 else "") + ")"


def assert_tensor(value: Any, *, what: str) -> None:
    import torch

    if not isinstance(value, torch.Tensor):
        raise CheckFailure(f"{what} returned {describe_value(value)}, expected a torch.Tensor")


def assert_shape(value: Any, expected: Any, *, what: str, hint: str = "") -> None:
    assert_tensor(value, what=what)
    got = tuple(value.shape)
    exp = tuple(expected)
    if got != exp:
        msg = f"{what} returned shape {_shape(got)}, expected {_shape(exp)}"
        raise CheckFailure(msg + (f": {hint}" if hint else ""), trace=trace_of(value))


def assert_dtype(value: Any, expected: Any, *, what: str, hint: str = "") -> None:
    assert_tensor(value, what=what)
    if value.dtype != expected:
        got = str(value.dtype).removeprefix("torch.")
        exp = str(expected).removeprefix("torch.")
        raise CheckFailure(f"{what} returned dtype {got}, expected {exp}" + (f": {hint}" if hint else ""))


def assert_close(value: Any, expected: Any, *, what: str, rtol: float = 1e-5, atol: float = 1e-8,
                 check_dtype: bool = False, hint: str = "") -> None:
    """Shape first, then values; the message shows where they differ most."""
    import torch

    assert_tensor(value, what=what)
    assert_shape(value, expected.shape, what=what, hint=hint)
    if check_dtype:
        assert_dtype(value, expected.dtype, what=what)
    got = value.detach().to("cpu", torch.float64) if value.is_floating_point() or value.dtype == expected.dtype else value.detach().to("cpu").double()
    exp = expected.detach().to("cpu", torch.float64)
    if got.numel() == 0:
        return
    bad_nan = torch.isnan(got) & ~torch.isnan(exp)
    if bad_nan.any():
        raise CheckFailure(f"{what} returned NaN where {float(exp[bad_nan][0]):.6g} was expected" + (f": {hint}" if hint else ""))
    diff = (got - exp).abs()
    tol = atol + rtol * exp.abs()
    finite = torch.isfinite(exp)
    ok = torch.where(finite, diff <= tol, got == exp)
    if not bool(ok.all()):
        idx = int(torch.argmax(torch.where(ok, torch.zeros_like(diff), torch.nan_to_num(diff, nan=float("inf"), posinf=float("inf")) + 1)))
        pos = tuple(int(i) for i in torch.unravel_index(torch.tensor(idx), got.shape)) if got.dim() else ()
        where = f" at index {pos}" if pos else ""
        n_bad = int((~ok).sum())
        raise CheckFailure(
            f"{what} returned {float(got.reshape(-1)[idx]):.6g}{where}, expected {float(exp.reshape(-1)[idx]):.6g} "
            f"({n_bad} of {got.numel()} values differ beyond rtol={rtol:g}, atol={atol:g})" + (f": {hint}" if hint else "")
        )


def assert_equal(value: Any, expected: Any, *, what: str, hint: str = "") -> None:
    """Plain values (numbers, strings, tuples, dicts) compared by type and value."""
    if type(value) is not type(expected) and not (isinstance(expected, float) and type(value) is int):
        raise CheckFailure(f"{what} returned {describe_value(value)}, expected {type(expected).__name__} {expected!r}" + (f": {hint}" if hint else ""))
    if value != expected:
        raise CheckFailure(f"{what} returned {value!r}, expected {expected!r}" + (f": {hint}" if hint else ""))


def assert_raises(expected: type[BaseException] | str, fn: Callable[[], Any], *, what: str, why: str = "") -> None:
    """The student's function must raise `expected` (judged from the exception's class names)."""
    name = expected if isinstance(expected, str) else expected.__name__
    try:
        value = fn()
    except Exception as exc:
        if {"CallTimeout", "WorkerCrashed"} & {c.__name__ for c in type(exc).__mro__}:
            raise  # not an answer: the plugin records a timeout or an error
        # in the judge the student's exception arrives as StudentCodeError (names only);
        # in the student's own kernel (otter) it is the exception itself
        names = getattr(exc, "mro", None)
        if isinstance(names, list):
            got_name, got_msg = getattr(exc, "type_name", "Exception"), getattr(exc, "message", "")
        else:
            names = [c.__name__ for c in type(exc).__mro__]
            got_name, got_msg = type(exc).__name__, str(exc)
        if name in names:
            return
        if got_name == "NotImplementedError":
            raise CheckFailure(f"{what} is not implemented yet (it raised NotImplementedError); expected it to raise {name}") from None
        del got_msg  # the student's own text is never repeated (in a hidden check it could carry hidden inputs out)
        raise CheckFailure(f"{what} raised {known_exception_name(names)}; expected {name}" + (f" ({why})" if why else "")) from None
    raise CheckFailure(f"{what} returned {describe_value(value)}, expected it to raise {name}" + (f" ({why})" if why else ""))


def works_on_valid_input(fn: Callable[[], Any], *, what: str) -> None:
    """Run `fn`, a check of a valid case, before a check that bad input is refused: refusing pays only when
    the same function also works on valid input (a function that always raises earns nothing)."""
    note = "refusing bad input earns these points only when valid input works too"
    try:
        fn()
    except CheckFailure as exc:
        raise CheckFailure(f"{exc}; {note}") from None
    except Exception as exc:
        if {"CallTimeout", "WorkerCrashed"} & {c.__name__ for c in type(exc).__mro__}:
            raise  # not an answer (a time limit, a crashed worker, malformed data): the plugin records it
        names = getattr(exc, "mro", None)
        if not isinstance(names, list):
            names = [c.__name__ for c in type(exc).__mro__]
        if "NotImplementedError" in names[:1]:
            raise
        raise CheckFailure(f"{what} raised {known_exception_name(names)}, expected a result: {note}") from None
