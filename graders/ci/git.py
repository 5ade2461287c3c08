"""The git side of `graders ci`: the checkout's root, the base HEAD is compared with, the files that changed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from ..errors import GradersError


def _git(repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise GradersError("git is not installed; graders ci needs git to find the changed notebooks") from None
    except subprocess.TimeoutExpired:
        raise GradersError(f"git {' '.join(args)} did not finish within 120 s in {repo}") from None
    out = os.fsdecode(proc.stdout)
    if proc.returncode not in ok_codes:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        raise GradersError(f"git {' '.join(args)} failed in {repo}: {err[-1] if err else f'exit {proc.returncode}'}")
    return proc.returncode, out


def _commit_of(repo: Path, ref: str) -> str | None:
    code, out = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok_codes=(0, 1, 128))
    return out.strip() if code == 0 and out.strip() else None


def _merge_base(repo: Path, a: str, b: str) -> str | None:
    code, out = _git(repo, "merge-base", a, b, ok_codes=(0, 1))
    return out.strip() if code == 0 and out.strip() else None


def _root_commit(repo: Path) -> str:
    _code, out = _git(repo, "rev-list", "--max-parents=0", "HEAD")
    roots = out.split()
    if not roots:
        raise GradersError(f"{repo}: HEAD has no first commit; commit the notebooks before running graders ci")
    return roots[-1]


def repo_root(repo: str | Path) -> Path:
    p = Path(repo)
    if not p.exists():
        raise GradersError(f"{p}: no such folder; run graders ci in the student's repository")
    code, out = _git(p, "rev-parse", "--show-toplevel", ok_codes=(0, 128))
    if code != 0 or not out.strip():
        raise GradersError(f"{p.resolve()}: not a git checkout; run graders ci in the student's repository "
                           f"(in GitHub Actions: after actions/checkout with fetch-depth: 0)")
    return Path(out.strip())


def _default_branch_candidates(repo: Path) -> list[str]:
    names: list[str] = []
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event:
        try:
            branch = json.loads(Path(event).read_text(encoding="utf-8")).get("repository", {}).get("default_branch")
        except (OSError, ValueError, AttributeError):
            branch = None
        if isinstance(branch, str) and branch:
            names += [f"origin/{branch}", branch]
    code, out = _git(repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", ok_codes=(0, 1, 128))
    if code == 0 and out.strip().startswith("refs/remotes/"):
        names.append(out.strip().removeprefix("refs/remotes/"))
    names += ["origin/main", "origin/master", "main", "master"]
    return list(dict.fromkeys(names))


def resolve_base(repo: Path, base: str | None = None) -> tuple[str, str, list[str]]:
    """(label, commit, notes): the commit HEAD is compared with, and how it was chosen."""
    head = _commit_of(repo, "HEAD")
    if head is None:
        raise GradersError(f"{repo}: the repository has no commit yet; commit the notebooks first")
    notes: list[str] = []
    code, out = _git(repo, "rev-parse", "--is-shallow-repository", ok_codes=(0, 128))
    if code == 0 and out.strip() == "true":
        notes.append("this checkout is shallow: the base may be missing; use actions/checkout with fetch-depth: 0")

    def against(label: str, commit: str) -> tuple[str, str, list[str]]:
        mb = _merge_base(repo, commit, head)
        if mb is None:
            notes.append(f"{label} and HEAD share no history; comparing with {label} itself")
            return label, commit, notes
        return label, mb, notes

    if base:
        commit = _commit_of(repo, base)
        if commit is None:
            raise GradersError(f"--base {base}: no such branch, tag or commit in {repo}; fetch it first "
                               f"(git fetch origin {base}) or check out with fetch-depth: 0")
        return against(base, commit)

    base_ref = os.environ.get("GITHUB_BASE_REF", "").strip()
    if base_ref:  # a pull request
        for cand in (f"origin/{base_ref}", base_ref):
            commit = _commit_of(repo, cand)
            if commit is not None:
                return against(cand, commit)
        raise GradersError(f"GITHUB_BASE_REF={base_ref}: neither origin/{base_ref} nor {base_ref} is in this checkout; "
                           f"use actions/checkout with fetch-depth: 0, or pass --base")

    for cand in _default_branch_candidates(repo):
        commit = _commit_of(repo, cand)
        if commit is None:
            continue
        mb = _merge_base(repo, commit, head)
        if mb is not None and mb != head:
            return cand, mb, notes
        root = _root_commit(repo)
        notes.append(f"HEAD is on (or behind) the default branch {cand}: grading every notebook changed since the first commit "
                     f"{root[:10]} (the release the repository started from)")
        return "first commit", root, notes
    root = _root_commit(repo)
    notes.append(f"no default branch (main, master) found: grading every notebook changed since the first commit {root[:10]}")
    return "first commit", root, notes


def changed_files(repo: Path, base_commit: str) -> list[str]:
    """Paths (relative to the root) added or modified between `base_commit` and HEAD; deletions left out."""
    _code, out = _git(repo, "-c", "core.quotepath=off", "diff", "--no-ext-diff", "--no-renames", "--name-only", "-z",
                      "--diff-filter=d", base_commit, "HEAD")
    return sorted(p for p in out.split("\0") if p)
