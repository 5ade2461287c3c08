"""`graders ci` on simulated pull requests: real git repositories, the GitHub variables set to temporary files.

The base commit is a student repository laid out by `graders release-repo tensors`; branches hold a
student's answers: correct, partial, an attack, a broken notebook, no notebook at all. Three of them
are graded (once each, module-scoped): `correct` as a real subprocess, `partial` through
`graders.cli.main`, `attack` through `run_ci` with short time limits.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from graders.ci import (
    CiNotebook,
    CiOutcome,
    changed_files,
    escape_data,
    escape_property,
    exit_problems,
    find_assignment_notebooks,
    json_name,
    md_cell,
    render_annotations,
    render_markdown,
    resolve_base,
    run_ci,
    write_junit,
)
from graders.cli import main
from graders.course import get_assignment
from graders.errors import GradersError
from graders.release_repo import release_repo
from graders.result import CellOutcome, CheckResult, SubmissionResult

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "tensors" / "tensors.ipynb"
TEMPLATE = ROOT / "graders" / "templates" / "grade.yml"
NB = "tensors/tensors.ipynb"
SECRET = "s3cret-token-never-shown"
GITHUB_VARS = ("GITHUB_BASE_REF", "GITHUB_HEAD_REF", "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_ACTOR",
               "GITHUB_ACTIONS", "GITHUB_OUTPUT", "GRADERS_TOKEN")
GIT_ENV = {"GIT_AUTHOR_NAME": "Student", "GIT_AUTHOR_EMAIL": "student@example.org", "GIT_COMMITTER_NAME": "Student",
           "GIT_COMMITTER_EMAIL": "student@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

ATTACK = '''import os, torch
torch.allclose = lambda *a, **k: True  # the checks do not run in this process: no effect
torch.testing.assert_close = lambda *a, **k: None
torch.equal = lambda *a, **k: True

def describe(t):  # looks for the install step's secret, then tries to forge an annotation and a summary row
    raise RuntimeError("token=" + str(os.environ.get("GRADERS_TOKEN")) + "\\n::notice title=forged::10/10 points\\n| forged | 10/10 |")

def matmul(a, b):  # the right shape and dtype, wrong values
    return torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)

_one_hot = one_hot
def one_hot(labels, num_classes):  # hangs on the public check's input
    if labels.shape[0] == 4:
        while True:
            pass
    return _one_hot(labels, num_classes)
'''
PARTIAL = [("return (a[:, :, None] * b[None, :, :]).sum(dim=1)", "raise NotImplementedError()"),  # matmul left undone
           ("dtype=torch.float32)\n", "dtype=torch.int64)\n")]  # one_hot returns the wrong dtype


# ----------------------------------------------------------------------------- helpers
def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=env,
                          check=True, capture_output=True, text=True).stdout.strip()


def student_notebook(replacements=(), extra: str | None = None) -> dict:
    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for a, b in replacements:
            src = src.replace(a, b)
        cell["source"] = src
    if extra:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "student-extra", "metadata": {},
                            "outputs": [], "source": extra})
    return nb


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def commit_branch(repo: Path, branch: str, files: dict[str, object], message: str) -> None:
    git(repo, "checkout", "-q", "-b", branch, "main")
    for rel, content in files.items():
        if isinstance(content, str):
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(content, encoding="utf-8")
        else:
            write_json(repo / rel, content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    git(repo, "checkout", "-q", "main")


def parse_commands(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    """Workflow commands printed on stdout: (kind, properties, message), unescaped."""
    def unescape(s: str) -> str:
        return s.replace("%2C", ",").replace("%3A", ":").replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")

    out = []
    for line in stdout.splitlines():
        m = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line)
        if m:
            props = dict(p.split("=", 1) for p in (m.group(2) or "").split(",") if p)
            out.append((m.group(1), {k: unescape(v) for k, v in props.items()}, unescape(m.group(3))))
    return out


def github_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(tmp / "step_summary.md"),
            "GITHUB_ACTOR": "alice", "GRADERS_TOKEN": SECRET, **extra}


@contextlib.contextmanager
def github(env: dict[str, str], cwd: Path | None = None):
    with pytest.MonkeyPatch.context() as mp:
        for k in GITHUB_VARS:
            mp.delenv(k, raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        if cwd is not None:
            mp.chdir(cwd)
        yield


def run_main(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with github(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def junit_cases(path: Path) -> tuple[ET.Element, dict[str, ET.Element]]:
    root = ET.parse(path).getroot()
    return root, {c.get("name"): c for c in root.iter("testcase")}


# ----------------------------------------------------------------------------- the simulated course repository
@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student repository on "GitHub": main = the release (from release-repo), one branch per scenario."""
    repo = tmp_path_factory.mktemp("ci") / "upstream"
    release_repo(assignments=["tensors"], out=repo, root=ROOT)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release: tensors")
    commit_branch(repo, "correct", {NB: student_notebook()}, "my answers")
    commit_branch(repo, "partial", {NB: student_notebook(PARTIAL),
                                    "notes/scratch.ipynb": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                                    "notes/todo.txt": "finish matmul\n"}, "half done")
    commit_branch(repo, "attack", {NB: student_notebook(extra=ATTACK)}, "clever")
    commit_branch(repo, "broken", {NB: "this is not a notebook {",
                                   "extra/other.ipynb": {"cells": [], "metadata": {"graders": {"assignment": "no-such-assignment"}},
                                                         "nbformat": 4, "nbformat_minor": 5}}, "oops")
    commit_branch(repo, "docs", {"README.md": "my notes\n"}, "readme only")
    return repo


