"""Scores into nbgrader's gradebook, per grade cell, and back out.

nbgrader's `Gradebook` (SQLite `gradebook.db` at the course root by default; `db_url` takes any
SQLAlchemy URL nbgrader accepts, e.g. PostgreSQL when several graders work at once) holds, per
student and assignment, a `Grade` for every grade cell. Our judge's points per question go into
`auto_score`; a manual score given in the formgrader stays and still wins. So the formgrader,
`nbgrader export` and `graders export` (via `read_scores`) all see the same numbers.

Steps for a batch: `register_assignment` (once: the assignment, its notebook and grade cells,
the way nbgrader itself records them: its generate_assignment run against this database, into a
throw-away release folder), then `record_results` (or a `GradebookWriter`, which does both in a
thread of its own while grading goes on).
"""

from __future__ import annotations

import contextlib
import queue
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from .course import course_root, ensure_venv_on_path, get_assignment, path as stage_path
from .errors import CourseError, GradersError
from .result import SubmissionResult


def default_db_url(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


def _api() -> Any:
    """nbgrader.api, imported without its ~1 s detour through `rfc3987_syntax` (a jsonschema format
    checker nbgrader never uses; blocked only when nothing imported it yet)."""
    if "nbgrader.api" not in sys.modules and "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    ensure_venv_on_path()
    import nbgrader.api

    if getattr(nbgrader.api.get_alembic_version, "__module__", "") == "nbgrader.api":
        original = nbgrader.api.get_alembic_version

        def get_alembic_version() -> str:
            """The schema version a new gradebook records: read in this process instead of running
            `alembic heads` in a new one (several seconds, once per new database)."""
            try:
                from alembic.script import ScriptDirectory

                head = ScriptDirectory(str(Path(nbgrader.api.__file__).parent / "alembic")).get_current_head()
                if head:
                    return str(head)
            except Exception:  # noqa: BLE001 - nbgrader's own way then
                pass
            return original()

        nbgrader.api.get_alembic_version = get_alembic_version
    return nbgrader.api


def course_id_of(root: Path) -> str:
    """CourseDirectory.course_id from the course's nbgrader_config.py (nbgrader's own default otherwise)."""
    cfg_file = Path(root) / "nbgrader_config.py"
    if cfg_file.exists():
        try:
            from traitlets.config.loader import PyFileConfigLoader

            cfg = PyFileConfigLoader(cfg_file.name, path=str(cfg_file.parent)).load_config()
            cid = cfg.CourseDirectory.get("course_id")
            if isinstance(cid, str) and cid:
                return cid
        except Exception:  # noqa: BLE001 - a broken config is nbgrader's business; we keep its default
            pass
    return "default_course"


_LOCK_KEY = 0x67726164  # "grad": the advisory lock several graders on one server take in turn
_SHARED_LOCKS: dict[tuple[str, int], Any] = {}


@contextlib.contextmanager
def server_lock(url: str) -> Iterator[None]:
    """On a database server (PostgreSQL) several `graders autograde` runs may write at once: making the
    schema of a new gradebook and registering an assignment are done by one of them at a time (a
    session-level advisory lock on a connection of its own, re-entrant within a thread). SQLite
    serializes writers itself: nothing to do there."""
    if not url.startswith(("postgresql", "postgres:")):
        yield
        return
    import sqlalchemy as sa

    key = (url, threading.get_ident())
    conn = _SHARED_LOCKS.get(key)
    if conn is None:
        conn = _SHARED_LOCKS[key] = sa.create_engine(url, poolclass=sa.pool.NullPool).connect()
    conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
        conn.commit()


def _lock_rows(gb: Any) -> None:
    """In the current transaction of `gb` (PostgreSQL only): wait for other writers' transactions, so two
    runs never create the same student at once (the lock ends with the transaction)."""
    import sqlalchemy as sa

    if gb.db.get_bind().dialect.name == "postgresql":
        gb.db.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY + 1})


@contextlib.contextmanager
def open_gradebook(*, root: Path | None = None, db_url: str | None = None) -> Iterator[Any]:
    root = Path(root) if root else course_root()
    api = _api()
    url = db_url or default_db_url(root)
    try:
        with server_lock(url):
            gb = api.Gradebook(url, course_id=course_id_of(root))
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds
        raise GradersError(f"cannot open the gradebook {url}: {_first_line(exc)}; check --db (any SQLAlchemy URL nbgrader accepts)") from None
    try:
        yield gb
    finally:
        gb.close()


