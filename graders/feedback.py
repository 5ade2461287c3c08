"""Stage `autograded → feedback`: one self-contained HTML page per student and assignment.

Reads `autograded/<student>/<a>/result.json` and the notebook next to it (else the submitted one)
and writes `feedback/<student>/<a>/<a>.html`: the score, points per question, the student's cells
with their outputs, and under each question the results of its checks.

What a student sees of hidden checks (the policy, and why). nbgrader's own feedback shows hidden
tests' code (its issues #917, #1363); ours never contains a hidden check's code, inputs or expected
values. Hidden check messages are written to help at grading time and routinely name the hidden
input ("`matmul(a, b)` with a (6, 9) and b (9, 2) returned 1.2 at index (0, 1), expected 3.4"),
and students may resubmit (CI on every push), so showing them would turn hidden checks into public
ones. So for a hidden check the page shows its name (a category such as `matmul::edge_shapes`,
like a test title), its points, and a short category of what went wrong, derived from the status
and message without quoting it: "wrong shape", "wrong values", "raised ValueError", "did not
finish within the time limit", "not implemented yet"... For trained-model checks the accuracy the
judge measured is shown (a number about the student's model, not about the data). Public checks'
messages are shown in full: students can run those checks themselves. `reveal_hidden=True`
(`graders feedback --reveal-hidden`, e.g. after the last deadline) shows hidden messages too; it
never shows check code or inputs, which are not in result.json at all.

The autograded notebook (the instructor's copy) carries every check message in its grade cells'
outputs and metadata: those are never copied; grade cells are rebuilt from result.json here.
Student-made HTML/JavaScript outputs are shown as text; markdown is rendered with raw HTML escaped.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .autograded import RESULT_FILE, notebook_data, results_of
from .course import course_root, get_assignment, path as stage_path
from .errors import GradersError
from .files import write_atomic
from .result import CheckResult, SubmissionResult

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MAX_OUTPUT = 20_000  # characters of one output shown
_MAX_IMAGE = 3_000_000  # bytes of base64 per image


# ----------------------------------------------------------------------------- hidden checks
def hidden_category(check: CheckResult) -> str:
    """What went wrong in a hidden check, without quoting its message (no inputs, no expected values)."""
    msg = check.message or ""
    if check.status == "timeout":
        return "your code did not finish within the time limit"
    if "not implemented yet" in msg:
        return "not implemented yet (it raised NotImplementedError)"
    if "is not defined because cell" in msg:  # graders/judge/causes.py: the student's own cell, not the check's input
        return "a function or class it needs is not defined because " + msg.split(" is not defined because ", 1)[1].split(" (", 1)[0].split(":", 1)[0]
    if "is not defined" in msg:
        return "a function or class it needs is not defined in the notebook"
    acc = check.metrics.get("accuracy") if check.metrics else None
    if acc is not None:
        need = re.search(r"(\d?\.\d+) earns", msg)
        return f"accuracy {acc:.3f} on the grader's held-out data" + (f"; {need.group(1)} earns these points" if need else "")
    if check.status == "error":
        m = re.search(r"raised (\w+)", msg)
        if "stopped the worker" in msg or "crashed" in msg:
            return "your code crashed the process running it"
        return f"your code raised {m.group(1)}" if m else "your code raised an exception"
    if "expected it to raise" in msg:
        return "returned a value where an exception was expected"
    m = re.search(r"\braised (\w+)", msg)
    if m:
        return f"raised {m.group(1)}, not the exception expected"
    if "returned shape" in msg or re.search(r"expected shape", msg):
        return "wrong shape"
    if "returned dtype" in msg or "expected dtype" in msg:
        return "wrong dtype"
    if "NaN" in msg or "inf" in msg.split():
        return "NaN or infinite values"
    if "has no key" in msg or "expected a dict" in msg or "expected a tuple" in msg or "expected a torch.Tensor" in msg \
            or re.search(r"returned (None|list|dict|tuple|int|float|str)\b", msg):
        return "wrong kind of value returned"
    if "grad" in msg.lower():
        return "wrong gradients"
    if "device" in msg:
        return "tensors on the wrong device"
    if "returned" in msg and "expected" in msg:
        return "wrong values"
    return "did not give the expected result"


def check_line(check: CheckResult, *, reveal_hidden: bool = False) -> tuple[str, str]:
    """(status word, text shown) for one check."""
    name = check.id.split("::", 1)[-1]
    if check.status == "passed":
        return "passed", f"{'hidden' if check.hidden else 'public'} check {name}"
    if check.hidden and not reveal_hidden:
        return check.status, f"a hidden check ({name}) failed: {hidden_category(check)}"
    kind = "hidden" if check.hidden else "public"
    return check.status, f"{kind} check {name}: {check.message or check.status}"


# ----------------------------------------------------------------------------- rendering
def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _text(v: Any) -> str:
    s = "".join(v) if isinstance(v, list) else str(v or "")
    s = _ANSI.sub("", s)
    if len(s) > _MAX_OUTPUT:
        s = s[:_MAX_OUTPUT] + f"\n... [{len(s) - _MAX_OUTPUT} more characters not shown]"
    return s


def _markdown(src: str) -> str:
    try:
        import mistune

        md = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
        return str(md(src))
    except Exception:  # noqa: BLE001 - no markdown renderer: show the text
        return f"<pre class='md'>{_e(src)}</pre>"


def _code(src: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        return f"<pre class='code hl'>{highlight(src, PythonLexer(), HtmlFormatter(nowrap=True))}</pre>"
    except Exception:  # noqa: BLE001
        return f"<pre class='code'>{_e(src)}</pre>"


def _pygments_css() -> str:
    try:
        from pygments.formatters import HtmlFormatter

        return str(HtmlFormatter(style="friendly").get_style_defs(".hl"))
    except Exception:  # noqa: BLE001
        return ""


def _outputs(outputs: list[Any]) -> str:
    parts = []
    for out in outputs or []:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream":
            cls = "stderr" if out.get("name") == "stderr" else "stdout"
            parts.append(f"<pre class='out {cls}'>{_e(_text(out.get('text')))}</pre>")
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") or {}
            img = data.get("image/png")
            if isinstance(img, (str, list)):
                b64 = "".join(img) if isinstance(img, list) else img
                b64 = re.sub(r"\s+", "", b64)
                try:
                    if len(b64) <= _MAX_IMAGE:
                        base64.b64decode(b64, validate=True)
                        parts.append(f"<img class='out' alt='figure' src='data:image/png;base64,{b64}'>")
                        continue
                except (binascii.Error, ValueError):
                    pass
            if "text/plain" in data:
                parts.append(f"<pre class='out'>{_e(_text(data['text/plain']))}</pre>")
            elif data:
                parts.append(f"<pre class='out dim'>[{_e(', '.join(sorted(data)))} output not shown]</pre>")
        elif kind == "error":
            tb = _text("\n".join(out.get("traceback") or []) or f"{out.get('ename')}: {out.get('evalue')}")
            parts.append(f"<pre class='out error'>{_e(tb)}</pre>")
    return "".join(parts)


def _training_figure(training: Any) -> str:
    """The question's loss curve(s) next to the measured accuracy and the tiers, with a diagnosis (graders/curves.py)."""
    from .curves import diagnose, plot_training

    try:
        png = plot_training(training)
    except Exception:  # noqa: BLE001 - a plot that cannot be drawn must not cost the page
        return ""
    note = diagnose(training.main, lost_points=training.points < training.max_points - 1e-9)
    b64 = base64.b64encode(png).decode()
    return (f"<figure class='curve'><img alt='training loss of {_e(training.grade_id)}' src='data:image/png;base64,{b64}'>"
            f"<figcaption>The loss your training code computed at each step (observed while the grader ran it)."
            f"{' <b>' + _e(note) + '</b>' if note else ''}</figcaption></figure>")


