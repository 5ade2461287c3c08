"""What a worker must never see: the graders package (hidden checks) and a course folder's private parts.

The launchers take these paths as an argument (`hide=` / `private=`); this is their default, and the
one place in graders/sandbox/ that asks where the course is. The bubblewrap sandbox and the zygote's
mask them (bwrap.py); the uid sandbox insists that other users cannot read them (uid.py).
"""

from __future__ import annotations

from pathlib import Path

COURSE_PRIVATE = ("source", "submitted", "autograded", "feedback", "gradebook.db")
PACKAGE = Path(__file__).resolve().parent.parent  # graders/ (this file is graders/sandbox/private.py)


def private_paths() -> list[Path]:
    """The graders package and, for a course folder (one with nbgrader_config.py or source/), the
    folder with its private parts (asked each time: the course is where the grader runs now)."""
    out = [PACKAGE]
    try:
        from ..course import course_root

        root = course_root()
    except Exception:  # noqa: BLE001 - no course here: the package is what must stay private
        return out
    if (root / "nbgrader_config.py").exists() or (root / "source").is_dir():
        out += [root, *(root / name for name in COURSE_PRIVATE)]
    return out
