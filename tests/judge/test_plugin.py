"""Our pytest plugin, tested with pytester: outcomes become CheckResults with the right status."""

from __future__ import annotations

import pytest

from graders.judge.plugin import RESULTS, JudgeContext, JudgePlugin
from graders.judge.session import CallTimeout, StudentCodeError

CHECKS = '''
from graders.checks import check, CheckFailure
from graders.judge.session import CallTimeout, StudentCodeError

@check(grade_id="q1", points=1)
def test_passes(submission):
    assert submission.answer == 42

@check(grade_id="q1", points=2, hidden=True)
def test_fails(submission, record_property):
    record_property("accuracy", 0.5)
    raise CheckFailure("`f` returned 3, expected 4")

@check(grade_id="q2", points=1)
def test_student_raised(submission):
    raise StudentCodeError("`f`", "ZeroDivisionError", "division by zero")

@check(grade_id="q2", points=1, hidden=True)
def test_hangs(submission):
    raise CallTimeout("`train`", 30)

@check(grade_id="q2", points=0.5)
def test_not_implemented(submission):
    raise StudentCodeError("`g`", "NotImplementedError", "")

def test_not_a_check():
    pass
'''


class Answers:
    answer = 42


def run(pytester: pytest.Pytester, *, public_only: bool = False) -> list:  # type: ignore[type-arg]
    pytester.makepyfile(test_checks=CHECKS)
    plugin = JudgePlugin(JudgeContext(submission=Answers(), device="cpu", public_only=public_only))
    got: dict[str, list] = {}  # type: ignore[type-arg]

    class Grab:
        def pytest_unconfigure(self, config: pytest.Config) -> None:
            got["r"] = config.stash[RESULTS]

    pytester.inline_run("-p", "no:cacheprovider", plugins=[plugin, Grab()])
    return got["r"]


def test_statuses_points_and_messages(pytester: pytest.Pytester) -> None:
    results = {r.id: r for r in run(pytester)}
    assert set(results) == {"q1::passes", "q1::fails", "q2::student_raised", "q2::hangs", "q2::not_implemented"}
    assert (results["q1::passes"].status, results["q1::passes"].points) == ("passed", 1.0)
    fails = results["q1::fails"]
    assert (fails.status, fails.points, fails.max_points, fails.hidden) == ("failed", 0.0, 2.0, True)
    assert fails.message == "`f` returned 3, expected 4" and fails.metrics == {"accuracy": 0.5}
    assert results["q2::student_raised"].status == "error"
    assert "ZeroDivisionError: division by zero" in results["q2::student_raised"].message
    assert results["q2::hangs"].status == "timeout" and "did not return within 30 s" in results["q2::hangs"].message
    assert "not implemented yet" in results["q2::not_implemented"].message


def test_public_only_drops_hidden_checks(pytester: pytest.Pytester) -> None:
    ids = {r.id for r in run(pytester, public_only=True)}
    assert ids == {"q1::passes", "q2::student_raised", "q2::not_implemented"}


def test_failures_are_reported_without_formatted_tracebacks(pytester: pytest.Pytester) -> None:
    """pytest's own report of a failing check is one line (the judge never lays out tracebacks);
    each check's phases live in its item's stash only while it runs."""
    from graders.judge.plugin import PHASES

    seen: dict[str, object] = {}

    class Look:
        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            if report.failed:
                seen[report.nodeid] = report.longrepr

        def pytest_collection_finish(self, session: pytest.Session) -> None:
            seen["items"] = session.items

    pytester.makepyfile(test_checks=CHECKS)
    plugin = JudgePlugin(JudgeContext(submission=Answers(), device="cpu"))
    pytester.inline_run("-p", "no:cacheprovider", plugins=[plugin, Look()])
    items = seen.pop("items")
    assert seen["test_checks.py::test_fails"] == "CheckFailure: `f` returned 3, expected 4"
    assert seen["test_checks.py::test_hangs"].startswith("CallTimeout: ")  # type: ignore[union-attr]
    assert len(seen) == 4 and all(isinstance(r, str) for r in seen.values())
    assert not any(PHASES in item.stash for item in items)  # type: ignore[attr-defined]


def test_exceptions_are_plain_classes() -> None:
    assert issubclass(CallTimeout, Exception) and issubclass(StudentCodeError, Exception)


def test_hidden_checks_never_repeat_what_the_students_exception_says() -> None:
    """An exception class or message the student chose could carry hidden inputs (or the seed) to the feedback."""
    from graders.judge.plugin import classify

    class _Info:
        def __init__(self, value: BaseException) -> None:
            self.value = value

    seedy = StudentCodeError("`train`", "HiddenSeed20261125", "inputs were [3.5, 1.25]", ["HiddenSeed20261125", "KeyError", "LookupError", "Exception"])
    status, message = classify(_Info(seedy), hidden=True)  # type: ignore[arg-type]
    assert status == "error" and message.startswith("`train` raised KeyError (in a hidden check the error's message is not shown")
    assert "20261125" not in message and "3.5" not in message
    own = StudentCodeError("`train`", "Leak", "x", ["Leak", "Exception2"])  # no class Python knows
    assert classify(_Info(own), hidden=True)[1].startswith("`train` raised an exception (")  # type: ignore[arg-type]
    # public checks keep the whole message: their inputs are public
    assert classify(_Info(seedy))[1] == "`train` raised HiddenSeed20261125: inputs were [3.5, 1.25]"  # type: ignore[arg-type]
