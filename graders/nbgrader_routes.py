"""nbgrader's own grading entry points, routed to our sandboxed judge (or refused).

nbgrader grades by executing the submission in a Jupyter kernel on the host (its `Execute`
preprocessor): student code would read the hidden checks and edit the gradebook. The course's
nbgrader_config.py plugs this module into nbgrader's configurable converters instead:

- `nbgrader autograde A [--student S] [--force]` and the formgrader's **Autograde** button (both run
  nbgrader's `Autograde` converter): `AutogradeExporter` replaces its exporter and its preprocessor
  lists are emptied. For each submission it runs `graders autograde A --student=S --force` (a
  separate process: exactly what that command does: sandboxed worker, judge, result.json, our
  per-grade-cell scores in the gradebook) and hands nbgrader the notebook that command wrote to
  autograded/S/A/, so nbgrader writes the same file. nbgrader's own `SaveAutoGrades`/`Execute`
  never run. `register_assignment_hook` (the converter's pre-convert hook) first registers the
  assignment in the gradebook as `graders autograde` does, since nbgrader refuses unknown ones.
- `nbgrader generate_feedback A` and **Generate Feedback**: `FeedbackExporter` writes
  feedback/S/A/A.html with `graders feedback` (graders/feedback.py: hidden checks by name and
  category only, never their messages or inputs), and nbgrader writes that page.
- nbgrader's `Execute` preprocessor (`nbgrader validate` and the Validate button, or any converter
  someone configures with it) is guarded (`guard_execute`): it refuses, before a kernel starts, to
  run anything while nbgrader autogrades, or a notebook inside the course's submitted/, autograded/
  or feedback/ folders or an exchange inbox; the message names the `graders` command to use. A
  student validating their own notebook (release/, a fetched copy) runs as before, in their kernel.

What cannot be routed is refused with an `NbGraderRouteError` (one line, the command to use):
an assignment without checks in graders/assignments/, a notebook other than <A>.ipynb, a course
whose nbgrader folders are renamed. The settings are plain strings in nbgrader_config.py: where
`graders` cannot be imported, those steps fail; they never fall back to nbgrader's execution.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from nbconvert.exporters import Exporter
from traitlets import default

STEPS = {"submitted_directory": "submitted", "autograded_directory": "autograded", "feedback_directory": "feedback"}
LAYOUT = "{nbgrader_step}/{student_id}/{assignment_id}"
GRADE_TIMEOUT_S = 3600.0  # `graders autograde` has its own limits per cell and call; this only bounds a stuck run


class NbGraderRouteError(Exception):
    """nbgrader was asked for something only graders may do, and it cannot be routed."""


# ----------------------------------------------------------------------------- shared checks
def _coursedir(exporter: Exporter) -> Any:
    converter = exporter.parent
    coursedir = getattr(converter, "coursedir", None)
    if coursedir is None:
        raise NbGraderRouteError("graders' nbgrader exporters work only inside nbgrader's converters (autograde, generate_feedback)")
    for trait, name in STEPS.items():
        if getattr(coursedir, trait) != name:
            raise NbGraderRouteError(f"this course's nbgrader_config.py sets CourseDirectory.{trait} = {getattr(coursedir, trait)!r}; "
                                     f"graders grades only the {name}/ layout: keep the default, or use `graders autograde`")
    if coursedir.directory_structure != LAYOUT:
        raise NbGraderRouteError(f"CourseDirectory.directory_structure is {coursedir.directory_structure!r}; graders needs {LAYOUT!r}")
    return coursedir


def _ids(resources: dict[str, Any], command: str) -> tuple[str, str]:
    """(assignment, student) of the notebook nbgrader is converting; refuses what graders does not grade."""
    from .course import assignment_names

    ids = resources.get("nbgrader", {})
    assignment, student, notebook = ids.get("assignment", ""), ids.get("student", ""), ids.get("notebook", "")
    if assignment not in assignment_names():
        raise NbGraderRouteError(f"assignment {assignment!r} has no checks in graders/assignments/, so `nbgrader {command}` cannot grade "
                                 f"it here (nbgrader's own execution is switched off: it would run student code unsandboxed); "
                                 f"write graders/assignments/{assignment}.py, then use `graders {command} {assignment}`")
    if notebook != assignment:
        raise NbGraderRouteError(f"{student}/{assignment}/{notebook}.ipynb: graders grades one notebook per assignment, "
                                 f"{assignment}.ipynb; this one is not graded (use `graders grade PATH --assignment {assignment}`)")
    return assignment, student


def _resources(exporter: Exporter, resources: dict[str, Any] | None, extension: str) -> Any:
    res = exporter._init_resources(resources)
    res["output_extension"] = extension
    return res


# ----------------------------------------------------------------------------- autograde
class AutogradeExporter(Exporter):
    """nbgrader's Autograde converter's exporter: grades each submission with `graders autograde`."""

    output_mimetype = "application/json"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".ipynb"

    def register_preprocessor(self, preprocessor: Any, enabled: bool = False) -> Any:
        """nbgrader's preprocessors (Execute, SaveAutoGrades...) are never run: grading is graders' job."""
        return preprocessor

    def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
        raise NbGraderRouteError("graders grades submissions from their files (`graders autograde`), not from notebook objects")

    def from_filename(self, filename: str, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[str, Any]:
        coursedir = _coursedir(self)
        root = Path(coursedir.root).resolve()
        path = Path(filename).resolve()
        res = _resources(self, resources, ".ipynb")
        from .autograded import notebook_of
        from .course import path as stage_path

        if path.is_relative_to(stage_path("autograded", root=root)):
            # nbgrader's second pass over what the first wrote: graders' notebook, left as it is
            return path.read_text(encoding="utf-8"), res
        assignment, student = _ids(res, "autograde")
        run_graders_autograde(root=root, assignment=assignment, student=student, db_url=coursedir.db_url, log=self.log)
        graded = notebook_of(root=root, student=student, assignment=assignment)
        if not graded.exists():
            raise NbGraderRouteError(f"{student}: {_not_graded_message(root, student, assignment)}")
        return graded.read_text(encoding="utf-8"), res


def run_graders_autograde(*, root: Path, assignment: str, student: str, db_url: str | None, log: Any = None) -> None:
    """`graders autograde ASSIGNMENT --student=STUDENT --force` in the course root, as a separate process."""
    cmd = [sys.executable, "-m", "graders", "autograde", assignment, f"--student={student}", "--force", "--workers", "1", "--quiet"]
    if db_url:
        cmd.append(f"--db={db_url}")
    from .sandbox.bwrap import bwrap_problem

    if bwrap_problem() is None:
        cmd.append("--launcher=bubblewrap")  # one submission: a fresh sandboxed worker starts sooner than a zygote
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBGRADER_")}
    env["GRADERS_COURSE_ROOT"] = str(root)
    if log is not None:
        log.info("graders: grading %s/%s in the sandbox: %s", student, assignment, " ".join(cmd[1:]))
    try:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=GRADE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise NbGraderRouteError(f"`graders autograde {assignment} --student={student}` did not finish within {GRADE_TIMEOUT_S:g} s") from None
    if log is not None:
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip():
                log.info("graders: %s", line.rstrip())
    if done.returncode != 0:
        last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), f"exit status {done.returncode}")
        raise NbGraderRouteError(f"`graders autograde {assignment} --student={student}` failed: {last.strip()}")


def _not_graded_message(root: Path, student: str, assignment: str) -> str:
    from .autograded import read_record

    try:
        record = read_record(root=root, student=student, assignment=assignment)
        return f"not graded: {record.get('message') or record.get('status')} (0 points in the gradebook)"
    except (OSError, ValueError):
        return "graders wrote no result; run `graders autograde` to see why"


def register_assignment_hook(*, assignment: str, student: str = "", notebooks: Any = None) -> None:
    """nbgrader's Autograde pre-convert hook: make the gradebook know the assignment, as `graders autograde`
    does (nbgrader refuses to autograde an assignment its gradebook does not have). Runs in the course root."""
    from .gradebook import register_assignment

    root = Path.cwd()
    register_assignment(assignment=assignment, root=root, db_url=_db_url_of(root))


def _db_url_of(root: Path) -> str | None:
    try:
        from traitlets.config.loader import PyFileConfigLoader

        url = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config().CourseDirectory.get("db_url")
    except Exception:  # noqa: BLE001 - no config, or nbgrader's default
        return None
    return url if isinstance(url, str) and url else None


# ----------------------------------------------------------------------------- feedback
class FeedbackExporter(Exporter):
    """nbgrader's GenerateFeedback converter's exporter: the page `graders feedback` writes."""

    output_mimetype = "text/html"

    @default("file_extension")
    def _file_extension_default(self) -> str:
        return ".html"

    def register_preprocessor(self, preprocessor: Any, enabled: bool = False) -> Any:
        return preprocessor

    def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
        raise NbGraderRouteError("graders writes feedback from autograded/ (`graders feedback`), not from notebook objects")

    def from_filename(self, filename: str, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[str, Any]:
        from .errors import GradersError
        from .feedback import write_feedback

        coursedir = _coursedir(self)
        root = Path(coursedir.root).resolve()
        res = _resources(self, resources, ".html")
        assignment, student = _ids(res, "feedback")
        try:
            (page,) = write_feedback(assignment=assignment, root=root, students=[student])
        except GradersError as exc:
            raise NbGraderRouteError(f"{student}: {exc}") from None
        return page.read_text(encoding="utf-8"), res


# ----------------------------------------------------------------------------- nbgrader's Execute
def execution_refusal(*, notebook_dir: Path, autograding: bool, config: Any = None) -> str | None:
    """Why nbgrader's Execute preprocessor must not run here (None: it may: e.g. a student's own notebook)."""
    if autograding:
        return ("nbgrader's Execute preprocessor was asked to run a submission for autograde; this course grades only in "
                "graders' sandbox: use `graders autograde ASSIGNMENT` (nbgrader_config.py routes `nbgrader autograde` there)")
    names = dict(STEPS)
    section = getattr(config, "CourseDirectory", None) if config is not None else None
    for trait in STEPS:
        value = section.get(trait) if section is not None and hasattr(section, "get") else None
        if isinstance(value, str) and value:
            names[trait] = value
    here = notebook_dir.resolve()
    found = sorted(here.glob("*.ipynb")) if here.is_dir() else []
    nb = str(found[0]) if len(found) == 1 else "NOTEBOOK"
    for folder in (here, *here.parents):
        step = next((t for t, n in names.items() if folder.name == n), None)
        if step is not None and (folder.parent / "nbgrader_config.py").exists():
            return (f"{here} is in the course's {folder.name}/ folder: nbgrader would run that student code outside the sandbox; "
                    f"use `graders check {nb}` (public checks) or `graders grade {nb} --assignment NAME`, both sandboxed")
        if folder.name == "inbound" and (folder.parent / "outbound").is_dir():
            return (f"{here} is in an nbgrader exchange inbox: nbgrader would run that student code outside the sandbox; "
                    f"collect it (`nbgrader collect`) and use `graders autograde ASSIGNMENT`")
    return None


def guard_execute() -> None:
    """Guard nbgrader's Execute preprocessor (idempotent): it refuses student submissions before a kernel starts."""
    from nbgrader.preprocessors import execute

    if getattr(execute.Execute.preprocess, "_graders_guard", False):
        return
    original = execute.Execute.preprocess

    def preprocess(self: Any, nb: Any, resources: Any = None, *args: Any, **kwargs: Any) -> Any:
        path = ((resources or {}).get("metadata") or {}).get("path") or os.getcwd()
        why = execution_refusal(notebook_dir=Path(path), autograding=os.environ.get("NBGRADER_EXECUTION") == "autograde",
                                config=getattr(self, "config", None))
        if why is not None:
            raise NbGraderRouteError(why)
        return original(self, nb, resources, *args, **kwargs)

    preprocess._graders_guard = True  # type: ignore[attr-defined]
    preprocess.__doc__ = original.__doc__
    execute.Execute.preprocess = preprocess  # type: ignore[method-assign]
