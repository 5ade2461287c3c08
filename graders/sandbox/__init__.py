"""The judge's side of the sandbox: which sandbox (policy), how a worker process starts and ends
(process, cgroup), and the launchers: plain, bubblewrap, uid, the zygote's client. What runs inside
the sandbox is graders/worker/ (the zygote's fork server and the isolation primitives included)."""

from .limits import Limits
from .policy import choose_launcher
from .process import Launcher, WorkerProcess

__all__ = ["Limits", "Launcher", "WorkerProcess", "choose_launcher"]
