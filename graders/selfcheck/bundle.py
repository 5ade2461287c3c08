"""The scope-aware bundler: which top-level statements of which modules the public checks need.

Students do not have the `graders` package, so the self-check files carry copies. `Bundle.need(module,
name)` follows a name through the assignment module and the `graders` modules it imports from (with
`symtable`, scope-aware: a function's local names are not globals) and selects only the top-level
statements that bind what is used. Hidden checks are never followed: a public check that needs a hidden
check, a name that starts with `hidden`/`_hidden`, or anything of the judge is an authoring error
(CourseError), so no hidden input can reach `release/` through a shared helper. Names of the judge a
check may use (StudentCodeError, ...) stand for the runtime's classes of the same names.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import symtable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CourseError

RUNTIME = "graders.selfcheck.runtime"  # the student runtime (shipped once per assignment)
RUNTIME_NAMES = ("NotebookSubmission", "fixtures", "strict", "CallTimeout", "StudentCodeError", "check_version")
PARAMETRIZED, FIXTURE = "parametrized", "fixture"  # also shipped: when a public check is parametrized, uses a fixture of its module
# judge-side names a check may import, and what stands for them in the student's kernel
ALIASES = {
    **{(m, n): n for m in ("graders.checks", "graders.checks.calls", "graders.judge.session", "graders.judge")
       for n in ("StudentCodeError", "CallTimeout", "WorkerCrashed")},
    ("graders.judge.session", "RemoteObject"): "LocalObject",
    ("graders.judge.session", "Submission"): "NotebookSubmission",
}
# modules of the worker package the runtime uses in the student's kernel (standard library and torch only)
SHARED_WITH_KERNEL = ("graders.worker.observe",)
# modules of the trusted side: nothing of them is copied into release/
JUDGE_ONLY = ("graders.judge", "graders.worker", "graders.sandbox", "graders.grade", "graders.course", "graders.cli",
              "graders.commands", "graders.generate", "graders.validate", "graders.autograde", "graders.gradebook")
_HIDDEN_NAME = re.compile(r"^_*(hidden|secret)", re.IGNORECASE)
_OTTER_GLOBALS = ("OK_FORMAT", "name", "points", "all_or_nothing", "test_case")


@dataclass
class _Stmt:
    index: int
    node: ast.stmt
    binds: set[str]
    needs: set[str]
    needs_undecorated: set[str]  # for checks and fixtures, whose decorators are not copied


class ModuleSource:
    """One module's top-level statements: what each binds and which global names it needs."""

    _cache: dict[tuple[str, Path], ModuleSource] = {}

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self.text = path.read_text(encoding="utf-8")
        self.lines = self.text.splitlines()
        self.tree = ast.parse(self.text, filename=str(path))
        self.is_package = path.name == "__init__.py"
        self.future_annotations = any(isinstance(s, ast.ImportFrom) and s.module == "__future__" and
                                      any(a.name == "annotations" for a in s.names) for s in self.tree.body)
        tables = {}
        for child in symtable.symtable(self.text, str(path), "exec").get_children():
            tables[(child.get_name(), child.get_lineno())] = child
        self.stmts: list[_Stmt] = []
        self.binder: dict[str, list[_Stmt]] = {}
        for i, node in enumerate(self.tree.body):
            needs = _needed_names(node, tables, self.future_annotations)
            undecorated = _needed_names(node, tables, self.future_annotations, decorators=False)
            st = _Stmt(i, node, _bound_names(node), needs, undecorated)
            self.stmts.append(st)
            for n in st.binds:
                self.binder.setdefault(n, []).append(st)

    @classmethod
    def of_module(cls, name: str, path: Path | None = None) -> ModuleSource:
        if path is None:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                raise CourseError(f"cannot find the source of module {name} for the self-check files")
            path = Path(spec.origin)
        key = (name, path.resolve())
        if key not in cls._cache or cls._cache[key].text != path.read_text(encoding="utf-8"):
            cls._cache[key] = cls(name, path)
        return cls._cache[key]

    def function_node(self, name: str) -> ast.FunctionDef | None:
        for s in self.tree.body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == name:
                return s  # type: ignore[return-value]
        return None

    def segment(self, node: ast.AST) -> str:
        seg = ast.get_source_segment(self.text, node)
        return seg if seg is not None else ast.unparse(node)

    def stmt_text(self, node: ast.stmt) -> str:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(self.lines[first - 1: node.end_lineno])

    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"}
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            out.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name.split(".")[0]) for a in sub.names if a.name != "*"}
    return out


