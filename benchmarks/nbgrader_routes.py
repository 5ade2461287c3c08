"""What routing nbgrader through graders costs: `nbgrader autograde` (routed) against `graders autograde`.

    .venv/bin/python benchmarks/nbgrader_routes.py [--students 5]

In a scratch copy of the course with N tensors submissions (the correct scenario notebook), times
1. `graders autograde tensors --workers 1 --force` (one judge, one zygote for the class);
2. `nbgrader autograde tensors --force` with the course's nbgrader_config.py, which runs
   `graders autograde tensors --student=S --force` once per submission (what the formgrader's
   Autograde button does for one student);
3. `nbgrader generate_feedback tensors --force` (graders' pages, no student code).
Both autogrades must give the same scores (checked). Prints seconds in total and per submission.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "GRADERS_COURSE_ROOT"}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from graders.gradebook import read_scores
    from tests.classroom import course_copy

    with tempfile.TemporaryDirectory(prefix="graders-bench-routes-") as tmp:
        root = course_copy(Path(tmp) / "course")
        for i in range(args.students):
            folder = root / "submitted" / f"s{i:03d}" / "tensors"
            folder.mkdir(parents=True)
            shutil.copy(ROOT / "tests" / "data" / "tensors" / "correct.ipynb", folder / "tensors.ipynb")
        n = args.students
        print(f"{n} tensors submissions, load {os.getloadavg()[0]:.1f}")
        t = run([str(BIN / "graders"), "autograde", "tensors", "--workers", "1", "--force", "--quiet"], root)
        ours = {r["student"]: r["questions"] for r in read_scores(root=root)}
        print(f"graders autograde --workers 1   {t:6.1f} s   {t / n:5.2f} s per submission")
        t = run([str(BIN / "nbgrader"), "autograde", "tensors", "--force"], root)
        routed = {r["student"]: r["questions"] for r in read_scores(root=root)}
        print(f"nbgrader autograde (routed)     {t:6.1f} s   {t / n:5.2f} s per submission")
        assert routed == ours, "nbgrader's route gave other scores than graders autograde"
        t = run([str(BIN / "nbgrader"), "generate_feedback", "tensors", "--force"], root)
        print(f"nbgrader generate_feedback      {t:6.1f} s   {t / n:5.2f} s per submission")
        print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
