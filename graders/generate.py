"""Stage `source → release`: nbgrader's generate_assignment, then our additions.

Steps (in order): 1. nbgrader generate_assignment (strips solutions and hidden tests, locks cells,
records checksums and the grade cells in the gradebook); 2. the public self-check files for otter
(graders/selfcheck/: tests/<q>.py and the support module tests/_support/selfcheck.py); 3. a normalisation pass so the release diffs cleanly.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

from .course import assignment_names, course_root, ensure_venv_on_path, get_assignment, path as stage_path
from .errors import CourseError


def _nbgrader_generate(*, root: Path, name: str, release_dir: Path, db_url: str | None = None) -> None:
    from nbgrader.apps import NbGraderAPI

    ensure_venv_on_path()
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    cfg = Config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.release_directory = str(release_dir.relative_to(root)) if release_dir.is_relative_to(root) else str(release_dir)
    cfg.CourseDirectory.db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    cfg.GenerateAssignment.create_assignment = True
    cfg.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    cfg.Exchange.root = str(root / ".exchange")
    coursedir = CourseDirectory(config=cfg)
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        res = api.generate_assignment(name, force=True)
    if not res.get("success"):
        raise CourseError(f"source/{name}: nbgrader could not generate the release: {str(res.get('error', ''))[-600:].strip()}")


def _normalise(release: Path) -> None:
    """Stable JSON so `git diff release/` shows only real changes."""
    for nb in release.glob("*.ipynb"):
        data = json.loads(nb.read_text(encoding="utf-8"))
        nb.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def _extra_steps(*, root: Path, name: str, release: Path) -> None:
    try:
        from . import selfcheck  # the otter self-check files (public checks only)
    except ImportError:
        return
    spec = get_assignment(name)
    selfcheck.write_tests(assignment=spec, release=release, source=spec.source_notebook(root))


def generate_assignment(*, name: str, root: Path | None = None, out: Path | None = None) -> Path:
    """Write release/<name>/ (or `out`/<name>/) from source/<name>/; returns the folder."""
    root = root or course_root()
    spec = get_assignment(name)
    src = spec.source_notebook(root)
    if not src.exists():
        raise CourseError(f"{src}: missing source notebook for assignment {name!r}")
    with tempfile.TemporaryDirectory(prefix="graders-gen-") as tmp:
        staging = stage_path("release", root=Path(tmp))
        _nbgrader_generate(root=root, name=name, release_dir=staging, db_url=f"sqlite:///{Path(tmp) / 'gb.db'}")
        made = staging / name
        _extra_steps(root=root, name=name, release=made)
        _normalise(made)
        target = out / name if out else stage_path("release", assignment=name, root=root)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(made, target)
    return target


def generate_all(*, root: Path | None = None) -> list[Path]:
    return [generate_assignment(name=n, root=root) for n in assignment_names()]
