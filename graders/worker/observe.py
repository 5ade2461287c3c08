"""What the worker observes while a call runs: the forward pass layer by layer, and the training loss.

Used by serve.py for calls whose request asks for it (``"observe": ["trace", "curve"]``) and, for
the public self-checks, by the runtime copied into release/<a>/tests/_support/selfcheck.py (graders/selfcheck/),
which runs in the student's own kernel. Standard library and torch only; nothing of the rest of
graders. Everything recorded is plain data (ints, floats, short strings), bounded in size, and only
read by the judge after its own validation (graders/judge/observed.py).

- ``ForwardTrace``: global forward hooks (torch.nn.modules.module.register_module_forward_*_hook)
  record, for the last top-level ``nn.Module`` call, each leaf module's input and output shapes; when
  the forward raises, the innermost module that was running is the failing one and the reason is
  said in course vocabulary where it is clear ("expects 8 input features, got 16").
  ``render_trace(data)`` turns the data into the text shown in messages::

      CircleModel.forward on a (200, 2) batch:
        layers.0  Linear(2 → 16)   (200, 2)  → (200, 16)
        layers.1  ReLU             (200, 16) → (200, 16)
        layers.2  Linear(8 → 16)   (200, 16) → ✗ expects 8 input features, got 16

- ``LossCurve``: the scalar losses the student's code calls ``backward()`` on, one point per
  ``Optimizer.step`` (their mean, when several backward passes feed one step), downsampled into at
  most ``MAX_POINTS`` buckets; without any optimizer step, one point per backward.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from typing import Any

MAX_ROWS_KEPT = 48  # rows kept of one forward pass: the first ones and the last ones
MAX_ROWS_SHOWN = 10  # rows of the rendered trace (plus the failing row and one "… more" row)
MAX_TRACE_CHARS = 900  # the rendered text stays well under the ~2,000 characters of a message
MAX_POINTS = 200  # points of a loss curve after downsampling
_TEXT = 48  # characters of one description / shape


# =============================================================================== forward trace
def _shapes(value: Any, depth: int = 0) -> Any:
    """The shape(s) of a value, kept cheaply while the forward runs (formatted later by `_shape_text`):
    a torch.Size for a tensor, a tuple of those for several, None when there is none."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.shape
    if type(value) is tuple and len(value) == 1 and isinstance(value[0], torch.Tensor):  # a module's usual args
        return value[0].shape
    if depth < 2 and isinstance(value, (tuple, list)):
        found = [s for s in (_shapes(v, depth + 1) for v in list(value)[:4]) if s is not None]
        return tuple(found) if found else None
    if depth < 2 and isinstance(value, dict):
        return _shapes(list(value.values())[:4], depth + 1)
    return None


def _shape_text(shapes: Any) -> str:
    """'(200, 2)' for one shape; '(3, 4), (4,)' for several; '' for None."""
    import torch

    if shapes is None:
        return ""
    if isinstance(shapes, torch.Size):
        dims = tuple(int(d) for d in shapes)
        return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"
    parts = [p for p in (_shape_text(s) for s in shapes) if p]
    return ", ".join(parts[:3]) + (", …" if len(parts) > 3 else "")


def _first_tensor(args: Any) -> Any:
    import torch

    for a in args if isinstance(args, (tuple, list)) else (args,):
        if isinstance(a, torch.Tensor):
            return a
    return None


