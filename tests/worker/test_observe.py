"""What the worker observes during a call: the forward pass layer by layer, the training loss.

Real torch modules and optimizers; the recorder (graders/worker/observe.py), the judge's validation
of what a worker reports (graders/judge/observed.py) and one real sandboxed worker session.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from graders.checks import CheckFailure, assert_shape
from graders.judge.observed import clean_curve, clean_trace, observed_from_reply
from graders.judge.session import StudentCodeError, WorkerSession
from graders.sandbox import Limits
from graders.worker.observe import MAX_TRACE_CHARS, LossCurve, Observation, render_trace


def _forward(model: nn.Module, x: torch.Tensor) -> tuple[dict | None, BaseException | None]:
    obs = Observation(["trace"])
    error = None
    try:
        with obs:
            model(x)
    except Exception as exc:  # noqa: BLE001
        error = exc
    return obs.report().get("trace"), error


class Mismatched(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def test_trace_of_a_layer_that_expects_other_features() -> None:
    data, error = _forward(Mismatched(), torch.randn(200, 2))
    assert isinstance(error, RuntimeError)
    text = render_trace(data)
    assert text.splitlines() == [
        "Mismatched.forward on a (200, 2) batch:",
        "  layers.0  Linear(2 → 16)  (200, 2)  → (200, 16)",
        "  layers.1  ReLU            (200, 16) → (200, 16)",
        "  layers.2  Linear(8 → 16)  (200, 16) → ✗ expects 8 input features, got 16",
    ]
    json.dumps(data, allow_nan=False)  # plain data: it crosses the wire as JSON


@pytest.mark.parametrize("layer, x, reason", [
    (nn.Conv2d(3, 8, 3), torch.randn(2, 1, 8, 8), "expects 3 input channels, got 1"),
    (nn.Conv2d(1, 8, 3), torch.randn(2, 64), "expects a 4-D input (N, C, H, W), got a 2-D one"),
    (nn.BatchNorm1d(10), torch.randn(4, 12), "expects 10 features (channels, dimension 1), got 12"),
    (nn.Embedding(5, 3), torch.tensor([1, 7]), "expects indices in 0..4, got 1..7"),
])
def test_failure_reasons_in_course_vocabulary(layer: nn.Module, x: torch.Tensor, reason: str) -> None:
    model = nn.Sequential(nn.Identity(), layer)
    data, error = _forward(model, x)
    assert error is not None and data is not None
    assert data["failed"]["path"] == "1" and data["failed"]["error"] == reason
    assert render_trace(data).splitlines()[-1].endswith("✗ " + reason)


def test_a_failure_in_the_models_own_code_and_a_caught_one() -> None:
    class Flattens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).view(-1, 999)

    data, error = _forward(Flattens(), torch.randn(4, 1, 8, 8))
    assert error is not None
    last = render_trace(data).splitlines()[-1]
    assert "(its own code)" in last and "Flattens" in last and "shape '[-1, 999]' is invalid" in last

    class Recovers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(2, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            try:
                return self.a(x)
            except RuntimeError:
                return self.b(x)

    data, error = _forward(Recovers(), torch.randn(5, 2))
    assert error is None and "failed" not in data
    assert "✗" not in render_trace(data)


def test_deep_models_show_the_first_and_last_layers_and_the_failing_one() -> None:
    blocks = [nn.Sequential(nn.Linear(32, 32), nn.ReLU()) for _ in range(40)]
    model = nn.Sequential(*blocks, nn.Linear(32, 10), nn.Conv2d(3, 8, 3))
    data, error = _forward(model, torch.randn(4, 32))
    assert error is not None
    text = render_trace(data)
    lines = text.splitlines()
    assert len(text) <= MAX_TRACE_CHARS and len(lines) <= 14
    assert lines[1].lstrip().startswith("0.0 ") and "… 71 more layers …" in text
    assert lines[-2].lstrip().startswith("40 ") and lines[-1].lstrip().startswith("41 ")
    assert "expects a 4-D input" in lines[-1]


def test_loss_curve_of_a_training_loop_and_of_a_diverging_one() -> None:
    torch.manual_seed(0)
    X = torch.randn(64, 2)
    y = (X[:, :1] > 0).float()
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    curve = LossCurve()
    with curve:
        for _ in range(1000):
            loss = nn.functional.binary_cross_entropy_with_logits(model(X), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    d = curve.data()
    assert d is not None and d["per"] == "step" and d["steps"] == 1000
    assert 200 <= len(d["x"]) <= 400 and d["x"][0] == 1 and d["first_nonfinite"] is None
    assert d["loss"][-1] < d["loss"][0] and d["last"] < d["first"]
    json.dumps(d, allow_nan=False)
    assert torch.autograd.backward.__module__ == "torch.autograd"  # restored

    w = torch.tensor([1.0], requires_grad=True)
    curve = LossCurve()
    with curve:
        for step in range(20):  # manual updates, no optimizer: one point per backward; NaN from the 17th
            loss = (w * torch.tensor(1.0 if step < 16 else float("nan"))).sum()
            loss.backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
    d = curve.data()
    assert d is not None and d["per"] == "backward" and d["first_nonfinite"] == 17
    assert d["loss"][-1] is None and d["last"] is None


def test_the_judge_keeps_only_valid_observations() -> None:
    good = {"model": "M", "input": "(2, 3)", "head": [{"path": "0", "layer": "Linear(3 → 1)", "in": "(2, 3)", "out": "(2, 1)"}],
            "tail": [], "count": 1}
    assert clean_trace(good)["head"][0]["layer"] == "Linear(3 → 1)"
    forged = {"model": "M\x1b[31m" + "x" * 5000, "head": [{"path": 1, "layer": ["x"]}, "row"] * 500, "count": -4}
    cleaned = clean_trace(forged)
    assert cleaned is not None and len(cleaned["model"]) <= 48 and "\x1b" not in cleaned["model"]
    assert len(cleaned["head"]) <= 64 and all(r["path"] == "" for r in cleaned["head"])
    assert len(render_trace(cleaned)) <= MAX_TRACE_CHARS
    ok = {"per": "step", "steps": 10, "x": [1, 5], "loss": [0.7, None], "first_nonfinite": 5, "first": 0.7, "last": None}
    assert clean_curve(ok) == ok
    for bad in ({**ok, "x": [5, 1]}, {**ok, "loss": [0.7, "nan"]}, {**ok, "x": [1, 99]}, {**ok, "steps": True},
                {**ok, "x": list(range(1, 1000)), "loss": [0.1] * 999}, {**ok, "loss": [math.inf, 1.0]}):
        assert clean_curve(bad) is None, bad
    seen = observed_from_reply({"observed": {"trace": good, "curve": ok}}, "`f`")
    assert seen is not None and seen.trace.startswith("M.forward on a (2, 3) batch:") and seen.curve == ok
    assert observed_from_reply({"observed": "junk"}, "`f`") is None


CELLS = [
    "import torch\nfrom torch import nn",
    '''class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(8, 16))
    def forward(self, x):
        return self.layers(x)

class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
    def forward(self, x):
        return self.fc(x)

def train(X, y):
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(120):
        loss = nn.functional.mse_loss(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model''',
]


def test_a_worker_reports_traces_and_curves_to_the_judge(launcher) -> None:  # type: ignore[no-untyped-def]
    with WorkerSession(launcher=launcher, limits=Limits(cell_timeout=60, call_timeout=30), cells=CELLS) as session:
        assert [o.status for o in session.start()] == ["ok", "ok"]
        with pytest.raises(StudentCodeError) as info:
            session.call("Net")(torch.randn(5, 2))
        assert info.value.trace.endswith("✗ expects 8 input features, got 16")
        assert str(info.value).endswith(info.value.trace)  # the message a check shows carries it
        out = session.call("Wide")(torch.randn(5, 2))
        with pytest.raises(CheckFailure) as failed:
            assert_shape(out, (5, 1), what="a Wide model called on 5 points")
        assert failed.value.trace.startswith("Wide.forward on a (5, 2) batch:") and "fc" in failed.value.trace
        X = torch.randn(32, 2)
        session.call("train", X, X[:, :1] * 2)
        curve = session.observations[-1].curve
        assert curve is not None and curve["steps"] == 120 and curve["per"] == "step"
        assert curve["loss"][-1] < curve["loss"][0]


def test_the_self_check_runtime_records_traces_in_the_students_kernel() -> None:
    """grader.check runs public checks in the student's kernel through NotebookSubmission: same traces."""
    from graders.selfcheck import NotebookSubmission
    from graders.selfcheck import StudentCodeError as KernelError

    env: dict = {}
    exec(CELLS[0] + "\n" + CELLS[1], env)  # the notebook's globals, as otter passes them
    sub = NotebookSubmission(env)
    with pytest.raises(KernelError) as info:
        sub.Net()(torch.randn(5, 2))
    assert str(info.value).endswith("layers.2  Linear(8 → 16)  (5, 16) → ✗ expects 8 input features, got 16")
    out = sub.Wide()(torch.randn(5, 2))
    with pytest.raises(CheckFailure) as failed:
        assert_shape(out, (5, 1), what="a Wide model called on 5 points")
    assert str(failed.value).splitlines()[1:] == ["Wide.forward on a (5, 2) batch:", "  fc    Linear(2 → 2)  (5, 2) → (5, 2)"]
