"""`graders gradescope ASSIGNMENT --out DIR`: DIR/autograder.zip for Gradescope (setup.sh, run_autograder,
the pinned environment and the grader with the assignment's hidden checks: keep it private).

`--run [--root /autograder]` is what the zip's run_autograder calls inside Gradescope's container:
grade the submitted notebook and write results/results.json (see graders/gradescope.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gradescope", help="build the Gradescope autograder.zip of an assignment (private: it holds the hidden checks)",
                       description="Write DIR/autograder.zip: Gradescope's setup.sh and run_autograder, the pinned environment "
                                   "(torch==2.13.0 first) and this grader with the assignment's checks, hidden ones included. "
                                   "Upload it as the assignment's autograder; never give it to students.")
    p.add_argument("assignment", help="assignment name")
    p.add_argument("--out", metavar="DIR", help="where to write autograder.zip")
    p.add_argument("--run", action="store_true", dest="inside", help="(inside Gradescope) grade ROOT/submission into ROOT/results/results.json")
    p.add_argument("--root", metavar="DIR", default="/autograder", help="Gradescope's folder, with --run (default: /autograder)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..course import get_assignment
    from ..errors import GradersError
    from ..gradescope import build_autograder, run_autograder

    get_assignment(args.assignment)
    if args.inside:
        if args.out:
            raise GradersError("--run grades inside Gradescope; --out builds the zip: give one of them")
        run_autograder(assignment=args.assignment, root=Path(args.root))
        return 0
    if not args.out:
        raise GradersError("give --out DIR (where autograder.zip is written)")
    path = build_autograder(assignment=args.assignment, out=Path(args.out))
    print(f"{args.assignment}: Gradescope autograder written to {path}", file=sys.stderr)
    print("it holds the hidden checks: upload it to Gradescope and keep it private (never give it to students)", file=sys.stderr)
    return 0
