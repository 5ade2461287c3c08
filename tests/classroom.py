"""A small graded class in a temporary copy of the course, shared by the feedback, report, export and
browser tests (graded once per test session).

Students and their tensors notebooks (tests/data/tensors scenarios):
alice correct, bob wrong-shape, carol stubs, dave wrong-dtype, erin not a notebook (an `error` result).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "tensors"
STUDENTS = {"alice": "correct", "bob": "wrong-shape", "carol": "stubs", "dave": "wrong-dtype", "erin": "not-a-notebook"}
_CACHE: dict[str, Path] = {}


def course_copy(dest: Path, assignments: tuple[str, ...] = ("tensors",)) -> Path:
    """nbgrader_config.py, source/ and release/ of `assignments` copied to `dest` (a course root)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    for a in assignments:
        for part in ("source", "release"):
            if (ROOT / part / a).exists():
                shutil.copytree(ROOT / part / a, dest / part / a, dirs_exist_ok=True)
    return dest


def graded_class(tmp_path_factory: Any, launcher: Any) -> Path:
    """The course root of a class whose tensors submissions are autograded (autograded/ + gradebook.db)."""
    if "root" in _CACHE:
        return _CACHE["root"]
    from graders.autograde import autograde

    root = course_copy(tmp_path_factory.mktemp("classroom") / "course")
    for student, scenario in STUDENTS.items():
        folder = root / "submitted" / student / "tensors"
        folder.mkdir(parents=True)
        shutil.copy(DATA / f"{scenario}.ipynb", folder / "tensors.ipynb")
    autograde(assignment="tensors", root=root, workers=1, launcher=launcher, device="cpu", progress=False)
    _CACHE["root"] = root
    return root
