from __future__ import annotations

import argparse


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where models run: auto picks cuda when a GPU is available (default: auto)")


def add_sandbox(p: argparse.ArgumentParser) -> None:
    p.add_argument("--require-sandbox", action="store_true",
                   help="refuse to grade when bubblewrap cannot sandbox the worker")


def launcher_from(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..sandbox import choose_launcher

    return choose_launcher(require_sandbox=getattr(args, "require_sandbox", False))


def assignments_arg(args: argparse.Namespace) -> list[str]:
    from ..course import assignment_names, get_assignment

    if getattr(args, "all", False) or not args.assignment:
        return assignment_names()
    get_assignment(args.assignment)  # unknown names fail here, with the list of known ones
    return [args.assignment]
