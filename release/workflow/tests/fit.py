"""Public checks of question `fit` of assignment `workflow`, for `grader.check("fit")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'fit'
points = None

def _graders_load(key):
    import importlib.util, os, sys
    if key not in sys.modules:  # tests/_support/selfcheck.py, once per kernel
        # this file's folder: otter compiles it with its path, but first execs it without (its caller has `path`)
        here, frame = _graders_load.__code__.co_filename, sys._getframe(1)
        while not os.path.isfile(here) and frame is not None:
            here, frame = str(frame.f_locals.get('path', '')), frame.f_back
        path = os.path.join(os.path.dirname(os.path.abspath(here)), '_support', 'selfcheck.py')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path} is missing: it comes with the notebook; download the assignment again')
        spec = importlib.util.spec_from_file_location(key, path)
        spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
        sys.modules[key] = module
    return sys.modules[key]

_graders_support = _graders_load('_graders_selfcheck_workflow')
_graders_rt, _graders_modules = _graders_support.require('fead9bf7cc81'), _graders_support.modules
_graders_config = {'assignment': 'workflow', 'call_timeout': 30.0}
# ---- from graders/assignments/workflow.py: the public checks of 'fit' and what they use ----
import math
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
describe_value = _graders_modules['graders.checks'].describe_value
eval_in_worker = _graders_modules['graders.checks.grad'].eval_in_worker

def _judge_linear(submission, weight: float, bias: float):
    """An nn.Linear(1, 1) in the worker with parameters the judge chose (not the student's class)."""
    return eval_in_worker(
        submission, "(lambda m: (m.weight.data.fill_(w), m.bias.data.fill_(b), m)[2])(torch.nn.Linear(1, 1))",
        what="the grader's model", w=float(weight), b=float(bias))

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

@test_case(name='fit_returns_losses', points=1.0, hidden=False)
@_graders_rt.strict
def test_fit_returns_losses(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    X = torch.linspace(0, 1, 50).reshape(50, 1)
    y = 0.7 * X + 0.3
    losses, _params = _fit(submission, X, y, -0.2, 0.1, 50, 0.1, 0)
    what = "`fit(model, X, y, epochs=50, lr=0.1)` on the line y = 0.7x + 0.3"
    out = _losses(losses, 50, what, strict=True)
    if not out[-1] < out[0]:
        raise CheckFailure(f"{what}: the last loss {out[-1]:.4g} is not below the first {out[0]:.4g}, expected the loss to fall"
                           + _rise_hint(out))

_graders_fixtures = {}
