"""Loss curves of training calls: a diagnosis in one line, the student's plot, the class's plot.

A curve is what the worker observed while the student's training function ran (graders/worker/
observe.py; stored as `CheckResult.curves`): the loss the student's own code computed at each
optimizer step (or backward pass), downsampled to at most a few hundred points::

    {"call": "train_circle_model", "per": "step", "steps": 500, "x": [1, 3, ...], "loss": [0.69, ...],
     "first_nonfinite": null, "first": 0.70, "last": 0.01}

`training_of(result)` gathers, per question, its curves with the accuracy the judge measured and the
tier thresholds (from the checks' names, as the report does); `diagnose` says what is clear from a
curve; `plot_training` draws one question for the student's feedback; `plot_class` draws every
student's curve of a question for the instructor's report. Matplotlib's object API only (no pyplot).
"""

from __future__ import annotations

import io
import math
import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from .result import CheckResult, SubmissionResult

CHANCE = ((math.log(2), "ln 2, the loss of always answering 50 % for two classes"),
          (math.log(10), "ln 10, the loss of a uniform guess over ten classes"))
COLORS = {"top": "#55A868", "partial": "#DD8452", "none": "#C44E52", "unknown": "#4C72B0"}


@dataclass
class Training:
    """One question's training runs in one result."""

    grade_id: str
    curves: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (label, curve)
    accuracy: float | None = None
    tiers: list[tuple[float, float]] = field(default_factory=list)  # (threshold, points), ascending
    points: float = 0.0
    max_points: float = 0.0

    @property
    def main(self) -> dict[str, Any] | None:
        """The run the grade rests on: the longest curve of a hidden check, else the longest."""
        hidden = [c for label, c in self.curves if "graded run" in label]
        pool = hidden or [c for _label, c in self.curves]
        return max(pool, key=lambda c: int(c.get("steps", 0))) if pool else None

    @property
    def tier(self) -> str:
        """top / partial / none (accuracy tiers reached), or unknown without an accuracy."""
        if self.accuracy is None or not self.tiers:
            return "unknown"
        reached = [t for t, _p in self.tiers if self.accuracy + 1e-12 >= t]
        return "top" if len(reached) == len(self.tiers) else ("partial" if reached else "none")


def _threshold(check: CheckResult) -> float | None:
    """0.85 for a check named like `..._accuracy_085` (the course's convention for accuracy tiers)."""
    m = re.search(r"(?:^|_)0?(\d{2,3})$", check.id.split("::")[-1])
    if m and "acc" in check.id:
        return int(m.group(1)) / (10 ** len(m.group(1)))
    return None


def training_of(result: SubmissionResult) -> dict[str, Training]:
    """grade_id -> Training, for the questions whose checks observed at least one curve."""
    out: dict[str, Training] = {}
    for c in result.checks:
        if not c.curves:
            continue
        t = out.setdefault(c.grade_id, Training(c.grade_id))
        name = c.id.split("::", 1)[-1]
        for curve in c.curves:
            label = f"graded run ({name})" if c.hidden else f"public check ({name})"
            t.curves.append((label, curve))
    for c in result.checks:
        t = out.get(c.grade_id)
        if t is None:
            continue
        t.points += c.points
        t.max_points += c.max_points
        acc = c.metrics.get("accuracy") if c.metrics else None
        if acc is not None:
            t.accuracy = max(t.accuracy if t.accuracy is not None else 0.0, float(acc))
        thr = _threshold(c)
        if thr is not None:
            t.tiers.append((thr, c.max_points))
    for t in out.values():
        t.tiers.sort()
    return out


# ----------------------------------------------------------------------------- diagnosis
def _finite(curve: dict[str, Any]) -> list[tuple[int, float]]:
    return [(int(x), float(y)) for x, y in zip(curve.get("x", []), curve.get("loss", [])) if y is not None and math.isfinite(y)]


