"""Writes the classification scenario notebooks next to this file (small: a setup cell and the answer cells).

    .venv/bin/python tests/data/classification/make.py

correct.ipynb holds the instructor's answers (read from source/classification/classification.ipynb),
stubs.ipynb the release stubs (solution regions replaced as nbgrader does), correct-*.ipynb other
correct answers written differently, and one notebook per typical mistake (the instructor's answers
with one question answered wrongly).
"""

from __future__ import annotations

import json
import sys
import re
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from fill import solutions, stub, strip_markers  # noqa: E402  (shared by every make.py)

ROOT = HERE.parents[2]
ASSIGNMENT = "classification"
ORDER = ["accuracy", "bce_with_logits", "circle_model"]
SETUP = "import torch\nfrom torch import nn\nimport torch.nn.functional as F"


def notebook(answers: dict[str, str], title: str) -> dict:
    nbg = {"grade": False, "locked": True, "schema_version": 3, "solution": False, "task": False}
    cells = [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": title},
             {"cell_type": "code", "execution_count": None, "id": "setup", "outputs": [], "source": SETUP,
              "metadata": {"nbgrader": {**nbg, "grade_id": "setup"}}}]
    for q in ORDER:
        cells.append({"cell_type": "code", "execution_count": None, "id": f"{q}-answer", "outputs": [],
                      "source": textwrap.dedent(answers[q]).strip("\n"),
                      "metadata": {"nbgrader": {**nbg, "grade_id": f"{q}-answer", "locked": False, "solution": True}}})
    return {"cells": cells, "metadata": {"graders": {"assignment": ASSIGNMENT},
                                         "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                                         "language_info": {"name": "python", "version": "3.11"}},
            "nbformat": 4, "nbformat_minor": 5}


def write(name: str, answers: dict[str, str], title: str) -> None:
    (HERE / f"{name}.ipynb").write_text(json.dumps(notebook(answers, title), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ correct answers written differently
TANH_SOFTPLUS = {
    "accuracy": '''
        def accuracy(y_true, y_pred):
            return torch.eq(y_true.long(), y_pred.long()).float().mean().item()
    ''',
    "bce_with_logits": '''
        def bce_with_logits(logits, targets):
            # log(1 + e^x) - t*x, with softplus computing log(1 + e^x) without overflow
            return (F.softplus(logits) - targets * logits).mean()
    ''',
    "circle_model": '''
        from torch.utils.data import DataLoader, TensorDataset


        class CircleModel(nn.Module):
            """A wider MLP with tanh activations."""

            def __init__(self, width=64):
                super().__init__()
                self.hidden1 = nn.Linear(2, width)
                self.hidden2 = nn.Linear(width, width)
                self.out = nn.Linear(width, 1)

            def forward(self, x):
                x = torch.tanh(self.hidden1(x))
                x = torch.tanh(self.hidden2(x))
                return self.out(x)


        def train_circle_model(X, y, seed):
            torch.manual_seed(seed)
            model = CircleModel()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
            for epoch in range(100):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = bce_with_logits(model(xb).view(-1), yb)
                    loss.backward()
                    optimizer.step()
            return model


        def predict_labels(model, X):
            with torch.no_grad():
                probs = torch.sigmoid(model(X)).view(-1)
            return (probs >= 0.5).to(torch.int64)
    ''',
}

SQUARE_FEATURES = {
    "accuracy": '''
        def accuracy(y_true, y_pred):
            right = 0
            for a, b in zip(y_true.tolist(), y_pred.tolist()):
                right += int(a == b)
            return right / len(y_true)
    ''',
    "bce_with_logits": '''
        def bce_with_logits(logits, targets):
            # -[t log(sigmoid(x)) + (1 - t) log(sigmoid(-x))], log-sigmoid computed stably
            return -(targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)).mean()
    ''',
    "circle_model": '''
        class SquareFeatures(nn.Module):
            """Adds x1^2 and x2^2 to the two inputs: here the non-linearity comes first."""

            def forward(self, x):
                return torch.cat([x, x * x], dim=1)


        class CircleModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(SquareFeatures(), nn.Linear(4, 8), nn.LeakyReLU(0.1), nn.Linear(8, 1))

            def forward(self, x):
                return self.net(x)


        def train_circle_model(X, y, seed):
            torch.manual_seed(seed)
            model = CircleModel()
            optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01)
            epoch = 0
            while epoch < 800:
                model.train()
                loss = bce_with_logits(model(X)[:, 0], y)  # the notebook's own loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                epoch += 1
            return model


        def predict_labels(model, X):
            model.eval()
            with torch.inference_mode():
                return torch.where(model(X)[:, 0] > 0, 1, 0)
    ''',
}

# ------------------------------------------------------------------ typical mistakes (one question each)
PERCENTAGE = '''
    def accuracy(y_true, y_pred):
        return (y_true == y_pred).float().mean().item() * 100
'''

UNSTABLE_BCE = '''
    def bce_with_logits(logits, targets):
        # the textbook formula: sigmoid(1000) rounds to 1.0 and log(1 - 1.0) is -inf
        probs = torch.sigmoid(logits)
        return -(targets * torch.log(probs) + (1 - targets) * torch.log(1 - probs)).mean()
'''

LINEAR_MODEL = '''
    class CircleModel(nn.Module):
        """Three linear layers and no activation between them: still a linear function of x."""

        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(2, 16), nn.Linear(16, 16), nn.Linear(16, 1))

        def forward(self, x):
            return self.layers(x)
'''

PROBABILITIES = '''
    def predict_labels(model, X):
        """Returns the probability of class 1 instead of a label."""
        model.eval()
        with torch.inference_mode():
            return torch.sigmoid(model(X)).squeeze(1)
'''


MISMATCHED_LAYERS = '''
    class CircleModel(nn.Module):
        """The second layer expects 8 features but the first one makes 16: the forward raises."""

        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, x):
            return self.layers(x)
'''

# ------------------------------------------------------------------ answers that game the checks (issue 12)
RADIUS_RULE = '''
    class CircleModel(nn.Module):
        """Has layers, but its forward ignores them: a radius rule written by hand."""

        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, x):
            return 20 * (0.9 - x.norm(dim=1, keepdim=True))


    def train_circle_model(X, y, seed):
        return CircleModel()  # no training


    def predict_labels(model, X):
        model.eval()
        with torch.inference_mode():
            return (model(X).squeeze(1) > 0).long()
'''

OTHER_CLASS = '''
    def train_circle_model(X, y, seed):
        """Trains another model class than CircleModel (a plain nn.Sequential)."""
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        for epoch in range(500):
            loss = nn.functional.binary_cross_entropy_with_logits(model(X).squeeze(1), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model
'''

SEED_LEAK = '''
    def train_circle_model(X, y, seed):
        """Tries to carry the seed torch was given, and the hidden data, out through the feedback."""
        found = torch.initial_seed()
        leak = type(f"HiddenSeed{found}n{len(X)}", (RuntimeError,), {})
        raise leak(f"initial seed {found}, seed argument {seed}, first point {X[0].tolist()}")
'''


def replace_definition(src: str, name: str, new: str) -> str:
    """Replace the top-level `def`/`class` `name` of a cell by `new`."""
    lines = src.split("\n")
    start = next(i for i, ln in enumerate(lines) if re.match(rf"(def|class) {name}\b", ln))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"(def|class) ", lines[i])), len(lines))
    while end > start + 1 and lines[end - 1].strip() == "":
        end -= 1
    return "\n".join(lines[:start] + textwrap.dedent(new).strip("\n").split("\n") + lines[end:])


