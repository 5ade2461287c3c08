"""Nothing of the hidden inputs reaches student code or its feedback (issue 11 item 8, issue 12).

- The worker never gets the hidden seed: torch, random and numpy are seeded with a one-way hash of it,
  and a `seed` argument the checks pass is derived the same way.
- A hidden check never repeats text the student's code chose (exception class names, messages): the
  scenario tests/data/classification/seed-leak.ipynb raises, in the hidden training run, an exception
  named after `torch.initial_seed()` whose message holds the seed argument and a hidden data point.
- scikit-learn's digits inside the sandbox hold none of the grader's held-out test images.

Real bubblewrap, real worker, the real `graders grade` pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graders.checks.model import _digits, circles_split, digits_holdout
from graders.checks.seeds import one_way_seed
from graders.judge.session import WorkerSession
from graders.sandbox import Limits
from graders.sandbox.bwrap import BwrapLauncher, bwrap_problem

ROOT = Path(__file__).resolve().parents[2]
SEED_LEAK = ROOT / "tests" / "data" / "classification" / "seed-leak.ipynb"
HIDDEN_SEED = 987_654_321

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"bubblewrap cannot run here: {bwrap_problem()}")


def test_the_worker_is_seeded_with_a_one_way_value_not_the_hidden_seed() -> None:
    cells = ["import torch, random\nimport numpy as np\n"
             "def seen():\n    return [torch.initial_seed(), random.random(), float(np.random.rand())]"]
    with WorkerSession(launcher=BwrapLauncher(), limits=Limits(), cells=cells) as session:
        assert [o.status for o in session.start()] == ["ok"]
        first = session.call("seen", seed=HIDDEN_SEED)
        again = session.call("seen", seed=HIDDEN_SEED)
    assert first == again  # reproducible
    assert first[0] == one_way_seed(HIDDEN_SEED) != HIDDEN_SEED
    assert str(HIDDEN_SEED) not in json.dumps(first)


def test_feedback_of_hidden_checks_repeats_nothing_the_students_code_chose(tmp_path: Path) -> None:
    env = {**os.environ, "GRADERS_HIDDEN_SEED": str(HIDDEN_SEED), "GRADERS_SANDBOX": "bubblewrap"}
    proc = subprocess.run([sys.executable, "-m", "graders", "grade", str(SEED_LEAK), "--assignment", "classification", "--json"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    tiers = [c for c in result["checks"] if c["id"].startswith("circle_model::circle_model_accuracy")]
    assert len(tiers) == 2 and all(c["hidden"] and c["status"] == "error" for c in tiers)
    assert all(c["message"].startswith("`train_circle_model` raised RuntimeError (in a hidden check the error's message "
                                       "is not shown") for c in tiers), tiers
    from graders.course import get_assignment
    from graders.feedback import feedback_html
    from graders.result import SubmissionResult

    page = feedback_html(result=SubmissionResult.from_dict(result), notebook=json.loads(SEED_LEAK.read_text()),
                         questions=get_assignment("classification").questions)
    worker_seed = one_way_seed(HIDDEN_SEED)
    first_point = circles_split(HIDDEN_SEED).X_train[0].tolist()
    assert "HiddenSeed" not in proc.stdout and "initial seed" not in proc.stdout
    for text in (proc.stdout, page):  # the page shows the notebook's code too: only values made while grading are leaks
        assert f"HiddenSeed{worker_seed}" not in text
        assert str(HIDDEN_SEED) not in text and str(worker_seed) not in text
        assert f"{first_point[0]}" not in text and "initial seed 1" not in text
    # a public check of the same function shows the student's message in full (its inputs are public)
    interface = next(c for c in result["checks"] if c["id"] == "circle_model::circle_model_interface")
    assert interface["status"] == "passed"


def test_scikit_learns_digits_in_the_sandbox_hold_no_test_image() -> None:
    X, _y = _digits()
    held, public = digits_holdout(X.shape[0])
    cells = ["from sklearn.datasets import load_digits\nimport torch\n"
             "def digits():\n    d = load_digits()\n    return torch.tensor(d.data), torch.tensor(d.target)"]
    with WorkerSession(launcher=BwrapLauncher(), limits=Limits(), cells=cells) as session:
        assert [o.status for o in session.start()] == ["ok"]
        data, target = session.call("digits")
    assert data.shape == (public.shape[0], 64) and target.shape == (public.shape[0],)
    inside = {tuple(r) for r in (data / 16.0).float().tolist()}
    flat = X.reshape(X.shape[0], 64)
    assert inside == {tuple(flat[i].tolist()) for i in public.tolist()}
    # the digits data holds a few duplicate images: a held-out image may equal a public one, nothing more
    assert sum(tuple(flat[i].tolist()) in inside for i in held.tolist()) < 10
    assert torch.equal((data / 16.0).float(), flat[public])


def test_the_public_digits_copy_is_made_without_torch(tmp_path: Path) -> None:
    """The coordinator of `graders autograde` starts sandboxes (the probe, the shared zygote) and so
    writes the public copy of the digits: that must not cost it an import of torch (~190 MB, ~2 s)."""
    code = ("import sys; from pathlib import Path; from graders.sandbox.datasets import dataset_binds;"
            f"binds = dataset_binds(Path({str(tmp_path)!r})); print(len(binds), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert out == ["3", "False"] or out == ["0", "False"], out
