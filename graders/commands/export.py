"""`graders export`: the class's grades from nbgrader's gradebook, as CSV.

Default: nbgrader's own CSV export plugin (the columns `nbgrader export` writes: assignment, duedate,
timestamp, student_id, last_name, first_name, email, raw_score, late_submission_penalty, score,
max_score; a student who submitted nothing gets 0), so whatever reads `nbgrader export` reads this.
`--by-question`: one row per student, assignment and question (graders.gradebook.read_scores), with
the judge's auto score and any manual score given in the formgrader.
`--format canvas`: Canvas's gradebook import layout (graders/canvas.py): Student, ID, SIS User ID, SIS Login
ID, Section, one column per assignment, a "Points Possible" row.
Scores are what the gradebook holds: the judge's points plus manual changes made in the formgrader.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="the class's grades from the gradebook as CSV (nbgrader's export format, or Canvas's)")
    p.add_argument("--db", metavar="URL", help="gradebook database URL (default: sqlite gradebook.db at the course root)")
    p.add_argument("--out", "-o", metavar="FILE", help="write the CSV here (default: standard output)")
    p.add_argument("--assignment", "-a", action="append", dest="assignments", metavar="NAME",
                   help="only this assignment (repeat for several)")
    p.add_argument("--by-question", action="store_true", help="one row per student, assignment and question")
    p.add_argument("--format", choices=("nbgrader", "canvas"), default="nbgrader",
                   help="nbgrader (default): nbgrader's CSV export; canvas: Canvas's gradebook import layout (graders/canvas.py)")
    p.add_argument("--canvas-id", choices=("sis_user_id", "sis_login_id", "id"), default="sis_user_id",
                   help="with --format canvas: the Canvas column that holds the nbgrader student id (default: sis_user_id)")
    p.add_argument("--canvas-name", action="append", default=[], metavar="ASSIGNMENT=HEADER",
                   help='with --format canvas: the column header of an assignment, e.g. tensors="Tensors (4711)" to update '
                        "the Canvas assignment with id 4711 (default: the assignment name, a new assignment on import)")
    p.set_defaults(run=run)


def export_csv(*, root: Path | None = None, db_url: str | None = None, assignments: list[str] | None = None,
               by_question: bool = False) -> str:
    """The CSV text (see the module's docstring)."""
    from ..course import course_root, get_assignment
    from ..errors import GradersError
    from ..gradebook import default_db_url, open_gradebook, read_scores

    root = Path(root) if root else course_root()
    url = db_url or default_db_url(root)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise GradersError(f"no gradebook at {url.removeprefix('sqlite:///')}; run `graders autograde <assignment>` "
                           "first, or give --db URL")
    for a in assignments or []:
        get_assignment(a)  # an unknown name fails here, with the list of known ones
    if by_question:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["assignment", "student_id", "question", "score", "max_score", "auto_score", "manual_score"])
        for row in read_scores(root=root, db_url=url):
            if assignments and row["assignment"] not in assignments:
                continue
            order = list(get_assignment(row["assignment"]).questions) if _known(row["assignment"]) else []
            qs = sorted(row["questions"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
            for q, s in qs:
                w.writerow([row["assignment"], row["student"], q, *(_num(s[k]) for k in ("score", "max_score", "auto_score", "manual_score"))])
        return buf.getvalue()

    from nbgrader.plugins import CsvExportPlugin

    with tempfile.TemporaryDirectory(prefix="graders-export-") as tmp:
        dest = Path(tmp) / "grades.csv"
        plugin = CsvExportPlugin(to=str(dest), assignment=list(assignments or []))
        with open_gradebook(root=root, db_url=url) as gb:
            plugin.export(gb)
        raw = dest.read_text(encoding="utf-8")
    # nbgrader writes fields unquoted: re-write them as proper CSV (a name with a comma stays one field)
    return _requote(raw)


def export_canvas(*, root: Path | None = None, db_url: str | None = None, assignments: list[str] | None = None,
                  id_column: str = "sis_user_id", names: dict[str, str] | None = None) -> str:
    """The class's grades in Canvas's gradebook import layout (graders/canvas.py)."""
    from ..canvas import canvas_csv
    from ..course import assignment_names, get_assignment

    rows = list(csv.DictReader(io.StringIO(export_csv(root=root, db_url=db_url, assignments=assignments))))
    present = list(dict.fromkeys(r["assignment"] for r in rows))
    order = [a for a in assignment_names() if a in present] + [a for a in present if a not in assignment_names()]
    if assignments:
        order = [a for a in assignments if a in present or _known(a)]
    max_scores: dict[str, float] = {}
    for a in order:
        found = [float(r["max_score"]) for r in rows if r["assignment"] == a and r.get("max_score")]
        max_scores[a] = max(found) if found else (get_assignment(a).max_score if _known(a) else 0.0)
    return canvas_csv(rows, assignments=order, max_scores=max_scores, id_column=id_column, names=names)


def _known(name: str) -> bool:
    from ..course import assignment_names

    return name in assignment_names()


def _num(x: object) -> str:
    return "" if x is None else f"{float(x):g}"  # type: ignore[arg-type]


def _requote(raw: str) -> str:
    lines = raw.splitlines()
    if not lines:
        return raw
    n = len(lines[0].split(","))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for line in lines:
        parts = line.split(",")
        if len(parts) > n:  # commas inside the name/email fields (3..6): keep the numeric tail aligned
            head, tail = parts[:4], parts[-(n - 7):]
            middle = parts[4:len(parts) - (n - 7)]
            # last_name, first_name, email: give the extra commas to last_name (best effort)
            extra = len(middle) - 3
            middle = [",".join(middle[: extra + 1]), *middle[extra + 1:]]
            parts = head + middle + tail
        w.writerow(parts)
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    from ..errors import GradersError

    if args.format == "canvas":
        if args.by_question:
            raise GradersError("--by-question and --format canvas do not go together: Canvas imports one score per assignment")
        names = {}
        for item in args.canvas_name:
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise GradersError(f"--canvas-name {item!r}: write ASSIGNMENT=HEADER, e.g. tensors=\"Tensors (4711)\"")
            names[key.strip()] = value.strip()
        text = export_canvas(db_url=args.db, assignments=args.assignments, id_column=args.canvas_id, names=names)
    else:
        text = export_csv(db_url=args.db, assignments=args.assignments, by_question=args.by_question)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"grades written to {args.out} ({max(0, text.count(chr(10)) - 1)} rows)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
