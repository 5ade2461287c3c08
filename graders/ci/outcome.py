"""What `graders ci` found and graded (CiNotebook, CiOutcome), and the text helpers every report shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..result import SubmissionResult


@dataclass
class CiNotebook:
    path: str  # relative to the repository root, with forward slashes
    assignment: str
    found_by: str  # "metadata" or "path"
    result: SubmissionResult | None = None
    json_path: Path | None = None


@dataclass
class CiOutcome:
    repo: Path
    base: str  # what was compared with HEAD, for a person ("origin/main", "root commit", ...)
    base_commit: str
    notes: list[str] = field(default_factory=list)  # how the base was chosen, shallow clones...
    notebooks: list[CiNotebook] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why it was not graded)
    markdown: str = ""
    annotations: list[str] = field(default_factory=list)
    junit_path: Path | None = None
    exit_code: int = 0
    problems: list[str] = field(default_factory=list)  # why exit_code is 1

    @property
    def results(self) -> list[SubmissionResult]:
        return [nb.result for nb in self.notebooks if nb.result is not None]


_SURROGATE = re.compile("[\ud800-\udfff]")  # undecodable bytes of a file name: not writable as UTF-8


def _text(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s)


def _pts(x: float) -> str:
    return f"{round(x, 4):g}"
