"""Cells behave as in Jupyter's kernel, in a worker started by the launcher and in one forked by the zygote.

Magics work; shell escapes and installs do not run but do not stop the cell (a note on its stderr);
matplotlib's inline backend; `input()` raises at once (no keyboard); a failing cell reports the line
it stopped at. Both ways of starting a worker must give the same outcomes.
"""

from __future__ import annotations

import re

import pytest

from graders.judge.session import WorkerSession
from graders.sandbox.limits import Limits

CELLS = [
    "%matplotlib inline\nmagic_ok = 1",
    "!nvidia-smi\nfiles = !ls\nshell_ok = files == []",
    "%%bash\necho SHOULD-NOT-RUN",
    "%%script python3\nprint('SHOULD-NOT-RUN')",
    "%pip install tqdm\n%sx ls\npip_ok = 1",
    "%%time\ntimed = sum(range(10))",
    "%timeit -n1 -r1 sum(range(10))",
    "%config InlineBackend.figure_format = 'retina'\n%load_ext autoreload\n%autoreload 2\nconfig_ok = 1",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nbackend = plt.get_backend()",
    "display({'shown': 1})",
    "answer = input('Your name? ')",
    "import getpass\npw = getpass.getpass()",
    "x = 1\ny = 2\nraise ValueError('third line')",
    "%%time\na = 1\nraise KeyError('inside time')",
    "%matplotlib qt\nqt_ok = 1",
    "%autosave 60\n%gui qt\nfront_ok = 1",
    "print(magic_ok, shell_ok, pip_ok, timed, config_ok, backend, qt_ok, front_ok)",
]
NOTE = "[not run when grading]"


def _outcomes(launcher) -> list[tuple[str, str, str, str | None, int | None]]:  # type: ignore[no-untyped-def]
    with WorkerSession(launcher=launcher, limits=Limits(cell_timeout=30, call_timeout=10), cells=CELLS) as session:
        outs = session.start()
    digits = re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?( ?(ns|us|µs|ms|s)\b)?")  # timings (and their units) differ from run to run
    return [(o.status, digits.sub("N", o.stdout), o.stderr, o.error, o.line) for o in outs]


@pytest.fixture(scope="module")
def launched(launcher):  # type: ignore[no-untyped-def]
    return _outcomes(launcher)


@pytest.fixture(scope="module")
def forked():  # type: ignore[no-untyped-def]
    from graders.sandbox.zygote import ZygoteLauncher, ZygoteUnavailable

    zygote = ZygoteLauncher(warn=False)
    try:
        zygote.start()
    except ZygoteUnavailable as exc:
        pytest.skip(f"no zygote here: {exc}")
    try:
        yield _outcomes(zygote)
    finally:
        zygote.close()


def test_cells_behave_as_in_jupyter(launched) -> None:  # type: ignore[no-untyped-def]
    status = [o[0] for o in launched]
    assert status == ["ok"] * 10 + ["error"] * 4 + ["ok"] * 3, list(zip(CELLS, status, [o[3] for o in launched]))
    by_cell = dict(zip(CELLS, launched))
    assert f"{NOTE} !nvidia-smi" in by_cell[CELLS[1]][2] and f"{NOTE} !ls" in by_cell[CELLS[1]][2]
    for cell in CELLS[2:4]:  # script magics start nothing
        assert "SHOULD-NOT-RUN" not in by_cell[cell][1] and NOTE in by_cell[cell][2]
    assert f"{NOTE} %pip install tqdm: packages are not installed" in by_cell[CELLS[4]][2]
    assert "Wall time: N\n" in by_cell[CELLS[5]][1] and "per loop" in by_cell[CELLS[6]][1]
    assert "<Figure size" in by_cell[CELLS[8]][1]  # shown at the end of the cell, as the inline backend does
    assert by_cell[CELLS[9]][1] == "{'shown': N}\n"
    for cell in CELLS[10:12]:
        assert by_cell[cell][3].startswith("StdinNotImplementedError: input() was called, but a notebook being graded has no one")
    assert (by_cell[CELLS[12]][3], by_cell[CELLS[12]][4]) == ("ValueError: third line", 3)
    assert (by_cell[CELLS[13]][3], by_cell[CELLS[13]][4]) == ("KeyError: 'inside time'", 3)
    assert f"{NOTE} %matplotlib qt: no screen when grading" in by_cell[CELLS[14]][2]
    assert f"{NOTE} %autosave 60" in by_cell[CELLS[15]][2] and f"{NOTE} %gui qt" in by_cell[CELLS[15]][2]
    assert re.fullmatch(r"N True N N N (inline|module://matplotlib_inline\.backend_inline) N N\n", by_cell[CELLS[16]][1])


def test_the_zygote_gives_the_same_outcomes(launched, forked) -> None:  # type: ignore[no-untyped-def]
    assert forked == launched
