"""Stage `submitted → autograded` for a whole class: in parallel, resumable, into nbgrader's gradebook.

Steps (in order):
1. find every `submitted/<student>/<assignment>/<assignment>.ipynb` (a missing or misnamed notebook
   becomes an `error` result right away);
2. skip each submission graded before with the same content and the same checks: result.json
   keeps a hash of the notebook and of the assignment's checks (`--force` regrades anyway);
3. grade the rest: `grade_task` (one notebook's bytes in, `result.to_dict(with_cells=True)` out)
   runs in judge processes, a local pool (`workers`) or the workers of a Dask cluster (`cluster`);
   each judge imports torch, pytest and the checks once and forks sandboxed workers from its
   zygote (graders/sandbox/zygote.py);
4. this (the coordinating) process alone writes `autograded/<student>/<assignment>/` (the executed
   notebook with the student's outputs and each grade cell's check results, then result.json; both
   atomically, result.json last) and the gradebook (graders/gradebook.py), result by result, so a
   run killed half way keeps everything finished and the next run grades only the rest.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .course import Assignment, course_root, get_assignment
from .errors import GradersError, SandboxUnavailable
from .result import SubmissionResult

PACKAGE_DIR = Path(__file__).resolve().parent
RESULT_FILE = "result.json"


# =============================================================================== finding submissions
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
    base = root / "submitted"
    wanted = set(students) if students is not None else None
    out: list[Submitted] = []
    if not base.is_dir():
        return out
    real_base = base.resolve()
    for sdir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if wanted is not None and sdir.name not in wanted:
            continue
        folder = sdir / assignment
        if not folder.is_dir():
            continue
        expected = folder / f"{assignment}.ipynb"
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


# =============================================================================== judge processes
@dataclass(frozen=True)
class JudgeSettings:
    """How a judge process grades: its sandbox and whether workers come from a zygote."""

    sandbox: str = "auto"  # "bubblewrap" | "none" | "auto" (decided where the judge runs)
    require_sandbox: bool = False
    zygote: bool = True
    preload: tuple[str, ...] = ()
    warm_training: bool = True  # the zygote runs an optimizer step once (notebooks that train models)
    zygote_address: str | None = None  # a zygote the coordinator shares with its local judges
    launcher: Any = None  # a Launcher instance to use as it is (tests); picklable ones can travel


class Judge:
    """The trusted side in one process: torch, pytest and the checks imported once; one launcher."""

    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self.launcher: Any = settings.launcher
        self.note = ""
        self._lock = threading.Lock()  # pytest.main is not thread-safe: one grading at a time per process
        self._warm: set[str] = set()

    def get_launcher(self) -> Any:
        if self.launcher is not None:
            return self.launcher
        s = self.settings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the coordinator said it once already
            if s.zygote:
                from .sandbox.zygote import ZygoteLauncher, ZygoteUnavailable

                if s.zygote_address:
                    try:
                        self.launcher = ZygoteLauncher(sandbox=s.sandbox, require_sandbox=s.require_sandbox, warn=False,
                                                       connect=s.zygote_address).start()
                        return self.launcher
                    except ZygoteUnavailable as exc:
                        self.note = f"shared zygote unavailable ({exc}); using one of its own"
                try:
                    self.launcher = ZygoteLauncher(sandbox=s.sandbox, require_sandbox=s.require_sandbox, preload=s.preload,
                                                   warm_training=s.warm_training, warn=False).start()
                    return self.launcher
                except ZygoteUnavailable as exc:
                    self.note = f"no zygote ({exc}); each submission starts a new Python"
            from .sandbox import choose_launcher

            self.launcher = choose_launcher(require_sandbox=s.require_sandbox, sandbox=None if s.sandbox == "auto" else s.sandbox)
        return self.launcher

    def warm_up(self, assignments: Iterable[str]) -> None:
        """Import what grading needs (and start the zygote alongside), then freeze the heap for cheap GCs."""
        names = [a for a in assignments if a not in self._warm]
        if not names and self.launcher is not None:
            return
        _sweep_submission_dirs()
        boot: dict[str, BaseException] = {}

        def start() -> None:
            try:
                self.get_launcher()
            except BaseException as exc:  # noqa: BLE001 - raised when grading
                boot["error"] = exc

        t = threading.Thread(target=start, name="graders-judge-boot", daemon=True)
        t.start()
        import pytest  # noqa: F401
        import torch

        from .judge import plugin  # noqa: F401

        torch.set_num_threads(1)  # judges run side by side, one per core

        for name in names:
            get_assignment(name).module()
            self._warm.add(name)
        t.join()
        gc.collect()
        gc.freeze()  # torch's millions of objects are never collected again: pytest's GC passes get cheap

    def grade(self, payload: dict[str, Any]) -> dict[str, Any]:
        from .grade import grade_or_record

        with self._lock:
            started = time.monotonic()
            name = payload["assignment"]
            try:
                self.warm_up([name])
                launcher = self.get_launcher()
                limits = None
                if payload.get("limits"):
                    limits = get_assignment(name).limits.with_overrides(**payload["limits"])
                with tempfile.TemporaryDirectory(prefix=f"graders-submission-{os.getpid()}-") as tmp:
                    path = Path(tmp) / payload.get("filename", f"{name}.ipynb")
                    path.write_bytes(payload["data"])
                    with _fast_pytest():
                        result = grade_or_record(path=path, assignment=name, student=payload["student"], device=payload.get("device", "auto"),
                                                 launcher=launcher, limits=limits, hidden_seed=payload.get("hidden_seed"))
                    if result.message:
                        result.message = result.message.replace(str(path), payload.get("display", path.name))
            except GradersError as exc:
                result = _error_result(name, payload["student"], str(exc), started)
            except Exception as exc:  # noqa: BLE001 - one broken submission must not stop the batch
                result = _error_result(name, payload["student"], f"the grader failed on this submission ({type(exc).__name__}: {exc})", started)
            out = result.to_dict(with_cells=True)
            out["judge"] = {"pid": os.getpid(), "host": os.uname().nodename, "launcher": getattr(self.launcher, "name", "?"),
                            "zygote": type(self.launcher).__name__ == "ZygoteLauncher", "note": self.note}
            return out

    def close(self) -> None:
        close = getattr(self.launcher, "close", None)
        if close is not None and self.settings.launcher is None:
            close()
        self.launcher = None


@contextlib.contextmanager
def _fast_pytest() -> Iterator[None]:
    """What pytest does per session that the judge never reads, switched off while it grades:
    the unraisable/thread-exception plugins (five gc.collect() passes per session, ~0.2 s with torch
    loaded) and the formatted traceback of every failing check (source lines read and laid out for a
    terminal that is not there: ~10 ms per failure; the judge's messages come from the exception)."""
    import _pytest.nodes
    import _pytest.python

    old = os.environ.get("PYTEST_ADDOPTS")
    os.environ["PYTEST_ADDOPTS"] = ((old or "") + " -p no:unraisableexception -p no:threadexception").strip()
    saved = (_pytest.python.Function.repr_failure, _pytest.nodes.Node._repr_failure_py)

    def short(self: Any, excinfo: Any, *args: Any, **kwargs: Any) -> str:
        return f"{excinfo.typename}: {excinfo.value}"[:2000]

    _pytest.python.Function.repr_failure = short  # type: ignore[method-assign,assignment]
    _pytest.nodes.Node._repr_failure_py = short  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        _pytest.python.Function.repr_failure, _pytest.nodes.Node._repr_failure_py = saved  # type: ignore[method-assign]
        if old is None:
            os.environ.pop("PYTEST_ADDOPTS", None)
        else:
            os.environ["PYTEST_ADDOPTS"] = old


def _sweep_submission_dirs() -> None:
    """Temporary copies of submissions left by judges that were killed mid-grading."""
    import shutil

    for d in Path(tempfile.gettempdir()).glob("graders-submission-*-*"):
        try:
            owner = int(d.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(d, ignore_errors=True)


_JUDGES: dict[JudgeSettings, Judge] = {}
_JUDGES_LOCK = threading.Lock()


def judge_for(settings: JudgeSettings) -> Judge:
    """This process's judge for these settings (made once, reused by every task)."""
    with _JUDGES_LOCK:
        judge = _JUDGES.get(settings)
        if judge is None:
            judge = _JUDGES[settings] = Judge(settings)
        return judge


def shutdown_judges() -> None:
    """Close this process's judges (their zygotes and staging folders); runs at exit."""
    with _JUDGES_LOCK:
        for judge in _JUDGES.values():
            with contextlib.suppress(Exception):
                judge.close()
        _JUDGES.clear()


import atexit  # noqa: E402

atexit.register(shutdown_judges)


# a big batch streams: notebooks are read as their tasks are sent (a bounded window of them in flight),
# and the results kept in memory lose their cells' outputs once autograded/ has them
SLIM_ABOVE = 500
TABLE_ROWS = 500  # print_runs shows the per-student table up to this many students
WINDOW_PER_JUDGE = 4


def loaded(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its notebook's bytes (read now, as its task is sent)."""
    if "data" not in payload:
        try:
            payload["data"] = Path(payload["path"]).read_bytes()
        except OSError as exc:
            payload["data"] = f"the submission could not be read: {exc.strerror}".encode()
    return payload


def _slim(res: SubmissionResult) -> SubmissionResult:
    """What a big batch keeps in memory of a result written to autograded/: one check per question (its
    points, the worst status) and the cells that did not run cleanly, without outputs (~1 KB)."""
    from .result import CellOutcome, CheckResult

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


def grade_task(payload: dict[str, Any]) -> dict[str, Any]:
    """Grade one notebook given its bytes; returns `SubmissionResult.to_dict(with_cells=True)`.

    The unit of work of every executor: local pool, in-process, and Dask workers (which need the
    `graders` package installed). payload: assignment, student, data (bytes), device, hidden_seed,
    limits (overrides or None), display (the path shown in messages), settings (JudgeSettings)."""
    return judge_for(payload["settings"]).grade(payload)


def _init_pool_judge(settings: JudgeSettings, assignments: list[str]) -> None:
    from multiprocessing import util

    _die_with_parent()
    util.Finalize(None, shutdown_judges, exitpriority=10)  # a pool worker's exit runs these, not atexit
    try:  # a forked judge inherits the forkserver's "clients alive" pipe: it must not keep the server alive itself
        from multiprocessing import forkserver

        fd = forkserver._forkserver._forkserver_alive_fd  # type: ignore[attr-defined]
        if fd is not None:
            os.close(fd)
            forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    judge_for(settings).warm_up(assignments)


def _die_with_parent() -> None:
    """A judge process must not outlive the coordinator (kill -9 included): parent-death signal."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the pool's own pipe ends it soon after
        pass


def _error_result(assignment: str, student: str, message: str, started: float | None = None) -> SubmissionResult:
    max_score = 0.0
    with contextlib.suppress(GradersError):
        max_score = get_assignment(assignment).max_score
    return SubmissionResult(assignment=assignment, student=student, status="error", max_score=max_score, message=message,
                            duration_s=(time.monotonic() - started) if started else 0.0)


# =============================================================================== executors
class _Executor:
    """Runs grade_task over payloads; yields (payload, result dict) as results come in."""

    name = "?"

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _InProcess(_Executor):
    name = "in-process"

    def __init__(self, settings: JudgeSettings, assignments: list[str]) -> None:
        self.settings = settings
        self.judge = judge_for(settings)
        self.assignments = assignments

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for p in payloads:
            yield p, self.judge.grade(loaded(p))


class _LocalPool(_Executor):
    """`workers` judge processes, forked from a server that imported torch, pytest and the checks once
    (multiprocessing's forkserver: no fork of this threaded process), all forking their workers from one
    zygote that this process starts and shares with them."""

    def __init__(self, settings: JudgeSettings, assignments: list[str], workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.name = f"{workers} local judge processes"
        self.zygote: Any = None
        share = os.environ.get("GRADERS_SHARED_ZYGOTE", "1") != "0"
        if share and settings.zygote and settings.launcher is None and settings.zygote_address is None:
            from .sandbox.zygote import ZygoteLauncher

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                self.zygote = ZygoteLauncher(sandbox=settings.sandbox, require_sandbox=settings.require_sandbox, preload=settings.preload,
                                             warm_training=settings.warm_training, warn=False, listen=True)
            threading.Thread(target=self._start_zygote, name="graders-shared-zygote", daemon=True).start()
            settings = replace(settings, zygote_address=self.zygote.address)
            self.name += " sharing one zygote"
        self.settings, self.assignments, self.workers = settings, assignments, workers
        self._env = _single_threaded_env()
        try:
            self._ctx = multiprocessing.get_context("forkserver")
            self._ctx.set_forkserver_preload(["graders.autograde", "torch", "pytest", "graders.judge.plugin",
                                              *[f"graders.assignments.{a}" for a in assignments]])
        except ValueError:  # pragma: no cover - no forkserver on this platform
            self._ctx = multiprocessing.get_context("spawn")
        self._make = lambda: ProcessPoolExecutor(max_workers=workers, mp_context=self._ctx, initializer=_init_pool_judge,
                                                 initargs=(settings, assignments))
        self.pool = self._make()

    def _start_zygote(self) -> None:
        try:
            self.zygote.start()
        except Exception as exc:  # noqa: BLE001 - the judges see `failed` and use zygotes of their own
            self.zygote.fail(str(exc))

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        todo = deque(payloads)
        crashes: dict[int, int] = {}
        window = self.workers * WINDOW_PER_JUDGE
        futures: dict[Any, dict[str, Any]] = {}
        while todo or futures:
            while todo and len(futures) < window:
                p = todo.popleft()
                futures[self.pool.submit(grade_task, loaded(p))] = p
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            broken = False
            while done:
                for fut in done:
                    p = futures.pop(fut)
                    try:
                        yield p, fut.result()
                    except BrokenProcessPool:
                        broken = True
                        crashes[id(p)] = crashes.get(id(p), 0) + 1
                        if crashes[id(p)] >= 2:  # it broke a judge twice: record it and go on
                            yield p, _error_result(p["assignment"], p["student"], "grading this submission ended the judge "
                                                   "process twice (out of memory?); it was not graded").to_dict(with_cells=True)
                        else:
                            todo.appendleft(p)
                    except Exception as exc:  # noqa: BLE001
                        yield p, _error_result(p["assignment"], p["student"], f"the grader failed on this submission ({type(exc).__name__}: {exc})").to_dict(with_cells=True)
                done = set()
                if broken and futures:  # the rest of this pool's tasks end with it: collect them, then a new pool
                    done, _ = wait(list(futures))
            if broken:
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._make()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._finish()

    def kill(self) -> None:
        procs = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.kill()
        self._finish()

    def _finish(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
        _restore_env(self._env)


def _single_threaded_env() -> dict[str, str | None]:
    """One BLAS/OpenMP thread in the processes started from here (they run one per core)."""
    old = {}
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        old[key] = os.environ.get(key)
        os.environ.setdefault(key, "1")
    return old


def _restore_env(old: dict[str, str | None]) -> None:
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# =============================================================================== outputs
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


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_outputs(*, root: Path, sub: Submitted, result: dict[str, Any], data: bytes | None, checks: str) -> SubmissionResult:
    """autograded/<student>/<assignment>/: the executed notebook, then result.json (the commit mark)."""
    from .notebook import write_notebook

    out = root / "autograded" / sub.student / sub.assignment
    out.mkdir(parents=True, exist_ok=True)
    res = SubmissionResult.from_dict(result)
    nb_path = out / f"{sub.assignment}.ipynb"
    nb_data = None
    if data is not None:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            parsed = json.loads(data)
            if isinstance(parsed, dict) and isinstance(parsed.get("cells"), list):
                nb_data = parsed
    if nb_data is not None:
        release = None
        with contextlib.suppress(OSError, ValueError):
            release = json.loads((root / "release" / sub.assignment / f"{sub.assignment}.ipynb").read_text(encoding="utf-8"))
        write_notebook(nb_path, executed_notebook(nb_data, res, release if isinstance(release, dict) else None))
    else:
        with contextlib.suppress(FileNotFoundError):
            nb_path.unlink()  # a previous grading's notebook would no longer match
    record = dict(result)
    record.pop("judge", None)
    record["autograde"] = {"submission_sha256": sub.digest, "checks_sha256": checks,
                           "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "judge": result.get("judge", {})}
    _atomic_write_text(out / RESULT_FILE, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return res


def _marker(root: Path, sub: Submitted) -> Path:
    return root / "autograded" / sub.student / sub.assignment / ".gradebook"


def previous_result(*, root: Path, sub: Submitted, checks: str) -> SubmissionResult | None:
    """The stored result when it was made from this very submission and these checks, else None."""
    out = root / "autograded" / sub.student / sub.assignment
    try:
        record = json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    meta = record.get("autograde", {}) if isinstance(record, dict) else {}
    if meta.get("submission_sha256") != sub.digest or meta.get("checks_sha256") != checks:
        return None
    if record.get("status") == "graded" and not (out / f"{sub.assignment}.ipynb").exists():
        return None
    try:
        return SubmissionResult.from_dict(record)
    except (KeyError, TypeError, ValueError):
        return None


# =============================================================================== the run
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


def _decide_sandbox(require_sandbox: bool) -> str:
    """bubblewrap where it works (as choose_launcher decides), said once here rather than in every judge."""
    mode = os.environ.get("GRADERS_SANDBOX", "").strip().lower() or "auto"
    if mode not in ("auto", "bubblewrap", "uid", "none"):
        raise GradersError(f"unknown sandbox {mode!r} (GRADERS_SANDBOX); use auto, bubblewrap, uid or none")
    if mode == "uid":
        return "uid"  # choose_launcher checks it (graders/sandbox/uid.py)
    if mode == "none":
        if require_sandbox:
            raise SandboxUnavailable("a sandbox is required (--require-sandbox), but GRADERS_SANDBOX=none turns it off")
        warnings.warn("grading WITHOUT a sandbox (GRADERS_SANDBOX=none)", RuntimeWarning, stacklevel=3)
        return "none"
    from .sandbox.bwrap import bwrap_problem

    problem = bwrap_problem()
    if problem is None:
        return "bubblewrap"
    if mode == "auto" and os.geteuid() == 0:  # root without bubblewrap (Gradescope): a uid of its own per worker
        from .sandbox.uid import uid_problem

        why = uid_problem()
        if why is None:
            return "uid"
        problem = f"{problem}; {why}"
    if require_sandbox or mode == "bubblewrap":
        raise SandboxUnavailable(f"cannot sandbox student code: {problem}; install bubblewrap (apt-get install -y bubblewrap) "
                                 "or drop --require-sandbox")
    warnings.warn(f"grading WITHOUT a sandbox ({problem}): student code runs in forked processes with their own namespaces "
                  "but sees the host's files; results say \"sandbox\": \"none\"", RuntimeWarning, stacklevel=3)
    return "none"


def _settings_for(launcher: Any, require_sandbox: bool, preload: tuple[str, ...], local: bool) -> JudgeSettings:
    if launcher is None or launcher == "zygote":
        # on a cluster each worker machine decides its sandbox itself
        sandbox = _decide_sandbox(require_sandbox) if local else "auto"
        return JudgeSettings(sandbox=sandbox, require_sandbox=require_sandbox, zygote=sandbox != "uid", preload=preload)
    if isinstance(launcher, str):
        if launcher not in ("bubblewrap", "uid", "none", "plain"):
            raise GradersError(f"unknown launcher {launcher!r}; use zygote, bubblewrap, uid or none")
        sandbox = "none" if launcher == "plain" else launcher
        return JudgeSettings(sandbox=sandbox, require_sandbox=require_sandbox, zygote=False, preload=preload)
    return JudgeSettings(require_sandbox=require_sandbox, zygote=False, launcher=launcher)


def _preload_for(root: Path, assignments: list[str]) -> tuple[str, ...]:
    """What the zygote should import beyond torch and IPython: what the release notebooks import."""
    from .sandbox.zygote import notebook_imports

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
    from .grade import default_hidden_seed

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

    for spec in specs:
        run = runs[spec.name] = AutogradeRun(spec.name, spec.max_score)
        run.questions = list(spec.questions)
        for sub in find_submissions(root=root, assignment=spec.name, students=students):
            prev = None if force else previous_result(root=root, sub=sub, checks=versions[spec.name])
            if prev is not None:
                kept.append((sub, prev))
                continue
            if sub.notebook is None:
                to_write.append((sub, _error_result(spec.name, sub.student, sub.problem or "no notebook")))
                continue
            payload = {"assignment": spec.name, "student": sub.student, "path": str(sub.notebook), "device": device,
                       "hidden_seed": seed_of(spec.name, sub.student), "limits": dict(limits) if limits else None, "digest": sub.digest,
                       "display": str(sub.notebook.relative_to(root)), "filename": f"{spec.name}.ipynb"}
            subs_of[id(payload)] = sub
            payloads.append(payload)

    # the gradebook: its own thread (nbgrader's import and registering overlap with grading); results it
    # holds already (a marker next to result.json says so) are not written again
    writer = None
    if gradebook:
        from .gradebook import db_identity, is_recorded

        identity = db_identity(root, db_url)
        kept = [(sub, res, is_recorded(_marker(root, sub), identity, res, sub.timestamp)) for sub, res in kept]  # type: ignore[misc]
        if payloads or to_write or not all(done for _s, _r, done in kept):  # type: ignore[misc]
            from .gradebook import GradebookWriter

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

    executor: _Executor | None = None
    interrupted = False
    with _Progress(enabled=progress, runs=runs, todo=payloads, console=console) as bar:
        try:
            if payloads:
                settings = _settings_for(launcher, require_sandbox, _preload_for(root, [s.name for s in specs]), local=cluster is None)
                names = [s.name for s in specs]
                if cluster is not None:
                    from .cluster import DaskExecutor

                    executor = DaskExecutor(cluster, settings, names, gpu={s.name for s in specs if s.gpu})
                elif workers <= 1 or len(payloads) == 1:
                    executor = _InProcess(settings, names)
                else:
                    executor = _LocalPool(settings, names, min(workers, len(payloads)))
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
        for sub in find_submissions(root=root, assignment=spec.name, students=students):
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


# =============================================================================== progress
class _Progress:
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

    def __enter__(self) -> _Progress:
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
