"""graders/files.py: the one atomic writer, and removing what a writer killed mid-write left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from graders.files import TEMP_PREFIX, remove_partial_writes, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "result.json"
    write_atomic(target, "one\n")
    write_atomic(target, b"two\n", durable=True)
    assert target.read_text() == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_only_the_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        left = tmp_path / f"{TEMP_PREFIX}{dead.stdout.strip()}-abc.json"
        older = tmp_path / f"{TEMP_PREFIX}abc.json"  # no pid in its name: an older writer's
        busy = tmp_path / f"{TEMP_PREFIX}{live.pid}-abc.json"
        mine = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-abc.json"
        keep = tmp_path / "result.json"
        for p in (left, older, busy, mine, keep):
            p.write_text("{}")
        assert sorted(remove_partial_writes(tmp_path)) == sorted([left, older])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([busy.name, mine.name, keep.name])
    finally:
        live.kill()
        live.wait()
