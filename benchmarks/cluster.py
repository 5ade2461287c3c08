"""`graders autograde --cluster` on a real Dask cluster against `--workers 2` on this machine.

    .venv/bin/python benchmarks/cluster.py [--n 40] [--repeat 3]

Not a test. For each repeat: N submissions of `tensors` (the mix of benchmarks/throughput.py) in a
fresh copy of the course, graded by the real CLI

1. `graders autograde tensors --workers 2` (cold: CLI, judges, zygote, gradebook);
2. `graders autograde tensors --cluster tcp://...` against a `dask scheduler` and two `dask worker
   --nthreads 1 --preload graders.cluster` processes started before the local run and idle during it
   (they imported torch and the checks as they started; the warm-up plugin starts their judges'
   zygotes when autograde connects);
3. the same again with `--force` on the same, now warm, cluster (a long-lived cluster's case).

Prints the wall time of each and the ratio cluster/local (median over the repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATA = ROOT / "tests" / "data" / "tensors"
MIX = ["correct", "correct-alternative", "wrong-shape", "wrong-dtype", "stubs"]


def make_course(base: Path, n: int) -> Path:
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / "tensors", base / name / "tensors")
    shutil.copy(ROOT / "nbgrader_config.py", base)
    for i in range(n):
        folder = base / "submitted" / f"s{i:04d}" / "tensors"
        folder.mkdir(parents=True)
        shutil.copy(DATA / f"{MIX[i % len(MIX)]}.ipynb", folder / "tensors.ipynb")
    return base


def timed(cmd: list[str], course: Path) -> float:
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(course), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    t = time.monotonic()
    subprocess.run(cmd, cwd=course, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def start_cluster(base: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    sched_file = base / "scheduler.json"
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=env, stderr=subprocess.DEVNULL, start_new_session=True)]
    while not sched_file.exists():
        time.sleep(0.1)
    time.sleep(0.3)
    address = json.loads(sched_file.read_text())["address"]
    for name in ("a", "b"):
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--name", name, "--no-dashboard",
                                       "--host", "127.0.0.1", "--memory-limit", "0", "--preload", "graders.cluster"], env=env, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
    from distributed import Client

    with Client(address, timeout="60s", set_as_default=False) as c:
        c.wait_for_workers(2, timeout=120)
    return address, procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    graders = str(BIN / "graders")
    rows: dict[str, list[float]] = {"local": [], "cluster cold": [], "cluster warm": []}
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="graders-bench-cluster-") as tmp:
            base = Path(tmp)
            address, procs = start_cluster(base)  # started first and idle, as a cluster waits for batches
            try:
                time.sleep(5)
                local = make_course(base / "local", args.n)
                rows["local"].append(timed([graders, "autograde", "tensors", "--workers", "2", "--quiet"], local))
                remote = make_course(base / "cluster", args.n)
                rows["cluster cold"].append(timed([graders, "autograde", "tensors", "--cluster", address, "--quiet"], remote))
                rows["cluster warm"].append(timed([graders, "autograde", "tensors", "--cluster", address, "--quiet", "--force"], remote))
            finally:
                stop(procs)
            print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in rows.items()) + f" (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\n{args.n} submissions of tensors, median of {args.repeat}:")
    for k, v in med.items():
        print(f"  {k:13s} {v:6.1f} s  {v / args.n:.3f} s/submission  {v / med['local']:.2f}x local")


if __name__ == "__main__":
    main()
