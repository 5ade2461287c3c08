"""One environment for students and for grading: what student code may import.

The list is the `notebook` optional-dependency group of pyproject.toml (package names only). Every
name is also one of the grader's own dependencies, whose pin it takes, so the grading environment,
where workers run student code, always has it; `graders release-repo` writes the same names with the
same pins into the students' requirements.txt (graders/release_repo.py); `graders validate` fails a
source or release notebook that imports a module outside the list and what it installs
(`import_problems`), naming the notebook, the cell and the module.

Read from the installed package's metadata (`importlib.metadata`), else, in a checkout that is not
installed, from pyproject.toml next to the package.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path

from .errors import CourseError

PACKAGE_DIR = Path(__file__).resolve().parent
EXTRA = "notebook"
# what students need to work that their code does not import
STUDENT_TOOLS = ("jupyterlab",)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> tuple[list[str], list[str]]:
    """(the grader's dependencies, the names of the `notebook` group), as requirement strings."""
    try:
        from importlib.metadata import PackageNotFoundError, requires

        reqs = requires("graders")
    except PackageNotFoundError:
        reqs = None
    if reqs is not None:
        deps = [r for r in reqs if ";" not in r]
        extra = [r.split(";", 1)[0].strip() for r in reqs if re.search(rf"extra\s*==\s*['\"]{EXTRA}['\"]", r)]
        if extra:
            return deps, extra
    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    try:
        import tomllib

        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CourseError(f"the course environment is unknown: the grader is not installed and {pyproject} cannot be read ({exc})") from None
    project = data.get("project", {})
    return list(project.get("dependencies", [])), list(project.get("optional-dependencies", {}).get(EXTRA, []))


def _name(req: str) -> str:
    return _norm(re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0])


@cache
def notebook_packages() -> tuple[str, ...]:
    """The package names student code may import (the `notebook` group), normalised."""
    _deps, extra = _requirements()
    if not extra:
        raise CourseError(f"pyproject.toml has no [project.optional-dependencies] {EXTRA} = [...] list: the course "
                          "environment (what student code may import) must be declared there")
    return tuple(dict.fromkeys(_name(r) for r in extra))


def pinned(names: tuple[str, ...] | list[str]) -> list[str]:
    """Each name with the grader's own requirement for it (its pin), e.g. torch -> torch==2.13.0."""
    deps, _extra = _requirements()
    by_name = {_name(r): r.strip() for r in deps}
    out = []
    for n in names:
        if n not in by_name:
            raise CourseError(f"`{n}` is in pyproject.toml's `{EXTRA}` list but not in its dependencies: add it there "
                              "(with its version), so the grading environment has it too")
        out.append(by_name[n])
    return out


def student_requirements_lines() -> list[str]:
    """requirements.txt lines for students: the notebook list, then their tools, each with the grader's pin."""
    return pinned([*notebook_packages(), *STUDENT_TOOLS])


# ----------------------------------------------------------------------------- what a notebook imports
@cache
def allowed_distributions() -> frozenset[str]:
    """The notebook list and everything it installs (its dependencies, transitively), normalised."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip, pytest and nbconvert
        return frozenset(notebook_packages())
    seen: set[str] = set()
    todo = list(notebook_packages())
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in reqs:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(_norm(req.name))
    return frozenset(seen)


@cache
def _module_distributions() -> dict[str, frozenset[str]]:
    from importlib.metadata import packages_distributions

    return {mod: frozenset(_norm(d) for d in dists) for mod, dists in packages_distributions().items()}


def imports_of(source: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import in a cell (magics transformed as IPython does)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        code = source
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def module_problem(module: str) -> str | None:
    """Why student code cannot import `module` in the course environment (None: it can)."""
    if module in sys.stdlib_module_names or module == "__future__":
        return None
    dists = _module_distributions().get(module, frozenset())
    if importlib.util.find_spec(module) is None:
        return f"the grading environment lacks it (No module named {module!r})"
    if not dists & allowed_distributions():
        whose = f" (it comes with {', '.join(sorted(dists))}, which the grader uses itself)" if dists else ""
        return (f"it is not in the course environment{whose}: students would not have it, and their code may import only "
                f"pyproject.toml's `{EXTRA}` list and what it installs")
    return None


def import_problems(path: Path) -> list[str]:
    """One line per import of the notebook at `path` that the course environment cannot satisfy."""
    from .notebook import read_notebook, source_of

    nb = read_notebook(path)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        for line, module in imports_of(source_of(cell)):
            why = module_problem(module)
            if why is not None:
                problems.append(f"{path.name} cell {i + 1} line {line} imports `{module}`: {why}; add it to pyproject.toml's "
                                f"`{EXTRA}` list and dependencies, or remove the import")
    return problems
