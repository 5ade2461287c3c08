"""Public checks of question `predict` of assignment `workflow`, for `grader.check("predict")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'predict'
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

_graders_support = _graders_load('_graders_selfcheck_workflow')
_graders_rt, _graders_modules = _graders_support.require('fead9bf7cc81'), _graders_support.modules
_graders_config = {'assignment': 'workflow', 'call_timeout': 30.0}
# ---- from graders/assignments/workflow.py: the public checks of 'predict' and what they use ----
import torch
assert_close = _graders_modules['graders.checks'].assert_close
assert_shape = _graders_modules['graders.checks'].assert_shape
eval_in_worker = _graders_modules['graders.checks.grad'].eval_in_worker
assert_no_graph = _graders_modules['graders.checks.grad'].assert_no_graph

def _judge_linear(submission, weight: float, bias: float):
    """An nn.Linear(1, 1) in the worker with parameters the judge chose (not the student's class)."""
    return eval_in_worker(
        submission, "(lambda m: (m.weight.data.fill_(w), m.bias.data.fill_(b), m)[2])(torch.nn.Linear(1, 1))",
        what="the grader's model", w=float(weight), b=float(bias))

def _check_predict_values(submission, w: float, b: float, X: torch.Tensor) -> None:
    model = _judge_linear(submission, w, b)
    what = f"`predict(model, X)` with X of shape {tuple(X.shape)}"
    got = submission.predict(model, X)
    assert_shape(got, X.shape, what=what, hint="the model's output for every row of X")
    assert_close(got, w * X.detach() + b, what=what, rtol=1e-5, atol=1e-6, hint="the same values as model(X)")

def _check_predict_graph(submission, X: torch.Tensor) -> None:
    model = _judge_linear(submission, 0.5, -1.0)
    got = submission.predict(model, X)
    assert_no_graph(got, what=f"`predict(model, X)` with X of shape {tuple(X.shape)}",
                    hint="compute the predictions inside `with torch.inference_mode():` (or torch.no_grad())")

@test_case(name='predict_values', points=0.5, hidden=False)
@_graders_rt.strict
def test_predict_values(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_predict_values(submission, 2.0, -0.5, torch.linspace(-1, 1, 6).reshape(6, 1))

@test_case(name='predict_no_graph', points=0.5, hidden=False)
@_graders_rt.strict
def test_predict_no_graph(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_predict_graph(submission, torch.linspace(0, 1, 4).reshape(4, 1))

_graders_fixtures = {}
