"""Students' self-checks: otter-grader test files generated from the judge's *public* checks.

`graders generate` calls `write_tests(assignment=, release=)`, which writes one otter test file per
question, `release/<a>/tests/<grade_id>.py`. In the release notebook `grader.check("<grade_id>")`
runs it in the student's own kernel (where no trust is needed) with otter's pass/fail output, and
`grader.check_all()` runs them all. One source of truth: the file holds the public check functions
of `graders/assignments/<a>.py` verbatim (only their decorator and signature are rewritten), so a
public check that passes in the notebook passes at grading.

Students do not have the `graders` package, so every file is self-contained: the bundler below
follows the names a public check uses (with `symtable`, scope-aware) through the assignment module
and the `graders` modules it imports from, and copies only those top-level statements. Hidden
checks are never copied; a public check that needs a hidden check, a name that starts with
`hidden`/`_hidden`, or the `hidden_seed` fixture is an authoring error (CourseError), so no hidden
input can reach `release/` through a shared helper.

Fixtures in the student's kernel: `submission` (a `NotebookSubmission` over the notebook's globals,
with the same calling semantics as the judge's `Submission`: arguments are copied, results come
back as copies carrying `graders_meta`, non-data objects as handles, student exceptions as
`StudentCodeError`, `timeout=` and `seed=` honoured), `device`, `record_property`, `tmp_path`, and
any `@pytest.fixture` function of the assignment module (module/session-scoped ones are cached
while the notebook's definitions stay the same, so a training run is shared by `check_all`).
`@pytest.mark.parametrize` on a public check becomes one otter test case per parameter set.

The second half of this module (from "Runtime") is itself copied into the test files: keep it
dependent on the standard library and torch only.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import symtable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .worker.observe import ForwardTrace, render_trace  # also copied into the test files (the runtime records traces)

_THIS_MODULE = "graders.selfcheck"
RUNTIME_NAMES = ("NotebookSubmission", "fixtures", "parametrized", "strict", "CallTimeout", "StudentCodeError")
# judge-side names a check may import, and what stands for them in the student's kernel
ALIASES = {
    ("graders.judge.session", "StudentCodeError"): "StudentCodeError",
    ("graders.judge.session", "CallTimeout"): "CallTimeout",
    ("graders.judge.session", "WorkerCrashed"): "WorkerCrashed",
    ("graders.judge.session", "RemoteObject"): "LocalObject",
    ("graders.judge.session", "Submission"): "NotebookSubmission",
    ("graders.judge", "StudentCodeError"): "StudentCodeError",
    ("graders.judge", "CallTimeout"): "CallTimeout",
}
# modules of the trusted side: nothing of them is copied into release/
# modules of the worker package the runtime uses in the student's kernel (standard library and torch only)
SHARED_WITH_KERNEL = ("graders.worker.observe",)
JUDGE_ONLY = ("graders.judge", "graders.worker", "graders.sandbox", "graders.grade", "graders.course", "graders.cli",
              "graders.commands", "graders.generate", "graders.validate", "graders.autograde", "graders.gradebook")
BUILTIN_FIXTURES = ("submission", "device", "record_property", "tmp_path")
_HIDDEN_NAME = re.compile(r"^_*(hidden|secret)", re.IGNORECASE)
_OTTER_GLOBALS = ("OK_FORMAT", "name", "points", "all_or_nothing", "test_case")


# =============================================================================== generation
def write_tests(*, assignment: Any, release: Path) -> list[Path]:
    """Write `release/tests/<grade_id>.py` for every question of `assignment`; returns the paths."""
    files = build_test_files(assignment)
    tests = Path(release) / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    for old in tests.glob("*.py"):
        old.unlink()
    written = []
    for gid, text in files.items():
        path = tests / f"{gid}.py"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def build_test_files(assignment: Any) -> dict[str, str]:
    """grade_id -> source of its otter test file (public checks only)."""
    from .errors import CourseError

    module = _import_assignment(assignment)
    top = _ModuleSource.of_module(module.__name__, Path(module.__file__ or assignment.module_path))
    checks = _collect_checks(module, top)
    unknown = sorted({c.grade_id for c in checks} - set(assignment.questions))
    if unknown:
        raise CourseError(f"{top.path}: checks count toward {', '.join(unknown)}, which QUESTIONS does not list")
    hidden_names = {c.func for c in checks if c.hidden}
    call_timeout = float(getattr(getattr(assignment, "limits", None), "call_timeout", 30.0))
    out = {}
    for gid in assignment.questions:
        public = [c for c in checks if c.grade_id == gid and not c.hidden]
        out[gid] = _render_file(assignment.name, gid, public, top, hidden_names, call_timeout)
    return out


@dataclass
class _Check:
    func: str
    grade_id: str
    points: float
    hidden: bool
    params: list[str]
    parametrize: list[tuple[str, str]] = field(default_factory=list)  # (argnames source, argvalues source)


def _import_assignment(assignment: Any) -> Any:
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
        from .errors import CourseError

        raise CourseError(f"{path}: cannot import the checks of {assignment.name!r}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _collect_checks(module: Any, top: _ModuleSource) -> list[_Check]:
    import inspect

    from .errors import CourseError

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
        out.append(_Check(name, str(kw["grade_id"]), float(kw["points"]), bool(kw.get("hidden", False)), params, para[::-1]))
    return out


# ----------------------------------------------------------------------------- source analysis
@dataclass
class _Stmt:
    index: int
    node: ast.stmt
    binds: set[str]
    needs: set[str]
    needs_undecorated: set[str]  # for checks and fixtures, whose decorators are not copied


class _ModuleSource:
    """One module's top-level statements: what each binds and which global names it needs."""

    _cache: dict[tuple[str, Path], _ModuleSource] = {}

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
    def of_module(cls, name: str, path: Path | None = None) -> _ModuleSource:
        if path is None:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                from .errors import CourseError

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


