"""`graders demo` (what `make demo` runs): the whole pipeline on a bundled example class.

Steps (in order): copy examples/submitted/<student>/<assignment>/ into the course's submitted/;
generate the release of every assignment; autograde each assignment that has examples (progress
bar, autograded/, the gradebook); print the class table (student × assignment); write the reports
(graders/report.py, where present).
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

from .course import PACKAGE_DIR, assignment_names, course_root, notebook_path, path as stage_path

EXAMPLES = stage_path("submitted", root=PACKAGE_DIR.parent / "examples")


def example_assignments(examples: Path) -> dict[str, list[str]]:
    """assignment -> students that have an example submission for it (in course order)."""
    found: dict[str, list[str]] = {}
    if examples.is_dir():
        for sdir in sorted(p for p in examples.iterdir() if p.is_dir()):
            for adir in sorted(p for p in sdir.iterdir() if p.is_dir()):
                found.setdefault(adir.name, []).append(sdir.name)
    known = assignment_names()
    return {a: found[a] for a in known if a in found}


def copy_examples(*, examples: Path, root: Path) -> int:
    n = 0
    for src in sorted(examples.rglob("*")):
        if src.is_file():
            dst = stage_path("submitted", root=root) / src.relative_to(examples)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            n += 1
    return n


def class_table(runs: dict[str, Any]) -> Any:
    from rich.table import Table

    students = sorted({r.student for run in runs.values() for r in run})
    t = Table(title="the class: points per assignment", title_justify="left")
    t.add_column("student")
    for name, run in runs.items():
        t.add_column(f"{name} /{run.max_score:g}", justify="right")
    t.add_column("total", justify="right")
    for s in students:
        row, total = [], 0.0
        for run in runs.values():
            r = run.by_student().get(s)
            if r is None:
                row.append("—")
            elif r.status == "error":
                row.append("[red]error[/red]")
            else:
                row.append(f"{r.score:g}")
                total += r.score
        t.add_row(s, *row, f"{total:g}")
    return t


def run_demo(*, root: Path | None = None, workers: int = 2, progress: bool = True, generate: bool = True,
             reports: bool = True, file: Any = None) -> dict[str, Any]:
    """Run the demo; returns {assignment: AutogradeRun}."""
    from rich.console import Console

    from .autograde import autograde_many, print_runs

    root = Path(root).resolve() if root else course_root()
    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 140)
    examples = stage_path("submitted", root=root / "examples")
    if not examples.is_dir():
        examples = EXAMPLES
    todo = example_assignments(examples)
    n = copy_examples(examples=examples, root=root)
    console.print(f"copied {n} example submissions from {examples} into {stage_path('submitted', root=root)}", highlight=False)
    if generate:
        from .generate import generate_assignment

        for name in assignment_names():
            if notebook_path("source", assignment=name, root=root).exists():
                generate_assignment(name=name, root=root)
        console.print(f"generated release/ for {', '.join(assignment_names())}", highlight=False)
    runs = autograde_many(assignments=list(todo), root=root, workers=workers, progress=progress) if todo else {}
    print_runs(runs.values(), file=out)
    if runs:
        console.print(class_table(runs))
    if reports and runs:
        try:
            report = importlib.import_module("graders.report")
        except ModuleNotFoundError as exc:
            if exc.name != "graders.report":
                raise
            report = None
        if report is not None and hasattr(report, "write_report"):
            for name in runs:
                where = report.write_report(assignment=name, root=root)
                console.print(f"{name}: report written to {where}", highlight=False)
    return runs
