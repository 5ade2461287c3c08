"""Red team, round two (issue #11): attacks on a whole class, graded by the real
`graders autograde tensors --workers 2` (the zygote, two judges in parallel).

- planter + reader: the planter answers honestly and leaves its answers in kernel keyrings, /tmp,
  /dev/shm, /var/tmp, its working folder, module state and the environment; the reader (stubs) looks
  for them while the planter runs and after. The reader must score 0, and no key may be left in the
  host's keyrings, no file on the host.
- symlinks in submitted/: a notebook linked to the instructor's source notebook, a student folder
  linked to another student's: refused with a recorded error result.
- forged outputs and nbgrader metadata: the graded notebook takes cell metadata from the release,
  drops submitted outputs and is valid nbformat.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.classroom import course_copy

from .scenarios import COURSE_DATA, MARK

HONEST = Path(__file__).resolve().parents[1] / "data" / "tensors" / "correct.ipynb"
STUDENTS = {"alice-planter": COURSE_DATA / "planter.ipynb", "bob-reader": COURSE_DATA / "reader.ipynb",
            "carol-forged": COURSE_DATA / "forged-outputs.ipynb", "fay-honest": HONEST}


def host_keys() -> str:
    try:
        return Path("/proc/keys").read_text()
    except OSError:
        return ""


def left_on_host() -> list[str]:
    found = []
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            found += [os.path.join(d, n) for n in os.listdir(d) if MARK in n and "answers" in n]
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = course_copy(tmp_path_factory.mktemp("redteam-course") / "course")
    for student, src in STUDENTS.items():
        folder = root / "submitted" / student / "tensors"
        folder.mkdir(parents=True)
        shutil.copy(src, folder / "tensors.ipynb")
    linker = root / "submitted" / "dan-linker" / "tensors"
    linker.mkdir(parents=True)
    (linker / "tensors.ipynb").symlink_to(root / "source" / "tensors" / "tensors.ipynb")
    (root / "submitted" / "erin-twin").symlink_to(root / "submitted" / "fay-honest")
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(root)}
    run = subprocess.run([sys.executable, "-m", "graders", "autograde", "tensors", "--workers", "2", "--no-gradebook", "-q",
                          "--device", "cpu"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return root


def result(root: Path, student: str) -> dict:
    return json.loads((root / "autograded" / student / "tensors" / "result.json").read_text(encoding="utf-8"))


def test_the_reader_finds_nothing_of_the_planter(graded: Path) -> None:
    planter, reader = result(graded, "alice-planter"), result(graded, "bob-reader")
    assert planter["score"] == 10.0, planter  # the planter's honest answers keep their points
    out = " ".join(c.get("stdout", "") for c in planter["cells"])
    assert "planted" in out and "'user': 'Operation not permitted'" in out, out  # keyrings refused by seccomp
    assert "found in []" in " ".join(c.get("stdout", "") for c in reader["cells"]), reader["cells"]
    assert reader["score"] == 0.0, reader


def test_nothing_is_left_in_the_host_keyrings_or_temp_folders(graded: Path) -> None:
    assert MARK not in host_keys()
    assert left_on_host() == []


def test_a_symlinked_notebook_or_student_folder_is_refused(graded: Path) -> None:
    for student, what in (("dan-linker", "tensors.ipynb"), ("erin-twin", "the folder")):
        r = result(graded, student)
        assert (r["status"], r["score"]) == ("error", 0.0), r
        assert what in r["message"] and "symbolic link" in r["message"], r["message"]
        assert not (graded / "autograded" / student / "tensors" / "tensors.ipynb").exists()
    assert result(graded, "fay-honest")["score"] == 10.0


def test_the_graded_notebook_shows_nothing_forged(graded: Path) -> None:
    import nbformat

    r = result(graded, "carol-forged")
    assert r["score"] == 10.0 and r["max_score"] == 10.0
    path = graded / "autograded" / "carol-forged" / "tensors" / "tensors.ipynb"
    text = path.read_text(encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert "FORGED-OUTPUT" not in text
    release = json.loads((graded / "release" / "tensors" / "tensors.ipynb").read_text(encoding="utf-8"))
    want = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"] for c in release["cells"]
            if "nbgrader" in c["metadata"]}
    got = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    assert sorted(g["grade_id"] for g in got) == sorted(want)  # no "bonus", no second "describe"
    for g in got:
        assert g == want[g["grade_id"]]
    assert sum(float(g.get("points", 0)) for g in got if g.get("grade")) == 10.0
    assert nb.metadata["graders"]["result"]["score"] == 10.0
    scores = [c.metadata["graders"]["score"] for c in nb.cells if "graders" in c.metadata]
    assert sum(scores) == 10.0 and max(scores) <= 3


# ------------------------------------------------------------------ the worker protocol, through every command
REDTEAM = Path(__file__).resolve().parents[1] / "data" / "redteam"
SHORT = ["--cell-timeout", "2", "--call-timeout", "2"]


def test_trickled_and_malformed_frames_under_autograde_with_the_zygote(tmp_path: Path) -> None:
    """One deadline for the whole frame, and malformed data a recorded result, in the zygote's batch too."""
    root = course_copy(tmp_path / "course")
    for student, scenario in (("gus", "trickle-frame"), ("hal", "malformed-frame"), ("ivy", "honest")):
        folder = root / "submitted" / student / "tensors"
        folder.mkdir(parents=True)
        shutil.copy(REDTEAM / f"{scenario}.ipynb", folder / "tensors.ipynb")
    env = {**os.environ, "GRADERS_COURSE_ROOT": str(root)}
    run = subprocess.run([sys.executable, "-m", "graders", "autograde", "tensors", "--workers", "2", "--no-gradebook", "-q",
                          "--device", "cpu", *SHORT], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    gus, hal, ivy = (result(root, s) for s in ("gus", "hal", "ivy"))
    assert ivy["score"] == 10.0
    assert (gus["status"], gus["score"]) == ("graded", 2.0), gus
    assert [c["status"] for c in gus["checks"] if c["grade_id"] == "describe"] == ["timeout"] * 4
    assert (hal["status"], hal["score"]) == ("graded", 4.0), hal
    assert sum("the worker sent malformed data" in c.get("error", "") for c in hal["cells"]) == 2
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("command", ["grade", "check"])
def test_malformed_frames_give_a_result_not_a_traceback(command: str) -> None:
    args = ["--json"] if command == "grade" else []
    run = subprocess.run([sys.executable, "-m", "graders", command, str(REDTEAM / "malformed-frame.ipynb"), "--assignment", "tensors",
                          "--device", "cpu", *args], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    if command == "grade":
        assert run.returncode == 0, run.stderr[-2000:]
        out = json.loads(run.stdout)
        assert out["status"] == "graded" and out["score"] == 4.0, out
    else:
        assert run.returncode == 1 and "malformed data" in run.stdout, run.stdout[-2000:]
