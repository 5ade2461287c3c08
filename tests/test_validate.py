"""`graders validate` on the real course, and on a copy where the release is stale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from graders.validate import validate_assignment


def test_tensors_is_valid(course_root: Path, launcher) -> None:  # type: ignore[no-untyped-def]
    v = validate_assignment(name="tensors", root=course_root, launcher=launcher, device="cpu")
    assert v.ok, v.summary()
    assert [s[0] for s in v.steps] == ["grade cells have checks", "source solution scores full marks",
                                       "full marks under 20 derived hidden seeds", "release stubs score zero", "notebooks import only the course environment",
                                       "release is up to date"]


def test_stale_release_and_wrong_points_are_reported(course_root: Path, tmp_path: Path, launcher) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(course_root / "source" / "tensors", tmp_path / "source" / "tensors")
    shutil.copytree(course_root / "release" / "tensors", tmp_path / "release" / "tensors")
    shutil.copy(course_root / "nbgrader_config.py", tmp_path)
    src = tmp_path / "source" / "tensors" / "tensors.ipynb"
    nb = json.loads(src.read_text())
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == "one_hot":
            meta["points"] = 3
    nb["cells"].append({"cell_type": "code", "id": "extra-imports", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "%matplotlib inline\nfrom tqdm.auto import tqdm\nimport rich.progress"})
    src.write_text(json.dumps(nb))
    rel = tmp_path / "release" / "tensors" / "tensors.ipynb"
    nb = json.loads(rel.read_text())
    nb["cells"][3]["source"] = "import torch_extras_nowhere as tx\n" + "".join(nb["cells"][3]["source"])
    rel.write_text(json.dumps(nb))
    v = validate_assignment(name="tensors", root=tmp_path, launcher=launcher, device="cpu", seeds=0)
    steps = {name: (ok, msg) for name, ok, msg in v.steps}
    assert not v.ok
    assert not steps["grade cells have checks"][0]
    assert "'one_hot' is worth 3 but its checks add up to 2" in steps["grade cells have checks"][1]
    assert not steps["release is up to date"][0] and "graders generate tensors" in steps["release is up to date"][1]
    assert steps["release stubs score zero"][0]
    ok, msg = steps["notebooks import only the course environment"]  # one environment: tqdm is in it, rich is not
    assert not ok and "tqdm" not in msg
    assert "source/tensors.ipynb cell 21 line 3 imports `rich`: it is not in the course environment" in msg
    assert ("release/tensors.ipynb cell 4 line 1 imports `torch_extras_nowhere`: the grading environment lacks it "
            "(No module named 'torch_extras_nowhere')") in msg


def test_validate_measures_the_solution_and_proposes_time_limits(course_root: Path, launcher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from graders.timelimits import Timings, propose, write_limits

    v = validate_assignment(name="tensors", root=course_root, launcher=launcher, device="cpu")
    assert v.proposed_limits == {"cell_timeout": 10.0, "call_timeout": 10.0}  # the tensors solution is fast: the 10 s floor
    assert "time cell_timeout: solution's slowest cell" in v.timing and "in force 60 s (default)" in v.timing
    assert "time call_timeout" in v.timing and v.timing in v.summary()
    assert propose(Timings(cells={0: 0.2, 3: 2.5}, calls={"`fit`": 1.24})) == {"cell_timeout": 25.0, "call_timeout": 13.0}

    module = tmp_path / "checks.py"
    module.write_text('QUESTIONS = {\n    "a": 1,\n}\nLIMITS = {"call_timeout": 60}\n\ndef test_x():\n    pass\n')
    assert write_limits(module_path=module, proposed={"cell_timeout": 25.0, "call_timeout": 13.0}) == {"call_timeout": 60, "cell_timeout": 25}
    assert 'LIMITS = {\'call_timeout\': 60, \'cell_timeout\': 25}' in module.read_text()  # the instructor's 60 stays
    bare = tmp_path / "bare.py"
    bare.write_text('QUESTIONS = {\n    "a": 1,\n}\n\ndef test_x():\n    pass\n')
    write_limits(module_path=bare, proposed={"cell_timeout": 10.0, "call_timeout": 10.0})
    assert bare.read_text().splitlines()[3].startswith("LIMITS = {'cell_timeout': 10, 'call_timeout': 10}")
