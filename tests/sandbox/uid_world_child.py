"""Runs inside the clean machine that tests/sandbox/test_uid.py sets up (a copy of this file is executed
there: the checkout itself is not visible). Grades the red team's scenarios with the uid sandbox, looks at
what a worker can reach, runs Gradescope's run_autograder, and prints one JSON object.

    python uid_world_child.py SCRATCH

Standard library and the grader copied into SCRATCH/autograder/source/grader (on PYTHONPATH) only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCENARIOS = ("honest", "read-hidden-checks", "env-secrets", "process-flood", "fork-bomb")
MARK = "rt-marker-6d1f"

PROBE = '''import os, socket, sys
def probe(private):
    def read(p):
        try:
            if os.path.isdir(p):
                return "LISTED " + repr(sorted(os.listdir(p))[:5])
            with open(p, "rb") as f:
                return "READ " + f.read(200).decode("latin-1")
        except OSError as exc:
            return type(exc).__name__
    def writable(d):
        try:
            with open(os.path.join(d, "rt-probe"), "w"):
                pass
            os.unlink(os.path.join(d, "rt-probe"))
            return True
        except OSError:
            return False
    def sock(family):
        try:
            socket.socket(family, socket.SOCK_STREAM).close()
            return "created"
        except OSError as exc:
            return type(exc).__name__
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    try:
        import graders
        g = "imported"
    except ModuleNotFoundError:
        g = "ModuleNotFoundError"
    return {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "caps": status["CapEff"].strip(),
            "no_new_privs": status.get("NoNewPrivs", "").strip(), "graders": g, "read": {p: read(p) for p in private},
            "writable": {d: writable(d) for d in ("/", sys.prefix, "..", ".", "/tmp")},
            "inet": sock(socket.AF_INET), "inet6": sock(socket.AF_INET6), "unix": sock(socket.AF_UNIX),
            "cwd": os.getcwd()}
'''


def main(scratch: Path) -> dict:
    from graders.grade import grade_notebook
    from graders.judge.session import WorkerSession
    from graders.sandbox import Limits
    from graders.sandbox.policy import choose_launcher
    from graders.sandbox.uid import UidLauncher

    limits = Limits(memory_bytes=1024**3, cpu_seconds=60, processes=32, file_bytes=64 * 1024**2, open_files=256,
                    cell_timeout=2.0, call_timeout=2.0, output_bytes=64 * 1024, grace_seconds=1.0)
    out: dict = {"auto": choose_launcher(require_sandbox=True).name, "scenarios": {}}
    for name in SCENARIOS:
        r = grade_notebook(path=scratch / "notebooks" / f"{name}.ipynb", assignment="tensors", student=f"uid-{name}",
                           device="cpu", launcher=UidLauncher(), limits=limits)
        out["scenarios"][name] = r.to_dict(with_cells=True)
    course = Path(os.environ["GRADERS_COURSE_ROOT"])
    package = scratch / "autograder" / "source" / "grader" / "graders"
    private = [str(course / "gradebook.db"), str(course), str(course / "source" / "tensors" / "tensors.ipynb"),
               str(package / "assignments" / "tensors.py"), str(package), str(scratch / "autograder" / "source")]
    with WorkerSession(launcher=UidLauncher(), limits=limits, cells=[PROBE]) as session:
        assert [o.status for o in session.start()] == ["ok"]
        out["probe"] = session.call("probe", private)
    # what the workers left in the world-writable folders (the launcher sweeps them)
    out["left"] = sorted(str(p) for d in ("/tmp", "/var/tmp", "/dev/shm") for p in Path(d).glob(f"*{MARK}*"))
    # Gradescope's run_autograder, with no bubblewrap on PATH: auto picks the uid sandbox
    root = scratch / "autograder"
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True, text=True, timeout=600,
                          env={"PATH": str(scratch / "bin"), "GRADERS_AUTOGRADER_ROOT": str(root)})
    out["gradescope"] = {"returncode": proc.returncode, "stdout": proc.stdout[-2000:], "stderr": proc.stderr[-2000:],
                         "results": json.loads((root / "results" / "results.json").read_text())}
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
