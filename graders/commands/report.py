from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="the class on one assignment: reports/<a>/report.html with plots, and scores.csv")
    p.add_argument("assignment", help="assignment name")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..report import write_report

    path = write_report(assignment=args.assignment)
    print(f"{args.assignment}: report written to {path} (plots and scores.csv next to it)")
    return 0
