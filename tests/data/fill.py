"""Make scenario notebooks from a release notebook: replace the answer cells of some questions.

    python tests/data/fill.py  # rewrites the tensors scenarios
Other assignments' tests use `fill(...)` the same way.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fill(release: Path, answers: dict[str, str], out: Path, *, extra_cells: list[str] = (), assignment: str | None = None) -> None:
    """answers: grade_id -> code replacing that question's answer cell (solution cell `<id>-answer`)."""
    nb = json.loads(release.read_text(encoding="utf-8"))
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        q = gid.removesuffix("-answer")
        if gid.endswith("-answer") and q in answers:
            cell["source"] = textwrap.dedent(answers[q]).strip("\n")
    for src in extra_cells:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": textwrap.dedent(src).strip("\n")})
    if assignment is not None:
        nb["metadata"]["graders"] = {"assignment": assignment}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")


def solutions_of(source: Path) -> dict[str, str]:
    """grade_id -> the instructor's answer code (solution markers removed)."""
    return {gid: strip_markers(src) for gid, src in solutions(source).items()}


def tensors() -> None:
    rel = ROOT / "release" / "tensors" / "tensors.ipynb"
    sol = solutions_of(ROOT / "source" / "tensors" / "tensors.ipynb")
    d = ROOT / "tests" / "data" / "tensors"
    fill(rel, sol, d / "correct.ipynb")
    fill(rel, {}, d / "stubs.ipynb")
    fill(rel, {
        "describe": '''
            def describe(t):
                dims = list(t.size())
                count = 1
                for s in dims:
                    count *= s
                return dict(shape=tuple(int(s) for s in dims), ndim=len(dims), dtype=repr(t.dtype), numel=count)
        ''',
        "matmul_shape": '''
            import torch
            def matmul_shape(a_shape, b_shape):
                # let torch's broadcasting rules decide, on empty tensors that allocate nothing
                if len(a_shape) == 0 or len(b_shape) == 0:
                    raise ValueError("0-D operand")
                try:
                    return tuple(torch.matmul(torch.empty(a_shape, device="meta"), torch.empty(b_shape, device="meta")).shape)
                except RuntimeError as e:
                    raise ValueError(str(e))
        ''',
        "matmul": '''
            def matmul(a, b):
                n, k = a.shape
                k2, m = b.shape
                if k != k2:
                    raise ValueError("inner dimensions must match")
                return (a.unsqueeze(2) * b.unsqueeze(0)).sum(1)
        ''',
        "one_hot": '''
            def one_hot(labels, num_classes):
                if ((labels < 0) | (labels >= num_classes)).any():
                    raise ValueError("label out of range")
                return (labels[:, None] == torch.arange(num_classes)[None, :]).to(torch.float32)
        ''',
    }, d / "correct-alternative.ipynb")
    fill(rel, {**sol, "matmul": '''
            def matmul(a, b):
                # forgot to sum over the inner dimension
                return (a[:, :, None] * b[None, :, :])[:, 0, :] * a.shape[1] if False else (a[:, None, :] * b.T[None, :, :]).sum(dim=2).T
        ''', "matmul_shape": '''
            def matmul_shape(a_shape, b_shape):
                return (a_shape[0], b_shape[0])
        '''}, d / "wrong-shape.ipynb")
    fill(rel, {**sol, "one_hot": '''
            def one_hot(labels, num_classes):
                if labels.min() < 0 or labels.max() >= num_classes:
                    raise ValueError("bad label")
                return torch.nn.functional.one_hot(labels, num_classes)  # int64, not float32
        '''}, d / "wrong-dtype.ipynb")
    fill(rel, {**sol, "describe": '''
            def describe(t)
                return {"shape": tuple(t.shape)}
        '''}, d / "syntax-error.ipynb")
    fill(rel, {**sol, "matmul": sol["matmul"] + "\n\nraise RuntimeError('a cell that raises after defining matmul')"}, d / "cell-raises.ipynb")
    (d / "not-a-notebook.ipynb").write_text("this is a python file, not a notebook\nprint('hello')\n")
    always_raises()
    at_operator()


def at_operator() -> None:
    """Contract: `matmul` written with the @ operator, which the exercise rules out (COURSE.md)."""
    sol = solutions_of(ROOT / "source" / "tensors" / "tensors.ipynb")
    answer = """
        def matmul(a, b):
            if a.shape[1] != b.shape[0]:
                raise ValueError("inner dimensions must match")
            return a @ b
    """
    fill(ROOT / "release" / "tensors" / "tensors.ipynb", {**sol, "matmul": answer}, ROOT / "tests" / "data" / "tensors" / "at-operator.ipynb")


def always_raises() -> None:
    """Gaming: every function raises ValueError whatever its input (the checks that ask for ValueError on bad input)."""
    body = "    raise ValueError('no')"
    answers = {"describe": "def describe(t):\n" + body, "matmul_shape": "def matmul_shape(a_shape, b_shape):\n" + body,
               "matmul": "def matmul(a, b):\n" + body, "one_hot": "def one_hot(labels, num_classes):\n" + body}
    fill(ROOT / "release" / "tensors" / "tensors.ipynb", answers, ROOT / "tests" / "data" / "tensors" / "always-raises.ipynb")



# ---------------------------------------------------------------- shared by tests/data/<assignment>/make.py
def solutions(source: Path) -> dict[str, str]:
    """grade_id -> the source's answer cell (with its solution markers)."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    out = {}
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid.endswith("-answer"):
            out[gid.removesuffix("-answer")] = "".join(cell["source"])
    return out


def strip_markers(src: str) -> str:
    return "\n".join(ln for ln in src.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def stub(src: str) -> str:
    """What nbgrader's ClearSolutions leaves of a solution region."""
    import re

    pattern = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
    return pattern.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", src)


if __name__ == "__main__":
    tensors()