def diagnose(curve: dict[str, Any] | None, *, lost_points: bool = True) -> str:
    """One line about the curve when something is clear from it; '' otherwise.

    NaN/infinite losses are always reported; "not decreasing", "rising" and "still falling at the end"
    only when the question lost points (a model that earned everything needs no advice)."""
    if not curve:
        return ""
    unit = "step" if curve.get("per") == "step" else "backward pass"
    bad = curve.get("first_nonfinite")
    if bad:
        return (f"The loss became NaN or infinite at {unit} {bad} of {curve.get('steps')}: training diverged. Lower the "
                "learning rate, and check the loss for log(0) or a division by zero.")
    pts = _finite(curve)
    if len(pts) < 4 or not lost_points:
        return ""
    k = max(1, len(pts) // 10)
    head = statistics.fmean(y for _x, y in pts[:k])
    tail = statistics.fmean(y for _x, y in pts[-k:])
    if tail > head * 1.10 + 1e-12:
        return (f"The loss rose from {head:.3g} to {tail:.3g}: the learning rate is probably too large (or the gradients "
                "add up because optimizer.zero_grad() is missing).")
    if tail >= head * 0.97 - 1e-12:
        chance = next((why for value, why in CHANCE if abs(tail - value) < 0.02 * value), "")
        stuck = f" It stays near {tail:.3g} = {chance}: the model learns nothing." if chance else ""
        return (f"The loss did not decrease ({head:.3g} at the start, {tail:.3g} at the end).{stuck} Check that every "
                "step calls optimizer.zero_grad(), loss.backward() and optimizer.step() on the model's own parameters, "
                "and that the learning rate is not tiny.")
    # still falling: the last quarter's log-loss still drops clearly along a straight-line fit
    quarter = pts[-max(4, len(pts) // 4):]
    if all(y > 0 for _x, y in quarter):
        xs = [float(x) for x, _y in quarter]
        ys = [math.log(y) for _x, y in quarter]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0
        drop = -slope * (xs[-1] - xs[0])  # log-loss lost over the last quarter
        fell = quarter[0][1] - quarter[-1][1]  # and in absolute terms, against the whole run's fall
        if drop > math.log(1.05) and fell > 0.15 * (head - tail):
            return (f"The loss was still falling when training stopped ({math.exp(drop):.2g}× lower over the last "
                    f"quarter of the {unit}s): train longer (more epochs) or with a somewhat larger learning rate.")
    return ""


# ----------------------------------------------------------------------------- plots
def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _log_scale(values: list[float]) -> bool:
    pos = [v for v in values if v > 0]
    return len(pos) == len(values) and bool(pos) and max(pos) / min(pos) > 30


def plot_training(t: Training) -> bytes:
    """The student's loss curve(s) of one question next to the accuracy the judge measured and the tiers."""
    show_acc = t.accuracy is not None or bool(t.tiers)
    fig = _figure(8.2 if show_acc else 6.4, 3.3)
    if show_acc:
        ax, acc_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4.2, 1.3]})
    else:
        ax, acc_ax = fig.subplots(1, 1), None
    palette = ["#4C72B0", "#8172B3", "#937860"]
    values: list[float] = []
    unit = "optimizer step"
    longest = 1
    for i, (label, curve) in enumerate(t.curves[:3]):
        pts = _finite(curve)
        unit = "optimizer step" if curve.get("per") == "step" else "backward pass"
        longest = max(longest, int(curve.get("steps") or 1))
        values += [y for _x, y in pts]
        ax.plot([x for x, _y in pts], [y for _x, y in pts], color=palette[i % len(palette)], linewidth=1.6 if i == 0 else 1.2,
                label=f"{curve.get('call', 'training')}: {label}, {curve.get('steps')} {unit}s")
        bad = curve.get("first_nonfinite")
        if bad:
            ax.axvspan(bad, int(curve.get("steps") or bad), color="#C44E52", alpha=0.12, linewidth=0)
            ax.axvline(bad, color="#C44E52", linestyle="--", linewidth=1.2)
            ax.text(bad, 0.5, f"NaN from {unit} {bad} on ", color="#C44E52", fontsize=8, va="center", ha="right",
                    rotation=90, transform=ax.get_xaxis_transform())
    ax.set_xlim(0, longest * 1.02)
    if values and _log_scale(values):
        ax.set_yscale("log")
    elif values:
        lo, hi = min(values), max(values)
        if hi - lo < 0.1 * abs(hi):  # a nearly flat curve looks flat, not like a fall
            pad = 0.1 * abs(hi)
            ax.set_ylim(lo - pad, hi + pad)
        for value, why in CHANCE:
            if lo - 0.05 * value <= value <= hi + 0.05 * value:
                ax.axhline(value, color="#999", linestyle=":", linewidth=1.2)
                ax.text(0.98, value, f"{why.split(',')[0]} = {value:.3f}: chance level ", color="#666", fontsize=7.5,
                        va="bottom", ha="right", transform=ax.get_yaxis_transform())
    ax.set_xlabel(f"{unit} (of your training code)")
    ax.set_ylabel("training loss")
    ax.set_title(f"{t.grade_id}: the loss your code computed while training", fontsize=10)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if t.curves:
        ax.legend(fontsize=7.5, frameon=True, framealpha=0.85, edgecolor="none", loc="best")
    if acc_ax is not None:
        acc = t.accuracy
        lo = min(0.5, acc - 0.05) if acc is not None else 0.5
        color = COLORS[t.tier]
        if acc is not None:
            acc_ax.bar([0], [acc - lo], bottom=lo, width=0.7, color=color)
            inside = acc - lo > 0.08
            acc_ax.text(0, acc - 0.01 if inside else acc + 0.01, f"{acc:.3f}", ha="center", va="top" if inside else "bottom",
                        fontsize=8.5, fontweight="bold", color="white" if inside else "#222")
        else:
            acc_ax.text(0, (lo + 1) / 2, "not\nmeasured", ha="center", va="center", fontsize=8, color="#666")
        for thr, pts in t.tiers:
            acc_ax.plot([-0.45, 0.45], [thr, thr], color="#333", linestyle="--", linewidth=1)
            acc_ax.text(0.5, thr, f"≥ {thr:.2f}\n{pts:g} pts", fontsize=7.5, va="center", ha="left")
        acc_ax.set_ylim(lo, 1.0)
        acc_ax.set_xlim(-0.5, 1.45)
        acc_ax.set_xticks([])
        acc_ax.set_title("test accuracy\n(the grader's data)", fontsize=8.5)
        acc_ax.spines[["top", "right", "bottom"]].set_visible(False)
    return _png(fig)


