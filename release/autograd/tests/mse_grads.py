"""Public checks of question `mse_grads` of assignment `autograd`, for `grader.check("mse_grads")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'mse_grads'
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

_graders_support = _graders_load('_graders_selfcheck_autograd')
_graders_rt, _graders_modules = _graders_support.require('a74534ddc964'), _graders_support.modules
_graders_config = {'assignment': 'autograd', 'call_timeout': 30.0}
# ---- from graders/assignments/autograd.py: the public checks of 'mse_grads' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
describe_value = _graders_modules['graders.checks'].describe_value
assert_grad_close = _graders_modules['graders.checks.grad'].assert_grad_close
F64 = torch.float64

def _mse_reference(w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The judge's own autograd on the reference formula."""
    w_, b_ = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    loss = ((X @ w_ + b_ - y) ** 2).mean()
    dw, db = torch.autograd.grad(loss, (w_, b_))
    return loss.detach(), dw, db
MSE_FACTORS = (
    (0.5, "it is half the expected gradient: the derivative of (ŷ - y)² is 2(ŷ - y), is the factor 2 missing?"),
    (-1.0, "it has the wrong sign: differentiate with the residual (ŷ - y), prediction minus target"),
)

def _mse_factors(n: int) -> tuple[tuple[float, str], ...]:
    extra = ((float(n), "it is N times the expected gradient: the loss is a mean, divide the sum by N"),
             (0.5 * n, "it is N/2 times the expected gradient: divide by N (the mean) and keep the factor 2"))
    return MSE_FACTORS + (extra if n > 1 else ())

def _check_mse(submission, w, b, X, y) -> None:
    n, d = X.shape
    what = f"`mse_grads(w, b, X, y)` with X of shape {tuple(X.shape)}"
    got = submission.mse_grads(w, b, X, y)
    if type(got) not in (tuple, list) or len(got) != 3:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a tuple (loss, dw, db)")
    loss, dw, db = got
    ref_loss, ref_dw, ref_db = _mse_reference(w, b, X, y)
    assert_grad_close(loss, ref_loss, what=f"{what}: loss", rtol=1e-8, atol=1e-8, factors=(),
                      hint="loss = mean((X @ w + b - y)**2)", shape_hint="the mean is a 0-D tensor")
    assert_grad_close(dw, ref_dw, what=f"{what}: dw", rtol=1e-8, atol=1e-8, factors=_mse_factors(n),
                      shape_hint="dw has the shape (D,) of w")
    assert_grad_close(db, ref_db, what=f"{what}: db", rtol=1e-8, atol=1e-8, factors=_mse_factors(n),
                      shape_hint="db is a 0-D tensor like b")

@test_case(name='mse_grads_small', points=1.0, hidden=False)
@_graders_rt.strict
def test_mse_grads_small(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    X = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5], [-2.0, 1.0]], dtype=F64)
    w = torch.tensor([0.5, -1.0], dtype=F64)
    b = torch.tensor(0.25, dtype=F64)
    y = torch.tensor([1.0, 0.0, 2.0, -1.0], dtype=F64)
    _check_mse(submission, w, b, X, y)

_graders_fixtures = {}
