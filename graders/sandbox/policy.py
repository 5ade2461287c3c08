"""The one sandbox decision: which sandbox student code runs in here, or why grading refuses.

The mode comes from the caller (`--sandbox`, a judge's settings) or the environment variable
GRADERS_SANDBOX, else "auto":

- "auto": bubblewrap when it works here; else, for a grader running as root, the uid sandbox when the
  grader's private files are private (uid.py); else no sandbox, with a RuntimeWarning;
- "bubblewrap", "uid": that one, or SandboxUnavailable saying why not;
- "none": no sandbox on purpose (still with a warning).

`require_sandbox` (the CLI's --require-sandbox) turns every fallback to none into SandboxUnavailable.
Three callers ask, each with its own words for the same answer (kept as they were): `choose_launcher`
(one launcher per process: grade, check, validate, ci, gradescope), `decide_sandbox` (autograde decides
once for all its judges) and the zygote launcher (zygote.py: bubblewrap or none, no uid).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from ..errors import GradersError, SandboxUnavailable
from .process import Launcher

SANDBOX_MODES = ("auto", "bubblewrap", "uid", "none")
NONE_REQUIRED = "a sandbox is required (--require-sandbox), but GRADERS_SANDBOX=none turns it off"


@dataclass(frozen=True)
class Wording:
    """How one caller says the decision: the modes it accepts, and its messages (str.format templates:
    `mode`, `problem`, `why` = what insisted on a sandbox)."""

    modes: tuple[str, ...]
    unknown: str
    none: str
    refuse: str
    fallback: str
    check_uid: bool  # GRADERS_SANDBOX=uid: check now that it can run (else the launcher does)
    uid_fallback: bool  # auto, as root, without bubblewrap: the uid sandbox


LAUNCHER = Wording(
    modes=SANDBOX_MODES,
    unknown="unknown sandbox {mode!r} (GRADERS_SANDBOX or --sandbox); use one of: " + ", ".join(SANDBOX_MODES),
    none="grading WITHOUT a sandbox (GRADERS_SANDBOX=none): student code runs as a plain process with rlimits only",
    refuse="cannot sandbox student code ({why}): {problem}; install bubblewrap (apt-get install -y bubblewrap) and allow "
           "user namespaces, or drop --require-sandbox",
    fallback="grading WITHOUT a sandbox ({problem}): student code runs as a plain process with rlimits only; results say "
             "\"sandbox\": \"none\"; use --require-sandbox to refuse instead",
    check_uid=True, uid_fallback=True)
_FORKED = ("grading WITHOUT a sandbox ({problem}): student code runs in forked processes with their own namespaces but "
           "sees the host's files; results say \"sandbox\": \"none\"")
AUTOGRADE = Wording(
    modes=SANDBOX_MODES,
    unknown="unknown sandbox {mode!r} (GRADERS_SANDBOX); use auto, bubblewrap, uid or none",
    none="grading WITHOUT a sandbox (GRADERS_SANDBOX=none)",
    refuse="cannot sandbox student code: {problem}; install bubblewrap (apt-get install -y bubblewrap) or drop "
           "--require-sandbox",
    fallback=_FORKED, check_uid=False, uid_fallback=True)
ZYGOTE = Wording(
    modes=("auto", "bubblewrap", "none"),
    unknown="unknown sandbox {mode!r} (GRADERS_SANDBOX or --sandbox); use auto, bubblewrap or none",
    none="grading WITHOUT a sandbox (GRADERS_SANDBOX=none): student code runs in forked processes with their own "
         "namespaces but sees the host's files",
    refuse="cannot sandbox student code: {problem}; install bubblewrap or drop --require-sandbox",
    fallback=_FORKED, check_uid=False, uid_fallback=False)


def requested_mode(sandbox: str | None = None) -> str:
    """`sandbox` when given, else GRADERS_SANDBOX, else "auto" (not yet checked)."""
    return sandbox if sandbox is not None else (os.environ.get("GRADERS_SANDBOX", "").strip().lower() or "auto")


def check_mode(mode: str, wording: Wording = LAUNCHER) -> str:
    if mode not in wording.modes:
        raise GradersError(wording.unknown.format(mode=mode))
    return mode


def decide(mode: str, *, require_sandbox: bool = False, wording: Wording = LAUNCHER, warn: bool = True,
           stacklevel: int = 1) -> str:
    """"bubblewrap", "uid" or "none" for `mode` (see the module docstring); raises GradersError for an
    unknown mode, SandboxUnavailable where grading must not go on. `stacklevel`: as warnings.warn's,
    counted from the caller of this function."""
    from .uid import uid_problem

    check_mode(mode, wording)
    if mode == "none":
        if require_sandbox:
            raise SandboxUnavailable(NONE_REQUIRED)
        if warn:
            warnings.warn(wording.none, RuntimeWarning, stacklevel=stacklevel + 1)
        return "none"
    if mode == "uid":
        if wording.check_uid and (why := uid_problem()) is not None:
            raise SandboxUnavailable(f"cannot sandbox student code (GRADERS_SANDBOX=uid): {why}")
        return "uid"
    try:
        from .bwrap import bwrap_problem
    except ImportError as exc:  # pragma: no cover - a broken installation
        problem: str | None = f"bubblewrap support cannot be loaded ({exc})"
    else:
        problem = bwrap_problem()
    if problem is None:
        return "bubblewrap"
    if wording.uid_fallback and mode == "auto" and os.geteuid() == 0:  # root without bubblewrap (Gradescope)
        why = uid_problem()
        if why is None:
            return "uid"
        problem = f"{problem}; {why}"
    if require_sandbox or mode == "bubblewrap":
        why = "--require-sandbox" if require_sandbox else "GRADERS_SANDBOX=bubblewrap"
        raise SandboxUnavailable(wording.refuse.format(why=why, problem=problem))
    if warn:
        warnings.warn(wording.fallback.format(problem=problem), RuntimeWarning, stacklevel=stacklevel + 1)
    return "none"


def decide_sandbox(require_sandbox: bool) -> str:
    """For `graders autograde`: the sandbox of every judge, decided (and warned about) once, from
    GRADERS_SANDBOX. "uid" is not checked here (the judges' choose_launcher does)."""
    return decide(requested_mode(), require_sandbox=require_sandbox, wording=AUTOGRADE, stacklevel=3)


def choose_launcher(*, require_sandbox: bool = False, sandbox: str | None = None) -> Launcher:
    """The launcher for `sandbox` (default: GRADERS_SANDBOX, else "auto"): bubblewrap where it runs; else,
    for a grader running as root, the uid sandbox; otherwise the plain launcher with a loud warning.
    The launcher's `name` is what results report as `sandbox`: "bubblewrap", "uid" or "none"."""
    choice = decide(requested_mode(sandbox), require_sandbox=require_sandbox, wording=LAUNCHER, stacklevel=2)
    if choice == "bubblewrap":
        from .bwrap import BwrapLauncher

        return BwrapLauncher()
    if choice == "uid":
        from .uid import UidLauncher

        return UidLauncher()
    from .plain import PlainLauncher

    return PlainLauncher()
