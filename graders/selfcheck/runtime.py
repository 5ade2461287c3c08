"""The self-check runtime: what runs in the student's own kernel when `grader.check("<q>")` runs.

`graders generate` copies this module once per assignment into `release/<a>/tests/_support/selfcheck.py`
(stripped of docstrings and comments), with the helpers of graders.checks the public checks use and, for
assignments whose students build `nn.Module`s, the forward-trace recorder of graders/worker/observe.py
(elsewhere `ForwardTrace` is None: no trace is recorded). Each otter test file `release/<a>/tests/<q>.py`
loads it (`check_version` tells a kernel that still holds an older copy to restart). It mirrors the judge's
`Submission` (graders/judge/session.py) and the worker's codec (graders/worker/codec.py): arguments
cross as copies, results come back as copies or handles. Standard library and torch only: students do
not have the graders package.
"""

from __future__ import annotations

from typing import Any

from ..worker.observe import ForwardTrace, render_trace


class SelfCheckOutdated(Exception):
    """The test file and the loaded support module come from different releases of the assignment."""


def check_version(*, assignment: str, loaded: str, wanted: str, path: str) -> None:
    """A test file of release `wanted` runs against the support module the kernel loaded (`loaded`)."""
    if loaded == wanted:
        return
    try:
        with open(path, encoding="utf-8") as f:
            on_disk = f"VERSION = {wanted!r}" in f.read()
    except OSError:
        on_disk = False
    if on_disk:
        raise SelfCheckOutdated(f"the self-checks of `{assignment}` were updated after this kernel loaded them: restart "
                                "the kernel (Kernel > Restart Kernel...), run your cells again, then the check") from None
    raise SelfCheckOutdated(f"the files in tests/ of `{assignment}` come from different releases of the assignment "
                            f"({path} is not the one this test file was made with): download the assignment again") from None



class CallTimeout(Exception):
    """The student's function did not return within the time limit."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not return within {seconds:g} s (time limit); look for an endless loop or too much work")


class WorkerCrashed(Exception):
    """Never raised in the student's kernel; here so checks that name it work unchanged."""


class StudentCodeError(Exception):
    """The student's code raised; `type_name`, `message` and `mro` as the judge's StudentCodeError."""

    def __init__(self, what: str, type_name: str, message: str, mro: list[str] | None = None, where: str = "",
                 trace: str = "") -> None:
        self.what, self.type_name, self.message = what, type_name, message
        self.mro = mro or [type_name]
        self.trace = trace  # the forward pass layer by layer, when an nn.Module raised
        if type_name == "NameError":
            text = f"{message}: define it in the notebook (and keep its name as given)"
        elif type_name == "NotImplementedError":
            text = f"{what} is not implemented yet (it raised NotImplementedError)"
        else:
            text = f"{what} raised {type_name}: {message}" if message else f"{what} raised {type_name}"
        if where and type_name not in ("NameError", "NotImplementedError"):
            text += f" [{where}]"
        if trace and len(text) > 1000:  # as the judge's: the trace's last line must survive message caps
            text = text[:999] + "…"
        super().__init__(f"{text}\n{trace}" if trace else text)


class _Alarm(BaseException):
    pass


class PublicCheckFailed(BaseException):
    """A public check failed while nbgrader validates or autogrades the notebook (see `strict`)."""


def strict(fn: Any) -> Any:
    """Under nbgrader's Validate button (or its autograde), a failing public check fails its grade cell.

    otter's `grader.check` reports failures without raising, so nbgrader would call every notebook
    valid. nbgrader marks those runs with NBGRADER_EXECUTION; there a failure escapes otter (which
    catches only Exception) and the grade cell errors with the check's message. In a student's
    interactive run nothing changes."""
    import functools
    import os

    if os.environ.get("NBGRADER_EXECUTION") not in ("validate", "autograde"):
        return fn

    @functools.wraps(fn)
    def run(env: Any) -> None:
        try:
            fn(env)
        except Exception as exc:  # noqa: BLE001
            raise PublicCheckFailed(f"public check {fn.__name__.removeprefix('test_')} failed: "
                                    f"{type(exc).__name__}: {exc}") from None

    return run


