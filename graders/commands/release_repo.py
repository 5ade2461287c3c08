from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "release-repo", help="lay out a student repository: release notebooks, grading workflow, README",
        description="Write (or update) a student repository from release/: the notebooks and their self-check "
                    "files, .github/workflows/grade.yml, a README for students, requirements.txt and .gitignore. "
                    "Push it as your organisation's template repository; see docs/ci.md.")
    p.add_argument("assignment", nargs="*", help="assignments to include (default with --all: every one)")
    p.add_argument("--all", action="store_true", help="include every assignment of the course")
    p.add_argument("--out", required=True, metavar="DIR", help="the student repository's folder (created or updated)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..course import assignment_names
    from ..errors import GradersError
    from ..release_repo import release_repo

    if args.all and args.assignment:
        raise GradersError("give assignment names or --all, not both")
    if not args.all and not args.assignment:
        raise GradersError("name the assignments to release (graders release-repo tensors autograd --out DIR) or use --all")
    names = assignment_names() if args.all else list(dict.fromkeys(args.assignment))
    out = Path(args.out).resolve()
    written = release_repo(assignments=names, out=out)
    print(f"student repository in {out} ({len(written)} files):")
    for f in written:
        print(f"  {f.relative_to(out)}")
    print("next: push it to your organisation as a template repository, make each student's repository from it, and set GRADERS_REPO, "
          "GRADERS_TOKEN (see docs/ci.md)")
    return 0
