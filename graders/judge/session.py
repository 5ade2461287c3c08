"""The judge's connection to one worker: execute the cells, then proxy calls; survive its death.

If the worker hangs or dies during a call, it is killed and started again (the cells re-run,
skipping any that hung or crashed before), so the other questions are still graded.
"""

from __future__ import annotations

import select
import tempfile
import time
from pathlib import Path
from typing import Any

from ..checks.seeds import one_way_seed
from ..result import CellOutcome, cap_text
from .observed import Observed, observed_from_reply
from ..sandbox import Launcher, Limits, WorkerProcess
from ..sandbox.cleanup import remove_tree
from ..worker.codec import MAX_DECODED, Decoder, Encoder, FrameTimeout, Handle, ProtocolError, recv_frame, send_frame
from ..checks.calls import CallTimeout, StudentCodeError, WorkerCrashed  # noqa: F401 - re-exported: graders.judge.session.StudentCodeError

MAX_RESTARTS = 8
FRAME_SLACK_S = 5.0  # once a reply has begun, at least this long for the rest of it
REPLY_MAX_BLOB = 128 * 1024 * 1024  # tensor bytes in one reply (the judge decodes at most MAX_DECODED)
OUTPUT_CAP = 64 * 1024  # characters of a cell's output, result or traceback the judge keeps
MESSAGE_CAP = 8 * 1024  # characters of an error message the judge keeps (results cap them further)


