"""Per-student hidden inputs: hidden seeds derived from a course secret and the student id.

    seed = HMAC-SHA256(course secret, "<assignment>\\0<student>")  (first 8 bytes, mod 2**31)

Two students who share an answer file that hard-codes the hidden cases of one of them gain nothing:
the other's hidden inputs differ. The same student regraded gets the same inputs (reproducible).

The secret is created once, on first use, in the course root (`.graders-secret`, mode 0600,
git-ignored; never under release/), or given as GRADERS_COURSE_SECRET (CI, a cluster, Gradescope).
It never enters a sandbox: the course folder is hidden from workers (bubblewrap) or must be private
(the uid sandbox), and workers get a scrubbed environment. GRADERS_HIDDEN_SEED, when set, overrides
the derivation with one seed for everyone (for tests and debugging).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_FILE = ".graders-secret"
ENV_SECRET = "GRADERS_COURSE_SECRET"
ENV_SEED = "GRADERS_HIDDEN_SEED"


def secret_path(root: Path) -> Path:
    return Path(root) / SECRET_FILE


def course_secret(root: Path, *, create: bool = True) -> bytes:
    """The course's secret: GRADERS_COURSE_SECRET, else `.graders-secret` in the course root (made once)."""
    env = os.environ.get(ENV_SECRET, "").strip()
    if env:
        return env.encode()
    path = secret_path(root)
    try:
        text = path.read_text(encoding="ascii").strip()
        if text:
            return text.encode()
    except FileNotFoundError:
        pass
    if not create:
        from .errors import GradersError

        raise GradersError(f"the course secret {path} is missing (it derives each student's hidden inputs)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a concurrent creator wins; we read theirs
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip().encode()


def derive_seed(secret: bytes, *, assignment: str, student: str) -> int:
    digest = hmac.new(secret, f"{assignment}\0{student}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


def hidden_seed_of(*, assignment: str, student: str, root: Path | None = None) -> int:
    """The hidden seed of one student's submission of `assignment` (see the module docstring)."""
    env = os.environ.get(ENV_SEED, "").strip()
    if env:
        return int(env)
    if root is None:
        from .course import course_root

        root = course_root()
    try:
        secret = course_secret(root)
    except OSError:  # a read-only place without a secret: one fixed course seed, as before
        return 20261125
    return derive_seed(secret, assignment=assignment, student=student)


def validation_students(n: int) -> list[str]:
    """Student ids whose derived seeds `graders validate` grades the solution under."""
    return [f"validate-{i:02d}" for i in range(n)]
