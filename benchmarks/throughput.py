"""Throughput of batch grading: `graders autograde` against nbgrader and otter-grader, on one machine.

    .venv/bin/python benchmarks/throughput.py [--n 40] [--workers 2] [--json out.json]

Not a test. The same N submissions of `tensors` (a mix of correct, wrong and stub answers) are graded

1. by `graders autograde tensors --workers W` (the real CLI, cold: judges start, zygotes import
   torch, the gradebook is written), in a temporary copy of the course;
2. by `nbgrader autograde tensors` (the real one, one kernel per submission, one after another), in
   another temporary course whose test cells hold plain `assert`s equivalent to our public checks
   (nbgrader runs test cells in the student's kernel; ours runs 18 checks, public and hidden, in
   the judge, so nbgrader has less to do);
3. by otter-grader without Docker: `otter.api.grade_submission` with an autograder zip that
   `otter generate` made from release/tensors/tests (the public checks), one after another;

plus the cold time of one submission: `graders grade` (a new Python, the ordinary bubblewrap
launcher) against `jupyter nbconvert --execute` of the same notebook, and the per-submission
cost of the zygote path measured inside one warm judge (what `--workers` multiplies).
It prints seconds per submission, the ratios and which targets of issue #5 are met.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "tensors"
BIN = Path(sys.executable).parent
MIX = ["correct", "correct-alternative", "wrong-shape", "wrong-dtype", "stubs"]

# nbgrader's test cells: plain asserts equivalent to the public checks of graders/assignments/tensors.py
NBGRADER_TESTS = {
    "describe": '''
d = describe(torch.arange(6, dtype=torch.float32))
assert isinstance(d, dict)
assert d == {"shape": (6,), "ndim": 1, "dtype": "torch.float32", "numel": 6}
''',
    "matmul_shape": '''
assert matmul_shape((3, 4), (4, 5)) == (3, 5)
assert matmul_shape((1, 7), (7, 1)) == (1, 1)
try:
    matmul_shape((3, 4), (5, 6))
except ValueError:
    pass
else:
    raise AssertionError("matmul_shape((3, 4), (5, 6)) should raise ValueError")
''',
    "matmul": '''
g = torch.Generator().manual_seed(0)
a, b = torch.randn(3, 4, generator=g), torch.randn(4, 5, generator=g)
r = matmul(a, b)
assert r.shape == (3, 5)
assert r.dtype == a.dtype
assert torch.allclose(r, a @ b, rtol=1e-5, atol=1e-6)
''',
    "one_hot": '''
r = one_hot(torch.tensor([0, 2, 1, 2]), 3)
assert r.shape == (4, 3)
assert r.dtype == torch.float32
assert torch.equal(r, torch.nn.functional.one_hot(torch.tensor([0, 2, 1, 2]), 3).float())
''',
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def env_with_venv(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", **extra}
    env.pop("GRADERS_COURSE_ROOT", None)
    return env


def timed(cmd: list[str], *, cwd: Path, env: dict[str, str], check: bool = True) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    t = time.monotonic()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True)
    dt = time.monotonic() - t
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.decode()[-3000:]}")
    return dt, r


def the_class(n: int) -> list[tuple[str, Path]]:
    return [(f"student{i:03d}", DATA / f"{MIX[i % len(MIX)]}.ipynb") for i in range(n)]


def course_copy(base: Path) -> Path:
    base.mkdir(parents=True)
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, base / name)
    shutil.copy(ROOT / "nbgrader_config.py", base)
    return base


# ------------------------------------------------------------------------------------------ graders
def _graders_run(course: Path, workers: int, n: int) -> tuple[float, float]:
    """One cold CLI run: (seconds in all, seconds until the first result was written)."""
    for d in ("autograded",):
        shutil.rmtree(course / d, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        (course / "gradebook.db").unlink()
    env = env_with_venv(GRADERS_COURSE_ROOT=str(course))
    cmd = [str(BIN / "graders"), "autograde", "tensors", "--workers", str(workers), "--quiet", "--device", "cpu"]
    t = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    while proc.poll() is None:
        if first is None and (course / "autograded").is_dir() and next((course / "autograded").rglob("result.json"), None):
            first = time.monotonic() - t
        time.sleep(0.02)
    total = time.monotonic() - t
    if proc.returncode != 0:
        raise RuntimeError(f"graders autograde failed ({proc.returncode}): {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
    return total, first if first is not None else total


def graders_course(work: Path, klass: list[tuple[str, Path]]) -> Path:
    course = course_copy(work / "graders-course")
    for student, src in klass:
        dst = course / "submitted" / student / "tensors" / "tensors.ipynb"
        dst.parent.mkdir(parents=True)
        shutil.copyfile(src, dst)
    return course


def bench_graders(course: Path, klass: list[tuple[str, Path]], workers: int, repeats: int, phase: str) -> list[dict[str, float]]:
    runs = []
    for i in range(repeats):
        la = os.getloadavg()[0]
        log(f"graders autograde --workers {workers}: {len(klass)} submissions, {phase} run {i + 1}/{repeats} ({load()})")
        total, first = _graders_run(course, workers, len(klass))
        runs.append({"seconds": total, "first_result": first, "load": la})
        log(f"  {total:.1f} s (first result after {first:.1f} s)")
    return runs


def graders_summary(course: Path, klass: list[tuple[str, Path]], workers: int, runs: list[dict[str, float]]) -> dict[str, object]:
    total = statistics.median(r["seconds"] for r in runs)
    first = statistics.median(r["first_result"] for r in runs)
    results = [json.loads((course / "autograded" / s / "tensors" / "result.json").read_text()) for s, _ in klass]
    per = [r["duration_s"] for r in results]
    zyg = sum(1 for r in results if r["autograde"]["judge"].get("zygote"))
    env = env_with_venv(GRADERS_COURSE_ROOT=str(course))
    dt_again, _ = timed([str(BIN / "graders"), "autograde", "tensors", "--workers", str(workers), "--quiet", "--device", "cpu"], cwd=course, env=env)
    scores = sorted({(Path(src).stem, r["score"]) for (_s, src), r in zip(klass, results)})
    return {"seconds": total, "runs": runs, "first_result_seconds": first, "per_submission": total / len(klass),
            "steady_per_submission": (total - first) / max(1, len(klass) - 1), "judge_seconds_median": statistics.median(per),
            "from_zygote": zyg, "rerun_seconds": dt_again, "sandbox": results[0]["sandbox"], "scores": scores}


def bench_judge_steady(klass: list[tuple[str, Path]]) -> dict[str, float]:
    """One warm judge in this process: what one submission costs once torch, pytest and the zygote are up."""
    from graders.autograde import Judge, JudgeSettings
    from graders.sandbox.policy import decide_sandbox

    judge = Judge(JudgeSettings(sandbox=decide_sandbox(False), zygote=True))
    t = time.monotonic()
    judge.warm_up(["tensors"])
    warm = time.monotonic() - t
    times = []
    for student, src in klass:
        t = time.monotonic()
        judge.grade({"assignment": "tensors", "student": student, "data": src.read_bytes(), "device": "cpu", "hidden_seed": 1})
        times.append(time.monotonic() - t)
    # the fork itself: spawn to "ready", for an empty notebook
    from graders.judge.session import WorkerSession
    from graders.sandbox.limits import Limits

    forks = []
    for _ in range(20):
        t = time.monotonic()
        s = WorkerSession(launcher=judge.get_launcher(), limits=Limits(), cells=["pass"])
        s.start()
        forks.append(time.monotonic() - t)
        s.close()
    judge.close()
    return {"warm_up_seconds": warm, "per_submission_median": statistics.median(times), "per_submission_mean": statistics.mean(times),
            "fork_to_ready_median": statistics.median(forks)}


def student_code_seconds(klass: list[tuple[str, Path]]) -> float:
    """The student code's own run time: the notebook's cells exec'd in an already-warm Python (no isolation)."""
    from graders.notebook import read_notebook

    import torch  # noqa: F401

    times = []
    for _student, src in klass[:10]:
        nb = read_notebook(src)
        ns: dict[str, object] = {}
        t = time.monotonic()
        for _i, code in nb.code_to_run():
            with contextlib.suppress(BaseException), contextlib.redirect_stdout(None):  # type: ignore[type-var]
                exec(compile(code, "<cell>", "exec"), ns)
        times.append(time.monotonic() - t)
    return statistics.median(times)


