"""Wire format between judge and worker: length-prefixed frames of JSON plus one safetensors blob.

Nothing is ever unpickled. The decoder accepts only plain data: None, bool, int, float, str,
lists, tuples, dicts, dtypes, tensors (from safetensors) and handles (ids of objects that stay in
the worker). Sizes are limited so a worker cannot flood the judge.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from typing import Any

MAX_HEADER = 16 * 1024 * 1024  # JSON part of a frame
MAX_BLOB = 512 * 1024 * 1024  # tensors in one frame
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
# what one reply may decode to in the judge: every reference to a tensor counts (a tensor referenced 40
# times is 40 tensors), so a reply cannot multiply its blob into gigabytes of copies
MAX_DECODED = 256 * 1024 * 1024

_LEN = struct.Struct("!IQ")


class ProtocolError(Exception):
    """The other side sent something that is not a valid frame (or nothing at all)."""


class FrameTimeout(ProtocolError):
    """The whole frame did not arrive before its deadline (a trickle of bytes counts as nothing)."""


class Handle:
    """An object that stays in the worker; the judge holds only its id and a description."""

    __slots__ = ("id", "type_name", "repr")

    def __init__(self, id: int, type_name: str, repr: str) -> None:
        self.id = id
        self.type_name = type_name
        self.repr = repr

    def __repr__(self) -> str:
        return f"<{self.type_name} in the worker: {self.repr}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("handle", self.id))


class TensorMeta:
    """What the worker reported about a tensor beyond its data (graph, device, parameter)."""

    __slots__ = ("requires_grad", "has_grad_fn", "device", "is_parameter")

    def __init__(self, requires_grad: bool, has_grad_fn: bool, device: str, is_parameter: bool) -> None:
        self.requires_grad = requires_grad
        self.has_grad_fn = has_grad_fn
        self.device = device
        self.is_parameter = is_parameter


# --------------------------------------------------------------------------- framing
def send_frame(sock: socket.socket, header: dict[str, Any], blob: bytes = b"") -> None:
    h = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    sock.sendall(_LEN.pack(len(h), len(blob)) + h + blob)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FrameTimeout(f"the message did not arrive in time ({got} of {n} bytes)")
            sock.settimeout(left)
        try:
            k = sock.recv_into(view[got:], min(n - got, 1 << 20))
        except TimeoutError:
            raise FrameTimeout(f"the message did not arrive in time ({got} of {n} bytes)") from None
        if k == 0:
            raise ProtocolError("the other side closed the connection")
        got += k
    view.release()
    return buf


def recv_frame(sock: socket.socket, *, max_header: int = MAX_HEADER, max_blob: int = MAX_BLOB,
               deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
    """One frame. With `deadline` (time.monotonic()), the whole frame must arrive by then, however it
    is trickled; every way a frame can be malformed raises ProtocolError (never a decoding error)."""
    hlen, blen = _LEN.unpack(_recv_exact(sock, _LEN.size, deadline))
    if hlen > max_header:
        raise ProtocolError(f"message of {hlen} bytes exceeds the limit of {max_header}")
    if blen > max_blob:
        raise ProtocolError(f"tensor data of {blen} bytes exceeds the limit of {max_blob}")
    header = parse_header(_recv_exact(sock, hlen, deadline))
    blob = bytes(_recv_exact(sock, blen, deadline)) if blen else b""
    return header, blob


def parse_header(raw: bytes | bytearray) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        raise ProtocolError(f"message is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("message is not an object")
    return header


# --------------------------------------------------------------------------- encoding
class Encoder:
    """Turns a value into JSON-able data plus tensors. ``to_handle`` keeps non-data objects."""

    def __init__(self, to_handle: Any = None) -> None:
        self.tensors: dict[str, Any] = {}
        self.meta: list[dict[str, Any]] = []
        self._to_handle = to_handle
        self._names: dict[int, tuple[str, Any]] = {}  # id(tensor) -> (name, tensor): one copy per tensor

    def encode(self, value: Any, depth: int = 0) -> Any:
        import torch

        if depth > MAX_DEPTH:
            raise ValueError("value is nested too deeply to return")
        t = type(value)
        if value is None or t is bool or t is str:
            return value
        if t is int:
            if abs(value) >= 2**63:
                return {"$bigint": str(value)}
            return value
        if t is float:
            if math.isfinite(value):
                return value
            return {"$float": repr(value)}
        if t is list:
            return [self.encode(v, depth + 1) for v in value]
        if t is tuple or t is torch.Size:
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if t is dict:
            return {"$dict": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if t is torch.dtype:
            return {"$dtype": str(value)}
        if t is torch.device:
            return {"$device": str(value)}
        if isinstance(value, torch.Tensor):
            plain = torch.Tensor.as_subclass(value, torch.Tensor)
            seen = self._names.get(id(value))
            if seen is not None and seen[1] is value:
                name = seen[0]
            else:
                name = str(len(self.tensors))
                data = plain.detach()
                if data.is_sparse or data.layout != torch.strided:
                    data = data.to_dense()
                self.tensors[name] = data.to("cpu").contiguous().clone()
                self._names[id(value)] = (name, value)
            return {
                "$tensor": name,
                "requires_grad": bool(plain.requires_grad),
                "has_grad_fn": plain.grad_fn is not None,
                "device": str(plain.device),
                "parameter": isinstance(value, torch.nn.Parameter),
            }
        try:
            import numpy as np

            if t is np.ndarray and value.dtype.kind in "biuf":
                name = str(len(self.tensors))
                self.tensors[name] = torch.from_numpy(np.ascontiguousarray(value)).clone()
                return {"$ndarray": name}
            if isinstance(value, np.generic) and value.dtype.kind in "biuf":
                return self.encode(value.item(), depth)
        except ImportError:  # pragma: no cover
            pass
        if self._to_handle is None:
            raise TypeError(f"cannot send a {t.__name__} across the boundary")
        return self._to_handle(value)

    def blob(self) -> bytes:
        if not self.tensors:
            return b""
        from safetensors.torch import save

        return save(self.tensors)


class Decoder:
    """Strict decoder: builds only plain values; anything unexpected is a ProtocolError."""

    def __init__(self, blob: bytes, *, from_handle: Any = None, max_decoded: int | None = None) -> None:
        self._tensors: dict[str, Any] = {}
        self._budget = max_decoded  # bytes of tensor data all references together may decode to
        self._used: set[str] = set()
        if blob:
            from safetensors.torch import load

            try:
                self._tensors = load(blob)
            except Exception as exc:  # malformed safetensors data
                raise ProtocolError(f"tensor data is not valid safetensors: {exc}") from None
        self._from_handle = from_handle
        self._items = 0
        self.meta: dict[int, TensorMeta] = {}  # id(tensor) -> meta

    def decode(self, data: Any, depth: int = 0) -> Any:
        try:
            return self._decode(data, depth)
        except RecursionError:
            raise ProtocolError("value is nested too deeply") from None

    def _decode(self, data: Any, depth: int = 0) -> Any:
        import torch

        self._items += 1
        if self._items > MAX_ITEMS or depth > MAX_DEPTH:
            raise ProtocolError("value is too large or nested too deeply")
        t = type(data)
        if data is None or t in (bool, int, float, str):
            return data
        if t is list:
            return [self._decode(v, depth + 1) for v in data]
        if t is not dict or len(data) == 0:
            raise ProtocolError(f"unexpected {t.__name__} in message")
        if "$tuple" in data:
            return tuple(self._decode(v, depth + 1) for v in _list(data["$tuple"]))
        if "$dict" in data:
            out = {}
            for pair in _list(data["$dict"]):
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("malformed dict entry")
                k = self._decode(pair[0], depth + 1)
                if type(k) not in (str, int, float, bool, tuple) and k is not None:
                    raise ProtocolError("unhashable dict key")
                try:
                    out[k] = self._decode(pair[1], depth + 1)
                except TypeError:  # a tuple key holding a list
                    raise ProtocolError("unhashable dict key") from None
            return out
        if "$float" in data:
            s = data["$float"]
            if s not in ("nan", "inf", "-inf"):
                raise ProtocolError("malformed float")
            return float(s)
        if "$bigint" in data:
            try:
                return int(_str(data["$bigint"])[:400])
            except ValueError:
                raise ProtocolError("malformed integer") from None
        if "$dtype" in data:
            name = _str(data["$dtype"]).removeprefix("torch.")
            dt = getattr(torch, name, None)
            if type(dt) is not torch.dtype:
                raise ProtocolError(f"unknown dtype {name!r}")
            return dt
        if "$device" in data:
            try:
                return torch.device(_str(data["$device"]))
            except (RuntimeError, ValueError):
                raise ProtocolError("malformed device") from None
        if "$tensor" in data or "$ndarray" in data:
            key = _str(data.get("$tensor", data.get("$ndarray")))
            if key not in self._tensors:
                raise ProtocolError("reference to missing tensor data")
            tensor = self._tensors[key]
            if type(tensor) is not torch.Tensor:
                raise ProtocolError("tensor data is not a plain tensor")
            if self._budget is not None:
                self._budget -= tensor.nbytes
                if self._budget < 0:
                    raise ProtocolError(f"the value holds more than {MAX_DECODED // 1024**2} MiB of tensor data "
                                        "(counting each reference to a tensor)")
            if "$ndarray" in data:
                self._used.add(key)
                return tensor.numpy()
            # a fresh tensor object per reference, so metadata cannot be confused (the first one is the
            # loaded tensor itself: no copy)
            if key in self._used:
                tensor = tensor.clone()
            self._used.add(key)
            self.meta[id(tensor)] = TensorMeta(
                bool(data.get("requires_grad")), bool(data.get("has_grad_fn")),
                _str(data.get("device", "cpu")), bool(data.get("parameter")),
            )
            return tensor
        if "$handle" in data:
            if self._from_handle is None:
                raise ProtocolError("unexpected handle")
            hid = data["$handle"]
            if type(hid) is not int:
                raise ProtocolError("malformed handle")
            return self._from_handle(hid, _str(data.get("type", "object"))[:200], _str(data.get("repr", ""))[:500])
        raise ProtocolError(f"unknown value tag {sorted(data)[:3]}")


def _list(x: Any) -> list[Any]:
    if type(x) is not list:
        raise ProtocolError("expected a list")
    return x


def _str(x: Any) -> str:
    if type(x) is not str:
        raise ProtocolError("expected a string")
    return x
