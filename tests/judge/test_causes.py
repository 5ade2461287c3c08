"""An undefined name is traced to the cell that stopped before defining it."""

from __future__ import annotations

from graders.judge.causes import RanCell, definition_lines, undefined_name, undefined_name_cause

MATPLOTLIB = "%matplotlib qt\nimport numpy as np\n\ndef accuracy(y_true, y_pred):\n    return (y_true == y_pred).float().mean().item()"


def test_the_message_names_the_cell_the_line_and_the_error() -> None:
    cells = [RanCell(0, "import torch", "ok"),
             RanCell(6, MATPLOTLIB, "error", "ImportError: Cannot load backend 'QtAgg'", 1)]
    assert undefined_name("name 'accuracy' is not defined in the notebook") == "accuracy"
    assert undefined_name_cause("accuracy", cells) == (
        "`accuracy` is not defined because cell 7 stopped at line 1 (`%matplotlib qt`): ImportError: Cannot load backend 'QtAgg'")


def test_only_a_cell_that_stopped_before_the_definition_is_the_cause() -> None:
    late = RanCell(3, "def f():\n    return 1\nraise ValueError('after')", "error", "ValueError: after", 3)
    assert undefined_name_cause("f", [late]) is None  # f was defined before the error: something else removed it
    assert undefined_name_cause("g", [late]) is None  # no cell defines g: "define it in the notebook" stands


def test_syntax_errors_timeouts_and_skipped_cells() -> None:
    broken = RanCell(1, "def f(:\n    pass", "error", "SyntaxError: invalid syntax (<ipython-input-3-abc>, line 1)", 1)
    assert definition_lines(broken.source, "f") == [1]
    assert undefined_name_cause("f", [broken]) == "`f` is not defined because cell 2 could not run at line 1 (`def f(:`): SyntaxError: invalid syntax"
    slow = RanCell(4, "import time\ntime.sleep(999)\nmodel = 1", "timeout", "the cell did not finish within 30 s", 2)
    assert undefined_name_cause("model", [slow]) == "`model` is not defined because cell 5 did not finish at line 2 (`time.sleep(999)`) (time limit)"
    gone = RanCell(5, "class Net:\n    pass", "skipped", "skipped: this cell hung or crashed the worker earlier")
    assert undefined_name_cause("Net", [gone]) == "`Net` is not defined because cell 6 was skipped (it hung or crashed the worker earlier)"
