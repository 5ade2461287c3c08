"""Assertion helpers for checks: every failure says what was expected and what came back.

These run in the judge (and, for public checks, in the student's own kernel through otter),
so they only use torch and the standard library.
"""

from ._base import CheckFailure, check, meta_of
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
    "check",
    "meta_of",
    "assert_close",
    "assert_dtype",
    "assert_equal",
    "assert_raises",
    "assert_shape",
    "assert_tensor",
    "describe_value",
]
