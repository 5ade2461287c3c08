"""Reading notebooks without nbformat on the hot path (importing it costs ~1 s here)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import GradersError, NotANotebook

# lines of otter's self-check machinery: harmless in the student's kernel, pointless in the worker
_OTTER_LINE = re.compile(r"^\s*(import otter\b|from otter\b|grader\s*=\s*otter\.|grader\.(check|check_all|export|to_pdf)\b)")


@dataclass
class Notebook:
    path: Path
    data: dict[str, Any]

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.data["cells"]

    @property
    def assignment(self) -> str | None:
        meta = self.data.get("metadata", {}).get("graders", {})
        name = meta.get("assignment") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def grade_cells(self) -> dict[str, dict[str, Any]]:
        """grade_id -> nbgrader metadata of every grade cell."""
        out = {}
        for cell in self.cells:
            nb = cell.get("metadata", {}).get("nbgrader", {})
            if isinstance(nb, dict) and nb.get("grade") and nb.get("grade_id"):
                out[str(nb["grade_id"])] = nb
        return out

    def code_to_run(self) -> list[tuple[int, str]]:
        """(cell index, source) of the code the worker executes: every code cell except test cells."""
        out = []
        for i, cell in enumerate(self.cells):
            if cell.get("cell_type") != "code":
                continue
            nb = cell.get("metadata", {}).get("nbgrader", {})
            if isinstance(nb, dict) and nb.get("grade") and not nb.get("solution"):
                continue  # a test cell: checks run in the judge, not here
            src = source_of(cell)
            lines = ["pass  # (self-check line, not run when grading)" if _OTTER_LINE.match(ln) else ln for ln in src.split("\n")]
            out.append((i, "\n".join(lines)))
        return out


def source_of(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def read_notebook(path: str | Path) -> Notebook:
    p = Path(path)
    if not p.exists():
        raise GradersError(f"{p}: no such file; give the path of the submitted .ipynb notebook")
    if p.is_dir():
        raise NotANotebook(p, "it is a folder")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise NotANotebook(p, f"cannot read it: {exc.strerror}") from None
    return parse_notebook(raw, p)


def parse_notebook(raw: bytes, path: str | Path) -> Notebook:
    """A notebook from its bytes; `path` is how messages name it (it need not exist)."""
    p = Path(path)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotANotebook(p, f"it is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotANotebook(p, "it has no list of cells")
    if data.get("nbformat") != 4:
        raise NotANotebook(p, f"nbformat {data.get('nbformat')!r} is not supported, expected 4")
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise NotANotebook(p, f"cell {i + 1} is malformed")
    return Notebook(p, data)


def write_notebook(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (temp file + rename) so a killed run never leaves half a notebook."""
    from .files import write_atomic

    write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