def describe_layer(module: Any) -> str:
    """A short description: 'Linear(2 → 16)', 'Conv2d(1 → 8, 3×3)', 'ReLU', 'BatchNorm2d(8)'."""
    import torch.nn as nn

    name = type(module).__name__
    try:
        if isinstance(module, nn.Linear):
            return f"{name}({module.in_features} → {module.out_features})"
        if isinstance(module, nn.Bilinear):
            return f"{name}({module.in1_features}, {module.in2_features} → {module.out_features})"
        if isinstance(module, nn.modules.conv._ConvNd):
            k = "×".join(str(int(x)) for x in module.kernel_size)
            extra = ""
            if any(int(s) != 1 for s in module.stride):
                extra += f", stride {'×'.join(str(int(s)) for s in module.stride)}"
            if isinstance(module.padding, str):
                extra += f", padding {module.padding}"
            elif any(int(p) != 0 for p in module.padding):
                extra += f", pad {'×'.join(str(int(p)) for p in module.padding)}"
            return f"{name}({module.in_channels} → {module.out_channels}, {k}{extra})"
        if isinstance(module, nn.modules.batchnorm._NormBase):
            return f"{name}({module.num_features})"
        if isinstance(module, nn.LayerNorm):
            return f"{name}({', '.join(str(int(s)) for s in module.normalized_shape)})"
        if isinstance(module, nn.Embedding):
            return f"{name}({module.num_embeddings}, {module.embedding_dim})"
        if isinstance(module, (nn.RNNBase,)):
            return f"{name}({module.input_size} → {module.hidden_size})"
        if isinstance(module, nn.modules.pooling._MaxPoolNd) or isinstance(module, nn.modules.pooling._AvgPoolNd):
            k = module.kernel_size
            k = "×".join(str(int(x)) for x in k) if isinstance(k, (tuple, list)) else str(int(k))
            return f"{name}({k})"
        if isinstance(module, nn.Dropout) or isinstance(module, nn.modules.dropout._DropoutNd):
            return f"{name}({float(module.p):g})"
        if isinstance(module, nn.Flatten):
            return name
        if type(module).__module__.startswith("torch.nn"):
            extra = module.extra_repr()  # torch's own modules only (a student's extra_repr is not called)
            return f"{name}({extra})" if extra and len(extra) <= 24 else name
    except Exception:  # noqa: BLE001 - a description is a courtesy
        pass
    return name


def failure_reason(module: Any, args: Any, exc: BaseException) -> str:
    """Why `module` could not take `args`, in course vocabulary where the cause is clear."""
    import torch
    import torch.nn as nn

    x = _first_tensor(args)
    try:
        if isinstance(x, torch.Tensor):
            if isinstance(module, nn.Linear) and x.dim() >= 1 and int(x.shape[-1]) != module.in_features:
                return f"expects {module.in_features} input features, got {int(x.shape[-1])}"
            if isinstance(module, nn.modules.conv._ConvNd):
                n = len(module.kernel_size)
                if x.dim() not in (n + 1, n + 2):
                    layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}.get(n, f"{n + 2}-D")
                    return f"expects a {n + 2}-D input {layout}, got a {x.dim()}-D one"
                c = int(x.shape[-(n + 1)])
                if c != module.in_channels:
                    return f"expects {module.in_channels} input channels, got {c}"
            if isinstance(module, nn.modules.batchnorm._NormBase) and x.dim() >= 2 and int(x.shape[1]) != module.num_features:
                return f"expects {module.num_features} features (channels, dimension 1), got {int(x.shape[1])}"
            if isinstance(module, nn.LayerNorm):
                want = tuple(int(s) for s in module.normalized_shape)
                if tuple(int(s) for s in x.shape[-len(want):]) != want:
                    return f"expects the last dimensions to be {want}, got {tuple(int(s) for s in x.shape)}"
            if isinstance(module, nn.Embedding) and not x.is_floating_point() and x.numel():
                if int(x.max()) >= module.num_embeddings or int(x.min()) < 0:
                    return f"expects indices in 0..{module.num_embeddings - 1}, got {int(x.min())}..{int(x.max())}"
    except Exception:  # noqa: BLE001
        pass
    try:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    except Exception:  # noqa: BLE001
        text = ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:160]


def _remove(handles: list[Any]) -> None:
    """Remove torch hooks (the list is emptied)."""
    while handles:
        try:
            handles.pop().remove()
        except Exception:  # noqa: BLE001
            pass


