"""`graders check NOTEBOOK`: public checks only, a table per question, exit 0 only when all pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graders.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "tensors"


def test_failing_public_checks_exit_1_with_the_messages(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    code = main(["check", str(DATA / "wrong-shape.ipynb"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 1
    assert "matmul: 0/1 public checks pass" in out
    row = next(line for line in out.splitlines() if "matmul_small" in line)
    assert "failed" in row and "returned shape (5, 3), expected (3, 5): the result of (n, k) @ (k, m) is (n, m)" in row
    assert "public checks fail" in out
    # public checks only: no hidden check appears
    assert "describe_scalar" not in out and "matmul_float64" not in out


def test_all_public_checks_pass_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(DATA / "correct.ipynb"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all 5 public checks pass" in out
    for q in ("describe", "matmul_shape", "matmul", "one_hot"):
        assert f"{q}:" in out


def test_assignment_comes_from_the_metadata_or_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((DATA / "stubs.ipynb").read_text())
    data["metadata"].pop("graders", None)
    nb = tmp_path / "mine.ipynb"
    nb.write_text(json.dumps(data))
    assert main(["check", str(nb)]) == 2
    assert "--assignment" in capsys.readouterr().err
    assert main(["check", str(DATA / "stubs.ipynb"), "--assignment", "autograd"]) == 2
    assert "belongs to assignment 'tensors'" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.ipynb")]) == 2


def test_a_cell_that_stopped_and_lines_not_run_are_named(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code = main(["check", str(DATA / "jupyter-stops.ipynb"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 1
    row = next(line for line in out.splitlines() if "describe_vector" in line)
    assert "`describe` is not defined because cell 4 stopped at line 1 (`name = input('Your name? ')`)" in row
    assert "lines not run when grading" in out and "cell 16: !nvidia-smi: shell commands are skipped" in out
