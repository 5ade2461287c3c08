"""Stage `release → student repository`: what a student's repository (made from a template repository) contains.

    <out>/
      <a>/<a>.ipynb                the release notebook of each assignment (from release/<a>/)
      <a>/tests/...                its public self-check files for otter's grader.check, when present
      .github/workflows/grade.yml  grades changed notebooks on push and pull request (graders/templates/grade.yml)
      README.md                    for students: how to work, check, submit, and read the results
      requirements.txt             the student's own environment (no grader: its hidden checks stay private)
      .gitignore

Nothing of `source/` or `graders/` is copied; a release file that still carries solution or hidden-test
markers stops the stage. Running it again updates the files it manages and leaves others alone, so
assignments can be added to the template repository one at a time during the term.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .course import COURSE_ORDER, assignment_names, course_root, get_assignment, path as stage_path
from .errors import CourseError, GradersError
from .notebook import read_notebook

WORKFLOW = Path(".github") / "workflows" / "grade.yml"
LEAK_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
JUNK = (".ipynb_checkpoints", "__pycache__", "*.pyc", ".DS_Store", "*.db", ".~*")

GITIGNORE = """\
# Jupyter and Python leftovers
.ipynb_checkpoints/
__pycache__/
*.pyc
.venv/
venv/
.DS_Store
# what the grading run writes (it is uploaded as an artifact, never committed)
results/
# otter's self-check exports
*.zip
"""


TEMPLATE = Path(__file__).resolve().parent / "templates" / "grade.yml"  # package data (pyproject.toml)


def workflow_template() -> str:
    try:
        return TEMPLATE.read_text(encoding="utf-8")
    except OSError as exc:
        raise CourseError(f"{TEMPLATE}: the workflow template is missing from the installed grader ({exc.strerror}); "
                          f"reinstall it (the package data graders/templates/* must ship)") from None


def student_requirements() -> str:
    """The students' requirements.txt: the course environment (pyproject.toml's `notebook` list, the same
    packages and pins the grading environment has; graders/environment.py) plus JupyterLab to work in."""
    from .environment import student_requirements_lines

    pins = student_requirements_lines()
    torch = [p for p in pins if re.split(r"[\s\[<>=!~;]", p, maxsplit=1)[0].lower() == "torch"]
    if torch and not torch[0].startswith("torch=="):
        raise CourseError(f"the grader's torch requirement {torch[0]!r} is not pinned; pin it (torch==X.Y.Z) in pyproject.toml")
    lines = [
        "# Your own environment for the assignments: python -m pip install -r requirements.txt",
        "# (Python 3.11). For the smaller CPU-only build of PyTorch, first run:",
        "#   python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
        "# Your notebook is graded with these packages (and what they install), these versions: import nothing else.",
        *pins,
        "",
    ]
    return "\n".join(lines)


def _check_release(name: str, folder: Path) -> None:
    nb_path = folder / f"{name}.ipynb"
    if not nb_path.is_file():
        raise CourseError(f"{nb_path}: missing release notebook; run `graders generate {name}` first")
    nb = read_notebook(nb_path)
    if nb.assignment != name:
        raise CourseError(f"{nb_path}: its metadata graders.assignment is {nb.assignment!r}, expected {name!r} "
                          f"(CI recognises notebooks by it); set it in source/{name}/{name}.ipynb and run `graders generate {name}`")
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or any(f.match(j) or j in f.parts for j in JUNK):
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for marker in LEAK_MARKERS:
            if marker in text:
                raise CourseError(f"{f}: contains {marker!r}: solutions or hidden tests would reach students; "
                                  f"run `graders generate {name}` and check release/{name}/")


def _guard_out(out: Path, root: Path) -> None:
    if (out / "nbgrader_config.py").exists() or out == root or root.is_relative_to(out):
        raise GradersError(f"--out {out}: that is (or contains) the course repository; give a new folder for the student repository")
    for private in ("source", "release", "graders", "submitted", "autograded", "feedback"):
        if out.is_relative_to(root / private):
            raise GradersError(f"--out {out}: inside the course's {private}/ folder; give a folder outside it")
    if out.exists() and not out.is_dir():
        raise GradersError(f"--out {out}: exists and is not a folder")


def _course_notebooks(out: Path) -> list[str]:
    """Assignments present in the student repository (its <a>/<a>.ipynb with matching metadata), course order."""
    found = []
    for nb in out.glob("*/*.ipynb"):
        if nb.stem != nb.parent.name:
            continue
        try:
            if read_notebook(nb).assignment == nb.stem:
                found.append(nb.stem)
        except GradersError:
            continue
    order = {n: i for i, n in enumerate((*COURSE_ORDER, *assignment_names()))}
    return sorted(set(found), key=lambda n: (order.get(n, len(order)), n))


def student_readme(assignments: list[str]) -> str:
    rows = []
    for name in assignments:
        try:
            spec = get_assignment(name)
            pts, questions = f"{spec.max_score:g}", ", ".join(f"`{q}`" for q in spec.questions)
        except GradersError:
            pts, questions = "", ""
        rows.append(f"| [{name}]({name}/{name}.ipynb) | {questions} | {pts} |")
    table = "\n".join(["| Assignment | Questions | Points |", "|---|---|---|", *rows])
    return f"""\