class _TensorMeta:
    __slots__ = ("requires_grad", "has_grad_fn", "device", "is_parameter")

    def __init__(self, requires_grad: bool, has_grad_fn: bool, device: str, is_parameter: bool) -> None:
        self.requires_grad, self.has_grad_fn, self.device, self.is_parameter = requires_grad, has_grad_fn, device, is_parameter


class LocalObject:
    """A non-data object the student's code returned (a model, say): like the judge's RemoteObject."""

    __slots__ = ("_sub", "_obj", "_attrs")

    def __init__(self, sub: NotebookSubmission, obj: Any, attrs: tuple[str, ...] = ()) -> None:
        self._sub, self._obj, self._attrs = sub, obj, attrs

    @property
    def type_name(self) -> str:
        return type(self._obj).__name__

    def __getattr__(self, name: str) -> LocalObject:
        if name.startswith("__"):
            raise AttributeError(name)
        return LocalObject(self._sub, self._obj, self._attrs + (name,))

    def __call__(self, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        what = ".".join((self.type_name,) + self._attrs)

        def target() -> Any:
            obj = self._obj
            for a in self._attrs:
                obj = getattr(obj, a)
            return obj

        return self._sub._run(what, target, args, kwargs, timeout, seed)

    def __repr__(self) -> str:
        return f"<{'.'.join((self.type_name,) + self._attrs)} (lives in the notebook)>"


def _crossing(value: Any, leaf: Any, verb: str, depth: int = 0, in_key: bool = False) -> Any:
    """A fresh copy of `value` as it would cross between judge and worker: None, bool, str, int, float, dtypes
    and devices as they are, numpy numbers as Python numbers, numpy arrays of numbers copied, lists, tuples
    (torch.Size too) and dicts item by item; anything else is `leaf(value, in_key)` (in_key: in a dict key)."""
    import torch

    if depth > 32:
        raise ValueError(f"value is nested too deeply to {verb}")
    t = type(value)
    if value is None or t in (bool, str, int, float) or t is torch.dtype or t is torch.device:
        return value
    if t is list:
        return [_crossing(v, leaf, verb, depth + 1, in_key) for v in value]
    if t is tuple or t is torch.Size:
        return tuple(_crossing(v, leaf, verb, depth + 1, in_key) for v in value)
    if t is dict:
        return {_crossing(k, leaf, verb, depth + 1, True): _crossing(v, leaf, verb, depth + 1, in_key) for k, v in value.items()}
    try:
        import numpy as np

        if t is np.ndarray and value.dtype.kind in "biuf":
            return np.array(value, copy=True)
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    return leaf(value, in_key)


def _tensor_copy(value: Any) -> tuple[Any, Any]:
    """(the tensor as a plain torch.Tensor, a dense, contiguous, detached copy of it on the CPU)."""
    import torch

    plain = torch.Tensor.as_subclass(value, torch.Tensor)
    data = plain.detach()
    if data.is_sparse or data.layout != torch.strided:
        data = data.to_dense()
    return plain, data.to("cpu").contiguous().clone()


def _to_student(value: Any) -> Any:
    """What the worker would receive for `value` sent by a check (a fresh copy)."""

    def leaf(value: Any, in_key: bool) -> Any:
        import torch

        if isinstance(value, torch.Tensor):
            plain, data = _tensor_copy(value)
            if plain.requires_grad and data.is_floating_point():
                data.requires_grad_(True)
            return data
        if type(value).__name__ == "LocalObject" and hasattr(value, "_obj"):  # also one made by another question's file
            if value._attrs:
                raise TypeError("only whole objects can be passed back to the notebook's code")
            return value._obj
        raise TypeError(f"cannot send a {type(value).__name__} to the notebook's code")

    return _crossing(value, leaf, "send")


def _to_check(value: Any, sub: NotebookSubmission, trace: str = "") -> Any:
    """What the judge would get back for `value` returned by the student's code (`trace`: the forward
    pass that made it, kept on returned tensors as `graders_trace` as the judge's session does)."""

    def leaf(value: Any, in_key: bool) -> Any:
        import torch

        if not isinstance(value, torch.Tensor):
            return LocalObject(sub, value)
        plain, out = _tensor_copy(value)
        out.graders_meta = _TensorMeta(bool(plain.requires_grad), plain.grad_fn is not None, str(plain.device),  # type: ignore[attr-defined]
                                       isinstance(value, torch.nn.Parameter))
        if trace and not in_key:
            out.graders_trace = trace  # type: ignore[attr-defined]
        return out

    return _crossing(value, leaf, "return")


def _seed_all(seed: int | None) -> None:
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


def _where(exc: BaseException) -> str:
    """'line 4 of matmul: return a @ b' for the innermost frame of notebook code."""
    import linecache
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in (f.filename or "")
              and "/tests/" not in (f.filename or "") and not (f.filename or "").startswith("<graders")]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno or 0)).strip()
    return f"line {f.lineno} of {f.name}" + (f": {line[:120]}" if line else "")


