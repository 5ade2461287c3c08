"""Resource limits of one worker (per assignment configurable)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 * 1024**3  # address space is not usable with torch; this is RLIMIT_DATA
    cpu_seconds: int = 600
    processes: int = 64  # RLIMIT_NPROC applies per user; bubblewrap's PID namespace bounds the rest
    file_bytes: int = 256 * 1024**2
    open_files: int = 256
    cell_timeout: float = 60.0
    call_timeout: float = 30.0
    output_bytes: int = 1024**2  # what the judge keeps of the worker's raw stdout/stderr
    grace_seconds: float = 3.0  # after a soft timeout, how long before the worker is killed
    # wall-clock time of a whole submission in the worker: its cells (replays after a restart included)
    # and the checks' calls; when it is used up, what is left is recorded as `timeout` (0: no budget)
    total_seconds: float = 300.0

    def with_overrides(self, **kw: Any) -> Limits:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})
