"""Public checks of question `matmul_shape` of assignment `tensors`, for `grader.check("matmul_shape")`. Generated
by `graders generate` from the course's checks; do not edit (it is overwritten). When your notebook is graded,
hidden checks also run, with other inputs; passing here means these public checks will pass at grading too."""
from __future__ import annotations
from otter.test_files import test_case

OK_FORMAT = False
name = 'matmul_shape'
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

_graders_support = _graders_load('_graders_selfcheck_tensors')
_graders_rt, _graders_modules = _graders_support.require('1538c7994b30'), _graders_support.modules
_graders_config = {'assignment': 'tensors', 'call_timeout': 30.0}
# ---- from graders/assignments/tensors.py: the public checks of 'matmul_shape' and what they use ----
import torch
CheckFailure = _graders_modules['graders.checks'].CheckFailure
assert_raises = _graders_modules['graders.checks'].assert_raises
works_on_valid_input = _graders_modules['graders.checks.tensors'].works_on_valid_input

def _reference_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(torch.matmul(torch.zeros(a), torch.zeros(b)).shape)
    except RuntimeError:
        return None

def _check_shapes(submission, pairs: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> None:
    for a, b in pairs:
        what = f"`matmul_shape({a}, {b})`"
        exp = _reference_shape(a, b)
        if exp is None:
            assert_raises(ValueError, lambda: submission.matmul_shape(a, b), what=what,
                          why="these shapes cannot be multiplied: torch.matmul refuses them")
            continue
        got = submission.matmul_shape(a, b)
        if type(got) is list:
            got = tuple(got)
        if type(got) is not tuple or any(type(x) is not int for x in got):
            raise CheckFailure(f"{what} returned {got!r}, expected the tuple of ints {exp}")
        if got != exp:
            raise CheckFailure(f"{what} returned {got}, expected {exp} (what torch.matmul gives)")

def _returns_shape(got, *, what: str) -> None:
    """A shape came back (a tuple or list of ints): the function works on valid input (its values are checked elsewhere)."""
    if type(got) not in (tuple, list) or any(type(x) is not int for x in got):
        raise CheckFailure(f"{what} returned a {type(got).__name__}, expected a tuple of ints")

@test_case(name='matmul_shape_2d', points=0.5, hidden=False)
@_graders_rt.strict
def test_matmul_shape_2d(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    _check_shapes(submission, [((3, 4), (4, 5)), ((1, 7), (7, 1))])

@test_case(name='matmul_shape_mismatch', points=0.5, hidden=False)
@_graders_rt.strict
def test_matmul_shape_mismatch(env):
    submission, = _graders_rt.fixtures(env, ('submission',), _graders_fixtures, _graders_config)
    works_on_valid_input(lambda: _returns_shape(submission.matmul_shape((3, 4), (4, 6)), what="`matmul_shape((3, 4), (4, 6))`"),
                         what="`matmul_shape((3, 4), (4, 6))`")
    _check_shapes(submission, [((3, 4), (5, 6))])

_graders_fixtures = {}
