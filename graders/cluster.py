"""The Dask executor of `graders autograde --cluster`: the grading tasks on a Dask cluster.

Each Dask worker grades with a judge of its own (graders/judge/process.py `Judge`: torch, pytest and the
checks imported once, sandboxed workers forked from its zygote). What travels: a task's payload is
the notebook's bytes and a few names (assignment, student, device, limits, seed); what comes back is
the result's data (`SubmissionResult.to_dict(with_cells=True)`). The hidden checks reach a worker
only through the `graders` package installed there; the coordinator alone writes autograded/ and
the gradebook.

When autograde connects, a worker plugin (`WarmUp`) makes every worker, and every worker that joins
later, start its zygote and import the checks in a thread of its own, so the first task finds a warm
judge; `dask worker ... --preload graders.cluster` imports torch and the checks even earlier, when the
worker starts. Assignments that benefit from a GPU (`LIMITS = {"gpu": True, ...}`) ask for the Dask resource
`GPU=1` where some worker has it (`dask worker ... --resources GPU=1`): one such submission per GPU
at a time; the other tasks go anywhere.

A worker that dies half way (out of memory, a lost machine) loses nothing: the scheduler gives its
tasks to another worker (Dask's `distributed.scheduler.allowed-failures` times at most; then the
submission is recorded as an error), and each result is written once, when it arrives.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import GradersError

PLUGIN_NAME = "graders-warm-up"


from distributed import WorkerPlugin  # noqa: E402


class WarmUp(WorkerPlugin):
    """A Dask WorkerPlugin: warm this worker's judge for `assignments` as soon as it is registered."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, settings: Any, assignments: list[str]) -> None:
        self.settings = settings
        self.assignments = list(assignments)

    def setup(self, worker: Any = None) -> None:
        gpus = float(((getattr(getattr(worker, "state", None), "total_resources", None)) or {}).get("GPU", 0))
        if gpus > 0:  # one submission per GPU at a time, each capped below the whole card
            import os

            os.environ.setdefault("GRADERS_GPU_MEMORY_FRACTION", f"{min(0.9, 0.9 / gpus):.3f}")
        # not in the worker's event loop: importing torch there would stall its heartbeats
        threading.Thread(target=warm_judge, args=(self.settings, self.assignments), name="graders-warm-up", daemon=True).start()


def dask_setup(worker: Any = None) -> None:
    """`dask worker ADDRESS --preload graders.cluster`: import torch, pytest and every assignment's
    checks as the worker starts (in a thread), long before a batch arrives; the batch's own settings
    (sandbox, what its zygote preloads) still come with the warm-up plugin when autograde connects."""

    def imports() -> None:
        _single_threaded()
        with contextlib.suppress(Exception):
            import pytest  # noqa: F401
            import torch

            from .course import assignment_names, get_assignment
            from .judge import plugin  # noqa: F401

            torch.set_num_threads(1)
            for name in assignment_names():
                get_assignment(name).module()

    threading.Thread(target=imports, name="graders-preload", daemon=True).start()


def warm_judge(settings: Any, assignments: list[str]) -> None:
    """In a Dask worker: the judge for `settings`, warmed up (grading waits for it: the judge's lock)."""
    from .judge.process import judge_for

    _single_threaded()
    judge = judge_for(settings)
    with judge._lock, contextlib.suppress(Exception):  # a failure shows when grading, as a recorded result
        judge.warm_up(assignments)


def _single_threaded() -> None:
    import os

    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(key, "1")


def gpu_workers(client: Any) -> list[str]:
    """Addresses of the workers that declare a GPU resource (`--resources GPU=N`)."""
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return [addr for addr, w in info.get("workers", {}).items() if float((w.get("resources") or {}).get("GPU", 0)) > 0]


def _takes_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


class DaskExecutor:
    """The grading tasks on a Dask cluster (`tcp://host:port`, a Client, or a cluster object such as
    LocalCluster, dask-jobqueue's SLURMCluster or dask-kubernetes' KubeCluster)."""

    def __init__(self, cluster: Any, settings: Any, assignments: list[str] | None = None, gpu: set[str] | None = None) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover
            raise GradersError("--cluster needs the `distributed` package (pip install 'dask[distributed]')") from None
        self.own_client = False
        if isinstance(cluster, Client):
            self.client = cluster
        else:
            try:
                self.client = Client(cluster, timeout="15s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise GradersError(f"cannot reach the Dask scheduler at {cluster}: {exc}; start one with "
                                   "`dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`") from None
            self.own_client = True
        self.name = f"Dask cluster {getattr(self.client, 'scheduler', None) and self.client.scheduler.address}"
        self.settings = settings
        self.gpu_assignments = set(gpu or ())
        self.has_gpu_workers = bool(self.gpu_assignments) and bool(gpu_workers(self.client))
        if assignments:
            with contextlib.suppress(Exception):  # an old scheduler without plugins: the first task warms up instead
                register = getattr(self.client, "register_plugin", None) or self.client.register_worker_plugin
                register(WarmUp(settings, assignments), name=PLUGIN_NAME)

    def resources_for(self, payload: dict[str, Any]) -> dict[str, float] | None:
        """GPU=1 for an assignment that benefits from a GPU (unless graded on the CPU on purpose), when
        the cluster has a GPU worker at all (else the task could wait forever)."""
        if payload["assignment"] in self.gpu_assignments and self.has_gpu_workers and payload.get("device", "auto") != "cpu":
            return {"GPU": 1}
        return None

    def run(self, payloads: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        from distributed import as_completed

        from .autograde.executors import WINDOW_PER_JUDGE, loaded
        from .judge.process import grade_task
        from .result import error_result

        todo = iter(payloads)
        futures: dict[Any, dict[str, Any]] = {}
        threads = sum(int(n) for n in self.client.nthreads().values()) or 1
        window = max(8, threads * WINDOW_PER_JUDGE)  # notebooks read and sent as the cluster takes them

        def send() -> Any:
            p = next(todo, None)
            if p is None:
                return None
            key = f"graders-{p['assignment']}-{p['student']}-{p['digest'][:12]}-{time.time_ns()}"
            task = {k: v for k, v in loaded(p).items() if k != "path"}  # the bytes travel, not a path on this machine
            fut = self.client.submit(grade_task, task, key=key, pure=False, retries=1, resources=self.resources_for(p))
            futures[fut] = p
            return fut

        first = [f for f in (send() for _ in range(window)) if f is not None]
        stream = as_completed(first, loop=self.client.loop)
        for fut in stream:
            p = futures.pop(fut)
            try:
                yield p, fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, a task error: recorded, batch goes on
                yield p, error_result(p["assignment"], p["student"], f"the cluster could not grade this submission ({type(exc).__name__}: {exc})").to_dict(with_cells=True)
            finally:
                fut.release()
            nxt = send()
            if nxt is not None:
                stream.add(nxt)

    def close(self) -> None:
        if self.own_client:
            with contextlib.suppress(Exception):
                self.client.close()
