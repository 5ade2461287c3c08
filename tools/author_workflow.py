"""Writes source/workflow/workflow.ipynb."""

from pathlib import Path

from nbbuild import OTTER_SETUP, check, code, md, notebook, setup, solution, write

cells = [
    md("""
    # Assignment 3: The PyTorch workflow

    Every deep-learning project, from a straight line to a large vision model, follows the same workflow:

    1. **get data ready** (tensors of inputs and targets, split into training and test sets),
    2. **build a model** (a subclass of `nn.Module` whose parameters will be learned),
    3. **pick a loss function and an optimizer**,
    4. **train**: the training loop runs forward, loss, zero_grad, backward, step, again and again,
    5. **evaluate**: make predictions in inference mode,
    6. **save and load** the trained model.

    Here you walk through the whole workflow on the simplest problem there is: learning the weight and the bias
    of a straight line from noise-free points. Each step you write is checked: after each exercise, run its
    `grader.check(...)` cell (public checks). When your notebook is graded, hidden checks train on other lines
    with other data.
    """),
    setup(OTTER_SETUP),
    code("""
    from torch import nn
    import matplotlib.pyplot as plt
    """),
    md("""
    ## Data: points on a straight line

    We know the answer in advance (`weight = 0.7`, `bias = 0.3`) and let the model find it. The inputs `X` have
    shape (N, 1): N samples of one feature each, the shape `nn` layers expect. We keep 80% of the points to
    train on and 20% to test on: the test points are never used for learning, only to see how well the model
    does on data it has not seen.
    """),
    code("""
    weight, bias = 0.7, 0.3
    X = torch.arange(0, 1, 0.02).unsqueeze(dim=1)    # (50, 1)
    y = weight * X + bias                            # (50, 1)
    split = int(0.8 * len(X))
    X_train, y_train, X_test, y_test = X[:split], y[:split], X[split:], y[split:]
    print(X_train.shape, y_train.shape, X_test.shape, y_test.shape)


    def plot_predictions(predictions=None):
        plt.figure(figsize=(6, 4))
        plt.scatter(X_train, y_train, s=8, c="b", label="training data")
        plt.scatter(X_test, y_test, s=8, c="g", label="test data")
        if predictions is not None:
            plt.scatter(X_test, predictions, s=8, c="r", label="predictions")
        plt.legend()
        plt.show()
    """),
    md("""
    ## 1. A model: `nn.Module` and its parameters (2 points)

    A model is a class that inherits from `nn.Module`. In `__init__` it creates its **parameters**: tensors
    wrapped in `nn.Parameter`, which tells PyTorch two things: they require grad (autograd computes their
    gradients), and they belong to the model (`model.parameters()` hands them to an optimizer, and
    `model.state_dict()` lists them by name). The `forward(self, x)` method says how the model computes its
    output; calling `model(x)` runs it.

    Write `class LinearRegressionModel(nn.Module)` with two parameters named **`weight`** and **`bias`**, each a
    tensor of shape (1,) started at random values (`torch.randn(1)`), and a forward that returns
    `weight * x + bias` for `x` of shape (N, 1) (broadcasting gives an output of shape (N, 1)).
    `LinearRegressionModel()` takes no arguments.
    """),
    solution("linear_model", '''
    class LinearRegressionModel(nn.Module):
        def __init__(self):
            super().__init__()
            ### BEGIN SOLUTION
            self.weight = nn.Parameter(torch.randn(1))
            self.bias = nn.Parameter(torch.randn(1))
            ### END SOLUTION

        def forward(self, x):
            ### BEGIN SOLUTION
            return self.weight * x + self.bias
            ### END SOLUTION
    '''),
    code("""
    torch.manual_seed(42)
    model_0 = LinearRegressionModel()
    print(model_0.state_dict())   # random numbers for now: nothing has been learned yet
    """),
    check("linear_model", 2),
    md("""
    ## 2. The training loop (4 points)

    A **loss function** measures how wrong the model is; for regression, the mean squared error
    `nn.MSELoss()` (the mean of (prediction − target)²). An **optimizer** changes the parameters to lower the
    loss; stochastic gradient descent, `torch.optim.SGD(model.parameters(), lr=lr)`, moves each parameter a
    small step (the **learning rate** `lr`) against its gradient.

    One pass over the training data is an **epoch**. Each epoch of a full-batch training loop does five things,
    always in this order:

    1. **forward**: `y_pred = model(X)`;
    2. **loss**: `loss = loss_fn(y_pred, y)`;
    3. **zero_grad**: `optimizer.zero_grad()`, because gradients *accumulate* (assignment 2): without it, each
       step would use the sum of the gradients of all epochs so far;
    4. **backward**: `loss.backward()` computes the gradient of the loss for every parameter;
    5. **step**: `optimizer.step()` updates the parameters with those gradients.

    Write `fit(model, X, y, epochs, lr)` that trains `model` this way with the mean squared error and
    `torch.optim.SGD(model.parameters(), lr=lr)`, and returns the list of the `epochs` losses, one Python float
    per epoch (`loss.item()`), so that you can plot the **loss curve**. The grader trains on a hidden line and
    expects the loss to fall and the learned weight and bias to be within 0.05 of the true ones.
    """),
    solution("fit", '''
    def fit(model, X, y, epochs, lr):
        """Full-batch gradient descent on the mean squared error; returns the loss of each epoch."""
        ### BEGIN SOLUTION
        loss_fn = nn.MSELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        losses = []
        for _epoch in range(epochs):
            model.train()
            y_pred = model(X)            # 1. forward
            loss = loss_fn(y_pred, y)    # 2. loss
            optimizer.zero_grad()        # 3. zero the accumulated gradients
            loss.backward()              # 4. backward: gradients of the loss
            optimizer.step()             # 5. step: update the parameters
            losses.append(loss.item())
        return losses
        ### END SOLUTION
    '''),
    code("""
    torch.manual_seed(42)
    model_0 = LinearRegressionModel()
    losses = fit(model_0, X_train, y_train, epochs=500, lr=0.2)
    print(f"loss: first epoch {losses[0]:.4f}, last epoch {losses[-1]:.6f}")
    print("learned:", {k: round(v.item(), 3) for k, v in model_0.state_dict().items()}, " true:", {"weight": weight, "bias": bias})
    plt.plot(losses)
    plt.xlabel("epoch"); plt.ylabel("MSE"); plt.yscale("log"); plt.title("loss curve")
    plt.show()
    """),
    check("fit", 4),
    md("""
    ## 3. Predictions in inference mode (2 points)

    To *use* a model, nothing has to be learned, so there is no reason to build a computational graph:

    * `model.eval()` switches layers that behave differently while training (dropout, batch norm) to their
      evaluation behaviour;
    * `with torch.inference_mode():` (a faster `torch.no_grad()`) records no graph, so the predictions are
      plain numbers with `requires_grad=False`, and no memory is spent on the graph.

    Write `predict(model, X)` that returns the model's predictions for `X` computed this way. The values are
    those of `model(X)`; the result must carry no graph.
    """),
    solution("predict", '''
    def predict(model, X):
        """The model's predictions for X, in inference mode (no graph)."""
        ### BEGIN SOLUTION
        model.eval()
        with torch.inference_mode():
            return model(X)
        ### END SOLUTION
    '''),
    code("""
    y_preds = predict(model_0, X_test)
    print("requires_grad:", y_preds.requires_grad, " test MSE:", nn.functional.mse_loss(y_preds, y_test).item())
    plot_predictions(y_preds)
    """),
    check("predict", 2),
    md("""
    ## 4. Saving and loading a model (2 points)

    A model's learned numbers are its **`state_dict()`**: an ordered dictionary from parameter names
    (`"weight"`, `"bias"`) to tensors. The recommended way to save a model is to save that dictionary,
    `torch.save(model.state_dict(), path)`, and to load it into a fresh instance of the same class:

        model = LinearRegressionModel()
        model.load_state_dict(torch.load(path, weights_only=True))

    Why not `torch.save(model, path)`? That pickles the whole Python object, which ties the file to your code's
    exact classes and module names, and loading a pickle can run arbitrary code. `torch.load(...,
    weights_only=True)` (the default since PyTorch 2.6) refuses such files and accepts only tensors and plain
    containers: exactly what a `state_dict` is.

    Write `save(model, path)` and `load(path)` (which returns a `LinearRegressionModel`) this way. The loaded
    model must make identical predictions, and the file must load with `torch.load(path, weights_only=True)`.
    """),
    solution("save_load", '''
    def save(model, path):
        """Save the model's state_dict to path."""
        ### BEGIN SOLUTION
        torch.save(model.state_dict(), path)
        ### END SOLUTION


    def load(path):
        """A new LinearRegressionModel with the parameters saved at path."""
        ### BEGIN SOLUTION
        model = LinearRegressionModel()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model
        ### END SOLUTION
    '''),
    code("""
    save(model_0, "linear_model.pt")
    loaded = load("linear_model.pt")
    print(loaded.state_dict())
    print("same predictions:", torch.equal(predict(loaded, X_test), predict(model_0, X_test)))
    """),
    check("save_load", 2),
    md("""
    ## Before you submit

    Run all the public checks at once. Passing them does not guarantee full marks: hidden checks train on
    other lines and try other inputs.
    """),
    code("grader.check_all()"),
]

write(Path(__file__).resolve().parents[1] / "source" / "workflow" / "workflow.ipynb", notebook("workflow", cells))
