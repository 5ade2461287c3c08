"""Public checks of question `circle_model` of assignment `classification`, for `grader.check("circle_model")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'circle_model'
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
# ---- from graders/assignments/classification.py: the public checks of 'circle_model' and what they use ----
import torch
assert_shape = _graders_modules['graders.checks'].assert_shape
check_labels = _graders_modules['graders.checks.model'].check_labels
logits_of = _graders_modules['graders.checks.model'].logits_of
require_module = _graders_modules['graders.checks.model'].require_module

@test_case(name='circle_model_interface', points=0.0, hidden=False)
@_graders_rt.strict
def test_circle_model_interface(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    """No points: lets students see early that the pieces fit (the points are for accuracy)."""
    model = submission.CircleModel()
    require_module(submission, model, what="`CircleModel()`", expected="a CircleModel")
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, -0.8], [0.5, 0.5], [-1.0, 0.2]])
    out = logits_of(submission, model, x)
    assert_shape(out, (5, 1), what="a CircleModel called on 5 points of 2 features",
                 hint="2 features in, 1 logit out per example: the last layer is nn.Linear(..., 1)")
    pred = submission.predict_labels(model, x)
    check_labels(pred, 5, what="`predict_labels(model, X)` for 5 points")

_graders_fixtures = {}
