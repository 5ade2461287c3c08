"""The judge's connection to one worker: execute the cells, then proxy calls; survive its death.

If the worker hangs or dies during a call, it is killed and started again (the cells re-run,
skipping any that hung or crashed before), so the other questions are still graded.
"""

from __future__ import annotations

import select
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..checks.seeds import one_way_seed
from ..result import CellOutcome
from .observed import Observed, observed_from_reply
from ..sandbox import Launcher, Limits, WorkerProcess
from ..worker.codec import Decoder, Encoder, Handle, ProtocolError, recv_frame, send_frame

MAX_RESTARTS = 8


class StudentCodeError(Exception):
    """The student's code raised; the check did not catch it."""

    def __init__(self, what: str, type_name: str, message: str, mro: list[str] | None = None, traceback: str = "",
                 trace: str = "") -> None:
        self.what, self.type_name, self.message = what, type_name, message
        self.mro = mro or [type_name]
        self.traceback = traceback
        self.trace = trace  # the forward pass layer by layer, when it raised in an nn.Module (observed.py)
        text = f"{what} raised {type_name}: {message}" if message else f"{what} raised {type_name}"
        if trace and len(text) > 1000:  # the trace's last line says where it failed: it must survive message caps
            text = text[:999] + "…"
        super().__init__(f"{text}\n{trace}" if trace else text)


class CallTimeout(Exception):
    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not return within {seconds:g} s (time limit); look for an endless loop or too much work")


class WorkerCrashed(Exception):
    pass


