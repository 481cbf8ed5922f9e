"""Progress of a running study: campaigns done / running / total per phase, the best objective
of every cell, elapsed time and an estimate of the time left.

On a terminal the table is redrawn in place; otherwise a single line is printed at most every
`interval` seconds (and on notes), so logs of cluster jobs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, Sequence, TextIO

from alstudy.metrics import diverged, divergence_line

from alstudy.study.plan import paradigm_keys
from alstudy.study.scheduler import Scheduler, cell_name


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Renders `scheduler`'s state; call `update()` often (it throttles itself)."""

    def __init__(self, scheduler: Scheduler, *, stream: TextIO | None = None, live: bool = False,
                 interval: float = 30.0):
        self.scheduler, self.live, self.interval = scheduler, live, interval
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self._done_at_start = sum(d for d, _, _ in scheduler.counts().values())
        self._last = 0.0
        self._drawn = 0
        self._last_line = ""
        self._announced = set(scheduler.stopped)   # cells whose stop was said (or was before this run)

    def eta(self) -> float | None:
        counts = self.scheduler.counts()
        done = sum(d for d, _, _ in counts.values())
        left = sum(t for _, _, t in counts.values()) - done
        finished_here = done - self._done_at_start
        if left == 0:
            return 0.0
        if finished_here <= 0:
            return None
        return (time.monotonic() - self.started) / finished_here * left

    def line(self) -> str:
        counts = self.scheduler.counts()
        parts = [f"{phase} {d}/{t}" + (f" ({r} running)" if r else "") for phase, (d, r, t) in counts.items()]
        eta = self.eta()
        left = "?" if eta is None else clock(eta)
        return f"[{clock(time.monotonic() - self.started)}] {', '.join(parts)}; left ~{left}"

    def table(self) -> list[str]:
        study = self.scheduler.study
        lines = [self.line(), "best validation AUBC per cell (tuning trials finished):"]
        width = max(len(s) for s in study.strategies + ("dataset",))
        names = [d if p is None else f"{d}/{p}" for d in study.datasets for p in paradigm_keys(study)]
        header = "  " + " " * max(map(len, names)) + " " + " ".join(
            s.rjust(max(width, 12)) for s in study.strategies)
        lines.append(header)
        rows = [(d, p) for d in study.datasets for p in paradigm_keys(study)]
        label = {row: row[0] if row[1] is None else f"{row[0]}/{row[1]}" for row in rows}
        for dataset, paradigm in rows:
            cells = []
            for strategy in study.strategies:
                best = self.scheduler.best(dataset, strategy, paradigm)
                n = self.scheduler.finished_trials(dataset, strategy, paradigm)
                text = "-" if best is None else f"{best[1]:.3f} ({n}/{study.tuning.trials})"
                cells.append(text.rjust(max(width, 12)))
            lines.append(f"  {label[(dataset, paradigm)].ljust(max(map(len, label.values())))} {' '.join(cells)}")
        return lines

    def update(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.live:
            if force or now - self._last >= 1.0:
                self._redraw(self.table())
                self._last = now
            return
        line = self.line()
        if force or (now - self._last >= self.interval and line != self._last_line):
            self._print(line)
            self._last, self._last_line = now, line

    def note(self, text: str) -> None:
        """A message that stays in the output (a cell finished tuning, a trial failed ...)."""
        if self.live:
            self._clear()
            self._print(text)
            self._redraw(self.table())
        else:
            self._print(f"[{clock(time.monotonic() - self.started)}] {text}")

    def finished(self, dataset: str, strategy: str, phase: str, *, paradigm: str | None = None,
                 trial: str = "", records: Sequence[Mapping[str, Any]] = ()) -> None:
        """A campaign (`trial`, its `records`) of the cell ended: note when its model diverged and
        when that completed the cell's tuning."""
        first = next((r for r in records if diverged(r)), None)
        if first is not None:
            self.note(f"warning: {trial}: {divergence_line(first)}")
        study = self.scheduler.study
        if phase == "tune" and self.scheduler.finished_trials(dataset, strategy, paradigm) == study.tuning.trials:
            number, value = self.scheduler.best(dataset, strategy, paradigm)
            chosen = "the defaults" if number == 0 else "a challenger clear of the noise"
            self.note(f"{cell_name(dataset, strategy, paradigm)}: tuning done, evaluating Optuna trial {number} "
                      f"({chosen}), validation AUBC {value:.4f}")
        self._announce_stops()
        self.update()

    def _announce_stops(self) -> None:
        """One line for each cell whose adaptive evaluation has just stopped: why, and its seeds."""
        for cell in [c for c in self.scheduler.stopped if c not in self._announced]:
            self._announced.add(cell)
            verdict, seeds = self.scheduler.verdicts[cell]
            why = (f"decided ({verdict} than tuned random)" if verdict in ("better", "worse") else
                   f"decided ({verdict} to tuned random)" if verdict == "equivalent" else
                   "at max_seeds, still undecided")
            self.note(f"{cell_name(*cell)}: evaluation stopped after {seeds} seeds, {why}")

    def close(self) -> None:
        if self.live:
            self._redraw(self.table())
            self._drawn = 0
        else:
            self.update(force=True)

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _redraw(self, lines: list[str]) -> None:
        self._clear()
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)
