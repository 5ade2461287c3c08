"""Where the grading tasks run: in this process, in a local pool of judge processes, or on a Dask cluster
(graders/cluster.py `DaskExecutor`). Each yields (payload, result dict) as results come in; the
coordinating process alone writes them (graders/autograde/run.py)."""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..judge.process import JudgeSettings, grade_task, init_pool_judge, judge_for
from ..result import error_result

WINDOW_PER_JUDGE = 4  # tasks in flight per judge: notebooks are read as their tasks are sent


def loaded(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its notebook's bytes (read now, as its task is sent)."""
    if "data" not in payload:
        try:
            payload["data"] = Path(payload["path"]).read_bytes()
        except OSError as exc:
            payload["data"] = f"the submission could not be read: {exc.strerror}".encode()
    return payload


class _Executor:
    """Runs grade_task over payloads; yields (payload, result dict) as results come in."""

    name = "?"

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _InProcess(_Executor):
    name = "in-process"

    def __init__(self, settings: JudgeSettings, assignments: list[str]) -> None:
        self.settings = settings
        self.judge = judge_for(settings)
        self.assignments = assignments

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for p in payloads:
            yield p, self.judge.grade(loaded(p))


class _LocalPool(_Executor):
    """`workers` judge processes, forked from a server that imported torch, pytest and the checks once
    (multiprocessing's forkserver: no fork of this threaded process), all forking their workers from one
    zygote that this process starts and shares with them."""

    def __init__(self, settings: JudgeSettings, assignments: list[str], workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.name = f"{workers} local judge processes"
        self.zygote: Any = None
        share = os.environ.get("GRADERS_SHARED_ZYGOTE", "1") != "0"
        if share and settings.zygote and settings.launcher is None and settings.zygote_address is None:
            from ..sandbox.zygote import ZygoteLauncher

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                self.zygote = ZygoteLauncher(sandbox=settings.sandbox, require_sandbox=settings.require_sandbox, preload=settings.preload,
                                             warm_training=settings.warm_training, warn=False, listen=True)
            threading.Thread(target=self._start_zygote, name="graders-shared-zygote", daemon=True).start()
            settings = replace(settings, zygote_address=self.zygote.address)
            self.name += " sharing one zygote"
        self.settings, self.assignments, self.workers = settings, assignments, workers
        self._env = _single_threaded_env()
        try:
            self._ctx = multiprocessing.get_context("forkserver")
            self._ctx.set_forkserver_preload(["graders.judge.process", "torch", "pytest", "graders.judge.plugin",
                                              *[f"graders.assignments.{a}" for a in assignments]])
        except ValueError:  # pragma: no cover - no forkserver on this platform
            self._ctx = multiprocessing.get_context("spawn")
        self._make = lambda: ProcessPoolExecutor(max_workers=workers, mp_context=self._ctx, initializer=init_pool_judge,
                                                 initargs=(settings, assignments))
        self.pool = self._make()

    def _start_zygote(self) -> None:
        try:
            self.zygote.start()
        except Exception as exc:  # noqa: BLE001 - the judges see `failed` and use zygotes of their own
            self.zygote.fail(str(exc))

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        todo = deque(payloads)
        crashes: dict[int, int] = {}
        window = self.workers * WINDOW_PER_JUDGE
        futures: dict[Any, dict[str, Any]] = {}
        while todo or futures:
            while todo and len(futures) < window:
                p = todo.popleft()
                futures[self.pool.submit(grade_task, loaded(p))] = p
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            broken = False
            while done:
                for fut in done:
                    p = futures.pop(fut)
                    try:
                        yield p, fut.result()
                    except BrokenProcessPool:
                        broken = True
                        crashes[id(p)] = crashes.get(id(p), 0) + 1
                        if crashes[id(p)] >= 2:  # it broke a judge twice: record it and go on
                            yield p, error_result(p["assignment"], p["student"], "grading this submission ended the judge "
                                                  "process twice (out of memory?); it was not graded").to_dict(with_cells=True)
                        else:
                            todo.appendleft(p)
                    except Exception as exc:  # noqa: BLE001
                        yield p, error_result(p["assignment"], p["student"],
                                              f"the grader failed on this submission ({type(exc).__name__}: {exc})").to_dict(with_cells=True)
                done = set()
                if broken and futures:  # the rest of this pool's tasks end with it: collect them, then a new pool
                    done, _ = wait(list(futures))
            if broken:
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._make()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._finish()

    def kill(self) -> None:
        procs = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.kill()
        self._finish()

    def _finish(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
        _restore_env(self._env)


def _single_threaded_env() -> dict[str, str | None]:
    """One BLAS/OpenMP thread in the processes started from here (they run one per core)."""
    old = {}
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        old[key] = os.environ.get(key)
        os.environ.setdefault(key, "1")
    return old


def _restore_env(old: dict[str, str | None]) -> None:
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def make_executor(settings: JudgeSettings, assignments: list[str], *, tasks: int, workers: int, cluster: Any = None,
                  gpu: set[str] | None = None) -> _Executor | Any:
    """A Dask cluster's executor when `cluster` is given, else this process for one worker or one task,
    else a pool of min(workers, tasks) judge processes."""
    if cluster is not None:
        from ..cluster import DaskExecutor

        return DaskExecutor(cluster, settings, assignments, gpu=gpu)
    if workers <= 1 or tasks == 1:
        return _InProcess(settings, assignments)
    return _LocalPool(settings, assignments, min(workers, tasks))
