"""Grades as a Canvas gradebook import: the CSV layout Canvas itself exports and reads back.

Canvas (Grades → Import) reads a CSV whose first columns identify the student and whose other
columns are assignments, with an optional second row of points possible::

    Student,ID,SIS User ID,SIS Login ID,Section,tensors,autograd
        Points Possible,,,,,10,10
    "Lovelace, Ada",,ada,,,9.5,10

Canvas matches rows to its students by `ID` (Canvas's own user id), else `SIS User ID`, else `SIS
Login ID`; the nbgrader student id goes into the column named by `id_column` (default
"SIS User ID": the usual case when the roster came from the institution's SIS). An assignment column
whose header is a Canvas assignment's "Name (id)" updates that assignment; any other header creates
a new assignment on import (`names` maps our assignment names to Canvas headers). Scores are the
gradebook's (the judge's points plus manual changes in the formgrader), one decimal place more than
Canvas shows; a student without a submission gets 0, as in nbgrader's own export.
"""

from __future__ import annotations

import csv
import io
from typing import Any

ID_COLUMNS = {"id": "ID", "sis_user_id": "SIS User ID", "sis_login_id": "SIS Login ID"}
HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"  # Canvas's own label, four spaces included


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (names come from the roster, never from students' code)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def canvas_csv(rows: list[dict[str, Any]], *, assignments: list[str], max_scores: dict[str, float],
               id_column: str = "sis_user_id", names: dict[str, str] | None = None) -> str:
    """The CSV text from nbgrader export rows (keys student_id, last_name, first_name, email, assignment, score).

    `assignments`: the columns, in order; `max_scores`: their points possible."""
    if id_column not in ID_COLUMNS:
        raise ValueError(f"id_column must be one of {', '.join(ID_COLUMNS)}")
    names = names or {}
    students: dict[str, dict[str, Any]] = {}
    for r in rows:
        sid = str(r.get("student_id") or "")
        if not sid:
            continue
        s = students.setdefault(sid, {"last": r.get("last_name") or "", "first": r.get("first_name") or "", "scores": {}})
        if r.get("assignment") in assignments:
            try:
                s["scores"][r["assignment"]] = float(r.get("score") or 0.0)
            except ValueError:
                s["scores"][r["assignment"]] = 0.0
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER + [names.get(a, a) for a in assignments])
    w.writerow([POINTS_POSSIBLE, "", "", "", ""] + [f"{max_scores.get(a, 0.0):g}" for a in assignments])
    for sid in sorted(students, key=lambda k: (str(students[k]["last"]).lower(), str(students[k]["first"]).lower(), k)):
        s = students[sid]
        last, first = str(s["last"]).strip(), str(s["first"]).strip()
        shown = f"{last}, {first}" if last and first else (last or first or sid)
        ids = {"ID": "", "SIS User ID": "", "SIS Login ID": ""}
        ids[ID_COLUMNS[id_column]] = sid
        w.writerow([_safe(shown), _safe(ids["ID"]), _safe(ids["SIS User ID"]), _safe(ids["SIS Login ID"]), ""]
                   + [f"{round(s['scores'].get(a, 0.0), 4):g}" for a in assignments])
    return buf.getvalue()
