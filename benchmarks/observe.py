"""What observing a call costs: the forward trace and the loss curve the worker records (graders/worker/observe.py).

    .venv/bin/python benchmarks/observe.py [--repeats 7] [--json out.json]

Not a test. Two training loops like the course's, run in this process with one torch thread (as a
worker runs them), alternately with and without `Observation(["trace", "curve"])` around them:

- circles: the instructor's CircleModel (2 → 16 → 16 → 1, ReLU), Adam, 500 full-batch steps on 800 points;
- digits: a small CNN (two convolutions, pooling, two linear layers) on 8x8 images, Adam, 10 epochs of
  mini-batches of 32 over 1437 images (450 steps).

It prints the median seconds of each and the overhead per optimizer step. Interleaving the runs (A, B,
A, B, ...) keeps the comparison fair on a loaded machine; the medians are still noisy there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable

import torch
from torch import nn

from graders.worker.observe import Observation


def circles() -> Callable[[], int]:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(800, 2, generator=g)
    y = (X.norm(dim=1) < 1).float()

    def run() -> int:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.BCEWithLogitsLoss()
        for _ in range(500):
            loss = loss_fn(model(X).squeeze(1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return 500

    return run


def digits() -> Callable[[], int]:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(1437, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (1437,), generator=g)

    def run() -> int:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                              nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = nn.CrossEntropyLoss()
        steps = 0
        for _ in range(10):
            order = torch.randperm(len(X))
            for start in range(0, len(X), 32):
                idx = order[start:start + 32]
                loss = loss_fn(model(X[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
        return steps

    return run


def measure(run: Callable[[], int], repeats: int) -> dict[str, Any]:
    plain, observed = [], []
    steps = run()  # warm-up (and the step count)
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        plain.append(time.perf_counter() - t)
        obs = Observation(["trace", "curve"])
        t = time.perf_counter()
        with obs:
            run()
        observed.append(time.perf_counter() - t)
        assert obs.report().get("curve", {}).get("steps") == steps
    a, b = statistics.median(plain), statistics.median(observed)
    return {"steps": steps, "plain_s": round(a, 4), "observed_s": round(b, 4), "overhead_pct": round(100 * (b - a) / a, 1),
            "overhead_us_per_step": round(1e6 * (b - a) / steps, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = {name: measure(make(), args.repeats) for name, make in (("circles", circles), ("digits", digits))}
    for name, m in out.items():
        print(f"{name:8} {m['steps']} steps: plain {m['plain_s']:.3f} s, observed {m['observed_s']:.3f} s "
              f"({m['overhead_pct']:+.1f} %, {m['overhead_us_per_step']:+.1f} µs per step)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
