"""How worker processes are started: limits, the plain fallback, bubblewrap, the zygote."""

from .limits import Limits
from .launch import Launcher, WorkerProcess, choose_launcher

__all__ = ["Limits", "Launcher", "WorkerProcess", "choose_launcher"]
