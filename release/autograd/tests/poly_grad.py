"""Public checks of question `poly_grad` of assignment `autograd`, for `grader.check("poly_grad")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'poly_grad'
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
# ---- from graders/assignments/autograd.py: the public checks of 'poly_grad' and what they use ----
import torch
assert_shape = _graders_modules['graders.checks'].assert_shape
assert_grad_close = _graders_modules['graders.checks.grad'].assert_grad_close
F64 = torch.float64

def _poly_derivative(coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """p'(x) = Σ i·cᵢ·x^(i-1), elementwise, in float64 (the analytic reference)."""
    c = coeffs.to(F64)
    x64 = x.to(F64)
    out = torch.zeros_like(x64)
    for i in range(1, c.numel()):
        out = out + i * c[i] * x64 ** (i - 1)
    return out

def _poly_what(coeffs: torch.Tensor, x: torch.Tensor) -> str:
    return f"`poly_grad(coeffs, x)` with coeffs {[round(float(c), 3) for c in coeffs]} and x of shape {tuple(x.shape)}"

def _check_poly(submission, coeffs: torch.Tensor, x: torch.Tensor) -> None:
    what = _poly_what(coeffs, x)
    got = submission.poly_grad(coeffs, x)
    assert_shape(got, x.shape, what=what, hint="the gradient of sum(p(x)) with respect to x has the shape of x")
    assert_grad_close(got, _poly_derivative(coeffs, x), what=what, rtol=1e-7, atol=1e-9, factors=(),
                      hint="element i of the result is p'(x[i]) = Σ k·coeffs[k]·x[i]**(k-1)")

@test_case(name='poly_grad_values', points=0.5, hidden=False)
@_graders_rt.strict
def test_poly_grad_values(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_poly(submission, torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=F64), torch.linspace(-2, 2, 9, dtype=F64))

_graders_fixtures = {}
