"""What a call to the student's code can raise in the judge, instead of returning a value.

The judge's worker session (graders/judge/session.py) raises them; checks may catch them
(`except StudentCodeError as exc: ... exc.type_name`), and the pytest plugin turns an uncaught one
into an `error` or `timeout` result. They live here, with the helpers checks use, so that an
assignment's checks import `graders.checks` only, never the judge. In the student's own kernel the
self-check runtime (graders/selfcheck/runtime.py) has classes of the same names.
"""

from __future__ import annotations


class StudentCodeError(Exception):
    """The student's code raised; the check did not catch it."""

    def __init__(self, what: str, type_name: str, message: str, mro: list[str] | None = None, traceback: str = "",
                 trace: str = "") -> None:
        self.what, self.type_name, self.message = what, type_name, message
        self.mro = mro or [type_name]
        self.traceback = traceback
        self.trace = trace  # the forward pass layer by layer, when it raised in an nn.Module (observed.py)
        text = f"{what} raised {type_name}: {message}" if message else f"{what} raised {type_name}"
        if trace and len(text) > 1000:  # the trace's last line says where it failed: it must survive message caps
            text = text[:999] + "…"
        super().__init__(f"{text}\n{trace}" if trace else text)


class CallTimeout(Exception):
    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not return within {seconds:g} s (time limit); look for an endless loop or too much work")


class WorkerCrashed(Exception):
    pass
