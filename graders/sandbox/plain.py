"""The plain launcher, the fallback where no sandbox can run: a separate process with rlimits."""

from __future__ import annotations

import sys
from pathlib import Path

from .cgroup import PidsCgroup
from .limits import Limits
from .process import WorkerProcess, popen_worker, stage_worker_package, worker_env


class PlainLauncher:
    """No sandbox: a separate process with rlimits, its own session, a scrubbed environment."""

    name = "none"

    def spawn(self, *, workdir: Path, limits: Limits, files: dict[str, bytes] | None = None) -> WorkerProcess:
        for rel, data in (files or {}).items():
            (workdir / rel).write_bytes(data)
        # the worker package is put on the path alone, under its own name: `import graders` finds nothing
        stage = workdir / ".graders-worker"
        stage_worker_package(stage)
        cmd = [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(stage)!r}); from graders_worker.serve import main; raise SystemExit(main(['{{FD}}']))"]
        cgroup = PidsCgroup.create(limits.processes)
        return popen_worker(cmd, workdir=workdir, limits=limits, env=worker_env(workdir), sandbox=self.name, cgroup=cgroup)