# Assignments

Your assignments for the course, one notebook each. Work in the notebooks, commit and push: every push
and pull request is graded automatically.

{table}

## Set up

With Python 3.11:

```sh
python -m venv .venv && . .venv/bin/activate
python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu   # optional: the smaller CPU-only build
python -m pip install -r requirements.txt
jupyter lab
```

(A GitHub Codespace or any JupyterLab with these packages works too.)

## Work and check

* Open `<assignment>/<assignment>.ipynb` and replace each `raise NotImplementedError()` with your answer.
* Run the `grader.check("...")` cell under each exercise: it runs the **public** checks of that question
  on your own machine (they live in `<assignment>/tests/`). `grader.check_all()` runs them all.
* More checks, **hidden** ones, run when your work is graded: other shapes, dtypes, seeds and edge cases.
  Passing the public checks does not guarantee full marks; make your answers general.

Keep the notebook's name and place (`tensors/tensors.ipynb` stays there), do not delete or edit the
locked cells (the `grader.check` cells and the set-up), and do not edit `.github/workflows/grade.yml`.

## Submit and see your score

Commit and push (or open a pull request, if your course asks for one). The **grade** workflow then
grades every assignment notebook you changed:

* the run's **Summary** page (Actions tab → the latest *grade* run) shows a table with your score,
  the points of each question and every failing check with a message saying what was expected and what
  came back;
* a pull request shows the failing checks as annotations on the notebook under *Files changed*;
* the run's artifact `grading-cpu` holds `junit.xml` and one JSON file per graded notebook.

A red run means a notebook could not be graded (it is not a valid notebook, or it crashed the grader),
or a score is below the minimum your course set; a low score alone keeps the run green.

## How your code is run

Your notebook's code cells run from top to bottom in a sandbox: in an empty folder, without network
and without the rest of the repository (do not rely on other files), with time and memory limits per
cell and per call. Print statements and plots are
fine; long training runs should finish within the limits stated in the notebook. The checks run
outside the sandbox and only look at the values your functions return, so tricks such as redefining
`torch.allclose` do not change the result.
"""


def release_repo(*, assignments: list[str], out: str | Path, root: Path | None = None) -> list[Path]:
    """Write (or update) a student repository at `out`; returns the files written."""
    root = (root or course_root()).resolve()
    out = Path(out).resolve()
    if not assignments:
        raise GradersError("name at least one assignment (or --all)")
    for name in assignments:
        get_assignment(name)  # unknown names fail here, with the list of known ones
    _guard_out(out, root)
    for name in assignments:
        _check_release(name, stage_path("release", assignment=name, root=root))

    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    for name in assignments:
        dest = out / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(stage_path("release", assignment=name, root=root), dest, ignore=shutil.ignore_patterns(*JUNK))
        written += sorted(p for p in dest.rglob("*") if p.is_file())
    files = {
        out / WORKFLOW: workflow_template(),
        out / "requirements.txt": student_requirements(),
        out / ".gitignore": GITIGNORE,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    readme = out / "README.md"
    readme.write_text(student_readme(_course_notebooks(out)), encoding="utf-8")
    written.append(readme)
    return written