# ------------------------------------------------------------------------------------------ nbgrader
def _nbgrader_version(nb: dict) -> dict:
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if meta.get("grade_id") == "setup":
            cell["source"] = "import torch"
        elif meta.get("grade") and not meta.get("solution"):
            cell["source"] = NBGRADER_TESTS[meta["grade_id"]].strip()
        elif "grader.check_all()" in src:
            cell["source"] = "pass"
    return nb


def bench_nbgrader(work: Path, klass: list[tuple[str, Path]]) -> dict[str, object]:
    course = work / "nbgrader-course"
    (course / "source" / "tensors").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bench'\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    src = json.loads((ROOT / "source" / "tensors" / "tensors.ipynb").read_text())
    (course / "source" / "tensors" / "tensors.ipynb").write_text(json.dumps(_nbgrader_version(src)))
    env = env_with_venv()
    log("nbgrader generate_assignment (setup, not timed)")
    timed([str(BIN / "nbgrader"), "generate_assignment", "tensors", "--force"], cwd=course, env=env)
    for student, path in klass:
        dst = course / "submitted" / student / "tensors" / "tensors.ipynb"
        dst.parent.mkdir(parents=True)
        dst.write_text(json.dumps(_nbgrader_version(json.loads(path.read_text()))))
    log(f"nbgrader autograde: {len(klass)} submissions ({load()})")
    dt, _ = timed([str(BIN / "nbgrader"), "autograde", "tensors", "--create"], cwd=course, env=env)
    export = course / "grades.csv"
    timed([str(BIN / "nbgrader"), "export", "--to", str(export)], cwd=course, env=env)
    import csv

    with export.open() as f:
        rows = list(csv.DictReader(f))
    by = {r["student_id"]: float(r["score"]) for r in rows}
    scores = sorted({(p.stem, by.get(s, -1.0)) for s, p in klass})
    return {"seconds": dt, "per_submission": dt / len(klass), "scores": scores}