def checkout(upstream: Path, branch: str, dest: Path) -> Path:
    """What actions/checkout with fetch-depth: 0 gives: a clone with origin/main, HEAD on the branch."""
    git(dest.parent, "clone", "-q", "--branch", branch, str(upstream), dest.name)
    return dest


@pytest.fixture(scope="module")
def correct_run(upstream: Path, tmp_path_factory: pytest.TempPathFactory):
    """`graders ci` as GitHub runs it: a subprocess, in the checkout, with the GitHub variables."""
    tmp = tmp_path_factory.mktemp("correct")
    work = checkout(upstream, "correct", tmp / "work")
    env = {k: v for k, v in os.environ.items() if k not in GITHUB_VARS}
    env.update(github_env(tmp))
    cmd = [sys.executable, "-m", "graders", "ci", "--junit", str(tmp / "results" / "junit.xml"), "--json", str(tmp / "results"),
           "--min-score", "9.5", "--device", "cpu"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    return proc, tmp


@pytest.fixture(scope="module")
def partial_run(upstream: Path, tmp_path_factory: pytest.TempPathFactory):
    """In-process `graders.cli.main`, with a minimum score the submission does not reach."""
    tmp = tmp_path_factory.mktemp("partial")
    work = checkout(upstream, "partial", tmp / "work")
    code, out, err = run_main(["ci", "--junit", str(tmp / "junit.xml"), "--json", str(tmp / "json"), "--min-score", "9",
                               "--device", "cpu"], cwd=work, env=github_env(tmp))
    return code, out, err, tmp


@pytest.fixture(scope="module")
def attack_run(upstream: Path, tmp_path_factory: pytest.TempPathFactory, launcher):
    tmp = tmp_path_factory.mktemp("attack")
    work = checkout(upstream, "attack", tmp / "work")
    limits = get_assignment("tensors").limits.with_overrides(call_timeout=2.0, grace_seconds=0.5)
    out, err = io.StringIO(), io.StringIO()
    with github(github_env(tmp)):
        outcome = run_ci(repo=work, junit=tmp / "junit.xml", json_dir=tmp / "json", device="cpu", launcher=launcher,
                         limits=limits, out=out, log=err)
    return outcome, out.getvalue(), err.getvalue(), tmp


@pytest.fixture(autouse=True)
def _no_github_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's own CI may run on GitHub: its variables must not leak into these tests."""
    for k in GITHUB_VARS:
        monkeypatch.delenv(k, raising=False)


# ----------------------------------------------------------------------------- a correct pull request
def test_correct_pull_request_end_to_end(correct_run) -> None:
    proc, tmp = correct_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = (tmp / "step_summary.md").read_text(encoding="utf-8")
    assert "## Grading results" in summary
    assert "| tensors/tensors.ipynb | tensors | **10/10** | :white_check_mark: all checks passed |" in summary
    for q, pts in (("describe", 2), ("matmul_shape", 3), ("matmul", 3), ("one_hot", 2)):
        assert f"| {q} | {pts}/{pts} |" in summary
    assert "Failing check" not in summary
    assert "## Grading results" not in proc.stdout  # the summary went to the file, not to the log
    cmds = parse_commands(proc.stdout)
    assert [k for k, _p, _m in cmds] == ["notice"]
    _kind, props, msg = cmds[0]
    assert props == {"file": NB, "title": "tensors: 10/10 points"}
    assert msg == "describe 2/2, matmul_shape 3/3, matmul 3/3, one_hot 2/2"

    root, cases = junit_cases(tmp / "results" / "junit.xml")
    assert root.tag == "testsuites" and root.get("failures") == "0" and root.get("errors") == "0"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == NB
    assert int(suite.get("tests")) == len(cases) == 18
    assert not any(c.find("failure") is not None or c.find("error") is not None for c in cases.values())
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["score"] == "10" and props["max_score"] == "10" and props["assignment"] == "tensors"

    data = json.loads((tmp / "results" / "tensors__tensors.json").read_text(encoding="utf-8"))
    assert data["notebook"] == NB and data["status"] == "graded" and data["score"] == 10.0
    assert data["student"] == "alice" and len(data["checks"]) == 18 and "cells" in data


# ----------------------------------------------------------------------------- a partial answer, below --min-score
def test_partial_summary_table(partial_run) -> None:
    code, out, err, tmp = partial_run
    summary = (tmp / "step_summary.md").read_text(encoding="utf-8")
    assert "| tensors/tensors.ipynb | tensors | **5.5/10** | :warning: 7 failing checks |" in summary
    assert "| describe | 2/2 |" in summary and "| matmul_shape | 3/3 |" in summary
    assert "| matmul | 0/3 :x: |" in summary and "| one_hot | 0.5/2 :x: |" in summary
    rows = [ln for ln in summary.splitlines() if ln.startswith("| one_hot::") or ln.startswith("| matmul::")]
    assert len(rows) == 7  # matmul_mismatch too: refusing bad input pays only when valid input works (issue 12)
    assert ("| one_hot::one_hot_small | failed | 0/1 | `one_hot(labels, 3)` with labels [0, 2, 1, 2] "
            "returned dtype int64, expected float32 |") in summary
    assert "| matmul::matmul_float64 (hidden) | error (your code raised) | 0/0.5 |" in summary
    assert "not implemented yet" in summary
    assert "**The grading job fails:** tensors/tensors.ipynb scored 5.5, below the required 9" in summary
    assert "Compared HEAD with origin/main" in summary
    assert "- notes/scratch.ipynb: not an assignment of this course" in summary


def test_partial_annotations_and_exit_code(partial_run) -> None:
    code, out, err, _tmp = partial_run
    assert code == 1  # 6 < --min-score 9
    assert "failing the job: tensors/tensors.ipynb scored 5.5, below the required 9" in err
    assert "notes/scratch.ipynb" in err  # changed, but not an assignment: said, not graded
    cmds = parse_commands(out)
    notices = [c for c in cmds if c[0] == "notice"]
    errors = [c for c in cmds if c[0] == "error"]
    assert len(notices) == 1 and notices[0][1]["title"] == "tensors: 5.5/10 points"
    assert len(errors) == 7
    by_title = {p["title"]: (p, m) for _k, p, m in errors}
    props, msg = by_title["tensors one_hot::one_hot_small (failed, 0/1)"]
    assert props["file"] == NB
    assert msg == "`one_hot(labels, 3)` with labels [0, 2, 1, 2] returned dtype int64, expected float32"
    # the annotation points at the answer cell of the question in the notebook's JSON
    lines = (_tmp / "work" / NB).read_text(encoding="utf-8").splitlines()
    assert '"one_hot-answer"' in lines[int(props["line"]) - 1]
    assert "tensors matmul::matmul_small (error, 0/1)" in by_title
    # raw lines: properties escaped (no bare ':' or ',' inside), one line per command
    raw = [ln for ln in out.splitlines() if ln.startswith("::error ")]
    assert all("title=tensors one_hot%3A%3Aone_hot_small (failed%2C 0/1)" in ln for ln in raw if "one_hot_small" in ln)


def test_partial_junit_and_json(partial_run) -> None:
    _code, _out, _err, tmp = partial_run
    root, cases = junit_cases(tmp / "junit.xml")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("18", "2", "5")
    small = cases["one_hot::one_hot_small"]
    fail = small.find("failure")
    assert fail is not None and fail.get("type") == "failed" and "expected float32" in fail.get("message")
    assert small.get("classname") == "tensors.one_hot" and small.get("file") == NB
    err = cases["matmul::matmul_small"].find("error")
    assert err is not None and "NotImplementedError" in err.get("message")
    passed = cases["describe::describe_vector"]
    assert passed.find("failure") is None and passed.find("error") is None
    hidden = {p.get("name"): p.get("value") for p in cases["matmul::matmul_float64"].find("properties")}
    assert hidden == {"points": "0", "max_points": "0.5", "hidden": "true"}
    data = json.loads((tmp / "json" / "tensors__tensors.json").read_text(encoding="utf-8"))
    assert data["score"] == 5.5 and data["max_score"] == 10.0 and data["status"] == "graded"
    assert sorted(c["id"] for c in data["checks"] if c["status"] != "passed") == sorted(
        ["matmul::matmul_small", "matmul::matmul_float64", "matmul::matmul_edge_shapes", "matmul::matmul_integers",
         "matmul::matmul_mismatch", "one_hot::one_hot_small", "one_hot::one_hot_hidden"])


# ----------------------------------------------------------------------------- an attack
def test_attack_earns_nothing_and_forges_nothing(attack_run) -> None:
    outcome, out, err, tmp = attack_run
    assert outcome.exit_code == 0  # grading worked; the score is what it is
    (nb,) = outcome.notebooks
    r = nb.result
    assert r.status == "graded" and r.score == 4.0
    assert r.question_scores() == {"describe": (0.0, 2.0), "matmul_shape": (3.0, 3.0), "matmul": (0.0, 3.0), "one_hot": (1.0, 2.0)}
    statuses = {c.id: c.status for c in r.checks}
    assert statuses["one_hot::one_hot_small"] == "timeout"
    assert statuses["matmul::matmul_small"] == "failed"  # patching torch.allclose in the worker changed nothing
    describe_msg = next(c.message for c in r.checks if c.id == "describe::describe_vector")
    assert "token=None" in describe_msg  # the worker never saw the install step's secret
    for text in (out, err, (tmp / "step_summary.md").read_text(encoding="utf-8"), (tmp / "junit.xml").read_text(encoding="utf-8"),
                 (tmp / "json" / "tensors__tensors.json").read_text(encoding="utf-8")):
        assert SECRET not in text
    # the forged workflow command and table row stay inside their messages
    kinds = [(k, p.get("title", "")) for k, p, _m in parse_commands(out)]
    assert ("notice", "forged") not in kinds
    assert [t for k, t in kinds if k == "notice"] == ["tensors: 4/10 points"]
    assert not any(ln.startswith("::notice title=forged") for ln in out.splitlines())
    summary = (tmp / "step_summary.md").read_text(encoding="utf-8")
    assert not any(ln.startswith("| forged") for ln in summary.splitlines())
    assert "token=None<br>::notice title=forged::10/10 points<br>\\| forged \\| 10/10 \\|" in summary


def test_attack_timeout_is_a_junit_error(attack_run) -> None:
    _outcome, _out, _err, tmp = attack_run
    _root, cases = junit_cases(tmp / "junit.xml")
    err = cases["one_hot::one_hot_small"].find("error")
    assert err is not None and err.get("type") == "timeout" and "time limit" in err.get("message")
    assert cases["matmul::matmul_small"].find("failure") is not None


# ----------------------------------------------------------------------------- grading itself fails; nothing to grade
def test_unreadable_notebooks_fail_the_job(upstream: Path, tmp_path: Path) -> None:
    work = checkout(upstream, "broken", tmp_path / "work")
    code, out, err = run_main(["ci", "--junit", str(tmp_path / "junit.xml"), "--json", str(tmp_path / "json")],
                              cwd=work, env=github_env(tmp_path))
    assert code == 1, err
    summary = (tmp_path / "step_summary.md").read_text(encoding="utf-8")
    assert "| tensors/tensors.ipynb | tensors | – | :x: not graded |" in summary  # recognised by its path
    assert "| extra/other.ipynb | no-such-assignment | – | :x: not graded |" in summary  # by its metadata
    assert "not a Jupyter notebook" in summary and "unknown assignment 'no-such-assignment'" in summary
    errors = [(p, m) for k, p, m in parse_commands(out) if k == "error"]
    assert {p["file"] for p, _m in errors} == {NB, "extra/other.ipynb"}
    root, cases = junit_cases(tmp_path / "junit.xml")
    assert root.get("errors") == "2" and root.get("tests") == "2"
    assert all(c.find("error").get("type") == "not graded" for c in cases.values())
    data = json.loads((tmp_path / "json" / "tensors__tensors.json").read_text(encoding="utf-8"))
    assert data["status"] == "error" and "not a Jupyter notebook" in data["message"]
    assert "could not be graded" in err


def test_nothing_to_grade_is_success(upstream: Path, tmp_path: Path) -> None:
    work = checkout(upstream, "docs", tmp_path / "work")
    code, out, err = run_main(["ci", "--junit", str(tmp_path / "junit.xml"), "--min-score", "5"], cwd=work,
                              env={"GITHUB_BASE_REF": "main"})  # no GITHUB_STEP_SUMMARY: the table goes to stdout
    assert code == 0, err
    assert "No assignment notebook changed: nothing to grade." in out
    root, cases = junit_cases(tmp_path / "junit.xml")
    assert root.get("tests") == "0" and not cases


def test_bad_base_and_not_a_checkout(upstream: Path, tmp_path: Path) -> None:
    work = checkout(upstream, "docs", tmp_path / "work")
    code, out, err = run_main(["ci", "--base", "no-such-branch"], cwd=work, env={})
    assert code == 2 and "graders: error: --base no-such-branch: no such branch" in err and "Traceback" not in err
    code, _out, err = run_main(["ci"], cwd=work, env={"GITHUB_BASE_REF": "gone"})
    assert code == 2 and "GITHUB_BASE_REF=gone" in err and "fetch-depth: 0" in err
    (tmp_path / "plain").mkdir()
    with pytest.raises(GradersError, match="not a git checkout"):
        run_ci(repo=tmp_path / "plain")


# ----------------------------------------------------------------------------- which base, which notebooks
def test_base_resolution(upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = git(upstream, "rev-parse", "main")
    work = checkout(upstream, "partial", tmp_path / "work")
    # a pull request: origin/<base>, preferred to the local branch
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    assert resolve_base(work)[:2] == ("origin/main", release)
    monkeypatch.delenv("GITHUB_BASE_REF")
    # a push to a branch: the merge base with the default branch (origin/HEAD)
    label, commit, notes = resolve_base(work)
    assert (label, commit, notes) == ("origin/main", release, [])
    # --base wins, and is reduced to the merge base
    assert resolve_base(work, git(upstream, "rev-parse", "correct"))[1] == release
    assert changed_files(work, release) == ["notes/scratch.ipynb", "notes/todo.txt", NB]
    # a push to main itself: everything changed since the first commit (the release), and it says so
    git(work, "checkout", "-q", "-B", "main", "partial")
    git(work, "update-ref", "refs/remotes/origin/main", "HEAD")
    label, commit, notes = resolve_base(work)
    assert (label, commit) == ("first commit", release)
    assert "HEAD is on (or behind) the default branch origin/main" in notes[0]
    # the GitHub event names the default branch
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main"}}), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert resolve_base(work)[0] == "first commit"


def test_no_default_branch_falls_back_to_first_commit(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    (repo / "a.txt").write_text("1", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "a.txt").write_text("2", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "two")
    label, commit, notes = resolve_base(repo)
    assert (label, commit) == ("first commit", first) and "no default branch" in notes[0]


def test_notebooks_recognised_by_metadata_then_path(tmp_path: Path) -> None:
    meta = {"graders": {"assignment": "tensors"}}
    empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write_json(tmp_path / "my work" / "answers.ipynb", {**empty, "metadata": meta})  # metadata, anywhere
    write_json(tmp_path / "tensors" / "tensors.ipynb", empty)  # metadata stripped by a tool: its path
    write_json(tmp_path / "release" / "tensors" / "tensors.ipynb", empty)
    write_json(tmp_path / "notes" / "scratch.ipynb", empty)  # neither
    write_json(tmp_path / "tensors" / ".ipynb_checkpoints" / "tensors-checkpoint.ipynb", {**empty, "metadata": meta})
    write_json(tmp_path / "autograd" / "tensors.ipynb", {**empty, "metadata": meta})  # metadata beats the path
    (tmp_path / "broken.ipynb").write_text("{", encoding="utf-8")
    (tmp_path / "solution").mkdir()
    write_json(tmp_path / "outside.ipynb", {**empty, "metadata": meta})
    (tmp_path / "solution" / "solution.ipynb").symlink_to(tmp_path / "outside.ipynb")  # e.g. the instructor's source
    paths = ["autograd/tensors.ipynb", "broken.ipynb", "deleted/gone.ipynb", "my work/answers.ipynb", "notes/scratch.ipynb",
             "release/tensors/tensors.ipynb", "tensors/.ipynb_checkpoints/tensors-checkpoint.ipynb", "tensors/tensors.ipynb",
             "tensors/data.csv", "solution/solution.ipynb"]
    found, skipped = find_assignment_notebooks(tmp_path, paths)
    assert [(n.path, n.assignment, n.found_by) for n in found] == [
        ("autograd/tensors.ipynb", "tensors", "metadata"), ("my work/answers.ipynb", "tensors", "metadata"),
        ("release/tensors/tensors.ipynb", "tensors", "path"), ("tensors/tensors.ipynb", "tensors", "path")]
    assert {p for p, _why in skipped} == {"broken.ipynb", "deleted/gone.ipynb", "notes/scratch.ipynb", "solution/solution.ipynb",
                                          "tensors/.ipynb_checkpoints/tensors-checkpoint.ipynb"}
    assert "symbolic link" in dict(skipped)["solution/solution.ipynb"]


# ----------------------------------------------------------------------------- escaping and rendering (no grading)
def test_workflow_command_escaping() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    from graders.ci import workflow_command

    line = workflow_command("error", "x\n::notice::forged", file="dir/a,b:c.ipynb", line=3, title="t: 1/2")
    assert line == "::error file=dir/a%2Cb%3Ac.ipynb,line=3,title=t%3A 1/2::x%0A::notice::forged"
    assert "\n" not in line


def test_markdown_cells_cannot_break_the_table() -> None:
    assert md_cell("a | b\nc") == "a \\| b<br>c"
    assert md_cell("<script>alert(1)</script> & co") == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
    assert md_cell("`<lambda>` returned `a|b`") == "`<lambda>` returned `a\\|b`"  # code spans keep their text
    assert md_cell("odd ` tick <b>") == "odd \\` tick &lt;b&gt;"
    assert md_cell("x" * 50, limit=10) == "x" * 9 + "…"
    assert md_cell("bad \udcff byte") == "bad \ufffd byte"
    assert json_name("my work/answers.ipynb") == "my_work__answers.json"


def _fake_outcome(tmp_path: Path) -> CiOutcome:
    checks = [
        CheckResult("q1::public", "q1", "passed", 1.0, 1.0, False),
        CheckResult("q1::hidden_edge", "q1", "failed", 0.0, 1.0, True, message="for the hidden input (7, 0) got 3"),
        CheckResult("q2::loop", "q2", "timeout", 0.0, 2.0, False, message="`f` did not return within 2 s", metrics={"accuracy": 0.5}),
        CheckResult("q2::raises", "q2", "error", 0.0, 1.0, False, message="`f` raised \x00ValueError"),
    ]
    ok = SubmissionResult("tensors", "bob", "graded", score=1.0, max_score=5.0, checks=checks,
                          cells=[CellOutcome(3, "error", error="NameError: name 'x' is not defined")])
    bad = SubmissionResult("tensors", "bob", "error", max_score=10.0, message="x.ipynb: not a Jupyter notebook")
    return CiOutcome(repo=tmp_path, base="origin/main", base_commit="0" * 40,
                     notebooks=[CiNotebook("a/tensors.ipynb", "tensors", "metadata", ok),
                                CiNotebook("b/tensors.ipynb", "tensors", "path", bad)])


def test_rendering_with_hidden_checks_redacted(tmp_path: Path) -> None:
    outcome = _fake_outcome(tmp_path)
    md = render_markdown(outcome)
    assert "for the hidden input (7, 0) got 3" in md and "| q1::hidden_edge (hidden) | failed | 0/1 |" in md
    assert "- cell 4: NameError: name 'x' is not defined" in md
    assert "**Not graded:** x.ipynb: not a Jupyter notebook" in md
    red = render_markdown(outcome, redact_hidden=True)
    assert "(7, 0)" not in red and "a hidden check failed" in red
    anns = render_annotations(outcome, redact_hidden=True)
    assert not any("(7, 0)" in a for a in anns) and sum(a.startswith("::error ") for a in anns) == 4
    path = write_junit(outcome, tmp_path / "out" / "junit.xml", redact_hidden=True)
    text = path.read_text(encoding="utf-8")
    assert "(7, 0)" not in text and "\x00" not in text
    root, cases = junit_cases(path)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "3")
    assert cases["q2::loop"].find("error").get("type") == "timeout"
    assert {p.get("name"): p.get("value") for p in cases["q2::loop"].find("properties")}["metric.accuracy"] == "0.5"
    assert cases["grading"].find("error").get("message") == "x.ipynb: not a Jupyter notebook"


def test_exit_problems_and_annotation_cap(tmp_path: Path) -> None:
    outcome = _fake_outcome(tmp_path)
    assert exit_problems(outcome.notebooks[:1], None) == []
    assert exit_problems(outcome.notebooks[:1], 1.0) == []  # equal to the minimum passes
    assert exit_problems(outcome.notebooks[:1], 1.5) == ["a/tensors.ipynb scored 1, below the required 1.5"]
    assert exit_problems(outcome.notebooks, None) == ["b/tensors.ipynb could not be graded"]
    many = [CheckResult(f"q::c{i}", "q", "failed", 0.0, 1.0, False, message=f"m{i}") for i in range(15)]
    outcome.notebooks = [CiNotebook("n.ipynb", "tensors", "metadata", SubmissionResult("tensors", "", "graded", checks=many))]
    errors = [a for a in render_annotations(outcome) if a.startswith("::error")]
    assert len(errors) == 10 and "6 more failing checks" in errors[-1]


# ----------------------------------------------------------------------------- the workflow template
def _workflow() -> dict:
    return yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))


