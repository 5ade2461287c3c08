"""Stage `submitted → autograded` for one notebook: start a worker, run the checks in the judge.

`grade_submission` grades a notebook given as bytes (nothing is written to disk), `grade_notebook` one
given as a path; both raise GradersError for input that cannot be graded (missing, not a notebook,
another assignment). `grade_or_record` never raises and records such problems as a result.
The pytest run itself is the judge's (graders/judge/pytest_run.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .course import Assignment, get_assignment
from .errors import GradersError, WorkerError, WrongAssignment
from .judge.causes import RanCell
from .notebook import Notebook, parse_notebook, read_notebook
from .result import CellOutcome, SubmissionResult, error_result
from .sandbox import Launcher, Limits, choose_launcher


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise GradersError(f"unknown device {device!r}; use auto, cpu or cuda")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise GradersError("--device cuda was asked for, but no CUDA GPU is available here; use --device auto or cpu")
    return "cpu"


def check_assignment_of(nb: Notebook, assignment: Assignment) -> None:
    found = nb.assignment
    if found is not None and found != assignment.name:
        raise WrongAssignment(nb.path, assignment.name, found)
    if found is None:
        ids = set(nb.grade_cells())
        if ids and not ids & set(assignment.questions):
            from .course import assignment_names

            for other in assignment_names():
                if ids & set(get_assignment(other).questions):
                    raise WrongAssignment(nb.path, assignment.name, other)
            raise GradersError(f"{nb.path}: none of its questions ({', '.join(sorted(ids))}) belong to {assignment.name!r}")


def default_hidden_seed(*, assignment: str = "", student: str = "", root: Path | None = None) -> int:
    """The hidden seed of a submission: derived from the course secret and the student id
    (graders/secret.py), or GRADERS_HIDDEN_SEED for everyone when set (never shown to students)."""
    from .secret import hidden_seed_of

    return hidden_seed_of(assignment=assignment, student=student, root=root)


def run_checks(*, assignment: Assignment, submission: object, device: str, public_only: bool = False,
               hidden_seed: int | None = None, cells: Sequence[RanCell] = ()) -> list:
    """Run the assignment's pytest checks in this (the judge's) process against `submission`."""
    from .judge.plugin import JudgeContext
    from .judge.pytest_run import run_check_module

    seed = default_hidden_seed(assignment=assignment.name) if hidden_seed is None else hidden_seed
    context = JudgeContext(submission=submission, device=device, public_only=public_only, seed=seed, cells=tuple(cells))
    return run_check_module(assignment.module_path, context, name=assignment.name)


def grade_submission(*, notebook: bytes, name: str = "submission.ipynb", assignment: str, student: str = "",
                     device: str = "auto", launcher: Launcher | None = None, limits: Limits | None = None,
                     public_only: bool = False, require_sandbox: bool = False,
                     hidden_seed: int | None = None) -> SubmissionResult:
    """Grade one submission given as the notebook's bytes; `name` is how messages name it."""
    return _grade(lambda: parse_notebook(notebook, name), assignment=assignment, student=student, device=device,
                  launcher=launcher, limits=limits, public_only=public_only, require_sandbox=require_sandbox,
                  hidden_seed=hidden_seed)


def grade_notebook(*, path: str | Path, assignment: str, student: str = "", device: str = "auto",
                   launcher: Launcher | None = None, limits: Limits | None = None, public_only: bool = False,
                   require_sandbox: bool = False, hidden_seed: int | None = None) -> SubmissionResult:
    """Grade the notebook at `path`."""
    return _grade(lambda: read_notebook(path), assignment=assignment, student=student, device=device,
                  launcher=launcher, limits=limits, public_only=public_only, require_sandbox=require_sandbox,
                  hidden_seed=hidden_seed)


def _grade(load: Callable[[], Notebook], *, assignment: str, student: str, device: str, launcher: Launcher | None,
           limits: Limits | None, public_only: bool, require_sandbox: bool, hidden_seed: int | None) -> SubmissionResult:
    from .judge.session import Submission, WorkerCrashed, WorkerSession
    from .worker.codec import ProtocolError

    started = time.monotonic()
    spec = get_assignment(assignment)
    nb = load()
    check_assignment_of(nb, spec)
    dev = resolve_device(device)
    launcher = launcher or choose_launcher(require_sandbox=require_sandbox)
    code = nb.code_to_run()
    session = WorkerSession(launcher=launcher, limits=limits or spec.limits, cells=[src for _i, src in code],
                            labels=[f"cell {i + 1}" for i, _src in code])
    result = SubmissionResult(assignment=spec.name, student=student, status="graded", max_score=spec.max_score,
                              device=dev, sandbox=launcher.name)
    booted: dict[str, object] = {}

    def boot() -> None:
        try:
            booted["outcomes"] = session.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in this thread
            booted["error"] = exc

    booting = threading.Thread(target=boot, name="graders-worker-boot", daemon=True)
    booting.start()
    try:
        spec.module()  # import the checks (and torch, pytest) while the worker boots
        import pytest  # noqa: F401
    finally:
        booting.join()
    try:
        if "error" in booted:
            raise booted["error"]  # type: ignore[misc]
        outcomes = booted["outcomes"]  # type: ignore[assignment]
        result.cells = [CellOutcome(**{**o.__dict__, "index": code[o.index][0]}) for o in outcomes]
        ran = [RanCell(index=c.index, source=src, status=c.status, error=c.error, line=c.line)
               for c, (_i, src) in zip(result.cells, code)]
        if hidden_seed is None and not public_only:
            hidden_seed = default_hidden_seed(assignment=spec.name, student=student)
        result.checks = run_checks(assignment=spec, submission=Submission(session), device=dev, public_only=public_only,
                                   hidden_seed=hidden_seed, cells=ran)
    except WorkerError as exc:
        result.status, result.message = "error", str(exc)
    except (WorkerCrashed, ProtocolError) as exc:  # e.g. the notebook stopped the worker too many times
        result.status, result.message = "error", f"the notebook could not be graded: {exc}"
    finally:
        session.close()
    left = session.remaining()
    if left is not None and left <= 0 and result.status == "graded":
        result.message = session.budget_message()
    if public_only:
        result.max_score = sum(c.max_points for c in result.checks)
    result.score = sum(c.points for c in result.checks)
    result.duration_s = time.monotonic() - started
    return result.bound()


def grade_or_record(*, path: str | Path | None = None, assignment: str, student: str = "", notebook: bytes | None = None,
                    name: str = "submission.ipynb", **kw: object) -> SubmissionResult:
    """Like grade_notebook (or grade_submission, given the `notebook`'s bytes and its `name`), but a problem
    with the input becomes a recorded `error` result."""
    if (path is None) == (notebook is None):
        raise TypeError("grade_or_record needs either path= or notebook= (bytes)")
    started = time.monotonic()
    try:
        if notebook is not None:
            return grade_submission(notebook=notebook, name=name, assignment=assignment, student=student, **kw)  # type: ignore[arg-type]
        return grade_notebook(path=path, assignment=assignment, student=student, **kw)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - one notebook must never cost the others their results (graders ci)
        message = str(exc) if isinstance(exc, GradersError) else f"the grader failed on this notebook ({type(exc).__name__}: {exc})"
        return error_result(assignment, student, message, started=started).bound()
