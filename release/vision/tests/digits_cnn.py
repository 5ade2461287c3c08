"""Public checks of question `digits_cnn` of assignment `vision`, for `grader.check("digits_cnn")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'digits_cnn'
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
# ---- from graders/assignments/vision.py: the public checks of 'digits_cnn' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
assert_shape = _graders_modules['graders.checks'].assert_shape
logits_of = _graders_modules['graders.checks.model'].logits_of
require_module = _graders_modules['graders.checks.model'].require_module
has_module = _graders_modules['graders.checks.model'].has_module
parameter_count = _graders_modules['graders.checks.model'].parameter_count
describe_value = _graders_modules['graders.checks.tensors'].describe_value
MAX_PARAMETERS = 100_000

def _fresh_cnn(submission):
    model = submission.DigitsCNN()
    require_module(submission, model, what="`DigitsCNN()`", expected="a DigitsCNN")
    return model

def _check_logits(submission, model, x: torch.Tensor, what: str) -> torch.Tensor:
    out = logits_of(submission, model, x)
    assert_shape(out, (x.shape[0], 10), what=what, hint="one row of 10 logits (one per digit) for each image")
    if not out.is_floating_point():
        raise CheckFailure(f"{what} returned {describe_value(out)}, expected float logits")
    if not bool(torch.isfinite(out).all()):
        raise CheckFailure(f"{what} returned non-finite logits (nan or inf)")
    return out

@test_case(name='digits_cnn_output_shape', points=1.0, hidden=False)
@_graders_rt.strict
def test_digits_cnn_output_shape(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    model = _fresh_cnn(submission)
    for n in (1, 7):
        _check_logits(submission, model, torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(n)),
                      f"a DigitsCNN called on a batch of {n} image{'s' if n > 1 else ''} (shape ({n}, 1, 8, 8))")

@test_case(name='digits_cnn_convolution', points=1.0, hidden=False)
@_graders_rt.strict
def test_digits_cnn_convolution(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    model = _fresh_cnn(submission)
    if not has_module(submission, model, "Conv2d"):
        raise CheckFailure("`DigitsCNN()` has no nn.Conv2d layer, expected at least one convolution: "
                           "a CNN learns small filters that slide over the image")

@test_case(name='digits_cnn_parameters', points=0.5, hidden=False)
@_graders_rt.strict
def test_digits_cnn_parameters(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    model = _fresh_cnn(submission)
    n = parameter_count(submission, model)
    if n > MAX_PARAMETERS:
        raise CheckFailure(f"`DigitsCNN()` has {n:,} parameters, expected at most {MAX_PARAMETERS:,}: "
                           "use fewer channels or pool before the linear layer")
    if n == 0:
        raise CheckFailure("`DigitsCNN()` has no parameters, expected learnable layers (nn.Conv2d, nn.Linear)")

_graders_fixtures = {}
