"""`autograded/<student>/<assignment>/`: the one module that writes and reads it.

What a grading leaves there: the executed notebook `<assignment>.ipynb` (the student's outputs and, under
each grade cell, that question's check results), then `result.json` (the result plus what it was made
from: a hash of the submission and of the checks; written last and durably, it is the commit mark of the
grading), and `.gradebook`, the marker graders/gradebook.py keeps of what the gradebook holds.
Everything else (autograde's resume, feedback, reports, nbgrader's routes) goes through these functions.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .course import notebook_path, path as stage_path
from .errors import GradersError
from .files import write_atomic
from .result import SubmissionResult

if TYPE_CHECKING:
    from .autograde.submissions import Submitted

RESULT_FILE = "result.json"
MARKER_FILE = ".gradebook"


# ----------------------------------------------------------------------------- where
def folder_of(*, root: Path, student: str, assignment: str) -> Path:
    return stage_path("autograded", student, assignment, root=root)


def notebook_of(*, root: Path, student: str, assignment: str) -> Path:
    """The executed notebook of a submission."""
    return notebook_path("autograded", student, assignment=assignment, root=root)


def marker_of(*, root: Path, student: str, assignment: str) -> Path:
    """The gradebook's marker of this submission (graders/gradebook.py writes and reads it)."""
    return folder_of(root=root, student=student, assignment=assignment) / MARKER_FILE


# ----------------------------------------------------------------------------- writing
def executed_notebook(data: dict[str, Any], result: SubmissionResult, release: dict[str, Any] | None = None) -> dict[str, Any]:
    """The submitted notebook with the worker's outputs in its code cells and, under each grade cell,
    the results of that question's checks (markdown for people, metadata for tools).

    Nothing the student wrote outside their answers shows as the grader's: outputs they submitted are
    dropped, nbgrader metadata (points, grade ids) of every cell comes from the release (a cell claiming
    a grade id the release does not have loses it; the source of locked cells is the release's), and the
    result is valid nbformat (graders/graded_notebook.py)."""
    from .graded_notebook import from_release, valid

    nb = from_release(data, release)
    cells = nb.get("cells", [])
    outcomes = {c.index: c for c in result.cells}
    count = 0
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell["outputs"] = []
        cell["execution_count"] = None
        o = outcomes.get(i)
        if o is None:
            continue
        count += 1
        cell["execution_count"] = count
        outs = cell["outputs"]
        if o.stdout:
            outs.append({"output_type": "stream", "name": "stdout", "text": o.stdout})
        if o.stderr:
            outs.append({"output_type": "stream", "name": "stderr", "text": o.stderr})
        if o.result is not None:
            outs.append({"output_type": "execute_result", "execution_count": count, "metadata": {}, "data": {"text/plain": o.result}})
        if o.status in ("error", "timeout", "skipped") and o.error:
            ename, _, evalue = o.error.partition(": ")
            if o.status != "error" or not evalue:
                ename, evalue = {"timeout": "CellTimeout", "skipped": "CellSkipped"}.get(o.status, "Error"), o.error
            tb = (o.traceback or o.error).rstrip("\n").split("\n")
            outs.append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": tb})
    by_q: dict[str, list[Any]] = {}
    for c in result.checks:
        by_q.setdefault(c.grade_id, []).append(c)
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if not (isinstance(meta, dict) and meta.get("grade") and not meta.get("solution")):
            continue
        gid = str(meta.get("grade_id", ""))
        checks = by_q.get(gid, [])
        points = sum(c.points for c in checks)
        max_points = float(meta.get("points", sum(c.max_points for c in checks)) or 0)
        md = _grade_cell_markdown(gid, checks, points, max_points, result)
        cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                            "data": {"text/markdown": md, "text/plain": _markdown_to_text(md)}}]
        if cell.get("cell_type") == "code":
            cell["execution_count"] = None
        cell.setdefault("metadata", {})["graders"] = {"score": round(points, 4), "max_score": round(max_points, 4),
                                                      "checks": [c.to_dict() for c in checks]}
    gmeta = nb.setdefault("metadata", {}).setdefault("graders", {})
    if isinstance(gmeta, dict):
        gmeta["result"] = {"status": result.status, "score": round(result.score, 4), "max_score": round(result.max_score, 4),
                           "sandbox": result.sandbox, "device": result.device}
    return valid(nb)


