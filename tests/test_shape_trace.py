"""A model with mismatched layers gets the forward pass, layer by layer, wherever its checks are reported.

tests/data/classification/mismatched-layers.ipynb: the instructor's answers, except a CircleModel whose
second Linear layer expects 8 features where the first one makes 16. Graded through the real pipeline
(`graders grade --json`, `graders check`), in a real Jupyter kernel (otter's `grader.check`), and the
same result rendered as feedback and as a CI summary.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graders.result import SubmissionResult

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "tests" / "data" / "classification" / "mismatched-layers.ipynb"
TRACE_LINES = [
    "  layers.0  Linear(2 → 16)  (5, 2)  → (5, 16)",
    "  layers.1  ReLU            (5, 16) → (5, 16)",
    "  layers.2  Linear(8 → 16)  (5, 16) → ✗ expects 8 input features, got 16",
]


@pytest.fixture(scope="module")
def graded() -> dict:
    """`graders grade --json` of the notebook (the contract CI and scripts read)."""
    proc = subprocess.run([sys.executable, "-m", "graders", "grade", str(NOTEBOOK), "--assignment", "classification", "--json"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _interface(data: dict) -> dict:
    return next(c for c in data["checks"] if c["id"] == "circle_model::circle_model_interface")


def test_json_messages_carry_the_trace(graded: dict) -> None:
    check = _interface(graded)
    assert check["status"] == "error"
    assert check["message"].startswith("the checked value raised RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert check["message"].endswith("\n" + check["trace"])
    assert check["trace"].splitlines() == ["CircleModel.forward on a (5, 2) batch:", *TRACE_LINES]
    assert len(check["trace"]) < 900
    # the training run fails in the same layer, on the grader's 800 training points
    tiers = [c for c in graded["checks"] if c["id"].startswith("circle_model::circle_model_accuracy")]
    assert tiers and all(c["trace"].startswith("CircleModel.forward on a (800, 2) batch:") for c in tiers)
    assert all(c["trace"].endswith("✗ expects 8 input features, got 16") for c in tiers)
    assert graded["score"] == 4.0  # accuracy and bce_with_logits keep their points


def test_feedback_and_ci_show_the_trace_in_columns(graded: dict) -> None:
    from graders.ci import CiNotebook, CiOutcome, render_markdown
    from graders.course import get_assignment
    from graders.feedback import feedback_html

    result = SubmissionResult.from_dict(graded)
    page = feedback_html(result=result, notebook=json.loads(NOTEBOOK.read_text()), questions=get_assignment("classification").questions)
    block = page.split("<pre class='trace'>", 1)[1].split("</pre>", 1)[0]
    assert block.splitlines()[1:] == [ln.replace("&", "&amp;").replace(">", "&gt;") for ln in TRACE_LINES]
    assert page.count("<pre class='trace'>") == 1  # hidden checks keep to their category
    outcome = CiOutcome(repo=ROOT, base="origin/main", base_commit="0" * 40)
    outcome.notebooks.append(CiNotebook(path="classification/classification.ipynb", assignment="classification",
                                        found_by="metadata", result=result))
    md = render_markdown(outcome)
    assert "(forward pass below)" in md and "```text\nCircleModel.forward on a (5, 2) batch:\n" + "\n".join(TRACE_LINES) in md
    redacted = render_markdown(outcome, redact_hidden=True)
    assert "(800, 2) batch" not in redacted and "(5, 2) batch" in redacted


def test_graders_check_prints_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    from graders.cli import main

    assert main(["check", str(NOTEBOOK)]) == 1
    out = capsys.readouterr().out
    assert "circle_model_interface: the forward pass, layer by layer" in out
    for line in TRACE_LINES:
        assert line.strip() in out


def test_grader_check_in_jupyterlab_shows_the_trace(tmp_path: Path) -> None:
    """otter's grader.check runs the public checks in the student's own kernel: the runtime records the trace there."""
    import nbformat
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from fill import fill, solutions_of

    work = tmp_path / "classification"
    shutil.copytree(ROOT / "release" / "classification" / "tests", work / "tests")
    (work / "graders.py").write_text("raise ImportError('students do not have the graders package')\n")
    answer = next(c["source"] for c in json.loads(NOTEBOOK.read_text())["cells"] if c.get("id") == "circle_model-answer")
    sol = solutions_of(ROOT / "source" / "classification" / "classification.ipynb")
    fill(ROOT / "release" / "classification" / "classification.ipynb", {**sol, "circle_model": answer}, work / "classification.ipynb")
    nb = nbformat.read(work / "classification.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(work)}}).execute()
    cell = next(c for c in nb.cells if c.cell_type == "code" and 'grader.check("circle_model")' in c.source)
    text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)
    assert "circle_model_interface result" in text and "Test case failed" in text
    assert "CircleModel.forward on a (5, 2) batch:" in text
    for line in TRACE_LINES:
        assert line.strip() in text
