"""JupyterLab as people use it, in Debian's Chromium driven by Playwright.

One JupyterLab server (the pinned JupyterLab with nbgrader's extensions) runs on localhost in a
temporary copy of the course whose tensors submissions are autograded into its gradebook:

- a student opens the released tensors notebook (partly solved: `describe` right, `matmul` wrong),
  runs cells and a `grader.check` cell, and reads the failing check's message;
- the notebook's Validate button (nbgrader) reports the failing public check;
- the Assignment List fetches the released assignment (with its self-check files) and submits it;
- an instructor opens the formgrader and sees the autograded scores;
- in the formgrader's Manage Submissions, the instructor clicks Autograde for a new submission (graded
  by graders in the sandbox: nbgrader_config.py routes it) and Generate Feedback, and reads the scores
  and the feedback page (graders' page: no hidden check's message).

Screenshots go to test-artifacts/ (git-ignored). Skips only where Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from ..classroom import ROOT, graded_class

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
PARTLY_SOLVED = {
    "describe": "def describe(t):\n    return {'shape': tuple(t.shape), 'ndim': t.ndim, 'dtype': str(t.dtype), 'numel': t.numel()}\n",
    "matmul": "def matmul(a, b):\n    return (a[:, :, None] * b[None, :, :]).sum(dim=1).T  # transposed: wrong shape\n",
}
SLOW = 120_000  # ms: kernels start slowly on a busy 2-core runner


def _requirements() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; the browser is Debian's chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="module")
def course(tmp_path_factory, launcher) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the graded class, with a partly solved release notebook and the assignment released."""
    _requirements()
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from fill import fill

    from graders.course import ensure_venv_on_path

    root = tmp_path_factory.mktemp("lab") / "course"
    shutil.copytree(graded_class(tmp_path_factory, launcher), root)
    rel = root / "release" / "tensors"
    # the exchange: nbgrader's release_assignment (what an instructor does before students fetch)
    ensure_venv_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    cfg = Config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.course_id = "deep-learning-pytorch"
    cfg.Exchange.root = str(root / ".exchange")
    res = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg).release_assignment("tensors")
    assert res["success"], res
    fill(rel / "tensors.ipynb", PARTLY_SOLVED, rel / "tensors.ipynb")
    # a submission nobody graded yet, for the formgrader's Autograde button (the same answers as bob's)
    (root / "submitted" / "frank" / "tensors").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "data" / "tensors" / "wrong-shape.ipynb", root / "submitted" / "frank" / "tensors" / "tensors.ipynb")
    return root


