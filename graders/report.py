"""Stage `autograded → report`: the instructor's view of a class on one assignment.

`write_report(assignment=)` reads every `autograded/<student>/<a>/result.json` and writes to
`reports/<a>/`:

- `report.html`: summary numbers, points per question, and four plots embedded as PNG: the score
  distribution, the pass rate of every check (grouped by question: which question is hardest),
  grading time per submission, and the accuracy that trained-model checks measured
  (`CheckResult.metrics["accuracy"]`, with the tier thresholds);
- the same plots as PNG files next to it (`score_distribution.png`, `pass_rate.png`,
  `grading_time.png`, `accuracy.png` when there are accuracies);
- `scores.csv`: one row per student, one column per question (the autograder's points; manual
  changes made in the formgrader are in the gradebook: `graders export`).

Matplotlib is used through its object API (Figure + Agg canvas): no global pyplot state, no display.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .autograded import RESULT_FILE, results_of
from .course import course_root, get_assignment, path as stage_path
from .errors import GradersError
from .result import SubmissionResult

PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]


@dataclass
class Plot:
    name: str  # file stem
    title: str
    png: bytes
    caption: str


# ----------------------------------------------------------------------------- data
def load_results(*, assignment: str, root: Path) -> dict[str, SubmissionResult]:
    return {s: r for s, (_f, r) in results_of(assignment=assignment, root=root).items()}


def _thresholds(check_ids: list[str]) -> list[float]:
    """Accuracy tiers from check names such as `accuracy_085` / `accuracy_095` (0.85, 0.95)."""
    out = set()
    for cid in check_ids:
        m = re.search(r"(?:^|_)0?(\d{2,3})$", cid.split("::")[-1])
        if m and "acc" in cid:
            digits = m.group(1)
            out.add(int(digits) / (10 ** len(digits)))
    return sorted(out)


# ----------------------------------------------------------------------------- plots
def _figure(w: float = 8.0, h: float = 4.2) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    return fig


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_scores(graded: list[SubmissionResult], max_score: float, n_errors: int) -> Plot:
    import numpy as np

    fig = _figure()
    ax = fig.add_subplot()
    scores = [r.score for r in graded]
    step = 1.0 if max_score > 12 else 0.5
    bins = np.arange(0, max_score + step + 1e-9, step) - step / 2
    ax.hist(scores, bins=bins, color=PALETTE[0], edgecolor="white")
    if scores:
        mean, median = statistics.fmean(scores), statistics.median(scores)
        ax.axvline(mean, color=PALETTE[3], linestyle="--", linewidth=1.5, label=f"mean {mean:.2f}")
        ax.axvline(median, color=PALETTE[2], linestyle=":", linewidth=2, label=f"median {median:.2f}")
        ax.legend(loc="upper left", frameon=False)
    ax.set_xlim(-step, max_score + step)
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    note = f" ({n_errors} not graded, not shown)" if n_errors else ""
    ax.set_title(f"Score distribution: {len(scores)} graded submissions{note}")
    ax.spines[["top", "right"]].set_visible(False)
    return Plot("score_distribution", "Score distribution", _png(fig),
                "Total autograded score of each graded submission (before manual changes in the formgrader).")


def plot_pass_rates(graded: list[SubmissionResult], questions: dict[str, float]) -> Plot:
    order: list[str] = []
    info: dict[str, tuple[str, bool]] = {}
    for r in graded:
        for c in r.checks:
            if c.id not in info:
                info[c.id] = (c.grade_id, c.hidden)
                order.append(c.id)
    q_index = {q: i for i, q in enumerate(questions)}
    first_seen = {cid: i for i, cid in enumerate(order)}
    order.sort(key=lambda cid: (q_index.get(info[cid][0], len(q_index)), first_seen[cid]))
    rates = []
    for cid in order:
        seen = [c for r in graded for c in r.checks if c.id == cid]
        rates.append(sum(c.status == "passed" for c in seen) / len(seen) if seen else 0.0)
    fig = _figure(8.5, max(2.6, 0.32 * len(order) + 1.3))
    ax = fig.add_subplot()
    y = list(range(len(order)))[::-1]
    colors = [PALETTE[q_index.get(info[c][0], 0) % len(PALETTE)] for c in order]
    bars = ax.barh(y, [100 * r for r in rates], color=colors, height=0.72)
    for bar, cid in zip(bars, order):
        if info[cid][1]:
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    labels = [f"{cid.split('::', 1)[-1]}{' (hidden)' if info[cid][1] else ''}" for cid in order]
    ax.set_yticks(y, labels, fontsize=8)
    for yy, r in zip(y, rates):
        ax.text(min(100 * r + 1.5, 101), yy, f"{100 * r:.0f}%", va="center", fontsize=7.5)
    ax.set_xlim(0, 110)
    ax.set_xlabel("submissions passing (%)")
    from matplotlib.patches import Patch

    handles = [Patch(color=PALETTE[i % len(PALETTE)], label=q) for q, i in q_index.items() if any(info[c][0] == q for c in order)]
    handles.append(Patch(facecolor="#bbbbbb", hatch="//", edgecolor="white", label="hidden check"))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    ax.set_title("Pass rate per check (grouped by question)")
    ax.spines[["top", "right"]].set_visible(False)
    return Plot("pass_rate", "Pass rate per check", _png(fig),
                "Share of graded submissions passing each check; the shortest bars are the hardest parts.")


def plot_times(results: dict[str, SubmissionResult]) -> Plot:
    items = sorted(((r.duration_s, s, r.status) for s, r in results.items()), reverse=True)
    fig = _figure(8.5, 4.2)
    ax = fig.add_subplot()
    x = list(range(len(items)))
    colors = [PALETTE[0] if st == "graded" else PALETTE[3] for _d, _s, st in items]
    ax.bar(x, [d for d, _s, _st in items], color=colors, width=0.8)
    errs = [i for i, (_d, _s, st) in enumerate(items) if st != "graded"]
    if errs:  # often too quick for a visible bar
        ax.plot(errs, [0] * len(errs), "x", color=PALETTE[3], markersize=8, markeredgewidth=2, clip_on=False, zorder=4)
    if len(items) <= 40:
        ax.set_xticks(x, [s for _d, s, _st in items], rotation=60, ha="right", fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(items)} submissions, slowest first")
    if items:
        med = statistics.median(d for d, _s, _st in items)
        ax.axhline(med, color=PALETTE[2], linestyle=":", linewidth=2, label=f"median {med:.1f} s")
        from matplotlib.patches import Patch

        handles = [ax.get_legend_handles_labels()[0][0], Patch(color=PALETTE[0], label="graded")]
        if any(st != "graded" for _d, _s, st in items):
            handles.append(Patch(color=PALETTE[3], label="not graded (error)"))
        ax.legend(handles=handles, frameon=False)
    ax.set_ylabel("seconds")
    ax.set_title("Grading time per submission (slowest first)")
    ax.spines[["top", "right"]].set_visible(False)
    return Plot("grading_time", "Grading time", _png(fig),
                "Wall-clock time the judge spent on each submission: running its cells and all checks.")


def accuracy_data(graded: list[SubmissionResult]) -> dict[str, dict[str, Any]]:
    """grade_id -> {"values": [accuracy per submission], "thresholds": [...]} for trained-model questions."""
    out: dict[str, dict[str, Any]] = {}
    for r in graded:
        per_q: dict[str, float] = {}
        for c in r.checks:
            acc = c.metrics.get("accuracy") if c.metrics else None
            if acc is not None:
                per_q[c.grade_id] = max(per_q.get(c.grade_id, 0.0), float(acc))
                out.setdefault(c.grade_id, {"values": [], "ids": set()})["ids"].add(c.id)
        for q, acc in per_q.items():
            out[q]["values"].append(acc)
    for q, d in out.items():
        d["thresholds"] = _thresholds(sorted(d.pop("ids")))
    return out


def plot_accuracy(data: dict[str, dict[str, Any]]) -> Plot:
    import numpy as np

    fig = _figure(8.0, 1.4 + 1.3 * len(data))
    axes = fig.subplots(len(data), 1, squeeze=False)[:, 0]
    rng = np.random.default_rng(0)
    for i, (ax, (q, d)) in enumerate(zip(axes, data.items())):
        vals = np.asarray(d["values"], dtype=float)
        lo = min(0.5, float(vals.min()) if vals.size else 0.5)
        ax.scatter(vals, rng.uniform(-0.28, 0.28, vals.size), s=22, alpha=0.75, color=PALETTE[i % len(PALETTE)], zorder=3)
        if vals.size:
            box = dict(positions=[0], widths=0.5, showfliers=False, zorder=2, medianprops={"color": "black"},
                       boxprops={"color": "#666"}, whiskerprops={"color": "#666"}, capprops={"color": "#666"})
            try:
                ax.boxplot(vals, orientation="horizontal", **box)  # matplotlib >= 3.10
            except TypeError:
                ax.boxplot(vals, vert=False, **box)
        for t in d["thresholds"]:
            reached = int((vals + 1e-12 >= t).sum())
            ax.axvline(t, color=PALETTE[3], linestyle="--", linewidth=1.2)
            ax.text(t, 0.52, f" ≥{t:.2f}: {reached}/{vals.size}", color=PALETTE[3], fontsize=8, va="bottom")
        ax.set_xlim(lo - 0.02, 1.01)
        ax.set_ylim(-0.6, 0.9)
        ax.set_yticks([0], [q])
        ax.spines[["top", "right", "left"]].set_visible(False)
    axes[-1].set_xlabel("test accuracy measured by the judge (held-out data)")
    fig.suptitle("Accuracy reached by the trained models (dashed: tier thresholds)")
    return Plot("accuracy", "Accuracy of trained models", _png(fig),
                "Each dot is one submission's model, evaluated by the judge on data the student never saw.")


def plot_loss_curves(results: dict[str, SubmissionResult]) -> list[Plot]:
    """One plot per question whose training calls were observed: every graded student's training loss
    (graders/curves.py), coloured by the accuracy tiers the model reached."""
    from .curves import plot_class, training_of

    by_q: dict[str, list[tuple[str, Any]]] = {}
    for student, r in sorted(results.items()):
        if r.status != "graded":
            continue
        for gid, t in training_of(r).items():
            by_q.setdefault(gid, []).append((student, t))
    return [Plot(f"loss_curves_{gid}", f"Training loss: {gid}", plot_class(gid, runs),
                 "The loss each student's own training code computed at every optimizer step, observed by the worker "
                 "while the grader trained the model; green curves reached every accuracy tier, red none.")
            for gid, runs in by_q.items()]


# ----------------------------------------------------------------------------- the stage
def write_scores_csv(path: Path, results: dict[str, SubmissionResult], questions: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "status", *questions, "score", "max_score", "duration_s"])
        for student in sorted(results):
            r = results[student]
            per_q = r.question_scores()
            w.writerow([student, r.status, *[f"{per_q.get(q, (0.0, 0.0))[0]:g}" for q in questions],
                        f"{r.score:g}", f"{r.max_score:g}", f"{r.duration_s:.2f}"])


def write_report(*, assignment: str, root: Path | None = None) -> Path:
    """reports/<assignment>/report.html (+ PNGs and scores.csv) from autograded/; returns the HTML's path."""
    root = Path(root) if root else course_root()
    spec = get_assignment(assignment)
    results = load_results(assignment=spec.name, root=root)
    if not results:
        raise GradersError(f"nothing to report: no {stage_path('autograded', root=root)}/*/{spec.name}/{RESULT_FILE}; "
                           f"run `graders autograde {spec.name}` first")
    out = stage_path("reports", assignment=spec.name, root=root)
    out.mkdir(parents=True, exist_ok=True)
    graded = [r for r in results.values() if r.status == "graded"]
    errors = {s: r for s, r in results.items() if r.status != "graded"}
    plots = [plot_scores(graded, spec.max_score, len(errors))]
    if graded:
        plots.append(plot_pass_rates(graded, spec.questions))
    plots.append(plot_times(results))
    acc = accuracy_data(graded)
    if acc:
        plots.append(plot_accuracy(acc))
    plots += plot_loss_curves(results)
    for old in out.glob("*.png"):
        old.unlink()
    for p in plots:
        (out / f"{p.name}.png").write_bytes(p.png)
    write_scores_csv(out / "scores.csv", results, spec.questions)
    page = _html(spec.name, spec.questions, spec.max_score, results, graded, errors, plots, acc)
    from .items import extra_sections  # item analysis and similar submissions (graders/items.py)

    page = page.replace("<h2>Students</h2>", extra_sections(graded=graded, out=out) + "<h2>Students</h2>", 1)
    (out / "report.html").write_text(page, encoding="utf-8")
    return out / "report.html"


