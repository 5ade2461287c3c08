"""workflow: fair checks of the training loop, inference mode and saving.

The instructor's notebook and answers written differently get full marks under several hidden
seeds (each seed is another hidden line to learn), the stubs get zero, and each typical mistake
loses points on its own question (and only there) with a message naming what was expected and
what came back. Scenario notebooks: tests/data/workflow/ (rebuilt by its make.py).
"""

from __future__ import annotations


import pytest

from ._fairness import assert_correct_is_source, assert_full_marks_under_seeds, assert_mistake, assert_stubs_score_zero, make_grader

NAME = "workflow"

# scenario -> {check id: fragments its message must contain}; every other check must pass
MISTAKES = {
    "wrong-steps": {
        "linear_model::linear_model_requires_grad": ["requires_grad=False, expected True"],
        "fit::fit_returns_losses": ["expected the loss to fall", "the loss went up", "zero_grad()"],
        "fit::fit_loss_falls": ["not below 10% of the first", "zero_grad()"],
        "fit::fit_learns_weight": ["the learned w is", "expected", "± 0.05", "zero_grad()"],
        "fit::fit_learns_bias": ["the learned b is", "expected", "± 0.05", "zero_grad()"],
        "predict::predict_no_graph": ["attached to a computational graph", "expected a plain tensor with requires_grad=False",
                                      "inference_mode"],
        "predict::predict_no_graph_hidden": ["attached to a computational graph", "inference_mode"],
        "save_load::save_load_weights_only": ["torch.load(path, weights_only=True) cannot read", "UnpicklingError",
                                              "save model.state_dict(), not the whole pickled model"],
    },
    "wrong-shapes": {
        "linear_model::linear_model_forward": ["has keys ['bias', 'weights'], expected a parameter named 'weight'"],
        "linear_model::linear_model_state_dict": ["has keys ['bias', 'weights'], expected exactly ['bias', 'weight']"],
        "linear_model::linear_model_requires_grad": ["gives ['bias', 'weights'], expected a parameter 'weight'"],
        "fit::fit_returns_losses": ["is a float32 tensor of shape (), expected a Python float (use loss.item())"],
        "predict::predict_values": ["returned shape (6,), expected (6, 1)"],
        "predict::predict_values_hidden": ["returned shape", "expected (1, 1)"],
        "save_load::save_load_roundtrip": ["returned a OrderedDict object, expected a LinearRegressionModel", "load_state_dict"],
        "save_load::save_load_two_models": ["expected a LinearRegressionModel"],
    },
}
SCORES = {
    "wrong-steps": {"linear_model": 1.5, "fit": 0.0, "predict": 1.0, "save_load": 1.5},
    "wrong-shapes": {"linear_model": 0.5, "fit": 3.0, "predict": 1.0, "save_load": 0.5},
}


@pytest.fixture(scope="module")
def graded(launcher):  # type: ignore[no-untyped-def]
    return make_grader(NAME, launcher)


@pytest.mark.parametrize("scenario", ["source", "correct-manual", "correct-steps"])
def test_correct_answers_get_full_marks_under_hidden_seeds(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    assert_full_marks_under_seeds(graded, scenario, n_checks=15)


def test_correct_notebook_is_the_instructors_answers() -> None:
    assert_correct_is_source(NAME)


def test_stubs_score_zero(graded) -> None:  # type: ignore[no-untyped-def]
    assert_stubs_score_zero(graded)


@pytest.mark.parametrize("scenario", sorted(MISTAKES))
def test_each_mistake_loses_points_on_its_question_with_a_clear_message(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    assert_mistake(graded, scenario, mistakes=MISTAKES[scenario], scores=SCORES[scenario])