def _grade_cell_markdown(gid: str, checks: list[Any], points: float, max_points: float, result: SubmissionResult) -> str:
    if result.status != "graded":
        return f"**{gid}: 0 / {max_points:g} points**: not graded: {result.message}"
    if not checks:
        return f"**{gid}: 0 / {max_points:g} points**: no check ran for this question"
    lines = [f"**{gid}: {points:g} / {max_points:g} points**", ""]
    for c in checks:
        mark = "✅" if c.status == "passed" else {"failed": "❌", "error": "💥", "timeout": "⏱"}.get(c.status, "❌")
        kind = "hidden" if c.hidden else "public"
        line = f"- {mark} `{c.id}` ({kind}) {c.points:g}/{c.max_points:g}"
        if c.status != "passed" and c.message:
            line += f": {c.message}"
        if c.metrics:
            line += " (" + ", ".join(f"{k} {v:.4g}" for k, v in c.metrics.items()) + ")"
        lines.append(line)
    return "\n".join(lines)


def _markdown_to_text(md: str) -> str:
    return md.replace("**", "").replace("`", "")


def write_outputs(*, root: Path, sub: Submitted, result: dict[str, Any], data: bytes | None, checks: str) -> SubmissionResult:
    """autograded/<student>/<assignment>/: the executed notebook, then result.json (the commit mark)."""
    from .notebook import write_notebook

    out = folder_of(root=root, student=sub.student, assignment=sub.assignment)
    out.mkdir(parents=True, exist_ok=True)
    res = SubmissionResult.from_dict(result)
    nb_path = notebook_of(root=root, student=sub.student, assignment=sub.assignment)
    nb_data = None
    if data is not None:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            parsed = json.loads(data)
            if isinstance(parsed, dict) and isinstance(parsed.get("cells"), list):
                nb_data = parsed
    if nb_data is not None:
        release = None
        with contextlib.suppress(OSError, ValueError):
            release = json.loads(notebook_path("release", assignment=sub.assignment, root=root).read_text(encoding="utf-8"))
        write_notebook(nb_path, executed_notebook(nb_data, res, release if isinstance(release, dict) else None))
    else:
        with contextlib.suppress(FileNotFoundError):
            nb_path.unlink()  # a previous grading's notebook would no longer match
    record = dict(result)
    record.pop("judge", None)
    record["autograde"] = {"submission_sha256": sub.digest, "checks_sha256": checks,
                           "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "judge": result.get("judge", {})}
    write_atomic(out / RESULT_FILE, json.dumps(record, indent=1, ensure_ascii=False) + "\n", durable=True)
    return res


# ----------------------------------------------------------------------------- reading
def previous_result(*, root: Path, sub: Submitted, checks: str) -> SubmissionResult | None:
    """The stored result when it was made from this very submission and these checks, else None."""
    try:
        record = read_record(root=root, student=sub.student, assignment=sub.assignment)
    except (OSError, ValueError):
        return None
    meta = record.get("autograde", {}) if isinstance(record, dict) else {}
    if meta.get("submission_sha256") != sub.digest or meta.get("checks_sha256") != checks:
        return None
    if record.get("status") == "graded" and not notebook_of(root=root, student=sub.student, assignment=sub.assignment).exists():
        return None
    try:
        return SubmissionResult.from_dict(record)
    except (KeyError, TypeError, ValueError):
        return None


def read_record(*, root: Path, student: str, assignment: str) -> Any:
    """result.json of a submission as stored (raises OSError, ValueError)."""
    return json.loads((folder_of(root=root, student=student, assignment=assignment) / RESULT_FILE).read_text(encoding="utf-8"))


def read_result(folder: Path) -> SubmissionResult:
    """The result in an autograded folder; GradersError when it cannot be read."""
    path = folder / RESULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SubmissionResult.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GradersError(f"{path}: cannot read the result ({exc}); run `graders autograde` again") from None


def results_of(*, assignment: str, root: Path) -> dict[str, tuple[Path, SubmissionResult]]:
    """student -> (autograded folder, result) for every graded submission of `assignment`."""
    out = {}
    base = stage_path("autograded", root=root)
    for res_file in sorted(base.glob(f"*/{assignment}/{RESULT_FILE}")):
        found = res_file.parent
        out[found.parent.name] = (found, read_result(found))
    return out


def notebook_data(*, root: Path, student: str, assignment: str) -> dict[str, Any] | None:
    """The executed notebook of a submission as JSON, else the submitted one, else None (neither readable)."""
    for nb in (notebook_of(root=root, student=student, assignment=assignment),
               notebook_path("submitted", student, assignment=assignment, root=root)):
        try:
            data = json.loads(nb.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("cells"), list):
            return data
    return None
