"""The IPython shell a submission runs in, made to behave as Jupyter's kernel (ipykernel) does.

What works as in JupyterLab: line and cell magics (`%%time`, `%timeit`, `%config`, `%load_ext
autoreload`, `%autoreload 2`, `%%capture`, `%%writefile`...), `display()`, matplotlib with the
inline backend (`%matplotlib inline`; a GUI backend such as `%matplotlib qt` or `widget` is shown
inline too, with a note: there is no screen here), `%gui` (a no-op with a note).

What does not run, without stopping the cell: shell escapes and package installs (`!cmd`,
`x = !cmd`, `%sx`, `%system`, the `%ls`-style aliases, `%%bash`/`%%sh`/`%%script`/`%%python3`...,
`%pip`, `%conda`, `%mamba`, `%uv`) and what needs a front end (`%edit`, `%qtconsole`,
`%connect_info`, `%autosave`...): the line becomes a no-op that writes a note on the cell's stderr,
so the note shows in the graded notebook and in feedback. `x = !cmd` gives an empty list.

`input()` and `getpass()` raise at once, as under nbclient/nbconvert (a kernel without stdin), with
a message saying why; nothing waits for a keyboard.

Part of the worker package: imports nothing of the rest of graders (the sandbox mounts only this
folder). `configure(shell)` is idempotent: the zygote calls it before forking, each worker again.
"""

from __future__ import annotations

import builtins
import os
import sys
from typing import Any

INLINE = "module://matplotlib_inline.backend_inline"
_NOTE = "[not run when grading] {what}: {why}; the rest of the cell runs\n"
SHELL_WHY = "shell commands are skipped (no network, no package installs)"
# cell magics that start another program (IPython's ScriptMagics and the shell-output magics)
SCRIPT_CELL_MAGICS = ("bash", "sh", "script", "perl", "ruby", "python", "python2", "python3", "pypy", "!", "sx", "system")
INSTALL_MAGICS = ("pip", "conda", "mamba", "micromamba", "uv")
# what needs a front end, an editor or the network; ipykernel's KernelMagics included
FRONTEND_MAGICS = ("edit", "ed", "pastebin", "qtconsole", "connect_info", "autosave", "clear", "less", "more", "man",
                   "killbgscripts")
GUI_BACKENDS_NOTE = "no screen when grading: figures use the inline backend, as in JupyterLab"


def note(what: str, why: str = SHELL_WHY) -> None:
    """Write the visible note for a line that was not run (on the cell's stderr)."""
    what = " ".join(str(what).split())
    if len(what) > 200:
        what = what[:197] + "..."
    try:
        sys.stderr.write(_NOTE.format(what=what, why=why))
    except Exception:  # noqa: BLE001 - a student may have replaced sys.stderr
        pass


def _no_input(prompt: object = "", *_a: Any, **_k: Any) -> str:
    from IPython.core.error import StdinNotImplementedError

    if prompt:
        try:
            sys.stdout.write(str(prompt))
        except Exception:  # noqa: BLE001
            pass
    raise StdinNotImplementedError(
        "input() was called, but a notebook being graded has no one to type an answer "
        "(as in nbconvert or nbgrader, there is no stdin); put the value in the code instead")


def configure(shell: Any) -> Any:
    """Make `shell` (an IPython InteractiveShell) behave as a Jupyter kernel's; returns it."""
    if getattr(shell, "_graders_configured", False):
        return shell
    from IPython.utils.text import SList

    def system(cmd: str, *_a: Any, **_k: Any) -> None:
        note(f"!{cmd}")

    def getoutput(cmd: str, *_a: Any, **_k: Any) -> SList:
        note(f"!{cmd}")
        return SList()

    shell.system = system
    shell.system_raw = system
    shell.system_piped = system
    shell.getoutput = getoutput

    def script_cell(name: str) -> Any:
        def magic(line: str = "", cell: str | None = None) -> None:
            note(f"%%{name} {line}".rstrip() + " cell" if cell is not None else f"%{name} {line}".rstrip())

        return magic

    for name in SCRIPT_CELL_MAGICS:
        shell.register_magic_function(script_cell(name), magic_kind="cell", magic_name=name)
    for name in ("sx", "system", "sc"):
        shell.register_magic_function(lambda line="", _n=name: getoutput(line) if _n != "sc" else note(f"%sc {line}"),
                                      magic_kind="line", magic_name=name)
    for name in INSTALL_MAGICS:
        shell.register_magic_function(
            lambda line="", _n=name: note(f"%{_n} {line}", "packages are not installed when grading (the grading "
                                                         "environment is the course's environment)"),
            magic_kind="line", magic_name=name)
    for name in FRONTEND_MAGICS:
        shell.register_magic_function(lambda line="", _n=name: note(f"%{_n} {line}".rstrip(), "it needs a front end"),
                                      magic_kind="line", magic_name=name)

    def enable_gui(gui: str | None = None) -> None:
        if gui not in (None, "inline", "agg"):
            note(f"%gui {gui}", "no GUI event loop when grading")

    shell.enable_gui = enable_gui
    original_enable_matplotlib = shell.enable_matplotlib

    def enable_matplotlib(gui: str | None = None) -> Any:
        if gui not in (None, "inline", "auto", "agg"):
            note(f"%matplotlib {gui}", GUI_BACKENDS_NOTE)
            gui = "inline"
        return original_enable_matplotlib("inline" if gui in ("auto", "agg") else gui)

    shell.enable_matplotlib = enable_matplotlib
    builtins.input = _no_input
    try:
        import getpass

        getpass.getpass = _no_input
    except ImportError:  # pragma: no cover
        pass
    _inline_backend()
    shell._graders_configured = True
    return shell


def _inline_backend() -> None:
    """matplotlib's inline backend by default, as ipykernel sets it (non-interactive: Agg underneath)."""
    os.environ["MPLBACKEND"] = INLINE
    if "matplotlib" in sys.modules:
        try:
            import matplotlib

            matplotlib.use(INLINE)
        except Exception:  # noqa: BLE001 - no matplotlib_inline: Agg
            try:
                matplotlib.use("Agg")
            except Exception:  # noqa: BLE001
                pass


def error_line(exc: BaseException) -> int | None:
    """The line of the cell (1-based, as the student wrote it) where `exc` stopped the cell."""
    if isinstance(exc, SyntaxError):
        return exc.lineno if isinstance(exc.lineno, int) else None
    tb = exc.__traceback__
    line: int | None = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if line is None and name.startswith("<ipython-input-"):
            line = tb.tb_lineno
        elif line is not None and name in ("<timed exec>", "<timed eval>"):
            return line + tb.tb_lineno  # the body of a %%time cell: its line 1 is the cell's line 2
        tb = tb.tb_next
    return line