def main() -> None:
    sol = solutions(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    right = {q: strip_markers(s) for q, s in sol.items()}
    write("correct", right, "# classification: the instructor's answers")
    write("stubs", {q: stub(s) for q, s in sol.items()}, "# classification: the release stubs")
    write("correct-tanh-softplus", TANH_SOFTPLUS,
          "# Correct, written differently\n\nA wider MLP with tanh, mini-batch SGD with momentum (DataLoader), "
          "BCE through softplus, labels from probabilities.")
    write("correct-square-features", SQUARE_FEATURES,
          "# Correct, written differently\n\nSquared input features and LeakyReLU, RMSprop on the notebook's own loss, "
          "BCE through log-sigmoid, accuracy with a Python loop.")
    write("percentage", {**right, "accuracy": PERCENTAGE}, "# Mistake: accuracy as a percentage")
    write("unstable-bce", {**right, "bce_with_logits": UNSTABLE_BCE}, "# Mistake: the BCE formula that overflows for large logits")
    write("linear", {**right, "circle_model": replace_definition(right["circle_model"], "CircleModel", LINEAR_MODEL)},
          "# Mistake: a CircleModel without a non-linearity cannot separate circles")
    write("probabilities", {**right, "circle_model": replace_definition(right["circle_model"], "predict_labels", PROBABILITIES)},
          "# Mistake: predict_labels returns probabilities instead of int64 labels")
    write("radius-rule", {**right, "circle_model": RADIUS_RULE},
          "# Gaming: a CircleModel whose forward is a hand-written radius rule, and no training")
    write("other-class", {**right, "circle_model": replace_definition(right["circle_model"], "train_circle_model", OTHER_CLASS)},
          "# Contract: train_circle_model trains an nn.Sequential instead of a CircleModel")
    write("seed-leak", {**right, "circle_model": replace_definition(right["circle_model"], "train_circle_model", SEED_LEAK)},
          "# Attack: an exception named after torch.initial_seed() and the hidden data, raised in the hidden training run")
    write("mismatched-layers", {**right, "circle_model": replace_definition(right["circle_model"], "CircleModel", MISMATCHED_LAYERS)},
          "# Mistake: a layer expects other input features than the previous layer makes")


if __name__ == "__main__":
    main()
