"""The `graders` command: it only translates arguments into calls of the stage functions.

Every GradersError is caught here and printed as one line; no traceback reaches a user.
Each subcommand lives in graders/commands/<name>.py with `register(subparsers)`; the function it
sets as `run` receives the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .errors import GradersError

COMMANDS = ("generate", "validate", "grade", "check", "autograde", "feedback", "report", "export", "ci", "release_repo", "demo",
            "gradescope", "similarity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graders", description="Sandboxed grading of PyTorch course notebooks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"graders.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"graders.commands.{name}":
                continue  # not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            code = int(args.run(args) or 0)
        except GradersError as exc:
            _flush_warnings(caught)
            print(f"graders: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("graders: interrupted; finished results are saved, run the command again to resume", file=sys.stderr)
            return 130
    _flush_warnings(caught)
    return code


def _flush_warnings(caught: list[warnings.WarningMessage]) -> None:
    seen = set()
    for w in caught:
        if issubclass(w.category, RuntimeWarning) and str(w.message) not in seen:
            seen.add(str(w.message))
            print(f"graders: warning: {w.message}", file=sys.stderr)
