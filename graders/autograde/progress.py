"""What a run shows: a progress bar while it grades, a table per assignment and a line of counts after."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..result import SubmissionResult

if TYPE_CHECKING:
    from .run import AutogradeRun
    from .submissions import Submitted

TABLE_ROWS = 500  # print_runs shows the per-student table up to this many students


class ProgressBar:
    """A rich progress bar on stderr: one line per assignment with counts, rate and ETA."""

    def __init__(self, *, enabled: bool, runs: dict[str, AutogradeRun], todo: list[dict[str, Any]], console: Any) -> None:
        self.enabled = enabled and bool(todo)
        self.tasks: dict[str, Any] = {}
        self.started = time.monotonic()
        self.done: dict[str, int] = {}
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[last]}"), console=console or Console(stderr=True), transient=False,
        )
        counts: dict[str, int] = {}
        for p in todo:
            counts[p["assignment"]] = counts.get(p["assignment"], 0) + 1
        for name, run in runs.items():
            if counts.get(name):
                kept = len(run.up_to_date)
                desc = f"{name}" + (f" ({kept} up to date)" if kept else "")
                self.tasks[name] = self.progress.add_task(desc, total=counts[name], rate="", last="starting judges…")

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def advance(self, sub: Submitted, res: SubmissionResult) -> None:
        if not self.enabled or sub.assignment not in self.tasks:
            return
        n = self.done[sub.assignment] = self.done.get(sub.assignment, 0) + 1
        elapsed = time.monotonic() - self.started
        total_done = sum(self.done.values())
        rate = f"{total_done / elapsed:.2f}/s" if elapsed > 0 else ""
        last = f"{sub.student}: " + (f"{res.score:g}/{res.max_score:g}" if res.status == "graded" else "error")
        self.progress.update(self.tasks[sub.assignment], completed=n, rate=rate, last=last)


def print_runs(runs: Iterable[AutogradeRun], *, file: Any = None) -> None:
    """The summary the command prints: a table per assignment and one line of counts."""
    from rich.console import Console

    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 160)
    for run in runs:
        if 0 < len(run) <= TABLE_ROWS:
            console.print(run.table())
        elif len(run):  # thousands of rows: nobody reads them on a terminal (the report does this)
            console.print(f"{run.assignment}: {len(run)} results in autograded/*/{run.assignment}/result.json; "
                          f"`graders report {run.assignment}` summarizes them", highlight=False)
        console.print(run.summary_line(), highlight=False)
