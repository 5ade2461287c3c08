"""Public checks of question `sigmoid_fn` of assignment `autograd`, for `grader.check("sigmoid_fn")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'sigmoid_fn'
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
# ---- from graders/assignments/autograd.py: the public checks of 'sigmoid_fn' and what they use ----
import torch
assert_close = _graders_modules['graders.checks'].assert_close
assert_dtype = _graders_modules['graders.checks'].assert_dtype
assert_shape = _graders_modules['graders.checks'].assert_shape
describe_value = _graders_modules['graders.checks'].describe_value
assert_vjp = _graders_modules['graders.checks.grad'].assert_vjp
request_vjp = _graders_modules['graders.checks.grad'].request_vjp
F64 = torch.float64

def _sigmoid_vjp(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x.detach().to(F64))
    return s * (1 - s) * v.to(F64)

def _sigmoid_mistakes(x: torch.Tensor, v: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    s = torch.sigmoid(x.detach().to(F64))
    return [
        (s * (1 - s), "it equals σ(x)(1-σ(x)) without the upstream gradient: backward must return grad_output * σ(x)(1-σ(x))"),
        (s * v.to(F64), "it equals σ(x)·v: the derivative of σ is σ(x)(1-σ(x))"),
        (v.to(F64), "it equals the upstream gradient itself: multiply it by the local derivative σ(x)(1-σ(x))"),
    ]

def _check_sigmoid_forward(submission, x: torch.Tensor) -> None:
    what = f"`sigmoid(x)` for {describe_value(x)}"
    got = submission.sigmoid(x)
    assert_shape(got, x.shape, what=what, hint="sigmoid is applied elementwise")
    assert_dtype(got, x.dtype, what=what, hint="keep the dtype of the input")
    tol = (1e-10, 1e-12) if x.dtype == F64 else (1e-5, 1e-7)
    assert_close(got, torch.sigmoid(x), what=what, rtol=tol[0], atol=tol[1], hint="σ(x) = 1 / (1 + exp(-x))")

def _check_sigmoid_vjp(submission, x: torch.Tensor, v: torch.Tensor) -> None:
    assert_vjp(lambda x_, v_: request_vjp(submission, "sigmoid", x_, v_), x, v, _sigmoid_vjp, what="`sigmoid`",
               rtol=1e-8, atol=1e-12, mistakes=_sigmoid_mistakes(x, v), reference_name="σ(x)(1-σ(x))·v")

@test_case(name='sigmoid_fn_forward', points=0.5, hidden=False)
@_graders_rt.strict
def test_sigmoid_fn_forward(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_sigmoid_forward(submission, torch.linspace(-6, 6, 13, dtype=F64))

@test_case(name='sigmoid_fn_vjp', points=0.5, hidden=False)
@_graders_rt.strict
def test_sigmoid_fn_vjp(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    x = torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0], dtype=F64)
    v = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0], dtype=F64)
    _check_sigmoid_vjp(submission, x, v)

_graders_fixtures = {}
