from __future__ import annotations

import argparse

from ._common import add_device, add_sandbox, assignments_arg, launcher_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("validate", help="prove an assignment is sound: full marks, zero stubs, release up to date")
    p.add_argument("assignment", nargs="?", help="assignment name (omit with --all)")
    p.add_argument("--all", action="store_true", help="every assignment of the course")
    p.add_argument("--write-limits", action="store_true",
                   help="write the proposed time limits (max(10 x the solution's time, 10 s)) into the checks module's LIMITS, "
                        "keeping the values it sets")
    p.add_argument("--seeds", type=int, default=20, metavar="N",
                   help="also grade the solution under the hidden seeds of N students (course secret + id); 0 skips (default 20)")
    add_device(p)
    add_sandbox(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import GradersError
    from ..validate import validate_assignment

    if not args.assignment and not args.all:
        raise GradersError("name an assignment (graders validate tensors) or use --all")
    launcher = launcher_from(args)
    ok = True
    for name in assignments_arg(args):
        v = validate_assignment(name=name, launcher=launcher, device=args.device, seeds=args.seeds)
        print(v.summary(), flush=True)
        ok &= v.ok
        if args.write_limits and v.proposed_limits:
            from ..course import get_assignment
            from ..timelimits import write_limits

            path = get_assignment(name).module_path
            print(f"  LIMITS of {path.name}: {write_limits(module_path=path, proposed=v.proposed_limits)}", flush=True)
    return 0 if ok else 1
