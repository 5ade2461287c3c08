"""Shared scaffolding of the fairness tests: one worker per scenario notebook, several hidden seeds.

Each test module names its assignment, its alternative correct answers and its typical mistakes;
the assertions are the same for every assignment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from graders.course import get_assignment
from graders.grade import run_checks
from graders.judge.session import Submission, WorkerSession
from graders.notebook import read_notebook

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 7, 1234, 20261125)

Grader = Callable[..., dict[int, list[Any]]]


def make_grader(name: str, launcher: Any, default_seed: int = SEEDS[1]) -> Grader:
    """scenario -> {seed: check results}: one worker per notebook, closed once its seeds are done.
    Scenario "source" is the instructor's notebook itself, every cell of it."""
    spec = get_assignment(name)
    data = ROOT / "tests" / "data" / name
    cache: dict[str, dict[int, list[Any]]] = {}

    def get(scenario: str, seeds: tuple[int, ...] = (default_seed,)) -> dict[int, list[Any]]:
        if scenario not in cache:
            path = ROOT / "source" / name / f"{name}.ipynb" if scenario == "source" else data / f"{scenario}.ipynb"
            nb = read_notebook(path)
            with WorkerSession(launcher=launcher, limits=spec.limits, cells=[src for _i, src in nb.code_to_run()]) as session:
                outcomes = session.start()
                assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.status != "ok"]
                cache[scenario] = {s: run_checks(assignment=spec, submission=Submission(session), device="cpu", hidden_seed=s)
                                   for s in seeds}
        return cache[scenario]

    return get


def failures(results: list[Any]) -> dict[str, str]:
    return {c.id: f"[{c.status}] {c.message}" for c in results if c.status != "passed"}


def assert_full_marks_under_seeds(graded: Grader, scenario: str, *, n_checks: int, max_score: float = 10.0) -> None:
    for seed, results in graded(scenario, SEEDS).items():
        assert sum(c.points for c in results) == max_score, (seed, failures(results))
        assert len(results) == n_checks


def answer_cells(path: Path) -> dict[str, str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    out = {}
    for cell in cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid.endswith("-answer"):
            src = "".join(cell["source"])
            out[gid] = "\n".join(ln for ln in src.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln).strip()
    return out


def assert_correct_is_source(name: str) -> None:
    """correct.ipynb holds the source's answer cells (graded as "source"); make.py rebuilds it."""
    source = answer_cells(ROOT / "source" / name / f"{name}.ipynb")
    correct = answer_cells(ROOT / "tests" / "data" / name / "correct.ipynb")
    assert correct == source, f"tests/data/{name}/correct.ipynb is stale: run .venv/bin/python tests/data/{name}/make.py"


def assert_stubs_score_zero(graded: Grader) -> None:
    (results,) = graded("stubs").values()
    assert sum(c.points for c in results) == 0.0
    assert all(c.status == "error" and "is not implemented yet" in c.message for c in results), failures(results)


def assert_mistake(graded: Grader, scenario: str, *, mistakes: dict[str, list[str]], scores: dict[str, float]) -> None:
    """Exactly the expected checks fail, as `failed`, with the message fragments; points per question."""
    (results,) = graded(scenario).values()
    got = failures(results)
    assert set(got) == set(mistakes), got
    for check_id, fragments in mistakes.items():
        for fragment in fragments:
            assert fragment in got[check_id], (check_id, fragment, got[check_id])
        assert got[check_id].startswith("[failed]"), got[check_id]
    per_question: dict[str, float] = {}
    for c in results:
        per_question[c.grade_id] = per_question.get(c.grade_id, 0.0) + c.points
    assert per_question == scores
