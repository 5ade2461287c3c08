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

# the stages of the pipeline, each a folder of the course root (nbgrader's layout, plus reports/)
STAGES = ("source", "release", "submitted", "autograded", "feedback", "reports")
PER_STUDENT = ("submitted", "autograded", "feedback")  # <stage>/<student>/<assignment>/; the others <stage>/<assignment>/


def course_root(start: Path | None = None) -> Path:
    """GRADERS_COURSE_ROOT, else the nearest folder above `start` with nbgrader_config.py and source/,
    else the checkout this package lives in."""
    env = os.environ.get("GRADERS_COURSE_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "nbgrader_config.py").exists() and path("source", root=d).is_dir():
            return d
    return PACKAGE_DIR.parent


@dataclass(frozen=True)
class Assignment:
    name: str
    questions: dict[str, float]  # grade_id -> points, in notebook order
    module_path: Path
    limits: Limits = field(default_factory=Limits)
    gpu: bool = False  # LIMITS["gpu"]: benefits from a GPU (a cluster sends it to a worker with the GPU resource)

    @property
    def max_score(self) -> float:
        return float(sum(self.questions.values()))

    def module(self) -> ModuleType:
        return importlib.import_module(f"graders.assignments.{self.name}")

    def source_notebook(self, root: Path) -> Path:
        return notebook_path("source", assignment=self.name, root=root)

    def release_notebook(self, root: Path) -> Path:
        return notebook_path("release", assignment=self.name, root=root)


def path(stage: str, student: str | None = None, assignment: str | None = None, *, root: Path) -> Path:
    """The folder of a stage, like nbgrader's `format_path`: `root/<stage>` alone, then
    `/<student>` (submitted, autograded, feedback) and `/<assignment>` as far as they are given:
    path("autograded", "alice", "tensors", root=r) is r/autograded/alice/tensors,
    path("release", assignment="tensors", root=r) is r/release/tensors."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")
    out = Path(root) / stage
    if student is not None:
        if stage not in PER_STUDENT:
            raise ValueError(f"{stage}/ has no folder per student")
        out = out / student
    elif assignment is not None and stage in PER_STUDENT:
        raise ValueError(f"{stage}/<student>/<assignment>/: name the student")
    return out / assignment if assignment is not None else out


def notebook_path(stage: str, student: str | None = None, *, assignment: str, root: Path) -> Path:
    """The assignment's notebook in that stage's folder: `<folder>/<assignment>.ipynb` (one per assignment:
    a submission's notebook keeps the release's name)."""
    return path(stage, student, assignment, root=root) / f"{assignment}.ipynb"


def assignment_names() -> list[str]:
    present = {p.stem for p in ASSIGNMENTS_DIR.glob("*.py") if not p.name.startswith("_")}
    ordered = [n for n in COURSE_ORDER if n in present]
    return ordered + sorted(present - set(ordered))


@cache
def get_assignment(name: str) -> Assignment:
    names = assignment_names()
    if name not in names:
        raise UnknownAssignment(name, names)
    # read QUESTIONS and LIMITS without importing the module (that imports torch: ~1.5 s),
    # so a worker can be booting while the judge imports its checks
    path = ASSIGNMENTS_DIR / f"{name}.py"
    consts = _module_constants(path, ("QUESTIONS", "LIMITS"))
    if "QUESTIONS" not in consts:
        from .errors import CourseError

        raise CourseError(f"{path}: no QUESTIONS = {{grade_id: points}} literal")
    questions = {str(k): float(v) for k, v in consts["QUESTIONS"].items()}
    declared = dict(consts.get("LIMITS", {}))  # type: ignore[call-overload]
    gpu = bool(declared.pop("gpu", False))
    limits = Limits().with_overrides(**declared)
    return Assignment(name=name, questions=questions, module_path=path, limits=limits, gpu=gpu)


def _module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    import ast

    out: dict[str, object] = {}
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names:
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def ensure_venv_on_path() -> None:
    """nbgrader's gradebook runs `alembic` from PATH: make the interpreter's own bin/ come first."""
    import sys

    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])
