"""Stage `submitted → autograded` for a whole class: in parallel, resumable, into nbgrader's gradebook.

    submissions.py  what there is to grade (submitted/<student>/<a>/), digests, the checks' version
    executors.py    where tasks run: this process, a local pool of judge processes, a Dask cluster
    run.py          the run: resume, dispatch, record (autograde, autograde_many, AutogradeRun)
    progress.py     the progress bar and the tables printed after a run

The judge process itself is graders/judge/process.py, the folder it fills graders/autograded.py.
"""

from ..judge.process import _JUDGES, Judge, JudgeSettings, grade_task, judge_for, shutdown_judges  # noqa: F401 - _JUDGES: tests
from .progress import print_runs
from .run import AutogradeRun, _slim, autograde, autograde_many  # noqa: F401 - _slim: tests
from .submissions import find_submissions

__all__ = ["AutogradeRun", "Judge", "JudgeSettings", "autograde", "autograde_many", "find_submissions", "grade_task",
           "judge_for", "print_runs", "shutdown_judges"]