def plot_class(grade_id: str, runs: list[tuple[str, Training]]) -> bytes:
    """Every student's main loss curve of one question in one plot, coloured by the accuracy tier reached."""
    fig = _figure(8.5, 4.2)
    ax = fig.add_subplot()
    values: list[float] = []
    counts: dict[str, int] = {}
    unit = "optimizer step"
    for _student, t in runs:
        curve = t.main
        pts = _finite(curve) if curve else []
        if not pts:
            continue
        unit = "optimizer step" if curve and curve.get("per") == "step" else "backward pass"
        values += [y for _x, y in pts]
        counts[t.tier] = counts.get(t.tier, 0) + 1
        ax.plot([x for x, _y in pts], [y for _x, y in pts], color=COLORS[t.tier], alpha=0.55, linewidth=1.1)
        if curve and curve.get("first_nonfinite"):
            ax.plot([pts[-1][0]], [pts[-1][1]], "x", color=COLORS["none"], markersize=7)
    if values and _log_scale(values):
        ax.set_yscale("log")
    from matplotlib.lines import Line2D

    names = {"top": "every accuracy tier", "partial": "some tiers", "none": "no tier", "unknown": "no accuracy measured"}
    handles = [Line2D([], [], color=COLORS[k], label=f"{names[k]} ({n})") for k, n in counts.items()]
    if handles:
        ax.legend(handles=handles, frameon=False, fontsize=8)
    ax.set_xlabel(f"{unit} of the student's training code")
    ax.set_ylabel("training loss")
    ax.set_title(f"{grade_id}: training loss of {sum(counts.values())} submissions (colour: accuracy tiers reached)")
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
