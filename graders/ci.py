"""Stage `pull request → graded`: grade the assignment notebooks a push or pull request changed.

Used by the student repositories' workflow (graders/templates/grade.yml, see docs/ci.md):

1. find the base: ``--base``, else ``GITHUB_BASE_REF`` (a pull request: ``origin/<ref>`` or ``<ref>``),
   else the merge base with the default branch; on the default branch itself (a push to main) or
   without one, the repository's first commit (in a repository made from the template: the release the student started from);
2. list the notebooks changed between that base and HEAD and keep the ones of this course, recognised
   by their metadata ``graders.assignment`` (or, when a student's tool dropped it, by their path
   ``<a>/<a>.ipynb`` or ``release/<a>/<a>.ipynb``);
3. grade each in the sandbox (`graders.grade.grade_or_record`: a broken notebook becomes an ``error``
   result, never a crash);
4. report: a Markdown summary (``$GITHUB_STEP_SUMMARY`` when set, else stdout), workflow annotations
   (stdout), JUnit XML, one result JSON per notebook; and an exit code: 0 when grading worked whatever
   the score, 1 when a notebook could not be graded or a score is below ``min_score``.

Everything a student controls (file names, exception messages) is escaped before it reaches
Markdown, a workflow command or XML: a submission cannot forge an annotation or a summary row.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import GradersError
from .result import CheckResult, SubmissionResult

MAX_ERROR_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step
SUMMARY_MESSAGE_CHARS = 400
ANNOTATION_MESSAGE_CHARS = 2000


# ----------------------------------------------------------------------------- results
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


# ----------------------------------------------------------------------------- git
def _git(repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise GradersError("git is not installed; graders ci needs git to find the changed notebooks") from None
    except subprocess.TimeoutExpired:
        raise GradersError(f"git {' '.join(args)} did not finish within 120 s in {repo}") from None
    out = os.fsdecode(proc.stdout)
    if proc.returncode not in ok_codes:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        raise GradersError(f"git {' '.join(args)} failed in {repo}: {err[-1] if err else f'exit {proc.returncode}'}")
    return proc.returncode, out


def _commit_of(repo: Path, ref: str) -> str | None:
    code, out = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok_codes=(0, 1, 128))
    return out.strip() if code == 0 and out.strip() else None


def _merge_base(repo: Path, a: str, b: str) -> str | None:
    code, out = _git(repo, "merge-base", a, b, ok_codes=(0, 1))
    return out.strip() if code == 0 and out.strip() else None


def _root_commit(repo: Path) -> str:
    _code, out = _git(repo, "rev-list", "--max-parents=0", "HEAD")
    roots = out.split()
    if not roots:
        raise GradersError(f"{repo}: HEAD has no first commit; commit the notebooks before running graders ci")
    return roots[-1]


def repo_root(repo: str | Path) -> Path:
    p = Path(repo)
    if not p.exists():
        raise GradersError(f"{p}: no such folder; run graders ci in the student's repository")
    code, out = _git(p, "rev-parse", "--show-toplevel", ok_codes=(0, 128))
    if code != 0 or not out.strip():
        raise GradersError(f"{p.resolve()}: not a git checkout; run graders ci in the student's repository "
                           f"(in GitHub Actions: after actions/checkout with fetch-depth: 0)")
    return Path(out.strip())


def _default_branch_candidates(repo: Path) -> list[str]:
    names: list[str] = []
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event:
        try:
            branch = json.loads(Path(event).read_text(encoding="utf-8")).get("repository", {}).get("default_branch")
        except (OSError, ValueError, AttributeError):
            branch = None
        if isinstance(branch, str) and branch:
            names += [f"origin/{branch}", branch]
    code, out = _git(repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", ok_codes=(0, 1, 128))
    if code == 0 and out.strip().startswith("refs/remotes/"):
        names.append(out.strip().removeprefix("refs/remotes/"))
    names += ["origin/main", "origin/master", "main", "master"]
    return list(dict.fromkeys(names))


def resolve_base(repo: Path, base: str | None = None) -> tuple[str, str, list[str]]:
    """(label, commit, notes): the commit HEAD is compared with, and how it was chosen."""
    head = _commit_of(repo, "HEAD")
    if head is None:
        raise GradersError(f"{repo}: the repository has no commit yet; commit the notebooks first")
    notes: list[str] = []
    code, out = _git(repo, "rev-parse", "--is-shallow-repository", ok_codes=(0, 128))
    if code == 0 and out.strip() == "true":
        notes.append("this checkout is shallow: the base may be missing; use actions/checkout with fetch-depth: 0")

    def against(label: str, commit: str) -> tuple[str, str, list[str]]:
        mb = _merge_base(repo, commit, head)
        if mb is None:
            notes.append(f"{label} and HEAD share no history; comparing with {label} itself")
            return label, commit, notes
        return label, mb, notes

    if base:
        commit = _commit_of(repo, base)
        if commit is None:
            raise GradersError(f"--base {base}: no such branch, tag or commit in {repo}; fetch it first "
                               f"(git fetch origin {base}) or check out with fetch-depth: 0")
        return against(base, commit)

    base_ref = os.environ.get("GITHUB_BASE_REF", "").strip()
    if base_ref:  # a pull request
        for cand in (f"origin/{base_ref}", base_ref):
            commit = _commit_of(repo, cand)
            if commit is not None:
                return against(cand, commit)
        raise GradersError(f"GITHUB_BASE_REF={base_ref}: neither origin/{base_ref} nor {base_ref} is in this checkout; "
                           f"use actions/checkout with fetch-depth: 0, or pass --base")

    for cand in _default_branch_candidates(repo):
        commit = _commit_of(repo, cand)
        if commit is None:
            continue
        mb = _merge_base(repo, commit, head)
        if mb is not None and mb != head:
            return cand, mb, notes
        root = _root_commit(repo)
        notes.append(f"HEAD is on (or behind) the default branch {cand}: grading every notebook changed since the first commit "
                     f"{root[:10]} (the release the repository started from)")
        return "first commit", root, notes
    root = _root_commit(repo)
    notes.append(f"no default branch (main, master) found: grading every notebook changed since the first commit {root[:10]}")
    return "first commit", root, notes


def changed_files(repo: Path, base_commit: str) -> list[str]:
    """Paths (relative to the root) added or modified between `base_commit` and HEAD; deletions left out."""
    _code, out = _git(repo, "-c", "core.quotepath=off", "diff", "--no-ext-diff", "--no-renames", "--name-only", "-z",
                      "--diff-filter=d", base_commit, "HEAD")
    return sorted(p for p in out.split("\0") if p)


# ----------------------------------------------------------------------------- which notebooks
def assignment_of_path(rel: str, names: list[str]) -> str | None:
    """`<a>/<a>.ipynb` or `release/<a>/<a>.ipynb` for an assignment `a` of the course."""
    parts = rel.split("/")
    if len(parts) == 2 and parts[0] in names and parts[1] == f"{parts[0]}.ipynb":
        return parts[0]
    if len(parts) == 3 and parts[0] == "release" and parts[1] in names and parts[2] == f"{parts[1]}.ipynb":
        return parts[1]
    return None


def find_assignment_notebooks(repo: Path, paths: list[str]) -> tuple[list[CiNotebook], list[tuple[str, str]]]:
    """The course notebooks among `paths` (metadata first, path as a fallback), and the rest with a reason."""
    from .course import assignment_names
    from .notebook import read_notebook

    names = assignment_names()
    found: list[CiNotebook] = []
    skipped: list[tuple[str, str]] = []
    for rel in paths:
        if not rel.endswith(".ipynb"):
            continue
        if ".ipynb_checkpoints" in rel.split("/"):
            skipped.append((rel, "a JupyterLab checkpoint"))
            continue
        full = repo / rel
        if full.is_symlink() or not full.resolve().is_relative_to(repo.resolve()):
            skipped.append((rel, "a symbolic link (or outside the repository); commit the notebook file itself"))
            continue
        if not full.is_file():
            skipped.append((rel, "not a file in the checkout"))
            continue
        meta: str | None = None
        try:
            meta = read_notebook(full).assignment
        except GradersError:
            pass  # unreadable: graded below only when its path says it is an assignment (it becomes an error result)
        by_path = assignment_of_path(rel, names)
        if meta:
            found.append(CiNotebook(rel, meta, "metadata"))
        elif by_path:
            found.append(CiNotebook(rel, by_path, "path"))
        else:
            skipped.append((rel, "not an assignment of this course (no graders.assignment in its metadata)"))
    return found, skipped


# ----------------------------------------------------------------------------- escaping
_SURROGATE = re.compile("[\ud800-\udfff]")  # undecodable bytes of a file name: not writable as UTF-8


def _text(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s)


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


def _one_line(s: str) -> str:
    """For log lines: a student-controlled newline must not start a workflow command."""
    return _text(s).replace("\r", "\\r").replace("\n", "\\n")


def _pts(x: float) -> str:
    return f"{round(x, 4):g}"


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


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(s: object) -> str:
    return _XML_BAD.sub("\ufffd", str(s))


def write_junit(outcome: CiOutcome, path: Path, *, redact_hidden: bool = False) -> Path:
    """JUnit XML: one <testsuite> per notebook, one <testcase> per check."""
    suites = ET.Element("testsuites", name="graders ci")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for nb in outcome.notebooks:
        r = nb.result
        assert r is not None
        suite = ET.SubElement(suites, "testsuite", name=_x(nb.path))
        props = ET.SubElement(suite, "properties")
        for k, v in (("assignment", r.assignment), ("status", r.status), ("score", _pts(r.score)),
                     ("max_score", _pts(r.max_score)), ("sandbox", r.sandbox), ("device", r.device)):
            ET.SubElement(props, "property", name=k, value=_x(v))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        if r.status == "error":
            case = ET.SubElement(suite, "testcase", classname=_x(r.assignment), name="grading", file=_x(nb.path), time="0")
            err = ET.SubElement(case, "error", message=_x(r.message or "not graded"), type="not graded")
            err.text = _x(r.message or "")
            counts["tests"] += 1
            counts["errors"] += 1
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=_x(f"{r.assignment}.{c.grade_id}"), name=_x(c.id),
                                 file=_x(nb.path), time=f"{c.duration_s:.3f}")
            cprops = ET.SubElement(case, "properties")
            for k, v in (("points", _pts(c.points)), ("max_points", _pts(c.max_points)), ("hidden", str(c.hidden).lower()),
                         *((f"metric.{mk}", mv) for mk, mv in c.metrics.items())):
                ET.SubElement(cprops, "property", name=_x(k), value=_x(v))
            counts["tests"] += 1
            if c.status == "passed":
                continue
            msg = "a hidden check failed" if (redact_hidden and c.hidden) else (c.message or c.status)
            tag = "failure" if c.status == "failed" else "error"
            counts["failures" if tag == "failure" else "errors"] += 1
            el = ET.SubElement(case, tag, message=_x(msg), type=c.status)
            el.text = _x(f"{c.id}: {c.status}, {_pts(c.points)}/{_pts(c.max_points)} points\n{msg}")
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("skipped", "0")
        suite.set("time", f"{r.duration_s:.3f}")
        total_time += r.duration_s
    for k, v in totals.items():
        suites.set(k, str(v))
    suites.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path


def json_name(rel: str) -> str:
    stem = rel[: -len(".ipynb")] if rel.endswith(".ipynb") else rel
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")).strip("._") + ".json"


def write_json(nb: CiNotebook, folder: Path, taken: set[str] | None = None) -> Path:
    assert nb.result is not None
    folder.mkdir(parents=True, exist_ok=True)
    name = json_name(nb.path)
    if taken is not None:
        stem, n = name[: -len(".json")], 2
        while name in taken:
            name, n = f"{stem}-{n}.json", n + 1
        taken.add(name)
    path = folder / name
    data: dict[str, Any] = {"notebook": nb.path, **nb.result.to_dict(with_cells=True)}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(_text(json.dumps(data, indent=1, ensure_ascii=False)) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def exit_problems(notebooks: list[CiNotebook], min_score: float | None) -> list[str]:
    """Why the job should fail: a notebook that could not be graded, or a score below min_score."""
    problems = []
    for nb in notebooks:
        r = nb.result
        if r is None:
            continue
        if r.status == "error":
            problems.append(f"{nb.path} could not be graded")
        elif min_score is not None and r.score < min_score - 1e-9:
            problems.append(f"{nb.path} scored {_pts(r.score)}, below the required {_pts(min_score)}")
    return problems


# ----------------------------------------------------------------------------- the stage
def run_ci(*, repo: str | Path = ".", base: str | None = None, junit: str | Path | None = None,
           json_dir: str | Path | None = None, min_score: float | None = None, device: str = "auto",
           launcher: Any = None, require_sandbox: bool = False, limits: Any = None, student: str | None = None,
           redact_hidden: bool = False, out: TextIO | None = None, log: TextIO | None = None) -> CiOutcome:
    """Grade the course notebooks changed between the base and HEAD of the checkout at `repo`; report.

    Raises GradersError when there is nothing sensible to compare (not a git checkout, unknown base);
    a notebook that cannot be graded is recorded as an ``error`` result and makes ``exit_code`` 1.
    """
    from .grade import grade_or_record

    out = out or sys.stdout
    log = log or sys.stderr
    root = repo_root(repo)
    label, base_commit, notes = resolve_base(root, base)
    outcome = CiOutcome(repo=root, base=label, base_commit=base_commit, notes=notes)
    print(f"graders ci: comparing HEAD with {label} ({base_commit[:10]})", file=log)
    for n in notes:
        print(f"graders ci: {n}", file=log)
    outcome.notebooks, outcome.skipped = find_assignment_notebooks(root, changed_files(root, base_commit))
    for p, why in outcome.skipped:
        print(f"graders ci: not graded: {p!r}: {why}", file=log)
    if outcome.notebooks and launcher is None:
        from .sandbox import choose_launcher

        launcher = choose_launcher(require_sandbox=require_sandbox)
    who = os.environ.get("GITHUB_ACTOR", "") if student is None else student
    taken: set[str] = set()
    for nb in outcome.notebooks:
        print(f"graders ci: grading {nb.path!r} as {nb.assignment} (recognised by its {nb.found_by})", file=log)
        started = time.monotonic()
        nb.result = grade_or_record(path=root / nb.path, assignment=nb.assignment, student=who, device=device,
                                    launcher=launcher, limits=limits)
        r = nb.result
        verdict = f"{_pts(r.score)}/{_pts(r.max_score)}" if r.status == "graded" else f"not graded: {_one_line(r.message or '')}"
        print(f"graders ci: {nb.path!r}: {verdict} ({time.monotonic() - started:.1f} s)", file=log)
        if json_dir is not None:
            nb.json_path = write_json(nb, Path(json_dir), taken)
    outcome.problems = exit_problems(outcome.notebooks, min_score)
    outcome.exit_code = 1 if outcome.problems else 0

    outcome.markdown = render_markdown(outcome, redact_hidden=redact_hidden)
    outcome.annotations = render_annotations(outcome, redact_hidden=redact_hidden)
    if junit is not None:
        outcome.junit_path = write_junit(outcome, Path(junit), redact_hidden=redact_hidden)
    for line in outcome.annotations:
        print(line, file=out)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8", errors="replace") as f:
            f.write(outcome.markdown)
        print("graders ci: summary written to $GITHUB_STEP_SUMMARY", file=log)
    else:
        out.write(outcome.markdown)
    for p in outcome.problems:
        print(f"graders ci: failing the job: {_one_line(p)}", file=log)
    out.flush()
    return outcome
