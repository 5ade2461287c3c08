"""`graders check NOTEBOOK`: a student's pre-submission check (public checks only, in the sandboxed worker).

Exit 0 when every public check passes, 1 otherwise (a failing check, a notebook that could not be
run); 2 for bad usage (the CLI's GradersError).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_device, add_sandbox, launcher_from

STATUS_STYLE = {"passed": ("✔ passed", "green"), "failed": ("✘ failed", "red"), "error": ("✘ error", "red"),
                "timeout": ("✘ timeout", "yellow")}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="run the public checks on your notebook before you submit (exit 0 when all pass)")
    p.add_argument("notebook", help="your .ipynb")
    p.add_argument("--assignment", "-a", help="which assignment it answers (default: read from the notebook)")
    add_device(p)
    add_sandbox(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..course import get_assignment
    from ..errors import GradersError
    from ..grade import grade_notebook
    from ..notebook import read_notebook

    nb = read_notebook(args.notebook)
    name = args.assignment or nb.assignment
    if not name:
        raise GradersError(f"{args.notebook}: the notebook does not say which assignment it answers; "
                           "add --assignment NAME (for example --assignment tensors)")
    spec = get_assignment(name)
    result = grade_notebook(path=args.notebook, assignment=name, device=args.device, launcher=launcher_from(args),
                            public_only=True, require_sandbox=args.require_sandbox)
    render(result, spec.questions, notebook=nb)
    if result.status != "graded":
        return 1
    return 0 if all(c.status == "passed" for c in result.checks) else 1


def render(result: Any, questions: dict[str, float], *, notebook: Any = None, console: Any = None) -> None:
    """A table per question, then cells that raised, then the verdict."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console(highlight=False, soft_wrap=False)
    console.print(Text(f"{result.assignment}: public checks of {result.student or 'your notebook'}", style="bold"))
    if result.status != "graded":
        console.print(Text(f"could not check the notebook: {result.message}", style="red"))
        return
    by_q: dict[str, list[Any]] = {}
    for c in result.checks:
        by_q.setdefault(c.grade_id, []).append(c)
    for gid in questions:
        checks = by_q.get(gid, [])
        passed = sum(c.status == "passed" for c in checks)
        title = f"{gid}: {passed}/{len(checks)} public checks pass" if checks else f"{gid}: no public checks (checked only when graded)"
        table = Table(title=title, title_justify="left", show_lines=False, expand=False)
        table.add_column("check", no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("message", overflow="fold")
        traces = []
        for c in checks:
            label, style = STATUS_STYLE.get(c.status, (c.status, "red"))
            message = c.message or ""
            if c.trace and message.endswith(c.trace):  # printed under the table, its columns aligned
                message = message[: -len(c.trace)].rstrip() + " (the forward pass is shown below)"
                traces.append((c.id.split("::", 1)[-1], c.trace))
            table.add_row(c.id.split("::", 1)[-1], Text(label, style=style), message)
        if checks:
            console.print(table)
            for name, trace in traces:
                console.print(Text(f"{name}: the forward pass, layer by layer", style="bold"))
                console.print(Text("\n".join("  " + ln for ln in trace.splitlines())), no_wrap=True, overflow="ignore", crop=False)
        else:
            console.print(Text(title, style="dim"))
    bad_cells = [o for o in result.cells if o.status in ("error", "timeout")]
    if bad_cells:
        console.print(Text("cells that did not run cleanly (the checks ran anyway):", style="yellow"))
        for o in bad_cells:
            console.print(f"  cell {o.index + 1}: {o.error or o.status}")
    notes = [(o.index, ln) for o in result.cells for ln in (o.stderr or "").splitlines() if ln.startswith("[not run when grading]")]
    if notes:
        console.print(Text("lines not run when grading (the rest of each cell ran):", style="yellow"))
        for index, line in notes[:20]:
            console.print(f"  cell {index + 1}: {line.removeprefix('[not run when grading] ').removesuffix('; the rest of the cell runs')}", markup=False)
    total = len(result.checks)
    ok = sum(c.status == "passed" for c in result.checks)
    if ok == total:
        console.print(Text(f"all {total} public checks pass; hidden checks run when your notebook is graded", style="bold green"))
    else:
        console.print(Text(f"{total - ok} of {total} public checks fail", style="bold red"))
