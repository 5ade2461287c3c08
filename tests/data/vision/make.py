"""Writes the vision scenario notebooks next to this file (small: a setup cell and the answer cells).

    .venv/bin/python tests/data/vision/make.py

correct.ipynb holds the instructor's answers (read from source/vision/vision.ipynb),
stubs.ipynb the release stubs (solution regions replaced as nbgrader does), correct-*.ipynb other
correct answers written differently, and one notebook per typical mistake (the instructor's answers
with one question answered wrongly). `device_agnostic` has no answer cell of its own:
it is how `train_digits` is written.
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
ASSIGNMENT = "vision"
ORDER = ["digits_cnn", "train_digits"]
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
BATCHNORM = {
    "digits_cnn": """
        class DigitsCNN(nn.Module):
            \"\"\"Two unpadded convolutions with batch norm, pooling, dropout.\"\"\"

            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(1, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),    # (N, 16, 6, 6)
                    nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32), nn.ReLU(),   # (N, 32, 4, 4)
                    nn.MaxPool2d(2),                                       # (N, 32, 2, 2)
                    nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10),
                )

            def forward(self, x):
                return self.body(x)
    """,
    "train_digits": """
        from torch.utils.data import DataLoader, TensorDataset


        def train_digits(X, y, device):
            device = torch.device(device)
            model = DigitsCNN().to(device)
            loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
            loss_fn = nn.CrossEntropyLoss()
            for epoch in range(12):
                model.train()
                for xb, yb in loader:
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    loss_fn(model(xb), yb).backward()
                    optimizer.step()
            return model.eval()
    """,
}

FUNCTIONAL = {
    "digits_cnn": """
        class DigitsCNN(nn.Module):
            \"\"\"One 5x5 convolution, then a small MLP; the forward pass uses torch.nn.functional.\"\"\"

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 16, kernel_size=5, padding=2)
                self.fc1 = nn.Linear(16 * 4 * 4, 64)
                self.fc2 = nn.Linear(64, 10)

            def forward(self, x):
                centre = torch.full((1, 1, 1, 1), 0.3, device=x.device, dtype=x.dtype)  # made on the input's device
                x = F.max_pool2d(F.relu(self.conv(x - centre)), 2)
                x = F.relu(self.fc1(x.flatten(1)))
                return self.fc2(x)
    """,
    "train_digits": """
        def train_digits(X, y, device):
            model = DigitsCNN()
            model.to(device)
            X = X.to(device)
            y = y.to(device)
            optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
            steps, batch = 0, 64
            while steps < 450:  # random mini-batches instead of epochs
                idx = torch.randint(0, X.shape[0], (batch,), device=device)
                loss = F.cross_entropy(model(X[idx]), y[idx], label_smoothing=0.05)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                steps += 1
            return model
    """,
}

# ------------------------------------------------------------------ typical mistakes
NO_CONV = """
    class DigitsCNN(nn.Module):
        \"\"\"An MLP on the flattened pixels: learns digits, but it is not a CNN.\"\"\"

        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

        def forward(self, x):
            return self.layers(x)
"""

TOO_MANY_PARAMETERS = """
    class DigitsCNN(nn.Module):
        \"\"\"No pooling and a wide hidden layer: 32*8*8*64 weights in one nn.Linear.\"\"\"

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))

        def forward(self, x):
            return self.classifier(self.features(x))
"""

# ------------------------------------------------------------------ answers that game the checks (issue 12)
DIGITS_LOOKUP = """
    from sklearn.datasets import load_digits


    class LookupDigits(DigitsCNN):
        \"\"\"No training: the nearest image of scikit-learn's own copy of the digits, and its label.\"\"\"

        def __init__(self):
            super().__init__()
            digits = load_digits()
            self.images = torch.tensor(digits.images / 16.0, dtype=torch.float32).reshape(-1, 64)
            self.labels = torch.tensor(digits.target)

        def forward(self, x):
            nearest = torch.cdist(x.reshape(len(x), 64).cpu(), self.images).argmin(dim=1)
            return F.one_hot(self.labels[nearest], 10).float().to(x.device) * 10


    def train_digits(X, y, device):
        return LookupDigits().to(device)
"""

HIDDEN_PARAMETERS = """
    class DigitsCNN(nn.Module):
        \"\"\"5.2 million weights, but parameters() reports only the small layers.\"\"\"

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 10))
            self.memory = nn.Linear(1024, 5100)  # 5.2 M weights, never reported

        def parameters(self, recurse=True):
            yield from self.features.parameters()
            yield from self.classifier.parameters()

        def forward(self, x):
            return self.classifier(self.features(x))
"""


def main() -> None:
    sol = solutions(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    right = {q: strip_markers(s) for q, s in sol.items()}
    write("correct", right, "# vision: the instructor's answers")
    write("stubs", {q: stub(s) for q, s in sol.items()}, "# vision: the release stubs")
    write("correct-batchnorm", BATCHNORM,
          "# Correct, written differently\n\nUnpadded convolutions with batch norm and dropout, a DataLoader, "
          "SGD with Nesterov momentum, `torch.device`.")
    write("correct-functional", FUNCTIONAL,
          "# Correct, written differently\n\nOne 5x5 convolution and an MLP head, a functional forward that makes a "
          "tensor on the input's device, AdamW on random mini-batches with label smoothing.")
    write("no-conv", {**right, "digits_cnn": NO_CONV}, "# Mistake: a 'CNN' without convolutions")
    write("too-many-parameters", {**right, "digits_cnn": TOO_MANY_PARAMETERS},
          "# Mistake: no pooling and a wide linear layer: more than 100,000 parameters")
    write("digits-lookup", {**right, "train_digits": DIGITS_LOOKUP},
          "# Gaming: no training, a nearest-neighbour lookup into scikit-learn's copy of the digits")
    write("hidden-parameters", {**right, "digits_cnn": HIDDEN_PARAMETERS},
          "# Gaming: a 5.2 M-parameter DigitsCNN whose parameters() reports only its small layers")
    train = right["train_digits"]
    cuda = (train.replace("DigitsCNN().to(device)", 'DigitsCNN().to("cuda")')
                 .replace("X, y = X.to(device), y.to(device)", 'X, y = X.to("cuda"), y.to("cuda")')
                 .replace("device=device", 'device="cuda"'))
    assert cuda.count('"cuda"') == 4, cuda
    write("hardcoded-cuda", {**right, "train_digits": cuda},
          "# Mistake: code copied from a GPU tutorial: 'cuda' written into `train_digits`, whatever `device` says")
    ignores = (train.replace("DigitsCNN().to(device)", "DigitsCNN()")
                    .replace("    X, y = X.to(device), y.to(device)\n", "")
                    .replace(", device=device", ""))
    assert ignores.count("device") == 2, ignores  # the signature and the docstring only
    write("ignores-device", {**right, "train_digits": ignores},
          "# Mistake: `train_digits` ignores `device` and always trains on the CPU (only a GPU run can tell)")


if __name__ == "__main__":
    main()
