"""Public checks of question `two_layer_backward` of assignment `autograd`, for `grader.check("two_layer_backward")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'two_layer_backward'
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

_graders_support = _graders_load('_graders_selfcheck_autograd')
_graders_rt, _graders_modules = _graders_support.require('a74534ddc964'), _graders_support.modules
_graders_config = {'assignment': 'autograd', 'call_timeout': 30.0}
# ---- from graders/assignments/autograd.py: the public checks of 'two_layer_backward' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
describe_value = _graders_modules['graders.checks'].describe_value
assert_grad_close = _graders_modules['graders.checks.grad'].assert_grad_close
F64 = torch.float64

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))
_LAYER_KEYS = ("W1", "b1", "W2", "b2")

def _two_layer_data(g: torch.Generator, n: int, d: int, h: int, o: int) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(n, d, generator=g, dtype=F64), "W1": torch.randn(h, d, generator=g, dtype=F64) / d ** 0.5,
            "b1": torch.randn(h, generator=g, dtype=F64) * 0.5, "W2": torch.randn(o, h, generator=g, dtype=F64) / h ** 0.5,
            "b2": torch.randn(o, generator=g, dtype=F64) * 0.5, "y": torch.randn(n, o, generator=g, dtype=F64)}

def _two_layer_reference(data: dict[str, torch.Tensor], *, mask: bool = True, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Autograd on the reference network (in the judge). mask=False / scale: typical wrong variants for hints."""
    p = {k: data[k].detach().clone().requires_grad_() for k in _LAYER_KEYS}
    z = data["x"] @ p["W1"].T + p["b1"]
    a = torch.relu(z) if mask else z.detach().clamp(min=0) + (z - z.detach())  # no mask: ReLU's forward, identity's backward
    out = a @ p["W2"].T + p["b2"]
    loss = ((out - data["y"]) ** 2).mean() * scale
    grads = torch.autograd.grad(loss, [p[k] for k in _LAYER_KEYS])
    return dict(zip(_LAYER_KEYS, grads))

def _check_two_layer(submission, data: dict[str, torch.Tensor]) -> None:
    n, d = data["x"].shape
    h, o = data["W1"].shape[0], data["W2"].shape[0]
    what = f"`two_layer_backward` with N={n}, D={d}, H={h}, O={o}"
    got = submission.two_layer_backward(data["x"], data["W1"], data["b1"], data["W2"], data["b2"], data["y"])
    if type(got) is not dict:
        raise CheckFailure(f"{what} returned {describe_value(got)}, expected a dict with keys W1, b1, W2, b2")
    missing = [k for k in _LAYER_KEYS if k not in got]
    if missing:
        raise CheckFailure(f"{what} returned a dict without key {missing[0]!r}, expected keys W1, b1, W2, b2")
    ref = _two_layer_reference(data)
    no_mask = _two_layer_reference(data, mask=False)
    per_n = _two_layer_reference(data, scale=float(o)) if o > 1 else None
    for k in _LAYER_KEYS:
        mistakes = [(no_mask[k], "it matches the network without the ReLU's mask: multiply the gradient flowing back "
                                 "through the ReLU by (z > 0), where z = x @ W1.T + b1")] if k in ("W1", "b1") else []
        if per_n is not None:
            mistakes.append((per_n[k], f"it is O={o} times the expected gradient: the mean is over all N·O elements of out, "
                                       "divide by N·O, not by N"))
        assert_grad_close(got[k], ref[k], what=f"{what}: gradient {k!r}", rtol=1e-8, atol=1e-10, mistakes=mistakes,
                          shape_hint=f"the gradient of {k} has the shape of {k}")

@test_case(name='two_layer_backward_small', points=1.0, hidden=False)
@_graders_rt.strict
def test_two_layer_backward_small(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_two_layer(submission, _two_layer_data(_gen(0), 4, 3, 5, 2))

_graders_fixtures = {}
