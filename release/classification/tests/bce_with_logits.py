"""Public checks of question `bce_with_logits` of assignment `classification`, for `grader.check("bce_with_logits")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'bce_with_logits'
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

_graders_support = _graders_load('_graders_selfcheck_classification')
_graders_rt, _graders_modules = _graders_support.require('49e082e5cedb'), _graders_support.modules
_graders_config = {'assignment': 'classification', 'call_timeout': 30.0}
# ---- from graders/assignments/classification.py: the public checks of 'bce_with_logits' and what they use ----
import torch
import torch.nn.functional as F
CheckFailure = _graders_modules['graders.checks'].CheckFailure
assert_close = _graders_modules['graders.checks'].assert_close
assert_shape = _graders_modules['graders.checks'].assert_shape

def _check_bce(submission, logits: torch.Tensor, targets: torch.Tensor, label: str, *, hint: str = "") -> None:
    what = f"`bce_with_logits(logits, targets)` for {label}"
    got = submission.bce_with_logits(logits, targets)
    exp = F.binary_cross_entropy_with_logits(logits.double(), targets.double())
    assert_shape(got, (), what=what, hint="the loss is the mean over all elements: a 0-D tensor")
    if got.is_floating_point() and not bool(torch.isfinite(got).all()):
        raise CheckFailure(f"{what} returned {float(got)}, expected {float(exp):.6g}" + (f": {hint}" if hint else ""))
    assert_close(got, exp, what=what, rtol=1e-4, atol=1e-5, hint=hint)

@test_case(name='bce_with_logits_small', points=1.0, hidden=False)
@_graders_rt.strict
def test_bce_with_logits_small(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    logits = torch.tensor([2.0, -1.0, 0.5, 0.0, -3.0])
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    _check_bce(submission, logits, targets, "5 moderate logits")

_graders_fixtures = {}
