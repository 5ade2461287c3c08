from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("similarity", help="pairs of submissions that share their answers: reports/<a>/similarity.html and .csv")
    p.add_argument("assignment", help="assignment name")
    p.add_argument("--threshold", type=float, default=0.8, metavar="T",
                   help="report pairs whose similarity (share of one's answer code found in the other's) exceeds T (default 0.8)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import GradersError
    from ..similarity import similarity

    if not 0.0 < args.threshold < 1.0:
        raise GradersError("--threshold must lie between 0 and 1")
    rep = similarity(assignment=args.assignment, threshold=args.threshold)
    print(f"{args.assignment}: {rep.students} submissions compared, {len(rep.pairs)} pair(s) above {args.threshold:g}")
    for p in rep.pairs:
        print(f"  {p.student_a} ↔ {p.student_b}: {p.similarity_a:.0%} / {p.similarity_b:.0%} ({p.shared_tokens} shared tokens)")
    print(f"report: {rep.html}  (pairs side by side), {rep.csv}")
    return 0
