from __future__ import annotations

import argparse

from ._common import add_device, add_sandbox


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "ci", help="grade the assignment notebooks a push or pull request changed (GitHub Actions)",
        description="Grade the course notebooks changed between a base and HEAD of this git checkout; write a "
                    "Markdown summary ($GITHUB_STEP_SUMMARY or stdout), workflow annotations, JUnit XML and result "
                    "JSON. Exit 0 when grading worked whatever the score, 1 when a notebook could not be graded "
                    "or scored below --min-score.")
    p.add_argument("--base", metavar="REF",
                   help="compare HEAD with this branch, tag or commit (default: origin/$GITHUB_BASE_REF in a pull "
                        "request, else the merge base with the default branch, else the first commit)")
    p.add_argument("--repo", default=".", metavar="DIR", help="the git checkout (default: the current folder)")
    p.add_argument("--junit", metavar="PATH", help="write JUnit XML here (one testcase per check)")
    p.add_argument("--json", dest="json_dir", metavar="DIR", help="write one result JSON per graded notebook into this folder")
    p.add_argument("--min-score", type=float, metavar="X", help="fail (exit 1) when a notebook scores fewer points than X")
    p.add_argument("--redact-hidden", action="store_true",
                   help="say only that a hidden check failed, without its message (the inputs of hidden checks stay private)")
    add_device(p)
    add_sandbox(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..ci import run_ci

    outcome = run_ci(repo=args.repo, base=args.base, junit=args.junit, json_dir=args.json_dir, min_score=args.min_score,
                     device=args.device, require_sandbox=args.require_sandbox, redact_hidden=args.redact_hidden)
    return outcome.exit_code
