from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class CheckFailure(AssertionError):
    """A check failed; the message is written for the student. `trace`: the forward pass that made the
    value (layer by layer, from the worker), shown under the message."""

    def __init__(self, message: str = "", *, trace: str = "") -> None:
        self.trace = trace
        if trace and len(message) > 1000:  # the trace's last line says where it failed: it must survive message caps
            message = message[:999] + "…"
        super().__init__(f"{message}\n{trace}" if trace else message)


def trace_of(value: Any) -> str:
    """The forward pass (layer by layer) that produced a returned tensor, when a model made it; else ''."""
    trace = getattr(value, "graders_trace", "")
    return trace if isinstance(trace, str) else ""


def check(*, grade_id: str, points: float, hidden: bool = False) -> Callable[[F], F]:
    """Mark a pytest test as a check worth `points` toward nbgrader grade cell `grade_id`."""
    import pytest

    def deco(fn: F) -> F:
        return pytest.mark.graders(grade_id=grade_id, points=float(points), hidden=bool(hidden))(fn)  # type: ignore[no-any-return]

    return deco


def meta_of(value: Any) -> Any:
    """What the worker reported about a returned tensor (requires_grad, has_grad_fn, device), or None."""
    return getattr(value, "graders_meta", None)


_TORCH_ERRORS = frozenset({"OutOfMemoryError", "DeferredCudaCallError"})


def known_exception_name(mro: Any) -> str:
    """The first class of an exception's MRO (names, as the worker reports them) that Python or torch
    defines: never a name the student chose, which could carry hidden data out."""
    import builtins

    for name in mro if isinstance(mro, (list, tuple)) else ():
        if not isinstance(name, str):
            continue
        found = getattr(builtins, name, None)
        if name in _TORCH_ERRORS or (isinstance(found, type) and issubclass(found, BaseException)):
            return name
    return "an exception"
