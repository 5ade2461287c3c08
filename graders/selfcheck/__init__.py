"""Students' self-checks: otter-grader test files generated from the judge's *public* checks.

`graders generate` calls `write_tests(assignment=, release=, source=)`, which writes one otter test file per
question, `release/<a>/tests/<grade_id>.py`, and the support module they share,
`release/<a>/tests/_support/selfcheck.py`. In the release notebook `grader.check("<grade_id>")` runs a
question's file in the student's own kernel (where no trust is needed) with otter's pass/fail output,
and `grader.check_all()` runs them all. One source of truth: a test file holds the public check
functions of `graders/assignments/<a>.py` verbatim (only their decorator and signature are rewritten),
so a public check that passes in the notebook passes at grading.

    collect.py   which checks an assignment module has (grade_id, points, hidden, fixtures, parametrize)
    bundle.py    the scope-aware bundler: the top-level statements the public checks need, never a hidden one
    render.py    the test file of each question and the support module, shipped once per assignment
    strip.py     what the support module copies, without docstrings, comments and blank lines
    runtime.py   what runs in the student's kernel (copied into the support module): standard library and torch only

Fixtures in the student's kernel: `submission` (a `NotebookSubmission` over the notebook's globals,
with the same calling semantics as the judge's `Submission`: arguments are copied, results come
back as copies carrying `graders_meta`, non-data objects as handles, student exceptions as
`StudentCodeError`, `timeout=` and `seed=` honoured), `device`, `record_property`, `tmp_path`, and
any `@pytest.fixture` function of the assignment module (module/session-scoped ones are cached
while the notebook's definitions stay the same, so a training run is shared by `check_all`).
`@pytest.mark.parametrize` on a public check becomes one otter test case per parameter set. The
forward-trace recorder (graders/worker/observe.py) is shipped only when the source notebook builds
`nn.Module`s (`ships_trace`); without it the runtime records no trace and works the same.
"""

from __future__ import annotations

from .bundle import ALIASES, JUDGE_ONLY, RUNTIME_NAMES, SHARED_WITH_KERNEL
from .render import BUILTIN_FIXTURES, SUPPORT, build_files, build_test_files, ships_trace, write_tests
from .runtime import (
    CallTimeout,
    LocalObject,
    NotebookSubmission,
    PublicCheckFailed,
    SelfCheckOutdated,
    StudentCodeError,
    WorkerCrashed,
    check_version,
    fixtures,
    parametrized,
    strict,
)
from .strip import strip_code

__all__ = [
    "ALIASES", "BUILTIN_FIXTURES", "JUDGE_ONLY", "RUNTIME_NAMES", "SHARED_WITH_KERNEL", "SUPPORT",
    "build_files", "build_test_files", "ships_trace", "strip_code", "write_tests",
    "CallTimeout", "LocalObject", "NotebookSubmission", "PublicCheckFailed", "SelfCheckOutdated", "StudentCodeError",
    "WorkerCrashed", "check_version", "fixtures", "parametrized", "strict",
]
