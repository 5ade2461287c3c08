"""Parity: a notebook graded by graders gets the verdicts Jupyter gives it.

Each scenario notebook (tests/data/habits.py: magics, shell escapes, plots, prints, a cell that raises
in the middle, `input()`, `display()`, tqdm) runs top to bottom in a real Jupyter kernel (nbclient +
ipykernel, as JupyterLab's "Run All" or nbconvert does), next to its release's otter test files, and
otter's `grader.check_all()` gives each public check's verdict; `graders grade` grades the same file.
Every public check must get the same verdict from both. The everyday-habits notebook also gets full
marks, hidden checks included, and its shell escapes leave a note in the graded notebook.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SCENARIOS = {"tensors/jupyter-stops": "tensors", "workflow/jupyter-habits": "workflow"}
VERDICTS = '''
import json as _json
_all = grader.check_all()
_all = getattr(_all, "results", _all)
print("PARITY" + _json.dumps({f"{q}::{r.test_case.name}": bool(r.passed)
                              for q, tf in _all.items() for r in tf.test_case_results}))
'''


def _in_jupyter(notebook: Path, assignment: str, work: Path) -> tuple[dict[str, bool], Any]:
    """Run the notebook in a Jupyter kernel (Run All), then otter's check_all; the public verdicts."""
    import nbformat
    from nbclient import NotebookClient

    work.mkdir(parents=True)
    shutil.copytree(ROOT / "release" / assignment / "tests", work / "tests")
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(VERDICTS))
    for i, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{i}")
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "PARITY" in text, nb.cells[-1].outputs
    return json.loads(text.split("PARITY", 1)[1].strip().splitlines()[0]), nb


@pytest.fixture(scope="module")
def graded(launcher) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from graders.grade import grade_notebook

    return {name: grade_notebook(path=DATA / f"{name}.ipynb", assignment=a, device="cpu", launcher=launcher)
            for name, a in SCENARIOS.items()}


@pytest.mark.parametrize("name", SCENARIOS)
def test_public_verdicts_are_jupyters(name: str, graded: dict[str, Any], tmp_path: Path) -> None:
    jupyter, _nb = _in_jupyter(DATA / f"{name}.ipynb", SCENARIOS[name], tmp_path / "work")
    result = graded[name]
    assert result.status == "graded", result.message
    ours = {c.id: c.status == "passed" for c in result.checks if not c.hidden}
    assert ours == jupyter, {k: (ours.get(k), jupyter.get(k)) for k in set(ours) | set(jupyter) if ours.get(k) != jupyter.get(k)}
    # the scenarios are not trivial: something passes, and in the stops scenario something fails
    assert any(jupyter.values())
    assert all(jupyter.values()) == (name == "workflow/jupyter-habits")


def test_everyday_habits_get_full_marks_with_notes_for_what_did_not_run(graded: dict[str, Any]) -> None:
    r = graded["workflow/jupyter-habits"]
    assert r.score == r.max_score == 10.0, r.summary()
    assert all(c.status == "ok" for c in r.cells), [(c.index, c.error) for c in r.cells if c.status != "ok"]
    notes = "".join(c.stderr for c in r.cells)
    assert "[not run when grading] !nvidia-smi" in notes and "[not run when grading] %pip install tqdm" in notes
    assert "[not run when grading] !ls" in notes
    assert "training" in notes  # tqdm's progress bar, on stderr as in a terminal
    assert any("Wall time" in c.stdout for c in r.cells)  # %%time
    assert any("<Figure size" in c.stdout for c in r.cells)  # plt.show() with the inline backend


def test_a_cell_that_stops_is_named_in_the_message(graded: dict[str, Any]) -> None:
    r = graded["tensors/jupyter-stops"]
    describe = [c for c in r.checks if c.grade_id == "describe"]
    assert describe and all(c.status == "error" for c in describe)
    assert all(c.message.startswith("`describe` is not defined because cell 4 stopped at line 1 (`name = input('Your name? ')`): "
                                    "StdinNotImplementedError: input() was called") for c in describe), describe[0].message
    assert {q: p for q, (p, _m) in r.question_scores().items()} == {"describe": 0.0, "matmul_shape": 3.0, "matmul": 3.0, "one_hot": 2.0}
