from __future__ import annotations

import argparse

from ._common import assignments_arg


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("generate", help="source/ → release/: the student version of an assignment")
    p.add_argument("assignment", nargs="?", help="assignment name (omit with --all)")
    p.add_argument("--all", action="store_true", help="every assignment of the course")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..generate import generate_assignment

    if not args.assignment and not args.all:
        from ..errors import GradersError

        raise GradersError("name an assignment (graders generate tensors) or use --all")
    for name in assignments_arg(args):
        out = generate_assignment(name=name)
        print(f"{name}: release written to {out}")
    return 0