# ------------------------------------------------------------------------------------------ otter
OTTER_LOOP = r'''
import json, sys, time
import otter.api
ag, paths = sys.argv[1], sys.argv[2:]
out = []
t0 = time.monotonic()
for p in paths:
    t = time.monotonic()
    r = otter.api.grade_submission(p, ag_path=ag, quiet=True)
    out.append({"path": p, "total": r.total, "possible": r.possible, "seconds": time.monotonic() - t})
print(json.dumps({"seconds": time.monotonic() - t0, "results": out}))
'''


def bench_otter(work: Path, klass: list[tuple[str, Path]]) -> dict[str, object]:
    d = work / "otter"
    d.mkdir()
    env = env_with_venv()
    ag = d / "autograder.zip"
    try:
        timed([str(BIN / "otter"), "generate", "-t", str(ROOT / "release" / "tensors" / "tests"), "-o", str(ag)], cwd=d, env=env)
    except RuntimeError as exc:
        return {"error": f"otter generate failed: {exc}"}
    paths = []
    for student, src in klass:
        p = d / student / "tensors.ipynb"
        p.parent.mkdir()
        shutil.copyfile(src, p)
        paths.append(str(p))
    log(f"otter grade_submission (no Docker): {len(klass)} submissions ({load()})")
    t = time.monotonic()
    _dt, r = timed([sys.executable, "-c", OTTER_LOOP, str(ag), *paths], cwd=d, env=env)
    wall = time.monotonic() - t
    out = json.loads(r.stdout.decode().strip().splitlines()[-1])
    scores = sorted({(Path(src).stem, x["total"]) for (_s, src), x in zip(klass, out["results"])})
    return {"seconds": wall, "per_submission": wall / len(klass), "scores": scores,
            "note": "otter grades the public checks only (release/tensors/tests), in a kernel per submission"}


