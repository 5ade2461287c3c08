"""graders: sandboxed, out-of-process grading of PyTorch course notebooks.

The curated public surface; everything else lives in private modules.
Importing this package is cheap: heavy imports (torch, nbgrader) happen where they are used.
"""

from .errors import GradersError
from .result import CellOutcome, CheckResult, SubmissionResult

__all__ = ["GradersError", "CheckResult", "CellOutcome", "SubmissionResult", "__version__"]
__version__ = "0.1.0"
