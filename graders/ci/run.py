"""The stage of `graders ci`: find the course notebooks that changed, grade each, write the reports, decide the exit code."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..errors import GradersError
from ..files import write_atomic
from .git import changed_files, repo_root, resolve_base
from .github import render_annotations, render_markdown
from .junit import write_junit
from .outcome import CiNotebook, CiOutcome, _pts, _text


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
    from ..course import assignment_names
    from ..notebook import read_notebook

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


def _one_line(s: str) -> str:
    """For log lines: a student-controlled newline must not start a workflow command."""
    return _text(s).replace("\r", "\\r").replace("\n", "\\n")


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
    write_atomic(path, _text(json.dumps(data, indent=1, ensure_ascii=False)) + "\n")
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
    from ..grade import grade_or_record

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
        from ..sandbox import choose_launcher

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
