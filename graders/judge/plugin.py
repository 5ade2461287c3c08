"""Our pytest plugin: provides the `submission` fixture and turns test outcomes into CheckResults.

Hooks stay thin; `build_check_result` is a pure function; state lives in `config.stash` (the run's
context and results) and `item.stash` (the phases of the check being run).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..checks._base import known_exception_name
from ..result import MESSAGE_CAP, CheckResult, cap_text
from .causes import RanCell, undefined_name, undefined_name_cause
from .observed import Observed, curves_of
from .session import CallTimeout, StudentCodeError, WorkerCrashed


RESULTS = pytest.StashKey[list[CheckResult]]()
CONTEXT = pytest.StashKey["JudgeContext"]()
Phase = tuple[str, pytest.ExceptionInfo[BaseException] | None, float]  # (when, what it raised, seconds)
PHASES = pytest.StashKey[list[Phase]]()  # of one check, while it runs
SHORT_REPR_CHARS = 2000


@dataclass
class JudgeContext:
    submission: Any  # a Submission proxy (or, in a student's kernel, the notebook namespace)
    device: str
    public_only: bool = False
    seed: int = 0
    cells: Sequence[RanCell] = field(default_factory=tuple)  # what happened to each code cell (root causes)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    grade_id: str
    points: float
    hidden: bool


def spec_of(item: pytest.Item) -> CheckSpec | None:
    mark = item.get_closest_marker("graders")
    if mark is None:
        return None
    grade_id = mark.kwargs["grade_id"]
    name = getattr(item, "originalname", item.name).removeprefix("test_")
    param = item.name[len(getattr(item, "originalname", item.name)):]
    return CheckSpec(f"{grade_id}::{name}{param}", grade_id, float(mark.kwargs["points"]), bool(mark.kwargs.get("hidden", False)))


def classify(excinfo: pytest.ExceptionInfo[BaseException] | None, *, cells: Sequence[RanCell] = (),
             hidden: bool = False) -> tuple[str, str]:
    """(status, message for the student) of one failed phase of a check; `cells` (the notebook's code
    cells and their outcomes) let an undefined name be traced to the cell that stopped before defining it.
    In a `hidden` check, text the student's code chose (its exception's class name and message) is never
    repeated: it could carry the hidden inputs out to the feedback."""
    if excinfo is None:
        return "passed", ""
    exc = excinfo.value
    if isinstance(exc, CallTimeout):
        return "timeout", str(exc)
    if isinstance(exc, StudentCodeError):
        if exc.type_name == "NameError":
            name = undefined_name(exc.message)
            cause = undefined_name_cause(name, cells) if name else None
            if cause is not None:
                return "error", cause if exc.message.endswith("in the notebook") else f"{exc.what} raised NameError: {cause}"
            if not hidden:
                return "error", f"{exc.message}: define it in the notebook (and keep its name as given)"
        if exc.type_name == "NotImplementedError":
            return "error", f"{exc.what} is not implemented yet (it raised NotImplementedError)"
        if hidden:
            text = (f"{exc.what} raised {known_exception_name(exc.mro)} (in a hidden check the error's message is not "
                    "shown: the public checks, or a call on data like the exercise's, show it)")
            return "error", f"{text}\n{exc.trace}" if exc.trace else text
        return "error", str(exc)
    if isinstance(exc, WorkerCrashed):
        return "error", f"the notebook's code stopped the worker: {exc}"
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ")[0].strip()
        return "failed", text or "the check failed"
    if isinstance(exc, pytest.skip.Exception):
        return "passed", ""
    return "error", f"the grader could not check this answer ({type(exc).__name__}: {exc})"


def build_check_result(spec: CheckSpec, phases: list[Phase],
                       properties: list[tuple[str, object]], observed: list[Observed] | None = None, *,
                       cells: Sequence[RanCell] = ()) -> CheckResult:
    status, message, trace = "passed", "", ""
    for _when, excinfo, _dur in phases:
        status, message = classify(excinfo, cells=cells, hidden=spec.hidden)
        if status != "passed":
            found = getattr(excinfo.value, "trace", "") if excinfo is not None else ""
            trace = found if isinstance(found, str) and found in message else ""
            break
    message = cap_text(message, keep_end=trace if trace and len(trace) < MESSAGE_CAP else "")
    if trace and trace not in message:
        trace = ""
    metrics = {k: float(v) for k, v in properties if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return CheckResult(
        id=spec.id, grade_id=spec.grade_id, status=status,  # type: ignore[arg-type]
        points=spec.points if status == "passed" else 0.0, max_points=spec.points, hidden=spec.hidden,
        message=message, duration_s=sum(d for _w, _e, d in phases), metrics=metrics,
        trace=trace, curves=curves_of(observed or []),
    )


class JudgePlugin:
    """Registered as an object with pytest.main(plugins=[...])."""

    def __init__(self, context: JudgeContext) -> None:
        self.context = context

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[RESULTS] = []
        config.stash[CONTEXT] = self.context
        config.addinivalue_line("markers", "graders(grade_id, points, hidden): a graded check")

    @pytest.fixture(scope="session")
    def submission(self, request: pytest.FixtureRequest) -> Any:
        return request.config.stash[CONTEXT].submission

    @pytest.fixture(scope="session")
    def device(self, request: pytest.FixtureRequest) -> str:
        return request.config.stash[CONTEXT].device

    @pytest.fixture(scope="session")
    def hidden_seed(self, request: pytest.FixtureRequest) -> int:
        """The seed of hidden inputs and data (tests vary it; students never see it)."""
        return request.config.stash[CONTEXT].seed

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        public_only = config.stash[CONTEXT].public_only
        keep = []
        for item in items:
            spec = spec_of(item)
            if spec is not None and not (public_only and spec.hidden):
                keep.append(item)
        items[:] = keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport | None:
        """Keep the phase for the check's result; report a failure without pytest's formatted traceback
        (source lines read and laid out for a terminal that is not there, ~10 ms a failure: the judge's
        messages come from the exception itself). Anything else gets pytest's own report."""
        item.stash.setdefault(PHASES, []).append((call.when, call.excinfo, call.duration))
        exc = call.excinfo
        if not isinstance(exc, pytest.ExceptionInfo) or isinstance(exc.value, (pytest.skip.Exception, BaseExceptionGroup)):
            return None
        try:
            text = f"{exc.typename}: {exc.value}"[:SHORT_REPR_CHARS]
        except Exception:  # noqa: BLE001 - an exception whose str() fails is still reported
            text = exc.typename
        return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed", text, call.when,
                                 (), call.duration, call.start, call.stop, user_properties=item.user_properties)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        log = getattr(self.context.submission, "_observed", None)  # forward traces, loss curves (judge only)
        log = log() if callable(log) else []
        start = len(log)
        outcome = yield
        spec = spec_of(item)
        phases = item.stash.get(PHASES, [])
        if PHASES in item.stash:
            del item.stash[PHASES]
        if spec is not None and phases:
            props = list(getattr(item, "user_properties", []))
            item.config.stash[RESULTS].append(build_check_result(spec, phases, props, log[start:],
                                                                 cells=item.config.stash[CONTEXT].cells))
        # the check is finished: nothing may keep its decoded values alive (pytest leaves the last failure's
        # traceback, with the check's locals, in sys.last_traceback)
        phases.clear()
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                setattr(sys, name, None)
        return outcome
