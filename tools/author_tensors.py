"""Writes source/tensors/tensors.ipynb."""

from pathlib import Path

from nbbuild import OTTER_SETUP, check, code, md, notebook, setup, solution, write

cells = [
    md("""
    # Assignment 1: Tensors

    A **tensor** is PyTorch's n-dimensional array: a scalar is a 0-D tensor, a vector 1-D, a matrix 2-D,
    and a batch of colour images 4-D (batch, channels, height, width). Every tensor has a **shape**,
    a number of dimensions (**ndim**), a **dtype** (`torch.float32` by default) and a number of elements
    (**numel**). Most bugs in deep-learning code are shape, dtype or device mistakes, so this assignment
    makes you fluent in all three.

    Work through the exercises in order. After each one, run the `grader.check(...)` cell below it:
    it runs the *public* checks of that question. More (hidden) checks run when your notebook is graded,
    with other shapes and dtypes, so make your answers general.
    """),
    setup(OTTER_SETUP),
    md("""
    ## 1. Describe a tensor (2 points)

    Write `describe(t)` that returns a dictionary with four keys:

    * `"shape"`: the shape as a **tuple of ints** (`t.shape` is a `torch.Size`; `tuple(t.shape)` converts it),
    * `"ndim"`: the number of dimensions (an `int`),
    * `"dtype"`: the dtype as a string such as `"torch.float32"` (`str(t.dtype)`),
    * `"numel"`: the number of elements (an `int`).

    A scalar such as `torch.tensor(3.5)` has shape `()`, ndim 0 and one element.
    """),
    solution("describe", '''
    def describe(t):
        """Return shape, ndim, dtype and numel of tensor t as a dict."""
        ### BEGIN SOLUTION
        return {"shape": tuple(t.shape), "ndim": t.ndim, "dtype": str(t.dtype), "numel": t.numel()}
        ### END SOLUTION
    '''),
    code('describe(torch.zeros(2, 3))'),
    check("describe", 2),
    md("""
    ## 2. The shape of a matrix product (3 points)

    `a @ b` (`torch.matmul`) follows one rule: **the numbers on the inside must match**. For 2-D operands,
    `(n, k) @ (k, m)` gives `(n, m)`. `torch.matmul` extends this:

    * a 1-D operand is treated as a row (on the left) or a column (on the right) vector, and that dimension is
      removed from the result: `(k,) @ (k, m)` is `(m,)`, `(n, k) @ (k,)` is `(n,)`, `(k,) @ (k,)` is `()`;
    * with more than two dimensions, the last two are the matrices and all the dimensions before them are
      **batch dimensions**, which **broadcast**: `(10, 2, 3) @ (3, 4)` is `(10, 2, 4)`, and
      `(5, 1, 2, 3) @ (4, 3, 2)` is `(5, 4, 2, 2)`. Two batch dimensions broadcast when they are equal or one is 1.

    Write `matmul_shape(a_shape, b_shape)` that returns the shape of `a @ b` as a tuple of ints, **without
    creating any tensor**, and raises `ValueError` when the shapes cannot be multiplied: the inner dimensions
    differ, the batch dimensions do not broadcast, or an operand is 0-D.
    """),
    solution("matmul_shape", '''
    def matmul_shape(a_shape, b_shape):
        """Shape of a @ b for operands of shapes a_shape and b_shape (tuples of ints)."""
        ### BEGIN SOLUTION
        a, b = tuple(a_shape), tuple(b_shape)
        if len(a) == 0 or len(b) == 0:
            raise ValueError("matmul needs operands with at least one dimension")
        a_vec, b_vec = len(a) == 1, len(b) == 1
        if a_vec:
            a = (1,) + a
        if b_vec:
            b = b + (1,)
        if a[-1] != b[-2]:
            raise ValueError(f"inner dimensions differ: {a[-1]} and {b[-2]}")
        batch_a, batch_b = a[:-2], b[:-2]
        n = max(len(batch_a), len(batch_b))
        batch_a = (1,) * (n - len(batch_a)) + batch_a
        batch_b = (1,) * (n - len(batch_b)) + batch_b
        batch = []
        for x, y in zip(batch_a, batch_b):
            if x != y and x != 1 and y != 1:
                raise ValueError(f"batch dimensions {x} and {y} do not broadcast")
            batch.append(y if x == 1 else x)
        out = tuple(batch) + ((a[-2],) if not a_vec else ()) + ((b[-1],) if not b_vec else ())
        return out
        ### END SOLUTION
    '''),
    code('matmul_shape((10, 2, 3), (3, 4))'),
    check("matmul_shape", 3),
    md("""
    ## 3. Matrix multiplication with broadcasting (3 points)

    Write `matmul(a, b)` for 2-D tensors `a` of shape `(n, k)` and `b` of shape `(k, m)` **without** `@`,
    `torch.matmul`, `torch.mm` or `torch.einsum`: use broadcasting and a sum. Entry `(i, j)` of the result is
    `sum over p of a[i, p] * b[p, j]`. If you give `a` the shape `(n, k, 1)` and `b` the shape `(1, k, m)`,
    their product broadcasts to `(n, k, m)`; summing over the middle dimension leaves `(n, m)`.

    Raise `ValueError` when the inner dimensions differ (the numbers on the inside must match).
    The result keeps the dtype of the inputs.
    """),
    solution("matmul", '''
    def matmul(a, b):
        """a (n, k) @ b (k, m) with broadcasting and a sum."""
        ### BEGIN SOLUTION
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}: inner dimensions differ")
        return (a[:, :, None] * b[None, :, :]).sum(dim=1)
        ### END SOLUTION
    '''),
    code('matmul(torch.ones(2, 3), torch.ones(3, 4))'),
    check("matmul", 3),
    md("""
    ## 4. One-hot encoding (2 points)

    Classifiers output one score per class, so class labels are often turned into **one-hot** rows:
    label `2` of 4 classes becomes `[0., 0., 1., 0.]`. Write `one_hot(labels, num_classes)` for an int64
    vector of labels of shape `(N,)`; return a **float32** tensor of shape `(N, num_classes)`.
    Raise `ValueError` when a label is negative or not smaller than `num_classes`.
    """),
    solution("one_hot", '''
    def one_hot(labels, num_classes):
        """Float32 one-hot rows (N, num_classes) for int64 labels (N,)."""
        ### BEGIN SOLUTION
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must be in 0..{num_classes - 1}")
        out = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32)
        out[torch.arange(labels.shape[0]), labels] = 1.0
        return out
        ### END SOLUTION
    '''),
    code('one_hot(torch.tensor([0, 2, 1]), 3)'),
    check("one_hot", 2),
    md("""
    ## Before you submit

    Run all the checks at once. Passing them does not guarantee full marks: hidden checks try other
    shapes, dtypes and edge cases.
    """),
    code("grader.check_all()"),
]

write(Path(__file__).resolve().parents[1] / "source" / "tensors" / "tensors.ipynb", notebook("tensors", cells))