def _check_item(c: CheckResult, *, reveal_hidden: bool) -> str:
    status, text = check_line(c, reveal_hidden=reveal_hidden)
    mark = {"passed": "✔", "failed": "✘", "error": "✘", "timeout": "⏱"}.get(status, "✘")
    extra = ""
    if c.status == "passed" and c.metrics.get("accuracy") is not None:
        extra = f" (accuracy {c.metrics['accuracy']:.3f})"
    trace = ""
    if c.trace and text.endswith(c.trace):  # the forward pass layer by layer: aligned columns
        text, trace = text[: -len(c.trace)].rstrip(), f"<pre class='trace'>{_e(c.trace)}</pre>"
    return (f"<li class='{_e(status)}'><span class='mark'>{mark}</span> {_e(text)}{_e(extra)} "
            f"<span class='cpts'>{c.points:g}/{c.max_points:g}</span>{trace}</li>")


def _question_panel(gid: str, checks: list[CheckResult], max_points: float, *, reveal_hidden: bool, graded: bool,
                    training: Any = None) -> str:
    points = sum(c.points for c in checks)
    ok = graded and checks and all(c.status == "passed" for c in checks)
    head = f"<div class='qhead'><span class='qid'>{_e(gid)}</span> <span class='pts'>{points:g} / {max_points:g} points</span></div>"
    if not graded:
        return f"<div class='panel bad' id='q-{_e(gid)}'>{head}<p>not graded (see the top of this page)</p></div>"
    if not checks:
        return f"<div class='panel bad' id='q-{_e(gid)}'>{head}<p>no check ran for this question</p></div>"
    rows = [_check_item(c, reveal_hidden=reveal_hidden) for c in checks]
    figure = _training_figure(training) if training is not None else ""
    return f"<div class='panel {'good' if ok else 'bad'}' id='q-{_e(gid)}'>{head}<ul class='checks'>{''.join(rows)}</ul>{figure}</div>"


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} .sub{color:#666;margin-top:0}
table.summary{border-collapse:collapse;margin:1em 0} table.summary td,table.summary th{border:1px solid #ddd;padding:.3em .8em;text-align:left}
table.summary td.num{text-align:right;font-variant-numeric:tabular-nums} tr.full td{background:#f0faf0} tr.part td{background:#fff8e6} tr.zero td{background:#fdeeee}
.cell{margin:1em 0} .md{margin:1em 0}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:.3em 0;font-size:.9em}
pre.code{border-left:4px solid #4a7fd6} pre.out{background:#fff} pre.stderr{background:#fff6f6} pre.error{background:#fdeeee;border-color:#e5a0a0}
pre.dim{color:#888} img.out{max-width:100%}
.panel{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:1em 0} .panel.good{border-color:#7cc27c;background:#f3fbf3} .panel.bad{border-color:#e0a0a0;background:#fff7f7}
.qhead{font-weight:bold} .qid{font-family:monospace;font-size:1.05em} .pts{float:right}
ul.checks{list-style:none;padding-left:0;margin:.4em 0} ul.checks li{margin:.25em 0} li.passed .mark{color:#2a8a2a} li.failed .mark,li.error .mark{color:#c33} li.timeout .mark{color:#b80}
.cpts{color:#666;font-size:.85em;margin-left:.4em} .total{font-size:1.3em;font-weight:bold}
.note{color:#555;font-size:.9em}
pre.trace{background:#fff;border-left:4px solid #e0a0a0;margin:.3em 0 .3em 1.4em;white-space:pre;overflow-x:auto}
figure.curve{margin:.6em 0} figure.curve img{max-width:100%;border:1px solid #eee;background:#fff} figure.curve figcaption{color:#444;font-size:.9em}
"""


def feedback_html(*, result: SubmissionResult, notebook: dict[str, Any] | None, questions: dict[str, float],
                  reveal_hidden: bool = False, generated_at: str | None = None) -> str:
    """The feedback page for one submission (a pure function of its inputs)."""
    from .curves import training_of

    graded = result.status == "graded"
    by_q: dict[str, list[CheckResult]] = {}
    for c in result.checks:
        by_q.setdefault(c.grade_id, []).append(c)
    training = training_of(result) if graded else {}
    title = f"{result.assignment}: feedback for {result.student or 'your submission'}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<style>{_CSS}{_pygments_css()}</style></head><body>",
             f"<h1>{_e(title)}</h1>"]
    when = generated_at or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p class='sub'>generated {when}</p>")
    if graded:
        parts.append(f"<p class='total'>Score: {result.score:g} / {result.max_score:g}</p>")
    else:
        parts.append(f"<p class='total'>Not graded</p><div class='panel bad'><p>{_e(result.message or 'the notebook could not be graded')}</p></div>")
    # summary table
    rows = []
    for gid, max_pts in questions.items():
        checks = by_q.get(gid, [])
        pts = sum(c.points for c in checks)
        failed = sum(c.status != "passed" for c in checks)
        cls = "full" if graded and checks and failed == 0 else ("zero" if pts == 0 else "part")
        note = "all checks pass" if cls == "full" else (f"{failed} of {len(checks)} checks fail" if checks else "not checked")
        rows.append(f"<tr class='{cls}'><td><a href='#q-{_e(gid)}'>{_e(gid)}</a></td><td class='num'>{pts:g} / {max_pts:g}</td><td>{_e(note)}</td></tr>")
    parts.append("<table class='summary'><tr><th>question</th><th>points</th><th></th></tr>" + "".join(rows) + "</table>")
    parts.append("<p class='note'>Public checks are the ones you can run with <code>grader.check</code>; hidden checks use other "
                 "inputs and are described here only by what went wrong" + (" (their messages are shown: the instructor released them)" if reveal_hidden else "") + ".</p>")
    # the notebook, with each grade cell replaced by its question's results
    shown: set[str] = set()
    if notebook is not None:
        parts.append("<h2>Your notebook</h2>")
        for cell in notebook.get("cells", []):
            if not isinstance(cell, dict):
                continue
            meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
            meta = meta if isinstance(meta, dict) else {}
            src = _text(cell.get("source", ""))
            if meta.get("grade") and not meta.get("solution"):
                gid = str(meta.get("grade_id", ""))
                if gid in questions:
                    parts.append(_question_panel(gid, by_q.get(gid, []), questions[gid], reveal_hidden=reveal_hidden, graded=graded,
                                                 training=training.get(gid)))
                    shown.add(gid)
                continue  # never the stored outputs of a grade cell: they are the instructor's copy
            if cell.get("cell_type") == "markdown":
                parts.append(f"<div class='cell md'>{_markdown(src)}</div>")
            elif cell.get("cell_type") == "code":
                if not src.strip():
                    continue
                parts.append(f"<div class='cell'>{_code(src)}{_outputs(cell.get('outputs', []))}</div>")
    missing = [g for g in questions if g not in shown]
    if missing:
        parts.append("<h2>Questions</h2>")
        parts += [_question_panel(g, by_q.get(g, []), questions[g], reveal_hidden=reveal_hidden, graded=graded,
                                  training=training.get(g)) for g in missing]
    parts.append("</body></html>\n")
    return "".join(parts)


# ----------------------------------------------------------------------------- the stage
def write_feedback(*, assignment: str, root: Path | None = None, students: list[str] | None = None,
                   reveal_hidden: bool = False) -> list[Path]:
    """feedback/<student>/<assignment>/<assignment>.html for every autograded submission; returns the paths."""
    root = Path(root) if root else course_root()
    spec = get_assignment(assignment)
    found = results_of(assignment=spec.name, root=root)
    if students is not None:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise GradersError(f"no autograded result for {', '.join(unknown)} in {stage_path('autograded', root=root)}; "
                               f"run `graders autograde {spec.name}` first")
        found = {s: found[s] for s in students}
    if not found:
        raise GradersError(f"nothing to give feedback on: no {stage_path('autograded', root=root)}/*/{spec.name}/{RESULT_FILE}; "
                           f"run `graders autograde {spec.name}` first")
    written = []
    for student, (_folder, result) in found.items():
        nb = notebook_data(root=root, student=student, assignment=spec.name)
        page = feedback_html(result=result, notebook=nb, questions=spec.questions, reveal_hidden=reveal_hidden)
        out = stage_path("feedback", student, spec.name, root=root) / f"{spec.name}.html"
        write_atomic(out, page)
        written.append(out)
    return written
