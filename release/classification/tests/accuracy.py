"""Public checks of question `accuracy` of assignment `classification`, for `grader.check("accuracy")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'accuracy'
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
# ---- from graders/assignments/classification.py: the public checks of 'accuracy' and what they use ----
import math
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
describe_value = _graders_modules['graders.checks.tensors'].describe_value

def _check_accuracy(submission, y_true: torch.Tensor, y_pred: torch.Tensor, label: str) -> None:
    what = f"`accuracy(y_true, y_pred)` for {label}"
    got = submission.accuracy(y_true, y_pred)
    exp = float((y_true == y_pred).double().mean())
    if isinstance(got, torch.Tensor):
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected the Python float {exp:g}: use `.item()`")
    if type(got) not in (float, int):
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected the float {exp:g}")
    if not math.isclose(float(got), exp, rel_tol=1e-6, abs_tol=1e-9):
        hint = ""
        if math.isclose(float(got), 100 * exp, rel_tol=1e-6, abs_tol=1e-9) and exp > 0:
            hint = ": accuracy is a fraction in [0, 1], not a percentage"
        elif math.isclose(float(got), exp * y_true.numel(), rel_tol=1e-6, abs_tol=1e-9) and exp > 0:
            hint = ": divide the number of correct predictions by the number of predictions"
        raise CheckFailure(f"{what} returned {float(got):g}, expected {exp:g}{hint}")

@test_case(name='accuracy_small', points=0.5, hidden=False)
@_graders_rt.strict
def test_accuracy_small(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_accuracy(submission, torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 0]), "4 labels, 2 of them right")

_graders_fixtures = {}