# ------------------------------------------------------------------------------------------ cold, one notebook
def bench_cold(work: Path, repeats: int) -> dict[str, object]:
    d = work / "cold"
    d.mkdir()
    nb = d / "tensors.ipynb"
    shutil.copyfile(DATA / "correct.ipynb", nb)
    shutil.copytree(ROOT / "release" / "tensors" / "tests", d / "tests")  # what its grader.check cells read
    env = env_with_venv()
    g, c = [], []
    log(f"cold: graders grade vs jupyter nbconvert --execute, {repeats} times each ({load()})")
    for i in range(repeats):
        dt, r = timed([str(BIN / "graders"), "grade", str(nb), "--assignment", "tensors", "--json", "--device", "cpu"], cwd=d, env=env)
        g.append(dt)
        res = json.loads(r.stdout)
        dt, _ = timed([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", str(nb), "--output", str(d / f"out{i}.ipynb")],
                      cwd=d, env=env)
        c.append(dt)
    return {"graders_grade": statistics.median(g), "nbconvert_execute": statistics.median(c), "graders_runs": g,
            "nbconvert_runs": c, "graders_score": res["score"], "sandbox": res["sandbox"]}


# ------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="submissions (default 40)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip", action="append", default=[], choices=("nbgrader", "otter", "cold", "steady"))
    ap.add_argument("--repeats", type=int, default=3, help="runs of graders autograde and of each cold single-notebook command (median)")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary courses")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    klass = the_class(args.n)
    work = Path(tempfile.mkdtemp(prefix="graders-bench-"))
    out: dict[str, object] = {"n": args.n, "workers": args.workers, "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    try:
        # graders runs before and after nbgrader's (minutes long): the same machine load for both, as far as
        # a shared machine allows; the load average of every run is reported
        course = graders_course(work, klass)
        runs = bench_graders(course, klass, args.workers, args.repeats, "first")
        if "nbgrader" not in args.skip:
            la = os.getloadavg()[0]
            out["nbgrader"] = bench_nbgrader(work, klass)
            out["nbgrader"]["load"] = (la + os.getloadavg()[0]) / 2
            runs += bench_graders(course, klass, args.workers, args.repeats, "second")
        out["graders"] = graders_summary(course, klass, args.workers, runs)
        if "steady" not in args.skip:
            out["judge"] = bench_judge_steady(klass)
            out["student_code_seconds"] = student_code_seconds(klass)
        if "otter" not in args.skip:
            la = os.getloadavg()[0]
            out["otter"] = bench_otter(work, klass)
            out["otter"]["load"] = (la + os.getloadavg()[0]) / 2
        if "cold" not in args.skip:
            out["cold"] = bench_cold(work, args.repeats)
    finally:
        out["load_after"] = os.getloadavg()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
    return 0


def report(out: dict) -> None:
    n, w = out["n"], out["workers"]
    g = out["graders"]
    print(f"\n{n} submissions of `tensors` on {out['cpus']} CPUs (load average before {out['load_before'][0]:.1f}, after {out['load_after'][0]:.1f})")
    print(f"{'':44} {'total s':>9} {'s/submission':>13} {'vs graders':>11}")
    print(f"{'graders autograde --workers ' + str(w) + ' (cold CLI)':44} {g['seconds']:9.1f} {g['per_submission']:13.3f} {'1.0x':>11}")
    rows = []
    if "nbgrader" in out:
        rows.append(("nbgrader autograde", out["nbgrader"]))
    if "otter" in out and "error" not in out["otter"]:
        rows.append(("otter grade_submission (no Docker)", out["otter"]))
    for name, r in rows:
        print(f"{name:44} {r['seconds']:9.1f} {r['per_submission']:13.3f} {r['per_submission'] / g['per_submission']:10.1f}x")
    if "otter" in out and "error" in out["otter"]:
        print(f"otter: not measured: {out['otter']['error']}")
    print(f"graders: median of {len(g['runs'])} cold runs (" + ", ".join(f"{r['seconds']:.1f} s at load {r['load']:.1f}" for r in g["runs"])
          + f"); first result after {g['first_result_seconds']:.1f} s (judges and the zygote starting), then "
          f"{g['steady_per_submission']:.3f} s per submission")
    for name in ("nbgrader", "otter"):
        if name in out and "load" in out[name]:
            print(f"{name}: measured at load average {out[name]['load']:.1f}")
    print(f"graders rerun, everything up to date: {g['rerun_seconds']:.1f} s; sandbox {g['sandbox']}; "
          f"{g['from_zygote']}/{n} workers forked from a zygote")
    if "judge" in out:
        j = out["judge"]
        own = out["student_code_seconds"]
        print(f"one warm judge: {j['per_submission_median']:.3f} s per submission (median; mean {j['per_submission_mean']:.3f}); "
              f"fork to ready {j['fork_to_ready_median'] * 1000:.0f} ms; judge warm-up {j['warm_up_seconds']:.1f} s")
        print(f"student code's own run time (cells exec'd in a warm process): {own * 1000:.0f} ms")
        over = j["per_submission_median"] - own
        print(f"overhead per submission beyond the student code: {over:.3f} s (target <= 0.2 s: {'met' if over <= 0.2 else 'NOT met'})")
    if "nbgrader" in out:
        ratio = out["nbgrader"]["per_submission"] / g["per_submission"]
        print(f"throughput vs nbgrader autograde: {ratio:.1f}x (target >= 10x: {'met' if ratio >= 10 else 'NOT met'})")
    if "cold" in out:
        c = out["cold"]
        ok = c["graders_grade"] <= c["nbconvert_execute"]
        print(f"cold single notebook: graders grade {c['graders_grade']:.2f} s ({c['sandbox']}) vs nbconvert --execute "
              f"{c['nbconvert_execute']:.2f} s (target: no slower: {'met' if ok else 'NOT met'})")
    for name in ("graders", "nbgrader", "otter"):
        if name in out and "scores" in out[name]:
            print(f"  scores by scenario, {name}: {dict(out[name]['scores'])}")


if __name__ == "__main__":
    sys.exit(main())
