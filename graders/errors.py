"""One exception base for everything a user can get wrong; the CLI prints it as one line."""

from __future__ import annotations


class GradersError(Exception):
    """A problem a person can fix: the message names the file, cell or question, and the fix."""

    exit_code = 2


class NotANotebook(GradersError):
    def __init__(self, path: object, reason: str) -> None:
        super().__init__(
            f"{path}: not a Jupyter notebook ({reason}); submit the .ipynb file saved from JupyterLab"
        )


class UnknownAssignment(GradersError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown assignment {name!r}; this course has: {', '.join(known) or '(none)'}"
        )


class WrongAssignment(GradersError):
    def __init__(self, path: object, expected: str, found: str) -> None:
        super().__init__(
            f"{path}: this notebook belongs to assignment {found!r}, not {expected!r}; "
            f"run with --assignment {found} or submit the {expected} notebook"
        )


class WorkerError(GradersError):
    """The worker could not be started or died in a way that stops all grading."""


class SandboxUnavailable(GradersError):
    pass


class CourseError(GradersError):
    """The course itself is broken (instructor's side): source, release or checks."""
