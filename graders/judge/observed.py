"""What the worker observed during a call (graders/worker/observe.py), checked and kept by the judge.

The worker runs student code, so its observations are untrusted data: `clean_trace` and `clean_curve`
keep only the expected keys and types, with every string and list bounded, before anything is
rendered or stored. They never decide a grade: a trace explains a failing check's message, a loss
curve goes into feedback and reports (`CheckResult.curves`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..worker.observe import MAX_POINTS, render_trace

_ROW_KEYS = ("path", "layer", "in", "out")
_MAX_ROWS = 64


@dataclass
class Observed:
    """One call's observations, in the order calls were made (WorkerSession.observations)."""

    what: str  # the call, for a person: "`train_circle_model`"
    trace: str = ""  # rendered forward trace ('' when the call ran no nn.Module)
    failed_forward: bool = False  # the trace ends at a layer that raised
    curve: dict[str, Any] | None = None  # see clean_curve


def _text(x: Any, limit: int = 160) -> str:
    if type(x) is not str:
        return ""
    return "".join(ch if ch.isprintable() else " " for ch in x[:limit])


def clean_trace(data: Any) -> dict[str, Any] | None:
    """The trace with only strings of bounded length and a bounded number of rows, or None."""
    if type(data) is not dict:
        return None

    def row(r: Any) -> dict[str, str] | None:
        if type(r) is not dict:
            return None
        out = {k: _text(r.get(k), 48) for k in _ROW_KEYS}
        if "error" in r:
            out["error"] = _text(r.get("error"), 200)
        return out

    rows = {k: [x for x in (row(r) for r in (data.get(k) if type(data.get(k)) is list else [])[:_MAX_ROWS]) if x] for k in ("head", "tail")}
    count = data.get("count")
    failed = row(data.get("failed")) if data.get("failed") is not None else None
    return {"model": _text(data.get("model"), 48) or "model", "input": _text(data.get("input"), 48), **rows,
            "count": count if type(count) is int and 0 <= count < 10**9 else len(rows["head"]) + len(rows["tail"]),
            **({"failed": failed} if failed else {})}


def clean_curve(data: Any) -> dict[str, Any] | None:
    """{per, steps, x, loss, first_nonfinite, first, last} with numbers only; None when malformed."""
    if type(data) is not dict:
        return None
    xs, ys = data.get("x"), data.get("loss")
    if type(xs) is not list or type(ys) is not list or len(xs) != len(ys) or not 2 <= len(xs) <= 2 * MAX_POINTS:
        return None
    steps = data.get("steps")
    if type(steps) is not int or not 2 <= steps < 10**12:
        return None
    x_out: list[int] = []
    y_out: list[float | None] = []
    for x, y in zip(xs, ys):
        if type(x) is not int or not 1 <= x <= steps or (x_out and x <= x_out[-1]):
            return None
        if y is not None and (type(y) not in (int, float) or not math.isfinite(y)):
            return None
        x_out.append(x)
        y_out.append(None if y is None else float(y))

    def num(v: Any) -> float | None:
        return float(v) if type(v) in (int, float) and math.isfinite(v) else None

    bad = data.get("first_nonfinite")
    return {"per": "step" if data.get("per") == "step" else "backward", "steps": steps, "x": x_out, "loss": y_out,
            "first_nonfinite": bad if type(bad) is int and 1 <= bad <= steps else None,
            "first": num(data.get("first")), "last": num(data.get("last"))}


def observed_from_reply(reply: dict[str, Any], what: str) -> Observed | None:
    """The observations a worker reply carries (its key "observed"), cleaned; None when there are none."""
    raw = reply.get("observed")
    if type(raw) is not dict:
        return None
    trace = clean_trace(raw.get("trace"))
    curve = clean_curve(raw.get("curve"))
    if trace is None and curve is None:
        return None
    return Observed(what=what, trace=render_trace(trace) if trace else "", failed_forward=bool(trace and trace.get("failed")),
                    curve=curve)


def curves_of(observed: list[Observed]) -> list[dict[str, Any]]:
    """The loss curves among `observed`, each with the call that trained ("call")."""
    def short(v: float | None) -> float | None:
        return None if v is None else float(f"{v:.6g}")

    return [{"call": o.what.strip("`")[:80], **o.curve, "loss": [short(v) for v in o.curve["loss"]]}
            for o in observed if o.curve is not None]
