"""Public checks of question `describe` of assignment `tensors`, for `grader.check("describe")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'describe'
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
# ---- from graders/assignments/tensors.py: the public checks of 'describe' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
assert_equal = _graders_modules['graders.checks'].assert_equal

def _expect_describe(t: torch.Tensor) -> dict[str, object]:
    return {"shape": tuple(t.shape), "ndim": t.ndim, "dtype": str(t.dtype), "numel": t.numel()}

def _check_describe(submission, t: torch.Tensor, label: str) -> None:
    got = submission.describe(t)
    what = f"`describe` of {label}"
    if type(got) is not dict:
        raise CheckFailure(f"{what} returned {type(got).__name__}, expected a dict with keys shape, ndim, dtype, numel")
    exp = _expect_describe(t)
    missing = [k for k in exp if k not in got]
    if missing:
        raise CheckFailure(f"{what} has no key {missing[0]!r}; expected keys shape, ndim, dtype, numel")
    for key, value in exp.items():
        hint = {"shape": "a tuple of ints, like tuple(t.shape)", "dtype": "a string such as 'torch.float32': str(t.dtype)",
                "ndim": "the number of dimensions", "numel": "the number of elements"}[key]
        assert_equal(got[key], value, what=f"{what}[{key!r}]", hint=hint)

@test_case(name='describe_vector', points=0.5, hidden=False)
@_graders_rt.strict
def test_describe_vector(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_describe(submission, torch.arange(6, dtype=torch.float32), "a float32 vector of 6 elements")

_graders_fixtures = {}
