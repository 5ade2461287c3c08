"""`graders export`: the class's grades from nbgrader's gradebook, as CSV.

Default: nbgrader's own CSV export plugin (the columns `nbgrader export` writes: assignment, duedate,
timestamp, student_id, last_name, first_name, email, raw_score, late_submission_penalty, score,
max_score; a student who submitted nothing gets 0), so whatever reads `nbgrader export` reads this.
`--by-question`: one row per student, assignment and question (graders.gradebook.read_scores), with
the judge's auto score and any manual score given in the formgrader.
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
    p = sub.add_parser("export", help="the class's grades from the gradebook as CSV (nbgrader's export format)")
    p.add_argument("--db", metavar="URL", help="gradebook database URL (default: sqlite gradebook.db at the course root)")
    p.add_argument("--out", "-o", metavar="FILE", help="write the CSV here (default: standard output)")
    p.add_argument("--assignment", "-a", action="append", dest="assignments", metavar="NAME",
                   help="only this assignment (repeat for several)")
    p.add_argument("--by-question", action="store_true", help="one row per student, assignment and question")
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
    text = export_csv(db_url=args.db, assignments=args.assignments, by_question=args.by_question)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"grades written to {args.out} ({max(0, text.count(chr(10)) - 1)} rows)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
