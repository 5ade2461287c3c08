"""graders/worker/ is all the sandbox sees of graders: it must import nothing of the rest of the package.

The launchers stage it alone, as the package `graders_worker` (graders/sandbox/process.py), next to
nothing else of graders; `import graders` fails inside. So every module of it imports only the
standard library, third-party packages the worker runs on, and its own modules (relative imports).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from graders.sandbox.process import WORKER_PACKAGE, stage_worker_package

MODULES = sorted(p.stem for p in WORKER_PACKAGE.glob("*.py"))


def test_no_import_reaches_outside_the_worker_package() -> None:
    bad = []
    for path in sorted(WORKER_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level > 1:
                bad.append(f"{path.name}:{node.lineno}: from {'.' * node.level}{node.module or ''}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "graders":
                bad.append(f"{path.name}:{node.lineno}: from {node.module}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "graders" for a in node.names):
                bad.append(f"{path.name}:{node.lineno}: import {', '.join(a.name for a in node.names)}")
    assert bad == []


def test_the_staged_package_imports_alone(tmp_path: Path) -> None:
    """Every module of the staged copy imports with only the staging folder added to sys.path (isolated
    mode: no PYTHONPATH, no current directory), and without bringing `graders` in."""
    stage_worker_package(tmp_path)
    assert {"zygote", "isolate", "children", "serve", "codec"} <= set(MODULES)
    code = (f"import importlib, sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "class NoGraders:  # as in the sandbox: `import graders` fails (this venv would find the checkout)\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'graders' or name.startswith('graders.'):\n"
            "            raise ImportError('graders is not visible in the sandbox: ' + name)\n"
            "sys.meta_path.insert(0, NoGraders())\n"
            f"for name in {MODULES!r}:\n"
            "    importlib.import_module('graders_worker.' + name)\n"
            "assert not [m for m in sys.modules if m == 'graders' or m.startswith('graders.')], sorted(sys.modules)\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr[-3000:]
