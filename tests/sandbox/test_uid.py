"""The "uid" sandbox (graders/sandbox/uid.py): where bubblewrap cannot start and the grader is root, as in
Gradescope's containers, each worker runs as a uid of its own that cannot read the grader or the course.

The red team's file and gradebook attacks (tests/sandbox/scenarios.py) are graded with it, on a machine
laid out like Gradescope's. This shared development machine is not one: other checkouts of the course,
with their hidden checks, lie world-readable under /work, and the Python the tests run on lives in
/root. So the test runs the grader in a private *mount* namespace (made by the test, not by the sandbox
under test, which uses no namespace at all) where /work, /root, /home, /tmp and the checkout are empty
except the Python installation at its own paths: the machine a Gradescope container is. There the grader
(the autograder.zip's copy, set up by its own setup.sh) and a course with a gradebook are private (0700)
as the launcher demands, and bubblewrap is not on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from graders.errors import SandboxUnavailable
from graders.sandbox.policy import choose_launcher
from graders.sandbox.seccomp import uid_program as seccomp_program
from graders.sandbox.uid import exposed

from .scenarios import BY_NAME, MARK
from .test_redteam import SECRETS, _evidence_env, _evidence_read_hidden, plants, wait_no_survivors

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "uid_world_child.py"


# ------------------------------------------------------------------ what must be private
@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    """A folder other users can reach (pytest's own tmp_path lies in a private one)."""
    path = Path(tempfile.mkdtemp(prefix="graders-perm-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_what_counts_as_readable_by_other_users(world: Path) -> None:

    def make(rel: str, mode: int, *, folder: bool = False) -> Path:
        p = world / rel
        if folder:
            p.mkdir(parents=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("secret")
        os.chmod(p, mode)
        return p

    open_dir = make("open", 0o755, folder=True)
    closed_dir = make("closed", 0o700, folder=True)
    make("closed/inside.py", 0o644)
    passable = make("passable", 0o711, folder=True)  # unlistable, but files inside open by name
    make("passable/tensors.py", 0o644)
    group_only = make("group.db", 0o640)
    assert exposed([open_dir, closed_dir, closed_dir / "inside.py", passable, group_only]) == [
        f"{open_dir} (mode 755)", f"{passable} (mode 711)"]
    # a checkout with its virtualenv inside: the venv stays readable, everything else must not be
    course = make("course", 0o755, folder=True)
    venv = make("course/.venv", 0o755, folder=True)
    make("course/source", 0o700, folder=True)
    gradebook = make("course/gradebook.db", 0o600)
    assert exposed([course], needed=[venv]) == []
    os.chmod(gradebook, 0o644)
    assert exposed([course], needed=[venv]) == [f"{gradebook} (mode 644)"]
    assert exposed([course]) == [f"{course} (mode 755)"]
    os.chmod(world, 0o700)  # a private folder above protects everything below
    assert exposed([course]) == []


def test_the_uid_sandbox_refuses_to_start_where_it_would_not_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Here (the checkout world-readable, the Python under /root) the uid sandbox says what is wrong; asked
    for explicitly it refuses, in auto mode with --require-sandbox too, and never silently grades."""
    monkeypatch.setenv("GRADERS_SANDBOX", "uid")
    with pytest.raises(SandboxUnavailable, match="uid"):
        choose_launcher()
    assert len(seccomp_program()) % 8 == 0 and len(seccomp_program()) > 0


# ------------------------------------------------------------------ the clean machine
MOUNTS = r"""set -e
S=$1; VENV=$2; BASE=$3; CHECKOUT=$4; shift 4
CHILD_PATH=$PATH
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount --make-rprivate /
mkdir -p "$S/.keep/venv" "$S/.keep/base"
mount --bind "$VENV" "$S/.keep/venv"
mount --bind "$BASE" "$S/.keep/base"
for d in /work /root /home "$CHECKOUT"; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=755,size=4m tmpfs "$d"; fi
done
mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp
mkdir -p "$VENV" "$BASE"
mount --bind "$S/.keep/venv" "$VENV"
mount --bind "$S/.keep/base" "$BASE"
export PATH="$CHILD_PATH"
exec "$@"
"""


def _can_make_mount_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "the uid sandbox needs root (as in Gradescope's containers)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "no unshare/mount here to lay out a clean machine for the test"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, timeout=30)
    if r.returncode != 0:
        return f"cannot make a mount namespace here ({r.stderr.decode(errors='replace').strip()})"
    return None


@pytest.fixture(scope="module")
def clean_machine():  # type: ignore[no-untyped-def]
    why = _can_make_mount_namespaces()
    if why:
        if os.environ.get("CI") and os.geteuid() == 0:
            pytest.fail(why)
        pytest.skip(why)
    from graders.gradescope import build_autograder

    scratch = Path(tempfile.mkdtemp(prefix="graders-uidworld-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    try:
        os.chmod(scratch, 0o755)  # world-traversable, as /autograder is: privacy must come from what the launcher checks
        # Gradescope's layout, set up by the zip's own setup.sh (this test run's Python environment reused)
        root = scratch / "autograder"
        for d in ("source", "submission", "results"):
            (root / d).mkdir(parents=True)
        with zipfile.ZipFile(build_autograder(assignment="tensors", out=scratch / "zip")) as zf:
            for info in zf.infolist():
                zf.extract(info, root / "source")
                os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
        shutil.rmtree(scratch / "zip")
        subprocess.run(["bash", str(root / "source" / "setup.sh")], check=True, capture_output=True, timeout=300,
                       env={**os.environ, "GRADERS_AUTOGRADER_ROOT": str(root), "GRADERS_SETUP_REUSE_VENV": sys.prefix})
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        shutil.copy(BY_NAME["honest"].path, root / "submission" / "tensors.ipynb")
        # a course folder with solutions and a gradebook, private as the launcher demands
        course = scratch / "course"
        (course / "source" / "tensors").mkdir(parents=True)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        shutil.copy(ROOT / "source" / "tensors" / "tensors.ipynb", course / "source" / "tensors")
        (course / "gradebook.db").write_text("GRADEBOOK-CANARY-6d1f scores of every student\n")
        os.chmod(course, 0o700)
        (scratch / "notebooks").mkdir()
        for name in ("honest", "read-hidden-checks", "env-secrets", "process-flood", "fork-bomb"):
            shutil.copy(BY_NAME[name].path, scratch / "notebooks")
        shutil.copy(CHILD, scratch / "child.py")
        (scratch / "bin").mkdir()
        for tool in ("bash", "sh", "cat", "env"):
            os.symlink(shutil.which(tool) or f"/bin/{tool}", scratch / "bin" / tool)
        (scratch / "mounts.sh").write_text(MOUNTS)
        venv, base = Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()
        env = {"PATH": str(scratch / "bin"), "PYTHONPATH": str(root / "source" / "grader"), "GRADERS_COURSE_ROOT": str(course),
               "LANG": "C.UTF-8", "HOME": str(scratch), **SECRETS}
        proc = subprocess.run([shutil.which("unshare") or "unshare", "--mount", "--propagation", "private", shutil.which("sh") or "/bin/sh", str(scratch / "mounts.sh"), str(scratch),
                               str(venv), str(base), str(ROOT), sys.executable, str(scratch / "child.py"), str(scratch)],
                              capture_output=True, text=True, timeout=1200, env=env, cwd=scratch)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        yield json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _result(world: dict, name: str):  # type: ignore[no-untyped-def]
    from graders.result import SubmissionResult

    data = world["scenarios"][name]
    return SubmissionResult.from_dict(data), json.dumps(data)


def test_auto_picks_the_uid_sandbox_and_an_honest_notebook_keeps_its_points(clean_machine: dict) -> None:
    assert clean_machine["auto"] == "uid"
    result, _text = _result(clean_machine, "honest")
    assert (result.status, result.sandbox, result.score) == ("graded", "uid", 10.0)


def test_file_and_gradebook_attacks_are_held(clean_machine: dict) -> None:
    result, text = _result(clean_machine, "read-hidden-checks")
    assert result.status == "graded" and result.sandbox == "uid" and result.score == 0
    _evidence_read_hidden(result, text, None)  # type: ignore[arg-type]
    assert "GRADEBOOK-CANARY" not in text
    # the worker, asked directly for the grader's and the course's exact paths, gets nothing
    probe = clean_machine["probe"]
    assert set(probe["read"].values()) == {"PermissionError"}, probe["read"]
    assert probe["graders"] == "ModuleNotFoundError"
    assert probe["uid"] >= 100_000 and probe["gid"] == probe["uid"] and probe["groups"] == []
    assert (probe["caps"], probe["no_new_privs"]) == ("0000000000000000", "1")
    assert probe["writable"] == {"/": False, sys.prefix: False, "..": False, ".": True, "/tmp": True}
    assert (probe["inet"], probe["inet6"], probe["unix"]) == ("OSError", "OSError", "created")  # seccomp: no IP sockets
    assert clean_machine["left"] == []  # nothing the workers wrote in /tmp survived them
    assert plants() == []


def test_secrets_and_processes_do_not_escape(clean_machine: dict) -> None:
    result, text = _result(clean_machine, "env-secrets")
    assert result.score == 0
    _evidence_env(result, text, None)  # type: ignore[arg-type]
    for value in SECRETS.values():
        assert value not in text
    for name in ("process-flood", "fork-bomb"):
        r, t = _result(clean_machine, name)
        assert r.status == "graded" and r.score == 0, name
    flood = "".join((c.stdout or "") for c in _result(clean_machine, "process-flood")[0].cells)
    assert int(flood.split("started", 1)[1].split()[0]) < 32  # RLIMIT_NPROC counts this worker's own uid
    assert wait_no_survivors() == [] and not any(MARK in p for p in wait_no_survivors())


def test_gradescopes_run_autograder_uses_the_uid_sandbox(clean_machine: dict) -> None:
    gs = clean_machine["gradescope"]
    assert gs["returncode"] == 0, gs["stderr"]
    results = gs["results"]
    assert results["score"] == 10 and results["extra_data"]["sandbox"] == "uid"
    assert "uid sandbox" in results["output"]
