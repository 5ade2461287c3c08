"""`graders demo`: generate the course, grade the bundled example class, print the scores, write reports."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="grade the bundled example class end to end (what `make demo` runs)")
    p.add_argument("--workers", "-j", type=int, default=2, metavar="N", help="judge processes (default: 2)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(workers=max(1, args.workers), progress=not args.quiet)
    return 0
