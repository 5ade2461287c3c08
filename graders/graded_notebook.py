"""The graded notebook's cells: the submission's answers, the release's structure, valid nbformat.

A submitted .ipynb is student-written JSON. Its outputs, its nbgrader metadata (points, grade ids,
extra "grade" cells) and any key nbformat does not know would otherwise reappear in
autograded/<student>/<assignment>/<assignment>.ipynb as if the grader had put them there.
`from_release` rebuilds the notebook from what the student legitimately controls (cell types and
sources) and takes the rest from the release.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
_CELL_TYPES = ("code", "markdown", "raw")


def _source(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, list):
        return "".join(s for s in x if isinstance(s, str))
    return ""


def _nbgrader(cell: Any) -> dict[str, Any] | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) and isinstance(nbg.get("grade_id"), str) else None


def from_release(data: dict[str, Any], release: dict[str, Any] | None) -> dict[str, Any]:
    """A clean nbformat-4.5 notebook of `data`'s cells (no outputs, no execution counts), whose nbgrader
    metadata is the release's, matched by grade id (first claim wins). Without a release, nbgrader
    metadata is kept only where it says nothing about points (the submission's word is all there is)."""
    by_id: dict[str, dict[str, Any]] = {}  # grade id -> release cell
    by_cell: dict[str, dict[str, Any]] = {}  # cell id -> release cell (nbgrader cells only)
    for cell in (release or {}).get("cells", []) if isinstance(release, dict) else []:
        nbg = _nbgrader(cell)
        if nbg is not None and nbg["grade_id"] not in by_id:
            by_id[nbg["grade_id"]] = cell
            if isinstance(cell.get("id"), str):
                by_cell[cell["id"]] = cell
    seen_ids: set[str] = set()
    claimed: set[str] = set()
    cells: list[dict[str, Any]] = []
    for cell in data.get("cells", []) if isinstance(data.get("cells"), list) else []:
        if not isinstance(cell, dict):
            cell = {}
        ctype = cell.get("cell_type") if cell.get("cell_type") in _CELL_TYPES else "raw"  # cells keep their places
        cid = cell.get("id")
        if not isinstance(cid, str) or not _ID.match(cid) or cid in seen_ids:
            cid = uuid.uuid4().hex[:8]
        seen_ids.add(cid)
        meta: dict[str, Any] = {}
        source = _source(cell.get("source"))
        nbg = _nbgrader(cell)
        if nbg is not None:
            # the release's cell with this cell's id (an edited grade id does not move it), else its grade id
            own = cell.get("id") if isinstance(cell.get("id"), str) else ""
            origin = (by_cell.get(own) or by_id.get(nbg["grade_id"])) if release is not None else None
            gid = _nbgrader(origin)["grade_id"] if origin is not None else ""  # type: ignore[index]
            if origin is not None and gid not in claimed and origin.get("cell_type") == ctype:
                claimed.add(gid)
                meta = copy.deepcopy({k: v for k, v in origin.get("metadata", {}).items() if k in ("nbgrader", "deletable", "editable")})
                rnbg = meta.get("nbgrader", {})
                if rnbg.get("locked") or (rnbg.get("grade") and not rnbg.get("solution")):
                    source = _source(origin.get("source"))  # what the instructor wrote, not an edited copy
            elif release is None and not nbg.get("grade") and "points" not in nbg:
                meta = {"nbgrader": copy.deepcopy(nbg)}
        out: dict[str, Any] = {"cell_type": ctype, "id": cid, "metadata": meta, "source": source}
        if ctype == "code":
            out["execution_count"] = None
            out["outputs"] = []
        cells.append(out)
    nb_meta: dict[str, Any] = {}
    old = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    for key in ("kernelspec", "language_info"):
        if isinstance(old.get(key), dict) and (key != "kernelspec" or {"name", "display_name"} <= set(old[key])):
            nb_meta[key] = _plain(old[key])
    if isinstance(release, dict) and isinstance(release.get("metadata"), dict):
        for key in ("kernelspec", "language_info"):
            if isinstance(release["metadata"].get(key), dict):
                nb_meta[key] = copy.deepcopy(release["metadata"][key])
    graders = old.get("graders")
    if isinstance(graders, dict) and isinstance(graders.get("assignment"), str):
        nb_meta["graders"] = {"assignment": graders["assignment"][:100]}
    return {"cells": cells, "metadata": nb_meta, "nbformat": 4, "nbformat_minor": 5}


def valid(nb: dict[str, Any]) -> dict[str, Any]:
    """`nb` if it is valid nbformat; else without the notebook metadata a submission brought along."""
    import nbformat

    try:
        nbformat.validate(nb, version=4)
        return nb
    except nbformat.ValidationError:
        nb["metadata"] = {k: v for k, v in nb["metadata"].items() if k == "graders"}
        nbformat.validate(nb, version=4)
        return nb


def _plain(x: Any, depth: int = 0) -> Any:
    """JSON of strings, numbers and small containers only (a kernelspec), else dropped."""
    if depth > 4:
        return None
    if isinstance(x, dict):
        return {str(k)[:100]: _plain(v, depth + 1) for k, v in list(x.items())[:20] if isinstance(k, str)}
    if isinstance(x, list):
        return [_plain(v, depth + 1) for v in x[:20]]
    if isinstance(x, str):
        return x[:200]
    return x if isinstance(x, (int, float, bool)) or x is None else None