def loads(nodes: list[ast.AST]) -> set[str]:
    out = set()
    for n in nodes:
        for sub in ast.walk(n):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                out.add(sub.id)
    return out


def _scope_globals(table: symtable.SymbolTable) -> set[str]:
    """Names a function/class scope (and its nested scopes) takes from the module."""
    out = {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.is_global()}
    if table.get_type() == "class":
        # a name used in a class body without assignment there resolves globally
        out |= {s.get_name() for s in table.get_symbols() if s.is_referenced() and not s.is_assigned() and not s.is_free()}
    for child in table.get_children():
        out |= _scope_globals(child)
    return out


def _needed_names(node: ast.stmt, tables: dict[tuple[str, int], symtable.SymbolTable], future: bool, *,
                  decorators: bool = True) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = node.args
        parts: list[ast.AST] = [*(node.decorator_list if decorators else []), *a.defaults, *[d for d in a.kw_defaults if d is not None]]
        if not future:
            parts += [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x is not None and x.annotation is not None]
            if node.returns is not None:
                parts.append(node.returns)
        table = tables.get((node.name, node.lineno))
        return loads(parts) | (_scope_globals(table) if table is not None else loads(node.body))  # type: ignore[arg-type]
    if isinstance(node, ast.ClassDef):
        table = tables.get((node.name, node.lineno))
        parts = [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]
        return loads(parts) | (_scope_globals(table) if table is not None else loads(node.body))  # type: ignore[arg-type]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return set()
    return loads([node])


def _is_graders(mod: str) -> bool:
    return mod == "graders" or mod.startswith("graders.")


def is_fixture_def(node: ast.stmt) -> bool:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if ast.unparse(target).split(".")[-1] == "fixture":
            return True
    return False


def fixture_scope(node: ast.FunctionDef) -> str:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "scope" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    return "function"


