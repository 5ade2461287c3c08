"""Writes the autograd scenario notebooks next to this file (small: a setup cell and the answer cells).

    .venv/bin/python tests/data/autograd/make.py

correct.ipynb holds the instructor's answers (read from source/autograd/autograd.ipynb), stubs.ipynb
the release stubs (solution regions replaced as nbgrader does), correct-*.ipynb other correct answers,
wrong-*.ipynb one typical mistake per question (the questions are independent, so one notebook shows
a mistake for each of them).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from fill import solutions, stub, strip_markers  # noqa: E402  (shared by every make.py)

ROOT = HERE.parents[2]
ASSIGNMENT = "autograd"
SETUP = "import torch"


def notebook(answers: dict[str, str], order: list[str]) -> dict:
    cells = [{"cell_type": "code", "execution_count": None, "id": "setup", "outputs": [], "source": SETUP,
              "metadata": {"nbgrader": {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3,
                                        "solution": False, "task": False}}}]
    for q in order:
        cells.append({"cell_type": "code", "execution_count": None, "id": f"{q}-answer", "outputs": [],
                      "source": textwrap.dedent(answers[q]).strip("\n") + "\n",
                      "metadata": {"nbgrader": {"grade": False, "grade_id": f"{q}-answer", "locked": False,
                                                "schema_version": 3, "solution": True, "task": False}}})
    return {"cells": cells, "metadata": {"graders": {"assignment": ASSIGNMENT},
                                         "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def write(name: str, answers: dict[str, str], order: list[str]) -> None:
    (HERE / f"{name}.ipynb").write_text(json.dumps(notebook(answers, order), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- other correct answers
FUNCTIONAL = {
    "poly_grad": '''
        from torch.func import grad

        def poly_grad(coeffs, x):
            # torch.func differentiates a function: nothing of the caller's x is touched
            def total(t):
                powers = torch.stack([t ** i for i in range(len(coeffs))])
                return (coeffs.reshape(-1, *([1] * t.dim())) * powers).sum()
            return grad(total)(x.detach())
    ''',
    "mse_grads": '''
        def mse_grads(w, b, X, y):
            # the normal-equations form of the same gradient
            n = len(y)
            y_hat = torch.mv(X, w) + b
            loss = torch.mean((y_hat - y) ** 2)
            dw = (2 / n) * (X.T @ X @ w + b * X.sum(dim=0) - X.T @ y)
            db = (2 / n) * (y_hat.sum() - y.sum())
            return loss, dw, db
    ''',
    "sigmoid_fn": '''
        class SigmoidFn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)  # keep the input, recompute σ in backward
                pos = 1 / (1 + torch.exp(-x))
                neg = torch.exp(x) / (1 + torch.exp(x))
                return torch.where(x >= 0, pos, neg)

            @staticmethod
            def backward(ctx, grad_output):
                (x,) = ctx.saved_tensors
                s = torch.sigmoid(x)
                return grad_output * s * (1 - s)


        def sigmoid(x):
            return SigmoidFn.apply(x)
    ''',
    "two_layer_backward": '''
        def two_layer_backward(x, W1, b1, W2, b2, y):
            z = torch.einsum("nd,hd->nh", x, W1) + b1
            h = z.clamp(min=0)
            out = torch.einsum("nh,oh->no", h, W2) + b2
            g = 2 * (out - y) / (y.shape[0] * y.shape[1])
            gz = torch.einsum("no,oh->nh", g, W2) * (z > 0).to(z.dtype)
            return {"W2": torch.einsum("no,nh->oh", g, h), "b2": g.sum(0),
                    "W1": torch.einsum("nh,nd->hd", gz, x), "b1": gz.sum(0)}
    ''',
}

LOOPS = {
    "poly_grad": '''
        def poly_grad(coeffs, x):
            # Horner's scheme on a private copy, then backward() into its .grad
            leaf = x.detach().clone()
            leaf.requires_grad = True
            p = torch.zeros_like(leaf)
            for c in reversed(coeffs.tolist()):
                p = p * leaf + c
            p.sum().backward()
            return leaf.grad
    ''',
    "mse_grads": '''
        def mse_grads(w, b, X, y):
            # one sample at a time
            n = X.shape[0]
            loss = torch.zeros((), dtype=X.dtype)
            dw = torch.zeros_like(w)
            db = torch.zeros_like(b)
            for i in range(n):
                r = X[i] @ w + b - y[i]
                loss = loss + r * r / n
                dw = dw + 2 * r * X[i] / n
                db = db + 2 * r / n
            return loss, dw, db
    ''',
    "sigmoid_fn": '''
        class SigmoidFn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                out = torch.reciprocal(1 + torch.exp(-x))
                ctx.save_for_backward(out)
                return out

            @staticmethod
            def backward(ctx, grad_output):
                (out,) = ctx.saved_tensors
                return grad_output * (out - out ** 2)


        def sigmoid(x):
            return SigmoidFn.apply(x)
    ''',
    "two_layer_backward": '''
        def two_layer_backward(x, W1, b1, W2, b2, y):
            # sample by sample, with outer products
            n, o = y.shape
            grads = {"W1": torch.zeros_like(W1), "b1": torch.zeros_like(b1),
                     "W2": torch.zeros_like(W2), "b2": torch.zeros_like(b2)}
            for i in range(n):
                z = W1 @ x[i] + b1
                h = torch.relu(z)
                out = W2 @ h + b2
                d_out = 2 * (out - y[i]) / (n * o)
                grads["W2"] += torch.outer(d_out, h)
                grads["b2"] += d_out
                d_z = (W2.T @ d_out) * (z > 0)
                grads["W1"] += torch.outer(d_z, x[i])
                grads["b1"] += d_z
            return grads
    ''',
}

# ---------------------------------------------------------------- typical mistakes, one per question
WRONG_GRADS = {
    "poly_grad": '''
        def poly_grad(coeffs, x):
            x.requires_grad_(True)  # changes the caller's tensor
            p = sum(c * x ** i for i, c in enumerate(coeffs))
            (grad,) = torch.autograd.grad(p.sum(), x)
            return grad
    ''',
    "mse_grads": '''
        def mse_grads(w, b, X, y):
            r = X @ w + b - y
            loss = (r ** 2).mean()
            return loss, X.T @ r / len(y), r.mean()  # the factor 2 is missing
    ''',
    "sigmoid_fn": '''
        class SigmoidFn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                out = 1 / (1 + torch.exp(-x))
                ctx.save_for_backward(out)
                return out

            @staticmethod
            def backward(ctx, grad_output):
                (out,) = ctx.saved_tensors
                return out * (1 - out)  # ignores the upstream gradient


        def sigmoid(x):
            return SigmoidFn.apply(x)
    ''',
    "two_layer_backward": '''
        def two_layer_backward(x, W1, b1, W2, b2, y):
            z = x @ W1.T + b1
            h = torch.relu(z)
            out = h @ W2.T + b2
            d_out = 2 * (out - y) / out.numel()
            d_z = d_out @ W2  # forgot the ReLU's mask (z > 0)
            return {"W1": d_z.T @ x, "b1": d_z.sum(0), "W2": d_out.T @ h, "b2": d_out.sum(0)}
    ''',
}

WRONG_AUTOGRAD_USE = {
    "poly_grad": '''
        def poly_grad(coeffs, x):
            x = x.detach().requires_grad_(True)
            p = sum(c * x ** i for i, c in enumerate(coeffs))
            (grad,) = torch.autograd.grad(p.sum(), x, create_graph=True)  # keeps a graph on the result
            return grad
    ''',
    "mse_grads": '''
        def mse_grads(w, b, X, y):
            # autograd instead of the derivation
            w = w.detach().requires_grad_(True)
            b = b.detach().requires_grad_(True)
            loss = ((X @ w + b - y) ** 2).mean()
            loss.backward()
            return loss.detach(), w.grad, b.grad
    ''',
    "sigmoid_fn": '''
        class SigmoidFn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                out = 1 / (1 + torch.exp(-x))
                ctx.save_for_backward(out)
                return out

            @staticmethod
            def backward(ctx, grad_output):
                (out,) = ctx.saved_tensors
                return grad_output * out * (1 - out)


        def sigmoid(x):
            return torch.sigmoid(x)  # the custom Function is never used
    ''',
    "two_layer_backward": '''
        def two_layer_backward(x, W1, b1, W2, b2, y):
            z = x @ W1.T + b1
            h = torch.relu(z)
            out = h @ W2.T + b2
            d_out = 2 * (out - y) / x.shape[0]  # the mean over N only, not over all N·O elements
            d_z = (d_out @ W2) * (z > 0)
            return {"W1": d_z.T @ x, "b1": d_z.sum(0), "W2": d_out.T @ h, "b2": d_out.sum(0)}
    ''',
}


def main() -> None:
    sol = solutions(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    order = list(sol)
    write("correct", {q: strip_markers(s) for q, s in sol.items()}, order)
    write("stubs", {q: stub(s) for q, s in sol.items()}, order)
    write("correct-functional", FUNCTIONAL, order)
    write("correct-loops", LOOPS, order)
    write("wrong-grads", WRONG_GRADS, order)
    write("wrong-autograd-use", WRONG_AUTOGRAD_USE, order)


if __name__ == "__main__":
    main()
