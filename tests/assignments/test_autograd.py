"""autograd: fair gradient checks.

The instructor's notebook and answers written differently get full marks under several hidden
seeds, the stubs get zero, and each typical mistake loses points on its own question (and only
there) with a message naming what was expected and what came back. Scenario notebooks:
tests/data/autograd/ (rebuilt by its make.py). One worker per notebook, checks run per seed.
"""

from __future__ import annotations


import pytest

from ._fairness import assert_correct_is_source, assert_full_marks_under_seeds, assert_mistake, assert_stubs_score_zero, make_grader

NAME = "autograd"

# scenario -> {check id: fragments its message must contain}; every other check must pass
MISTAKES = {
    "wrong-grads": {
        "poly_grad::poly_grad_keeps_requires_grad": ["x.requires_grad was True, expected False"],
        "mse_grads::mse_grads_small": ["dw returned", "expected", "is the factor 2 missing"],
        "mse_grads::mse_grads_hidden": ["dw returned", "expected", "is the factor 2 missing"],
        "sigmoid_fn::sigmoid_fn_vjp": ["vector-Jacobian product", "expected (σ(x)(1-σ(x))·v)", "without the upstream gradient"],
        "sigmoid_fn::sigmoid_fn_vjp_hidden": ["expected (σ(x)(1-σ(x))·v)", "without the upstream gradient"],
        "sigmoid_fn::sigmoid_fn_finite_differences": ["finite differences", "without the upstream gradient"],
        "two_layer_backward::two_layer_backward_small": ["gradient 'W1' returned", "expected", "ReLU's mask"],
        "two_layer_backward::two_layer_backward_hidden": ["gradient 'W1' returned", "ReLU's mask"],
    },
    "wrong-autograd-use": {
        "poly_grad::poly_grad_no_graph": ["attached to a computational graph", "expected a plain tensor with requires_grad=False"],
        "mse_grads::mse_grads_by_hand": ["under torch.no_grad() raised RuntimeError", "without backward()"],
        "sigmoid_fn::sigmoid_fn_custom_function": ["grad_fn SigmoidBackward0, expected SigmoidFnBackward", "SigmoidFn.apply(x)"],
        "two_layer_backward::two_layer_backward_small": ["expected", "divide by N·O, not by N"],
        "two_layer_backward::two_layer_backward_hidden": ["expected", "divide by N·O, not by N"],
    },
}
SCORES = {
    "wrong-grads": {"poly_grad": 1.5, "mse_grads": 1.0, "sigmoid_fn": 1.5, "two_layer_backward": 0.5},
    "wrong-autograd-use": {"poly_grad": 1.5, "mse_grads": 2.5, "sigmoid_fn": 2.5, "two_layer_backward": 0.5},
}


@pytest.fixture(scope="module")
def graded(launcher):  # type: ignore[no-untyped-def]
    return make_grader(NAME, launcher)


@pytest.mark.parametrize("scenario", ["source", "correct-functional", "correct-loops"])
def test_correct_answers_get_full_marks_under_hidden_seeds(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    assert_full_marks_under_seeds(graded, scenario, n_checks=17)


def test_correct_notebook_is_the_instructors_answers() -> None:
    assert_correct_is_source(NAME)


def test_stubs_score_zero(graded) -> None:  # type: ignore[no-untyped-def]
    assert_stubs_score_zero(graded)


@pytest.mark.parametrize("scenario", sorted(MISTAKES))
def test_each_mistake_loses_points_on_its_question_with_a_clear_message(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    assert_mistake(graded, scenario, mistakes=MISTAKES[scenario], scores=SCORES[scenario])


# ------------------------------------------------------------------ the gradient helpers themselves (judge only)
def test_assert_vjp_judges_returned_values_against_reference_and_finite_differences() -> None:
    import torch

    from graders.checks import CheckFailure
    from graders.checks.grad import assert_vjp, central_difference_vjp

    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    v = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0], dtype=torch.float64)
    s = torch.sigmoid(x)
    right = s * (1 - s) * v
    forward = lambda xs: [torch.sigmoid(t) for t in xs]  # noqa: E731
    assert torch.allclose(central_difference_vjp(forward, x, v), right, rtol=1e-8, atol=1e-10)
    assert_vjp(lambda x_, v_: (s, right), x, v, right, what="`f`", forward_many=forward)
    with pytest.raises(CheckFailure, match=r"expected \(σ'·v\) .*upstream"):
        assert_vjp(lambda x_, v_: (s, s * (1 - s)), x, v, right, what="`f`", reference_name="σ'·v",
                   mistakes=[(s * (1 - s), "upstream gradient ignored")])
    with pytest.raises(CheckFailure, match="central finite differences of your own forward"):  # backward of another forward
        assert_vjp(lambda x_, v_: (s, right), x, v, None, what="`f`", forward_many=lambda xs: [torch.tanh(t) for t in xs])
    with pytest.raises(CheckFailure, match="without a computational graph"):
        y = s.clone()
        y.graders_meta = type("M", (), {"requires_grad": False})()  # type: ignore[attr-defined]
        assert_vjp(lambda x_, v_: (y, None), x, v, right, what="`f`")
