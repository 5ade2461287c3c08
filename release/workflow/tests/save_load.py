"""Public checks of question `save_load` of assignment `workflow`, for `grader.check("save_load")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'save_load'
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
# ---- from graders/assignments/workflow.py: the public checks of 'save_load' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
assert_close = _graders_modules['graders.checks'].assert_close
describe_value = _graders_modules['graders.checks'].describe_value

def _make_model(submission, seed: int):
    """A fresh LinearRegressionModel() in the worker (torch seeded there first)."""
    return submission.call("LinearRegressionModel", seed=seed)

def _check_roundtrip(submission, run: dict, X: torch.Tensor) -> None:
    loaded = submission.load(run["path"])
    if getattr(loaded, "type_name", None) != "LinearRegressionModel":
        looks_like_state = type(loaded) is dict or getattr(loaded, "type_name", None) in ("OrderedDict", "dict")
        raise CheckFailure(f"`load({run['path']!r})` returned {describe_value(loaded)}, expected a LinearRegressionModel"
                           + (": that is the state_dict itself; create a LinearRegressionModel() and call its "
                              "load_state_dict(...) with it" if looks_like_state else ""))
    what = f"the model returned by `load({run['path']!r})`"
    got = loaded(X)
    assert_close(got, run["out"], what=what, rtol=0, atol=0,
                 hint="identical predictions to the saved model: load its state_dict into a new LinearRegressionModel")

@test_case(name='save_load_roundtrip', points=1.0, hidden=False)
@_graders_rt.strict
def test_save_load_roundtrip(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    model = _make_model(submission, 0)
    X = torch.linspace(-2, 2, 7).reshape(7, 1)
    path = "graders_public_model.pt"
    submission.save(model, path)
    _check_roundtrip(submission, {"path": path, "out": model(X)}, X)

_graders_fixtures = {}
