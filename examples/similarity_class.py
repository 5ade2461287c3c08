"""A class of 20 honest `tensors` submissions and one copy, for `graders similarity` (its test and demos).

    .venv/bin/python examples/similarity_class.py COURSE_ROOT

Each question has five ways of being written (VARIANTS). Student i answers the four questions with
variants (a, b, a+b, a+2b) mod 5 for (a, b) = divmod(i, 5): any two honest students share the way they
wrote at most one question. "copier" hands in student 7's answers with the names changed, the comments
rewritten and the functions in another order: the kind of copy the similarity report must surface.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))

VARIANTS: dict[str, list[str]] = {
    "describe": [
        '''def describe(t):
    return {"shape": tuple(t.shape), "ndim": t.ndim, "dtype": str(t.dtype), "numel": t.numel()}''',
        '''def describe(t):
    dims = list(t.size())
    count = 1
    for s in dims:
        count *= s
    return dict(shape=tuple(int(s) for s in dims), ndim=len(dims), dtype=repr(t.dtype), numel=count)''',
        '''def describe(t):
    info = {}
    info["shape"] = tuple(int(d) for d in t.shape)
    info["ndim"] = t.dim()
    info["dtype"] = f"{t.dtype}"
    info["numel"] = int(torch.tensor(t.shape).prod().item()) if t.dim() else 1
    return info''',
        '''def describe(t):
    shape = ()
    for size in t.shape:
        shape = shape + (size,)
    total = t.nelement()
    kind = str(t.dtype)
    return {"numel": total, "dtype": kind, "ndim": len(shape), "shape": shape}''',
        '''def describe(t):
    keys = ("shape", "ndim", "dtype", "numel")
    values = (tuple(t.shape), t.ndimension(), t.dtype.__repr__(), t.numel())
    return dict(zip(keys, values))''',
    ],
    "matmul_shape": [
        '''def matmul_shape(a_shape, b_shape):
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ValueError("0-D operand")
    try:
        return tuple(torch.matmul(torch.empty(a_shape, device="meta"), torch.empty(b_shape, device="meta")).shape)
    except RuntimeError as e:
        raise ValueError(str(e))''',
        '''def matmul_shape(a_shape, b_shape):
    a, b = list(a_shape), list(b_shape)
    if not a or not b:
        raise ValueError("scalars cannot be multiplied")
    squeeze_a, squeeze_b = len(a) == 1, len(b) == 1
    if squeeze_a:
        a = [1] + a
    if squeeze_b:
        b = b + [1]
    if a[-1] != b[-2]:
        raise ValueError("inner sizes differ")
    try:
        batch = list(torch.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))
    except RuntimeError:
        raise ValueError("batch sizes do not broadcast")
    out = batch + ([] if squeeze_a else [a[-2]]) + ([] if squeeze_b else [b[-1]])
    return tuple(out)''',
        '''def matmul_shape(a_shape, b_shape):
    A, B = tuple(a_shape), tuple(b_shape)
    if min(len(A), len(B)) == 0:
        raise ValueError("an operand is 0-D")
    if len(A) == 1 and len(B) == 1:
        if A[0] != B[0]:
            raise ValueError("lengths differ")
        return ()
    n = () if len(A) == 1 else (A[-2],)
    m = () if len(B) == 1 else (B[-1],)
    k_a = A[-1]
    k_b = B[0] if len(B) == 1 else B[-2]
    if k_a != k_b:
        raise ValueError("inner dimensions differ")
    batch_a, batch_b = A[:-2], B[:-2]
    width = max(len(batch_a), len(batch_b))
    batch_a = (1,) * (width - len(batch_a)) + batch_a
    batch_b = (1,) * (width - len(batch_b)) + batch_b
    batch = []
    for x, y in zip(batch_a, batch_b):
        if x != y and 1 not in (x, y):
            raise ValueError("batch dimensions do not broadcast")
        batch.append(max(x, y))
    return tuple(batch) + n + m''',
        '''def matmul_shape(a_shape, b_shape):
    if not len(a_shape) * len(b_shape):
        raise ValueError("0-D")
    left = torch.zeros(*a_shape, 0) if False else torch.empty(a_shape, device="meta")
    right = torch.empty(b_shape, device="meta")
    try:
        product = left @ right
    except RuntimeError as problem:
        raise ValueError("cannot multiply: " + str(problem)) from None
    return tuple(product.shape)''',
        '''import itertools


def matmul_shape(a_shape, b_shape):
    if len(a_shape) < 1 or len(b_shape) < 1:
        raise ValueError("need at least one dimension")
    a = (1,) + tuple(a_shape) if len(a_shape) == 1 else tuple(a_shape)
    b = tuple(b_shape) + (1,) if len(b_shape) == 1 else tuple(b_shape)
    if a[-1] != b[-2]:
        raise ValueError("mismatch")
    batch = []
    for x, y in itertools.zip_longest(reversed(a[:-2]), reversed(b[:-2]), fillvalue=1):
        if x == 1 or y == 1 or x == y:
            batch.insert(0, x if y == 1 else y)
        else:
            raise ValueError("no broadcast")
    tail = [] if len(a_shape) == 1 else [a[-2]]
    tail += [] if len(b_shape) == 1 else [b[-1]]
    return tuple(batch + tail)''',
    ],
    "matmul": [
        '''def matmul(a, b):
    if a.shape[1] != b.shape[0]:
        raise ValueError("inner dimensions must match")
    return (a[:, :, None] * b[None, :, :]).sum(dim=1)''',
        '''def matmul(a, b):
    n, k = a.shape
    k2, m = b.shape
    if k != k2:
        raise ValueError("inner dimensions must match")
    return (a.unsqueeze(2) * b.unsqueeze(0)).sum(1)''',
        '''def matmul(a, b):
    if a.size(-1) != b.size(0):
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}")
    rows = [(a[i].reshape(-1, 1) * b).sum(0) for i in range(a.size(0))]
    return torch.stack(rows)''',
        '''def matmul(a, b):
    if a.shape[-1] != b.shape[-2]:
        raise ValueError("numbers on the inside must match")
    result = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)
    for j in range(b.shape[1]):
        result[:, j] = (a * b[:, j]).sum(dim=1)
    return result''',
        '''def matmul(a, b):
    (n, k), (kb, m) = a.shape, b.shape
    if kb != k:
        raise ValueError("shapes do not fit")
    expanded_a = a.reshape(n, k, 1).expand(n, k, m)
    expanded_b = b.reshape(1, k, m).expand(n, k, m)
    return torch.sum(expanded_a * expanded_b, dim=1)''',
    ],
    "one_hot": [
        '''def one_hot(labels, num_classes):
    if (labels < 0).any() or (labels >= num_classes).any():
        raise ValueError("label out of range")
    return torch.nn.functional.one_hot(labels, num_classes).float()''',
        '''def one_hot(labels, num_classes):
    if ((labels < 0) | (labels >= num_classes)).any():
        raise ValueError("label out of range")
    return (labels[:, None] == torch.arange(num_classes)[None, :]).to(torch.float32)''',
        '''def one_hot(labels, num_classes):
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError("every label must be a class 0..C-1")
    out = torch.zeros(labels.shape[0], num_classes)
    out[torch.arange(labels.shape[0]), labels] = 1.0
    return out''',
        '''def one_hot(labels, num_classes):
    rows = []
    for label in labels.tolist():
        if not 0 <= label < num_classes:
            raise ValueError(f"label {label} is not a class")
        row = [0.0] * num_classes
        row[label] = 1.0
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), num_classes)''',
        '''def one_hot(labels, num_classes):
    bad = [int(v) for v in labels if v < 0 or v >= num_classes]
    if bad:
        raise ValueError("bad labels: " + str(bad))
    eye = torch.eye(num_classes, dtype=torch.float32)
    return eye[labels]''',
    ],
}
QUESTIONS = ("describe", "matmul_shape", "matmul", "one_hot")
COPIED = 7  # the honest student whose answers "copier" hands in


def honest_answers(i: int) -> dict[str, str]:
    a, b = divmod(i, 5)
    picks = (a % 5, b, (a + b) % 5, (a + 2 * b) % 5)
    return {q: VARIANTS[q][v] for q, v in zip(QUESTIONS, picks)}


def disguised(answers: dict[str, str]) -> dict[str, str]:
    """The same code with other names and comments: what a copier does to hide a copy."""
    out = {}
    for q, code in answers.items():
        for old, new in (("labels", "ys"), ("num_classes", "n_cls"), ("shape", "shape"), (" t)", " tensor)"), ("(t.", "(tensor."),
                         ("a_shape", "first"), ("b_shape", "second"), ("result", "res"), ("rows", "lines")):
            code = code.replace(old, new)
        out[q] = "# my own solution\n" + code.replace('"', "'")
    return out


def student_name(i: int) -> str:
    return f"student{i:02d}"


def write_class(root: Path, *, honest: int = 20, copier: bool = True) -> list[str]:
    """submitted/<student>/tensors/tensors.ipynb for `honest` students (and the copier) under `root`."""
    from fill import fill

    release = ROOT / "release" / "tensors" / "tensors.ipynb"
    names = []
    for i in range(honest):
        names.append(student_name(i))
        fill(release, honest_answers(i), root / "submitted" / names[-1] / "tensors" / "tensors.ipynb")
    if copier:
        names.append("copier")
        fill(release, disguised(honest_answers(COPIED)), root / "submitted" / "copier" / "tensors" / "tensors.ipynb")
    return names


if __name__ == "__main__":
    print(json.dumps(write_class(Path(sys.argv[1]))))
