"""`graders similarity A`: which submissions of an assignment share their answers, for a person to review.

The answer cells of every submission (nbgrader solution cells: what students write) are compared by
copydetect (winnowed k-gram fingerprints over normalised tokens, the method of Stanford's MOSS), with
the starting code of the release notebook as boilerplate, so code every student was given does not
count. Pairs above the threshold go into

    reports/<a>/similarity.html   copydetect's report: each pair side by side, the shared code highlighted
    reports/<a>/similarity.csv    student_a, student_b, similarity_a, similarity_b, shared_tokens (highest first)

A similarity is the fraction of one submission's fingerprints found in the other's. It is evidence to
look at, never a verdict: short exercises have few ways to be written, so honest answers may overlap.
"""

from __future__ import annotations

import csv
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from .course import course_root, get_assignment, path as stage_path
from .errors import GradersError

THRESHOLD = 0.8
NOISE_T = 15  # k-grams shorter than this are noise (answer cells are short: copydetect's default is 25)
GUARANTEE_T = 20


@dataclass(frozen=True)
class SimilarPair:
    student_a: str
    student_b: str
    similarity_a: float  # share of a's answer code found in b's
    similarity_b: float
    shared_tokens: int


@dataclass
class SimilarityReport:
    assignment: str
    students: int
    pairs: list[SimilarPair]
    html: Path | None
    csv: Path


def answer_code(path: Path) -> str:
    """The code of a notebook's answer cells (nbgrader solution cells), or of all code cells if it has none."""
    from .notebook import read_notebook, source_of

    try:
        cells = read_notebook(path).cells
    except GradersError:
        return ""
    code = [c for c in cells if c.get("cell_type") == "code"]
    answers = [c for c in code if (c.get("metadata", {}).get("nbgrader") or {}).get("solution")]
    return "\n\n".join(source_of(c) for c in (answers or code)) + "\n"


def similarity(*, assignment: str, root: Path | None = None, threshold: float = THRESHOLD) -> SimilarityReport:
    """Compare the answer cells of every submission of `assignment`; write the HTML and CSV reports."""
    import matplotlib

    matplotlib.use("Agg")
    from copydetect import CopyDetector

    from .autograde import find_submissions

    root = root or course_root()
    spec = get_assignment(assignment)
    out = stage_path("reports", assignment=assignment, root=root)
    out.mkdir(parents=True, exist_ok=True)
    subs = [s for s in find_submissions(root=root, assignment=assignment) if s.notebook is not None]
    with tempfile.TemporaryDirectory(prefix="graders-similarity-") as tmp:
        answers, boiler = Path(tmp) / "answers", Path(tmp) / "boilerplate"
        answers.mkdir()
        boiler.mkdir()
        names: dict[str, str] = {}
        for i, sub in enumerate(sorted(subs, key=lambda s: s.student)):
            f = answers / f"s{i:04d}.py"
            f.write_text(answer_code(sub.notebook), encoding="utf-8")  # type: ignore[arg-type]
            names[str(f)] = sub.student
        release = spec.release_notebook(root)
        (boiler / "release.py").write_text(answer_code(release) if release.exists() else "\n", encoding="utf-8")
        html = out / "similarity.html"
        pairs: list[SimilarPair] = []
        if len(names) >= 2:
            detector = CopyDetector(test_dirs=[str(answers)], ref_dirs=[str(answers)], boilerplate_dirs=[str(boiler)],
                                    extensions=["py"], noise_t=NOISE_T, guarantee_t=GUARANTEE_T, display_t=threshold,
                                    autoopen=False, silent=True, out_file=str(html))
            detector.run()
            seen: set[frozenset[str]] = set()
            for sim_a, sim_b, fa, fb, _ha, _hb, tokens in detector.get_copied_code_list():
                a, b = names.get(str(fa), str(fa)), names.get(str(fb), str(fb))
                if a == b or frozenset((a, b)) in seen:
                    continue
                seen.add(frozenset((a, b)))
                pairs.append(SimilarPair(a, b, round(float(sim_a), 3), round(float(sim_b), 3), int(tokens)))
            with warnings.catch_warnings():  # copydetect reads its template through a deprecated importlib API
                warnings.simplefilter("ignore", DeprecationWarning)
                page = detector.generate_html_report(output_mode="return") or ""
            for path, student in sorted(names.items(), key=lambda kv: -len(kv[0])):  # students, not temporary files
                page = page.replace(path, student)
            page = page.replace(str(answers), "answer cells").replace(str(boiler), "the release's starting code")
            html.write_text(page, encoding="utf-8")
        else:
            html.write_text(f"<p>{len(names)} submission(s) of {assignment}: nothing to compare.</p>\n", encoding="utf-8")
    pairs.sort(key=lambda p: -max(p.similarity_a, p.similarity_b))
    csv_path = out / "similarity.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student_a", "student_b", "similarity_a", "similarity_b", "shared_tokens"])
        for p in pairs:
            w.writerow([p.student_a, p.student_b, p.similarity_a, p.similarity_b, p.shared_tokens])
    return SimilarityReport(assignment, len(names), pairs, html, csv_path)
