"""Data files the hidden test examples come from are not readable inside the sandbox.

The vision checks test on scikit-learn's 8x8 digits: a held-out fifth of them (see
`graders.checks.model.digits_holdout`). scikit-learn ships the whole set in its package
(`sklearn/datasets/data/digits.csv.gz`), which the worker's Python can read. Inside bubblewrap
(the per-worker sandbox and the zygote's) that file is replaced by a copy without the held-out
rows, so `load_digits()` still works in a student's notebook (with the public four fifths) while
no test image, and no test label, exists in the student's process. The worker's training data come
from the judge only.

The "uid" and "none" sandboxes have no private view of the file system: there the learning
controls of the checks (training on digits the grader transposed and relabelled) are what make a
lookup into the public copy worthless.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
from pathlib import Path

DIGITS = ("sklearn", "datasets", "data", "digits.csv.gz")


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def digits_file() -> Path | None:
    """scikit-learn's own copy of the digits, where the judge's Python finds it."""
    pkg = _package_dir(DIGITS[0])
    f = pkg.joinpath(*DIGITS[1:]) if pkg is not None else None
    return f if f is not None and f.is_file() else None


@functools.cache
def public_digits(path: Path) -> bytes:
    """The gzip CSV of `path` without the rows the grader holds out for testing."""
    from ..checks.model import digits_holdout_rows

    rows = gzip.decompress(path.read_bytes()).decode().strip("\n").split("\n")
    _held, public = digits_holdout_rows(len(rows))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(("\n".join(rows[i] for i in public.tolist()) + "\n").encode())
    return buf.getvalue()


def dataset_binds(stage: Path) -> list[str]:
    """bwrap options that show public-only copies (written into `stage`) over the hidden data's files."""
    original = digits_file()
    if original is None:
        return []
    copy = stage / "digits-public.csv.gz"
    copy.write_bytes(public_digits(original))
    copy.chmod(0o444)
    return ["--ro-bind", str(copy), str(original)]
