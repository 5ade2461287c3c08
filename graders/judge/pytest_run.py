"""One pytest run in the judge's process: an assignment's checks against one submission.

pytest's flags live in `judge.ini` (shipped in the package, passed with ``-c``); our plugin
(`plugin.JudgePlugin`) supplies the fixtures and turns each check's outcome into a CheckResult.
Nothing pytest prints is shown: the results are the output.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from ..errors import GradersError
from ..result import CheckResult
from .plugin import RESULTS, JudgeContext, JudgePlugin

JUDGE_INI = Path(__file__).resolve().parent / "judge.ini"


class _Results:
    """Keeps the plugin's results when pytest ends (they live in the config's stash until then)."""

    def __init__(self) -> None:
        self.results: list[CheckResult] = []

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.results = config.stash.get(RESULTS, [])


def run_check_module(module_path: Path, context: JudgeContext, *, name: str) -> list[CheckResult]:
    """Run the checks in `module_path` (the assignment `name`'s module) with pytest, in this process.

    Raises GradersError when pytest could not run them at all (the module does not import, say)."""
    plugin, grab = JudgePlugin(context), _Results()
    args = ["-c", str(JUDGE_INI), "--rootdir", str(module_path.parent), str(module_path)]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = pytest.main(args, plugins=[plugin, grab])
    if not grab.results and code not in (0, 1):
        raise GradersError(f"the checks of {name!r} could not run (pytest exit {int(code)}): {sink.getvalue()[-800:]}")
    return grab.results
