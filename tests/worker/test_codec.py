"""The wire format: plain data round-trips; anything else is refused or becomes a handle."""

from __future__ import annotations

import json
import math
import socket
import struct

import pytest
import torch

from graders.worker.codec import Decoder, Encoder, ProtocolError, recv_frame, send_frame


def roundtrip(value, to_handle=None, from_handle=None):  # type: ignore[no-untyped-def]
    enc = Encoder(to_handle)
    data = json.loads(json.dumps(enc.encode(value)))
    return Decoder(enc.blob(), from_handle=from_handle).decode(data)


def test_plain_values_roundtrip() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "t": (1, (2, 3)), 4: float("inf"), "big": 2**70, "dt": torch.float64}
    out = roundtrip(value)
    assert out["a"] == [1, 2.5, None, True, "x"]
    assert out["t"] == (1, (2, 3)) and type(out["t"]) is tuple
    assert math.isinf(out[4]) and out["big"] == 2**70 and out["dt"] is torch.float64


@pytest.mark.parametrize("t", [torch.tensor(3.5), torch.zeros(0, 3), torch.arange(6).reshape(2, 3), torch.tensor([True, False]),
                               torch.randn(4, 4, dtype=torch.float64).t(), torch.ones(2, dtype=torch.float16)])
def test_tensors_roundtrip_exactly(t: torch.Tensor) -> None:
    out = roundtrip(t)
    assert type(out) is torch.Tensor and out.dtype == t.dtype and out.shape == t.shape
    assert torch.equal(out, t)


def test_tensor_metadata_and_subclasses() -> None:
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # type: ignore[no-untyped-def, override]
            return True

    x = torch.ones(3, requires_grad=True)
    y = (x * 2).as_subclass(Sneaky)
    out = roundtrip([y, torch.nn.Parameter(torch.zeros(2))])
    assert type(out[0]) is torch.Tensor  # the subclass does not cross
    assert out[0].graders_meta.has_grad_fn if hasattr(out[0], "graders_meta") else True
    assert torch.equal(out[0], torch.full((3,), 2.0))


def test_non_data_becomes_handle_or_is_refused() -> None:
    class AlwaysEqual:
        def __eq__(self, other):  # type: ignore[no-untyped-def]
            return True

    with pytest.raises(TypeError):
        roundtrip(AlwaysEqual())
    kept = []
    out = roundtrip(AlwaysEqual(), to_handle=lambda o: (kept.append(o), {"$handle": 1, "type": "AlwaysEqual", "repr": ""})[1],
                    from_handle=lambda hid, t, r: ("handle", hid, t))
    assert out == ("handle", 1, "AlwaysEqual") and len(kept) == 1


def test_subclasses_of_plain_types_do_not_pass_as_data() -> None:
    class FakeInt(int):
        def __eq__(self, other):  # type: ignore[no-untyped-def]
            return True

    with pytest.raises(TypeError):
        roundtrip(FakeInt(3))


@pytest.mark.parametrize("bad", [{"$pickle": "gASV"}, {"$tensor": "0"}, {"$dtype": "Tensor"}, {"$handle": 1}, {"$float": "1e999x"},
                                 {"$dict": [[[1], 2]]}, {"x": 1}])
def test_decoder_refuses_what_is_not_data(bad: object) -> None:
    with pytest.raises(ProtocolError):
        Decoder(b"").decode(bad)


def test_decoder_refuses_bad_tensor_blob_and_deep_nesting() -> None:
    with pytest.raises(ProtocolError):
        Decoder(b"\x00" * 16)
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ProtocolError):
        Decoder(b"").decode(deep)


def test_frames_and_size_limits() -> None:
    a, b = socket.socketpair()
    with a, b:
        send_frame(a, {"op": "ping"}, b"xyz")
        assert recv_frame(b) == ({"op": "ping"}, b"xyz")
        a.sendall(struct.pack("!IQ", 10, 2**40))
        with pytest.raises(ProtocolError, match="exceeds"):
            recv_frame(b)
        a.close()
        with pytest.raises(ProtocolError):
            recv_frame(b)


# ------------------------------------------------------------------ round two (issue #11)
def test_a_trickled_frame_is_stopped_at_one_deadline_for_the_whole_frame() -> None:
    import threading
    import time

    from graders.worker.codec import FrameTimeout

    a, b = socket.socketpair()
    stop = threading.Event()

    def trickle() -> None:
        a.sendall(struct.pack("!IQ", 4096, 0))
        while not stop.is_set():
            a.send(b" ")
            time.sleep(0.05)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        with pytest.raises(FrameTimeout):
            recv_frame(b, deadline=time.monotonic() + 0.5)  # each byte comes in time; the frame never does
    finally:
        stop.set()
        t.join()
        a.close()
        b.close()


@pytest.mark.parametrize("header", [b"\xff\xfe\xfd\xfc", b"[" * 100_000 + b"]" * 100_000, b"not json", b"[1, 2]", b"\"text\""])
def test_every_malformed_header_is_a_protocol_error(header: bytes) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack("!IQ", len(header), 0) + header)
        with pytest.raises(ProtocolError):
            recv_frame(b)


@pytest.mark.parametrize("data", [
    {"$dict": [[{"$tuple": [[1]]}, 1]]},  # a tuple key holding a list
    {"$bigint": "12x"}, {"$device": "floppy:7"}, {"$float": "1e400"}, {"$handle": 3},
])
def test_every_malformed_value_is_a_protocol_error(data: object) -> None:
    with pytest.raises(ProtocolError):
        Decoder(b"").decode(data)


def test_deep_nesting_in_a_value_is_a_protocol_error() -> None:
    deep: object = 1
    for _ in range(5000):
        deep = {"$tuple": [deep]}
    with pytest.raises(ProtocolError):
        Decoder(b"").decode(deep)


def test_a_tensor_referenced_many_times_is_sent_once_and_counted_per_reference() -> None:
    t = torch.zeros(1024)  # 4 KiB
    enc = Encoder()
    data = json.loads(json.dumps(enc.encode([t] * 10)))
    assert len(enc.tensors) == 1
    out = Decoder(enc.blob(), max_decoded=40 * 1024).decode(data)
    assert len(out) == 10 and len({id(x) for x in out}) == 10  # fresh objects: metadata cannot be confused
    out[0][0] = 1.0
    assert out[1][0] == 0.0
    with pytest.raises(ProtocolError, match="MiB of tensor data"):
        Decoder(enc.blob(), max_decoded=36 * 1024).decode(data)
