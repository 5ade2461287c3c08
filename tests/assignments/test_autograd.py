"""autograd: fair gradient checks.

The instructor's notebook and answers written differently get full marks under several hidden
seeds, the stubs get zero, and each typical mistake loses points on its own question (and only
there) with a message naming what was expected and what came back. Scenario notebooks:
tests/data/autograd/ (rebuilt by its make.py). One worker per notebook, checks run per seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.course import get_assignment
from graders.grade import run_checks
from graders.judge.session import Submission, WorkerSession
from graders.notebook import read_notebook

NAME = "autograd"
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / NAME
SEEDS = (0, 1, 7, 1234, 20261125)

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


@pytest.mark.parametrize("scenario", ["source", "correct-functional", "correct-loops"])
def test_correct_answers_get_full_marks_under_hidden_seeds(graded, scenario: str) -> None:  # type: ignore[no-untyped-def]
    for seed, results in graded(scenario, SEEDS).items():
        assert sum(c.points for c in results) == 10.0, (seed, _failures(results))
        assert len(results) == 17


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