# ----------------------------------------------------------------------------- the assignment
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _registered(gb: Any, name: str, questions: dict[str, float]) -> bool:
    api = _api()
    try:
        nb = gb.find_notebook(name, name)
    except api.MissingEntry:
        return False
    cells = {gc.name: float(gc.max_score) for gc in nb.grade_cells}
    return cells == {k: float(v) for k, v in questions.items()}


def register_assignment(*, assignment: str, root: Path | None = None, db_url: str | None = None, force: bool = False) -> bool:
    """Make the gradebook know `assignment`: its notebook, one grade cell per question with its points,
    its solution and locked cells with their checksums: what nbgrader's generate_assignment records.

    Read from release/<a>/<a>.ipynb (which nbgrader generated from the source, checksums included);
    where there is no release yet, nbgrader's generate_assignment itself runs against this database,
    into a temporary folder. Skipped when the gradebook already has exactly these grade cells.
    Returns True when it (re)registered."""
    root = Path(root) if root else course_root()
    url = db_url or default_db_url(root)
    try:
        with server_lock(url):
            return _register_assignment(assignment=assignment, root=root, url=url, force=force)
    except GradersError:
        raise
    except Exception as exc:  # noqa: BLE001 - the server went away, a URL without a database...
        raise GradersError(f"cannot register {assignment!r} in the gradebook {url}: {_first_line(exc)}") from None


def _register_assignment(*, assignment: str, root: Path, url: str, force: bool) -> bool:
    spec = get_assignment(assignment)
    release = spec.release_notebook(root)
    if release.exists():
        from .notebook import read_notebook

        cells = {gid: float(meta.get("points", 0)) for gid, meta in read_notebook(release).grade_cells().items()}
        if cells != {k: float(v) for k, v in spec.questions.items()}:
            raise CourseError(f"{release}: its grade cells ({', '.join(f'{k} {v:g}' for k, v in cells.items())}) do not match "
                              f"the checks' QUESTIONS; run `graders generate {assignment}` and `graders validate {assignment}`")
    with open_gradebook(root=root, db_url=url) as gb:
        if not force and _registered(gb, spec.name, spec.questions):
            return False
        gb.update_or_create_assignment(spec.name)  # created under this course's id
        if release.exists():
            _register_cells(gb, spec.name, release)
    if not release.exists():
        if not spec.source_notebook(root).exists():
            raise CourseError(f"{release}: missing (and no source notebook); the gradebook needs the grade cells of {assignment!r}: run `graders generate {assignment}`")
        from .generate import _nbgrader_generate

        with tempfile.TemporaryDirectory(prefix="graders-register-") as tmp:
            _nbgrader_generate(root=root, name=spec.name, release_dir=stage_path("release", root=Path(tmp)), db_url=url)
    with open_gradebook(root=root, db_url=url) as gb:
        if not _registered(gb, spec.name, spec.questions):
            raise CourseError(f"release/{assignment}: its grade cells do not match the checks' QUESTIONS; "
                              f"run `graders validate {assignment}` and `graders generate {assignment}`")
    return True


def _register_cells(gb: Any, name: str, release: Path) -> None:
    """nbgrader's SaveCells preprocessor, from a generated release notebook."""
    import json

    from nbformat.notebooknode import from_dict
    from nbgrader import utils

    from .notebook import read_notebook, source_of

    api = _api()
    nb = read_notebook(release)
    cells = [from_dict({**c, "source": source_of(c)}) for c in nb.cells]
    grade = {c.metadata.nbgrader["grade_id"]: c for c in cells if utils.is_grade(c)}
    solution = {c.metadata.nbgrader["grade_id"]: c for c in cells if utils.is_solution(c)}
    task = {c.metadata.nbgrader["grade_id"]: c for c in cells if utils.is_task(c)}
    source = {c.metadata.nbgrader["grade_id"]: c for c in cells
              if utils.is_grade(c) or utils.is_solution(c) or utils.is_locked(c) or utils.is_task(c)}
    try:
        old = gb.find_notebook(name, name)
    except api.MissingEntry:
        old = None
    if old is not None:
        same = ({x.name for x in old.grade_cells} == set(grade) and {x.name for x in old.solution_cells} == set(solution)
                and {x.name for x in old.task_cells} == set(task) and {x.name for x in old.source_cells} == set(source))
        if not same:
            if len(old.submissions) > 0:
                raise CourseError(f"{release}: its cells differ from those the gradebook has for {name!r}, which already holds "
                                  "submissions; nbgrader cannot add or remove cells then (remove the submissions first)")
            gb.remove_notebook(name, name)
            old = None
    if old is None:
        gb.add_notebook(name, name, kernelspec=json.dumps(nb.data.get("metadata", {}).get("kernelspec", {})))
    for gid, c in grade.items():
        gb.update_or_create_grade_cell(gid, name, name, max_score=float(c.metadata.nbgrader["points"]), cell_type=c.cell_type)
    for gid in solution:
        gb.update_or_create_solution_cell(gid, name, name)
    for gid, c in task.items():
        gb.update_or_create_task_cell(gid, name, name, max_score=float(c.metadata.nbgrader["points"]), cell_type=c.cell_type)
    for gid, c in source.items():
        gb.update_or_create_source_cell(gid, name, name, cell_type=c.cell_type, locked=utils.is_locked(c), source=c.source,
                                        checksum=c.metadata.nbgrader.get("checksum"))


