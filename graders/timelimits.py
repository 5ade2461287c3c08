"""Time limits from the solution's own times: what `graders validate` proposes.

A hung cell holds a worker until its limit (60 s by default): with 2 % of a class hanging, the batch
takes twice as long. The solution's times tell what an honest submission needs: while validate
grades the source solution, `measure()` records the wall time of every cell the worker executes and
of every call the checks make into it; `propose()` gives max(10 × the slowest, 10 s) for the cell
and the call limit. The instructor's own `LIMITS` in the checks module override the proposal;
`write_limits()` (`graders validate --write-limits`) adds the proposed values the module does not set.
"""

from __future__ import annotations

import ast
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FACTOR = 10.0
FLOOR_S = 10.0


@dataclass
class Timings:
    cells: dict[int, float] = field(default_factory=dict)  # cell index -> seconds
    calls: dict[str, float] = field(default_factory=dict)  # what was called -> slowest seconds

    @property
    def slowest_cell(self) -> float:
        return max(self.cells.values(), default=0.0)

    @property
    def slowest_call(self) -> float:
        return max(self.calls.values(), default=0.0)


@contextlib.contextmanager
def measure() -> Iterator[Timings]:
    """Times of every cell execution and call of the worker sessions opened in this block (this process)."""
    from .judge.session import WorkerSession

    timings = Timings()
    exec_, roundtrip = WorkerSession._exec, WorkerSession._roundtrip

    def timed_exec(self: Any, index: int, source: str) -> Any:
        t = time.monotonic()
        try:
            return exec_(self, index, source)
        finally:
            timings.cells[index] = max(timings.cells.get(index, 0.0), time.monotonic() - t)

    def timed_roundtrip(self: Any, req: dict[str, Any], blob: bytes, timeout: float | None, what: str) -> Any:
        t = time.monotonic()
        try:
            return roundtrip(self, req, blob, timeout, what)
        finally:
            timings.calls[what] = max(timings.calls.get(what, 0.0), time.monotonic() - t)

    WorkerSession._exec, WorkerSession._roundtrip = timed_exec, timed_roundtrip  # type: ignore[method-assign]
    try:
        yield timings
    finally:
        WorkerSession._exec, WorkerSession._roundtrip = exec_, roundtrip  # type: ignore[method-assign]


def propose(timings: Timings) -> dict[str, float]:
    """max(10 × the solution's slowest, 10 s), rounded up to whole seconds."""
    return {"cell_timeout": float(math.ceil(max(FACTOR * timings.slowest_cell, FLOOR_S))),
            "call_timeout": float(math.ceil(max(FACTOR * timings.slowest_call, FLOOR_S)))}


def declared_limits(module_path: Path) -> dict[str, Any]:
    from .course import _module_constants

    value = _module_constants(module_path, ("LIMITS",)).get("LIMITS", {})
    return dict(value) if isinstance(value, dict) else {}


def summary(*, timings: Timings, module_path: Path, proposed: dict[str, float]) -> str:
    """One line per limit: the solution's time, the proposal, and what is in force."""
    declared = declared_limits(module_path)
    from .sandbox.limits import Limits

    default = Limits()
    slowest = {"cell_timeout": (timings.slowest_cell, "slowest cell"), "call_timeout": (timings.slowest_call, "slowest call")}
    lines = []
    for key, value in proposed.items():
        took, what = slowest[key]
        if key in declared:
            force = f"LIMITS sets {declared[key]:g} s (kept)"
        else:
            force = f"in force {getattr(default, key):g} s (default)"
        lines.append(f"  time {key}: solution's {what} {took:.2f} s; proposed {value:g} s; {force}")
    return "\n".join(lines)


def write_limits(*, module_path: Path, proposed: dict[str, float]) -> dict[str, Any]:
    """Add the proposed values the module's LIMITS does not set (the instructor's values stay);
    returns the new LIMITS. Rewrites only the LIMITS assignment (or adds one after QUESTIONS)."""
    text = module_path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    declared = declared_limits(module_path)
    new = {**declared, **{k: (int(v) if float(v).is_integer() else v) for k, v in proposed.items() if k not in declared}}
    if new == declared:
        return declared
    line = f"LIMITS = {new!r}"
    lines = text.splitlines(keepends=True)
    node = next((n for n in tree.body if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "LIMITS" for t in n.targets)), None)
    if node is not None:
        start, end = node.lineno - 1, (node.end_lineno or node.lineno)
        lines[start:end] = [line + "  # proposed by graders validate, instructor's values kept\n"]
    else:
        anchor = next((n for n in tree.body if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "QUESTIONS" for t in n.targets)), None)
        at = (anchor.end_lineno or anchor.lineno) if anchor is not None else len(lines)
        lines[at:at] = [line + "  # proposed by graders validate (max(10 x the solution's time, 10 s))\n"]
    module_path.write_text("".join(lines), encoding="utf-8")
    return new
