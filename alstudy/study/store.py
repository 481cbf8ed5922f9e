"""The results store of one study: `<out>/<study name>/`.

    study.toml          the study file as given      study.json   the resolved study
    manifest.json       versions, git revision, one entry per run (hosts, devices, times)
    tuning.db           Optuna's own storage (SQLite): one Optuna study per cell
    trials/<id>.jsonl   one append-only log per campaign: a header line, then one line per cycle
    results.parquet     one row per (trial, cycle) of every finished campaign

A campaign's log is the one source of truth for it: its records, where each cycle ran, and
the labels chosen after each cycle, from which the campaign resumes (`TrialLog.resume`).
Each line is flushed and synced before the next cycle is reported, whole files are written
atomically (temporary file, then rename), and only the driver writes, so a crash never leaves
a torn file behind that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterator

from alstudy.errors import UsageError
from alstudy.study.plan import CampaignSpec
from alstudy.study.schema import Study


def write_atomic(path: str, data: bytes | str) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    data = data.encode() if isinstance(data, str) else data
    folder = os.path.dirname(path) or "."
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


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """JSON with numpy scalars and arrays turned into plain numbers and lists."""
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        raise TypeError(f"not JSON serializable: {type(o).__name__}")
    return json.dumps(obj, default=default, indent=indent)


@dataclass
class TrialLog:
    """What the log of one campaign says: its spec, its cycles and failures so far."""

    spec: CampaignSpec
    cycles_total: int                          # records of a finished campaign = cycles + 1
    lines: list[dict[str, Any]] = field(default_factory=list)   # cycle lines, in order
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.lines) == self.cycles_total

    @property
    def records(self) -> list[dict[str, Any]]:
        return [line["record"] for line in self.lines]

    @property
    def attempt(self) -> int:
        """The attempt number of the campaign's next start: 0 = first, > 0 = resumed."""
        seen = [int(line["meta"].get("attempt", 0)) for line in self.lines + self.failures]
        return max(seen, default=-1) + 1

    def resume(self) -> list:
        """The cycles done so far (`alstudy.campaign.Cycle`), as run_campaign resumes from them."""
        from alstudy.campaign import Cycle

        return [Cycle(line["record"], line["chosen"]) for line in self.lines]


class Store:
    """Files of one study. Open with `Store.open`; all paths live under `root`."""

    def __init__(self, root: str, fingerprint: str = ""):
        self.root, self.fingerprint = root, fingerprint

    @classmethod
    def open(cls, out: str, study: Study, source_text: str) -> "Store":
        """Create or reopen `<out>/<study.name>`; UsageError if it holds a different study."""
        root = os.path.join(os.path.abspath(os.path.expanduser(out)), study.name)
        store = cls(root, study.fingerprint())
        resolved = study.to_dict() | {"fingerprint": store.fingerprint}
        saved = store.read_json("study.json")
        if saved is not None and saved.get("fingerprint") != resolved["fingerprint"]:
            raise UsageError(
                f"{root} holds results of a different version of study {study.name!r}: "
                "use another --out, or move that folder away to start over")
        if os.path.isdir(store.path("proposals")):
            raise UsageError(f"{root} was written by an alstudy older than 0.2 (trial JSON files and "
                             "proposals/): finish it with that version, or move the folder away")
        os.makedirs(store.path("trials"), exist_ok=True)
        if saved is None:
            write_atomic(store.path("study.toml"), source_text)
        write_atomic(store.path("study.json"), json.dumps(resolved, indent=2))
        return store

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store for one driver; UsageError while another process holds it.

        An flock dies with its process, so a killed driver never leaves a stale lock."""
        import fcntl

        with open(self.path(".lock"), "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"another alstudy run is writing to {self.root}: wait for it to end, "
                                 "or use another --out") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def read_json(self, *parts: str) -> Any:
        try:
            with open(self.path(*parts)) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def write_json(self, data: Any, *parts: str, indent: int | None = None) -> None:
        write_atomic(self.path(*parts), dumps(data, indent=indent))

    @property
    def tuning_url(self) -> str:
        """Optuna storage of the study's tuning (`optuna-dashboard <url>` opens it)."""
        return f"sqlite:///{self.path('tuning.db')}"

    # -- campaign logs ----------------------------------------------------------------------
    def _log_path(self, trial: str) -> str:
        return self.path("trials", f"{trial}.jsonl")

    def append(self, spec: CampaignSpec, line: dict[str, Any], *, cycles_total: int) -> None:
        """Append one line (a cycle, or a failure) to `spec`'s log, creating it with its header;
        the line is on disk when this returns."""
        path = self._log_path(spec.trial)
        if not os.path.exists(path):
            header = {"spec": spec.to_dict(), "cycles_total": cycles_total, "study": self.fingerprint}
            write_atomic(path, dumps(header) + "\n")
        with open(path, "a", encoding="utf-8") as f:
            f.write(dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def record(self, spec: CampaignSpec, cycle: dict[str, Any], meta: dict[str, Any], *, run: int,
               cycles_total: int) -> None:
        """Log one finished cycle (`Cycle.to_dict()`) of `spec`, with where it ran (`meta`:
        worker.placement plus the attempt) and which run of the study produced it."""
        self.append(spec, cycle | {"meta": meta, "run": run}, cycles_total=cycles_total)

    def record_failure(self, spec: CampaignSpec, error: str, *, attempt: int, run: int,
                       cycles_total: int) -> None:
        self.append(spec, {"failed": error, "meta": {"attempt": attempt}, "run": run},
                    cycles_total=cycles_total)

    def resume_point(self, spec: CampaignSpec, *, warm_start: bool, have_weights: bool = False
                     ) -> tuple[list, int]:
        """(cycles to resume `spec` from, its attempt number). A warm-started campaign without
        its last weights cannot resume: its cycles are dropped and it starts over."""
        log = self.log(spec.trial)
        if log is None:
            return [], 0
        if warm_start and not have_weights and log.lines:
            self.reset(spec.trial)
            return [], log.attempt
        return log.resume(), log.attempt

    def reset(self, trial: str) -> None:
        """Drop a campaign's cycles (a warm-started campaign whose weights are lost starts over);
        its failures stay, so its attempts keep counting."""
        log = self.log(trial)
        if log is not None:
            lines = [{"spec": log.spec.to_dict(), "cycles_total": log.cycles_total, "study": self.fingerprint},
                     *log.failures]
            write_atomic(self._log_path(trial), "".join(dumps(x) + "\n" for x in lines))

    def log(self, trial: str) -> TrialLog | None:
        """The log of `trial`, or None when it never started."""
        try:
            with open(self._log_path(trial), encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        header, *lines = [json.loads(x) for x in text.splitlines() if x.strip()]
        log = TrialLog(CampaignSpec.from_dict(header["spec"]), int(header["cycles_total"]))
        for line in lines:
            (log.lines if "record" in line else log.failures).append(line)
        return log

    def logs(self) -> dict[str, TrialLog]:
        """Every campaign's log, by trial id."""
        out = {}
        for name in sorted(os.listdir(self.path("trials"))):
            if name.endswith(".jsonl") and not name.startswith("."):
                log = self.log(name.removesuffix(".jsonl"))
                if log is not None:
                    out[log.spec.trial] = log
        return out