def _loads(nodes: list[ast.AST]) -> set[str]:
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
        return _loads(parts) | (_scope_globals(table) if table is not None else _loads(node.body))  # type: ignore[arg-type]
    if isinstance(node, ast.ClassDef):
        table = tables.get((node.name, node.lineno))
        parts = [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]
        return _loads(parts) | (_scope_globals(table) if table is not None else _loads(node.body))  # type: ignore[arg-type]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return set()
    return _loads([node])


def _is_graders(mod: str) -> bool:
    return mod == "graders" or mod.startswith("graders.")


def _is_fixture_def(node: ast.stmt) -> bool:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if ast.unparse(target).split(".")[-1] == "fixture":
            return True
    return False


def _fixture_scope(node: ast.FunctionDef) -> str:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "scope" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
    return "function"


# ----------------------------------------------------------------------------- bundling
class _Bundle:
    """Collects, per module, the top-level statements that the public checks need."""

    def __init__(self, top: _ModuleSource, hidden_names: set[str]) -> None:
        self.top = top
        self.hidden_names = hidden_names
        self.selected: dict[str, set[int]] = {}  # module -> statement indexes
        self.injections: dict[str, dict[int, list[tuple[str, str, str]]]] = {}  # module -> stmt -> (local, module, attr)
        self.order: list[str] = []  # modules, dependencies first
        self.modules: dict[str, _ModuleSource] = {top.name: top}
        self._seen: set[tuple[str, str]] = set()
        self._deps: dict[str, set[str]] = {}  # module -> modules it takes names from
        self.fixtures: dict[str, ast.FunctionDef] = {}

    def need(self, mod: _ModuleSource, name: str, *, why: str, undecorated: bool = False, extra: frozenset[str] = frozenset()) -> None:
        from .errors import CourseError

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
                    if importlib.util.find_spec(f"{target}.{alias.name}") is not None if _is_pkg(target) else False:
                        raise CourseError(f"{mod.path}: `from {target} import {alias.name}` imports a module; "
                                          f"import the names the checks use (from {target}.{alias.name} import ...)")
                    orig = alias.name
                    if (target, orig) in ALIASES:
                        target, orig = _THIS_MODULE, ALIASES[(target, orig)]
                    elif target not in SHARED_WITH_KERNEL and any(target == j or target.startswith(j + ".") for j in JUDGE_ONLY):
                        raise CourseError(f"{mod.path}: the public check {why} uses {orig} from {target}, which exists only "
                                          "in the judge; public checks may use graders.checks and the assignment's own helpers")
                    src = self._module(target)
                    self.need(src, orig, why=why)
                    self.injections.setdefault(mod.name, {}).setdefault(st.index, []).append((local, target, orig))
                    self._depends(mod.name, target)
            elif isinstance(node, ast.Import) and any(_is_graders(a.name) for a in node.names):
                raise CourseError(f"{mod.path}: `import {', '.join(a.name for a in node.names)}`: the checks must "
                                  "import names (from graders.checks import assert_close), not graders modules")
            else:
                if mod is self.top and _is_fixture_def(node):
                    self.fixtures[name] = node  # type: ignore[assignment]
                    undecorated = True
                for dep in sorted((st.needs_undecorated if undecorated else st.needs) | extra):
                    if dep in mod.binder:
                        self.need(mod, dep, why=why)

    def _module(self, name: str) -> _ModuleSource:
        if name not in self.modules:
            self.modules[name] = _ModuleSource.of_module(name)
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
                from .errors import CourseError

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
                parts.append("\n")
            if rewrite and st.index in rewrite:
                parts.append(rewrite[st.index])
                continue
            inj = self.injections.get(name, {}).get(st.index)
            node = st.node
            if inj:
                parts.extend(f"{local} = _graders_modules[{target!r}].{attr}" for local, target, attr in inj)
            elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                parts.append(self._import_text(mod, node))
            else:
                parts.append(mod.stmt_text(node))
        return "\n".join(parts) + "\n"

    def _import_text(self, mod: _ModuleSource, node: ast.Import | ast.ImportFrom) -> str:
        wanted = {n for (m, n) in self._seen if m == mod.name}
        names = [a for a in node.names if (a.asname or a.name.split(".")[0]) in wanted]
        if isinstance(node, ast.Import):
            return ast.unparse(ast.Import(names=names))
        return ast.unparse(ast.ImportFrom(module=node.module, names=names, level=node.level))