class RemoteObject:
    """An object that lives in the worker (a model, say). Calling it or its methods is a call there."""

    __slots__ = ("_session", "_handle", "_attrs", "_generation")

    def __init__(self, session: WorkerSession, handle: Handle, generation: int, attrs: tuple[str, ...] = ()) -> None:
        self._session, self._handle, self._generation, self._attrs = session, handle, generation, attrs

    @property
    def type_name(self) -> str:
        return self._handle.type_name

    def __getattr__(self, name: str) -> RemoteObject:
        if name.startswith("__"):
            raise AttributeError(name)
        return RemoteObject(self._session, self._handle, self._generation, self._attrs + (name,))

    def __call__(self, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        return self._session.call_target(self._target(), args, kwargs, timeout=timeout, seed=seed, what=self._what())

    def _target(self) -> dict[str, Any]:
        if self._generation != self._session.generation:
            raise WorkerCrashed(f"{self._what()} is gone: the worker was restarted after an earlier failure")
        return {"handle": self._handle.id, "attrs": list(self._attrs)}

    def _what(self) -> str:
        return ".".join((self._handle.type_name,) + self._attrs)

    def _encode(self) -> dict[str, Any]:
        if self._attrs:
            raise TypeError("only whole objects can be passed back to the worker")
        self._target()
        return {"$handle": self._handle.id}

    def __repr__(self) -> str:
        return f"<{self._what()} (lives in the worker)>"


class WorkerSession:
    def __init__(self, *, launcher: Launcher, limits: Limits, cells: list[str], files: dict[str, bytes] | None = None) -> None:
        self.launcher, self.limits, self.cells, self.files = launcher, limits, cells, files or {}
        self.proc: WorkerProcess | None = None
        self.outcomes: list[CellOutcome] = []
        self.bad_cells: set[int] = set()
        self.generation = 0
        self.restarts = 0
        # functions that hung or crashed the worker once: later calls fail at once, without a restart
        self.poisoned: dict[str, Exception] = {}
        self.observations: list[Observed] = []  # forward traces and loss curves of the calls, in order
        self._workdir: Path | None = None

    @property
    def sandbox(self) -> str:
        return self.launcher.name

    # ------------------------------------------------------------- lifecycle
    def start(self) -> list[CellOutcome]:
        """Start the worker and execute every cell; a failing cell does not stop the others."""
        self.outcomes = self._boot(self.cells)
        return self.outcomes

    def _boot(self, cells: list[str]) -> list[CellOutcome]:
        """Start a fresh worker and run `cells` in it (skipping cells that hung or crashed before)."""
        self._kill()
        self.generation += 1
        self._workdir = Path(tempfile.mkdtemp(prefix="graders-work-"))
        try:
            self.proc = self.launcher.spawn(workdir=self._workdir, limits=self.limits, files=self.files)
            hello, _ = self._recv(self.limits.cell_timeout + 60, what="starting the worker")
        except (WorkerCrashed, CallTimeout, OSError) as exc:
            from ..errors import WorkerError

            detail = self.proc.output()[-500:] if self.proc else ""
            self._kill()
            raise WorkerError(f"the worker process could not start: {exc} {detail}".strip()) from None
        if not hello.get("ready"):
            raise ProtocolError("worker did not say it was ready")
        outcomes: list[CellOutcome] = []
        for i, source in enumerate(cells):
            if i in self.bad_cells:
                outcomes.append(CellOutcome(i, "skipped", error="skipped: this cell hung or crashed the worker earlier"))
                continue
            outcomes.append(self._exec(i, source))
        return outcomes

    def _exec(self, index: int, source: str) -> CellOutcome:
        timeout = self.limits.cell_timeout
        try:
            self._send({"op": "exec", "source": source, "timeout": timeout})
            reply, _ = self._recv(timeout + self.limits.grace_seconds, what=f"cell {index + 1}")
        except CallTimeout:
            self.bad_cells.add(index)
            self._relaunch_after(index)
            return CellOutcome(index, "timeout", error=f"cell did not finish within {timeout:g} s (time limit); the worker was restarted without it")
        except WorkerCrashed as exc:
            self.bad_cells.add(index)
            self._relaunch_after(index)
            return CellOutcome(index, "error", error=f"{exc}; the worker was restarted without this cell")
        if reply.get("status") == "timeout":
            self.bad_cells.add(index)  # not replayed when the worker restarts
        return CellOutcome(index, reply.get("status", "error"), stdout=_s(reply.get("stdout")), stderr=_s(reply.get("stderr")),
                           result=reply.get("result"), error=reply.get("error"), traceback=reply.get("traceback"),
                           line=reply.get("line") if type(reply.get("line")) is int else None)

    def _relaunch_after(self, index: int) -> None:
        """Restart and replay the good cells up to `index` (the caller's loop runs the rest)."""
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise WorkerCrashed("the notebook crashed or hung the worker too many times")
        self._boot(self.cells[: index + 1])

    def _ensure_running(self) -> None:
        if self.proc is None or not self.proc.alive():
            self.restarts += 1
            if self.restarts > MAX_RESTARTS:
                raise WorkerCrashed("the notebook crashed or hung the worker too many times")
            self._boot(self.cells)

    def close(self) -> None:
        if self.proc is not None and self.proc.alive():
            try:
                self._send({"op": "shutdown"})
                self._recv(2, what="shutdown")
            except Exception:  # noqa: BLE001 - we kill it below anyway
                pass
        self._kill()

    def _kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> WorkerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def output(self) -> str:
        return self.proc.output() if self.proc else ""

    # ------------------------------------------------------------- calls
    def call(self, name: str, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        return self.call_target({"global": name}, args, kwargs, timeout=timeout, seed=seed, what=f"`{name}`")

    def call_target(self, target: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, timeout: float | None, seed: int | None, what: str) -> Any:
        key = target.get("global") or what
        if key in self.poisoned:
            raise self.poisoned[key]
        self._ensure_running()
        enc = Encoder(_encode_remote)
        payload = enc.encode((tuple(args), dict(kwargs)))
        try:
            # the worker seeds torch/random/numpy with a one-way hash of the seed, never the (hidden) seed itself
            wseed = None if seed is None else one_way_seed(seed)
            return self._roundtrip({"op": "call", "target": target, "payload": payload, "seed": wseed}, enc.blob(), timeout, what)
        except (CallTimeout, WorkerCrashed) as exc:
            # it took the worker down (crash, or a hang that had to be killed): later calls of it fail
            # at once, without another restart. A soft timeout leaves the worker alive: other inputs
            # may still finish, so they are tried.
            if self.proc is None:
                self.poisoned[key] = exc
            raise

    def eval(self, expr: str, *, timeout: float | None = None, **bindings: Any) -> Any:
        """Evaluate an expression (written by the judge) in the worker, with `bindings` as variables."""
        self._ensure_running()
        enc = Encoder(_encode_remote)
        payload = enc.encode(dict(bindings))
        return self._roundtrip({"op": "eval", "expr": expr, "payload": payload}, enc.blob(), timeout, "the checked value")

    def _roundtrip(self, req: dict[str, Any], blob: bytes, timeout: float | None, what: str) -> Any:
        timeout = self.limits.call_timeout if timeout is None else timeout
        req["timeout"] = timeout
        req["observe"] = ["trace", "curve"]
        try:
            self._send(req, blob)
            reply, rblob = self._recv(timeout + self.limits.grace_seconds, what=what)
        except CallTimeout:
            self._kill()  # next call restarts the worker
            raise CallTimeout(what, timeout) from None
        except WorkerCrashed:
            self._kill()
            raise
        seen = observed_from_reply(reply, what)
        if seen is not None:
            self.observations.append(seen)
        if not reply.get("ok"):
            err = reply.get("error") or {}
            if reply.get("timeout"):
                raise CallTimeout(what, timeout)
            raise StudentCodeError(what, _s(err.get("type")) or "Exception", _s(err.get("message")), err.get("mro"), _s(err.get("traceback")),
                                   trace=seen.trace if seen is not None and seen.failed_forward else "")
        try:
            dec = Decoder(rblob, from_handle=self._from_handle)
            value = dec.decode(reply.get("value"))
        except ProtocolError as exc:
            raise StudentCodeError(what, "InvalidResult", f"returned something the grader cannot accept ({exc})") from None
        _attach_meta(value, dec, trace=seen.trace if seen is not None else "")
        return value

    def _from_handle(self, hid: int, type_name: str, text: str) -> RemoteObject:
        return RemoteObject(self, Handle(hid, type_name, text), self.generation)

    # ------------------------------------------------------------- transport
    def _send(self, header: dict[str, Any], blob: bytes = b"") -> None:
        assert self.proc is not None
        try:
            send_frame(self.proc.sock, header, blob)
        except OSError:
            raise WorkerCrashed(self.proc.exit_description()) from None

    def _recv(self, timeout: float, *, what: str) -> tuple[dict[str, Any], bytes]:
        assert self.proc is not None
        sock = self.proc.sock
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(what, timeout)
            ready, _, _ = select.select([sock], [], [], min(left, 1.0))
            if ready:
                break
        sock.settimeout(max(5.0, left))
        try:
            return recv_frame(sock)
        except (ProtocolError, OSError, TimeoutError) as exc:
            time.sleep(0.05)
            msg = self.proc.exit_description()
            if "stopped answering" in msg:
                msg = f"the worker sent an invalid message ({exc})"
            raise WorkerCrashed(msg) from None
        finally:
            sock.settimeout(None)


def _encode_remote(obj: Any) -> Any:
    if isinstance(obj, RemoteObject):
        return obj._encode()
    raise TypeError(f"cannot send a {type(obj).__name__} to the worker")


def _attach_meta(value: Any, dec: Decoder, *, trace: str = "") -> None:
    """What the worker reported about each returned tensor (`graders_meta`), and the forward pass that
    made it (`graders_trace`: assert_shape adds it to a failure's message)."""
    import torch

    if isinstance(value, torch.Tensor):
        meta = dec.meta.get(id(value))
        if meta is not None:
            value.graders_meta = meta  # type: ignore[attr-defined]
        if trace:
            value.graders_trace = trace  # type: ignore[attr-defined]
    elif type(value) in (list, tuple):
        for v in value:
            _attach_meta(v, dec, trace=trace)
    elif type(value) is dict:
        for v in value.values():
            _attach_meta(v, dec, trace=trace)


def _s(x: Any) -> str:
    return x if type(x) is str else ""


class Submission:
    """What checks call: `submission.matmul(a, b)` runs `matmul` in the worker and returns data."""

    def __init__(self, session: WorkerSession) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        session = self._session

        def function(*args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
            return session.call(name, *args, timeout=timeout, seed=seed, **kwargs)

        function.__name__ = name
        return function

    def call(self, name: str, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        return self._session.call(name, *args, timeout=timeout, seed=seed, **kwargs)

    def eval(self, expr: str, *, timeout: float | None = None, **bindings: Any) -> Any:
        return self._session.eval(expr, timeout=timeout, **bindings)

    def _observed(self) -> list[Observed]:
        """Forward traces and loss curves of every call so far (the plugin keeps each check's own)."""
        return self._session.observations
