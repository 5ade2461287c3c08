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
