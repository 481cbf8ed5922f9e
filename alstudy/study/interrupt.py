"""Signals end a run the way Ctrl-C does: the campaigns logged so far are kept, results.parquet
is written, the manifest's run is closed, and one line says how to resume; the exit code is the
shell's convention, 128 + the signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP, 141 a closed output
pipe). SIGTERM is what `kill`, a batch scheduler or `ray job stop` send, SIGHUP a closed
terminal. The final write itself is not interrupted.

A script's background job starts with SIGINT ignored, so SIGTERM and SIGHUP stop the run
themselves rather than by re-sending SIGINT.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any, Iterator, TextIO

STOPS = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []     # the signals that stopped this process's run, in order


def stop_on_signals(*, fresh: bool = False) -> None:
    """From now on SIGTERM and SIGHUP stop the run as Ctrl-C does (call again after a library,
    such as `ray.init`, installed its own handlers). `fresh`: a new run, forget earlier signals."""
    if fresh:
        _received.clear()
    for s in STOPS:
        signal.signal(s, _stop)


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """`stop_on_signals` for one run; the handlers from before are back after it."""
    previous = {s: signal.getsignal(s) for s in STOPS}
    stop_on_signals(fresh=True)
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None:   # None: a handler not set from Python, which cannot be restored
                signal.signal(s, handler)


def _stop(signum: int, frame: Any = None) -> None:
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):   # Python's own raises KeyboardInterrupt; Tune's first stops its trials
        handler(signal.SIGINT, frame)
    else:                   # SIGINT ignored (a background job) or left to the OS
        raise KeyboardInterrupt


def stop(signum: int) -> None:
    """Stop the run as if signal `signum` had arrived (SIGPIPE: the output pipe closed)."""
    _stop(signum, None)


def exit_code() -> int:
    """128 + the signal that stopped the run; 130 (SIGINT) when none was recorded."""
    return 128 + int(_received[0] if _received else signal.SIGINT)


def signal_name() -> str:
    return signal.Signals(_received[0]).name if _received else "SIGINT"


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back while writing what must not be torn; deliver them after."""
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
                for s in (signal.SIGINT, *STOPS)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            if caught[0] != signal.SIGINT:
                _received.append(caught[0])
            raise KeyboardInterrupt


class GuardedOutput:
    """A text stream whose reader may go away (`alstudy run ... | head`): the first BrokenPipeError
    stops the run as SIGPIPE would, later writes go nowhere, and the run still saves its results."""

    def __init__(self, stream: TextIO):
        self.stream, self.broken = stream, False
        self.stopping = True     # a closed pipe stops the run (False once the run is over)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._break()

    def isatty(self) -> bool:
        return not self.broken and self.stream.isatty()

    def _break(self) -> None:
        self.broken = True
        if self.stream is sys.stdout:   # nor does Python's own flush at exit complain
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        if self.stopping:
            stop(signal.SIGPIPE)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
