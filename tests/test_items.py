"""Item analysis in the class report (graders/items.py): pass rate, discrimination, flags, a plot."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from graders.items import item_stats
from graders.report import write_report
from graders.result import CheckResult, SubmissionResult

from .classroom import course_copy
from .test_report import _png_ok


def _class(n: int = 40, seed: int = 3) -> list[SubmissionResult]:
    """Skilled students pass `good` more; `broken` fails the skilled ones; `free` and `impossible` say nothing."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        skill = i / (n - 1)
        outcome = {
            "q::good": rng.random() < 0.1 + 0.8 * skill,
            "q::other": rng.random() < 0.2 + 0.7 * skill,
            "q::third": rng.random() < skill,
            "q::fourth": rng.random() < 0.1 + 0.9 * skill,
            "q::broken": rng.random() < 0.9 - 0.8 * skill,
            "q::free": True,
            "q::impossible": False,
        }
        checks = [CheckResult(cid, "q", "passed" if ok else "failed", 2.0 if ok else 0.0, 2.0, cid == "q::broken", "")
                  for cid, ok in outcome.items()]
        out.append(SubmissionResult("tensors", f"s{i:02d}", "graded", sum(c.points for c in checks), 10.0, "cpu", 1.0, "bubblewrap", checks))
    return out


def test_pass_rates_discrimination_and_flags() -> None:
    items = {it.check_id: it for it in item_stats(_class())}
    assert list(items) == ["q::good", "q::other", "q::third", "q::fourth", "q::broken", "q::free", "q::impossible"]
    assert items["q::free"].pass_rate == 1.0 and items["q::free"].flags == ["everybody passes"]
    assert items["q::impossible"].pass_rate == 0.0 and items["q::impossible"].flags == ["nobody passes"]
    assert items["q::free"].discrimination is None and items["q::impossible"].discrimination is None
    assert items["q::good"].discrimination is not None and items["q::good"].discrimination > 0.1 and not items["q::good"].flags
    assert items["q::broken"].discrimination is not None and items["q::broken"].discrimination < -0.2
    assert items["q::broken"].flags == ["fails stronger submissions more"]
    assert all(it.n == 40 for it in items.values())


def test_the_report_shows_items_and_similar_pairs(tmp_path: Path) -> None:
    root = course_copy(tmp_path / "course", assignments=())
    for r in _class():
        folder = root / "autograded" / r.student / "tensors"
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(__import__("json").dumps(r.to_dict(with_cells=True)))
    out = root / "reports" / "tensors"
    out.mkdir(parents=True)
    (out / "similarity.csv").write_text("student_a,student_b,similarity_a,similarity_b,shared_tokens\ns01,s07,0.97,0.95,640\n")
    page = write_report(assignment="tensors", root=root).read_text()
    assert "<h2>Item analysis</h2>" in page and "fails stronger submissions more" in page
    assert "<td><code>q::broken</code> <span class=sub>(hidden)</span></td>" in page
    assert "nobody passes" in page and "everybody passes" in page
    _png_ok((out / "items.png").read_bytes())
    assert "<h2>Similar submissions</h2>" in page and "<td>s01</td><td>s07</td><td class='n'>97%</td>" in page
    assert "href='similarity.html'" in page


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_classes_have_no_discrimination(n: int) -> None:
    assert all(it.discrimination is None for it in item_stats(_class(n=max(n, 2))[:n]))
