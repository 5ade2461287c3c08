"""What the zygote imports before it forks workers: the modules every worker needs, and what the
assignment's notebooks import (so a submission's `import` costs nothing)."""

from __future__ import annotations

import ast
from pathlib import Path

# modules every worker needs; an assignment adds what its notebook imports (see notebook_imports)
BASE_PRELOAD = ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils.data", "numpy",
                "safetensors.torch", "IPython.core.interactiveshell", "matplotlib")


def notebook_imports(path: Path) -> list[str]:
    """Modules a notebook imports at the top level of its cells (to preload them in the zygote)."""
    from ..notebook import read_notebook

    try:
        nb = read_notebook(path)
    except Exception:  # noqa: BLE001
        return []
    found: list[str] = []
    for _i, src in nb.code_to_run():
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append(node.module)
    return [m for m in dict.fromkeys(found) if m.split(".")[0] not in ("otter", "graders", "os", "sys")]
