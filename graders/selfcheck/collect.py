"""Which checks the self-check files hold: the `@check` tests of an assignment module, read by importing it.

`collect_checks` returns, in definition order, every test function carrying the `graders` marker with
its grade_id, points, hidden flag, fixture parameters and `pytest.mark.parametrize` sources (read from
the module's syntax tree, so the release file can repeat them verbatim).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    from .bundle import ModuleSource


@dataclass
class Check:
    """One `@check` test function of the assignment module."""

    func: str
    grade_id: str
    points: float
    hidden: bool
    params: list[str]
    parametrize: list[tuple[str, str]] = field(default_factory=list)  # (argnames source, argvalues source)


def import_assignment(assignment: Any) -> Any:
    """The module of `assignment`'s checks (graders.assignments.<a>, or the file it names)."""
    name = f"graders.assignments.{assignment.name}"
    path = Path(assignment.module_path)
    try:
        mod = importlib.import_module(name)
        if Path(mod.__file__ or "").resolve() == path.resolve():
            return mod
    except ImportError:
        pass
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"{path}: cannot import the checks of {assignment.name!r}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def collect_checks(module: Any, top: ModuleSource) -> list[Check]:
    """The checks of `module` (public and hidden), in definition order; `top` is its source."""
    out = []
    for name, fn in vars(module).items():
        if not (name.startswith("test") and callable(fn)):
            continue
        marks = getattr(fn, "pytestmark", [])
        g = [m for m in marks if getattr(m, "name", "") == "graders"]
        if not g:
            continue
        kw = g[0].kwargs
        node = top.function_node(name)
        if node is None:
            raise CourseError(f"{top.path}: check {name} is not a top-level function")
        params = list(inspect.signature(fn).parameters)
        para = []
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("mark.parametrize"):
                if len(dec.args) < 2:
                    raise CourseError(f"{top.path}: {name}: write parametrize as parametrize(argnames, argvalues)")
                para.append((top.segment(dec.args[0]), top.segment(dec.args[1])))
        out.append(Check(name, str(kw["grade_id"]), float(kw["points"]), bool(kw.get("hidden", False)), params, para[::-1]))
    return out
