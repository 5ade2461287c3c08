"""Stripping the code copied into the support module (release/<a>/tests/_support/selfcheck.py).

Students read the checks of their questions (tests/<q>.py, copied verbatim); the support module holds
the machinery behind them: the self-check runtime and copies of graders helpers. There, docstrings,
comments and blank lines only add lines, so `strip_code` drops them: the code is parsed, its
docstrings removed and `ast.unparse` writes it back (readable, one statement a line), without blank
lines outside string literals. The result must parse to the same tree: whatever the stripping
changed besides docstrings is a bug, caught here at generate time and not in a student's kernel.
"""

from __future__ import annotations

import ast
import io
import tokenize

_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def strip_code(text: str) -> str:
    """`text` (a module's source) without docstrings, comments and blank lines, and with consecutive
    `import a` / `import b` statements as one `import a, b`; same behaviour."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, _SCOPES) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or ([] if isinstance(node, ast.Module) else [ast.Pass()])
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                setattr(node, field, _merge_imports(stmts))
    out = _without_blank_lines(ast.unparse(tree))
    if ast.dump(ast.parse(out)) != ast.dump(tree):
        raise AssertionError("strip_code changed the meaning of the code it stripped")  # pragma: no cover
    return out + "\n" if out else ""


def _merge_imports(stmts: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for st in stmts:
        if isinstance(st, ast.Import) and out and isinstance(out[-1], ast.Import):
            out[-1].names.extend(st.names)
        else:
            out.append(st)
    return out


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _without_blank_lines(text: str) -> str:
    """Drop empty lines, except inside a multi-line token (a string literal keeps its own lines)."""
    inside: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.end[0] > tok.start[0]:
            inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    return "\n".join(line for n, line in enumerate(text.splitlines(), 1) if line.strip() or n in inside)
