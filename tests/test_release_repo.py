"""`graders release-repo`: what a student repository contains, and what it must never contain."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from graders.cli import main
from graders.errors import CourseError, GradersError
from graders.release_repo import release_repo, student_requirements

ROOT = Path(__file__).resolve().parents[1]
RELEASE_NB = ROOT / "release" / "tensors" / "tensors.ipynb"


def fake_course(tmp_path: Path, notebook: dict | None = None) -> Path:
    """A course root whose release/tensors/ holds the real release notebook, self-check files and junk."""
    root = tmp_path / "course"
    rel = root / "release" / "tensors"
    rel.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    (root / "source" / "tensors").mkdir(parents=True)
    if notebook is None:
        shutil.copy(RELEASE_NB, rel / "tensors.ipynb")
    else:
        (rel / "tensors.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (rel / "tests").mkdir()
    (rel / "tests" / "describe.py").write_text("OK_FORMAT = True\ntest = {'name': 'describe', 'points': 0.5}\n", encoding="utf-8")
    (rel / ".ipynb_checkpoints").mkdir()
    (rel / ".ipynb_checkpoints" / "tensors-checkpoint.ipynb").write_text("{}", encoding="utf-8")
    (rel / "tests" / "__pycache__").mkdir()
    (rel / "tests" / "__pycache__" / "describe.cpython-311.pyc").write_bytes(b"\0")
    return root


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_layout_of_a_student_repository(tmp_path: Path) -> None:
    out = tmp_path / "student-repo"
    written = release_repo(assignments=["tensors"], out=out, root=ROOT)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted([".github/workflows/grade.yml", ".gitignore", "README.md", "requirements.txt", "tensors/tensors.ipynb",
                            *(p.relative_to(ROOT / "release").as_posix() for p in (ROOT / "release" / "tensors").rglob("*")
                              if p.is_file() and p.name != "tensors.ipynb")])
    assert sorted(p.relative_to(out).as_posix() for p in written) == files
    assert (out / "tensors" / "tensors.ipynb").read_bytes() == RELEASE_NB.read_bytes()
    assert (out / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8") == \
        (ROOT / "graders" / "templates" / "grade.yml").read_text(encoding="utf-8")
    yaml.safe_load((out / ".github" / "workflows" / "grade.yml").read_text(encoding="utf-8"))
    # nothing of the instructor's side: no solutions, no checks, no grader
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_text(encoding="utf-8", errors="replace")
            assert "### BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text and "hidden=True" not in text
    assert not (out / "graders").exists() and not (out / "source").exists()
    assert "results/" in (out / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_requirements_for_the_students_own_environment(tmp_path: Path) -> None:
    text = student_requirements()
    reqs = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    names = [r.split("=")[0].split(">")[0] for r in reqs]
    assert "torch==2.13.0" in reqs  # pinned: an open range pulls a multi-GB CUDA build
    assert {"otter-grader", "jupyterlab", "scikit-learn"} <= set(names)
    assert "graders" not in names  # the grader and its hidden checks stay with the instructor
    assert not any(n in names for n in ("nbgrader", "pytest", "dask[distributed]", "dask"))


def test_readme_tells_students_how_to_work_and_submit(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    release_repo(assignments=["tensors"], out=out, root=ROOT)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "| [tensors](tensors/tensors.ipynb) | `describe`, `matmul_shape`, `matmul`, `one_hot` | 10 |" in readme
    for phrase in ("pip install -r requirements.txt", 'grader.check("...")', "hidden", "Summary", "grading-cpu",
                   "pull request", ".github/workflows/grade.yml"):
        assert phrase in readme


def test_self_check_files_copied_junk_left_out_and_updates_keep_other_files(tmp_path: Path) -> None:
    root = fake_course(tmp_path)
    out = tmp_path / "repo"
    release_repo(assignments=["tensors"], out=out, root=root)
    assert (out / "tensors" / "tests" / "describe.py").is_file()
    assert not (out / "tensors" / ".ipynb_checkpoints").exists()
    assert not (out / "tensors" / "tests" / "__pycache__").exists()
    # a second run (a new release during the term) replaces what it manages and keeps the rest
    (out / "CONTRIBUTORS.md").write_text("me\n", encoding="utf-8")
    (out / "tensors" / "stale.txt").write_text("old\n", encoding="utf-8")
    release_repo(assignments=["tensors"], out=out, root=root)
    assert (out / "CONTRIBUTORS.md").is_file() and not (out / "tensors" / "stale.txt").exists()
    assert "[tensors](tensors/tensors.ipynb)" in (out / "README.md").read_text(encoding="utf-8")


def test_refuses_a_release_that_leaks_solutions(tmp_path: Path) -> None:
    nb = json.loads(RELEASE_NB.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"})
    root = fake_course(tmp_path, nb)
    with pytest.raises(CourseError, match="BEGIN SOLUTION.*graders generate tensors"):
        release_repo(assignments=["tensors"], out=tmp_path / "repo", root=root)
    assert not (tmp_path / "repo").exists()  # checked before anything is written


def test_refuses_a_release_without_assignment_metadata(tmp_path: Path) -> None:
    nb = json.loads(RELEASE_NB.read_text(encoding="utf-8"))
    del nb["metadata"]["graders"]
    root = fake_course(tmp_path, nb)
    with pytest.raises(CourseError, match="graders.assignment"):
        release_repo(assignments=["tensors"], out=tmp_path / "repo", root=root)


def test_refuses_to_write_into_the_course(tmp_path: Path) -> None:
    root = fake_course(tmp_path)
    for bad in (root, root / "release" / "student", tmp_path):
        with pytest.raises(GradersError, match="--out"):
            release_repo(assignments=["tensors"], out=bad, root=root)
    with pytest.raises(CourseError, match="graders generate"):
        (root / "release" / "tensors" / "tensors.ipynb").unlink()
        release_repo(assignments=["tensors"], out=tmp_path / "repo", root=root)


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "repo"
    code, stdout, err = run_cli(["release-repo", "tensors", "--out", str(out)])
    assert code == 0, err
    assert "tensors/tensors.ipynb" in stdout and ".github/workflows/grade.yml" in stdout
    assert (out / "README.md").is_file()
    code, _out, err = run_cli(["release-repo", "--out", str(out)])
    assert code == 2 and "name the assignments" in err
    code, _out, err = run_cli(["release-repo", "no-such", "--out", str(out)])
    assert code == 2 and "unknown assignment 'no-such'" in err
    monkeypatch.setattr("graders.course.assignment_names", lambda: ["tensors"])
    code, _out, err = run_cli(["release-repo", "--all", "--out", str(tmp_path / "all")])
    assert code == 0, err
    assert (tmp_path / "all" / "tensors" / "tensors.ipynb").is_file()