# ----------------------------------------------------------------------------- results in
def _timestamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        from nbgrader.utils import parse_utc

        return parse_utc(str(value).strip())
    except Exception:  # noqa: BLE001 - a timestamp nbgrader cannot read is left out
        return None


def _write_one(gb: Any, result: SubmissionResult, timestamp: Any = None) -> None:
    api = _api()
    name, student = result.assignment, result.student
    if not student:
        raise GradersError("a result without a student name cannot go into the gradebook")
    _lock_rows(gb)
    gb.update_or_create_student(student)
    ts = _timestamp(timestamp)
    try:
        sub = gb.find_submission(name, student)
    except api.MissingEntry:
        sub = _add_submission(gb, name, student, ts)
    else:
        if ts is not None:
            sub.timestamp = ts
    scores = {gid: p for gid, (p, _m) in result.question_scores().items()} if result.status == "graded" else {}
    for snb in sub.notebooks:
        have = {g.cell_id for g in snb.grades}
        for gc in snb.notebook.grade_cells:  # grade cells registered after this submission was made
            if gc.id not in have:
                gb.db.add(api.Grade(cell_id=gc.id, notebook=snb))
        gb.db.flush()
        for grade in snb.grades:
            grade.auto_score = float(scores.get(grade.name, 0.0))
            # a grader's manual score stays (and wins); it then needs a look, as in nbgrader's autograde
            grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def _add_submission(gb: Any, name: str, student: str, ts: datetime | None) -> Any:
    """Gradebook.add_submission, without its autoflush warnings: the submission mirrors the assignment."""
    api = _api()
    with gb.db.no_autoflush:
        sub = api.SubmittedAssignment(assignment=gb.find_assignment(name), student=gb.find_student(student),
                                      **({"timestamp": ts} if ts else {}))
        for notebook in sub.assignment.notebooks:
            snb = api.SubmittedNotebook(notebook=notebook, assignment=sub)
            for cell in notebook.grade_cells:
                api.Grade(cell_id=cell.id, notebook=snb)
            for cell in notebook.solution_cells:
                api.Comment(cell_id=cell.id, notebook=snb)
            for cell in notebook.task_cells:
                api.Comment(cell_id=cell.id, notebook=snb)
                api.Grade(cell_id=cell.id, notebook=snb)
        gb.db.add(sub)
    gb.db.flush()
    return sub


def record_results(results: Iterable[SubmissionResult | dict[str, Any]], *, root: Path | None = None, db_url: str | None = None,
                   timestamps: dict[str, Any] | None = None, register: bool = True) -> int:
    """Write each result's points per question as auto scores; returns how many were written."""
    res = [r if isinstance(r, SubmissionResult) else SubmissionResult.from_dict(r) for r in results]
    root = Path(root) if root else course_root()
    if register:
        for name in dict.fromkeys(r.assignment for r in res):
            register_assignment(assignment=name, root=root, db_url=db_url)
    with open_gradebook(root=root, db_url=db_url) as gb:
        for r in res:
            _write_one(gb, r, (timestamps or {}).get(r.student))
    return len(res)


