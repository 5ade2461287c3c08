"""The course: where it lives on disk, and its assignments (one checks module each)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

from .errors import UnknownAssignment
from .sandbox.limits import Limits

PACKAGE_DIR = Path(__file__).resolve().parent
ASSIGNMENTS_DIR = PACKAGE_DIR / "assignments"
COURSE_ORDER = ("tensors", "autograd", "workflow", "classification", "vision")


def course_root(start: Path | None = None) -> Path:
    """GRADERS_COURSE_ROOT, else the nearest folder above `start` with nbgrader_config.py and source/,
    else the checkout this package lives in."""
    env = os.environ.get("GRADERS_COURSE_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "nbgrader_config.py").exists() and (d / "source").is_dir():
            return d
    return PACKAGE_DIR.parent


@dataclass(frozen=True)
class Assignment:
    name: str
    questions: dict[str, float]  # grade_id -> points, in notebook order
    module_path: Path
    limits: Limits = field(default_factory=Limits)

    @property
    def max_score(self) -> float:
        return float(sum(self.questions.values()))

    def module(self) -> ModuleType:
        return importlib.import_module(f"graders.assignments.{self.name}")

    def source_notebook(self, root: Path) -> Path:
        return root / "source" / self.name / f"{self.name}.ipynb"

    def release_notebook(self, root: Path) -> Path:
        return root / "release" / self.name / f"{self.name}.ipynb"


def assignment_names() -> list[str]:
    present = {p.stem for p in ASSIGNMENTS_DIR.glob("*.py") if not p.name.startswith("_")}
    ordered = [n for n in COURSE_ORDER if n in present]
    return ordered + sorted(present - set(ordered))


@cache
def get_assignment(name: str) -> Assignment:
    names = assignment_names()
    if name not in names:
        raise UnknownAssignment(name, names)
    mod = importlib.import_module(f"graders.assignments.{name}")
    questions = {str(k): float(v) for k, v in mod.QUESTIONS.items()}
    limits = Limits().with_overrides(**getattr(mod, "LIMITS", {}))
    return Assignment(name=name, questions=questions, module_path=Path(mod.__file__ or ""), limits=limits)


def ensure_venv_on_path() -> None:
    """nbgrader's gradebook runs `alembic` from PATH: make the interpreter's own bin/ come first."""
    import sys

    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])
