from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("feedback", help="autograded/ → feedback/<student>/<a>/<a>.html (no hidden check is revealed)")
    p.add_argument("assignment", help="assignment name")
    p.add_argument("--student", action="append", dest="students", metavar="ID",
                   help="only this student (repeat for several; default: everyone autograded)")
    p.add_argument("--reveal-hidden", action="store_true",
                   help="also show hidden checks' messages (they may name hidden inputs); e.g. after the last deadline")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..feedback import write_feedback

    paths = write_feedback(assignment=args.assignment, students=args.students, reveal_hidden=args.reveal_hidden)
    for p in paths:
        print(p)
    print(f"{args.assignment}: feedback written for {len(paths)} student{'s' if len(paths) != 1 else ''}")
    return 0
