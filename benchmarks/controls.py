"""Time the learning controls add per submission: one more training run (and prediction) on the control data.

    .venv/bin/python benchmarks/controls.py [--repeats 3]

For classification and vision, the instructor's answers (tests/data/<a>/correct.ipynb) in one sandboxed
worker: the main training call and the control's, timed the way the checks make them (torch seeded with
a one-way seed, one CPU thread). The added time per submission is the control's train + predict.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from graders.checks.model import circles_control, circles_split, digits_control, digits_split, logits_of
from graders.course import get_assignment
from graders.judge.session import Submission, WorkerSession
from graders.notebook import read_notebook
from graders.sandbox import choose_launcher

ROOT = Path(__file__).resolve().parents[1]


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    launcher = choose_launcher()
    for name in ("classification", "vision"):
        nb = read_notebook(ROOT / "tests" / "data" / name / "correct.ipynb")
        with WorkerSession(launcher=launcher, limits=get_assignment(name).limits, cells=[s for _i, s in nb.code_to_run()]) as session:
            session.start()
            sub = Submission(session)
            main_t, control_t = [], []
            for seed in range(args.repeats):
                for split, out in ((circles_split(seed) if name == "classification" else digits_split(seed), main_t),
                                   (circles_control(seed) if name == "classification" else digits_control(seed), control_t)):
                    if name == "classification":
                        def run(d=split):  # type: ignore[no-untyped-def]
                            m = sub.call("train_circle_model", d.X_train, d.y_train, 1, seed=seed, timeout=60)
                            sub.call("predict_labels", m, d.X_test, timeout=10)
                    else:
                        def run(d=split):  # type: ignore[no-untyped-def]
                            m = sub.call("train_digits", d.X_train, d.y_train, "cpu", seed=seed, timeout=120)
                            logits_of(sub, m, d.X_test, timeout=30)
                    out.append(_time(run))
        print(f"{name}: main training {statistics.median(main_t):.2f} s, learning control adds {statistics.median(control_t):.2f} s "
              f"per submission (median of {args.repeats}; {launcher.name})")


if __name__ == "__main__":
    main()
