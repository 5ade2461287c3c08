"""The one result object of grading a submission, with its serializers.

A result is recorded even when grading failed before any check ran (status ``error``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

CheckStatus = Literal["passed", "failed", "error", "timeout"]
SubmissionStatus = Literal["graded", "error"]

# What a result may hold, whatever a submission returns, raises or prints: every message, every
# captured output and the whole record are bounded (a 15 MB answer must not become a 15 MB message,
# a 100 MB result.json, feedback page or graded notebook).
MESSAGE_CAP = 2000  # characters of one message (a check's, a cell's error, the submission's)
OUTPUT_CAP = 16 * 1024  # characters of one captured output (a cell's stdout, stderr, result, traceback)
RESULT_CAP = 1024 * 1024  # bytes of the whole result JSON


def cap_text(text: str, cap: int = MESSAGE_CAP, *, keep_end: str = "") -> str:
    """`text` cut to about `cap` characters, saying how much was cut; `keep_end` (a suffix of `text`,
    such as a forward trace whose last line says where a model failed) survives whole."""
    if len(text) <= cap:
        return text
    if keep_end and text.endswith(keep_end) and len(keep_end) < cap:
        head = text[: len(text) - len(keep_end)]
        return cap_text(head, cap - len(keep_end)) + keep_end
    cut = len(text) - cap
    return f"{text[:cap]}… ({cut} characters cut)"


@dataclass
class CheckResult:
    id: str
    grade_id: str
    status: CheckStatus
    points: float
    max_points: float
    hidden: bool
    message: str = ""
    duration_s: float = 0.0
    # measurements the judge made (for example an accuracy); reports plot them
    metrics: dict[str, float] = field(default_factory=dict)
    # the forward pass layer by layer when a model's forward raised or returned a wrong shape (also at the
    # end of `message`), and the training loss the student's code computed in training calls (the
    # worker's observations, graders/judge/observed.py): optional keys "trace" and "curves" of the JSON
    trace: str = ""
    curves: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "grade_id": self.grade_id,
            "status": self.status,
            "points": round(self.points, 4),
            "max_points": round(self.max_points, 4),
            "hidden": self.hidden,
            "message": self.message,
            "duration_s": round(self.duration_s, 4),
        }
        if self.metrics:
            d["metrics"] = dict(self.metrics)
        if self.trace:
            d["trace"] = self.trace
        if self.curves:
            d["curves"] = [dict(c) for c in self.curves]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            id=d["id"],
            grade_id=d["grade_id"],
            status=d["status"],
            points=float(d["points"]),
            max_points=float(d["max_points"]),
            hidden=bool(d["hidden"]),
            message=d.get("message", ""),
            duration_s=float(d.get("duration_s", 0.0)),
            metrics=dict(d.get("metrics", {})),
            trace=str(d.get("trace", "")),
            curves=[dict(c) for c in d.get("curves", []) if isinstance(c, dict)],
        )


@dataclass
class CellOutcome:
    """What happened when the worker executed one code cell of the submission."""

    index: int
    status: Literal["ok", "error", "timeout", "skipped"]
    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    error: str | None = None  # "ValueError: ..." for a person
    traceback: str | None = None
    line: int | None = None  # the line of the cell where it stopped (error or timeout), 1-based

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellOutcome:
        return cls(**d)


@dataclass
class SubmissionResult:
    assignment: str
    student: str
    status: SubmissionStatus
    score: float = 0.0
    max_score: float = 0.0
    device: str = "cpu"
    duration_s: float = 0.0
    sandbox: str = "none"
    checks: list[CheckResult] = field(default_factory=list)
    message: str | None = None
    cells: list[CellOutcome] = field(default_factory=list)

    # ---- derived -------------------------------------------------------------
    def question_scores(self) -> dict[str, tuple[float, float]]:
        """grade_id -> (points, max_points), in the order checks ran."""
        out: dict[str, tuple[float, float]] = {}
        for c in self.checks:
            p, m = out.get(c.grade_id, (0.0, 0.0))
            out[c.grade_id] = (p + c.points, m + c.max_points)
        return out

    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status != "passed"]

    # ---- serializers ---------------------------------------------------------
    def to_dict(self, *, with_cells: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "assignment": self.assignment,
            "student": self.student,
            "status": self.status,
            "score": round(self.score, 4),
            "max_score": round(self.max_score, 4),
            "device": self.device,
            "duration_s": round(self.duration_s, 3),
            "sandbox": self.sandbox,
            "checks": [c.to_dict() for c in self.checks],
        }
        if self.message is not None:
            d["message"] = self.message
        if with_cells:
            d["cells"] = [c.to_dict() for c in self.cells]
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(**kw), indent=None)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubmissionResult:
        return cls(
            assignment=d["assignment"],
            student=d.get("student", ""),
            status=d["status"],
            score=float(d.get("score", 0.0)),
            max_score=float(d.get("max_score", 0.0)),
            device=d.get("device", "cpu"),
            duration_s=float(d.get("duration_s", 0.0)),
            sandbox=d.get("sandbox", "none"),
            checks=[CheckResult.from_dict(c) for c in d.get("checks", [])],
            message=d.get("message"),
            cells=[CellOutcome.from_dict(c) for c in d.get("cells", [])],
        )

    def bound(self) -> SubmissionResult:
        """Cap every message and captured output, then the whole record at RESULT_CAP bytes (cell
        outputs go first, largest first: scores and check messages are what the result is for)."""
        for c in self.checks:
            c.message = cap_text(c.message, keep_end=c.trace if c.trace and len(c.trace) < MESSAGE_CAP else "")
            if c.trace and c.trace not in c.message:
                c.trace = ""
        if self.message is not None:
            self.message = cap_text(self.message)
        for cell in self.cells:
            cell.stdout, cell.stderr = cap_text(cell.stdout, OUTPUT_CAP), cap_text(cell.stderr, OUTPUT_CAP)
            if cell.result is not None:
                cell.result = cap_text(cell.result, OUTPUT_CAP)
            if cell.traceback is not None:
                cell.traceback = cap_text(cell.traceback, OUTPUT_CAP)
            if cell.error is not None:
                cell.error = cap_text(cell.error)
        size = len(self.to_json(with_cells=True).encode())
        if size > RESULT_CAP:
            fields = sorted(((len(getattr(cell, f) or ""), i, f) for i, cell in enumerate(self.cells)
                             for f in ("stdout", "stderr", "result", "traceback")), reverse=True)
            for length, i, f in fields:
                if size <= RESULT_CAP or length < 200:
                    break
                cell = self.cells[i]
                short = cap_text(getattr(cell, f), 100)
                size -= len(getattr(cell, f).encode()) - len(short.encode())
                setattr(cell, f, short)
            if size > RESULT_CAP:  # many small ones (thousands of cells): keep no output at all
                for cell in self.cells:
                    cell.stdout = cell.stderr = ""
                    cell.result = cell.traceback = None
        return self

    def summary(self) -> str:
        """A few lines for a person: score, then each question, then failing checks."""
        who = f"{self.student}: " if self.student else ""
        if self.status == "error":
            return f"{who}{self.assignment}: not graded: {self.message}"
        lines = [f"{who}{self.assignment}: {self.score:g}/{self.max_score:g} ({self.sandbox} sandbox, {self.duration_s:.1f} s)"]
        for gid, (p, m) in self.question_scores().items():
            lines.append(f"  {gid:<20} {p:g}/{m:g}")
        for c in self.failed_checks():
            lines.append(f"  x {c.id} [{c.status}]: {c.message}")
        return "\n".join(lines)


def error_result(assignment: str, student: str, message: str, *, started: float | None = None) -> SubmissionResult:
    """The result of a submission no check could run on (status ``error``): the assignment's points as
    max_score (0 for an unknown assignment), `message` saying why, the time since `started`
    (time.monotonic()) when given."""
    from .course import get_assignment
    from .errors import GradersError

    max_score = 0.0
    try:
        max_score = get_assignment(assignment).max_score
    except GradersError:
        pass
    return SubmissionResult(assignment=assignment, student=student, status="error", max_score=max_score, message=message,
                            duration_s=(time.monotonic() - started) if started is not None else 0.0)
