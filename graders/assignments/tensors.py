"""Checks of assignment 1, `tensors` (10 points). See COURSE.md §1.

Public checks (hidden=False) are also what students run with `grader.check(...)`;
hidden checks use other shapes, dtypes and edge cases.
"""

from __future__ import annotations

import torch

from graders.checks import CheckFailure, assert_close, assert_dtype, assert_equal, assert_raises, assert_shape, check
from graders.checks.grad import eval_in_worker
from graders.checks.tensors import works_on_valid_input

QUESTIONS = {"describe": 2, "matmul_shape": 3, "matmul": 3, "one_hot": 2}


# ------------------------------------------------------------------ describe (2)
def _expect_describe(t: torch.Tensor) -> dict[str, object]:
    return {"shape": tuple(t.shape), "ndim": t.ndim, "dtype": str(t.dtype), "numel": t.numel()}


def _check_describe(submission, t: torch.Tensor, label: str) -> None:
    got = submission.describe(t)
    what = f"`describe` of {label}"
    if type(got) is not dict:
        raise CheckFailure(f"{what} returned {type(got).__name__}, expected a dict with keys shape, ndim, dtype, numel")
    exp = _expect_describe(t)
    missing = [k for k in exp if k not in got]
    if missing:
        raise CheckFailure(f"{what} has no key {missing[0]!r}; expected keys shape, ndim, dtype, numel")
    for key, value in exp.items():
        hint = {"shape": "a tuple of ints, like tuple(t.shape)", "dtype": "a string such as 'torch.float32': str(t.dtype)",
                "ndim": "the number of dimensions", "numel": "the number of elements"}[key]
        assert_equal(got[key], value, what=f"{what}[{key!r}]", hint=hint)


@check(grade_id="describe", points=0.5)
def test_describe_vector(submission):
    _check_describe(submission, torch.arange(6, dtype=torch.float32), "a float32 vector of 6 elements")


@check(grade_id="describe", points=0.5, hidden=True)
def test_describe_scalar(submission):
    _check_describe(submission, torch.tensor(3.5), "a scalar (0-D) tensor")


@check(grade_id="describe", points=0.5, hidden=True)
def test_describe_4d(submission):
    _check_describe(submission, torch.zeros(2, 3, 4, 5, dtype=torch.int64), "an int64 tensor of shape (2, 3, 4, 5)")


@check(grade_id="describe", points=0.5, hidden=True)
def test_describe_dtypes(submission):
    for dt in (torch.float64, torch.bool, torch.uint8, torch.float16):
        _check_describe(submission, torch.ones(3, 1, dtype=dt), f"a {str(dt).removeprefix('torch.')} tensor of shape (3, 1)")


# ------------------------------------------------------------------ matmul_shape (3)
def _reference_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(torch.matmul(torch.zeros(a), torch.zeros(b)).shape)
    except RuntimeError:
        return None


