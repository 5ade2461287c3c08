"""`graders validate`: prove an assignment is sound before students see it.

Steps (in order): every grade cell has checks worth its points; the source solution scores full
marks; the release stubs score zero; release/ is what `graders generate` makes from source/ now;
the source and release notebooks import only the course environment (graders/environment.py).
"""

from __future__ import annotations

import filecmp
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .course import course_root, get_assignment, path as stage_path
from .environment import import_problems
from .notebook import read_notebook
from .sandbox import Launcher


@dataclass
class Validation:
    assignment: str
    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    proposed_limits: dict[str, float] = field(default_factory=dict)  # graders/timelimits.py
    timing: str = ""

    @property
    def ok(self) -> bool:
        return all(ok for _n, ok, _m in self.steps)

    def add(self, name: str, ok: bool, message: str) -> None:
        self.steps.append((name, ok, message))

    def summary(self) -> str:
        lines = [f"{self.assignment}: {'valid' if self.ok else 'NOT VALID'}"]
        lines += [f"  {'ok ' if ok else 'FAIL'} {name}: {msg}" for name, ok, msg in self.steps]
        if self.timing:
            lines.append(self.timing)
        return "\n".join(lines)


def _dirs_differ(a: Path, b: Path) -> list[str]:
    diff: list[str] = []
    cmp = filecmp.dircmp(a, b)

    def walk(c: filecmp.dircmp[str], prefix: str) -> None:
        diff.extend(prefix + n for n in c.left_only + c.right_only + c.diff_files)
        for name, sub in c.subdirs.items():
            walk(sub, prefix + name + "/")

    walk(cmp, "")
    return [d for d in diff if "__pycache__" not in d]


DERIVED_SEEDS = 20  # per-student hidden inputs: the solution must earn full marks under every one of them


def full_marks_under_derived_seeds(*, name: str, root: Path, launcher: Launcher | None, device: str, seeds: int) -> tuple[bool, str]:
    """Grade the source solution under the hidden seeds of `seeds` student ids (course secret + id, as in
    grading): one worker runs the notebook once, the checks run once per seed."""
    from .grade import resolve_device, run_checks
    from .judge.session import Submission, WorkerSession
    from .sandbox import choose_launcher
    from .secret import course_secret, derive_seed, validation_students

    spec = get_assignment(name)
    nb = read_notebook(spec.source_notebook(root))
    secret = course_secret(root)
    dev = resolve_device(device)
    failures: list[str] = []
    scores: list[float] = []
    with WorkerSession(launcher=launcher or choose_launcher(), limits=spec.limits, cells=[src for _i, src in nb.code_to_run()]) as session:
        session.start()
        for student in validation_students(seeds):
            results = run_checks(assignment=spec, submission=Submission(session), device=dev,
                                 hidden_seed=derive_seed(secret, assignment=name, student=student))
            score = sum(c.points for c in results)
            scores.append(score)
            if score != spec.max_score:
                failures += [f"{student}: {c.id}: {c.message[:200]}" for c in results if c.status != "passed"]
    ok = not failures and len(scores) == seeds
    msg = f"{sum(s == spec.max_score for s in scores)}/{seeds} seeds at {spec.max_score:g}/{spec.max_score:g}"
    return ok, msg + (f"; failing: {'; '.join(failures[:3])}" if failures else "")


def validate_assignment(*, name: str, root: Path | None = None, launcher: Launcher | None = None, device: str = "auto",
                        seeds: int = DERIVED_SEEDS) -> Validation:
    from .generate import generate_assignment
    from .grade import grade_notebook

    root = root or course_root()
    spec = get_assignment(name)
    v = Validation(name)
    src = spec.source_notebook(root)
    source_nb = read_notebook(src)

    # 1. grade cells and checks agree
    cells = {gid: float(meta.get("points", 0)) for gid, meta in source_nb.grade_cells().items()}
    from . import timelimits

    with timelimits.measure() as timings:
        solved = grade_notebook(path=src, assignment=name, launcher=launcher, device=device)
    v.proposed_limits = timelimits.propose(timings)
    v.timing = timelimits.summary(timings=timings, module_path=spec.module_path, proposed=v.proposed_limits)
    per_q = {gid: m for gid, (_p, m) in solved.question_scores().items()}
    problems = []
    for gid, pts in cells.items():
        if gid not in per_q:
            problems.append(f"grade cell {gid!r} has no checks")
        elif abs(per_q[gid] - pts) > 1e-9:
            problems.append(f"grade cell {gid!r} is worth {pts:g} but its checks add up to {per_q[gid]:g}")
    problems += [f"checks of {gid!r} have no grade cell in the notebook" for gid in per_q if gid not in cells]
    problems += [f"QUESTIONS says {gid!r} is worth {p:g}, the grade cell {cells.get(gid, 0):g}" for gid, p in spec.questions.items() if abs(cells.get(gid, -1) - p) > 1e-9]
    v.add("grade cells have checks", not problems, "; ".join(problems) or f"{len(cells)} grade cells, {len(solved.checks)} checks, {sum(cells.values()):g} points")

    # 2. the solution earns every point
    failed = [f"{c.id}: {c.message}" for c in solved.failed_checks()]
    v.add("source solution scores full marks", solved.score == spec.max_score and not failed,
          f"{solved.score:g}/{spec.max_score:g}" + (f"; failing: {'; '.join(failed[:3])}" if failed else ""))

    # 2b. ... and under the hidden inputs of `seeds` different students
    if seeds > 0:
        ok, msg = full_marks_under_derived_seeds(name=name, root=root, launcher=launcher, device=device, seeds=seeds)
        v.add(f"full marks under {seeds} derived hidden seeds", ok, msg)

    # 3. the stubs earn nothing
    rel = spec.release_notebook(root)
    if rel.exists():
        stub = grade_notebook(path=rel, assignment=name, launcher=launcher, device=device)
        passed = [c.id for c in stub.checks if c.status == "passed"]
        v.add("release stubs score zero", stub.score == 0, f"{stub.score:g}/{spec.max_score:g}" + (f"; passing: {', '.join(passed[:5])}" if passed else ""))
    else:
        v.add("release stubs score zero", False, f"{rel} is missing; run `graders generate {name}`")

    # 4. one environment: what the notebooks import, students and the grader both have
    problems = []
    for nb_path in (src, rel):
        if nb_path.exists():
            problems += [f"{nb_path.parent.parent.name}/{p}" for p in import_problems(nb_path)]
    v.add("notebooks import only the course environment", not problems, "; ".join(problems) or "yes")

    # 5. release/ is up to date
    with tempfile.TemporaryDirectory(prefix="graders-validate-") as tmp:
        fresh = generate_assignment(name=name, root=root, out=Path(tmp))
        current = stage_path("release", assignment=name, root=root)
        diff = _dirs_differ(fresh, current) if current.exists() else ["(missing)"]
        v.add("release is up to date", not diff, "yes" if not diff else f"differs in {', '.join(diff[:5])}; run `graders generate {name}`")
    return v