def test_workflow_triggers_and_job() -> None:
    wf = _workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on and "push" in on
    assert wf["permissions"] == {"contents": "read"}
    job = wf["jobs"]["grade"]
    targets = job["strategy"]["matrix"]["target"]
    assert "vars.GRADERS_GPU_RUNNER" in targets and '"cpu", "gpu"' in targets and '["cpu"]' in targets
    assert "ubuntu-latest" in job["runs-on"] and '"self-hosted", "gpu"' in job["runs-on"]
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    assert steps[0]["with"]["persist-credentials"] is False
    assert any(u.startswith("actions/setup-python@") and s["with"]["python-version"] == "3.11" for u, s in zip(uses, steps))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "results/" and upload["if"] == "always()"


def test_workflow_pins_torch_installs_bubblewrap_and_grades() -> None:
    steps = _workflow()["jobs"]["grade"]["steps"]
    runs = [s.get("run", "") for s in steps]
    torch_lines = [ln for r in runs for ln in r.splitlines() if re.search(r"pip install .*\btorch\b", ln)]
    assert torch_lines and all("torch==2.13.0" in ln for ln in torch_lines)
    torch_step = next(s for s in steps if "torch==2.13.0" in s.get("run", ""))
    assert "download.pytorch.org/whl/cpu" in torch_step["env"]["TORCH_INDEX"]
    assert any("apt-get install -y -q bubblewrap" in r for r in runs)
    grade = next(s for s in steps if "graders ci" in s.get("run", ""))
    for opt in ("--junit results/junit.xml", "--json results/", "--require-sandbox", "--device auto"):
        assert opt in grade["run"]


def test_workflow_secret_only_in_the_install_step() -> None:
    wf = _workflow()
    job = wf["jobs"]["grade"]
    assert "secrets." not in json.dumps({k: v for k, v in wf.items() if k != "jobs"})
    assert "secrets." not in json.dumps({k: v for k, v in job.items() if k != "steps"})  # no job-level env
    with_secret = [s for s in job["steps"] if "secrets." in json.dumps(s)]
    assert len(with_secret) == 1
    install = with_secret[0]
    assert "secrets." not in install["run"] and "secrets." not in install.get("name", "")
    assert set(install["env"]) >= {"GRADERS_TOKEN", "GRADERS_REPO"}
    assert "GRADERS_TOKEN" in install["run"] and "pip install" in install["run"]
    grade = next(s for s in job["steps"] if "graders ci" in s.get("run", ""))
    assert "GRADERS_TOKEN" not in json.dumps(grade)
    assert "GITHUB_ENV" not in install["run"]  # never exported to later steps
