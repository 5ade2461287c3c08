"""Public checks of question `one_hot` of assignment `tensors`, for `grader.check("one_hot")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'one_hot'
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
# ---- from graders/assignments/tensors.py: the public checks of 'one_hot' and what they use ----
import torch
assert_close = _graders_modules['graders.checks'].assert_close
assert_dtype = _graders_modules['graders.checks'].assert_dtype
assert_shape = _graders_modules['graders.checks'].assert_shape

def _check_one_hot(submission, labels: torch.Tensor, c: int) -> None:
    what = f"`one_hot(labels, {c})` with labels {labels.tolist()}"
    got = submission.one_hot(labels, c)
    assert_shape(got, (labels.shape[0], c), what=what, hint="one row per label, one column per class")
    assert_dtype(got, torch.float32, what=what)
    assert_close(got, torch.nn.functional.one_hot(labels, c).float(), what=what, rtol=0, atol=0)

@test_case(name='one_hot_small', points=1.0, hidden=False)
@_graders_rt.strict
def test_one_hot_small(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_one_hot(submission, torch.tensor([0, 2, 1, 2]), 3)

_graders_fixtures = {}
