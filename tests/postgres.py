"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, a new cluster in a
temporary folder, on a free port of 127.0.0.1, stopped and removed at the end.

As root (CI, this machine) the server runs as the `postgres` user (or `nobody`), since PostgreSQL
refuses to run as root. Where the binaries are missing, `start()` raises `Unavailable` with what to
install (the tests then skip with that message).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class Unavailable(Exception):
    pass


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("PostgreSQL is not installed here (no /usr/lib/postgresql/*/bin/initdb): "
                      "apt-get install -y postgresql (make setup does it when it can)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.user: str | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                break
            else:
                raise Unavailable("running as root and no `postgres` or `nobody` user to run PostgreSQL as")
        self.base = Path(tempfile.mkdtemp(prefix="graders-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.base)
        if proc.returncode != 0:
            raise Unavailable(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def start(self) -> PostgresServer:
        if self.user is not None:
            u = pwd.getpwnam(self.user)
            os.chown(self.base, u.pw_uid, u.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "graders", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.base} -c fsync=off -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.base / "server.log"), "-w", "-t", "60", "start")
        self.started = True
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "graders", "gradebook")
        return self

    def url(self, database: str = "gradebook") -> str:
        return f"postgresql://graders@127.0.0.1:{self.port}/{database}"

    def createdb(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "graders", name)
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
