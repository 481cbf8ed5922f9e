"""What produced a result: the package versions, the git revision and the code's id."""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

_PACKAGES = ("alstudy", "torch", "torchvision", "ray", "optuna", "numpy", "pandas", "pyarrow", "scikit-learn",
             "mnist1d")


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
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def code_version(packages: dict[str, str], git: dict[str, Any] | None) -> str:
    """alstudy's version in `packages`, plus "+g<revision>" (and ".dirty") for a git checkout."""
    out = packages.get("alstudy", "unknown")
    if git and git.get("revision"):
        out += f"+g{git['revision'][:12]}" + (".dirty" if git.get("dirty") else "")
    return out


@functools.lru_cache(maxsize=1)
def this_code() -> tuple[dict[str, str], dict[str, Any] | None, str]:
    """(versions, git revision, code_version) of this process, computed once (git is a subprocess)."""
    packages, git = versions(), git_revision()
    return packages, git, code_version(packages, git)


def current_code() -> str:
    """The code_version of the alstudy running in this process."""
    return this_code()[2]
