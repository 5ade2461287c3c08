"""JUnit XML of `graders ci`: one <testsuite> per notebook, one <testcase> per check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .outcome import CiOutcome, _pts


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(s: object) -> str:
    return _XML_BAD.sub("\ufffd", str(s))


def write_junit(outcome: CiOutcome, path: Path, *, redact_hidden: bool = False) -> Path:
    """JUnit XML: one <testsuite> per notebook, one <testcase> per check."""
    suites = ET.Element("testsuites", name="graders ci")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for nb in outcome.notebooks:
        r = nb.result
        assert r is not None
        suite = ET.SubElement(suites, "testsuite", name=_x(nb.path))
        props = ET.SubElement(suite, "properties")
        for k, v in (("assignment", r.assignment), ("status", r.status), ("score", _pts(r.score)),
                     ("max_score", _pts(r.max_score)), ("sandbox", r.sandbox), ("device", r.device)):
            ET.SubElement(props, "property", name=k, value=_x(v))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        if r.status == "error":
            case = ET.SubElement(suite, "testcase", classname=_x(r.assignment), name="grading", file=_x(nb.path), time="0")
            err = ET.SubElement(case, "error", message=_x(r.message or "not graded"), type="not graded")
            err.text = _x(r.message or "")
            counts["tests"] += 1
            counts["errors"] += 1
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=_x(f"{r.assignment}.{c.grade_id}"), name=_x(c.id),
                                 file=_x(nb.path), time=f"{c.duration_s:.3f}")
            cprops = ET.SubElement(case, "properties")
            for k, v in (("points", _pts(c.points)), ("max_points", _pts(c.max_points)), ("hidden", str(c.hidden).lower()),
                         *((f"metric.{mk}", mv) for mk, mv in c.metrics.items())):
                ET.SubElement(cprops, "property", name=_x(k), value=_x(v))
            counts["tests"] += 1
            if c.status == "passed":
                continue
            msg = "a hidden check failed" if (redact_hidden and c.hidden) else (c.message or c.status)
            tag = "failure" if c.status == "failed" else "error"
            counts["failures" if tag == "failure" else "errors"] += 1
            el = ET.SubElement(case, tag, message=_x(msg), type=c.status)
            el.text = _x(f"{c.id}: {c.status}, {_pts(c.points)}/{_pts(c.max_points)} points\n{msg}")
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("skipped", "0")
        suite.set("time", f"{r.duration_s:.3f}")
        total_time += r.duration_s
    for k, v in totals.items():
        suites.set(k, str(v))
    suites.set("time", f"{total_time:.3f}")
    ET.indent(suites)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path
