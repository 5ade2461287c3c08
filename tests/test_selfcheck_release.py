"""What `graders generate` ships for the self-checks stays small, and stripping it changes nothing.

release/ holds under 4,000 lines of generated Python (issue 14): the support module carries its copies
without docstrings, comments and blank lines (graders/selfcheck/strip.py), and the forward-trace
recorder only where the students build `nn.Module`s; without it the runtime runs the same checks,
with the same verdicts, and shows no trace.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from graders.course import Assignment, assignment_names, get_assignment
from graders.selfcheck import ships_trace, strip_code, write_tests

ROOT = Path(__file__).resolve().parents[1]
MAX_RELEASE_LINES = 4000


def _python_lines(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): len(p.read_text(encoding="utf-8").splitlines()) for p in sorted(folder.rglob("*.py"))}


def test_release_holds_under_4000_lines_of_python(tmp_path: Path) -> None:
    """Freshly generated (the self-check files are all the Python `graders generate` writes), and as committed."""
    fresh: dict[str, int] = {}
    for name in assignment_names():
        spec = get_assignment(name)
        write_tests(assignment=spec, release=tmp_path / name, source=spec.source_notebook(ROOT))
        fresh.update({f"{name}/{k}": v for k, v in _python_lines(tmp_path / name).items()})
    assert sum(fresh.values()) < MAX_RELEASE_LINES, fresh
    committed = {f"{a}/{k}": v for a in assignment_names() for k, v in _python_lines(ROOT / "release" / a).items()}
    assert set(committed) == set(fresh)  # nothing else in release/ is Python
    assert sum(committed.values()) < MAX_RELEASE_LINES, committed


def test_the_trace_recorder_ships_where_students_build_modules() -> None:
    wanted = {"tensors": False, "autograd": False, "workflow": True, "classification": True, "vision": True}
    for name in assignment_names():
        support = (ROOT / "release" / name / "tests" / "_support" / "selfcheck.py").read_text(encoding="utf-8")
        shipped = "_graders_module('graders.worker.observe'" in support
        assert shipped is wanted[name] is ships_trace(get_assignment(name).source_notebook(ROOT)), name
        if not shipped:
            assert "ForwardTrace = None" in support and "class ForwardTrace" not in support
        assert '"""' not in support.split("_graders_module('graders.checks._base'", 1)[1].split("runtime = modules[", 1)[0]


def test_ships_trace_reads_the_notebooks_code_cells(tmp_path: Path) -> None:
    def nb(*code: str, markdown: str = "") -> Path:
        path = tmp_path / f"nb{len(list(tmp_path.iterdir()))}.ipynb"
        cells = [{"cell_type": "markdown", "source": markdown, "metadata": {}}]
        cells += [{"cell_type": "code", "source": c.splitlines(keepends=True), "metadata": {}, "outputs": [],
                   "execution_count": None} for c in code]
        path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        return path

    assert ships_trace(nb("class Net(nn.Module):\n    pass\n"))
    assert ships_trace(nb("model = torch.nn.Sequential(torch.nn.Linear(2, 1))\n"))
    assert ships_trace(nb("from torch.nn import functional as F, Linear\n"))
    assert not ships_trace(nb("import torch\nimport torch.nn.functional as F\ndef f(x):\n    return F.relu(x)\n",
                              markdown="What `nn.Sequential(nn.Linear(2, 3))` computes, by hand"))
    assert not ships_trace(nb("from torch.nn import functional as F\n"))
    assert ships_trace(tmp_path / "missing.ipynb")  # unknown: shipped rather than missed


def test_strip_code_keeps_the_behaviour() -> None:
    source = textwrap.dedent('''
        """Module docstring."""
        from __future__ import annotations

        import math
        import os  # a comment


        class Only:
            """Only a docstring."""


        def text(n: int) -> str:
            """A docstring."""
            # a comment
            import json
            import sys

            kept = """first line

            after a blank line inside a string"""
            return f"{kept}|{n}|{json.dumps(1)}|{sys.maxsize > 0}|{math.pi:.2f}|{os.sep}"
    ''')
    out = strip_code(source)
    assert "#" not in out and "docstring" not in out.lower()
    assert "import math, os" in out and "import json, sys" in out
    assert all(ln.strip() for ln in out.splitlines())  # the string's blank line is kept in the string (exec below)
    ns_before: dict = {}
    ns_after: dict = {}
    exec(compile(source, "<before>", "exec"), ns_before)
    exec(compile(out, "<after>", "exec"), ns_after)
    assert ns_after["text"](3) == ns_before["text"](3)
    assert ns_after["Only"]().__class__.__name__ == "Only"
    assert strip_code(out) == out


# --------------------------------------------------------------------------- the runtime without the recorder
MODEL_CHECKS = '''
import torch

from graders.checks import assert_shape, check

QUESTIONS = {"net": 1}


@check(grade_id="net", points=0.5)
def test_net_forward(submission):
    out = submission.Net()(torch.ones(5, 2))
    assert_shape(out, (5, 1), what="`Net()` called on 5 points")


@check(grade_id="net", points=0.5)
def test_net_double(submission):
    assert_shape(submission.double(torch.ones(3)), (3,), what="`double` of 3 values")
'''

BROKEN = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x):
        return self.layers(x)

def double(x):
    return 2 * x
'''

WIDE = BROKEN.replace("nn.Linear(8, 1)", "nn.Linear(16, 2)")
FIXED = BROKEN.replace("nn.Linear(8, 1)", "nn.Linear(16, 1)")


def _run(path: Path, cells: str) -> dict[str, tuple[bool, str]]:
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    env: dict = {}
    exec(compile(cells, "<notebook>", "exec"), env)
    tf = create_test_file(str(path), NBMetadataConfig())
    tf.run(env)
    return {r.test_case.name: (r.passed, r.message or "") for r in tf.test_case_results}


@pytest.mark.parametrize("trace", [True, False])
def test_the_runtime_works_without_the_trace_recorder(tmp_path: Path, trace: bool) -> None:
    name = f"synthetic_trace_{trace}".lower()
    path = tmp_path / f"{name}.py"
    path.write_text(MODEL_CHECKS, encoding="utf-8")
    sys.modules.pop(f"_graders_selfcheck_{name}", None)
    try:
        write_tests(assignment=Assignment(name=name, questions={"net": 1.0}, module_path=path), release=tmp_path, trace=trace)
        support = (tmp_path / "tests" / "_support" / "selfcheck.py").read_text(encoding="utf-8")
        assert ("class ForwardTrace" in support) is trace and ("ForwardTrace = None" in support) is not trace
        test_file = tmp_path / "tests" / "net.py"

        res = _run(test_file, BROKEN)  # the forward raises in layers.2
        ok, msg = res["net_forward"]
        assert not ok and "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in msg
        assert bool(re.search(r"layers\.2 +Linear\(8 → 1\) +\(5, 16\) → ✗ expects 8 input features, got 16", msg)) is trace
        assert res["net_double"][0]

        ok, msg = _run(test_file, WIDE)["net_forward"]  # a wrong shape, no exception
        assert not ok and "`Net()` called on 5 points returned shape (5, 2), expected (5, 1)" in msg
        assert ("Net.forward on a (5, 2) batch:" in msg) is trace

        assert all(ok for ok, _m in _run(test_file, FIXED).values())
    finally:
        sys.modules.pop(f"_graders_selfcheck_{name}", None)