def _tracer() -> Any:
    """A recorder of the forward pass, layer by layer, as the worker records it for the judge; None in the
    support of an assignment whose students build no nn.Module (shipped without observe.py: no trace shown)."""
    return ForwardTrace() if ForwardTrace is not None else None


class NotebookSubmission:
    """What checks call in the student's kernel: `submission.matmul(a, b)` calls the notebook's `matmul`."""

    def __init__(self, env: dict[str, Any], call_timeout: float = 30.0) -> None:
        self._env = env
        self._call_timeout = call_timeout

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def function(*args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
            return self.call(name, *args, timeout=timeout, seed=seed, **kwargs)

        function.__name__ = name
        return function

    def call(self, name: str, *args: Any, timeout: float | None = None, seed: int | None = None, **kwargs: Any) -> Any:
        def target() -> Any:
            if name not in self._env:
                raise NameError(f"name {name!r} is not defined in the notebook")
            return self._env[name]

        return self._run(f"`{name}`", target, args, kwargs, timeout, seed)

    def eval(self, expr: str, *, timeout: float | None = None, **bindings: Any) -> Any:
        import builtins

        import torch

        values = _to_student(dict(bindings))

        def run() -> Any:
            env = {"torch": torch, "__builtins__": builtins, "user_ns": self._env}
            env.update(values)
            return eval(expr, env)  # the expression comes from the course's checks

        return self._run("the checked value", lambda: run, (), {}, timeout, None)

    def _run(self, what: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None,
             seed: int | None) -> Any:
        import contextlib
        import io
        import signal
        import threading

        seconds = self._call_timeout if timeout is None else float(timeout)
        a, kw = _to_student((tuple(args), dict(kwargs)))
        sink = io.StringIO()
        use_alarm = seconds > 0 and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
        old_handler = None
        tracer = _tracer()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                try:
                    fn = target()
                    _seed_all(seed)
                    if use_alarm:
                        def on_alarm(signum: int, frame: Any) -> None:
                            raise _Alarm()

                        old_handler = signal.signal(signal.SIGALRM, on_alarm)
                        signal.setitimer(signal.ITIMER_REAL, seconds)
                    try:
                        with tracer if tracer is not None else contextlib.nullcontext():
                            value = fn(*a, **kw)
                    finally:
                        if use_alarm:
                            signal.setitimer(signal.ITIMER_REAL, 0)
                except _Alarm:
                    raise CallTimeout(what, seconds) from None
                except (KeyboardInterrupt, CallTimeout):
                    raise
                except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                    mro = [c.__name__ for c in type(exc).__mro__][:20]
                    data = tracer.data() if tracer is not None else None
                    raise StudentCodeError(what, type(exc).__name__, str(exc)[:2000], mro, _where(exc),
                                           trace=render_trace(data) if data and data.get("failed") else "") from None
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGALRM, old_handler)
        try:
            return _to_check(value, self, trace=render_trace(tracer.data()) if tracer is not None else "")
        except Exception as exc:  # noqa: BLE001
            raise StudentCodeError(what, type(exc).__name__, f"the returned value could not be sent to the grader: {exc}") from None