# ----------------------------------------------------------------------------- bundling
class Bundle:
    """Collects, per module, the top-level statements that the public checks need."""

    def __init__(self, top: ModuleSource, hidden_names: set[str], omit: frozenset[str] = frozenset()) -> None:
        self.top = top
        self.hidden_names = hidden_names
        self.omit = omit  # modules left out: the names imported from them are None (code that uses them checks)
        self.selected: dict[str, set[int]] = {}  # module -> statement indexes
        self.injections: dict[str, dict[int, list[tuple[str, str | None, str]]]] = {}  # module -> stmt -> (local, module or None, attr)
        self.order: list[str] = []  # modules, dependencies first
        self.modules: dict[str, ModuleSource] = {top.name: top}
        self._seen: set[tuple[str, str]] = set()
        self._deps: dict[str, set[str]] = {}  # module -> modules it takes names from
        self.fixtures: dict[str, ast.FunctionDef] = {}

    def need(self, mod: ModuleSource, name: str, *, why: str, undecorated: bool = False, extra: frozenset[str] = frozenset()) -> None:
        if (mod.name, name) in self._seen:
            return
        self._seen.add((mod.name, name))
        if _HIDDEN_NAME.match(name) or (mod is self.top and name in self.hidden_names):
            raise CourseError(f"{self.top.path}: the public check {why} uses {name!r}, which is hidden; "
                              "public checks must not depend on hidden checks or hidden inputs")
        if mod is self.top and (name.startswith("_graders_") or name in _OTTER_GLOBALS):
            raise CourseError(f"{self.top.path}: rename {name!r}: the self-check files reserve that name")
        for st in mod.binder.get(name, []):
            self.selected.setdefault(mod.name, set()).add(st.index)
            node = st.node
            if isinstance(node, ast.ImportFrom) and (node.level or _is_graders(node.module or "")):
                target = importlib.util.resolve_name("." * node.level + (node.module or ""), mod.package()) if node.level else node.module or ""
                for alias in node.names:
                    local = alias.asname or alias.name
                    if local != name:
                        continue
                    if importlib.util.find_spec(f"{target}.{alias.name}") is not None if is_pkg(target) else False:
                        raise CourseError(f"{mod.path}: `from {target} import {alias.name}` imports a module; "
                                          f"import the names the checks use (from {target}.{alias.name} import ...)")
                    orig = alias.name
                    if (target, orig) in ALIASES:
                        target, orig = RUNTIME, ALIASES[(target, orig)]
                    elif target not in SHARED_WITH_KERNEL and any(target == j or target.startswith(j + ".") for j in JUDGE_ONLY):
                        raise CourseError(f"{mod.path}: the public check {why} uses {orig} from {target}, which exists only "
                                          "in the judge; public checks may use graders.checks and the assignment's own helpers")
                    if target in self.omit:
                        self.injections.setdefault(mod.name, {}).setdefault(st.index, []).append((local, None, orig))
                        continue
                    src = self._module(target)
                    self.need(src, orig, why=why)
                    self.injections.setdefault(mod.name, {}).setdefault(st.index, []).append((local, target, orig))
                    self._depends(mod.name, target)
            elif isinstance(node, ast.Import) and any(_is_graders(a.name) for a in node.names):
                raise CourseError(f"{mod.path}: `import {', '.join(a.name for a in node.names)}`: the checks must "
                                  "import names (from graders.checks import assert_close), not graders modules")
            else:
                if mod is self.top and is_fixture_def(node):
                    self.fixtures[name] = node  # type: ignore[assignment]
                    undecorated = True
                for dep in sorted((st.needs_undecorated if undecorated else st.needs) | extra):
                    if dep in mod.binder:
                        self.need(mod, dep, why=why)

    def _module(self, name: str) -> ModuleSource:
        if name not in self.modules:
            self.modules[name] = ModuleSource.of_module(name)
        return self.modules[name]

    def _depends(self, user: str, used: str) -> None:
        self._deps.setdefault(user, set()).add(used)

    def module_order(self) -> list[str]:
        """Bundled helper modules (not the top one), each after the modules it takes names from."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(m: str) -> None:
            if state.get(m) == 2:
                return
            if state.get(m) == 1:
                raise CourseError(f"circular imports between graders modules involving {m}; the self-check bundler cannot order them")
            state[m] = 1
            for d in sorted(self._deps.get(m, ())):
                visit(d)
            state[m] = 2
            order.append(m)

        for m in sorted(self.selected):
            visit(m)
        return [m for m in order if m != self.top.name]

    def module_text(self, name: str, *, rewrite: dict[int, str] | None = None) -> str:
        mod = self.modules[name]
        parts: list[str] = []
        if mod.future_annotations and mod is not self.top:
            parts.append("from __future__ import annotations")
        for st in mod.stmts:
            if st.index not in self.selected.get(name, ()):
                continue
            if isinstance(st.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and parts:
                parts.append("")  # one blank line before a definition
            if rewrite and st.index in rewrite:
                parts.append(rewrite[st.index])
                continue
            inj = self.injections.get(name, {}).get(st.index)
            node = st.node
            if inj:
                parts.extend(f"{local} = _graders_modules[{target!r}].{attr}" if target is not None else f"{local} = None"
                             for local, target, attr in inj)
            elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                parts.append(self._import_text(mod, node))
            else:
                parts.append(mod.stmt_text(node))
        return "\n".join(parts) + "\n"

    def _import_text(self, mod: ModuleSource, node: ast.Import | ast.ImportFrom) -> str:
        wanted = {n for (m, n) in self._seen if m == mod.name}
        names = [a for a in node.names if (a.asname or a.name.split(".")[0]) in wanted]
        if isinstance(node, ast.Import):
            return ast.unparse(ast.Import(names=names))
        return ast.unparse(ast.ImportFrom(module=node.module, names=names, level=node.level))


def is_pkg(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return bool(spec and spec.submodule_search_locations)




# ----------------------------------------------------------------------------- rendering
