"""Per-student hidden inputs: seeds from the course secret and the student id (graders/secret.py).

The secret is made once in the course root (mode 0600), reused, never readable inside the sandbox;
two students get different hidden inputs, the same student the same ones when regraded (real
pipeline: `grade_notebook` of tests/data/tensors/wrong-dtype.ipynb, whose hidden `one_hot` check
names the hidden labels in its message).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from graders.grade import grade_notebook
from graders.secret import ENV_SECRET, ENV_SEED, course_secret, derive_seed, hidden_seed_of, secret_path

ROOT = Path(__file__).resolve().parents[1]
WRONG_DTYPE = ROOT / "tests" / "data" / "tensors" / "wrong-dtype.ipynb"


def test_the_secret_is_made_once_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SECRET, raising=False)
    monkeypatch.delenv(ENV_SEED, raising=False)
    first = course_secret(tmp_path)
    assert len(first) == 64 and stat.S_IMODE(secret_path(tmp_path).stat().st_mode) == 0o600
    assert course_secret(tmp_path) == first
    a = hidden_seed_of(assignment="tensors", student="alice", root=tmp_path)
    assert a == hidden_seed_of(assignment="tensors", student="alice", root=tmp_path) == derive_seed(first, assignment="tensors", student="alice")
    assert a != hidden_seed_of(assignment="tensors", student="bob", root=tmp_path)
    assert a != hidden_seed_of(assignment="autograd", student="alice", root=tmp_path)
    monkeypatch.setenv(ENV_SECRET, "another-course")
    assert hidden_seed_of(assignment="tensors", student="alice", root=tmp_path) != a
    monkeypatch.setenv(ENV_SEED, "77")  # one seed for everyone (tests, debugging)
    assert hidden_seed_of(assignment="tensors", student="alice", root=tmp_path) == 77


def test_the_repository_ignores_the_secret() -> None:
    assert "/.graders-secret" in (ROOT / ".gitignore").read_text().splitlines()


def test_students_sharing_an_answer_file_get_different_hidden_inputs(launcher, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(ENV_SEED, raising=False)
    monkeypatch.setenv(ENV_SECRET, "course-secret-of-the-test")

    def hidden_message(student: str) -> str:
        r = grade_notebook(path=WRONG_DTYPE, assignment="tensors", student=student, device="cpu", launcher=launcher)
        return next(c.message for c in r.checks if c.id == "one_hot::one_hot_hidden")

    alice, bob, alice_again = hidden_message("alice"), hidden_message("bob"), hidden_message("alice")
    assert "returned dtype int64" in alice and "with labels [" in alice
    assert alice != bob  # other hidden labels
    assert alice == alice_again  # regraded: the same inputs


def test_the_secret_is_not_readable_in_the_sandbox(course_root: Path) -> None:
    from graders.judge.session import WorkerSession
    from graders.sandbox import Limits
    from graders.sandbox.bwrap import BwrapLauncher, bwrap_problem

    if bwrap_problem() is not None:
        pytest.skip(f"bubblewrap cannot run here: {bwrap_problem()}")
    course_secret(course_root)  # exists on the host
    path = secret_path(course_root)
    cells = [f"def peek():\n    try:\n        return open({str(path)!r}).read()\n    except OSError as e:\n        return type(e).__name__"]
    with WorkerSession(launcher=BwrapLauncher(), limits=Limits(), cells=cells) as session:
        session.start()
        assert session.call("peek") in ("FileNotFoundError", "PermissionError")
