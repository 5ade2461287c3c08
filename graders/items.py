"""Item analysis and similarity for the class report (reports/<a>/report.html): which checks work as questions.

Per check, over the graded submissions:

- pass rate: the share of submissions that pass it;
- discrimination: the correlation (point-biserial) between passing the check and the rest of the score
  (the total without this check's points). A good check is passed more often by students who do well
  elsewhere (positive); near 0 it says little; negative, it fails the stronger submissions more than the
  others, which usually means the check is wrong (too strict a tolerance, an unfair seed);
- flags: "nobody passes", "everybody passes", "fails stronger submissions more" (discrimination ≤ -0.2).

Also shows the pairs of `graders similarity` when reports/<a>/similarity.csv exists.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NEGATIVE = -0.2


@dataclass
class ItemStats:
    check_id: str
    grade_id: str
    points: float
    hidden: bool
    n: int
    pass_rate: float
    discrimination: float | None  # None: no variance (everybody or nobody passes, or all rest scores equal)
    flags: list[str] = field(default_factory=list)


def _correlation(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sxy / math.sqrt(sxx * syy)


def item_stats(graded: list[Any]) -> list[ItemStats]:
    """One ItemStats per check id (in the order checks first appear), from graded SubmissionResults."""
    order: dict[str, Any] = {}
    for r in graded:
        for c in r.checks:
            order.setdefault(c.id, c)
    out = []
    for cid, first in order.items():
        passed, rest = [], []
        for r in graded:
            mine = next((c for c in r.checks if c.id == cid), None)
            ok = mine is not None and mine.status == "passed"
            passed.append(1.0 if ok else 0.0)
            rest.append(r.score - (mine.points if mine is not None else 0.0))
        n = len(passed)
        rate = sum(passed) / n if n else 0.0
        item = ItemStats(cid, first.grade_id, first.max_points, first.hidden, n, rate, _correlation(passed, rest))
        if n and rate == 0.0:
            item.flags.append("nobody passes")
        elif n and rate == 1.0:
            item.flags.append("everybody passes")
        if item.discrimination is not None and item.discrimination <= NEGATIVE:
            item.flags.append("fails stronger submissions more")
        out.append(item)
    return out


def plot_items(items: list[ItemStats]) -> bytes:
    """Pass rate (bars, red when flagged) and discrimination (dots) per check: a PNG."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, max(2.5, 0.32 * len(items) + 1.2)), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ys = list(range(len(items)))[::-1]
    colors = ["#c0392b" if it.flags else "#4a7fb5" for it in items]
    ax.barh(ys, [it.pass_rate for it in items], color=colors, alpha=0.8, label="pass rate")
    dx = [(it.discrimination, y) for it, y in zip(items, ys) if it.discrimination is not None]
    if dx:
        ax.scatter([d for d, _ in dx], [y for _, y in dx], color="black", zorder=3, s=18, label="discrimination")
    ax.axvline(0, color="#888", linewidth=0.8)
    ax.axvline(NEGATIVE, color="#c0392b", linewidth=0.6, linestyle="--")
    ax.set_yticks(ys, [it.check_id for it in items], fontsize=7)
    ax.set_xlim(-1.0, 1.05)
    ax.set_xlabel("pass rate (bars; red: flagged)   ·   discrimination (dots: correlation with the rest of the score)")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title("Item analysis: each check as a question")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _items_html(items: list[ItemStats], png_name: str, png: bytes) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td><code>{e(it.check_id)}</code>{' <span class=sub>(hidden)</span>' if it.hidden else ''}</td>"
        f"<td class='n'>{it.points:g}</td><td class='n'>{100 * it.pass_rate:.0f}%</td>"
        f"<td class='n'>{'-' if it.discrimination is None else f'{it.discrimination:+.2f}'}</td>"
        f"<td>{e(', '.join(it.flags))}</td></tr>" for it in items)
    return (f"<h2>Item analysis</h2><p class='sub'>each check as an exam question: pass rate, discrimination "
            f"(correlation of passing it with the rest of the score; negative: it fails the stronger submissions more), "
            f"flags</p><table class='items'><tr><th>check</th><th>points</th><th>pass rate</th><th>discrimination</th>"
            f"<th>flags</th></tr>{rows}</table>"
            f"<figure><img alt='item analysis' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<figcaption>pass rate and discrimination per check <a href='{e(png_name)}'>{e(png_name)}</a></figcaption></figure>")


def _similarity_html(out: Path) -> str:
    csv_path = out / "similarity.csv"
    if not csv_path.exists():
        return ""
    e = html.escape
    with csv_path.open(encoding="utf-8") as f:
        pairs = list(csv.DictReader(f))
    rows = "".join(f"<tr><td>{e(p['student_a'])}</td><td>{e(p['student_b'])}</td><td class='n'>{float(p['similarity_a']):.0%}</td>"
                   f"<td class='n'>{float(p['similarity_b']):.0%}</td><td class='n'>{e(p['shared_tokens'])}</td></tr>" for p in pairs)
    body = (f"<table><tr><th>student</th><th>student</th><th>share of the first's answers</th><th>share of the second's</th>"
            f"<th>shared tokens</th></tr>{rows}</table>") if pairs else "<p>no pair above the threshold.</p>"
    return (f"<h2>Similar submissions</h2><p class='sub'>from <code>graders similarity</code>: "
            f"<a href='similarity.html'>similarity.html</a> shows each pair side by side (<a href='similarity.csv'>CSV</a>); "
            f"evidence to review, not a verdict</p>{body}")


def extra_sections(*, graded: list[Any], out: Path) -> str:
    """The report's item analysis (writes out/items.png) and similarity sections, as HTML."""
    parts = []
    items = item_stats(graded)
    if items:
        png = plot_items(items)
        (out / "items.png").write_bytes(png)
        parts.append(_items_html(items, "items.png", png))
    parts.append(_similarity_html(out))
    return "".join(parts)
