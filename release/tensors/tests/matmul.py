"""Public checks of question `matmul` of assignment `tensors`, for `grader.check("matmul")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'matmul'
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

_graders_support = _graders_load('_graders_selfcheck_tensors')
_graders_rt, _graders_modules = _graders_support.require('1538c7994b30'), _graders_support.modules
_graders_config = {'assignment': 'tensors', 'call_timeout': 30.0}
# ---- from graders/assignments/tensors.py: the public checks of 'matmul' and what they use ----
import torch
assert_close = _graders_modules['graders.checks'].assert_close
assert_dtype = _graders_modules['graders.checks'].assert_dtype
assert_shape = _graders_modules['graders.checks'].assert_shape

def _check_matmul(submission, a: torch.Tensor, b: torch.Tensor, *, rtol: float = 1e-5) -> None:
    what = f"`matmul(a, b)` with a {tuple(a.shape)} and b {tuple(b.shape)}"
    got = submission.matmul(a, b)
    n, m = a.shape[0], b.shape[1]
    assert_shape(got, (n, m), what=what, hint="the result of (n, k) @ (k, m) is (n, m)")
    assert_dtype(got, a.dtype, what=what, hint="keep the dtype of the inputs")
    assert_close(got, a @ b, what=what, rtol=rtol, atol=1e-6 if a.dtype == torch.float32 else 1e-12)

@test_case(name='matmul_small', points=1.0, hidden=False)
@_graders_rt.strict
def test_matmul_small(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    g = torch.Generator().manual_seed(0)
    _check_matmul(submission, torch.randn(3, 4, generator=g), torch.randn(4, 5, generator=g))

_graders_fixtures = {}
