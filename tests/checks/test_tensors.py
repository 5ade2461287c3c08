"""Check helpers: they pass correct values and fail with messages a student can act on."""

from __future__ import annotations

import pytest
import torch

from graders.checks import CheckFailure, assert_close, assert_dtype, assert_equal, assert_raises, assert_shape
from graders.judge.session import StudentCodeError


def test_assert_shape_message_names_what_and_expected() -> None:
    assert_shape(torch.zeros(3, 5), (3, 5), what="`matmul`")
    with pytest.raises(CheckFailure, match=r"`matmul` returned shape \(5, 3\), expected \(3, 5\): the result of"):
        assert_shape(torch.zeros(5, 3), (3, 5), what="`matmul`", hint="the result of (n, k) @ (k, m) is (n, m)")
    with pytest.raises(CheckFailure, match=r"returned None \(did the function forget to `return`\?\), expected a torch.Tensor"):
        assert_shape(None, (3,), what="`f`")
    with pytest.raises(CheckFailure, match=r"shape \(3,\)"):
        assert_shape(torch.zeros(3), (), what="`f`")


def test_assert_dtype() -> None:
    assert_dtype(torch.zeros(2), torch.float32, what="`one_hot`")
    with pytest.raises(CheckFailure, match="returned dtype int64, expected float32"):
        assert_dtype(torch.zeros(2, dtype=torch.int64), torch.float32, what="`one_hot`")


def test_assert_close_points_at_the_worst_value() -> None:
    exp = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert_close(exp + 1e-7, exp, what="`f`")
    got = exp.clone()
    got[1, 0] = 3.5
    with pytest.raises(CheckFailure, match=r"returned 3.5 at index \(1, 0\), expected 3 \(1 of 4 values differ"):
        assert_close(got, exp, what="`f`")
    with pytest.raises(CheckFailure, match="NaN"):
        assert_close(torch.tensor([float("nan")]), torch.tensor([1.0]), what="`f`")
    assert_close(torch.tensor([float("inf")]), torch.tensor([float("inf")]), what="`f`")


def test_assert_equal_is_strict_about_types() -> None:
    assert_equal((3, 4), (3, 4), what="x")
    with pytest.raises(CheckFailure, match="returned list"):
        assert_equal([3, 4], (3, 4), what="x")
    with pytest.raises(CheckFailure, match="returned 'float32', expected 'torch.float32'"):
        assert_equal("float32", "torch.float32", what="x")


def test_assert_raises_judges_by_class_names() -> None:
    def raise_(type_name: str, mro: list[str]):  # type: ignore[no-untyped-def]
        def f() -> None:
            raise StudentCodeError("`f`", type_name, "boom", mro)
        return f

    assert_raises(ValueError, raise_("ValueError", ["ValueError", "Exception"]), what="`f`")
    assert_raises(ValueError, raise_("MyError", ["MyError", "ValueError", "Exception"]), what="`f`")
    with pytest.raises(CheckFailure, match=r"^`f` raised TypeError; expected ValueError$"):  # never the student's own text
        assert_raises(ValueError, raise_("TypeError", ["TypeError", "Exception"]), what="`f`")
    with pytest.raises(CheckFailure, match=r"^`f` raised Exception; expected ValueError$"):  # a class of the student's: its base
        assert_raises(ValueError, raise_("HiddenSeed20261125", ["HiddenSeed20261125", "Exception", "BaseException"]), what="`f`")
    with pytest.raises(CheckFailure, match="not implemented yet"):
        assert_raises(ValueError, raise_("NotImplementedError", ["NotImplementedError", "RuntimeError"]), what="`f`")
    with pytest.raises(CheckFailure, match="returned int 3, expected it to raise ValueError"):
        assert_raises(ValueError, lambda: 3, what="`f`")
    # in a student's own kernel the exception arrives as itself
    with pytest.raises(CheckFailure):
        assert_raises(ValueError, lambda: [][1], what="`f`")


def test_refusing_bad_input_pays_only_when_valid_input_works() -> None:
    from graders.checks.tensors import works_on_valid_input

    works_on_valid_input(lambda: None, what="`f(1)`")

    def fails() -> None:
        raise CheckFailure("`f(1)` returned 2, expected 1")

    with pytest.raises(CheckFailure, match=r"^`f\(1\)` returned 2, expected 1; refusing bad input earns these points only when valid"):
        works_on_valid_input(fails, what="`f(1)`")

    def raises() -> None:
        raise StudentCodeError("`f`", "Seed42Error", "seed 42", ["Seed42Error", "ValueError", "Exception"])

    with pytest.raises(CheckFailure) as info:
        works_on_valid_input(raises, what="`f(1)`")
    assert str(info.value) == "`f(1)` raised ValueError, expected a result: refusing bad input earns these points only when valid input works too"

    def stub() -> None:
        raise StudentCodeError("`f`", "NotImplementedError", "", ["NotImplementedError", "RuntimeError"])

    with pytest.raises(StudentCodeError):  # the stubs' message stays "not implemented yet"
        works_on_valid_input(stub, what="`f(1)`")
