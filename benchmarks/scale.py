"""A whole class at scale: N submissions through the real `graders autograde`, on this machine.

    .venv/bin/python benchmarks/scale.py N [--workers 2] [--assignment tensors] [--json out.json]

Not a test. Makes a temporary course with N submissions (the scenario mix of `tests/data/<a>/`,
one student each), runs `graders autograde <a> --workers W` (the real CLI, progress bar on stderr)
and, while it runs, samples every process of the run from /proc every 0.25 s. Prints

- wall time and time per submission (and the time to the first result: the start-up);
- peak memory (RSS high-water mark) per kind of process: coordinator, forkserver, judge, zygote,
  sandboxed worker (bubblewrap's own processes under `bwrap`);
- the coordinator's RSS as results come in (every 5 %, printed as it goes): flat when it streams;
- gradebook write time against N: ms per write by `GradebookWriter` (what autograde's writer thread
  does) into an empty gradebook, and into the run's gradebook that holds N (new students, regrades).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))


def make_course(base: Path, assignment: str, n: int) -> Path:
    for part in ("source", "release"):
        shutil.copytree(ROOT / part / assignment, base / part / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", base)
    scenarios = sorted(p for p in (ROOT / "tests" / "data" / assignment).glob("*.ipynb"))
    scenarios = [p for p in scenarios if "timeout" not in p.name and "hang" not in p.name] or scenarios
    datas = [p.read_bytes() for p in scenarios]
    for i in range(n):
        folder = base / "submitted" / f"s{i:05d}" / assignment
        folder.mkdir(parents=True)
        (folder / f"{assignment}.ipynb").write_bytes(datas[i % len(datas)])
    return base


def _proc(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, cmdline, VmHWM in kB) of a live process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    ppid, hwm = 0, 0
    for line in status.splitlines():
        if line.startswith("PPid:"):
            ppid = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return ppid, cmd, hwm


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak RSS per kind of process in the tree under `root_pid`."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root = root_pid
        self.peak: dict[str, int] = {}
        self.seen: dict[str, set[int]] = {}
        self.stop_flag = threading.Event()

    def kind(self, pid: int, info: dict[int, tuple[int, str, int]]) -> str:
        if pid == self.root:
            return "coordinator"

        def real(p: int, needle: str) -> bool:  # the process itself is python with `needle`, not bwrap wrapping it
            c = info.get(p, (0, "", 0))[1]
            return needle in c and "bwrap" not in c.split(" ")[0]

        ppid, cmd, _ = info[pid]
        if "bwrap" in cmd.split(" ")[0]:
            return "bwrap"
        if real(pid, "graders_zygote"):
            return "sandboxed worker" if real(ppid, "graders_zygote") else "zygote"
        if real(pid, "forkserver"):
            return "judge" if real(ppid, "forkserver") else "forkserver"
        return "other"

    def run(self) -> None:
        while not self.stop_flag.is_set():
            info: dict[int, tuple[int, str, int]] = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    p = _proc(int(entry))
                    if p is not None:
                        info[int(entry)] = p
            tree = {self.root}
            changed = True
            while changed:
                changed = False
                for pid, (ppid, _c, _h) in info.items():
                    if ppid in tree and pid not in tree:
                        tree.add(pid)
                        changed = True
            for pid in tree:
                if pid in info:
                    k = self.kind(pid, info)
                    self.peak[k] = max(self.peak.get(k, 0), info[pid][2])
                    self.seen.setdefault(k, set()).add(pid)
            time.sleep(0.25)


def gradebook_times(course: Path, assignment: str, count: int = 200) -> dict[str, float]:
    """ms per write (GradebookWriter, SQLite): new submissions into an empty gradebook, then into the
    run's gradebook that holds all N (new students, and regrades of existing ones)."""
    import dataclasses

    from graders.gradebook import GradebookWriter
    from graders.result import SubmissionResult

    paths = sorted((course / "autograded").glob(f"*/{assignment}/result.json"))[:count]
    loaded = [SubmissionResult.from_dict(json.loads(p.read_text())) for p in paths]
    fresh = [dataclasses.replace(r, student=f"new-{r.student}") for r in loaded]

    def timed(url: str | None, results: list[SubmissionResult]) -> float:
        writer = GradebookWriter(root=course, db_url=url, assignments=[assignment])
        while writer.written == 0 and writer.error is None:  # registered, and one write in: not timed
            writer.put(results[0])
            while writer.written == 0 and writer.error is None:
                time.sleep(0.01)
        t = time.monotonic()
        for r in results[1:]:
            writer.put(r)
        writer.close()
        return 1000 * (time.monotonic() - t) / max(1, len(results) - 1)

    return {"new, empty gradebook": timed(f"sqlite:///{course / 'empty-gradebook.db'}", loaded),
            "new, gradebook of N": timed(None, fresh),
            "regrade, gradebook of N": timed(None, loaded)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--assignment", default="tensors")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the temporary course")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="graders-scale-"))
    try:
        t = time.monotonic()
        course = make_course(tmp / "course", args.assignment, args.n)
        print(f"{args.n} submissions of {args.assignment} made in {time.monotonic() - t:.1f} s ({course})", flush=True)
        env = {**os.environ, "GRADERS_COURSE_ROOT": str(course), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
        started = time.monotonic()
        proc = subprocess.Popen([str(BIN / "graders"), "autograde", args.assignment, "--workers", str(args.workers)], cwd=course,
                                env=env, stdout=subprocess.PIPE, text=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        coord: list[tuple[int, float, int]] = []  # (results written, seconds, coordinator RSS kB)
        first = None
        marks = sorted({max(1, int(args.n * f / 20)) for f in range(1, 20)})
        results = course / "autograded"
        while proc.poll() is None:
            time.sleep(1.0)
            n = sum(1 for _ in results.glob(f"*/{args.assignment}/result.json")) if results.exists() else 0
            if n and first is None:
                first = time.monotonic() - started
            while marks and n >= marks[0]:
                coord.append((marks.pop(0), time.monotonic() - started, _rss_kb(proc.pid)))
                m, sec, rss = coord[-1]
                peaks = ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(sampler.peak.items()))
                print(f"  {m:6d} results {sec:7.1f} s  ({sec / m:.3f} s each)  coordinator RSS {rss / 1024:.0f} MB;"
                      f" peaks MB: {peaks}; load {os.getloadavg()[0]:.1f}", flush=True)
        out, _ = proc.communicate()
        wall = time.monotonic() - started
        sampler.stop_flag.set()
        sampler.join()
        coord.append((args.n, wall, sampler.peak.get("coordinator", 0)))
        if proc.returncode != 0:
            raise SystemExit(f"graders autograde failed ({proc.returncode})")
        summary = [line for line in out.splitlines() if " submissions: " in line]
        n_results = sum(1 for _ in results.glob(f"*/{args.assignment}/result.json"))
        print(f"\n{summary[-1] if summary else ''}")
        print(f"{n_results} results written; wall {wall:.1f} s, {wall / args.n:.3f} s per submission; first result after "
              f"{first or 0:.1f} s; after it {(wall - (first or 0)) / max(1, args.n - 1):.3f} s per submission")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        print("\npeak memory (RSS high-water mark) per kind of process:")
        for k, v in sorted(sampler.peak.items(), key=lambda kv: -kv[1]):
            print(f"  {k:17s} {v / 1024:8.0f} MB  ({len(sampler.seen[k])} processes seen)")
        print("\ncoordinator RSS as results came in:")
        for m, s, rss in coord:
            print(f"  {m:6d} results  {s:7.1f} s  {rss / 1024:6.0f} MB")
        gb = gradebook_times(course, args.assignment)
        print("\ngradebook (SQLite, GradebookWriter) time per write:")
        for k, v in gb.items():
            print(f"  {k:26s} {v:6.1f} ms")
        if args.json:
            args.json.write_text(json.dumps({"n": args.n, "wall_s": wall, "first_result_s": first, "peak_kb": sampler.peak,
                                             "coordinator": coord, "gradebook": gb, "summary": summary}, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