def _is_pkg(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return bool(spec and spec.submodule_search_locations)


# ----------------------------------------------------------------------------- rendering
_HEADER = '''"""Public checks of question `{gid}` of assignment `{assignment}`, for `grader.check("{gid}")`.

Generated by `graders generate` from the course's checks; do not edit (it is overwritten).
These are the public checks only: when your notebook is graded, hidden checks also run, with
other inputs. Passing here means the public checks will pass at grading too.
"""
'''


def _render_file(assignment: str, gid: str, public: list[_Check], top: _ModuleSource, hidden_names: set[str],
                 call_timeout: float) -> str:
    from .errors import CourseError

    bundle = _Bundle(top, hidden_names)
    runtime = _ModuleSource.of_module(_THIS_MODULE, Path(__file__))
    bundle.modules[_THIS_MODULE] = runtime
    for n in RUNTIME_NAMES:
        bundle.need(runtime, n, why="(self-check runtime)")
    # the checks themselves, then the fixtures they ask for (recursively)
    wanted_fixtures: list[str] = []
    for c in public:
        extra = frozenset().union(*[_loads([ast.parse(v, mode="eval")]) for _a, v in c.parametrize])
        bundle.need(top, c.func, why=c.func, undecorated=True, extra=extra)
    todo = [(p, c.func) for c in public for p in c.params if not any(p in _param_names(a) for a, _v in c.parametrize)]
    while todo:
        p, who = todo.pop(0)
        if p == "hidden_seed":
            raise CourseError(f"{top.path}: the public check {who} uses the hidden_seed fixture; public checks use fixed, "
                              "visible inputs (mark it hidden=True or use a fixed seed)")
        if p in BUILTIN_FIXTURES or p in wanted_fixtures:
            continue
        node = top.function_node(p)
        if node is None or not _is_fixture_def(node):
            raise CourseError(f"{top.path}: the public check {who} asks for fixture {p!r}, which the self-checks cannot "
                              f"provide (available: {', '.join(BUILTIN_FIXTURES)} and @pytest.fixture functions of the module)")
        bundle.need(top, p, why=who)
        wanted_fixtures.append(p)
        todo.extend((q, who) for q in _arg_names(node))

    rewrite: dict[int, str] = {}
    by_func = {c.func: c for c in public}
    for st in top.stmts:
        node = st.node
        if st.index not in bundle.selected.get(top.name, ()):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in by_func:
            rewrite[st.index] = _rewrite_check(top, node, by_func[node.name], gid)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in bundle.fixtures:
            rewrite[st.index] = _strip_decorators(top, node)
    # the order of checks as pytest runs them: definition order (otter keeps insertion order)
    parts = [_HEADER.format(gid=gid, assignment=assignment)]
    if top.future_annotations:
        parts.append("from __future__ import annotations\n")
    parts.append("from otter.test_files import test_case\n\n"
                 f"OK_FORMAT = False\nname = {gid!r}\npoints = None\n\n")
    parts.append("# ---- support code copied from the graders package (public helpers only) ----\n"
                 "_graders_modules = {}\n\n\n"
                 "def _graders_module(_name, _source):\n"
                 "    import sys\n"
                 "    import types\n"
                 "    # registered under a private name (dataclasses need it); never shadows a real `graders`\n"
                 "    private = '_graders_bundle.' + _name\n"
                 "    module = sys.modules[private] = types.ModuleType(private)\n"
                 "    module.__dict__['_graders_modules'] = _graders_modules\n"
                 "    exec(compile(_source, '<' + _name + '>', 'exec'), module.__dict__)\n"
                 "    _graders_modules[_name] = module\n"
                 "    return module\n\n\n")
    for m in bundle.module_order():
        text = bundle.module_text(m)
        parts.append(f"_graders_module({m!r}, {_pystr(text)})\n\n")
    fixtures_spec = ", ".join(
        f"{f!r}: ({f}, {tuple(_arg_names(bundle.fixtures[f]))!r}, {_fixture_scope(bundle.fixtures[f])!r}, "
        f"{_is_generator(bundle.fixtures[f])!r})" for f in wanted_fixtures)
    parts.append(f"_graders_rt = _graders_modules[{_THIS_MODULE!r}]\n"
                 f"_graders_config = {{'assignment': {assignment!r}, 'call_timeout': {call_timeout!r}}}\n\n"
                 f"# ---- from graders/assignments/{top.path.name}: the public checks of {gid!r} and what they use ----\n")
    parts.append(bundle.module_text(top.name, rewrite=rewrite))
    parts.append(f"\n_graders_fixtures = {{{fixtures_spec}}}\n")
    if not public:
        parts.append("\n\n@test_case(name='no public checks', points=0, success_message="
                     "'this question has no public checks: it is checked only when your notebook is graded')\n"
                     "def _graders_nothing(env):\n    pass\n")
    for c in public:
        if c.parametrize:
            parts.append(_render_parametrized(c))
    text = "".join(parts)
    compile(text, f"tests/{gid}.py", "exec")  # a broken file must fail here, not in a student's kernel
    return text


def _param_names(argnames_src: str) -> list[str]:
    value = ast.literal_eval(argnames_src)
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _arg_names(node: ast.FunctionDef) -> list[str]:
    a = node.args
    return [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


def _is_generator(node: ast.FunctionDef) -> bool:
    class V(ast.NodeVisitor):
        found = False

        def visit_Yield(self, n: ast.AST) -> None:
            self.found = True

        visit_YieldFrom = visit_Yield

        def visit_FunctionDef(self, n: ast.AST) -> None:
            pass  # nested functions do not count

        visit_AsyncFunctionDef = visit_FunctionDef
        visit_Lambda = visit_FunctionDef

    v = V()
    for s in node.body:
        v.visit(s)
    return v.found


def _body_start(top: _ModuleSource, node: ast.FunctionDef) -> int | None:
    """1-based line where the body starts, if it starts on a line of its own."""
    first = node.body[0]
    line = first.lineno
    if line == node.lineno or top.lines[line - 1][: first.col_offset].strip():
        return None
    return line


def _rewrite_check(top: _ModuleSource, node: ast.FunctionDef, c: _Check, gid: str) -> str:
    name = c.func.removeprefix("test_")
    para = {p for a, _v in c.parametrize for p in _param_names(a)}
    fx = [p for p in c.params if p not in para]
    start = _body_start(top, node)
    body = "\n".join(top.lines[start - 1: node.end_lineno]) if start else None
    indent = re.match(r"\s*", top.lines[start - 1]).group(0) if start else "    "  # type: ignore[union-attr]
    if body is None:
        stripped = ast.FunctionDef(name=node.name, args=node.args, body=node.body, decorator_list=[], returns=None,
                                   type_comment=None, type_params=[])
        body = "\n".join(ast.unparse(stripped).split("\n")[1:])
    lines = []
    if c.parametrize:
        lines.append(f"def {c.func}(env, {', '.join(sorted(para, key=c.params.index))}):")
    else:
        lines.append(f"@test_case(name={name!r}, points={c.points!r}, hidden=False)")
        lines.append("@_graders_rt.strict")
        lines.append(f"def {c.func}(env):")
    if fx:
        lines.append(f"{indent}{', '.join(fx)}, = _graders_rt.fixtures(env, {tuple(fx)!r}, _graders_fixtures, _graders_config)")
    return "\n".join(lines) + "\n" + body


def _strip_decorators(top: _ModuleSource, node: ast.FunctionDef) -> str:
    return "\n".join(top.lines[node.lineno - 1: node.end_lineno])


def _render_parametrized(c: _Check) -> str:
    name = c.func.removeprefix("test_")
    stack = ", ".join(f"({a}, {v})" for a, v in c.parametrize)
    return (f"\n\ndef _graders_bind_{c.func}(_graders_values):\n"
            f"    @_graders_rt.strict\n"
            f"    def run(env):\n"
            f"        {c.func}(env, **_graders_values)\n"
            f"    return run\n\n\n"
            f"for _graders_i, _graders_case in enumerate(_graders_rt.parametrized(_graders_bind_{c.func}, {name!r}, {c.points!r}, [{stack}])):\n"
            f"    globals()['_graders_case_{c.func}_%d' % _graders_i] = _graders_case\n")


def _pystr(text: str) -> str:
    """`text` as a readable triple-quoted Python literal."""
    lit = "'''" + text.replace("\\", "\\\\").replace("'''", "\\'\\'\\'") + "'''"
    if ast.literal_eval(lit) != text:
        lit = repr(text)
    return lit


# =============================================================================== Runtime
# Everything below runs in the student's kernel (copied into the test files). It mirrors the
# judge's `Submission` (graders/judge/session.py) and the worker's codec (graders/worker/codec.py):
# arguments cross as copies, results come back as copies or handles. Standard library and torch only.


class CallTimeout(Exception):
    """The student's function did not return within the time limit."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not return within {seconds:g} s (time limit); look for an endless loop or too much work")


class WorkerCrashed(Exception):
    """Never raised in the student's kernel; here so checks that name it work unchanged."""


class StudentCodeError(Exception):
    """The student's code raised; `type_name`, `message` and `mro` as the judge's StudentCodeError."""

    def __init__(self, what: str, type_name: str, message: str, mro: list[str] | None = None, where: str = "",
                 trace: str = "") -> None:
        self.what, self.type_name, self.message = what, type_name, message
        self.mro = mro or [type_name]
        self.trace = trace  # the forward pass layer by layer, when an nn.Module raised
        if type_name == "NameError":
            text = f"{message}: define it in the notebook (and keep its name as given)"
        elif type_name == "NotImplementedError":
            text = f"{what} is not implemented yet (it raised NotImplementedError)"
        else:
            text = f"{what} raised {type_name}: {message}" if message else f"{what} raised {type_name}"
        if where and type_name not in ("NameError", "NotImplementedError"):
            text += f" [{where}]"
        if trace and len(text) > 1000:  # as the judge's: the trace's last line must survive message caps
            text = text[:999] + "…"
        super().__init__(f"{text}\n{trace}" if trace else text)


class _Alarm(BaseException):
    pass


class PublicCheckFailed(BaseException):
    """A public check failed while nbgrader validates or autogrades the notebook (see `strict`)."""


def strict(fn: Any) -> Any:
    """Under nbgrader's Validate button (or its autograde), a failing public check fails its grade cell.

    otter's `grader.check` reports failures without raising, so nbgrader would call every notebook
    valid. nbgrader marks those runs with NBGRADER_EXECUTION; there a failure escapes otter (which
    catches only Exception) and the grade cell errors with the check's message. In a student's
    interactive run nothing changes."""
    import functools
    import os

    if os.environ.get("NBGRADER_EXECUTION") not in ("validate", "autograde"):
        return fn

    @functools.wraps(fn)
    def run(env: Any) -> None:
        try:
            fn(env)
        except Exception as exc:  # noqa: BLE001
            raise PublicCheckFailed(f"public check {fn.__name__.removeprefix('test_')} failed: "
                                    f"{type(exc).__name__}: {exc}") from None

    return run


class _TensorMeta:
    __slots__ = ("requires_grad", "has_grad_fn", "device", "is_parameter")

    def __init__(self, requires_grad: bool, has_grad_fn: bool, device: str, is_parameter: bool) -> None:
        self.requires_grad, self.has_grad_fn, self.device, self.is_parameter = requires_grad, has_grad_fn, device, is_parameter


class LocalObject:
    """A non-data object the student's code returned (a model, say): like the judge's RemoteObject."""

    __slots__ = ("_sub", "_obj", "_attrs")

    def __init__(self, sub: NotebookSubmission, obj: Any, attrs: tuple[str, ...] = ()) -> None:
        self._sub, self._obj, self._attrs = sub, obj, attrs

    @property
    def type_name(self) -> str:
        return type(self._obj).__name__

    def __getattr__(self, name: str) -> LocalObject:
        if name.startswith("__"):
            raise AttributeError(name)
        return LocalObject(self._sub, self._obj, self._attrs + (name,))

    def __call__(self, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        what = ".".join((self.type_name,) + self._attrs)

        def target() -> Any:
            obj = self._obj
            for a in self._attrs:
                obj = getattr(obj, a)
            return obj

        return self._sub._run(what, target, args, kwargs, timeout, seed)

    def __repr__(self) -> str:
        return f"<{'.'.join((self.type_name,) + self._attrs)} (lives in the notebook)>"


def _to_student(value: Any, depth: int = 0) -> Any:
    """What the worker would receive for `value` sent by a check (a fresh copy)."""
    import torch

    if depth > 32:
        raise ValueError("value is nested too deeply to send")
    t = type(value)
    if value is None or t in (bool, str, int, float):
        return value
    if t is list:
        return [_to_student(v, depth + 1) for v in value]
    if t is tuple or t is torch.Size:
        return tuple(_to_student(v, depth + 1) for v in value)
    if t is dict:
        return {_to_student(k, depth + 1): _to_student(v, depth + 1) for k, v in value.items()}
    if t is torch.dtype or t is torch.device:
        return value
    if isinstance(value, torch.Tensor):
        plain = torch.Tensor.as_subclass(value, torch.Tensor)
        data = plain.detach()
        if data.is_sparse or data.layout != torch.strided:
            data = data.to_dense()
        data = data.to("cpu").contiguous().clone()
        if plain.requires_grad and data.is_floating_point():
            data.requires_grad_(True)
        return data
    if type(value).__name__ == "LocalObject" and hasattr(value, "_obj"):  # also one made by another question's file
        if value._attrs:
            raise TypeError("only whole objects can be passed back to the notebook's code")
        return value._obj
    try:
        import numpy as np

        if t is np.ndarray and value.dtype.kind in "biuf":
            return np.array(value, copy=True)
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"cannot send a {t.__name__} to the notebook's code")


def _to_check(value: Any, sub: NotebookSubmission, depth: int = 0, trace: str = "") -> Any:
    """What the judge would get back for `value` returned by the student's code (`trace`: the forward
    pass that made it, kept on returned tensors as `graders_trace` as the judge's session does)."""
    import torch

    if depth > 32:
        raise ValueError("value is nested too deeply to return")
    t = type(value)
    if value is None or t in (bool, str, int, float):
        return value
    if t is list:
        return [_to_check(v, sub, depth + 1, trace) for v in value]
    if t is tuple or t is torch.Size:
        return tuple(_to_check(v, sub, depth + 1, trace) for v in value)
    if t is dict:
        return {_to_check(k, sub, depth + 1): _to_check(v, sub, depth + 1, trace) for k, v in value.items()}
    if t is torch.dtype or t is torch.device:
        return value
    if isinstance(value, torch.Tensor):
        plain = torch.Tensor.as_subclass(value, torch.Tensor)
        data = plain.detach()
        if data.is_sparse or data.layout != torch.strided:
            data = data.to_dense()
        out = data.to("cpu").contiguous().clone()
        out.graders_meta = _TensorMeta(bool(plain.requires_grad), plain.grad_fn is not None, str(plain.device),  # type: ignore[attr-defined]
                                       isinstance(value, torch.nn.Parameter))
        if trace:
            out.graders_trace = trace  # type: ignore[attr-defined]
        return out
    try:
        import numpy as np

        if t is np.ndarray and value.dtype.kind in "biuf":
            return np.array(value, copy=True)
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return _to_check(value.item(), sub, depth, trace)
    except ImportError:  # pragma: no cover
        pass
    return LocalObject(sub, value)


def _seed_all(seed: int | None) -> None:
    if seed is None:
        return
    import random

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def _where(exc: BaseException) -> str:
    """'line 4 of matmul: return a @ b' for the innermost frame of notebook code."""
    import linecache
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in (f.filename or "")
              and "/tests/" not in (f.filename or "") and not (f.filename or "").startswith("<graders")]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno or 0)).strip()
    return f"line {f.lineno} of {f.name}" + (f": {line[:120]}" if line else "")


