"""Gradescope: a result as Gradescope's results.json, and the autograder.zip that grades there.

Gradescope's autograder specification: a zip with `setup.sh` (run once, as root, when the image is
built on Ubuntu) and `run_autograder` (run per submission from /autograder, which writes
/autograder/results/results.json); the student's files are in /autograder/submission, the zip's in
/autograder/source. results.json holds a score, an output, visibilities and one entry per test.

- `results_json(result, settings=)`: one check = one Gradescope test (name, number "question.check",
  score, max_score, status passed/failed, output in Markdown, tags, visibility). Hidden checks are
  `after_published` by default (students see them when the instructor publishes the grades), public
  ones `visible`; an assignment may change that with a literal `GRADESCOPE = {...}` in its checks
  module (keys of `DEFAULT_SETTINGS`, read without importing it, like QUESTIONS). The JSON schema in
  graders/schemas/gradescope-results.schema.json states the layout (the tests validate against it).
- `build_autograder(assignment=, out=)`: DIR/autograder.zip with setup.sh (Python 3.11, torch==2.13.0
  first, then the pinned environment of requirements.lock, bubblewrap; the grader made readable by
  root only), run_autograder, requirements.lock and the grader itself with this assignment's checks,
  hidden ones included: the zip is the instructor's and must stay private.
- `run_autograder(assignment=, root=)`: what run_autograder runs in the container: find the notebook,
  grade it in a sandbox (bubblewrap, else the uid sandbox: never unsandboxed), write results.json.
  Whatever goes wrong becomes a results.json that says so; it never leaves Gradescope without one.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

from .course import PACKAGE_DIR, _module_constants, get_assignment
from .errors import CourseError, GradersError
from .files import write_atomic
from .result import CheckResult, SubmissionResult, error_result

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
DEFAULT_SETTINGS = {
    "hidden_visibility": "after_published",  # hidden checks: shown once the grades are published
    "public_visibility": "visible",  # public checks: students can run them anyway
    "visibility": "visible",  # the submission's output and score
    "stdout_visibility": "hidden",  # the grader's log: instructors only
}
SCHEMA = PACKAGE_DIR / "schemas" / "gradescope-results.schema.json"
TEMPLATES = PACKAGE_DIR / "templates"
DEFAULT_ROOT = Path("/autograder")


# ----------------------------------------------------------------------------- settings
def settings_for(assignment: str) -> dict[str, str]:
    """DEFAULT_SETTINGS updated by the assignment's `GRADESCOPE = {...}` (validated)."""
    spec = get_assignment(assignment)
    return read_settings(spec.module_path)


def read_settings(module_path: Path) -> dict[str, str]:
    raw = _module_constants(Path(module_path), ("GRADESCOPE",)).get("GRADESCOPE", {})
    if not isinstance(raw, dict):
        raise CourseError(f"{module_path}: GRADESCOPE must be a dict literal such as {{'hidden_visibility': 'after_due_date'}}")
    out = dict(DEFAULT_SETTINGS)
    for key, value in raw.items():
        if key not in DEFAULT_SETTINGS:
            raise CourseError(f"{module_path}: GRADESCOPE has the unknown key {key!r}; known: {', '.join(DEFAULT_SETTINGS)}")
        if value not in VISIBILITIES:
            raise CourseError(f"{module_path}: GRADESCOPE[{key!r}] = {value!r}; use one of {', '.join(VISIBILITIES)}")
        out[key] = value
    return out