class GradebookWriter:
    """Writes results into the gradebook from a thread of its own (SQLAlchemy sessions belong to one
    thread), so importing nbgrader and registering the assignment overlap with grading.

    `put(result, timestamp)` queues; `close()` waits for every write and raises the first error."""

    def __init__(self, *, root: Path, db_url: str | None, assignments: Iterable[str]) -> None:
        self.root, self.db_url = Path(root), db_url
        self.identity = db_identity(self.root, db_url)
        self.assignments = list(assignments)
        self.written = 0
        self.error: BaseException | None = None
        self._q: queue.Queue[tuple[SubmissionResult, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="graders-gradebook", daemon=True)
        self._thread.start()

    def put(self, result: SubmissionResult, timestamp: Any = None, marker: Path | None = None) -> None:
        """Queue a result; `marker` (a file) is written once it is in the gradebook (see `is_recorded`)."""
        self._q.put((result, timestamp, marker))

    def _run(self) -> None:
        try:
            for name in self.assignments:
                register_assignment(assignment=name, root=self.root, db_url=self.db_url)
            with open_gradebook(root=self.root, db_url=self.db_url) as gb:
                while (item := self._q.get()) is not None:
                    result, timestamp, marker = item
                    _write_one(gb, result, timestamp)
                    self.written += 1
                    if self.written % 500 == 0:  # a long batch: the session's loaded rows would pile up
                        gb.db.expunge_all()
                    if marker is not None:
                        self.identity = self.identity or db_identity(self.root, self.db_url)
                        _write_marker(marker, _marker_of(self.identity, result, timestamp))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller in close()
            self.error = exc
            while self._q.get() is not None:  # drain so close() returns
                pass

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        if self.error is not None:
            if isinstance(self.error, GradersError):
                raise self.error
            raise GradersError(f"writing the gradebook failed: {type(self.error).__name__}: {self.error}") from self.error


# ----------------------------------------------------------------------------- what is in already
def db_identity(root: Path, db_url: str | None) -> str | None:
    """Which gradebook: its URL and, for SQLite, the file's identity (a new file is another gradebook)."""
    url = db_url or default_db_url(Path(root))
    if url.startswith("sqlite:///"):
        try:
            st = Path(url.removeprefix("sqlite:///")).stat()
        except OSError:
            return None
        return f"{url}#{st.st_dev}:{st.st_ino}"
    return url


def _marker_of(identity: str | None, result: SubmissionResult, timestamp: Any) -> str:
    import hashlib
    import json

    scores = {gid: p for gid, (p, _m) in result.question_scores().items()} if result.status == "graded" else {}
    payload = json.dumps([identity, result.assignment, result.student, result.status, scores, str(timestamp)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _write_marker(path: Path, value: str) -> None:
    from .files import write_atomic

    write_atomic(path, value)


def is_recorded(marker: Path, identity: str | None, result: SubmissionResult, timestamp: Any = None) -> bool:
    """True when this very result went into this very gradebook before (so a rerun need not open it)."""
    if identity is None:
        return False
    try:
        return marker.read_text() == _marker_of(identity, result, timestamp)
    except OSError:
        return False


# ----------------------------------------------------------------------------- scores out
def read_scores(*, root: Path | None = None, db_url: str | None = None, assignment: str | None = None) -> list[dict[str, Any]]:
    """One dict per submission in the gradebook (students who submitted nothing are not listed):

        {"assignment", "student", "score", "max_score", "auto_score", "needs_manual_grade", "timestamp"
         (ISO string or None), "questions": {grade_id: {"score", "max_score", "auto_score", "manual_score"}}}

    `score` is what nbgrader counts (a manual score where one was given, else the auto score), before
    any late penalty; rows are in course order of assignments, then by student id."""
    from .course import COURSE_ORDER

    root = Path(root) if root else course_root()
    url = db_url or default_db_url(root)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    rows: list[dict[str, Any]] = []
    with open_gradebook(root=root, db_url=url) as gb:
        names = [a.name for a in gb.assignments]
        if assignment is not None:
            names = [n for n in names if n == assignment]
        order = {n: i for i, n in enumerate(COURSE_ORDER)}
        for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
            for sub in sorted(gb.assignment_submissions(name), key=lambda s: s.student.id):
                questions: dict[str, dict[str, float | None]] = {}
                auto = 0.0
                for snb in sub.notebooks:
                    for g in snb.grades:
                        questions[g.name] = {"score": _f(g.score), "max_score": _f(g.max_score),
                                             "auto_score": _f(g.auto_score), "manual_score": _f(g.manual_score)}
                        auto += g.auto_score or 0.0
                rows.append({
                    "assignment": name, "student": sub.student.id, "score": _f(sub.score), "max_score": _f(sub.max_score),
                    "auto_score": round(auto, 4), "needs_manual_grade": bool(sub.needs_manual_grade),
                    "timestamp": sub.timestamp.isoformat() if sub.timestamp else None, "questions": questions,
                })
    return rows


def _f(x: Any) -> float | None:
    return None if x is None else round(float(x), 4)
