"""The worker: executes a submission's cells, then answers the judge's calls. Runs student code.

Started as ``python -m graders.worker.serve FD`` (or from the sandbox's copy of this package)
with a connected socket on file descriptor FD. Nothing here decides a grade: it only runs code
and sends back data.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import traceback
from typing import Any

from .codec import Decoder, Encoder, ProtocolError, recv_frame, send_frame
from .notebook_shell import configure as _configure_shell
from .notebook_shell import error_line as _error_line
from .observe import Observation

OUTPUT_CAP = 64 * 1024  # characters of stdout/stderr kept per cell or call


class SoftTimeout(BaseException):
    """Raised inside student code when its time is up (BaseException: `except Exception` won't eat it)."""


class CappedWriter(io.TextIOBase):
    def __init__(self, cap: int = OUTPUT_CAP) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.cap = cap
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:  # type: ignore[override]
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... [{self.dropped} more characters of output not kept]\n"
        return text


class Worker:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.handles: dict[int, Any] = {}
        self.handle_ids: dict[int, int] = {}  # id(obj) -> handle id
        self.shell = make_shell()
        self.user_ns: dict[str, Any] = self.shell.user_ns

    # ---------------------------------------------------------------- plumbing
    def _to_handle(self, obj: Any) -> dict[str, Any]:
        hid = self.handle_ids.get(id(obj))
        if hid is None or self.handles.get(hid) is not obj:
            hid = len(self.handles) + 1
            self.handles[hid] = obj
            self.handle_ids[id(obj)] = hid
        try:
            text = f"{type(obj).__module__}.{type(obj).__qualname__}"  # never the object's own repr (student code)
        except Exception:
            text = "object"
        return {"$handle": hid, "type": type(obj).__name__, "repr": text[:200]}

    def _from_handle(self, hid: int, _type: str, _repr: str) -> Any:
        if hid not in self.handles:
            raise ProtocolError(f"unknown handle {hid}")
        return self.handles[hid]

    def _decode(self, data: Any, blob: bytes) -> Any:
        dec = Decoder(blob, from_handle=self._from_handle)
        value = dec.decode(data)
        return _restore_grad(value, dec)

    def _reply(self, header: dict[str, Any], value: Any = None, *, has_value: bool = False) -> None:
        blob = b""
        if has_value:
            enc = Encoder(self._to_handle)
            try:
                header["value"] = enc.encode(value)
                blob = enc.blob()
            except Exception as exc:
                header = {"ok": False, "error": {"type": type(exc).__name__, "message": f"the returned value could not be sent to the grader: {exc}"[:2000]}}
                blob = b""
        send_frame(self.sock, header, blob)

    # ---------------------------------------------------------------- ops
    def serve(self) -> None:
        while True:
            try:
                req, blob = recv_frame(self.sock)
            except ProtocolError:
                return
            op = req.get("op")
            if op == "exec":
                self._reply(self.exec_cell(req["source"], float(req.get("timeout", 0) or 0)))
            elif op in ("call", "eval"):
                self.call(req, blob)
            elif op == "ping":
                self._reply({"ok": True, "pid": os.getpid()})
            elif op == "shutdown":
                self._reply({"ok": True})
                return
            else:
                self._reply({"ok": False, "error": {"type": "ProtocolError", "message": f"unknown op {op!r}"}})

    def exec_cell(self, source: str, timeout: float) -> dict[str, Any]:
        out, err = CappedWriter(), CappedWriter()
        captured: dict[str, Any] = {}
        self.shell.displayhook.write_format_data = lambda data, md=None: captured.update(result=str(data.get("text/plain", ""))[:OUTPUT_CAP])  # type: ignore[method-assign]
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        status, error, tb, line = "ok", None, None, None
        try:
            with _deadline(timeout):
                res = self.shell.run_cell(source, store_history=True, silent=False)
            exc = res.error_before_exec or res.error_in_exec
            if isinstance(exc, SoftTimeout):
                status, error, line = "timeout", f"the cell did not finish within {timeout:g} s", _error_line(exc)
            elif exc is not None:
                status, error, tb, line = "error", _describe(exc), _format_tb(exc), _error_line(exc)
        except SoftTimeout:
            status, error = "timeout", f"the cell did not finish within {timeout:g} s"
        finally:
            sys.stdout, sys.stderr = old
        return {"ok": True, "status": status, "stdout": out.getvalue(), "stderr": err.getvalue(),
                "result": captured.get("result"), "error": error, "traceback": tb, "line": line}

    def call(self, req: dict[str, Any], blob: bytes) -> None:
        out, err = CappedWriter(), CappedWriter()
        timeout = float(req.get("timeout", 0) or 0)
        try:
            payload = self._decode(req.get("payload", {"$tuple": []}), blob)
        except ProtocolError as exc:
            self._reply({"ok": False, "error": {"type": "ProtocolError", "message": str(exc)}})
            return
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        observing = Observation(req.get("observe"))  # forward trace, loss curve: see observe.py
        try:
            _seed(req.get("seed"))
            with _deadline(timeout), observing:
                if req["op"] == "eval":
                    env = {"torch": _torch(), "__builtins__": __builtins__, "user_ns": self.user_ns}
                    env.update(payload)
                    value = eval(req["expr"], env)  # the expression comes from the trusted judge
                else:
                    fn = self._target(req["target"])
                    args, kwargs = payload
                    value = fn(*args, **kwargs)
        except SoftTimeout:
            sys.stdout, sys.stderr = old
            self._reply({"ok": False, "timeout": True, "error": {"type": "Timeout", "message": f"did not return within {timeout:g} s"}})
            return
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit included
            sys.stdout, sys.stderr = old
            self._reply({"ok": False, "error": {"type": type(exc).__name__, "message": _safe_str(exc), "traceback": _format_tb(exc), "mro": _mro(exc)}, "stdout": out.getvalue()[:4000],
                         **_observed(observing)})
            return
        finally:
            sys.stdout, sys.stderr = old
        self._reply({"ok": True, "stdout": out.getvalue()[:4000], **_observed(observing)}, value, has_value=True)

    def _target(self, target: dict[str, Any]) -> Any:
        if "global" in target:
            name = target["global"]
            if name not in self.user_ns:
                raise NameError(f"name {name!r} is not defined in the notebook")
            obj = self.user_ns[name]
        else:
            obj = self.handles[int(target["handle"])]
        for attr in target.get("attrs", []):
            obj = getattr(obj, attr)
        return obj


# ------------------------------------------------------------------------ helpers
def _torch() -> Any:
    import torch

    return torch


def _restore_grad(value: Any, dec: Decoder) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        meta = dec.meta.get(id(value))
        if meta is not None and meta.requires_grad and value.is_floating_point():
            value.requires_grad_(True)
        return value
    if type(value) is list:
        return [_restore_grad(v, dec) for v in value]
    if type(value) is tuple:
        return tuple(_restore_grad(v, dec) for v in value)
    if type(value) is dict:
        return {k: _restore_grad(v, dec) for k, v in value.items()}
    return value


def _seed(seed: Any) -> None:
    if seed is None:
        return
    import random

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


class _deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        if self.seconds > 0:
            signal.signal(signal.SIGALRM, _on_alarm)
            # repeats after the deadline: student code that swallows one SoftTimeout gets another
            signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.25)

    def __exit__(self, *exc: object) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum: int, frame: Any) -> None:
    raise SoftTimeout()


