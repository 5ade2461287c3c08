"""Students' self-checks: otter test files generated from the public checks.

A real Jupyter kernel runs a partly solved release notebook and its `grader.check` cells; the
messages must be the judge's messages. The bundler is also exercised on a synthetic assignment
(fixtures, parametrize, models returned as handles, time limits) and must refuse public checks
that lean on hidden material. Nothing hidden may appear in release/.
"""

from __future__ import annotations

import inspect
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from graders.course import Assignment, assignment_names, get_assignment
from graders.errors import CourseError
from graders.selfcheck import build_files, build_test_files, write_tests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))
from fill import fill, solutions_of  # noqa: E402

PARTLY_SOLVED = {
    # describe right, matmul transposed (wrong shape), matmul_shape left as the stub, one_hot right
    "describe": solutions_of(ROOT / "source" / "tensors" / "tensors.ipynb")["describe"],
    "matmul": "def matmul(a, b):\n    return (a[:, :, None] * b[None, :, :]).sum(dim=1).T\n",
    "one_hot": "def one_hot(labels, num_classes):\n    return torch.eye(num_classes)[labels]\n",
}


def _add_cell_ids(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(data["cells"]):
        cell.setdefault("id", f"added-{i}")
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- in a real kernel
@pytest.fixture(scope="module")
def kernel_run(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The partly solved tensors notebook executed in a Jupyter kernel next to its tests/ folder."""
    import nbformat
    from nbclient import NotebookClient

    work = tmp_path_factory.mktemp("student") / "tensors"
    work.mkdir()
    write_tests(assignment=get_assignment("tensors"), release=work)
    # students do not have the graders package: make sure nothing imports it
    (work / "graders.py").write_text("raise ImportError('students do not have the graders package')\n")
    nb_path = work / "tensors.ipynb"
    fill(ROOT / "release" / "tensors" / "tensors.ipynb", PARTLY_SOLVED, nb_path,
         extra_cells=["grader.export(pdf=False, display_link=False)",
                      "import sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'graders'))\n# graders"])
    _add_cell_ids(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(work)}}).execute()
    outputs: dict[str, str] = {}
    errors: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or ("grader." not in cell.source and "# graders" not in cell.source):
            continue
        key = cell.source.strip().splitlines()[-1]
        texts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                texts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                texts.append(out.data.get("text/plain", ""))
            elif out.output_type == "error":
                errors[key] = f"{out.ename}: {out.evalue}"
        outputs[key] = "\n".join(texts)
    return work, outputs, errors


def test_check_cells_show_otters_results_in_the_kernel(kernel_run) -> None:  # type: ignore[no-untyped-def]
    work, out, errors = kernel_run
    assert not errors, errors
    assert out['grader.check("describe")'].startswith("describe results: All test cases passed!")
    matmul = out['grader.check("matmul")']
    assert "matmul_small result" in matmul and "Test case failed" in matmul
    assert "returned shape (5, 3), expected (3, 5): the result of (n, k) @ (k, m) is (n, m)" in matmul
    assert "is not implemented yet (it raised NotImplementedError)" in out['grader.check("matmul_shape")']
    assert "All test cases passed" in out['grader.check("one_hot")']
    everything = out["grader.check_all()"]
    for q in ("describe", "matmul", "matmul_shape", "one_hot"):
        assert f"{q} results" in everything
    # students never need pandoc or a browser: the zip export without PDF works
    assert list(work.glob("tensors_*.zip"))
    # the self-check files are self-contained: no module of the graders package was imported
    assert out["# graders"].strip() == "[]"


def test_kernel_messages_are_the_judges_messages(kernel_run, launcher) -> None:  # type: ignore[no-untyped-def]
    """One source of truth: what fails in the notebook fails at grading, with the same message."""
    from graders.grade import grade_notebook

    work, out, _errors = kernel_run
    result = grade_notebook(path=work / "tensors.ipynb", assignment="tensors", device="cpu", launcher=launcher, public_only=True)
    assert result.status == "graded"
    assert {c.grade_id for c in result.checks if c.status == "passed"} == {"describe", "one_hot"}
    for c in result.checks:
        text = out[f'grader.check("{c.grade_id}")']
        name = c.id.split("::")[1]
        if c.status == "passed":
            assert "All test cases passed" in text, (c.id, text)
        else:
            assert f"{name} result" in text and c.message in text, (c.id, c.message, text)


# --------------------------------------------------------------------------- nothing hidden in release/
def _hidden_material(name: str) -> tuple[list[str], list[str], str]:
    """(hidden check names, their distinctive source lines, the module's source without them)."""
    spec = get_assignment(name)
    mod = spec.module()
    hidden = [n for n, f in vars(mod).items() if n.startswith("test") and
              any(m.name == "graders" and m.kwargs.get("hidden") for m in getattr(f, "pytestmark", []))]
    text = spec.module_path.read_text(encoding="utf-8")
    lines: list[str] = []
    for n in hidden:
        src = inspect.getsource(getattr(mod, n))
        text = text.replace(src, "")
        lines += [ln.strip() for ln in src.splitlines()[1:] if len(ln.strip()) > 20]
    return hidden, lines, text


@pytest.mark.parametrize("name", assignment_names())
def test_no_hidden_check_reaches_the_self_check_files(name: str) -> None:
    hidden, lines, public_text = _hidden_material(name)
    assert hidden, f"{name} has no hidden checks?"
    support, files = build_files(get_assignment(name))
    assert set(files) == set(get_assignment(name).questions)
    assert build_test_files(get_assignment(name)) == files
    everything = "\n".join([support, *files.values()])
    assert "# ---- from graders/assignments/" not in support  # the support holds copies of graders modules only
    # the part copied from the assignment module (the rest is graders.checks and the runtime)
    own = "\n".join(t.split("# ---- from graders/assignments/", 1)[1] for t in files.values())
    for n in hidden:
        assert n not in everything and n.removeprefix("test_") not in everything, n
    for ln in lines:
        if ln not in public_text:  # a line only hidden checks have
            assert ln not in own, ln
    assert "hidden_seed" not in everything and "20261125" not in everything


def _own_text(path: Path) -> str:
    """A release file's text; for a self-check file, the part copied from the assignment module (none
    for the support module: it holds copies of graders modules only)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.parent.name == "_support":
        assert "# ---- from graders/assignments/" not in text
        return ""
    return text.split("# ---- from graders/assignments/", 1)[-1]


def test_nothing_hidden_in_release_folder() -> None:
    """Every file under release/ (notebooks, self-check files, the support module, anything else)."""
    for rel in sorted((ROOT / "release").iterdir()):
        if not rel.is_dir() or rel.name not in assignment_names():
            continue
        hidden, lines, public_text = _hidden_material(rel.name)
        assert (rel / "tests" / "_support" / "selfcheck.py").is_file()
        everything = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in rel.rglob("*") if p.is_file())
        text = "\n".join(_own_text(p) for p in rel.rglob("*") if p.is_file())
        for n in hidden:
            assert n not in everything, (rel.name, n)
        for ln in lines:
            if ln not in public_text:
                assert ln not in text, (rel.name, ln)
        assert "BEGIN HIDDEN TESTS" not in everything and "hidden_seed" not in everything


# --------------------------------------------------------------------------- the bundler on a synthetic assignment
SYNTHETIC = '''
"""A synthetic assignment exercising what the self-check bundler supports."""
from __future__ import annotations

import time

import pytest
import torch

from graders.checks import CheckFailure, assert_close, check, meta_of

QUESTIONS = {"double": 2, "model": 2, "slow": 1, "secret_q": 1}
LIMITS = {"call_timeout": 5}
CALLS = {"trained": 0}


def _double_check(submission, x):
    got = submission.double(x)
    assert_close(got, 2 * x, what=f"`double` of {x.tolist()}")
    if x.tolist() != [1.0, 2.0, 3.0][: x.numel()] and x.numel() == 3:
        raise CheckFailure("the check's own input was changed by the student's code")


@check(grade_id="double", points=0.5)
def test_double_small(submission):
    x = torch.tensor([1.0, 2.0, 3.0])
    _double_check(submission, x)


@pytest.mark.parametrize("n", [1, 4])
@check(grade_id="double", points=0.25)
def test_double_sizes(submission, n):
    _double_check(submission, torch.ones(n))


@check(grade_id="double", points=1, hidden=True)
def test_double_hidden_inputs(submission, hidden_seed):
    _double_check(submission, torch.randn(7, generator=torch.Generator().manual_seed(hidden_seed + 99)))


@pytest.fixture(scope="module")
def trained(submission, device):
    CALLS["trained"] += 1
    model = submission.call("train", torch.ones(4, 2), timeout=3, seed=0)
    yield model


@check(grade_id="model", points=1)
def test_model_outputs(trained, record_property, tmp_path):
    out = trained(torch.ones(3, 2))
    if meta_of(out) is None or not meta_of(out).has_grad_fn:
        raise CheckFailure("expected the forward pass to carry a graph")
    record_property("accuracy", 1.0)
    assert tmp_path.is_dir()


@check(grade_id="model", points=1)
def test_model_parameters(trained, submission):
    n = submission.eval("sum(p.numel() for p in m.parameters())", m=trained)
    if n != 3:
        raise CheckFailure(f"expected 3 parameters, found {n}")
    if trained.type_name != "Linear":
        raise CheckFailure(f"expected a Linear, got {trained.type_name}")


@check(grade_id="slow", points=1)
def test_slow(submission):
    submission.call("slow", timeout=0.5)


@check(grade_id="secret_q", points=1, hidden=True)
def test_secret_only(submission):
    submission.double(torch.tensor([42.0]))
'''


def _synthetic(tmp_path: Path, source: str = SYNTHETIC, name: str = "synthetic_sc") -> Assignment:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    mod_questions = {"double": 2.0, "model": 2.0, "slow": 1.0, "secret_q": 1.0}
    return Assignment(name=name, questions=mod_questions, module_path=path)


def _run_file(path: Path, env: dict) -> dict[str, tuple[bool, str]]:  # type: ignore[type-arg]
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    tf = create_test_file(str(path), NBMetadataConfig())
    tf.run(env)
    return {r.test_case.name: (r.passed, r.message or "") for r in tf.test_case_results}


STUDENT = '''
import time
import torch

CALLS = []

def double(x):
    CALLS.append(1)
    x.mul_(2)            # in place: the check's own tensor must not change
    return x

def train(X):
    torch.manual_seed(0)
    return torch.nn.Linear(2, 1)

def slow():
    while True:
        time.sleep(0.01)
'''


def test_bundler_supports_fixtures_parametrize_handles_and_time_limits(tmp_path: Path) -> None:
    spec = _synthetic(tmp_path)
    release = tmp_path / "release"
    write_tests(assignment=spec, release=release)
    files = sorted(p.name for p in (release / "tests").glob("*.py"))
    assert files == ["double.py", "model.py", "secret_q.py", "slow.py"]
    text = (release / "tests" / "double.py").read_text()
    assert "hidden_inputs" not in text and "hidden_seed" not in text and "manual_seed(hidden_seed" not in text
    assert "42.0" not in (release / "tests" / "secret_q.py").read_text()

    env: dict = {}  # type: ignore[type-arg]
    exec(compile(STUDENT, "<notebook>", "exec"), env)
    res = _run_file(release / "tests" / "double.py", env)
    assert set(res) == {"double_small", "double_sizes[1]", "double_sizes[4]"}
    assert all(ok for ok, _m in res.values()), res

    res = _run_file(release / "tests" / "model.py", env)
    assert all(ok for ok, _m in res.values()), res
    # the module-scoped fixture ran once for both checks, and again only when the notebook changes
    res = _run_file(release / "tests" / "model.py", env)
    assert all(ok for ok, _m in res.values()), res

    res = _run_file(release / "tests" / "slow.py", env)
    ok, msg = res["slow"]
    assert not ok and "did not return within 0.5 s (time limit)" in msg

    res = _run_file(release / "tests" / "secret_q.py", env)
    assert list(res) == ["no public checks"] and res["no public checks"][0]

    # a missing function is a NameError with the judge's wording
    res = _run_file(release / "tests" / "double.py", {"torch": env["torch"]})
    ok, msg = res["double_small"]
    assert not ok and "name 'double' is not defined in the notebook: define it in the notebook" in msg


def test_module_scoped_fixture_is_shared_until_the_notebook_changes(tmp_path: Path) -> None:
    spec = _synthetic(tmp_path, SYNTHETIC.replace("synthetic", "synthetic2"), name="synthetic_sc2")
    release = tmp_path / "release"
    write_tests(assignment=spec, release=release)
    env: dict = {}  # type: ignore[type-arg]
    exec(compile(STUDENT + "\nTRAINED = []\n_orig = train\ndef train(X):\n    TRAINED.append(1)\n    return _orig(X)\n", "<nb>", "exec"), env)
    _run_file(release / "tests" / "model.py", env)
    _run_file(release / "tests" / "model.py", env)
    assert len(env["TRAINED"]) == 1
    env["train"] = env["train"].__class__(env["train"].__code__, env)  # the student re-runs the cell
    _run_file(release / "tests" / "model.py", env)
    assert len(env["TRAINED"]) == 2


@pytest.mark.parametrize("body, why", [
    ("@check(grade_id='double', points=1)\ndef test_pub(submission, hidden_seed):\n    pass\n", "hidden_seed"),
    ("HIDDEN_INPUTS = [1, 2]\n\n@check(grade_id='double', points=1)\ndef test_pub(submission):\n    print(HIDDEN_INPUTS)\n", "hidden"),
    ("@check(grade_id='double', points=1, hidden=True)\ndef test_h(submission):\n    pass\n\n"
     "@check(grade_id='double', points=1)\ndef test_pub(submission):\n    test_h(submission)\n", "hidden"),
    ("from graders.judge.plugin import JudgeContext\n\n@check(grade_id='double', points=1)\ndef test_pub(submission):\n"
     "    JudgeContext\n", "exists only in the judge"),
    ("@check(grade_id='double', points=1)\ndef test_pub(submission, monkeypatch):\n    pass\n", "cannot provide"),
])
def test_public_checks_cannot_lean_on_hidden_material(tmp_path: Path, body: str, why: str) -> None:
    source = "import torch\nfrom graders.checks import check\nQUESTIONS = {'double': 1}\n\n" + body
    spec = Assignment(name="synthetic_bad", questions={"double": 1.0}, module_path=tmp_path / "synthetic_bad.py")
    spec.module_path.write_text(source, encoding="utf-8")
    with pytest.raises(CourseError, match=why):
        build_test_files(spec)


def test_judge_exception_names_map_to_the_kernels(tmp_path: Path) -> None:
    source = textwrap.dedent('''
        from graders.checks import CheckFailure, check
        from graders.judge.session import StudentCodeError
        QUESTIONS = {"q": 1}

        @check(grade_id="q", points=1)
        def test_q(submission):
            try:
                submission.f()
            except StudentCodeError as exc:
                raise CheckFailure(f"caught {exc.type_name}") from None
    ''')
    spec = Assignment(name="synthetic_exc", questions={"q": 1.0}, module_path=tmp_path / "synthetic_exc.py")
    spec.module_path.write_text(source, encoding="utf-8")
    write_tests(assignment=spec, release=tmp_path)
    text = (tmp_path / "tests" / "q.py").read_text()
    assert "graders.judge" not in text.replace("graders.judge.session", "")  # aliased, nothing of the judge copied
    env: dict = {}  # type: ignore[type-arg]
    exec("def f():\n    raise KeyError('x')\n", env)
    res = _run_file(tmp_path / "tests" / "q.py", env)
    assert res["q"][0] is False and "caught KeyError" in res["q"][1]


def test_write_tests_replaces_stale_files(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "old_question.py").write_text("x = 1\n")
    written = write_tests(assignment=get_assignment("tensors"), release=tmp_path)
    assert sorted(p.stem for p in written) == sorted(get_assignment("tensors").questions)
    assert not (tmp_path / "tests" / "old_question.py").exists()
    shutil.rmtree(tmp_path / "tests")


def test_nbgrader_validate_sees_a_failing_public_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """otter's grader.check never raises; under nbgrader's Validate (NBGRADER_EXECUTION) a failure must."""
    write_tests(assignment=get_assignment("tensors"), release=tmp_path)
    env: dict = {}  # type: ignore[type-arg]
    exec("import torch\ndef describe(t):\n    return {'shape': list(t.shape)}\n", env)
    res = _run_file(tmp_path / "tests" / "describe.py", env)  # interactive: otter reports, nothing raised
    assert res["describe_vector"][0] is False
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    with pytest.raises(BaseException, match=r"public check describe_vector failed: CheckFailure: `describe` of") as info:
        _run_file(tmp_path / "tests" / "describe.py", env)
    assert type(info.value).__name__ == "PublicCheckFailed"
    exec("def describe(t):\n    return {'shape': tuple(t.shape), 'ndim': t.ndim, 'dtype': str(t.dtype), 'numel': t.numel()}\n", env)
    assert _run_file(tmp_path / "tests" / "describe.py", env)["describe_vector"][0] is True


# --------------------------------------------------------------------------- the support module, shipped once
def test_support_ships_once_and_check_all_does_not_list_it() -> None:
    from otter.check.utils import list_available_tests
    from otter.nbmeta_config import NBMetadataConfig

    for name in assignment_names():
        tests = ROOT / "release" / name / "tests"
        assert list_available_tests(str(tests), NBMetadataConfig()) == sorted(get_assignment(name).questions)
        support = (tests / "_support" / "selfcheck.py").read_text(encoding="utf-8")
        assert support.count("class NotebookSubmission") == 1
        for q in get_assignment(name).questions:
            text = (tests / f"{q}.py").read_text(encoding="utf-8")
            assert "class NotebookSubmission" not in text and "_graders_module(" not in text  # loaded, not copied
            assert text.count("_graders_support.require(") == 1


def _forget_support(name: str) -> None:
    sys.modules.pop(f"_graders_selfcheck_{name}", None)


def test_a_kernel_holding_an_older_support_is_told_to_restart(tmp_path: Path) -> None:
    name = "synthetic_ver"
    spec = _synthetic(tmp_path, name=name)
    _forget_support(name)
    try:
        write_tests(assignment=spec, release=tmp_path / "old")
        env: dict = {}  # type: ignore[type-arg]
        exec(compile(STUDENT, "<notebook>", "exec"), env)
        assert _run_file(tmp_path / "old" / "tests" / "double.py", env)["double_small"][0]
        # the instructor releases again; the checks now use another helper, so the support changes
        spec.module_path.write_text(spec.module_path.read_text().replace(
            "from graders.checks import CheckFailure, assert_close, check, meta_of",
            "from graders.checks import CheckFailure, assert_close, assert_shape, check, meta_of").replace(
            "    got = submission.double(x)\n", "    got = submission.double(x)\n    assert_shape(got, tuple(x.shape), what='`double`')\n"))
        write_tests(assignment=spec, release=tmp_path / "old")  # the student fetches it into the same folder
        with pytest.raises(Exception, match=r"the self-checks of `synthetic_ver` were updated after this kernel loaded "
                                            r"them: restart the kernel") as info:
            _run_file(tmp_path / "old" / "tests" / "double.py", env)
        assert type(info.value).__name__ == "SelfCheckOutdated"
        # a fresh kernel loads the new support and the checks run
        _forget_support(name)
        assert all(ok for ok, _m in _run_file(tmp_path / "old" / "tests" / "double.py", env).values())
        # a test file of another release next to this support: fetch again
        (tmp_path / "v1").mkdir()
        write_tests(assignment=_synthetic(tmp_path / "v1", name=name), release=tmp_path / "v1")
        shutil.copy(tmp_path / "v1" / "tests" / "double.py", tmp_path / "old" / "tests" / "double.py")
        with pytest.raises(Exception, match=r"come from different releases of the assignment .*download the assignment again"):
            _run_file(tmp_path / "old" / "tests" / "double.py", env)
    finally:
        _forget_support(name)


def test_a_missing_support_module_is_named(tmp_path: Path) -> None:
    name = "synthetic_missing"
    _forget_support(name)
    write_tests(assignment=_synthetic(tmp_path, name=name), release=tmp_path)
    shutil.rmtree(tmp_path / "tests" / "_support")
    with pytest.raises(FileNotFoundError, match=r"_support/selfcheck.py is missing: it comes with the notebook"):
        _run_file(tmp_path / "tests" / "double.py", {})