class ForwardTrace:
    """Records the last top-level forward pass of any nn.Module while active (a context manager)."""

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._stack: list[tuple[Any, Any]] = []  # (module, args) of the modules running now
        self._root: Any = None
        self._root_in: Any = None
        self._head: list[tuple[Any, Any, Any]] = []  # (module, args, output) of the first leaf calls
        self._tail: deque[tuple[Any, Any, Any]] = deque(maxlen=MAX_ROWS_KEPT // 2)  # and of the last ones
        self._count = 0
        self._failed: tuple[Any, Any, BaseException] | None = None  # (module, args, exception)
        # the last finished top-level forward: (root, its args, first rows, last rows, rows in all, failure or None)
        self.last: tuple[Any, Any, list[Any], deque[Any], int, Any] | None = None

    # ------------------------------------------------------------------ hooks
    def __enter__(self) -> ForwardTrace:
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        self._handles = [register_module_forward_pre_hook(self._pre),
                         register_module_forward_hook(self._post, always_call=True)]
        return self

    def __exit__(self, *exc: object) -> None:
        _remove(self._handles)
        self._stack = []

    # The hooks run for every module call of the student's code (thousands while training): they only
    # keep references; shapes, names and descriptions are worked out once, in `data()`.
    def _pre(self, module: Any, args: Any) -> None:
        try:
            if not self._stack:  # a new top-level forward: the previous one's rows are dropped
                self._root, self._root_in = module, args
                self._head, self._tail, self._count, self._failed = [], deque(maxlen=MAX_ROWS_KEPT // 2), 0, None
            self._stack.append((module, args))
        except Exception:  # noqa: BLE001 - never disturb the student's forward
            pass

    def _post(self, module: Any, args: Any, output: Any) -> None:
        try:
            stack = self._stack
            if output is None and sys.exc_info()[1] is not None:  # always_call: torch runs this while the forward raises
                while stack and stack.pop()[0] is not module:
                    pass
                if self._failed is None:  # the innermost module the exception passed through
                    self._failed = (module, args, sys.exc_info()[1])
                if not stack:
                    self.last = (self._root, self._root_in, self._head, self._tail, self._count, self._failed)
                return
            if stack and stack[-1][0] is module:
                stack.pop()
            else:
                while stack and stack.pop()[0] is not module:
                    pass
            self._failed = None  # (if set: the student's code caught it inside the forward and went on)
            if not module._modules:  # a leaf
                self._count += 1
                if len(self._head) < MAX_ROWS_KEPT // 2:
                    self._head.append((module, args, output))
                else:
                    self._tail.append((module, args, output))
            if not stack:
                self.last = (self._root, self._root_in, self._head, self._tail, self._count, None)
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------------ data
    def data(self) -> dict[str, Any] | None:
        """The last top-level forward as plain data (module paths, descriptions, shapes), or None."""
        if self.last is None:
            return None
        root, root_in, head, tail, count, failed = self.last
        names: dict[int, str] = {}
        try:
            import torch.nn as nn

            for name, mod in nn.Module.named_modules(root):  # torch's own walk, not a student's override
                names.setdefault(id(mod), name)
                if len(names) > 10_000:
                    break
        except Exception:  # noqa: BLE001
            pass

        def path(m: Any) -> str:
            n = names.get(id(m))
            return n if n is not None else f"({type(m).__name__})"

        def row(m: Any, i: Any, o: Any) -> dict[str, Any]:
            return {"path": path(m)[:_TEXT], "layer": describe_layer(m)[:_TEXT], "in": _shape_text(_shapes(i))[:_TEXT],
                    "out": _shape_text(_shapes(o))[:_TEXT]}

        out: dict[str, Any] = {"model": type(root).__name__[:_TEXT], "input": _shape_text(_shapes(root_in))[:_TEXT],
                               "head": [row(*r) for r in head], "tail": [row(*r) for r in tail], "count": int(count)}
        if failed is not None:
            m, a, exc = failed
            failing = row(m, a, None)
            if m is root:
                failing["path"], failing["layer"], failing["in"] = "", type(root).__name__[:_TEXT], ""
            failing["error"] = failure_reason(m, a, exc)[:200]
            out["failed"] = failing
        return out


def _pad(s: str, n: int) -> str:
    return s + " " * max(0, n - len(s))


def _title(model: str, shown_in: str) -> str:
    if not shown_in:
        return f"{model}.forward:"
    if shown_in.count("(") > 1:
        return f"{model}.forward on inputs {shown_in}:"
    dims = [d for d in shown_in.strip("()").split(",") if d.strip()]
    return f"{model}.forward on a {shown_in} {'batch' if len(dims) >= 2 else 'input'}:"


def render_trace(data: dict[str, Any] | None, *, max_rows: int = MAX_ROWS_SHOWN, max_chars: int = MAX_TRACE_CHARS) -> str:
    """The text of a trace (see the module docstring); '' for no data. At most `max_rows` layers (the
    first and the last ones) plus the failing one, and at most `max_chars` characters."""
    if not data:
        return ""
    rows_all = [r for r in list(data.get("head") or []) + list(data.get("tail") or []) if isinstance(r, dict)]
    total = max(int(data.get("count") or 0), len(rows_all))
    failed = data.get("failed") if isinstance(data.get("failed"), dict) else None
    title = _title(str(data.get("model") or "model"), str(data.get("input") or ""))
    text = title
    for budget in (max_rows, 6, 4, 2):
        if total <= budget:
            shown, gap = rows_all, 0
            first = len(shown)
        else:
            first, last = (budget + 1) // 2, budget // 2
            shown = rows_all[:first] + (rows_all[len(rows_all) - last:] if last else [])
            gap = total - len(shown)
        text = "\n".join([title, *_render_rows(shown, gap, first, failed)])
        if len(text) <= max_chars:
            return text
    return text[: max_chars - 1] + "…"


def _render_rows(rows: list[dict[str, Any]], gap: int, gap_at: int, failed: dict[str, Any] | None) -> list[str]:
    every = rows + ([failed] if failed else [])
    wp = min(24, max([len(str(r.get("path") or "(its own code)")) for r in every] + [4]))
    wl = min(30, max([len(str(r.get("layer") or "")) for r in every] + [4]))
    wi = min(22, max([len(str(r.get("in") or "")) for r in every] + [2]))

    def line(r: dict[str, Any], right: str) -> str:
        p = str(r.get("path") or "") or "(its own code)"
        return (f"  {_pad(p[:24], wp)}  {_pad(str(r.get('layer') or '')[:30], wl)}  "
                f"{_pad(str(r.get('in') or '')[:22], wi)} → {right[:160]}").rstrip()

    out = []
    for i, r in enumerate(rows):
        if gap and i == gap_at:
            out.append(f"  … {gap} more layer{'s' if gap != 1 else ''} …")
        out.append(line(r, str(r.get("out") or "")))
    if gap and gap_at >= len(rows):
        out.append(f"  … {gap} more layer{'s' if gap != 1 else ''} …")
    if failed:
        out.append(line(failed, "✗ " + str(failed.get("error") or "raised an exception")))
    return out


# =============================================================================== loss curve
class _Downsampler:
    """At most 2·MAX_POINTS buckets of consecutive values; full buckets merge pairwise (mean)."""

    def __init__(self) -> None:
        self.buckets: list[list[float]] = []  # [first index, sum, count, nonfinite flag]
        self.width = 1
        self.n = 0
        self.first_nonfinite: int | None = None
        self.first: float | None = None
        self.last: float | None = None

    def add(self, value: float) -> None:
        self.n += 1
        finite = math.isfinite(value)
        if not finite and self.first_nonfinite is None:
            self.first_nonfinite = self.n
        if self.first is None:
            self.first = value
        self.last = value
        if self.buckets and self.buckets[-1][2] < self.width:
            b = self.buckets[-1]
            b[1] += value if finite else 0.0
            b[2] += 1
            b[3] = b[3] or (0.0 if finite else 1.0)
        else:
            self.buckets.append([float(self.n), value if finite else 0.0, 1.0, 0.0 if finite else 1.0])
        if len(self.buckets) >= 2 * MAX_POINTS:
            merged = []
            for i in range(0, len(self.buckets), 2):
                a = self.buckets[i]
                if i + 1 < len(self.buckets):
                    b = self.buckets[i + 1]
                    merged.append([a[0], a[1] + b[1], a[2] + b[2], max(a[3], b[3])])
                else:
                    merged.append(a)
            self.buckets = merged
            self.width *= 2

    def points(self) -> tuple[list[int], list[float | None]]:
        xs, ys = [], []
        for first, total, count, bad in self.buckets:
            xs.append(int(first))
            ys.append(None if bad else total / count)
        return xs, ys


class LossCurve:
    """Observes scalar `backward()` calls and optimizer steps while active (a context manager)."""

    def __init__(self) -> None:
        self.by_step = _Downsampler()
        self.by_backward = _Downsampler()
        self._pending: list[float] = []
        self._handles: list[Any] = []
        self._original: Any = None
        self._wrapper: Any = None

    def __enter__(self) -> LossCurve:
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook

        original = torch.autograd.backward
        curve = self

        def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            curve._seen(tensors)
            return original(tensors, *args, **kwargs)

        self._original, self._wrapper = original, backward
        torch.autograd.backward = backward  # Tensor.backward calls torch.autograd.backward
        self._handles = [register_optimizer_step_post_hook(self._step)]
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if torch.autograd.backward is self._wrapper:
            torch.autograd.backward = self._original
        _remove(self._handles)

    def _seen(self, tensors: Any) -> None:
        try:
            import torch

            if isinstance(tensors, torch.Tensor) and tensors.numel() == 1 and tensors.is_floating_point():
                value = float(tensors.detach().reshape(()))
                self._pending.append(value)
                self.by_backward.add(value)
        except Exception:  # noqa: BLE001
            pass

    def _step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        try:
            if self._pending:
                vals = self._pending
                self._pending = []
                self.by_step.add(sum(vals) / len(vals) if all(math.isfinite(v) for v in vals) else float("nan"))
        except Exception:  # noqa: BLE001
            pass

    def data(self) -> dict[str, Any] | None:
        """{per, steps, x, loss (None where not finite), first_nonfinite, first, last}; None when this was no
        training (fewer than 3 optimizer steps, or without an optimizer fewer than 10 backward passes: a
        function that uses autograd once or twice is not a training loop)."""
        if self.by_step.n >= 3:
            src, per = self.by_step, "step"
        elif self.by_step.n == 0 and self.by_backward.n >= 10:
            src, per = self.by_backward, "backward"
        else:
            return None
        xs, ys = src.points()

        def num(v: float | None) -> float | None:
            return v if v is not None and math.isfinite(v) else None

        return {"per": per, "steps": src.n, "x": xs, "loss": ys, "first_nonfinite": src.first_nonfinite,
                "first": num(src.first), "last": num(src.last)}


# =============================================================================== one call
class Observation:
    """What one call asks to observe (`kinds`: "trace", "curve"); a context manager around the call."""

    def __init__(self, kinds: Any) -> None:
        kinds = kinds if isinstance(kinds, (list, tuple)) else ()
        self.trace = ForwardTrace() if "trace" in kinds else None
        self.curve = LossCurve() if "curve" in kinds else None

    def __enter__(self) -> Observation:
        for part in (self.trace, self.curve):
            if part is not None:
                try:
                    part.__enter__()
                except Exception:  # noqa: BLE001 - observing is never worth failing the call
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        for part in (self.curve, self.trace):
            if part is not None:
                part.__exit__()

    def report(self) -> dict[str, Any]:
        """Plain data for the reply (keys only for what was seen)."""
        out: dict[str, Any] = {}
        for key, part in (("trace", self.trace), ("curve", self.curve)):
            if part is None:
                continue
            try:
                d = part.data()
            except Exception:  # noqa: BLE001
                d = None
            if d is not None:
                out[key] = d
        return out