# ----------------------------------------------------------------------------- results.json
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def md_text(text: str) -> str:
    """Text (student-controlled parts included) that renders as itself in Markdown: HTML escaped outside
    code spans, backticks balanced, Markdown's own syntax characters at line starts neutralised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    parts = text.split("`")
    if len(parts) % 2 == 0:
        parts[-2:] = [parts[-2] + "\\`" + parts[-1]]
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            part = part.translate(_HTML)
            part = re.sub(r"(?m)^(\s*)([#>*+\-=|])", r"\1\\\2", part)
            part = re.sub(r"(?m)^(\s*\d+)([.)])(?=\s)", r"\1\\\2", part)
            part = re.sub(r"([\[\]_*~])", r"\\\1", part)
            out.append(part.replace("\n", "  \n"))
        else:
            out.append(part.replace("\n", " "))
    return "`".join(out)


def fenced(text: str) -> str:
    """`text` shown literally, in a fence longer than any run of backticks inside it."""
    from .ci import code_block

    return "\n".join(code_block(text))


def _check_output(c: CheckResult) -> str:
    if c.status == "passed":
        acc = c.metrics.get("accuracy") if c.metrics else None
        return "Passed." + (f" Accuracy on the grader's held-out data: {acc:.3f}." if acc is not None else "")
    message = c.message or c.status
    trace = ""
    if c.trace and message.endswith(c.trace):
        message, trace = message[: -len(c.trace)].rstrip(), c.trace
    word = {"failed": "Failed", "error": "Error (your code raised an exception)", "timeout": "Time limit"}.get(c.status, c.status)
    out = f"**{word}.** {md_text(message)}"
    if trace:
        out += "\n\nThe forward pass, layer by layer:\n\n" + fenced(trace)
    return out


def results_json(result: SubmissionResult, *, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """Gradescope's results.json for one graded (or ungradable) submission."""
    from .curves import diagnose, training_of

    s = {**DEFAULT_SETTINGS, **(settings or {})}
    questions: list[str] = []
    try:
        questions = list(get_assignment(result.assignment).questions)
    except GradersError:
        pass
    for c in result.checks:
        if c.grade_id not in questions:
            questions.append(c.grade_id)
    tests = []
    counter: dict[str, int] = {}
    for c in result.checks:
        counter[c.grade_id] = counter.get(c.grade_id, 0) + 1
        tests.append({
            "name": f"{c.grade_id}: {c.id.split('::', 1)[-1]}" + (" (hidden)" if c.hidden else ""),
            "number": f"{questions.index(c.grade_id) + 1}.{counter[c.grade_id]}",
            "score": round(c.points, 4),
            "max_score": round(c.max_points, 4),
            "status": "passed" if c.status == "passed" else "failed",
            "output": _check_output(c),
            "output_format": "md",
            "visibility": s["hidden_visibility"] if c.hidden else s["public_visibility"],
            "tags": [c.grade_id, "hidden" if c.hidden else "public"],
            "extra_data": {"check": c.id, "status": c.status, **({"metrics": dict(c.metrics)} if c.metrics else {})},
        })
    if result.status == "graded":
        lines = [f"**{result.assignment}**: {result.score:g} / {result.max_score:g} points, graded in the "
                 f"{result.sandbox} sandbox on {result.device} in {result.duration_s:.1f} s."]
        if any(c.hidden for c in result.checks) and s["hidden_visibility"] != "visible":
            lines.append("Hidden checks (other inputs than the public ones) are shown when the grades are published.")
        for gid, t in training_of(result).items():
            note = diagnose(t.main, lost_points=t.points < t.max_points - 1e-9)
            if note:
                lines.append(f"Training of `{gid}`: {md_text(note)}")
        bad = [o for o in result.cells if o.status in ("error", "timeout")]
        if bad:
            lines.append("Cells that failed when your notebook ran (the checks ran anyway):")
            lines += [f"- cell {o.index + 1}: {md_text((o.error or o.status).splitlines()[0][:300])}" for o in bad[:10]]
        output = "\n\n".join(lines)
    else:
        output = f"**Your notebook could not be graded.** {md_text(result.message or 'unknown problem')}"
    return {
        "score": round(result.score, 4),
        "execution_time": round(result.duration_s, 2),
        "output": output,
        "output_format": "md",
        "visibility": s["visibility"],
        "stdout_visibility": s["stdout_visibility"],
        "tests": tests,
        "extra_data": {"assignment": result.assignment, "status": result.status, "sandbox": result.sandbox,
                       "max_score": round(result.max_score, 4)},
    }


