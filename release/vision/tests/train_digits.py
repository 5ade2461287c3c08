"""Public checks of question `train_digits` of assignment `vision`, for `grader.check("train_digits")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'train_digits'
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

_graders_support = _graders_load('_graders_selfcheck_vision')
_graders_rt, _graders_modules = _graders_support.require('a97424cc00ce'), _graders_support.modules
_graders_config = {'assignment': 'vision', 'call_timeout': 60.0}
# ---- from graders/assignments/vision.py: the public checks of 'train_digits' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
assert_shape = _graders_modules['graders.checks'].assert_shape
logits_of = _graders_modules['graders.checks.model'].logits_of
digits_split = _graders_modules['graders.checks.model'].digits_split
call_limited = _graders_modules['graders.checks.model'].call_limited
require_module = _graders_modules['graders.checks.model'].require_module
describe_value = _graders_modules['graders.checks.tensors'].describe_value
TRAIN_SECONDS = 60  # COURSE.md: at most 60 s on one CPU core

def _check_logits(submission, model, x: torch.Tensor, what: str) -> torch.Tensor:
    out = logits_of(submission, model, x)
    assert_shape(out, (x.shape[0], 10), what=what, hint="one row of 10 logits (one per digit) for each image")
    if not out.is_floating_point():
        raise CheckFailure(f"{what} returned {describe_value(out)}, expected float logits")
    if not bool(torch.isfinite(out).all()):
        raise CheckFailure(f"{what} returned non-finite logits (nan or inf)")
    return out
SMALL_TRAIN = 200  # images of the public self-check's quick run

def small_run(submission, device):
    """A quick public run on 200 visible training images: is a model on `device` returned?"""
    data = digits_split(0)
    try:
        model = call_limited(submission, "train_digits", data.X_train[:SMALL_TRAIN], data.y_train[:SMALL_TRAIN], device,
                             timeout=TRAIN_SECONDS, seed=0)
        require_module(submission, model, what=f"`train_digits(X, y, {device!r})` on {SMALL_TRAIN} images",
                       expected="the trained DigitsCNN")
        return model, None
    except Exception as exc:  # reported by the checks below
        return None, exc

@test_case(name='train_digits_interface', points=0.0, hidden=False)
@_graders_rt.strict
def test_train_digits_interface(env):
    small_run, submission, = _graders_rt.fixtures(env, ('small_run', 'submission'), _graders_fixtures, _graders_config)
    """No points: shows early that `train_digits` returns a model giving 10 logits per image."""
    model, error = small_run
    if error is not None:
        raise error
    _check_logits(submission, model, digits_split(0).X_test[:5], f"the model `train_digits` returned after {SMALL_TRAIN} images, called on 5 images,")

_graders_fixtures = {'small_run': _graders_rt.fixture('small_run', small_run, ('submission', 'device'), 'module', False)}
