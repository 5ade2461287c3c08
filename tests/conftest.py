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
    from graders.sandbox.launch import PlainLauncher

    return PlainLauncher()
