"""Public checks of question `linear_model` of assignment `workflow`, for `grader.check("linear_model")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'linear_model'
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
# ---- from graders/assignments/workflow.py: the public checks of 'linear_model' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
describe_value = _graders_modules['graders.checks'].describe_value
assert_close = _graders_modules['graders.checks'].assert_close
assert_shape = _graders_modules['graders.checks'].assert_shape
eval_in_worker = _graders_modules['graders.checks.grad'].eval_in_worker
F32 = torch.float32

def _make_model(submission, seed: int):
    """A fresh LinearRegressionModel() in the worker (torch seeded there first)."""
    return submission.call("LinearRegressionModel", seed=seed)

def _state_dict(submission, model) -> dict:
    got = eval_in_worker(submission, "{str(k): v for k, v in m.state_dict().items()}", what="`LinearRegressionModel.state_dict()`", m=model)
    if type(got) is not dict:
        raise CheckFailure(f"`state_dict()` gave {describe_value(got)}, expected a mapping of names to tensors")
    return got

def _params_of(submission, model) -> tuple[torch.Tensor, torch.Tensor]:
    sd = _state_dict(submission, model)
    for name in ("weight", "bias"):
        if name not in sd:
            raise CheckFailure(f"`LinearRegressionModel().state_dict()` has keys {sorted(sd)}, expected a parameter named "
                               f"{name!r} (self.{name} = nn.Parameter(...))")
    return sd["weight"], sd["bias"]

@test_case(name='linear_model_forward', points=0.5, hidden=False)
@_graders_rt.strict
def test_linear_model_forward(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    model = _make_model(submission, 0)
    x = torch.arange(5, dtype=F32).reshape(5, 1) / 2
    what = "`LinearRegressionModel()(x)` with x of shape (5, 1)"
    out = model(x)
    assert_shape(out, (5, 1), what=what, hint="one prediction per row of x")
    w, b = _params_of(submission, model)
    assert_close(out, w.reshape(-1)[0] * x + b.reshape(-1)[0], what=what, rtol=1e-6, atol=1e-6, hint="forward is weight * x + bias")

@test_case(name='linear_model_state_dict', points=0.5, hidden=False)
@_graders_rt.strict
def test_linear_model_state_dict(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    sd = _state_dict(submission, _make_model(submission, 0))
    if sorted(sd) != ["bias", "weight"]:
        raise CheckFailure(f"`LinearRegressionModel().state_dict()` has keys {sorted(sd)}, expected exactly ['bias', 'weight']")
    for name in ("weight", "bias"):
        assert_shape(sd[name], (1,), what=f"`state_dict()[{name!r}]`", hint="one number, as in nn.Parameter(torch.randn(1))")

_graders_fixtures = {}
