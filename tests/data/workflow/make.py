"""Writes the workflow scenario notebooks next to this file (small: a setup cell and the answer cells).

    .venv/bin/python tests/data/workflow/make.py

correct.ipynb holds the instructor's answers (read from source/workflow/workflow.ipynb), stubs.ipynb
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
ASSIGNMENT = "workflow"
SETUP = "import torch\nfrom torch import nn"


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
MANUAL = {
    "linear_model": '''
        class LinearRegressionModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_parameter("weight", nn.Parameter(torch.randn(1, dtype=torch.float32)))
                self.register_parameter("bias", nn.Parameter(torch.zeros(1)))

            def forward(self, x):
                return x * self.weight + self.bias
    ''',
    "fit": '''
        def fit(model, X, y, epochs, lr):
            opt = torch.optim.SGD(model.parameters(), lr=lr)
            history = []
            epoch = 0
            while epoch < epochs:
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(model(X), y)
                loss.backward()
                opt.step()
                history.append(float(loss))
                epoch += 1
            return history
    ''',
    "predict": '''
        def predict(model, X):
            was_training = model.training
            model.eval()
            with torch.no_grad():
                out = model(X)
            model.train(was_training)
            return out
    ''',
    "save_load": '''
        def save(model, path):
            torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, path)


        def load(path):
            m = LinearRegressionModel()
            m.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"), strict=True)
            return m.eval()
    ''',
}

STEPS = {
    "linear_model": '''
        class LinearRegressionModel(nn.Module):
            """The seed course's model, with the parameter names of nn.Linear."""

            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.rand(1, requires_grad=True, dtype=torch.float))
                self.bias = nn.Parameter(torch.rand(1, requires_grad=True, dtype=torch.float))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.addcmul(self.bias, self.weight, x)
    ''',
    "fit": '''
        def fit(model, X, y, epochs, lr):
            optimizer = torch.optim.SGD(params=model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                loss = ((model(X) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()  # after the step, ready for the next epoch
                losses.append(loss.detach().item())
            return losses
    ''',
    "predict": '''
        @torch.inference_mode()
        def predict(model, X):
            model.eval()
            return model(X)
    ''',
    "save_load": '''
        def save(model, path):
            with open(path, "wb") as f:
                torch.save(model.state_dict(), f)


        def load(path):
            model = LinearRegressionModel()
            model.load_state_dict(torch.load(path))  # weights_only=True is the default
            return model
    ''',
}

# ---------------------------------------------------------------- typical mistakes, one per question
WRONG_STEPS = {
    "linear_model": '''
        class LinearRegressionModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(1), requires_grad=False)  # frozen: nothing can be learned
                self.bias = nn.Parameter(torch.randn(1), requires_grad=False)

            def forward(self, x):
                return self.weight * x + self.bias
    ''',
    "fit": '''
        def fit(model, X, y, epochs, lr):
            loss_fn = nn.MSELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                loss = loss_fn(model(X), y)
                loss.backward()  # no optimizer.zero_grad(): the gradients of all epochs add up
                optimizer.step()
                losses.append(loss.item())
            return losses
    ''',
    "predict": '''
        def predict(model, X):
            model.eval()
            return model(X)  # still builds a graph
    ''',
    "save_load": '''
        def save(model, path):
            torch.save(model, path)  # pickles the whole model


        def load(path):
            return torch.load(path, weights_only=False)
    ''',
}

WRONG_SHAPES = {
    "linear_model": '''
        class LinearRegressionModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.weights = nn.Parameter(torch.randn(1))  # named `weights`, not `weight`
                self.bias = nn.Parameter(torch.randn(1))

            def forward(self, x):
                return self.weights * x + self.bias
    ''',
    "fit": '''
        def fit(model, X, y, epochs, lr):
            loss_fn = nn.MSELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                loss = loss_fn(model(X), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss)  # tensors, not floats
            return losses
    ''',
    "predict": '''
        def predict(model, X):
            model.eval()
            with torch.inference_mode():
                return model(X).squeeze()  # (N,) instead of the model's (N, 1)
    ''',
    "save_load": '''
        def save(model, path):
            torch.save(model.state_dict(), path)


        def load(path):
            return torch.load(path, weights_only=True)  # the state_dict, not a model
    ''',
}

# contract: `fit` minimises the mean squared error (COURSE.md); an L1 loss learns another line where there are outliers
L1_FIT = '''
    def fit(model, X, y, epochs, lr):
        loss_fn = nn.L1Loss()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        losses = []
        for _ in range(epochs):
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses
'''


def main() -> None:
    sol = solutions(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    order = list(sol)
    write("correct", {q: strip_markers(s) for q, s in sol.items()}, order)
    write("stubs", {q: stub(s) for q, s in sol.items()}, order)
    write("correct-manual", MANUAL, order)
    write("correct-steps", STEPS, order)
    write("wrong-steps", WRONG_STEPS, order)
    write("wrong-shapes", WRONG_SHAPES, order)
    right = {q: strip_markers(s) for q, s in sol.items()}
    write("l1-loss", {**right, "fit": L1_FIT}, order)


if __name__ == "__main__":
    main()
