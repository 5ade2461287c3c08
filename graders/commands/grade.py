from __future__ import annotations

import argparse
import json
import sys

from ._common import add_device, add_sandbox


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("grade", help="grade one submitted notebook")
    p.add_argument("notebook", help="the submitted .ipynb")
    p.add_argument("--assignment", "-a", required=True, help="which assignment it answers")
    p.add_argument("--student", default="", help="name recorded in the result")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout (same as --format json)")
    p.add_argument("--format", choices=("text", "json", "gradescope"), default=None,
                   help="text (default), json (the result JSON), gradescope (Gradescope's results.json)")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="override the assignment's total time per submission (seconds; cells and checked calls together)")
    add_device(p)
    add_sandbox(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import GradersError
    from ..grade import grade_notebook

    fmt = args.format or ("json" if args.json else "text")
    if args.json and fmt != "json":
        raise GradersError(f"--json and --format {fmt} disagree; give one of them")
    limits = None
    if args.time_limit is not None:
        from ..course import get_assignment

        if args.time_limit <= 0:
            raise GradersError(f"--time-limit {args.time_limit:g}: give a positive number of seconds")
        limits = get_assignment(args.assignment).limits.with_overrides(total_seconds=args.time_limit)
    result = grade_notebook(path=args.notebook, assignment=args.assignment, student=args.student,
                            device=args.device, require_sandbox=args.require_sandbox, limits=limits)
    if fmt == "json":
        sys.stdout.write(result.to_json() + "\n")
    elif fmt == "gradescope":
        from ..gradescope import results_json, settings_for

        sys.stdout.write(json.dumps(results_json(result, settings=settings_for(result.assignment)), ensure_ascii=False) + "\n")
    else:
        print(result.summary())
    return 0