class NotebookSubmission:
    """What checks call in the student's kernel: `submission.matmul(a, b)` calls the notebook's `matmul`."""

    def __init__(self, env: dict[str, Any], call_timeout: float = 30.0) -> None:
        self._env = env
        self._call_timeout = call_timeout

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def function(*args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
            return self.call(name, *args, timeout=timeout, seed=seed, **kwargs)

        function.__name__ = name
        return function

    def call(self, name: str, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        def target() -> Any:
            if name not in self._env:
                raise NameError(f"name {name!r} is not defined in the notebook")
            return self._env[name]

        return self._run(f"`{name}`", target, args, kwargs, timeout, seed)

    def eval(self, expr: str, *, timeout: float | None = None, **bindings: Any) -> Any:
        import builtins

        import torch

        values = _to_student(dict(bindings))

        def run() -> Any:
            env = {"torch": torch, "__builtins__": builtins, "user_ns": self._env}
            env.update(values)
            return eval(expr, env)  # the expression comes from the course's checks

        return self._run("the checked value", lambda: run, (), {}, timeout, None)

    def _run(self, what: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None,
             seed: int | None) -> Any:
        import contextlib
        import io
        import signal
        import threading

        seconds = self._call_timeout if timeout is None else float(timeout)
        a, kw = _to_student((tuple(args), dict(kwargs)))
        sink = io.StringIO()
        use_alarm = seconds > 0 and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        old_handler = None
        tracer = ForwardTrace()  # the forward pass layer by layer, as the worker records it for the judge
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                try:
                    fn = target()
                    _seed_all(seed)
                    if use_alarm:
                        def on_alarm(signum: int, frame: Any) -> None:
                            raise _Alarm()

                        old_handler = signal.signal(signal.SIGALRM, on_alarm)
                        signal.setitimer(signal.ITIMER_REAL, seconds)
                    try:
                        with tracer:
                            value = fn(*a, **kw)
                    finally:
                        if use_alarm:
                            signal.setitimer(signal.ITIMER_REAL, 0)
                except _Alarm:
                    raise CallTimeout(what, seconds) from None
                except (KeyboardInterrupt, CallTimeout):
                    raise
                except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                    mro = [c.__name__ for c in type(exc).__mro__][:20]
                    data = tracer.data()
                    raise StudentCodeError(what, type(exc).__name__, str(exc)[:2000], mro, _where(exc),
                                           trace=render_trace(data) if data and data.get("failed") else "") from None
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGALRM, old_handler)
        try:
            return _to_check(value, self, trace=render_trace(tracer.data()))
        except Exception as exc:  # noqa: BLE001
            raise StudentCodeError(what, type(exc).__name__, f"the returned value could not be sent to the grader: {exc}") from None


def _fixture_cache() -> dict[str, Any]:
    import sys
    import types

    mod = sys.modules.get("_graders_selfcheck_cache")
    if mod is None:
        mod = sys.modules["_graders_selfcheck_cache"] = types.ModuleType("_graders_selfcheck_cache")
        mod.values = {}  # type: ignore[attr-defined]
    return mod.values  # type: ignore[attr-defined,no-any-return]


def _fingerprint(env: dict[str, Any]) -> tuple[Any, ...]:
    """Changes whenever the notebook (re)defines something: cached fixtures are then recomputed."""
    import types

    return tuple((k, id(v)) for k, v in env.items() if not k.startswith("_") and not isinstance(v, types.ModuleType)
                 and k not in ("In", "Out", "grader", "exit", "quit", "get_ipython"))


def fixtures(env: dict[str, Any], names: tuple[str, ...], defined: dict[str, Any], config: dict[str, Any]) -> list[Any]:
    """Values of the fixtures `names` for a check run against the notebook's globals `env`."""
    local: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name in local:
            return local[name]
        if name == "submission":
            value: Any = NotebookSubmission(env, float(config.get("call_timeout", 30.0)))
        elif name == "device":
            import torch

            value = "cuda" if torch.cuda.is_available() else "cpu"
        elif name == "record_property":
            value = lambda key, val: config.setdefault("properties", []).append((key, val))  # noqa: E731
        elif name == "tmp_path":
            import pathlib
            import tempfile

            value = pathlib.Path(tempfile.mkdtemp(prefix="selfcheck-"))
        else:
            fn, args, scope, is_gen = defined[name]
            key = f"{config.get('assignment')}::{name}"
            cache = _fixture_cache()
            fp = _fingerprint(env)
            if scope != "function" and key in cache and cache[key][0] == fp:
                value = cache[key][1]
            else:
                value = fn(**{a: get(a) for a in args})
                if is_gen:
                    value = next(value)
                if scope != "function":
                    cache[key] = (fp, value)
        local[name] = value
        return value

    return [get(n) for n in names]


def parametrized(binder: Any, name: str, points: float, stack: list[tuple[Any, Any]]) -> list[Any]:
    """One otter test case per parameter set of stacked `pytest.mark.parametrize(argnames, argvalues)`.

    `binder(values)` (written into the test file) returns the case function `run(env)`."""
    from otter.test_files import test_case

    combos: list[tuple[list[str], dict[str, Any]]] = [([], {})]
    for argnames, argvalues in stack:
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        nxt = []
        for ids, values in combos:
            for i, v in enumerate(argvalues):
                vals = (v,) if len(names) == 1 else tuple(v)
                label = "-".join(str(x) if isinstance(x, (int, float, str, bool)) or x is None else f"{n}{i}"
                                 for n, x in zip(names, vals))
                nxt.append((ids + [label], {**values, **dict(zip(names, vals))}))
        combos = nxt
    return [test_case(name=f"{name}[{'-'.join(ids)}]", points=points, hidden=False)(binder(values)) for ids, values in combos]
