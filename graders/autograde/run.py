"""A class's run: find the submissions, keep what is current (resume), dispatch the rest to judges, record.

Steps (in order):
1. find every `submitted/<student>/<assignment>/<assignment>.ipynb` (a missing or misnamed notebook
   becomes an `error` result right away; graders/autograde/submissions.py);
2. skip each submission graded before with the same content and the same checks: result.json
   keeps a hash of the notebook and of the assignment's checks (`--force` regrades anyway);
3. grade the rest: `grade_task` (one notebook's bytes in, `result.to_dict(with_cells=True)` out)
   runs in judge processes (graders/judge/process.py), a local pool (`workers`) or the workers of a
   Dask cluster (`cluster`) (graders/autograde/executors.py); each judge imports torch, pytest and the
   checks once and forks sandboxed workers from its zygote (graders/sandbox/zygote.py);
4. this (the coordinating) process alone writes `autograded/<student>/<assignment>/` (graders/autograded.py:
   the executed notebook, then result.json, both atomically, result.json last) and the gradebook
   (graders/gradebook.py), result by result, so a run killed half way keeps everything finished and
   the next run grades only the rest.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..autograded import folder_of, marker_of, previous_result, write_outputs
from ..course import course_root, get_assignment
from ..errors import GradersError
from ..files import remove_partial_writes
from ..judge.process import JudgeSettings
from ..result import SubmissionResult, error_result
from ..sandbox.policy import decide_sandbox
from .executors import _LocalPool, make_executor
from .progress import ProgressBar
from .submissions import Submitted, checks_version, find_submissions

# a big batch streams: the results kept in memory lose their cells' outputs once autograded/ has them
SLIM_ABOVE = 500


def _slim(res: SubmissionResult) -> SubmissionResult:
    """What a big batch keeps in memory of a result written to autograded/: one check per question (its
    points, the worst status) and the cells that did not run cleanly, without outputs (~1 KB)."""
    from ..result import CellOutcome, CheckResult

    by_q: dict[str, list[Any]] = {}
    for c in res.checks:
        by_q.setdefault(c.grade_id, []).append(c)
    order = ("timeout", "error", "failed")
    res.checks = [CheckResult(id=gid, grade_id=gid, points=sum(c.points for c in cs), max_points=sum(c.max_points for c in cs),
                              hidden=all(c.hidden for c in cs),
                              status=next((s for s in order if any(c.status == s for c in cs)), "passed"))
                  for gid, cs in by_q.items()]
    res.cells = [CellOutcome(c.index, c.status, error=c.error) for c in res.cells if c.status != "ok"]
    return res


def _marker(root: Path, sub: Submitted) -> Path:
    return marker_of(root=root, student=sub.student, assignment=sub.assignment)


def _settings_for(launcher: Any, require_sandbox: bool, preload: tuple[str, ...], local: bool) -> JudgeSettings:
    if launcher is None or launcher == "zygote":
        # on a cluster each worker machine decides its sandbox itself
        sandbox = decide_sandbox(require_sandbox) if local else "auto"
        return JudgeSettings(sandbox=sandbox, require_sandbox=require_sandbox, zygote=sandbox != "uid", preload=preload)
    if isinstance(launcher, str):
        if launcher not in ("bubblewrap", "uid", "none", "plain"):
            raise GradersError(f"unknown launcher {launcher!r}; use zygote, bubblewrap, uid or none")
        sandbox = "none" if launcher == "plain" else launcher
        return JudgeSettings(sandbox=sandbox, require_sandbox=require_sandbox, zygote=False, preload=preload)
    return JudgeSettings(require_sandbox=require_sandbox, zygote=False, launcher=launcher)


def _preload_for(root: Path, assignments: list[str]) -> tuple[str, ...]:
    """What the zygote should import beyond torch and IPython: what the release notebooks import."""
    from ..sandbox.preload import notebook_imports

    mods: list[str] = []
    for name in assignments:
        mods += notebook_imports(get_assignment(name).release_notebook(root))
    return tuple(dict.fromkeys(mods))


def autograde_many(*, assignments: list[str], root: Path | None = None, workers: int = 2, cluster: Any = None,
                   db_url: str | None = None, device: str = "auto", force: bool = False, progress: bool = True,
                   launcher: Any = None, students: Iterable[str] | None = None, limits: dict[str, Any] | None = None,
                   hidden_seed: int | None = None, require_sandbox: bool = False, gradebook: bool = True,
                   console: Any = None) -> dict[str, AutogradeRun]:
    """Grade several assignments in one batch (one set of judge processes); see `autograde`."""
    from ..grade import default_hidden_seed

    started = time.monotonic()
    root = Path(root).resolve() if root else course_root()
    specs = [get_assignment(a) for a in assignments]

    def seed_of(assignment: str, student: str) -> int:  # per student (course secret), unless one was given
        return default_hidden_seed(assignment=assignment, student=student, root=root) if hidden_seed is None else int(hidden_seed)
    students = list(students) if students is not None else None
    runs: dict[str, AutogradeRun] = {}
    payloads: list[dict[str, Any]] = []
    subs_of: dict[int, Submitted] = {}
    versions = {s.name: checks_version(s) for s in specs}
    to_write: list[tuple[Submitted, SubmissionResult]] = []
    kept: list[tuple[Submitted, SubmissionResult]] = []
    found = {spec.name: find_submissions(root=root, assignment=spec.name, students=students) for spec in specs}

    for spec in specs:
        run = runs[spec.name] = AutogradeRun(spec.name, spec.max_score)
        run.questions = list(spec.questions)
        for sub in found[spec.name]:
            remove_partial_writes(folder_of(root=root, student=sub.student, assignment=sub.assignment))  # of a killed run
            prev = None if force else previous_result(root=root, sub=sub, checks=versions[spec.name])
            if prev is not None:
                kept.append((sub, prev))
                continue
            if sub.notebook is None:
                to_write.append((sub, error_result(spec.name, sub.student, sub.problem or "no notebook")))
                continue
            payload = {"assignment": spec.name, "student": sub.student, "path": str(sub.notebook), "device": device,
                       "hidden_seed": seed_of(spec.name, sub.student), "limits": dict(limits) if limits else None, "digest": sub.digest,
                       "display": str(sub.notebook.relative_to(root))}
            subs_of[id(payload)] = sub
            payloads.append(payload)

    # the gradebook: its own thread (nbgrader's import and registering overlap with grading); results it
    # holds already (a marker next to result.json says so) are not written again
    writer = None
    if gradebook:
        from ..gradebook import db_identity, is_recorded

        identity = db_identity(root, db_url)
        kept = [(sub, res, is_recorded(_marker(root, sub), identity, res, sub.timestamp)) for sub, res in kept]  # type: ignore[misc]
        if payloads or to_write or not all(done for _s, _r, done in kept):  # type: ignore[misc]
            from ..gradebook import GradebookWriter

            writer = GradebookWriter(root=root, db_url=db_url, assignments=[s.name for s in specs])
    else:
        kept = [(sub, res, True) for sub, res in kept]  # type: ignore[misc]

    results: dict[tuple[str, str], SubmissionResult] = {}

    def record(sub: Submitted, res: SubmissionResult, fresh: bool, in_gradebook: bool = False) -> None:
        results[(sub.assignment, sub.student)] = res
        (runs[sub.assignment].graded if fresh else runs[sub.assignment].up_to_date).append(sub.student)
        if writer is not None and not in_gradebook:
            writer.put(res, sub.timestamp, _marker(root, sub))

    for sub, res, done in kept:  # type: ignore[misc]
        record(sub, res, fresh=False, in_gradebook=done)
    for sub, res in to_write:
        write_outputs(root=root, sub=sub, result=res.to_dict(with_cells=True), data=None, checks=versions[sub.assignment])
        record(sub, res, fresh=True)

    executor: Any = None
    interrupted = False
    with ProgressBar(enabled=progress, runs=runs, todo=payloads, console=console) as bar:
        try:
            if payloads:
                settings = _settings_for(launcher, require_sandbox, _preload_for(root, [s.name for s in specs]), local=cluster is None)
                executor = make_executor(settings, [s.name for s in specs], tasks=len(payloads), workers=workers, cluster=cluster,
                                         gpu={s.name for s in specs if s.gpu})
                for run in runs.values():
                    run.executor = executor.name
                for p in payloads:
                    p["settings"] = getattr(executor, "settings", settings)
                slim = len(payloads) > SLIM_ABOVE
                for payload, result in executor.run(payloads):
                    sub = subs_of.pop(id(payload))
                    res = write_outputs(root=root, sub=sub, result=result, data=payload.pop("data", None), checks=versions[sub.assignment])
                    record(sub, _slim(res) if slim else res, fresh=True)
                    bar.advance(sub, res)
        except KeyboardInterrupt:
            interrupted = True
            if isinstance(executor, _LocalPool):
                executor.kill()
                executor = None
            raise
        finally:
            if executor is not None:
                executor.close()
            if writer is not None:
                if interrupted:
                    with contextlib.suppress(GradersError):
                        writer.close()
                else:
                    writer.close()

    elapsed = time.monotonic() - started
    for spec in specs:
        run = runs[spec.name]
        for sub in found[spec.name]:  # in the order they were found (by student)
            res = results.get((spec.name, sub.student))
            if res is not None:
                run.append(res)
        run.duration_s = elapsed
        run.batch_size = len(specs)
        if not run.executor:
            run.executor = "nothing to grade"
    return runs


def autograde(*, assignment: str, root: Path | None = None, workers: int = 2, cluster: Any = None, db_url: str | None = None,
              device: str = "auto", force: bool = False, progress: bool = True, launcher: Any = None,
              students: Iterable[str] | None = None, limits: dict[str, Any] | None = None, hidden_seed: int | None = None,
              require_sandbox: bool = False, gradebook: bool = True, console: Any = None) -> AutogradeRun:
    """Grade every submission of `assignment` under submitted/ into autograded/ and the gradebook.

    workers: judge processes on this machine (each imports torch once and forks workers from its
    zygote); 1 grades in this process. cluster: a Dask scheduler address (`tcp://host:port`), Client
    or cluster object; the tasks go there and this process alone writes results. db_url: the
    gradebook (default sqlite gradebook.db at the course root). force: regrade unchanged submissions.
    launcher: None/"zygote" (default), "bubblewrap" or "none" (a new process per submission), or a
    Launcher object. limits: overrides of the assignment's limits, e.g. {"cell_timeout": 10}.
    Returns the results (a list, one per student, with `.graded`, `.up_to_date`, `.table()`)."""
    return autograde_many(assignments=[assignment], root=root, workers=workers, cluster=cluster, db_url=db_url, device=device,
                          force=force, progress=progress, launcher=launcher, students=students, limits=limits,
                          hidden_seed=hidden_seed, require_sandbox=require_sandbox, gradebook=gradebook,
                          console=console)[assignment]


class AutogradeRun(list):  # type: ignore[type-arg]
    """The results of one assignment (a list of SubmissionResult, by student) plus what the run did."""

    def __init__(self, assignment: str, max_score: float = 0.0) -> None:
        super().__init__()
        self.assignment = assignment
        self.max_score = max_score
        self.graded: list[str] = []  # students graded in this run
        self.up_to_date: list[str] = []  # students whose stored result was kept
        self.duration_s = 0.0
        self.executor = ""
        self.questions: list[str] = []
        self.batch_size = 1  # assignments graded together in one pool (their wall time is shared)

    def by_student(self) -> dict[str, SubmissionResult]:
        return {r.student: r for r in self}

    @property
    def errors(self) -> list[SubmissionResult]:
        return [r for r in self if r.status == "error"]

    def summary_line(self) -> str:
        n = len(self.graded)
        if self.batch_size > 1:
            when = f"in {self.duration_s:.1f} s for all {self.batch_size} assignments graded together"
        else:
            rate = f", {self.duration_s / n:.2f} s per submission" if n else ""
            when = f"in {self.duration_s:.1f} s{rate}"
        return (f"{self.assignment}: {len(self)} submissions: {n} graded, {len(self.up_to_date)} up to date, "
                f"{len(self.errors)} not gradable, {when} ({self.executor})")

    def table(self) -> Any:
        from rich.markup import escape
        from rich.table import Table

        t = Table(title=f"{self.assignment} ({self.max_score:g} points)", title_justify="left")
        t.add_column("student")
        t.add_column("score", justify="right")
        for q in self.questions:
            t.add_column(q, justify="right")
        t.add_column("s", justify="right")
        t.add_column("notes", overflow="fold", max_width=70)
        for r in self:
            scores = r.question_scores()
            if r.status == "error":
                cells = ["—"] * len(self.questions)
                msg = r.message or ""
                note = "[red]not graded:[/red] " + escape(msg if len(msg) <= 90 else msg[:87] + "…")
                score = "[red]error[/red]"
            else:
                cells = [f"{scores[q][0]:g}" if q in scores else "—" for q in self.questions]
                counts: dict[str, int] = {}
                for c in r.failed_checks():
                    counts[c.status] = counts.get(c.status, 0) + 1
                note = ", ".join(f"{n} {status}" for status, n in counts.items())
                bad_cells = [c for c in r.cells if c.status != "ok"]
                if bad_cells:
                    note += ("; " if note else "") + f"{len(bad_cells)} cell(s) {'/'.join(sorted({c.status for c in bad_cells}))}"
                score = f"{r.score:g}"
            fresh = "" if r.student in self.graded else " (kept)"
            t.add_row(r.student, score, *cells, f"{r.duration_s:.1f}{fresh}", note)
        return t
