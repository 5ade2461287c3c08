"""Writes source/classification/classification.ipynb."""

from pathlib import Path

from nbbuild import OTTER_SETUP, check, code, md, notebook, setup, solution, write

cells = [
    md("""
    # Assignment 4: Classification

    In the workflow assignment a model predicted a number (regression). Most problems are
    **classification**: is this e-mail spam, which digit is this, is this point on the inner or the outer
    circle? Here you build a **binary** classifier from the ground up:

    1. **accuracy**, the metric people read;
    2. **binary cross-entropy on logits**, the loss the model learns from, written so that it never
       overflows (the *log-sum-exp trick*);
    3. **CircleModel**, a small network with a **non-linearity** that separates two circles a straight line
       cannot, trained with the training loop you already know.

    After each exercise, run its `grader.check(...)` cell: it runs the *public* checks. When your notebook
    is graded, hidden checks use other inputs, and the model is trained on data the grader generates with a
    seed you never see, so write general code.
    """),
    setup(OTTER_SETUP),
    setup("""
    from torch import nn
    import torch.nn.functional as F
    import matplotlib.pyplot as plt
    from sklearn.datasets import make_circles
    """, grade_id="imports"),
    md("""
    ## The data: two circles

    scikit-learn's `make_circles` draws points on two concentric circles (radius 1 and, with `factor=0.8`,
    radius 0.8) and adds a little Gaussian noise. Label `1` is the inner circle, label `0` the outer one.
    As always in PyTorch, inputs are float32 tensors of shape `(N, features)`, here `(N, 2)`; we keep the
    labels as float32 `0.` and `1.` because the loss compares them with real numbers.

    We split the data 80/20 into a training and a test set: a model is judged on examples it has
    never seen.
    """),
    code("""
    X_np, y_np = make_circles(n_samples=1000, noise=0.03, factor=0.8, random_state=42)
    X = torch.tensor(X_np, dtype=torch.float32)
    y = torch.tensor(y_np, dtype=torch.float32)

    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train_idx, test_idx = perm[:800], perm[800:]
    X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]
    print(X_train.shape, y_train.shape, X_test.shape, y_test.shape)
    print(X_train[:3], y_train[:3])
    """),
    code("""
    plt.figure(figsize=(4, 4))
    plt.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=6)
    plt.title("two circles: inner = 1, outer = 0")
    plt.axis("equal")
    plt.show()
    """),
    md("""
    ## 1. Accuracy (1 point)

    **Accuracy** is the fraction of predictions that are right:

    $$\\text{accuracy} = \\frac{\\text{number of correct predictions}}{\\text{number of predictions}}$$

    Write `accuracy(y_true, y_pred)` for two label tensors of the same shape (their dtype may be int64
    or float32 with values `0.`/`1.`). Return a **Python float in [0, 1]** (not a tensor, not a percentage):
    compare the tensors element by element with `==`, count, divide, and turn a 0-D tensor into a Python
    number with `.item()`.
    """),
    solution("accuracy", '''
    def accuracy(y_true, y_pred):
        """Fraction of predictions equal to the true labels, as a Python float in [0, 1]."""
        ### BEGIN SOLUTION
        correct = (y_true == y_pred).sum().item()
        return correct / y_true.numel()
        ### END SOLUTION
    '''),
    code("accuracy(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 0]))  # 2 of 4 right: 0.5"),
    check("accuracy", 1),
    md("""
    ## 2. Logits, sigmoid and a stable binary cross-entropy (3 points)

    A classifier's last layer outputs a raw score per example, a **logit** $x \\in (-\\infty, \\infty)$.
    The **sigmoid** turns it into a probability of class 1:

    $$\\sigma(x) = \\frac{1}{1 + e^{-x}}$$

    The loss for a target $t \\in \\{0, 1\\}$ is the **binary cross-entropy** (BCE): small when the model
    gives the right class a high probability, large when it is confidently wrong.

    $$\\ell(x, t) = -\\big[t \\log \\sigma(x) + (1 - t) \\log(1 - \\sigma(x))\\big]$$

    Written like this it breaks for large logits. In float32, $\\sigma(1000)$ is exactly `1.0`, so
    $\\log(1 - \\sigma(1000)) = \\log 0 = -\\infty$, and `0 * -inf` is `nan`. Try it:
    """),
    code("""
    x = torch.tensor([1000.0, -1000.0])
    t = torch.tensor([0.0, 1.0])
    naive = -(t * torch.log(torch.sigmoid(x)) + (1 - t) * torch.log(1 - torch.sigmoid(x)))
    naive  # inf: the information was lost when sigmoid rounded to 1.0 and 0.0
    """),
    md("""
    **The log-sum-exp trick.** Use $\\log \\sigma(x) = -\\log(1 + e^{-x})$ and
    $\\log(1 - \\sigma(x)) = -x - \\log(1 + e^{-x})$. Then

    $$\\ell(x, t) = (1 - t)\\,x + \\log(1 + e^{-x})$$

    which still overflows for $x \\ll 0$ ($e^{-x}$ is huge). Factor out the largest exponent: with
    $\\log(1 + e^{-x}) = \\max(-x, 0) + \\log(1 + e^{-|x|})$ every exponential has a non-positive argument,
    so it lies in $(0, 1]$ and cannot overflow:

    $$\\ell(x, t) = \\max(x, 0) - x\\,t + \\log\\big(1 + e^{-|x|}\\big)$$

    (`torch.log1p(z)` computes $\\log(1 + z)$ accurately for small $z$.) This is what
    `F.binary_cross_entropy_with_logits` and `nn.BCEWithLogitsLoss` do, and why models output logits
    instead of probabilities.

    Write `bce_with_logits(logits, targets)`: logits and targets of the same shape (any shape), returning
    the **mean** loss over all elements as a 0-D tensor. Do not call the built-in BCE functions: the point
    is to write the stable formula yourself. It must give finite, correct values for logits of ±1000.
    """),
    solution("bce_with_logits", '''
    def bce_with_logits(logits, targets):
        """Mean binary cross-entropy of `targets` (0./1.) given raw scores `logits`; stable for any logits."""
        ### BEGIN SOLUTION
        losses = logits.clamp(min=0) - logits * targets + torch.log1p(torch.exp(-logits.abs()))
        return losses.mean()
        ### END SOLUTION
    '''),
    code("""
    logits = torch.tensor([2.0, -1.0, 1000.0, -1000.0])
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0])
    print(bce_with_logits(logits, targets), F.binary_cross_entropy_with_logits(logits, targets))
    """),
    check("bce_with_logits", 3),
    md("""
    ## 3. CircleModel: a non-linear classifier (6 points)

    **Why a straight line is not enough.** A model made only of `nn.Linear` layers is a linear function of
    its input, however many layers you stack: `Linear(Linear(x))` is again `W x + b`. Its decision boundary
    (where the logit is 0) is a straight line, and no straight line separates a circle from a ring around
    it. Watch a linear model try:
    """),
    code("""
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 1))  # two layers, still linear
    opt = torch.optim.Adam(linear.parameters(), lr=0.01)
    for epoch in range(200):
        loss = F.binary_cross_entropy_with_logits(linear(X_train).squeeze(1), y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        print("linear model, test accuracy:", accuracy(y_test, (linear(X_test).squeeze(1) > 0).float()))
    """),
    md("""
    **Adding a non-linearity.** Put a non-linear function such as `nn.ReLU()` (`max(0, x)`) or `nn.Tanh()`
    between the linear layers and the network can bend its decision boundary: with enough hidden units it
    can draw a closed curve around the inner circle.

    **The training loop** is the one from the workflow assignment, with the BCE loss on logits:

    1. forward pass: `logits = model(X)`, shape `(N, 1)`; squeeze it to `(N,)` to match `y`;
    2. loss: `nn.BCEWithLogitsLoss()(logits, y)` (or your `bce_with_logits`);
    3. `optimizer.zero_grad()`; 4. `loss.backward()`; 5. `optimizer.step()`.

    On 800 points a full batch per step is fine. `torch.optim.Adam` with a learning rate around 0.01 and a
    few hundred steps is plenty; plain SGD needs a larger learning rate and more steps.

    **From logits to labels.** $\\sigma(x) > 0.5$ exactly when $x > 0$, so the predicted label is
    `(logits > 0)`. Labels are returned as **int64** (`.long()`), shape `(N,)`.

    Write:

    * `class CircleModel(nn.Module)`: `CircleModel()` (no arguments) maps `(N, 2)` inputs to `(N, 1)` logits,
      with at least one non-linearity;
    * `train_circle_model(X, y, seed)`: call `torch.manual_seed(seed)` first (so the run is reproducible),
      build a `CircleModel`, train it on `X` (float32 `(N, 2)`) and `y` (float32 `0.`/`1.`, `(N,)`), return it;
    * `predict_labels(model, X)`: int64 labels `0`/`1` of shape `(N,)`, computed in inference mode
      (`model.eval()` and `torch.inference_mode()`).

    When graded, your `train_circle_model` trains on two-circles data the grader generates with a hidden
    seed (same kind as above) and must finish within **30 s** on one CPU core (a few seconds is normal).
    Test accuracy of at least 0.85 earns 3 points, at least 0.95 all 6.
    """),
    solution("circle_model", '''
    class CircleModel(nn.Module):
        """Two features in, one logit out, with non-linearities between the layers."""

        def __init__(self):
            super().__init__()
            ### BEGIN SOLUTION
            self.layers = nn.Sequential(
                nn.Linear(2, 16),
                nn.ReLU(),
                nn.Linear(16, 16),
                nn.ReLU(),
                nn.Linear(16, 1),
            )
            ### END SOLUTION

        def forward(self, x):
            ### BEGIN SOLUTION
            return self.layers(x)
            ### END SOLUTION


    def train_circle_model(X, y, seed):
        """Train a CircleModel on X (N, 2) float32 and y (N,) float32 0./1.; return the trained model."""
        ### BEGIN SOLUTION
        torch.manual_seed(seed)
        model = CircleModel()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.BCEWithLogitsLoss()
        model.train()
        for epoch in range(500):
            logits = model(X).squeeze(1)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model
        ### END SOLUTION


    def predict_labels(model, X):
        """Predicted labels 0/1 (int64, shape (N,)) of `model` for inputs X (N, 2)."""
        ### BEGIN SOLUTION
        model.eval()
        with torch.inference_mode():
            logits = model(X).squeeze(1)
        return (logits > 0).long()
        ### END SOLUTION
    '''),
    code("""
    model = train_circle_model(X_train, y_train, seed=0)
    print("CircleModel, test accuracy:", accuracy(y_test.long(), predict_labels(model, X_test)))
    """),
    code("""
    # where does the model say "inner circle"? its decision boundary on a grid
    xx, yy = torch.meshgrid(torch.linspace(-1.3, 1.3, 121), torch.linspace(-1.3, 1.3, 121), indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    plt.figure(figsize=(4, 4))
    plt.contourf(xx, yy, predict_labels(model, grid).reshape(xx.shape), alpha=0.3, cmap="coolwarm")
    plt.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="coolwarm", s=6)
    plt.axis("equal")
    plt.show()
    """),
    check("circle_model", 6),
    md("""
    ## Before you submit

    Run all the checks at once. Passing them does not guarantee full marks: the hidden checks use other
    inputs, and the model is trained and tested on data generated with a seed you never see.
    """),
    code("grader.check_all()"),
]

write(Path(__file__).resolve().parents[1] / "source" / "classification" / "classification.ipynb", notebook("classification", cells))