def _fixture_cache() -> dict[str, Any]:
    import sys
    import types

    mod = sys.modules.get("_graders_selfcheck_cache")
    if mod is None:
        mod = sys.modules["_graders_selfcheck_cache"] = types.ModuleType("_graders_selfcheck_cache")
        mod.values = {}  # type: ignore[attr-defined]
    return mod.values  # type: ignore[attr-defined,no-any-return]


def _fingerprint(env: dict[str, Any]) -> tuple[Any, ...]:
    """Changes whenever the notebook (re)defines something: cached fixtures are then recomputed."""
    import types

    return tuple((k, id(v)) for k, v in env.items() if not k.startswith("_") and not isinstance(v, types.ModuleType)
                 and k not in ("In", "Out", "grader", "exit", "quit", "get_ipython"))


def fixtures(env: dict[str, Any], names: tuple[str, ...], defined: dict[str, Any], config: dict[str, Any]) -> list[Any]:
    """Values of the fixtures `names` for a check run against the notebook's globals `env`."""
    local: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name in local:
            return local[name]
        if name == "submission":
            value: Any = NotebookSubmission(env, float(config.get("call_timeout", 30.0)))
        elif name == "device":
            import torch

            value = "cuda" if torch.cuda.is_available() else "cpu"
        elif name == "record_property":
            value = lambda key, val: config.setdefault("properties", []).append((key, val))  # noqa: E731
        elif name == "tmp_path":
            import pathlib
            import tempfile

            value = pathlib.Path(tempfile.mkdtemp(prefix="selfcheck-"))
        else:
            value = defined[name](env, config, get)  # made by `fixture`
        local[name] = value
        return value

    return [get(n) for n in names]


def fixture(name: str, fn: Any, args: tuple[str, ...], scope: str, is_gen: bool) -> Any:
    """The @pytest.fixture function `fn` of the assignment module as `fixtures` asks for its value (the test
    file lists them; shipped only to assignments whose public checks use one): a module- or session-scoped
    value is kept while the notebook's definitions stay the same (a training run shared by check_all)."""

    def value_of(env: dict[str, Any], config: dict[str, Any], get: Any) -> Any:
        key = f"{config.get('assignment')}::{name}"
        cache = _fixture_cache()
        fp = _fingerprint(env)
        if scope != "function" and key in cache and cache[key][0] == fp:
            return cache[key][1]
        value = fn(**{a: get(a) for a in args})
        if is_gen:
            value = next(value)
        if scope != "function":
            cache[key] = (fp, value)
        return value

    return value_of


def parametrized(binder: Any, name: str, points: float, stack: list[tuple[Any, Any]]) -> list[Any]:
    """One otter test case per parameter set of stacked `pytest.mark.parametrize(argnames, argvalues)`.

    `binder(values)` (written into the test file) returns the case function `run(env)`."""
    from otter.test_files import test_case

    combos: list[tuple[list[str], dict[str, Any]]] = [([], {})]
    for argnames, argvalues in stack:
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        nxt = []
        for ids, values in combos:
            for i, v in enumerate(argvalues):
                vals = (v,) if len(names) == 1 else tuple(v)
                label = "-".join(str(x) if isinstance(x, (int, float, str, bool)) or x is None else f"{n}{i}"
                                 for n, x in zip(names, vals))
                nxt.append((ids + [label], {**values, **dict(zip(names, vals))}))
        combos = nxt
    return [test_case(name=f"{name}[{'-'.join(ids)}]", points=points, hidden=False)(binder(values)) for ids, values in combos]