# ----------------------------------------------------------------------------- in the container
def find_submission(folder: Path, assignment: str) -> Path:
    """The notebook to grade in Gradescope's submission folder (uploads may sit in subfolders)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradersError(f"no submission folder at {folder}")
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.is_symlink()
                   and p.is_file())
    if not found:
        raise GradersError(f"no notebook (.ipynb) was submitted; upload {assignment}.ipynb")
    named = [p for p in found if p.name == f"{assignment}.ipynb"]
    if len(named) == 1:
        return named[0]
    if len(found) == 1:
        return found[0]
    tagged = []
    for p in found:
        try:
            meta = json.loads(p.read_text(encoding="utf-8")).get("metadata", {}).get("graders", {})
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(meta, dict) and meta.get("assignment") == assignment:
            tagged.append(p)
    if len(tagged) == 1:
        return tagged[0]
    shown = ", ".join(str(p.relative_to(folder)) for p in found[:5])
    raise GradersError(f"several notebooks were submitted ({shown}); submit only {assignment}.ipynb")


def run_autograder(*, assignment: str, root: Path = DEFAULT_ROOT, launcher: Any = None) -> dict[str, Any]:
    """Grade root/submission, write root/results/results.json; returns what was written. Never raises for
    a bad submission or a grader that cannot sandbox it: results.json says what happened."""
    from .grade import grade_or_record
    from .sandbox import choose_launcher

    root = Path(root)
    started = time.monotonic()
    try:
        settings = settings_for(assignment)
    except GradersError:
        settings = dict(DEFAULT_SETTINGS)
    try:
        notebook = find_submission(root / "submission", assignment)
        chosen = launcher or choose_launcher(require_sandbox=True)  # bubblewrap, else the uid sandbox: never none
        result = grade_or_record(path=notebook, assignment=assignment, student="", device="auto", launcher=chosen)
    except GradersError as exc:
        result = error_result(assignment, "", str(exc), started=started)
    data = results_json(result, settings=settings)
    write_atomic(root / "results" / "results.json", json.dumps(data, indent=1, ensure_ascii=False))
    print(result.summary())  # Gradescope keeps stdout for instructors (stdout_visibility)
    return data


# ----------------------------------------------------------------------------- autograder.zip
def pinned_requirements() -> list[str]:
    """`name==version` of every distribution the graders package needs, as installed here (what the tests
    ran with), transitively; torch first."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    def requires(dist: metadata.Distribution, extras: set[str]) -> list[str]:
        out = []
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            env_extras = extras or {""}
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in env_extras):
                continue
            out.append(text)
        return out

    pins: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [("graders", set())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), frozenset(extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        cname = canonicalize_name(dist.metadata["Name"])
        if cname != "graders":
            pins[cname] = dist.version.split("+", 1)[0]
        for text in requires(dist, extras):
            req = Requirement(text)
            todo.append((req.name, set(req.extras)))
    torch = [f"torch=={pins.pop('torch')}"] if "torch" in pins else []
    return torch + [f"{n}=={v}" for n, v in sorted(pins.items())]


def _package_files(assignment: str) -> list[tuple[Path, str]]:
    """(file, path in the zip) of the graders package with only `assignment`'s checks."""
    out = []
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if rel.parts[0] == "assignments" and path.name not in ("__init__.py", f"{assignment}.py") and not path.name.startswith("_"):
            continue
        out.append((path, f"grader/graders/{rel.as_posix()}"))
    return out


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_autograder(*, assignment: str, out: Path) -> Path:
    """out/autograder.zip for `assignment` (see the module docstring); returns its path."""
    spec = get_assignment(assignment)
    settings_for(spec.name)  # a broken GRADESCOPE setting fails here, not on Gradescope
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "autograder.zip"

    def template(name: str) -> bytes:
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        return text.replace("@ASSIGNMENT@", spec.name).encode()

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "setup.sh", template("gradescope_setup.sh"), 0o755)
        _add(zf, "run_autograder", template("gradescope_run_autograder"), 0o755)
        _add(zf, "requirements.lock", ("\n".join(pinned_requirements()) + "\n").encode())
        for path, name in _package_files(spec.name):
            _add(zf, name, path.read_bytes())
        seed = os.environ.get("GRADERS_HIDDEN_SEED")
        if seed:  # the course's hidden seed travels with the (private) zip
            _add(zf, "grader.env", f"export GRADERS_HIDDEN_SEED={int(seed)}\n".encode(), 0o600)
        else:  # else the course secret, from which hidden seeds derive (graders/secret.py): the zip stays private
            from .course import course_root
            from .secret import course_secret

            secret = course_secret(course_root()).decode()
            if secret.isalnum():
                _add(zf, "grader.env", f"export GRADERS_COURSE_SECRET={secret}\n".encode(), 0o600)
        _add(zf, "README.md", template("gradescope_README.md"))
    write_atomic(target, buf.getvalue())
    return target