def _html(name: str, questions: dict[str, float], max_score: float, results: dict[str, SubmissionResult],
          graded: list[SubmissionResult], errors: dict[str, SubmissionResult], plots: list[Plot],
          acc: dict[str, dict[str, Any]]) -> str:
    e = html.escape
    scores = [r.score for r in graded]
    stats = [("submissions", f"{len(results)}"), ("graded", f"{len(graded)}"), ("not graded", f"{len(errors)}")]
    if scores:
        stats += [("mean", f"{statistics.fmean(scores):.2f} / {max_score:g}"), ("median", f"{statistics.median(scores):g}"),
                  ("full marks", f"{sum(s >= max_score - 1e-9 for s in scores)}"),
                  ("sandbox", ", ".join(sorted({r.sandbox for r in graded})))]
    q_rows = []
    for q, pts in questions.items():
        got = [r.question_scores().get(q, (0.0, pts))[0] for r in graded]
        mean = statistics.fmean(got) if got else 0.0
        full = sum(g >= pts - 1e-9 for g in got)
        q_rows.append(f"<tr><td><code>{e(q)}</code></td><td class='n'>{pts:g}</td><td class='n'>{mean:.2f}</td>"
                      f"<td class='n'>{100 * mean / pts if pts else 0:.0f}%</td><td class='n'>{full}/{len(got)}</td></tr>")
    acc_rows = "".join(
        f"<tr><td><code>{e(q)}</code></td><td class='n'>{statistics.median(d['values']):.3f}</td><td class='n'>{min(d['values']):.3f}</td>"
        f"<td class='n'>{max(d['values']):.3f}</td><td>{e(', '.join(f'{t:.2f}' for t in d['thresholds']) or '-')}</td></tr>"
        for q, d in acc.items() if d["values"])
    figs = "".join(
        f"<figure><img alt='{e(p.title)}' src='data:image/png;base64,{base64.b64encode(p.png).decode()}'>"
        f"<figcaption>{e(p.caption)} <a href='{e(p.name)}.png'>{e(p.name)}.png</a></figcaption></figure>" for p in plots)
    err_rows = "".join(f"<li><b>{e(s)}</b>: {e(r.message or 'error')}</li>" for s, r in sorted(errors.items()))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    student_rows = "".join(
        f"<tr><td>{e(s)}</td><td>{e(r.status)}</td>" + "".join(f"<td class='n'>{r.question_scores().get(q, (0.0, 0.0))[0]:g}</td>" for q in questions)
        + f"<td class='n'><b>{r.score:g}</b></td><td class='n'>{r.duration_s:.1f}</td></tr>" for s, r in sorted(results.items()))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(name)}: class report</title>
