from __future__ import annotations

import argparse
import sys

from ._common import add_device, add_sandbox


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("grade", help="grade one submitted notebook")
    p.add_argument("notebook", help="the submitted .ipynb")
    p.add_argument("--assignment", "-a", required=True, help="which assignment it answers")
    p.add_argument("--student", default="", help="name recorded in the result")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    add_device(p)
    add_sandbox(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..grade import grade_notebook

    result = grade_notebook(path=args.notebook, assignment=args.assignment, student=args.student,
                            device=args.device, require_sandbox=args.require_sandbox)
    if args.json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print(result.summary())
    return 0
