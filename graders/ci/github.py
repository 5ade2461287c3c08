"""GitHub's side of `graders ci`: workflow commands and their escaping, annotations, the Markdown job summary.

Everything a student controls (file names, exception messages) is escaped here before it reaches
Markdown or a workflow command: a submission cannot forge an annotation or a summary row.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..result import CheckResult
from .outcome import CiOutcome, _pts, _text

MAX_ERROR_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step
SUMMARY_MESSAGE_CHARS = 400
ANNOTATION_MESSAGE_CHARS = 2000


def escape_data(s: str) -> str:
    """A workflow command's message (GitHub's escapeData)."""
    return _text(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """A workflow command's property value such as file= or title= (GitHub's escapeProperty)."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def workflow_command(kind: str, message: str, **props: object) -> str:
    ps = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v is not None and v != "")
    return f"::{kind}{(' ' + ps) if ps else ''}::{escape_data(message)}"


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def md_cell(text: str, limit: int | None = None) -> str:
    """Text that stays inside one Markdown table cell and renders as text (code spans kept)."""
    text = _text(text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unbalanced backtick: the last piece is plain text
        parts[-2:] = [parts[-2] + "\\`" + parts[-1]]
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:  # outside code: no HTML, no line breaks
            out.append(part.translate(_HTML).replace("\n", "<br>"))
        else:  # inside a code span: HTML is not parsed there, entities would show; newlines become spaces
            out.append(part.replace("\n", " "))
    return "`".join(out).replace("|", "\\|")


def code_block(text: str) -> list[str]:
    """A fenced block showing `text` literally: the fence is longer than any run of backticks inside."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence + "text", _text(text).replace("\r", ""), fence]


def _status_word(c: CheckResult) -> str:
    return {"failed": "failed", "error": "error (your code raised)", "timeout": "timeout"}.get(c.status, c.status)


# ----------------------------------------------------------------------------- reports
def render_markdown(outcome: CiOutcome, *, redact_hidden: bool = False) -> str:
    nbs = outcome.notebooks
    lines = ["## Grading results", ""]
    how = f"Compared HEAD with {md_cell(outcome.base)} (`{outcome.base_commit[:10]}`)."
    lines += [how] + [f"> {md_cell(n)}" for n in outcome.notes] + [""]
    skipped = ["", "Other notebooks that changed (not graded):", ""] if outcome.skipped else []
    skipped += [f"- {md_cell(p)}: {md_cell(why)}" for p, why in outcome.skipped]
    if not nbs:
        lines.append("No assignment notebook changed: nothing to grade.")
        return "\n".join(lines + skipped) + "\n"
    lines += ["| Notebook | Assignment | Score | Result |", "|---|---|---|---|"]
    for nb in nbs:
        r = nb.result
        assert r is not None
        if r.status == "error":
            lines.append(f"| {md_cell(nb.path)} | {md_cell(nb.assignment)} | – | :x: not graded |")
            continue
        failing = len(r.failed_checks())
        verdict = ":white_check_mark: all checks passed" if not failing else f":warning: {failing} failing check{'s' * (failing != 1)}"
        lines.append(f"| {md_cell(nb.path)} | {md_cell(r.assignment)} | **{_pts(r.score)}/{_pts(r.max_score)}** | {verdict} |")
    for nb in nbs:
        r = nb.result
        assert r is not None
        lines += ["", f"### {md_cell(nb.path)}: {md_cell(nb.assignment)}", ""]
        if r.status == "error":
            lines += [f"**Not graded:** {md_cell(r.message or 'unknown problem')}", ""]
            continue
        lines += [f"Score **{_pts(r.score)}/{_pts(r.max_score)}** ({md_cell(r.sandbox)} sandbox, device {md_cell(r.device)}, "
                  f"{r.duration_s:.1f} s).", "", "| Question | Points |", "|---|---|"]
        for gid, (p, m) in r.question_scores().items():
            mark = "" if p >= m - 1e-9 else " :x:"
            lines.append(f"| {md_cell(gid)} | {_pts(p)}/{_pts(m)}{mark} |")
        errs = [c for c in r.cells if c.status in ("error", "timeout")]
        failing = r.failed_checks()
        if failing:
            lines += ["", "| Failing check | Status | Points | Message |", "|---|---|---|---|"]
            traces = []
            for c in failing:
                redacted = redact_hidden and c.hidden
                msg = "a hidden check failed (details are given after the deadline)" if redacted else c.message
                if not redacted and c.trace and msg.endswith(c.trace):  # shown below the table, in aligned columns
                    msg = msg[: -len(c.trace)].rstrip() + " (forward pass below)"
                    traces.append((c, c.trace))
                name = c.id + (" (hidden)" if c.hidden else "")
                lines.append(f"| {md_cell(name)} | {_status_word(c)} | {_pts(c.points)}/{_pts(c.max_points)} | "
                             f"{md_cell(msg or '(no message)', SUMMARY_MESSAGE_CHARS)} |")
            same: dict[str, list[str]] = {}  # one block per distinct trace (tier checks share a training run)
            for c, trace in traces:
                same.setdefault(trace, []).append(c.id)
            for trace, ids in same.items():
                lines += ["", f"<details><summary>{md_cell(', '.join(ids))}: the forward pass, layer by layer</summary>", "",
                          *code_block(trace), "", "</details>"]
        if errs:
            lines += ["", "Cells of the notebook that failed when it was run:", ""]
            for cell in errs:
                lines.append(f"- cell {cell.index + 1}: {md_cell(cell.error or cell.status, SUMMARY_MESSAGE_CHARS)}")
    lines += skipped
    if outcome.problems:
        lines += ["", "**The grading job fails:** " + md_cell("; ".join(outcome.problems))]
    return "\n".join(lines) + "\n"


def _line_of(repo: Path, rel: str, grade_id: str) -> int | None:
    """The line of the notebook's JSON where the answer cell of `grade_id` is, for the annotation."""
    try:
        lines = (repo / rel).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for key in (f'"{grade_id}-answer"', f'"{grade_id}"'):
        for i, ln in enumerate(lines, 1):
            if '"grade_id"' in ln and key in ln:
                return i
    return None


def render_annotations(outcome: CiOutcome, *, redact_hidden: bool = False) -> list[str]:
    notices: list[str] = []
    errors: list[str] = []
    for nb in outcome.notebooks:
        r = nb.result
        assert r is not None
        if r.status == "error":
            errors.append(workflow_command("error", r.message or "the notebook could not be graded", file=nb.path,
                                           title=f"{nb.assignment}: not graded"))
            continue
        per_q = ", ".join(f"{gid} {_pts(p)}/{_pts(m)}" for gid, (p, m) in r.question_scores().items())
        notices.append(workflow_command("notice", per_q or "no checks ran", file=nb.path,
                                        title=f"{r.assignment}: {_pts(r.score)}/{_pts(r.max_score)} points"))
        for c in r.failed_checks():
            msg = "a hidden check failed" if (redact_hidden and c.hidden) else (c.message or "(no message)")
            if len(msg) > ANNOTATION_MESSAGE_CHARS:
                msg = msg[: ANNOTATION_MESSAGE_CHARS - 1] + "…"
            errors.append(workflow_command("error", msg, file=nb.path, line=_line_of(outcome.repo, nb.path, c.grade_id),
                                           title=f"{r.assignment} {c.id} ({c.status}, {_pts(c.points)}/{_pts(c.max_points)})"))
    if len(errors) > MAX_ERROR_ANNOTATIONS:
        rest = len(errors) - (MAX_ERROR_ANNOTATIONS - 1)
        errors = errors[: MAX_ERROR_ANNOTATIONS - 1] + [workflow_command(
            "error", f"{rest} more failing checks: see the job summary or the junit.xml artifact", title="more failing checks")]
    return notices + errors
