"""Shared fixtures: the launcher tests grade with, and the course root."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def course_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def launcher():  # type: ignore[no-untyped-def]
    """bubblewrap where it works (as in production), else the plain launcher; never a warning."""
    try:
        from graders.sandbox.bwrap import BwrapLauncher, bwrap_problem

        if bwrap_problem() is None:
            return BwrapLauncher()
    except ImportError:
        pass
    from graders.sandbox.plain import PlainLauncher

    return PlainLauncher()


@pytest.fixture(autouse=True, scope="module")
def _close_in_process_judges():  # type: ignore[no-untyped-def]
    """`autograde` keeps one warm judge (and its zygote) per process for reuse, closed at exit; a test
    module that graded in-process closes them, so later modules (the red team's survivor checks) start clean."""
    yield
    from graders.autograde import shutdown_judges

    shutdown_judges()
