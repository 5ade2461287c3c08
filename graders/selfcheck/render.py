"""Rendering: the otter test file of each question and the support module shipped once per assignment.

    release/<a>/tests/<grade_id>.py            otter exception-format test file of one question: its public
                                               checks, verbatim but for their decorator and signature
    release/<a>/tests/_support/selfcheck.py    the self-check runtime and the graders helpers the public
                                               checks use, loaded once per kernel by every test file

The support module sits in a folder of its own, so otter's `grader.check_all()` (every tests/*.py)
never lists it as a question. Each test file carries the support's VERSION: a kernel that still holds
an older support module is told to restart (runtime.check_version). What the support copies is
stripped of docstrings, comments and blank lines (strip.py); the forward-trace recorder
(graders/worker/observe.py) is shipped only to assignments whose students build `nn.Module`s
(`ships_trace`): elsewhere no forward pass would ever be recorded, and the runtime runs without it.
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from ..course import course_root
from ..errors import CourseError, GradersError
from ..notebook import read_notebook, source_of
from . import runtime as _runtime_module
from .bundle import (FIXTURE, PARAMETRIZED, RUNTIME, RUNTIME_NAMES, SHARED_WITH_KERNEL, Bundle, ModuleSource, fixture_scope,
                     is_fixture_def, loads)
from .collect import Check, collect_checks, import_assignment
from .strip import strip_code

SUPPORT = Path("_support") / "selfcheck.py"  # inside tests/
BUILTIN_FIXTURES = ("submission", "device", "record_property", "tmp_path")


def write_tests(*, assignment: Any, release: Path, source: Path | None = None, trace: bool | None = None) -> list[Path]:
    """Write `release/tests/<grade_id>.py` for every question of `assignment` and the support module
    `release/tests/_support/selfcheck.py`; returns the paths of the question files. `source`, `trace`:
    as for `build_files`."""
    support, files = build_files(assignment, source=source, trace=trace)
    tests = Path(release) / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    for old in tests.glob("*.py"):
        old.unlink()
    if (tests / SUPPORT.parent).exists():
        shutil.rmtree(tests / SUPPORT.parent)
    (tests / SUPPORT).parent.mkdir()
    (tests / SUPPORT).write_text(support, encoding="utf-8")
    written = []
    for gid, text in files.items():
        path = tests / f"{gid}.py"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def build_test_files(assignment: Any) -> dict[str, str]:
    """grade_id -> source of its otter test file (public checks only)."""
    return build_files(assignment)[1]


def build_files(assignment: Any, *, source: Path | None = None, trace: bool | None = None) -> tuple[str, dict[str, str]]:
    """(the support module's source, grade_id -> source of its otter test file). `trace`: ship the
    forward-trace recorder; by default when the source notebook (`source`, else the course's
    source/<a>/<a>.ipynb) builds nn.Modules, or cannot be read."""
    if trace is None:
        trace = ships_trace(source if source is not None else assignment.source_notebook(course_root()))
    module = import_assignment(assignment)
    top = ModuleSource.of_module(module.__name__, Path(module.__file__ or assignment.module_path))
    checks = collect_checks(module, top)
    unknown = sorted({c.grade_id for c in checks} - set(assignment.questions))
    if unknown:
        raise CourseError(f"{top.path}: checks count toward {', '.join(unknown)}, which QUESTIONS does not list")
    hidden_names = {c.func for c in checks if c.hidden}
    call_timeout = float(getattr(getattr(assignment, "limits", None), "call_timeout", 30.0))
    omit = frozenset() if trace else frozenset(SHARED_WITH_KERNEL)
    shared = Bundle(top, hidden_names, omit)  # the support: what the public checks of every question need
    shared.modules[RUNTIME] = runtime = ModuleSource.of_module(RUNTIME, Path(_runtime_module.__file__))
    for n in RUNTIME_NAMES + ((PARAMETRIZED,) if any(c.parametrize for c in checks if not c.hidden) else ()):
        shared.need(runtime, n, why="(self-check runtime)")
    questions = {}
    for gid in assignment.questions:
        public = [c for c in checks if c.grade_id == gid and not c.hidden]
        bundle = Bundle(top, hidden_names, omit)
        fixtures = _need_public(bundle, public)
        _need_public(shared, public)
        questions[gid] = (public, bundle, fixtures)
    if shared.fixtures:  # the assignment's own fixtures that public checks use
        shared.need(runtime, FIXTURE, why="(self-check runtime)")
    support = _render_support(assignment.name, shared)
    version = _version(support)
    support = support.replace("VERSION = ''", f"VERSION = {version!r}", 1)
    compile(support, str(Path("tests") / SUPPORT), "exec")  # a broken file must fail here, not in a student's kernel
    files = {gid: _render_question(assignment.name, gid, public, bundle, fixtures, call_timeout, version)
             for gid, (public, bundle, fixtures) in questions.items()}
    return support, files


def ships_trace(notebook: Path) -> bool:
    """Whether the code cells of `notebook` build torch.nn modules (`class Net(nn.Module)`, `nn.Linear(...)`,
    names imported from torch.nn): only then can a check's call run a forward pass worth tracing. True
    when the notebook cannot be read (the recorder is shipped rather than missed)."""
    try:
        nb = read_notebook(notebook)
    except GradersError:
        return True
    return bool(_NN_MODULE.search("\n".join(source_of(c) for c in nb.cells if c.get("cell_type") == "code")))


# `nn.Linear`, `torch.nn.Module`, `nn.modules.Conv2d`; `from torch.nn import Linear` (not `functional as F`)
_NN_MODULE = re.compile(r"\bnn\.(?:modules\.)?[A-Z]\w*"
                        r"|^[ \t]*from[ \t]+torch\.nn(?:\.\w+)*[ \t]+import[ \t(]+(?:\w+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*[A-Z]",
                        re.MULTILINE)


def _version(support: str) -> str:
    return hashlib.sha256(support.encode("utf-8")).hexdigest()[:12]


def _need_public(bundle: Bundle, public: list[Check]) -> list[str]:
    """Select what the checks `public` use, then the fixtures they ask for (recursively); the fixtures' names."""
    top = bundle.top
    wanted_fixtures: list[str] = []
    for c in public:
        extra = frozenset().union(*[loads([ast.parse(v, mode="eval")]) for _a, v in c.parametrize])
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
        if node is None or not is_fixture_def(node):
            raise CourseError(f"{top.path}: the public check {who} asks for fixture {p!r}, which the self-checks cannot "
                              f"provide (available: {', '.join(BUILTIN_FIXTURES)} and @pytest.fixture functions of the module)")
        bundle.need(top, p, why=who)
        wanted_fixtures.append(p)
        todo.extend((q, who) for q in _arg_names(node))
    return wanted_fixtures


_SUPPORT_HEADER = '''"""Self-check support of assignment `{assignment}`, loaded once per kernel by every tests/<question>.py:
the self-check runtime and the graders helpers the public checks use (copies without their docstrings and
comments; standard library and torch only). Generated by `graders generate`; do not edit (it is overwritten)."""
VERSION = ''
ASSIGNMENT = {assignment!r}
modules = {{}}

def _graders_module(_name, _source):
    import sys, types
    private = '_graders_bundle.' + _name  # a private name (dataclasses need one): never shadows a real `graders`
    module = sys.modules[private] = types.ModuleType(private)
    module.__dict__['_graders_modules'] = modules
    exec(compile(_source, '<' + _name + '>', 'exec'), module.__dict__)
    modules[_name] = module
    return module

'''

_SUPPORT_FOOTER = '''runtime = modules[{runtime!r}]

def require(version):
    """The runtime, for a test file made with support `version` (else: restart the kernel, or fetch again)."""
    runtime.check_version(assignment=ASSIGNMENT, loaded=VERSION, wanted=version, path=__file__)
    return runtime
'''


def _render_support(assignment: str, shared: Bundle) -> str:
    parts = [_SUPPORT_HEADER.format(assignment=assignment)]
    for m in shared.module_order():
        parts.append(f"_graders_module({m!r}, {_pystr(strip_code(shared.module_text(m)))})\n")
    parts.append("\n")
    parts.append(_SUPPORT_FOOTER.format(runtime=RUNTIME))
    return "".join(parts)


_HEADER = '''"""Public checks of question `{gid}` of assignment `{assignment}`, for `grader.check("{gid}")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
'''

_LOADER = '''
def _graders_load(key):
    import importlib.util, os, sys
    if key not in sys.modules:  # tests/_support/selfcheck.py, once per kernel
        # this file's folder: otter compiles it with its path, but first execs it without (its caller has `path`)
        here, frame = _graders_load.__code__.co_filename, sys._getframe(1)
        while not os.path.isfile(here) and frame is not None:
            here, frame = str(frame.f_locals.get('path', '')), frame.f_back
        path = os.path.join(os.path.dirname(os.path.abspath(here)), {support})
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{{path}} is missing: it comes with the notebook; download the assignment again')
        spec = importlib.util.spec_from_file_location(key, path)
        spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
        sys.modules[key] = module
    return sys.modules[key]

_graders_support = _graders_load({key!r})
_graders_rt, _graders_modules = _graders_support.require({version!r}), _graders_support.modules
_graders_config = {{'assignment': {assignment!r}, 'call_timeout': {call_timeout!r}}}
'''


def _render_question(assignment: str, gid: str, public: list[Check], bundle: Bundle, fixtures: list[str],
                     call_timeout: float, version: str) -> str:
    top = bundle.top
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
                 f"OK_FORMAT = False\nname = {gid!r}\npoints = None\n")
    parts.append(_LOADER.format(support=", ".join(map(repr, SUPPORT.parts)), key=f"_graders_selfcheck_{assignment}", version=version,
                                assignment=assignment, call_timeout=call_timeout))
    fixtures_spec = ", ".join(
        f"{f!r}: _graders_rt.fixture({f!r}, {f}, {tuple(_arg_names(bundle.fixtures[f]))!r}, {fixture_scope(bundle.fixtures[f])!r}, "
        f"{_is_generator(bundle.fixtures[f])!r})" for f in fixtures)
    parts.append(f"# ---- from graders/assignments/{top.path.name}: the public checks of {gid!r} and what they use ----\n")
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


def _body_start(top: ModuleSource, node: ast.FunctionDef) -> int | None:
    """1-based line where the body starts, if it starts on a line of its own."""
    first = node.body[0]
    line = first.lineno
    if line == node.lineno or top.lines[line - 1][: first.col_offset].strip():
        return None
    return line


def _rewrite_check(top: ModuleSource, node: ast.FunctionDef, c: Check, gid: str) -> str:
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


def _strip_decorators(top: ModuleSource, node: ast.FunctionDef) -> str:
    return "\n".join(top.lines[node.lineno - 1: node.end_lineno])


def _render_parametrized(c: Check) -> str:
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
