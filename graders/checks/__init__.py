"""Assertion helpers for checks: every failure says what was expected and what came back.

These run in the judge (and, for public checks, in the student's own kernel through otter),
so they only use torch and the standard library (scikit-learn for the judge's data sets).

- what a call to the student's code raises instead of returning: StudentCodeError, CallTimeout,
  WorkerCrashed (the judge raises them; checks may catch them)
- values: assert_shape, assert_dtype, assert_close, assert_equal, assert_raises
- gradients (judged from returned values, finite differences computed here): assert_vjp,
  assert_grad_close, assert_no_graph, request_vjp, request_forward, central_difference_vjp
- trained models (data from the hidden seed, accuracy computed here): circles_split, digits_split,
  check_labels, accuracy_of, accuracy_tier_check
"""

from ._base import CheckFailure, check, meta_of
from .calls import CallTimeout, StudentCodeError, WorkerCrashed
from .grad import (
    assert_grad_close,
    assert_no_graph,
    assert_vjp,
    central_difference_vjp,
    request_forward,
    request_vjp,
)
from .model import accuracy_of, accuracy_tier_check, check_labels, circles_split, digits_split
from .tensors import (
    assert_close,
    assert_dtype,
    assert_equal,
    assert_raises,
    assert_shape,
    assert_tensor,
    describe_value,
)

__all__ = [
    "CheckFailure",
    "CallTimeout",
    "StudentCodeError",
    "WorkerCrashed",
    "check",
    "meta_of",
    "assert_close",
    "assert_dtype",
    "assert_equal",
    "assert_raises",
    "assert_shape",
    "assert_tensor",
    "describe_value",
    "assert_grad_close",
    "assert_no_graph",
    "assert_vjp",
    "central_difference_vjp",
    "request_forward",
    "request_vjp",
    "accuracy_of",
    "accuracy_tier_check",
    "check_labels",
    "circles_split",
    "digits_split",
]
