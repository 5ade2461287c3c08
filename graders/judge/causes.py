"""Root causes for messages: when a check finds a name undefined, say which cell failed to define it.

A check that calls `accuracy` gets "name 'accuracy' is not defined" from the worker when the cell
that defines `accuracy` raised, hung or did not parse before reaching the definition. Telling the
student to "define it in the notebook" is then wrong: it is defined, in a cell that stopped. The
judge knows every cell's outcome (graders/grade.py hands them over in `JudgeContext.cells`), so
`undefined_name_cause` finds the cell whose code defines the name and says where and why it stopped:

    `accuracy` is not defined because cell 7 stopped at line 1 (`%matplotlib inline`): NotImplementedError: ...

Cell numbers count every cell of the notebook from 1, markdown included (as `graders check` lists them).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

_IPYTHON_FILE = re.compile(r" \(<ipython-input-[^>]*>, line \d+\)")
_UNDEFINED = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


@dataclass(frozen=True)
class RanCell:
    """One code cell the worker executed: where it is in the notebook, its code, what happened."""

    index: int  # 0-based position among all cells of the notebook
    source: str
    status: str  # ok | error | timeout | skipped
    error: str | None = None
    line: int | None = None


def undefined_name(message: str) -> str | None:
    m = _UNDEFINED.search(message or "")
    return m.group(1) if m else None


def _transformed(source: str) -> str:
    """The cell as Python (magics and `!` lines turned into calls, as IPython runs it)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return str(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - IPython cannot transform it: read it as it is
        return source


def definition_lines(source: str, name: str) -> list[int]:
    """Lines (1-based) of the cell where `name` is defined: def, class, assignment, import, for, with."""
    try:
        tree = ast.parse(_transformed(source))
    except (SyntaxError, ValueError):
        pat = re.compile(rf"^\s*(?:(?:async\s+)?def\s+{name}\b|class\s+{name}\b|{name}\s*(?::[^=]*)?=[^=]|(?:from\s+\S+\s+)?import\s+.*\b{name}\b)")
        return [i for i, ln in enumerate(source.splitlines(), 1) if pat.match(ln)]
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            lines.append(node.lineno)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    lines.append(node.lineno)
    return sorted(lines)


def _quote_line(source: str, line: int | None) -> str:
    if not line:
        return ""
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return f" at line {line}"
    text = lines[line - 1].strip()
    if len(text) > 60:
        text = text[:57] + "..."
    return f" at line {line} (`{text}`)" if text else f" at line {line}"


def _why(cell: RanCell) -> str:
    number = f"cell {cell.index + 1}"
    if cell.status == "timeout":
        return f"{number} did not finish{_quote_line(cell.source, cell.line)} (time limit)"
    if cell.status == "skipped":
        return f"{number} was skipped (it hung or crashed the worker earlier)"
    error = _IPYTHON_FILE.sub("", (cell.error or "").strip())
    if len(error) > 300:
        error = error[:297] + "..."
    if error.startswith("SyntaxError") or error.startswith("IndentationError"):
        return f"{number} could not run{_quote_line(cell.source, cell.line)}: {error}"
    return f"{number} stopped{_quote_line(cell.source, cell.line)}" + (f": {error}" if error else "")


def undefined_name_cause(name: str, cells: Iterable[RanCell]) -> str | None:
    """"`name` is not defined because cell N stopped ..." when a cell that did not finish defines it."""
    for cell in cells:
        if cell.status == "ok":
            continue
        lines = definition_lines(cell.source, name)
        if not lines:
            continue
        never_ran = (cell.error or "").startswith(("SyntaxError", "IndentationError"))  # no line of it ran
        stopped = cell.line if cell.status in ("error", "timeout") and not never_ran else None
        if stopped is not None and all(ln < stopped for ln in lines):
            continue  # defined before the line that stopped the cell: not the cause
        return f"`{name}` is not defined because {_why(cell)}"
    return None
