"""Checks of assignment 3, `workflow` (10 points). See COURSE.md §3.

`fit` and `predict` are judged on a model the grader builds in the worker (an `nn.Linear(1, 1)` with
parameters it sets), so a mistake in `LinearRegressionModel` does not cost points there too. Training
data are generated here with the hidden seed; the learned parameters are read back as data and
compared here with the true line. Saved files are read back as bytes and opened here with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import io
import math
import re

import pytest
import torch

from graders.checks import CheckFailure, assert_close, assert_shape, check, describe_value
from graders.checks.grad import assert_no_graph, eval_in_worker

QUESTIONS = {"linear_model": 2, "fit": 4, "predict": 2, "save_load": 2}
LIMITS = {"call_timeout": 30}

F32 = torch.float32


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _make_model(submission, seed: int):
    """A fresh LinearRegressionModel() in the worker (torch seeded there first)."""
    return submission.call("LinearRegressionModel", seed=seed)


def _state_dict(submission, model) -> dict:
    got = eval_in_worker(submission, "{str(k): v for k, v in m.state_dict().items()}", what="`LinearRegressionModel.state_dict()`", m=model)
    if type(got) is not dict:
        raise CheckFailure(f"`state_dict()` gave {describe_value(got)}, expected a mapping of names to tensors")
    return got


def _judge_linear(submission, weight: float, bias: float):
    """An nn.Linear(1, 1) in the worker with parameters the judge chose (not the student's class)."""
    return eval_in_worker(
        submission, "(lambda m: (m.weight.data.fill_(w), m.bias.data.fill_(b), m)[2])(torch.nn.Linear(1, 1))",
        what="the grader's model", w=float(weight), b=float(bias))


# ------------------------------------------------------------------ linear_model (2)
def _params_of(submission, model) -> tuple[torch.Tensor, torch.Tensor]:
    sd = _state_dict(submission, model)
    for name in ("weight", "bias"):
        if name not in sd:
            raise CheckFailure(f"`LinearRegressionModel().state_dict()` has keys {sorted(sd)}, expected a parameter named "
                               f"{name!r} (self.{name} = nn.Parameter(...))")
    return sd["weight"], sd["bias"]


@check(grade_id="linear_model", points=0.5)
def test_linear_model_forward(submission):
    model = _make_model(submission, 0)
    x = torch.arange(5, dtype=F32).reshape(5, 1) / 2
    what = "`LinearRegressionModel()(x)` with x of shape (5, 1)"
    out = model(x)
    assert_shape(out, (5, 1), what=what, hint="one prediction per row of x")
    w, b = _params_of(submission, model)
    assert_close(out, w.reshape(-1)[0] * x + b.reshape(-1)[0], what=what, rtol=1e-6, atol=1e-6, hint="forward is weight * x + bias")


@check(grade_id="linear_model", points=0.5)
def test_linear_model_state_dict(submission):
    sd = _state_dict(submission, _make_model(submission, 0))
    if sorted(sd) != ["bias", "weight"]:
        raise CheckFailure(f"`LinearRegressionModel().state_dict()` has keys {sorted(sd)}, expected exactly ['bias', 'weight']")
    for name in ("weight", "bias"):
        assert_shape(sd[name], (1,), what=f"`state_dict()[{name!r}]`", hint="one number, as in nn.Parameter(torch.randn(1))")


@check(grade_id="linear_model", points=0.5, hidden=True)
def test_linear_model_requires_grad(submission, hidden_seed):
    model = _make_model(submission, hidden_seed)
    params = eval_in_worker(submission, "[(str(n), bool(p.requires_grad)) for n, p in m.named_parameters()]",
                            what="`LinearRegressionModel.named_parameters()`", m=model)
    found = dict(params)
    for name in ("weight", "bias"):
        if name not in found:
            raise CheckFailure(f"`LinearRegressionModel().named_parameters()` gives {sorted(found)}, expected a parameter "
                               f"{name!r}: wrap it in nn.Parameter so the optimizer can find it")
        if not found[name]:
            raise CheckFailure(f"parameter {name!r} has requires_grad=False, expected True: the optimizer can only "
                               "learn parameters whose gradient autograd computes")


@check(grade_id="linear_model", points=0.5, hidden=True)
def test_linear_model_shapes(submission, hidden_seed):
    """Output (N, 1) for several N, and the same straight line for every batch (it is weight * x + bias)."""
    model = _make_model(submission, hidden_seed + 1)
    g = _gen(hidden_seed + 501)
    base = model(torch.tensor([[0.0], [1.0]]))
    assert_shape(base, (2, 1), what="`LinearRegressionModel()(x)` with x of shape (2, 1)")
    bias, slope = base[0, 0], base[1, 0] - base[0, 0]
    for n in (1, 17, 200):
        x = torch.randn(n, 1, generator=g) * 3
        what = f"`LinearRegressionModel()(x)` with x of shape ({n}, 1)"
        out = model(x)
        assert_shape(out, (n, 1), what=what, hint="one prediction per row of x")
        assert_close(out, slope * x + bias, what=what, rtol=1e-5, atol=1e-5, hint="forward is weight * x + bias, row by row")


# ------------------------------------------------------------------ fit (4)
def _line_data(g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Straight-line data y = w·x + b (+ a little noise); |w|, |b| are far from the model's start."""
    sign = lambda: 1.0 if float(torch.rand((), generator=g)) < 0.5 else -1.0  # noqa: E731
    w = sign() * (0.7 + 1.3 * float(torch.rand((), generator=g)))
    b = sign() * (0.4 + 0.6 * float(torch.rand((), generator=g)))
    X = torch.linspace(-1, 1, n).reshape(n, 1)[torch.randperm(n, generator=g)]
    y = w * X + b + 0.01 * torch.randn(n, 1, generator=g)
    return X, y, w, b


def _losses(value, epochs: int, what: str, *, strict: bool) -> list[float]:
    if type(value) is not list:
        raise CheckFailure(f"{what} returned {describe_value(value)}, expected a list of {epochs} floats (the loss of each epoch)")
    if len(value) != epochs:
        raise CheckFailure(f"{what} returned a list of {len(value)} losses, expected {epochs} (one per epoch)")
    out = []
    for i, v in enumerate(value):
        if type(v) is float or (type(v) is int and not strict):
            out.append(float(v))
        elif isinstance(v, torch.Tensor) and v.numel() == 1 and not strict:
            out.append(float(v.reshape(-1)[0]))
        else:
            raise CheckFailure(f"{what}: element {i} of the returned list is {describe_value(v)}, expected a Python float "
                               "(use loss.item())")
    if not all(math.isfinite(v) for v in out):
        raise CheckFailure(f"{what} returned losses that are not finite ({next(v for v in out if not math.isfinite(v))}): "
                           "the training diverged")
    return out


def _rise_hint(losses: list[float]) -> str:
    for i in range(1, len(losses)):
        if losses[i] > losses[i - 1] * (1 + 1e-6) + 1e-12:
            return (f"; the loss went up at epoch {i} ({losses[i - 1]:.4g} → {losses[i]:.4g}): full-batch gradient descent "
                    "with a small learning rate should go down every epoch; is optimizer.zero_grad() called before "
                    "each backward()? Without it the gradients of all epochs add up")
    return ""


def _fit(submission, X, y, w0: float, b0: float, epochs: int, lr: float, seed: int):
    model = _judge_linear(submission, w0, b0)
    losses = submission.fit(model, X, y, epochs, lr, seed=seed, timeout=30)
    params = eval_in_worker(submission, "(float(m.weight.reshape(-1)[0]), float(m.bias.reshape(-1)[0]))", what="the trained model", m=model)
    return losses, params


@pytest.fixture(scope="module")
def fit_run(submission, hidden_seed):
    """One training run on hidden straight-line data, shared by the hidden `fit` checks."""
    g = _gen(hidden_seed + 601)
    n = int(torch.randint(40, 101, (), generator=g))
    X, y, w, b = _line_data(g, n)
    w0, b0 = (float(v) for v in (torch.rand(2, generator=g) * 0.4 - 0.2))
    epochs, lr = 200, 0.1
    losses, (w_fit, b_fit) = _fit(submission, X, y, w0, b0, epochs, lr, hidden_seed)
    return {"losses": losses, "epochs": epochs, "w": w, "b": b, "w_fit": w_fit, "b_fit": b_fit,
            "what": f"`fit(model, X, y, epochs={epochs}, lr={lr})` on {n} points of a hidden line"}


@check(grade_id="fit", points=1)
def test_fit_returns_losses(submission):
    X = torch.linspace(0, 1, 50).reshape(50, 1)
    y = 0.7 * X + 0.3
    losses, _params = _fit(submission, X, y, -0.2, 0.1, 50, 0.1, 0)
    what = "`fit(model, X, y, epochs=50, lr=0.1)` on the line y = 0.7x + 0.3"
    out = _losses(losses, 50, what, strict=True)
    if not out[-1] < out[0]:
        raise CheckFailure(f"{what}: the last loss {out[-1]:.4g} is not below the first {out[0]:.4g}, expected the loss to fall"
                           + _rise_hint(out))


def _check_minimises_mse(submission, hidden_seed: int) -> None:
    """COURSE.md: `fit` minimises the mean squared error. On a line with a few large outliers the least-squares
    line (what MSE leads to) and the L1 or Huber line (which ignore outliers) are far apart: the judge computes
    the least-squares solution itself and expects the trained parameters there."""
    g = _gen(hidden_seed + 607)
    n = 40
    X, y, _w, _b = _line_data(g, n)
    outliers = torch.randperm(n, generator=g)[:4]
    y = y.clone()
    y[outliers] += 6.0
    design = torch.cat([X, torch.ones(n, 1)], dim=1).double()
    w_ls, b_ls = (float(v) for v in torch.linalg.lstsq(design, y.double()).solution.reshape(-1))
    epochs, lr = 500, 0.1
    _losses_value, (w_fit, b_fit) = _fit(submission, X, y, 0.0, 0.0, epochs, lr, hidden_seed + 1)
    if abs(w_fit - w_ls) > 0.05 or abs(b_fit - b_ls) > 0.05:
        raise CheckFailure(f"`fit(model, X, y, epochs={epochs}, lr={lr})` on {n} points of a line with 4 large outliers learned "
                           f"weight {w_fit:.3f} and bias {b_fit:.3f}, expected the least-squares line (weight {w_ls:.3f}, bias "
                           f"{b_ls:.3f}): the exercise's rule is that `fit` minimises the mean squared error (nn.MSELoss); "
                           "another loss (L1, Huber) learns another line where the data has outliers")


@check(grade_id="fit", points=1, hidden=True)
def test_fit_loss_falls(fit_run, submission, hidden_seed):
    """The loss falls, and it is the mean squared error (the contract: checked on data with outliers)."""
    out = _losses(fit_run["losses"], fit_run["epochs"], fit_run["what"], strict=False)
    if not out[-1] < 0.1 * out[0]:
        raise CheckFailure(f"{fit_run['what']}: the last loss {out[-1]:.4g} is not below 10% of the first {out[0]:.4g}"
                           + _rise_hint(out))
    _check_minimises_mse(submission, hidden_seed)


def _check_param(fit_run, name: str) -> None:
    got, true = fit_run[f"{name}_fit"], fit_run[name]
    if not abs(got - true) <= 0.05:
        hint = ""
        if type(fit_run["losses"]) is list:
            try:
                hint = _rise_hint(_losses(fit_run["losses"], fit_run["epochs"], fit_run["what"], strict=False))
            except CheckFailure:
                hint = ""
        raise CheckFailure(f"after {fit_run['what']} the learned {name} is {got:.4f}, expected {true:.4f} ± 0.05 "
                           f"(the true {name} of the line)" + hint)


@check(grade_id="fit", points=1, hidden=True)
def test_fit_learns_weight(fit_run):
    _check_param(fit_run, "w")


@check(grade_id="fit", points=1, hidden=True)
def test_fit_learns_bias(fit_run):
    _check_param(fit_run, "b")


# ------------------------------------------------------------------ predict (2)
def _check_predict_values(submission, w: float, b: float, X: torch.Tensor) -> None:
    model = _judge_linear(submission, w, b)
    what = f"`predict(model, X)` with X of shape {tuple(X.shape)}"
    got = submission.predict(model, X)
    assert_shape(got, X.shape, what=what, hint="the model's output for every row of X")
    assert_close(got, w * X.detach() + b, what=what, rtol=1e-5, atol=1e-6, hint="the same values as model(X)")


def _check_predict_graph(submission, X: torch.Tensor) -> None:
    model = _judge_linear(submission, 0.5, -1.0)
    got = submission.predict(model, X)
    assert_no_graph(got, what=f"`predict(model, X)` with X of shape {tuple(X.shape)}",
                    hint="compute the predictions inside `with torch.inference_mode():` (or torch.no_grad())")


@check(grade_id="predict", points=0.5)
def test_predict_values(submission):
    _check_predict_values(submission, 2.0, -0.5, torch.linspace(-1, 1, 6).reshape(6, 1))


@check(grade_id="predict", points=0.5)
def test_predict_no_graph(submission):
    _check_predict_graph(submission, torch.linspace(0, 1, 4).reshape(4, 1))


@check(grade_id="predict", points=0.5, hidden=True)
def test_predict_values_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 701)
    w, b = (float(v) for v in torch.randn(2, generator=g))
    for n in (1, 33):
        _check_predict_values(submission, w, b, torch.randn(n, 1, generator=g))


@check(grade_id="predict", points=0.5, hidden=True)
def test_predict_no_graph_hidden(submission, hidden_seed):
    g = _gen(hidden_seed + 702)
    _check_predict_graph(submission, torch.randn(9, 1, generator=g).requires_grad_(True))


# ------------------------------------------------------------------ save_load (2)
# read back the bytes save() wrote (at most 16 MiB), to open them here
_READ_FILE = "(lambda data: torch.tensor(list(data[:16777216]), dtype=torch.uint8))(open(path, 'rb').read())"


@pytest.fixture(scope="module")
def saved_files(submission, hidden_seed):
    """Two models saved with the student's `save` (different parameters), their files and outputs."""
    X = torch.linspace(-2, 2, 7).reshape(7, 1)
    runs = []
    for i, seed in enumerate((hidden_seed + 801, hidden_seed + 802)):
        model = _make_model(submission, seed)
        path = f"graders_check_model_{i}.pt"
        submission.save(model, path)
        runs.append({"model": model, "path": path, "out": model(X)})
    return {"X": X, "runs": runs}


def _check_roundtrip(submission, run: dict, X: torch.Tensor) -> None:
    loaded = submission.load(run["path"])
    if getattr(loaded, "type_name", None) != "LinearRegressionModel":
        looks_like_state = type(loaded) is dict or getattr(loaded, "type_name", None) in ("OrderedDict", "dict")
        raise CheckFailure(f"`load({run['path']!r})` returned {describe_value(loaded)}, expected a LinearRegressionModel"
                           + (": that is the state_dict itself; create a LinearRegressionModel() and call its "
                              "load_state_dict(...) with it" if looks_like_state else ""))
    what = f"the model returned by `load({run['path']!r})`"
    got = loaded(X)
    assert_close(got, run["out"], what=what, rtol=0, atol=0,
                 hint="identical predictions to the saved model: load its state_dict into a new LinearRegressionModel")


@check(grade_id="save_load", points=1)
def test_save_load_roundtrip(submission):
    model = _make_model(submission, 0)
    X = torch.linspace(-2, 2, 7).reshape(7, 1)
    path = "graders_public_model.pt"
    submission.save(model, path)
    _check_roundtrip(submission, {"path": path, "out": model(X)}, X)


@check(grade_id="save_load", points=0.5, hidden=True)
def test_save_load_two_models(submission, saved_files):
    """Each file gives back its own model (load reads the path it is given)."""
    for run in saved_files["runs"]:
        _check_roundtrip(submission, run, saved_files["X"])


@check(grade_id="save_load", points=0.5, hidden=True)
def test_save_load_weights_only(submission, saved_files):
    run = saved_files["runs"][0]
    what = f"the file `save(model, {run['path']!r})` wrote"
    data = eval_in_worker(submission, _READ_FILE, what=what, path=run["path"])
    if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8 or data.numel() == 0:
        raise CheckFailure(f"{what} is empty or missing, expected torch.save(model.state_dict(), path)")
    try:
        state = torch.load(io.BytesIO(data.numpy().tobytes()), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the message is what the student needs
        first = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().split("\n")[0].split(". ")[0][:200].rstrip(".")
        raise CheckFailure(f"torch.load(path, weights_only=True) cannot read {what} ({type(exc).__name__}: {first}); expected a "
                           "state_dict: save model.state_dict(), not the whole pickled model") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckFailure(f"torch.load(path, weights_only=True) of {what} gave {describe_value(state)}, expected the "
                           "model's state_dict (a dict of tensors)")
    expected = _state_dict(submission, run["model"])
    if sorted(state) != sorted(expected):
        raise CheckFailure(f"{what} holds the keys {sorted(state)}, expected the model's state_dict keys {sorted(expected)}")
    for k, v in expected.items():
        assert_close(state[k], v, what=f"{what}: entry {k!r}", rtol=0, atol=0)
