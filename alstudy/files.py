"""Files written so a crash never leaves a torn one: atomic writes, set-aside of damaged files,
JSON that numpy values survive, one line (not a traceback) when the disk says no, and URLs of
files built so that no character of a path (`?`, `%`, `#`) changes which file they name."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from typing import Any, Iterator

from alstudy.errors import UsageError


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """A full disk, a read-only folder or a missing permission while writing `path` becomes one
    UsageError line naming the path (what was written before stays valid: rerun to resume)."""
    try:
        yield
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
            raise UsageError(f"cannot write {path}: {os.strerror(err.errno).lower()}; make room or "
                             "fix the folder, then rerun the same command to resume") from None
        raise


def write_atomic(path: str, data: bytes | str) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    data = data.encode() if isinstance(data, str) else data
    folder = os.path.dirname(path) or "."
    with writing(path):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def set_aside(path: str) -> str:
    """Rename a damaged file to `<path>.damaged[-N]` (never overwriting one); the new name."""
    target, n = f"{path}.damaged", 1
    while os.path.exists(target):
        n += 1
        target = f"{path}.damaged-{n}"
    os.replace(path, target)
    return target


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """JSON with numpy scalars and arrays turned into plain numbers and lists."""
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        raise TypeError(f"not JSON serializable: {type(o).__name__}")
    return json.dumps(obj, default=default, indent=indent)


def sqlite_url(path: str) -> str:
    """The SQLAlchemy URL (Optuna's and MLflow's storages) of the SQLite file at `path`.

    Characters that mean something in a URL are escaped: `sqlite:///` + a raw path would read
    `/x/mix?a/tuning.db` as the file `/x/mix` with a query, and `%41` as `A`."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=os.path.abspath(path)).render_as_string(hide_password=False)


def file_uri(path: str) -> str:
    """The file:// URI of `path` (percent-encoded, as pyarrow and MLflow read it)."""
    import pathlib

    return pathlib.Path(os.path.abspath(path)).as_uri()
