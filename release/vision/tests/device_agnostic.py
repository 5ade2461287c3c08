"""Public checks of question `device_agnostic` of assignment `vision`, for `grader.check("device_agnostic")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'device_agnostic'
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
# ---- from graders/assignments/vision.py: the public checks of 'device_agnostic' and what they use ----
CheckFailure = _graders_modules['graders.checks'].CheckFailure
same_device = _graders_modules['graders.checks.model'].same_device
tensor_devices = _graders_modules['graders.checks.model'].tensor_devices
call_limited = _graders_modules['graders.checks.model'].call_limited
digits_split = _graders_modules['graders.checks.model'].digits_split
require_module = _graders_modules['graders.checks.model'].require_module
TRAIN_SECONDS = 60  # COURSE.md: at most 60 s on one CPU core
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

@test_case(name='device_agnostic_interface', points=0.0, hidden=False)
@_graders_rt.strict
def test_device_agnostic_interface(env):
    small_run, submission, device, = _graders_rt.fixtures(env, ('small_run', 'submission', 'device'), _graders_fixtures, _graders_config)
    """No points: the quick run's model lives on `device`."""
    model, error = small_run
    if error is not None:
        raise error
    wrong = [d for d in tensor_devices(submission, model) if not same_device(d, device)]
    if wrong:
        raise CheckFailure(f"the model `train_digits` returned with device={device!r} has tensors on {', '.join(wrong)}, "
                           f"expected all on {device!r}: `model.to(device)`")

_graders_fixtures = {'small_run': _graders_rt.fixture('small_run', small_run, ('submission', 'device'), 'module', False)}