class BudgetExhausted(CallTimeout):
    """The submission's total time (Limits.total_seconds) is used up: nothing more runs."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)


class MalformedReply(WorkerCrashed):
    """The worker's side of the connection sent something that is not a valid message (student code can
    write to it): the worker is ended, and this is never reported as if the student's code raised it."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the worker sent malformed data ({detail})")


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
    def __init__(self, *, launcher: Launcher, limits: Limits, cells: list[str], files: dict[str, bytes] | None = None,
                 labels: list[str] | None = None) -> None:
        self.launcher, self.limits, self.cells, self.files = launcher, limits, cells, files or {}
        self.labels = labels or [f"code cell {i + 1}" for i in range(len(cells))]  # how messages name each cell
        self.deadline: float | None = None  # the end of the submission's total time (Limits.total_seconds)
        self.cell_seconds: dict[int, float] = {}  # where the time went: wall time of each cell, replays included
        self.calls_seconds = 0.0
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
            from ..errors import WorkerError

            self._kill()
            raise WorkerError("the worker process did not say it was ready")
        if self.limits.total_seconds and self.deadline is None:  # the submission's time starts with its first cell
            self.deadline = time.monotonic() + self.limits.total_seconds
        outcomes: list[CellOutcome] = []
        for i, source in enumerate(cells):
            if i in self.bad_cells:
                outcomes.append(CellOutcome(i, "skipped", error="skipped: this cell hung or crashed the worker earlier"))
                continue
            outcomes.append(self._exec(i, source))
        return outcomes

    def remaining(self) -> float | None:
        """Seconds left of the submission's total time, or None without a budget."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def budget_message(self) -> str:
        spent = sorted(self.cell_seconds.items(), key=lambda kv: -kv[1])
        used = [f"{self.labels[i] if i < len(self.labels) else f'code cell {i + 1}'} ({sec:.1f} s)" for i, sec in spent if sec >= 0.05][:6]
        if self.calls_seconds >= 0.05:
            used.append(f"the checks' calls of its functions ({self.calls_seconds:.1f} s)")
        where = f": the time went to {', '.join(used)}" if used else ""
        return (f"the notebook used up its total time limit of {self.limits.total_seconds:g} s{where}; "
                "make the slow cells faster (smaller loops, fewer epochs)")

    def _exec(self, index: int, source: str) -> CellOutcome:
        timeout = self.limits.cell_timeout
        left = self.remaining()
        if (left is not None and left <= 0) or self.proc is None:  # (no worker: the budget's end killed it)
            self.bad_cells.add(index)
            return CellOutcome(index, "timeout", error=self.budget_message())
        budget_cut = left is not None and left < timeout
        if budget_cut:
            timeout = max(left, 0.01)  # type: ignore[type-var]
        started = time.monotonic()
        try:
            self._send({"op": "exec", "source": source, "timeout": timeout})
            reply, _ = self._recv(timeout + self.limits.grace_seconds, what=f"cell {index + 1}")
        except CallTimeout:
            self._spent(index, started)
            self.bad_cells.add(index)
            if budget_cut:
                self._kill()
                return CellOutcome(index, "timeout", error=self.budget_message())
            self._relaunch_after(index)
            return CellOutcome(index, "timeout", error=f"cell did not finish within {timeout:g} s (time limit); the worker was restarted without it")
        except WorkerCrashed as exc:
            self._spent(index, started)
            self.bad_cells.add(index)
            self._relaunch_after(index)
            return CellOutcome(index, "error", error=f"{exc}; the worker was restarted without this cell")
        self._spent(index, started)
        status = reply.get("status", "error")
        if status not in ("ok", "error", "timeout"):
            status = "error"
        if status == "timeout":
            self.bad_cells.add(index)  # not replayed when the worker restarts
            if budget_cut:
                return CellOutcome(index, "timeout", error=self.budget_message(), line=reply.get("line") if type(reply.get("line")) is int else None)
        result = reply.get("result")
        return CellOutcome(index, status, stdout=cap_text(_s(reply.get("stdout")), OUTPUT_CAP),
                           stderr=cap_text(_s(reply.get("stderr")), OUTPUT_CAP),
                           result=cap_text(_s(result), OUTPUT_CAP) if result is not None else None,
                           error=cap_text(_s(reply.get("error")), MESSAGE_CAP) or None if reply.get("error") is not None else None,
                           traceback=cap_text(_s(reply.get("traceback")), OUTPUT_CAP) or None,
                           line=reply.get("line") if type(reply.get("line")) is int else None)

    def _spent(self, index: int, started: float) -> None:
        self.cell_seconds[index] = self.cell_seconds.get(index, 0.0) + time.monotonic() - started

    def _relaunch_after(self, index: int) -> None:
        """Restart and replay the good cells up to `index` (the caller's loop runs the rest)."""
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise WorkerCrashed("the notebook crashed or hung the worker too many times")
        self._boot(self.cells[: index + 1])

    def _ensure_running(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise BudgetExhausted(self.budget_message())
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
            remove_tree(self._workdir)
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
        left = self.remaining()
        if left is not None and left <= 0:
            raise BudgetExhausted(self.budget_message())
        budget_cut = left is not None and left < timeout
        if budget_cut:
            timeout = left  # type: ignore[assignment]
        req["timeout"] = timeout
        req["observe"] = ["trace", "curve"]
        started = time.monotonic()
        try:
            self._send(req, blob)
            reply, rblob = self._recv(timeout + self.limits.grace_seconds, what=what)
        except CallTimeout:
            self.calls_seconds += time.monotonic() - started
            self._kill()  # next call restarts the worker
            if budget_cut:
                raise BudgetExhausted(self.budget_message()) from None
            raise CallTimeout(what, timeout) from None
        except WorkerCrashed:
            self.calls_seconds += time.monotonic() - started
            self._kill()
            raise
        self.calls_seconds += time.monotonic() - started
        seen = observed_from_reply(reply, what)
        if seen is not None:
            self.observations.append(seen)
        if not reply.get("ok"):
            err = reply.get("error") if type(reply.get("error")) is dict else {}
            if reply.get("timeout"):
                if budget_cut:
                    raise BudgetExhausted(self.budget_message())
                raise CallTimeout(what, timeout)
            mro = err.get("mro")
            mro = [_s(m)[:200] for m in mro[:64]] if type(mro) is list else None
            raise StudentCodeError(what, _s(err.get("type"))[:200] or "Exception", cap_text(_s(err.get("message")), MESSAGE_CAP), mro,
                                   cap_text(_s(err.get("traceback")), OUTPUT_CAP),
                                   trace=seen.trace if seen is not None and seen.failed_forward else "")
        refused = ""
        try:
            dec = Decoder(rblob, from_handle=self._from_handle, max_decoded=MAX_DECODED)
            del rblob  # the loaded tensors are all the judge keeps
            value = dec.decode(reply.get("value"))
        except ProtocolError as exc:
            refused = str(exc)
        if refused:  # raised here, not in the handler: no traceback keeps the half-decoded tensors alive
            dec = value = rblob = None  # noqa: F841
            raise StudentCodeError(what, "InvalidResult", f"returned something the grader cannot accept ({refused})")
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
        """One whole frame within `timeout` (plus a few seconds once its first byte has come, for a large
        reply): a frame trickled byte by byte is stopped at that deadline like a hang."""
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
        try:
            return recv_frame(sock, deadline=max(deadline, time.monotonic() + FRAME_SLACK_S), max_blob=REPLY_MAX_BLOB)
        except FrameTimeout:
            raise CallTimeout(what, timeout) from None
        except ProtocolError as exc:
            time.sleep(0.05)
            msg = self.proc.exit_description()
            if "stopped answering" not in msg:  # it died: say how
                raise WorkerCrashed(msg) from None
            if "closed the connection" in str(exc):
                raise WorkerCrashed("the worker closed its connection to the grader") from None
            raise MalformedReply(str(exc)) from None
        except OSError as exc:
            time.sleep(0.05)
            msg = self.proc.exit_description()
            if "stopped answering" in msg:
                msg = f"the connection to the worker failed ({exc})"
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