<style>
body{{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1050px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:.6em 0 1.4em}} td,th{{border:1px solid #ddd;padding:.25em .7em;text-align:left}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
th{{background:#f4f4f4}} figure{{margin:1.5em 0}} figure img{{max-width:100%;border:1px solid #eee}} figcaption{{color:#555;font-size:.9em}}
.stats td:first-child{{color:#555}} .sub{{color:#666}}
</style></head><body>
<h1>{e(name)}: class report</h1><p class="sub">generated {when} from autograded/*/{e(name)}/result.json; scores per student in <a href="scores.csv">scores.csv</a></p>
<table class="stats">{''.join(f'<tr><td>{e(k)}</td><td>{e(v)}</td></tr>' for k, v in stats)}</table>
<h2>Questions</h2>
<table><tr><th>question</th><th>points</th><th>mean</th><th>mean %</th><th>full marks</th></tr>{''.join(q_rows)}</table>
{f'<h2>Trained models</h2><table><tr><th>question</th><th>median accuracy</th><th>min</th><th>max</th><th>tiers</th></tr>{acc_rows}</table>' if acc_rows else ''}
<h2>Plots</h2>{figs}
{f'<h2>Not graded</h2><ul>{err_rows}</ul>' if err_rows else ''}
{stopped_html(results)}
<h2>Students</h2>
<table><tr><th>student</th><th>status</th>{''.join(f'<th>{e(q)}</th>' for q in questions)}<th>score</th><th>seconds</th></tr>{student_rows}</table>
</body></html>
"""


def stopped_by_limits(results: dict[str, SubmissionResult]) -> list[tuple[str, list[str]]]:
    """The submissions a time limit stopped, by student: which cells and checks (a hung submission
    costs its limit in worker time; these are the ones to look at, or the limit to revisit)."""
    out = []
    for student, r in sorted(results.items()):
        what = [f"cell {c.index + 1}: {c.error or 'time limit'}" for c in r.cells if c.status == "timeout"]
        what += [f"check {c.id}: {c.message or 'time limit'}" for c in r.checks if c.status == "timeout"]
        if what:
            out.append((student, what))
    return out


def stopped_html(results: dict[str, SubmissionResult]) -> str:
    stopped = stopped_by_limits(results)
    if not stopped:
        return ""
    e = html.escape
    rows = "".join(f"<li><b>{e(s)}</b>: {e('; '.join(w))}</li>" for s, w in stopped)
    return (f"<h2>Stopped by a time limit</h2><p class='sub'>{len(stopped)} submission(s); the limits are the assignment's "
            f"LIMITS (<code>graders validate</code> proposes them from the solution's times)</p><ul>{rows}</ul>")