def _check_shapes(submission, pairs: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> None:
    for a, b in pairs:
        what = f"`matmul_shape({a}, {b})`"
        exp = _reference_shape(a, b)
        if exp is None:
            assert_raises(ValueError, lambda: submission.matmul_shape(a, b), what=what,
                          why="these shapes cannot be multiplied: torch.matmul refuses them")
            continue
        got = submission.matmul_shape(a, b)
        if type(got) is list:
            got = tuple(got)
        if type(got) is not tuple or any(type(x) is not int for x in got):
            raise CheckFailure(f"{what} returned {got!r}, expected the tuple of ints {exp}")
        if got != exp:
            raise CheckFailure(f"{what} returned {got}, expected {exp} (what torch.matmul gives)")


def _returns_shape(got, *, what: str) -> None:
    """A shape came back (a tuple or list of ints): the function works on valid input (its values are checked elsewhere)."""
    if type(got) not in (tuple, list) or any(type(x) is not int for x in got):
        raise CheckFailure(f"{what} returned a {type(got).__name__}, expected a tuple of ints")


@check(grade_id="matmul_shape", points=0.5)
def test_matmul_shape_2d(submission):
    _check_shapes(submission, [((3, 4), (4, 5)), ((1, 7), (7, 1))])


@check(grade_id="matmul_shape", points=0.5)
def test_matmul_shape_mismatch(submission):
    works_on_valid_input(lambda: _returns_shape(submission.matmul_shape((3, 4), (4, 6)), what="`matmul_shape((3, 4), (4, 6))`"),
                         what="`matmul_shape((3, 4), (4, 6))`")
    _check_shapes(submission, [((3, 4), (5, 6))])


@check(grade_id="matmul_shape", points=0.5, hidden=True)
def test_matmul_shape_vectors(submission):
    _check_shapes(submission, [((4,), (4,)), ((4,), (4, 6)), ((2, 3), (3,)), ((5,), (2, 5, 3))])


@check(grade_id="matmul_shape", points=0.5, hidden=True)
def test_matmul_shape_batches(submission):
    _check_shapes(submission, [((10, 2, 3), (3, 4)), ((2, 3), (7, 3, 6)), ((5, 1, 2, 3), (4, 3, 2)), ((1, 2, 3), (6, 3, 1))])


@check(grade_id="matmul_shape", points=0.5, hidden=True)
def test_matmul_shape_batch_mismatch(submission):
    works_on_valid_input(lambda: _returns_shape(submission.matmul_shape((2, 2, 3), (2, 3, 4)), what="`matmul_shape((2, 2, 3), (2, 3, 4))`"),
                         what="`matmul_shape((2, 2, 3), (2, 3, 4))`")
    _check_shapes(submission, [((2, 2, 3), (3, 3, 4)), ((4, 5), (2, 4, 5))])


@check(grade_id="matmul_shape", points=0.5, hidden=True)
def test_matmul_shape_scalar(submission):
    works_on_valid_input(lambda: _returns_shape(submission.matmul_shape((3,), (3, 2)), what="`matmul_shape((3,), (3, 2))`"),
                         what="`matmul_shape((3,), (3, 2))`")
    _check_shapes(submission, [((), (3,)), ((3, 4), ())])


# ------------------------------------------------------------------ matmul (3)
def _check_matmul(submission, a: torch.Tensor, b: torch.Tensor, *, rtol: float = 1e-5) -> None:
    what = f"`matmul(a, b)` with a {tuple(a.shape)} and b {tuple(b.shape)}"
    got = submission.matmul(a, b)
    n, m = a.shape[0], b.shape[1]
    assert_shape(got, (n, m), what=what, hint="the result of (n, k) @ (k, m) is (n, m)")
    assert_dtype(got, a.dtype, what=what, hint="keep the dtype of the inputs")
    assert_close(got, a @ b, what=what, rtol=rtol, atol=1e-6 if a.dtype == torch.float32 else 1e-12)


@check(grade_id="matmul", points=1)
def test_matmul_small(submission):
    g = torch.Generator().manual_seed(0)
    _check_matmul(submission, torch.randn(3, 4, generator=g), torch.randn(4, 5, generator=g))


# COURSE.md: `matmul` is written with broadcasting and sums. The call runs in the worker under a torch
# function mode that refuses the library's matrix products; the judge reads which one was refused.
_BUILTIN_PRODUCTS = {
    "torch.matmul": "torch.matmul", "torch.Tensor.matmul": "the @ operator (or Tensor.matmul)",
    "torch.Tensor.__matmul__": "the @ operator", "torch.Tensor.__rmatmul__": "the @ operator",
    "torch.linalg.matmul": "torch.linalg.matmul", "torch.mm": "torch.mm", "torch.spmm": "torch.mm", "torch.Tensor.mm": "Tensor.mm",
    "torch.bmm": "torch.bmm", "torch.Tensor.bmm": "Tensor.bmm", "torch.mv": "torch.mv", "torch.Tensor.mv": "Tensor.mv",
    "torch.dot": "torch.dot", "torch.Tensor.dot": "Tensor.dot", "torch.inner": "torch.inner", "torch.Tensor.inner": "Tensor.inner",
    "torch.functional.einsum": "torch.einsum", "torch.einsum": "torch.einsum",
    "torch.functional.tensordot": "torch.tensordot", "torch.tensordot": "torch.tensordot",
    "torch.nn.functional.linear": "torch.nn.functional.linear", "torch.addmm": "torch.addmm", "torch.Tensor.addmm": "Tensor.addmm",
    "torch.linalg.multi_dot": "torch.linalg.multi_dot", "torch.chain_matmul": "torch.chain_matmul",
}
_REFUSE_PRODUCTS = """
from torch.overrides import TorchFunctionMode, resolve_name


class RefuseProducts(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = resolve_name(func) or ""
        if name in banned:
            raise RuntimeError("graders-rule: " + name)
        return func(*args, **(kwargs or {}))


def run(fn, a, b):
    with RefuseProducts():
        return fn(a, b)
"""
_RULE_PREFIX = "graders-rule: "


def _matmul_without_products(submission, a: torch.Tensor, b: torch.Tensor, what: str):
    try:
        return eval_in_worker(submission, "(lambda g: (exec(src, g), g['run'](user_ns[name], a, b))[1])({'torch': torch, 'banned': banned})",
                              what="`matmul`", name="matmul", src=_REFUSE_PRODUCTS, banned=sorted(_BUILTIN_PRODUCTS), a=a, b=b)
    except Exception as exc:
        message = str(getattr(exc, "message", ""))
        if type(exc).__name__ == "StudentCodeError" and message.startswith(_RULE_PREFIX):
            used = _BUILTIN_PRODUCTS.get(message[len(_RULE_PREFIX):])
            if used is not None:
                raise CheckFailure(f"{what} used {used}: the exercise asks for `matmul` written with broadcasting and sums "
                                   "(a[:, :, None] * b[None, :, :], summed over the inner dimension), not a library's matrix product") from None
        raise


@check(grade_id="matmul", points=0.5, hidden=True)
def test_matmul_float64(submission, hidden_seed):
    """Values in float64, and the rule of the exercise: no torch.matmul, no @ (run with those refused)."""
    g = torch.Generator().manual_seed(hidden_seed + 11)
    a, b = torch.randn(6, 9, generator=g, dtype=torch.float64), torch.randn(9, 2, generator=g, dtype=torch.float64)
    what = "`matmul(a, b)` with a (6, 9) and b (9, 2)"
    got = _matmul_without_products(submission, a, b, what)
    assert_shape(got, (6, 2), what=what, hint="the result of (n, k) @ (k, m) is (n, m)")
    assert_dtype(got, a.dtype, what=what, hint="keep the dtype of the inputs")
    assert_close(got, a @ b, what=what, rtol=1e-5, atol=1e-12)


@check(grade_id="matmul", points=0.5, hidden=True)
def test_matmul_edge_shapes(submission, hidden_seed):
    g = torch.Generator().manual_seed(hidden_seed + 12)
    _check_matmul(submission, torch.randn(1, 1, generator=g), torch.randn(1, 1, generator=g))
    _check_matmul(submission, torch.randn(5, 1, generator=g), torch.randn(1, 4, generator=g))
    _check_matmul(submission, torch.randn(2, 17, generator=g), torch.randn(17, 3, generator=g))


@check(grade_id="matmul", points=0.5, hidden=True)
def test_matmul_integers(submission, hidden_seed):
    g = torch.Generator().manual_seed(hidden_seed + 13)
    _check_matmul(submission, torch.randint(-5, 5, (4, 3), generator=g), torch.randint(-5, 5, (3, 2), generator=g))


@check(grade_id="matmul", points=0.5, hidden=True)
def test_matmul_mismatch(submission):
    works_on_valid_input(lambda: assert_shape(submission.matmul(torch.ones(3, 4), torch.arange(8.0).reshape(4, 2)), (3, 2),
                                              what="`matmul(a, b)` with a (3, 4) and b (4, 2)"),
                         what="`matmul(a, b)` with a (3, 4) and b (4, 2)")
    assert_raises(ValueError, lambda: submission.matmul(torch.ones(3, 4), torch.ones(5, 2)),
                  what="`matmul(a, b)` with a (3, 4) and b (5, 2)", why="the numbers on the inside (4 and 5) must match")


# ------------------------------------------------------------------ one_hot (2)
def _check_one_hot(submission, labels: torch.Tensor, c: int) -> None:
    what = f"`one_hot(labels, {c})` with labels {labels.tolist()}"
    got = submission.one_hot(labels, c)
    assert_shape(got, (labels.shape[0], c), what=what, hint="one row per label, one column per class")
    assert_dtype(got, torch.float32, what=what)
    assert_close(got, torch.nn.functional.one_hot(labels, c).float(), what=what, rtol=0, atol=0)


@check(grade_id="one_hot", points=1)
def test_one_hot_small(submission):
    _check_one_hot(submission, torch.tensor([0, 2, 1, 2]), 3)


@check(grade_id="one_hot", points=0.5, hidden=True)
def test_one_hot_hidden(submission, hidden_seed):
    g = torch.Generator().manual_seed(hidden_seed + 21)
    _check_one_hot(submission, torch.randint(0, 10, (25,), generator=g), 10)
    _check_one_hot(submission, torch.tensor([4]), 7)
    _check_one_hot(submission, torch.tensor([0, 0]), 1)


@check(grade_id="one_hot", points=0.5, hidden=True)
def test_one_hot_bad_labels(submission):
    works_on_valid_input(lambda: assert_shape(submission.one_hot(torch.tensor([0, 2, 1]), 3), (3, 3), what="`one_hot([0, 2, 1], 3)`"),
                         what="`one_hot([0, 2, 1], 3)`")
    for labels, why in (([0, 3], "3 is not a class of 0..2"), ([-1, 1], "-1 is not a class")):
        assert_raises(ValueError, lambda: submission.one_hot(torch.tensor(labels), 3),
                      what=f"`one_hot({labels}, 3)`", why=why)
