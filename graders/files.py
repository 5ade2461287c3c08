"""The one atomic file writer: a killed run never leaves half a file (temp file in the same folder + rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


TEMP_PREFIX = ".tmp-"  # then the writer's pid: what a writer killed mid-write left is recognisable (remove_partial_writes)


def write_atomic(path: Path, data: bytes | str, *, durable: bool = False) -> None:
    """Write `data` (str: UTF-8) to `path` through a temporary file in its folder and a rename, making the
    folder first. durable: fsync before the rename (result.json: the commit mark of a grading). The
    temporary file is removed when writing fails. The file is readable by its owner only (mkstemp)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_partial_writes(folder: Path) -> list[Path]:
    """Remove the temporary files a writer killed mid-write (kill -9, a lost machine) left in `folder`:
    those whose writer's process no longer exists. Returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(f"{TEMP_PREFIX}*"):
        pid = tmp.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and (int(pid) == os.getpid() or Path(f"/proc/{pid}").exists()):
            continue  # a live writer's (this process, or another run on this machine)
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed
