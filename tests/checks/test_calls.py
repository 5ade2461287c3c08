"""What a call to student code raises lives in graders.checks: assignments import checks/ only, never the judge."""

from __future__ import annotations

import ast
from pathlib import Path

import graders.judge.session as session
from graders.checks import CallTimeout, StudentCodeError, WorkerCrashed

ROOT = Path(__file__).resolve().parents[2]


def test_the_judge_raises_the_classes_checks_catch() -> None:
    assert (session.StudentCodeError, session.CallTimeout, session.WorkerCrashed) == (StudentCodeError, CallTimeout, WorkerCrashed)
    exc = StudentCodeError("`matmul`", "RuntimeError", "mat1 and mat2 shapes cannot be multiplied", ["RuntimeError", "Exception"])
    assert str(exc) == "`matmul` raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"


def test_assignments_import_only_graders_checks() -> None:
    for path in sorted((ROOT / "graders" / "assignments").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                if name.split(".")[0] == "graders":
                    assert name == "graders.checks" or name.startswith("graders.checks."), (path.name, name)
