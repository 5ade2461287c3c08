"""One environment: pyproject.toml's `notebook` list is what student code may import, for students and grading."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from graders.environment import imports_of, module_problem, notebook_packages, student_requirements_lines
from graders.release_repo import student_requirements

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower()


def test_the_list_names_the_fields_everyday_tools_and_grading_has_each_with_its_pin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = project["optional-dependencies"]["notebook"]
    assert all(_name(r) == r for r in listed), "names only: versions come from the dependencies"
    assert {"torch", "numpy", "pandas", "matplotlib", "scikit-learn", "tqdm"} <= set(notebook_packages())
    deps = {_name(r): r for r in project["dependencies"]}
    assert set(listed) <= set(deps)  # so the grading environment, which installs the dependencies, has them
    reqs = [ln for ln in student_requirements().splitlines() if ln and not ln.startswith("#")]
    assert reqs == student_requirements_lines() == [deps[n] for n in listed] + [deps["jupyterlab"]]
    assert "torch==2.13.0" in reqs


def test_what_a_notebook_may_import() -> None:
    for ok in ("tqdm", "torch", "sklearn", "pandas", "matplotlib", "numpy", "PIL", "json", "otter", "IPython"):
        assert module_problem(ok) is None, (ok, module_problem(ok))
    assert "not in the course environment (it comes with rich" in str(module_problem("rich"))
    assert "not in the course environment" in str(module_problem("graders"))
    assert "the grading environment lacks it (No module named 'nosuchmodule_xyz')" == module_problem("nosuchmodule_xyz")


def test_imports_are_read_as_ipython_runs_the_cell() -> None:
    src = "%matplotlib inline\n!pip install tqdm\nfrom tqdm.auto import tqdm\nimport numpy as np, torch.nn\ndef f():\n    import pandas\n"
    assert imports_of(src) == [(3, "tqdm"), (4, "numpy"), (4, "torch"), (6, "pandas")]
