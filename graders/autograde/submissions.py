"""What there is to grade: every `submitted/<student>/<assignment>/`, its notebook and its digests.

A missing, misnamed or linked notebook is found here already and becomes an `error` result without a
judge; `digest` (of the submission) and `checks_version` (of the checks) decide whether a stored result
is still current (graders/autograded.py `previous_result`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..course import PACKAGE_DIR, Assignment, notebook_path, path as stage_path


@dataclass
class Submitted:
    """One student's folder for an assignment, as found under submitted/."""

    student: str
    assignment: str
    folder: Path
    notebook: Path | None  # None: missing or misnamed
    problem: str | None = None
    digest: str = ""
    timestamp: str | None = None

    def data(self) -> bytes:
        assert self.notebook is not None
        return self.notebook.read_bytes()


def find_submissions(*, root: Path, assignment: str, students: Iterable[str] | None = None) -> list[Submitted]:
    base = stage_path("submitted", root=root)
    wanted = set(students) if students is not None else None
    out: list[Submitted] = []
    if not base.is_dir():
        return out
    real_base = base.resolve()
    for sdir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if wanted is not None and sdir.name not in wanted:
            continue
        folder = stage_path("submitted", sdir.name, assignment, root=root)
        if not folder.is_dir():
            continue
        expected = notebook_path("submitted", sdir.name, assignment=assignment, root=root)
        rel = expected.relative_to(root)
        escape = _escapes(real_base / sdir.name / assignment, folder, expected, folder / "timestamp.txt")
        if escape is not None:
            problem = (f"{rel.parent}/: {escape} leads outside submitted/{sdir.name}/{assignment}/ (a symbolic link); "
                       f"a submission must be the student's own files: submit {assignment}.ipynb itself")
            out.append(Submitted(sdir.name, assignment, folder, None, problem=problem,
                                 digest="link:" + hashlib.sha256(problem.encode()).hexdigest()))
            continue
        ts_file = folder / "timestamp.txt"
        ts = ts_file.read_text(encoding="utf-8", errors="replace").strip()[:100] if ts_file.is_file() else None
        if expected.is_file():
            data = expected.read_bytes()
            out.append(Submitted(sdir.name, assignment, folder, expected, digest=hashlib.sha256(data).hexdigest(), timestamp=ts))
            continue
        others = sorted(p.name for p in folder.iterdir() if p.suffix == ".ipynb" and not p.name.startswith("."))
        if others:
            problem = (f"{rel.parent}/ has no {assignment}.ipynb but {', '.join(others)}: the notebook must keep its name "
                       f"{assignment}.ipynb; rename it and submit again")
        else:
            problem = f"{rel.parent}/ has no notebook: submit {assignment}.ipynb"
        listing = "\n".join(sorted(f"{p.name}:{p.lstat().st_size}" for p in folder.iterdir()))
        out.append(Submitted(sdir.name, assignment, folder, None, problem=problem,
                             digest="missing:" + hashlib.sha256(listing.encode()).hexdigest(), timestamp=ts))
    return out


def _escapes(own: Path, folder: Path, *paths: Path) -> str | None:
    """What, of the student's folder and the files read from it, really lies outside `own` (the real path of
    submitted/<student>/<assignment>/): a link to the instructor's source notebook or to another student's
    folder must not be graded as this student's work. None when everything is their own."""
    if folder.resolve() != own:
        return "the folder"
    for p in paths:
        if p.is_symlink() or (p.exists() and p.resolve().parent != own):
            return p.name
    return None


def checks_version(spec: Assignment) -> str:
    """A hash of what decides a grade: the assignment's checks and the assertion helpers they use.
    (Changing the hidden seeds, GRADERS_HIDDEN_SEED or the course secret, needs --force.)"""
    h = hashlib.sha256()
    files = [spec.module_path, *sorted((PACKAGE_DIR / "checks").glob("*.py"))]
    for f in files:
        h.update(f.name.encode() + b"\0")
        with contextlib.suppress(OSError):
            h.update(f.read_bytes())
    return h.hexdigest()