def _observed(observing: Observation) -> dict[str, Any]:
    """{"observed": {...}} for the reply, or nothing; a second at most (it may read the student's modules)."""
    try:
        with _deadline(1.0):
            found = observing.report()
    except BaseException:  # noqa: BLE001 - SoftTimeout or anything else: the call's own result matters more
        return {}
    return {"observed": found} if found else {}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:2000]
    except BaseException:  # noqa: BLE001
        return "(the error message could not be read)"


def _mro(exc: BaseException) -> list[str]:
    try:
        return [str(c.__name__) for c in type(exc).__mro__][:20]
    except BaseException:  # noqa: BLE001
        return []


def _describe(exc: BaseException) -> str:
    msg = _safe_str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _format_tb(exc: BaseException) -> str:
    try:
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        # drop our own frames: start at the first frame of student code
        keep = [ln for ln in lines if "graders" not in ln and "IPython/core" not in ln]
        return "".join(keep)[-6000:]
    except BaseException:  # noqa: BLE001
        return _describe(exc)


def make_shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.HistoryManager.hist_file = ":memory:"
    cfg.InteractiveShell.colors = "nocolor"
    cfg.InteractiveShell.xmode = "Plain"
    shell = InteractiveShell.instance(config=cfg)

    shell._showtraceback = lambda *a, **k: None  # type: ignore[method-assign]
    shell.showsyntaxerror = lambda *a, **k: None  # type: ignore[method-assign]
    shell.displayhook.write_output_prompt = lambda: None  # type: ignore[method-assign]
    shell.displayhook.finish_displayhook = lambda: None  # type: ignore[method-assign]
    # magics, shell escapes (a note, not run), matplotlib inline, input(): as in Jupyter's kernel
    _configure_shell(shell)
    return shell


def _cap_gpu_memory(torch: Any) -> None:
    """GRADERS_GPU_MEMORY_FRACTION (set on GPU workers of a cluster): this submission's share of the GPU."""
    fraction = os.environ.get("GRADERS_GPU_MEMORY_FRACTION")
    if fraction and torch.cuda.is_available():
        try:
            torch.cuda.set_per_process_memory_fraction(min(1.0, max(0.05, float(fraction))))
        except (ValueError, RuntimeError):
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[0]) if argv else 3
    sock = socket.socket(fileno=fd)
    threads = int(os.environ.get("GRADERS_TORCH_THREADS", "1"))
    import torch

    torch.set_num_threads(threads)
    _cap_gpu_memory(torch)
    worker = Worker(sock)
    send_frame(sock, {"ok": True, "ready": True, "pid": os.getpid()})
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