@pytest.fixture(scope="module")
def lab(course: Path, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`jupyter lab` on localhost in the course copy; yields its base URL (the token is in the first URL)."""
    state = tmp_path_factory.mktemp("labstate")
    settings = state / "settings"
    for ext, name, value in (("@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"}),
                             ("@jupyterlab/apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False})):
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    log = (state / "lab.log").open("w")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("GRADERS_COURSE_ROOT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={state / 'ws'}"],
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"jupyter lab did not start: {(state / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"{base}|{token}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server we started and the kernels it started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def page(lab: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    base, token = lab.split("|")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(SLOW)
        pg.goto(f"{base}/lab/tree/release/tensors/tensors.ipynb?token={token}")  # the token becomes a cookie
        pg.base_url = base  # type: ignore[attr-defined]
        try:
            yield pg
        finally:
            browser.close()


def _run_cell(page: Any, text: str) -> Any:
    """Click into the code cell containing `text` and press Shift+Enter, as a student does."""
    from playwright.sync_api import expect

    cell = page.locator(".jp-Notebook .jp-CodeCell", has_text=text).first
    prompt = cell.locator(".jp-InputPrompt").first
    for attempt in range(3):
        cell.locator(".cm-content").click()
        expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
        page.keyboard.press("Shift+Enter")
        try:  # queued ([*]) or done ([n]) soon; else the key press was lost (the page was still settling)
            expect(prompt).to_have_text(re.compile(r"\[(\d+|\*)\]"), timeout=15_000)
            break
        except AssertionError:
            if attempt == 2:
                _shot(page, "jupyterlab-failed-run")
                raise
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=SLOW)
    return cell


def _menu(page: Any, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def test_student_self_check_shows_the_failing_message(page: Any) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=SLOW)
    for text in ("grader = otter.Notebook", "def describe", "def matmul(a, b)"):
        _run_cell(page, text)
    describe = _run_cell(page, 'grader.check("describe")')
    assert "describe passed!" in describe.locator(".jp-OutputArea-output").inner_text()
    matmul = _run_cell(page, 'grader.check("matmul")')
    out = matmul.locator(".jp-OutputArea-output").inner_text()
    matmul.scroll_into_view_if_needed()
    _shot(page, "jupyterlab-self-check")
    assert "matmul results" in out and "matmul_small result" in out and "Test case failed" in out
    assert "returned shape (5, 3), expected (3, 5): the result of (n, k) @ (k, m) is (n, m)" in " ".join(out.split())


def test_validate_button_reports_the_failing_public_check(page: Any) -> None:
    page.locator(".jp-ToolbarButtonComponent-label", has_text="Validate").locator("visible=true").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=SLOW)
    page.wait_for_timeout(300)
    text = " ".join(dialog.inner_text().split())
    _shot(page, "jupyterlab-validate")
    assert "The following cell failed" in text
    assert "public check matmul_small failed" in text and "returned shape (5, 3), expected (3, 5)" in text
    dialog.locator("button", has_text="Ok").first.click()


def test_assignment_list_fetches_and_submits(page: Any, course: Path) -> None:
    _menu(page, "Nbgrader", "Assignment List")
    released = page.locator("#released_assignments_list")
    released.locator("button", has_text="Fetch").first.click()
    submit = page.locator("#fetched_assignments_list button", has_text="Submit").first
    submit.wait_for()
    assert (course / "tensors" / "tests" / "matmul.py").exists()  # the self-checks come with the fetched notebook
    assert (course / "tensors" / "tests" / "_support" / "selfcheck.py").exists()  # and the support module they load
    submit.click()
    page.locator("#submitted_assignments_list", has_text="tensors").first.wait_for()
    _shot(page, "jupyterlab-assignment-list")
    inbound = list((course / ".exchange" / "deep-learning-pytorch" / "inbound").iterdir())
    assert len(inbound) == 1 and "+tensors+" in inbound[0].name
    assert (inbound[0] / "tensors.ipynb").exists()


def test_formgrader_shows_the_autograded_scores(page: Any, course: Path) -> None:
    from graders.gradebook import read_scores

    # every submission with an autograded notebook (erin sent no notebook: a gradebook row, nothing to review)
    expected = {r["student"]: r["score"] for r in read_scores(root=course, assignment="tensors")
                if (course / "autograded" / r["student"] / "tensors" / "tensors.ipynb").exists()}
    assert set(expected) == {"alice", "bob", "carol", "dave"}
    _menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe").first
    frame.locator("a", has_text="Manual Grading").first.click()
    frame.locator("a", has_text="tensors").first.click()
    frame.locator("a", has_text="tensors").first.click()  # the assignment, then its notebook
    frame.locator("td", has_text="Submission #1").first.wait_for()
    frame.locator("button", has_text="Show All Names").first.click()
    rows = frame.locator("table tbody tr")
    table = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        name = next(c for c in cells if c in expected)
        table[name] = cells[cells.index(name) + 1]  # "Overall Score", e.g. "8.5 / 10"
    _shot(page, "jupyterlab-formgrader")
    assert set(table) == set(expected)
    for student, score in expected.items():
        assert table[student] == f"{score:g} / 10", (student, table)


def test_formgrader_autograde_and_feedback_buttons_grade_through_graders(page: Any, course: Path) -> None:
    from playwright.sync_api import expect

    from graders.autograded import read_result
    from graders.gradebook import read_scores

    fg = page  # the last test: the lab page leaves for the formgrader's own pages
    fg.goto(f"{page.base_url}/formgrader/manage_submissions/tensors")
    row = fg.locator("tbody tr", has_text="frank")
    expect(row).to_contain_text("needs autograding")
    row.locator(".autograde a").click()
    modal = fg.locator(".modal-dialog")
    expect(modal).to_contain_text("Successfully autograded 'tensors' for student 'frank'", timeout=SLOW)
    _shot(fg, "formgrader-autograde")
    modal.locator("button", has_text="OK").first.click()
    result = read_result(course / "autograded" / "frank" / "tensors")
    bob = read_result(course / "autograded" / "bob" / "tensors")  # graded by `graders autograde`, same notebook
    assert result.sandbox == bob.sandbox and result.score == bob.score < 10
    assert [(c.id, c.status, c.points, c.message) for c in result.checks] == [(c.id, c.status, c.points, c.message) for c in bob.checks]
    scores = {r["student"]: r for r in read_scores(root=course, assignment="tensors")}
    assert scores["frank"]["questions"] == scores["bob"]["questions"]
    expect(row.locator(".score")).to_have_text(f"{result.score:g} / 10")

    row.locator(".generate-feedback a").click()
    expect(modal).to_contain_text("Successfully generated feedback for 'tensors' for student 'frank'", timeout=SLOW)
    modal.locator("button", has_text="OK").first.click()
    # as JupyterLab's file browser opens it (the server serves /files/ only to its own pages: a Referer)
    fg.goto(f"{page.base_url}/files/feedback/frank/tensors/tensors.html", referer=f"{page.base_url}/lab")
    text = " ".join(fg.locator("body").inner_text().split())
    _shot(fg, "formgrader-feedback")
    assert f"Score: {result.score:g} / 10" in text and "a hidden check (" in text
    public = {c.message for c in result.checks if not c.hidden}
    hidden = {c.message for c in result.checks if c.hidden and c.status != "passed"} - public
    assert hidden and not any(" ".join(m.split()) in text for m in hidden)
