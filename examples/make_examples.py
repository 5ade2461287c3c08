"""Writes the bundled example class: examples/submitted/<student>/<assignment>/<assignment>.ipynb.

    .venv/bin/python examples/make_examples.py

`graders demo` copies these into submitted/ and grades them. Tensors: seven students, from a full
solution to an attack on the grader. For another assignment, add its scenario notebooks
(tests/data/<assignment>/<scenario>.ipynb) to SCENARIOS below: the demo grades whatever is here.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "submitted"
sys.path.insert(0, str(ROOT / "tests" / "data"))

# student -> scenario notebook in tests/data/<assignment>/ (copied as the student's submission)
SCENARIOS: dict[str, dict[str, str]] = {
    "tensors": {
        "ada": "correct",
        "ben": "correct-alternative",
        "chloe": "wrong-shape",
        "dev": "wrong-dtype",
        "emil": "stubs",
    },
    "autograd": {"ada": "correct", "ben": "correct-functional", "chloe": "wrong-grads", "dev": "wrong-autograd-use", "emil": "stubs"},
    "workflow": {"ada": "correct", "ben": "correct-manual", "chloe": "wrong-steps", "dev": "wrong-shapes", "emil": "stubs"},
    "classification": {"ada": "correct", "ben": "correct-tanh-softplus", "chloe": "linear", "dev": "unstable-bce", "emil": "stubs"},
    "vision": {"ada": "correct", "ben": "correct-batchnorm", "chloe": "no-conv", "dev": "too-many-parameters", "emil": "stubs"},
}

ATTACK = '''
import os, socket, subprocess, builtins
import torch

# 1. look for the grader's hidden checks, the gradebook and other students' work
for path in ("/work/main/graders/assignments/tensors.py", "/work/main/gradebook.db", "/work/main/submitted",
             os.path.expanduser("~/.ssh")):
    print(path, "visible" if os.path.exists(path) else "not visible")
print("environment:", sorted(os.environ))

# 2. leave something behind for the next submission
open("/tmp/mallory-was-here", "w").write("hello, next student")
subprocess.Popen(["sleep", "600"], start_new_session=True)

# 3. make every comparison pass
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
builtins.AssertionError = type("Nothing", (Exception,), {})

# 4. phone home
try:
    socket.create_connection(("example.com", 80), timeout=2)
except OSError as exc:
    print("network:", exc)
'''

ATTACK_ANSWERS = {
    "describe": '''
        class Anything(dict):
            def __eq__(self, other):
                return True
        def describe(t):
            return Anything()
    ''',
    "matmul_shape": '''
        def matmul_shape(a_shape, b_shape):
            return ()
    ''',
    "matmul": '''
        def matmul(a, b):
            return torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)
    ''',
    "one_hot": '''
        def one_hot(labels, num_classes):
            return torch.zeros(len(labels), num_classes)
    ''',
}


def main() -> None:
    from fill import fill

    for assignment, students in SCENARIOS.items():
        for student, scenario in students.items():
            target = OUT / student / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / "tests" / "data" / assignment / f"{scenario}.ipynb", target)
    release = ROOT / "release" / "tensors" / "tensors.ipynb"
    # a broken upload: the notebook cut off half way (an interrupted copy)
    broken = OUT / "fatima" / "tensors" / "tensors.ipynb"
    broken.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json.loads((ROOT / "tests" / "data" / "tensors" / "correct.ipynb").read_text()), indent=1)
    broken.write_text(text[: len(text) // 2])
    # an attack on the grader (see ATTACK): it scores nothing and leaves nothing behind
    fill(release, ATTACK_ANSWERS, OUT / "mallory" / "tensors" / "tensors.ipynb", extra_cells=[ATTACK])
    print(f"wrote {sum(1 for _ in OUT.rglob('*.ipynb'))} example submissions under {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
