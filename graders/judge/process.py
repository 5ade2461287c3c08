"""A judge process: the trusted side of grading in one process, reused for every submission it grades.

`Judge` imports torch, pytest and the checks once and keeps one launcher (usually a zygote that forks
the sandboxed workers); `judge_for(settings)` is this process's judge for those settings. `grade_task`
(one notebook's bytes in, `result.to_dict(with_cells=True)` out) is the unit of work every executor runs:
in this process, in a local pool of judge processes (`init_pool_judge` starts each), on a Dask worker.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..course import get_assignment
from ..errors import GradersError
from ..result import error_result


@dataclass(frozen=True)
class JudgeSettings:
    """How a judge process grades: its sandbox and whether workers come from a zygote."""

    sandbox: str = "auto"  # "bubblewrap" | "none" | "auto" (decided where the judge runs)
    require_sandbox: bool = False
    zygote: bool = True
    preload: tuple[str, ...] = ()
    warm_training: bool = True  # the zygote runs an optimizer step once (notebooks that train models)
    zygote_address: str | None = None  # a zygote the coordinator shares with its local judges
    launcher: Any = None  # a Launcher instance to use as it is (tests); picklable ones can travel


class Judge:
    """The trusted side in one process: torch, pytest and the checks imported once; one launcher."""

    def __init__(self, settings: JudgeSettings) -> None:
        self.settings = settings
        self.launcher: Any = settings.launcher
        self.note = ""
        self._lock = threading.Lock()  # pytest.main is not thread-safe: one grading at a time per process
        self._warm: set[str] = set()

    def get_launcher(self) -> Any:
        if self.launcher is not None:
            return self.launcher
        s = self.settings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the coordinator said it once already
            if s.zygote:
                from ..sandbox.zygote import ZygoteLauncher, ZygoteUnavailable

                if s.zygote_address:
                    try:
                        self.launcher = ZygoteLauncher(sandbox=s.sandbox, require_sandbox=s.require_sandbox, warn=False,
                                                       connect=s.zygote_address).start()
                        return self.launcher
                    except ZygoteUnavailable as exc:
                        self.note = f"shared zygote unavailable ({exc}); using one of its own"
                try:
                    self.launcher = ZygoteLauncher(sandbox=s.sandbox, require_sandbox=s.require_sandbox, preload=s.preload,
                                                   warm_training=s.warm_training, warn=False).start()
                    return self.launcher
                except ZygoteUnavailable as exc:
                    self.note = f"no zygote ({exc}); each submission starts a new Python"
            from ..sandbox import choose_launcher

            self.launcher = choose_launcher(require_sandbox=s.require_sandbox, sandbox=None if s.sandbox == "auto" else s.sandbox)
        return self.launcher

    def warm_up(self, assignments: Iterable[str]) -> None:
        """Import what grading needs (and start the zygote alongside), then freeze the heap for cheap GCs."""
        names = [a for a in assignments if a not in self._warm]
        if not names and self.launcher is not None:
            return
        boot: dict[str, BaseException] = {}

        def start() -> None:
            try:
                self.get_launcher()
            except BaseException as exc:  # noqa: BLE001 - raised when grading
                boot["error"] = exc

        t = threading.Thread(target=start, name="graders-judge-boot", daemon=True)
        t.start()
        import pytest  # noqa: F401
        import torch

        from . import plugin  # noqa: F401

        torch.set_num_threads(1)  # judges run side by side, one per core

        for name in names:
            get_assignment(name).module()
            self._warm.add(name)
        t.join()
        gc.collect()
        gc.freeze()  # torch's millions of objects are never collected again: pytest's GC passes get cheap

    def grade(self, payload: dict[str, Any]) -> dict[str, Any]:
        from ..grade import grade_or_record

        with self._lock:
            started = time.monotonic()
            name = payload["assignment"]
            try:
                self.warm_up([name])
                launcher = self.get_launcher()
                limits = None
                if payload.get("limits"):
                    limits = get_assignment(name).limits.with_overrides(**payload["limits"])
                result = grade_or_record(notebook=payload["data"], name=payload.get("display", f"{name}.ipynb"),
                                         assignment=name, student=payload["student"], device=payload.get("device", "auto"),
                                         launcher=launcher, limits=limits, hidden_seed=payload.get("hidden_seed"))
            except GradersError as exc:
                result = error_result(name, payload["student"], str(exc), started=started)
            except Exception as exc:  # noqa: BLE001 - one broken submission must not stop the batch
                result = error_result(name, payload["student"], f"the grader failed on this submission ({type(exc).__name__}: {exc})",
                                      started=started)
            out = result.to_dict(with_cells=True)
            out["judge"] = {"pid": os.getpid(), "host": os.uname().nodename, "launcher": getattr(self.launcher, "name", "?"),
                            "zygote": type(self.launcher).__name__ == "ZygoteLauncher", "note": self.note}
            return out

    def close(self) -> None:
        close = getattr(self.launcher, "close", None)
        if close is not None and self.settings.launcher is None:
            close()
        self.launcher = None


_JUDGES: dict[JudgeSettings, Judge] = {}
_JUDGES_LOCK = threading.Lock()


def judge_for(settings: JudgeSettings) -> Judge:
    """This process's judge for these settings (made once, reused by every task)."""
    with _JUDGES_LOCK:
        judge = _JUDGES.get(settings)
        if judge is None:
            judge = _JUDGES[settings] = Judge(settings)
        return judge


def shutdown_judges() -> None:
    """Close this process's judges (their zygotes and staging folders); runs at exit."""
    with _JUDGES_LOCK:
        for judge in _JUDGES.values():
            with contextlib.suppress(Exception):
                judge.close()
        _JUDGES.clear()


atexit.register(shutdown_judges)


def grade_task(payload: dict[str, Any]) -> dict[str, Any]:
    """Grade one notebook given its bytes; returns `SubmissionResult.to_dict(with_cells=True)`.

    The unit of work of every executor: local pool, in-process, and Dask workers (which need the
    `graders` package installed). payload: assignment, student, data (bytes), device, hidden_seed,
    limits (overrides or None), display (the path shown in messages), settings (JudgeSettings)."""
    return judge_for(payload["settings"]).grade(payload)


def init_pool_judge(settings: JudgeSettings, assignments: list[str]) -> None:
    from multiprocessing import util

    _die_with_parent()
    util.Finalize(None, shutdown_judges, exitpriority=10)  # a pool worker's exit runs these, not atexit
    try:  # a forked judge inherits the forkserver's "clients alive" pipe: it must not keep the server alive itself
        from multiprocessing import forkserver

        fd = forkserver._forkserver._forkserver_alive_fd  # type: ignore[attr-defined]
        if fd is not None:
            os.close(fd)
            forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        pass
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    judge_for(settings).warm_up(assignments)


def _die_with_parent() -> None:
    """A judge process must not outlive the coordinator (kill -9 included): parent-death signal."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the pool's own pipe ends it soon after
        pass
