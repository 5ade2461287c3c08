"""workflow: fair checks of the training loop, inference mode and saving.

The instructor's notebook and answers written differently get full marks under several hidden
seeds (each seed is another hidden line to learn), the stubs get zero, and each typical mistake
loses points on its own question (and only there) with a message naming what was expected and
what came back. Scenario notebooks: tests/data/workflow/ (rebuilt by its make.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.course import get_assignment
from graders.grade import run_checks
from graders.judge.session import Submission, WorkerSession
from graders.notebook import read_notebook

NAME = "workflow"
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / NAME
SEEDS = (0, 1, 7, 1234, 20261125)

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
    """scenario -> {seed: check results}: one worker per notebook, closed once its seeds are done.
    Scenario "source" is the instructor's notebook itself, every cell of it."""
    spec = get_assignment(NAME)
    cache: dict[str, dict[int, list]] = {}

    def get(scenario: str, seeds: tuple[int, ...] = (SEEDS[1],)) -> dict[int, list]:
        if scenario not in cache:
            path = ROOT / "source" / NAME / f"{NAME}.ipynb" if scenario == "source" else DATA / f"{scenario}.ipynb"
            nb = read_notebook(path)
            with WorkerSession(launcher=launcher, limits=spec.limits, cells=[src for _i, src in nb.code_to_run()]) as session:
                outcomes = session.start()
                assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.status != "ok"]
                cache[scenario] = {s: run_checks(assignment=spec, submission=Submission(session), device="cpu", hidden_seed=s)
                                   for s in seeds}
        return cache[scenario]

    return get


def _failures(results: list) -> dict[str, str]:
    return {c.id: f"[{c.status}] {c.message}" for c in results if c.status != "passed"}


@pytest.mark.parametrize("scenario", ["source", "correct-manual", "correct-steps"])
def test_correct_answers_get_full_marks_under_hidden_seeds(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    for seed, results in graded(scenario, SEEDS).items():
        assert sum(c.points for c in results) == 10.0, (seed, _failures(results))
        assert len(results) == 15


def test_correct_notebook_is_the_instructors_answers() -> None:
    """correct.ipynb holds the source's answer cells (graded above as "source"); make.py rebuilds it."""
    import json

    def answers(path: Path) -> dict[str, str]:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        out = {}
        for cell in cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if gid.endswith("-answer"):
                src = "".join(cell["source"])
                out[gid] = "\n".join(ln for ln in src.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)
        return out

    source = answers(ROOT / "source" / NAME / f"{NAME}.ipynb")
    correct = answers(DATA / "correct.ipynb")
    assert {k: v.strip() for k, v in correct.items()} == {k: v.strip() for k, v in source.items()}, \
        f"tests/data/{NAME}/correct.ipynb is stale: run .venv/bin/python tests/data/{NAME}/make.py"


def test_stubs_score_zero(graded) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded("stubs").values()
    assert sum(c.points for c in results) == 0.0
    assert all(c.status == "error" and "is not implemented yet" in c.message for c in results), _failures(results)


@pytest.mark.parametrize("scenario", sorted(MISTAKES))
def test_each_mistake_loses_points_on_its_question_with_a_clear_message(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    (results,) = graded(scenario).values()
    failures = _failures(results)
    assert set(failures) == set(MISTAKES[scenario]), failures
    for check_id, fragments in MISTAKES[scenario].items():
        for fragment in fragments:
            assert fragment in failures[check_id], (check_id, fragment, failures[check_id])
        assert failures[check_id].startswith("[failed]"), failures[check_id]
    per_question: dict[str, float] = {}
    for c in results:
        per_question[c.grade_id] = per_question.get(c.grade_id, 0.0) + c.points
    assert per_question == SCORES[scenario]
