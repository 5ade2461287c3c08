"""Authoring aid: build an nbgrader source notebook from Python (instructors may equally use JupyterLab).

    python tools/nbbuild.py  # rebuilds nothing by itself; import it from tools/author_<name>.py

Cells: md(text), code(src), setup(src) (locked), solution(grade_id, src) (### BEGIN/END SOLUTION inside),
check(grade_id, points) (the nbgrader grade cell running otter's grader.check for that question).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

_counter = {"n": 0}


def _id(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}-{_counter['n']:02d}"


def _src(text: str) -> list[str]:
    text = textwrap.dedent(text).strip("\n")
    lines = text.split("\n")
    return [ln + "\n" for ln in lines[:-1]] + [lines[-1]]


def md(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": _id("md"), "metadata": {}, "source": _src(text)}


def code(text: str) -> dict[str, Any]:
    return {"cell_type": "code", "id": _id("code"), "execution_count": None, "metadata": {}, "outputs": [], "source": _src(text)}


def setup(text: str, grade_id: str = "setup") -> dict[str, Any]:
    cell = code(text)
    cell["metadata"]["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False, "task": False}
    return cell


def solution(grade_id: str, text: str) -> dict[str, Any]:
    cell = code(text)
    cell["metadata"]["nbgrader"] = {"grade": False, "grade_id": f"{grade_id}-answer", "locked": False, "schema_version": 3, "solution": True, "task": False}
    return cell


def check(grade_id: str, points: float) -> dict[str, Any]:
    cell = code(f'grader.check("{grade_id}")')
    cell["metadata"]["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": points, "schema_version": 3, "solution": False, "task": False}
    return cell


def notebook(assignment: str, cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cells": cells,
        "metadata": {
            "graders": {"assignment": assignment},
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(path: Path, nb: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


OTTER_SETUP = '''
import torch

# Self-checks: run `grader.check("<question>")` after each exercise (public checks only).
import otter
grader = otter.Notebook(tests_dir="tests")
'''
