"""Stage `pull request → graded`: grade the assignment notebooks a push or pull request changed.

Used by the student repositories' workflow (graders/templates/grade.yml, see docs/ci.md):

1. find the base (`git.py`): ``--base``, else ``GITHUB_BASE_REF`` (a pull request: ``origin/<ref>`` or ``<ref>``),
   else the merge base with the default branch; on the default branch itself (a push to main) or
   without one, the repository's first commit (in a repository made from the template: the release the student started from);
2. list the notebooks changed between that base and HEAD and keep the ones of this course (`run.py`), recognised
   by their metadata ``graders.assignment`` (or, when a student's tool dropped it, by their path
   ``<a>/<a>.ipynb`` or ``release/<a>/<a>.ipynb``);
3. grade each in the sandbox (`graders.grade.grade_or_record`: a broken notebook becomes an ``error``
   result, never a crash);
4. report: a Markdown summary (``$GITHUB_STEP_SUMMARY`` when set, else stdout) and workflow annotations
   (stdout) (`github.py`), JUnit XML (`junit.py`), one result JSON per notebook (`run.py`); and an exit code:
   0 when grading worked whatever the score, 1 when a notebook could not be graded or a score is below ``min_score``.

Everything a student controls (file names, exception messages) is escaped before it reaches
Markdown, a workflow command or XML: a submission cannot forge an annotation or a summary row.
"""

from .git import changed_files, repo_root, resolve_base
from .github import (
    ANNOTATION_MESSAGE_CHARS,
    MAX_ERROR_ANNOTATIONS,
    SUMMARY_MESSAGE_CHARS,
    code_block,
    escape_data,
    escape_property,
    md_cell,
    render_annotations,
    render_markdown,
    workflow_command,
)
from .junit import write_junit
from .outcome import CiNotebook, CiOutcome
from .run import assignment_of_path, exit_problems, find_assignment_notebooks, json_name, run_ci, write_json

__all__ = [
    "ANNOTATION_MESSAGE_CHARS", "MAX_ERROR_ANNOTATIONS", "SUMMARY_MESSAGE_CHARS",
    "CiNotebook", "CiOutcome",
    "assignment_of_path", "changed_files", "code_block", "escape_data", "escape_property", "exit_problems",
    "find_assignment_notebooks", "json_name", "md_cell", "render_annotations", "render_markdown", "repo_root",
    "resolve_base", "run_ci", "workflow_command", "write_json", "write_junit",
]
