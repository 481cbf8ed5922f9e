"""What produced a result: the package versions, the git revision and the code's id.

The code's id names alstudy by what it is: its version and a hash of its own source files (every
.py file of the installed package, by path and bytes). Any edit to them changes the id, an edit
elsewhere (a study file in the same checkout, a notebook) does not, and two copies of the same
source share it wherever they are installed. The git revision is kept beside it, for the reader.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

_PACKAGES = ("alstudy", "torch", "torchvision", "ray", "optuna", "numpy", "pandas", "pyarrow", "scikit-learn",
             "mnist1d")
_ROOT = os.path.dirname(os.path.abspath(__file__))   # the alstudy package folder


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> dict[str, Any] | None:
    """Revision of the git checkout holding alstudy, and whether it had local changes."""
    try:
        rev = subprocess.run(["git", "-C", _ROOT, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", _ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def source_digests(root: str = _ROOT) -> dict[str, str]:
    """{path of each .py file under `root`, relative to its parent and with '/': sha256 of its
    bytes (12 hex digits)}, sorted by path."""
    out = {}
    parent = os.path.dirname(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()[:12]
                out[os.path.relpath(path, parent).replace(os.sep, "/")] = digest
    return dict(sorted(out.items()))


def code_id(version: str, sources: dict[str, str]) -> str:
    """`<version>+src.<12 hex digits>`: the version and a hash of the source files' digests."""
    text = "".join(f"{path}\0{digest}\n" for path, digest in sorted(sources.items()))
    return f"{version}+src.{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def code_version(packages: dict[str, str], git: dict[str, Any] | None) -> str:
    """The code id of runs recorded before ids hashed the source: alstudy's version in
    `packages`, plus "+g<revision>" (and ".dirty") for a git checkout."""
    out = packages.get("alstudy", "unknown")
    if git and git.get("revision"):
        out += f"+g{git['revision'][:12]}" + (".dirty" if git.get("dirty") else "")
    return out


@functools.lru_cache(maxsize=1)
def current_code() -> str:
    """The code id of the alstudy running in this process (its sources are hashed once)."""
    try:
        version = metadata.version("alstudy")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return code_id(version, this_sources())


@functools.lru_cache(maxsize=1)
def this_sources() -> dict[str, str]:
    """`source_digests()` of the alstudy running in this process, computed once."""
    return source_digests()


@functools.lru_cache(maxsize=1)
def this_code() -> tuple[dict[str, str], dict[str, Any] | None, str]:
    """(versions, git revision, code id) of this process, computed once (git is a subprocess)."""
    return versions(), git_revision(), current_code()


def changed_sources(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths whose digest differs between two `source_digests()` (edited, added or removed)."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
