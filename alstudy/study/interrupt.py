"""SIGTERM (what `kill`, a batch scheduler or `ray job stop` send) ends a run the way Ctrl-C
does: the campaigns logged so far are kept, results.parquet is written, and one line says how
to resume. The final write itself is not interrupted."""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator


def sigterm_as_sigint() -> None:
    """From now on, SIGTERM raises SIGINT in this process (call again after a library, such as
    `ray.init`, installed its own SIGTERM handler)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while writing what must not be torn; deliver them after."""
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            raise KeyboardInterrupt
