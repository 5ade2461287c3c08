"""nbgrader configuration of the course: the course root is this folder."""

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = __import__("os").path.dirname(__import__("os").path.abspath(__file__))
c.CourseDirectory.course_id = "deep-learning-pytorch"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# generate_assignment must not need a gradebook entry per student
c.GenerateAssignment.create_assignment = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# nbgrader's exchange, used by JupyterLab's Assignment List (release_assignment → fetch → submit → collect):
# a folder of the course by default; on a JupyterHub point it at a directory every user can reach,
# e.g. /srv/nbgrader/exchange. (Without it the Assignment List looks in a system folder that does not exist.)
c.Exchange.root = __import__("os").path.join(c.CourseDirectory.root, ".exchange")

# Grading happens only in graders' sandbox, whichever button or command is used (graders/nbgrader_routes.py):
# `nbgrader autograde` and the formgrader's Autograde button run `graders autograde A --student=S --force` for each
# submission (our per-grade-cell scores in this gradebook, autograded/S/A/ as graders writes it);
# `nbgrader generate_feedback` and Generate Feedback write `graders feedback`'s pages (hidden checks never shown);
# nbgrader's own Execute preprocessor refuses student submissions (`nbgrader validate submitted/...` names the
# graders command to use). Plain strings: where graders cannot be imported these steps fail, never run student code.
c.Autograde.exporter_class = "graders.nbgrader_routes.AutogradeExporter"
c.Autograde.sanitize_preprocessors = []
c.Autograde.autograde_preprocessors = []
c.Autograde.pre_convert_hook = "graders.nbgrader_routes.register_assignment_hook"
c.GenerateFeedback.exporter_class = "graders.nbgrader_routes.FeedbackExporter"
c.GenerateFeedback.preprocessors = []
# graders' own files in autograded/ are not copied into feedback/ (nor a student's file of that name into autograded/)
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "result.json", ".gradebook"]
if "nbgrader.preprocessors.execute" in __import__("sys").modules:  # nbgrader itself is reading this file
    try:
        from graders.nbgrader_routes import guard_execute
    except ImportError:  # no graders in this environment: the routes above fail safe, nothing to guard with
        pass
    else:
        guard_execute()
