"""`graders autograde ASSIGNMENT|--all`: grade a whole class into autograded/ and the gradebook."""

from __future__ import annotations

import argparse

from ._common import add_device, add_sandbox


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("autograde", help="grade every submission of an assignment (parallel, resumable) into autograded/ and the gradebook",
                       description="Grade every submitted/<student>/<assignment>/<assignment>.ipynb into autograded/ and nbgrader's "
                                   "gradebook. Unchanged submissions graded before are kept (use --force to regrade); a killed run "
                                   "resumes where it stopped.")
    p.add_argument("assignment", nargs="?", help="assignment name (omit with --all)")
    p.add_argument("--all", action="store_true", help="every assignment that has submissions")
    p.add_argument("--workers", "-j", type=int, default=2, metavar="N",
                   help="judge processes on this machine, each with its own zygote (default: 2; 1 grades in this process)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="a Dask scheduler (tcp://HOST:PORT) to send the grading tasks to; results are written here")
    p.add_argument("--db", metavar="URL", help="the gradebook: any SQLAlchemy URL nbgrader accepts (default: sqlite gradebook.db at the course root)")
    p.add_argument("--force", action="store_true", help="regrade submissions that were graded before and did not change")
    p.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    p.add_argument("--no-gradebook", action="store_true", help="write autograded/ only, not the gradebook")
    p.add_argument("--launcher", choices=("zygote", "bubblewrap", "uid", "none"), default="zygote",
                   help="zygote (default): fork sandboxed workers from a process that imported torch; bubblewrap/uid/none: "
                        "a new Python per submission (uid: the fallback for root without bubblewrap, see docs/security.md)")
    p.add_argument("--cell-timeout", type=float, metavar="S", help="override the assignment's time limit per cell (seconds)")
    p.add_argument("--call-timeout", type=float, metavar="S", help="override the assignment's time limit per checked call (seconds)")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="override the assignment's total time per submission (seconds; cells and checked calls together)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_device(p)
    add_sandbox(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..autograde import autograde_many, find_submissions, print_runs
    from ..course import assignment_names, course_root, get_assignment, path as stage_path
    from ..errors import GradersError

    if not args.assignment and not args.all:
        raise GradersError("name an assignment (graders autograde tensors) or use --all")
    if args.workers < 1:
        raise GradersError(f"--workers {args.workers}: give at least 1")
    root = course_root()
    if args.all:
        names = [n for n in assignment_names() if find_submissions(root=root, assignment=n, students=args.student)]
        if not names:
            raise GradersError(f"nothing to grade: no submitted/<student>/<assignment>/ folders under {root}")
    else:
        get_assignment(args.assignment)
        names = [args.assignment]
    if args.time_limit is not None and args.time_limit <= 0:
        raise GradersError(f"--time-limit {args.time_limit:g}: give a positive number of seconds")
    limits = {k: v for k, v in (("cell_timeout", args.cell_timeout), ("call_timeout", args.call_timeout),
                                ("total_seconds", args.time_limit)) if v is not None}
    runs = autograde_many(assignments=names, root=root, workers=args.workers, cluster=args.cluster, db_url=args.db,
                          device=args.device, force=args.force, progress=not args.quiet,
                          launcher=None if args.launcher == "zygote" else args.launcher, students=args.student,
                          limits=limits or None, require_sandbox=args.require_sandbox, gradebook=not args.no_gradebook)
    print_runs(runs.values())
    import sys

    for name, r in runs.items():
        if not len(r):
            print(f"graders: nothing to grade for {name}: no {stage_path('submitted', root=root)}/<student>/{name}/ folders", file=sys.stderr)
    return 0
