"""The results store of one study: `<out>/<study name>/`.

    study.toml          the study file as given      study.json   the resolved study, its fingerprint
    manifest.json       versions, git revision, one entry per run (hosts, devices, times)
    tuning.db           Optuna's own storage (SQLite): one Optuna study per cell
    trials/<id>.jsonl   one append-only log per campaign: a header line, then one line per cycle
    results.parquet     one row per (trial, cycle) of every finished campaign
    pretrained/<key>.pt SimCLR encoders shared by campaigns, each with <key>.json (facts, cost)
                        (alstudy.study.pretraining)

A campaign's log is the one source of truth for it: its records, where each cycle ran, and
the labels chosen after each cycle, from which the campaign resumes (`TrialLog.resume`).
Each line is flushed and synced before the next cycle is reported, whole files are written
atomically (temporary file, then rename), and only the driver writes, so a crash never leaves
a torn file behind that a rerun would trust. A file damaged or lost all the same (a full disk,
an interrupted copy) is set aside with one warning line and recomputed from what remains: a
log (the campaign resumes or runs again, `Scheduler.from_store`), tuning.db (rebuilt from the
logs), study.json, manifest.json, results.parquet, an encoder (`pretraining.ensure`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Iterator

from alstudy.campaign import Cycle
from alstudy.errors import UsageError
from alstudy.files import dumps, set_aside, sqlite_url, write_atomic, writing
from alstudy.study.plan import CampaignSpec
from alstudy.study.schema import CAP, NOT_HASHED, Study, load_study


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
        return [Cycle(line["record"], line["chosen"]) for line in self.lines]


def _is_header(line: Any, trial: str) -> bool:
    return (isinstance(line, dict) and isinstance(line.get("spec"), dict)
            and line["spec"].get("trial") == trial and isinstance(line.get("cycles_total"), int))


def first_difference(saved: dict[str, Any], resolved: dict[str, Any], prefix: str = "") -> str | None:
    """The first setting (dotted key, in the study's order) that decides results and differs
    between two resolved studies (`Study.to_dict()`), with both values: "evaluation.seeds was
    [100, 101], now [100, 102]"; None when they agree on every one."""
    for key in list(resolved) + [k for k in saved if k not in resolved]:
        name = f"{prefix}{key}"
        a, b = saved.get(key, _ABSENT), resolved.get(key, _ABSENT)
        if name in NOT_HASHED or key in _STORE_KEYS or (name in CAP and _ABSENT not in (a, b)):
            continue   # a cap may change; adaptive or fixed may not
        if isinstance(a, dict) and isinstance(b, dict):
            inner = first_difference(a, b, f"{name}.")
            if inner:
                return inner
        elif a != b:
            return f"{name} was {_show(a)}, now {_show(b)}"
    return None


_ABSENT = object()
_STORE_KEYS = ("fingerprint", "legacy_fingerprint", "later_split_files")   # study.json's own, beside the study


def _show(value: Any) -> str:
    text = "absent" if value is _ABSENT else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Store:
    """Files of one study. Open with `Store.open`; all paths live under `root`."""

    def __init__(self, root: str, fingerprint: str = "", legacy: str | None = None):
        self.root, self.fingerprint = root, fingerprint
        self.legacy = legacy            # also this study's: the fingerprint its older files carry
        self.notes: list[str] = []      # what the store repaired or set aside, for the user
        self.damaged: set[str] = set()  # campaigns whose damaged log a note already names

    @classmethod
    def open(cls, out: str, study: Study, source_text: str) -> "Store":
        """Create or reopen `<out>/<study.name>`; UsageError if it holds a different study.

        A refused study writes nothing: the store is checked (its study.json, or where that is
        damaged or missing its campaign logs) before any file is written. An adaptive
        evaluation's cap is no part of the fingerprint, so a study rerun with another max_seeds
        opens its store; so does a store written while the cap was hashed (`_legacy_fingerprint`).
        The split files of the later seeds, which the cap names, are checked against study.json."""
        root = os.path.join(os.path.abspath(os.path.expanduser(out)), study.name)
        store = cls(root, study.fingerprint())
        resolved = study.to_dict() | {"fingerprint": store.fingerprint}
        if os.path.isdir(store.path("proposals")):
            raise UsageError(f"{root} holds results in an earlier layout (trial JSON files and proposals/) "
                             "that this alstudy cannot resume: finish it with the alstudy that wrote it, "
                             "or move the folder away")
        saved, damage = store._peek_json("study.json")
        store.legacy = store._legacy_fingerprint(study, saved)
        if saved is not None and saved.get("fingerprint") not in (store.fingerprint, store.legacy):
            raise UsageError(store._different(study, saved))
        split_files = (saved or {}).get("later_split_files") or {}
        now = study.later_split_files()
        changed = sorted(k for k in now if k in split_files and split_files[k] != now[k])
        if changed:
            raise UsageError(store._different(study, None, f"the split file {changed[0]} differs from the "
                                                           "one its results used"))
        foreign, theirs = store._foreign_log()
        if foreign is not None:
            if saved is not None:   # a log copied in from elsewhere
                raise UsageError(f"{foreign} belongs to another study (or another version of this one): "
                                 f"move it out of {os.path.dirname(foreign)}; results are never mixed")
            raise UsageError(store._different(study, store._saved_study(theirs)))
        if damage:
            moved = set_aside(store.path("study.json"))
            store.notes.append(f"{store.path('study.json')} was damaged ({damage}); set aside as "
                               f"{os.path.basename(moved)} and written anew")
        os.makedirs(store.path("trials"), exist_ok=True)
        if saved is None and not os.path.exists(store.path("study.toml")):
            write_atomic(store.path("study.toml"), source_text)
        if store.legacy:
            resolved["legacy_fingerprint"] = store.legacy
        if split_files or now:   # files of seeds past a lowered cap stay, to be checked when it rises
            resolved["later_split_files"] = split_files | now
        write_atomic(store.path("study.json"), json.dumps(resolved, indent=2))
        return store

    def _legacy_fingerprint(self, study: Study, saved: dict[str, Any] | None) -> str | None:
        """The fingerprint this store's older files may carry for `study`: that of alstudy before
        an adaptive evaluation's cap left the hash (`Study.legacy_fingerprint`), else None.

        study.json written then carries it, and the logs of its campaigns too: it counts when it
        is the study's with study.json's max_seeds (the one cap those files were written under;
        study.toml's, the file as first given, when study.json is damaged or missing). study.json
        is then written anew with the new fingerprint, and keeps the legacy one (once checked) for
        the logs that still carry it. A truly different study matches neither, and is refused."""
        if not study.evaluation.adaptive:
            return None
        if saved is not None and saved.get("fingerprint") == self.fingerprint:
            return saved.get("legacy_fingerprint")   # checked when it was written
        if saved is None:
            cap = self._first_cap()
        else:
            e = saved.get("evaluation")
            cap = e.get("max_seeds") if isinstance(e, dict) else None
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < len(study.evaluation.seeds):
            return None
        legacy = study.legacy_fingerprint(cap)
        if saved is not None and saved.get("fingerprint") != legacy:
            return None
        return legacy

    def _first_cap(self) -> int | None:
        """evaluation.max_seeds of the store's study.toml (the study file as first given), or None."""
        try:
            with open(self.path("study.toml"), "rb") as f:
                return tomllib.loads(f.read().decode("utf-8-sig"))["evaluation"]["max_seeds"]
        except Exception:  # noqa: BLE001 - missing, damaged, no cap: no legacy fingerprint then
            return None

    def listed_trials(self) -> set[str]:
        """Trials with rows in results.parquet (campaigns an earlier run finished); a damaged file
        is set aside with a note (the run writes it anew from the logs) and lists none."""
        import pyarrow   # pyarrow: read only when a study resumes, not in every Ray worker
        import pyarrow.parquet as pq

        path = self.path("results.parquet")
        try:
            return set(pq.read_table(path, columns=["trial"]).column("trial").to_pylist())
        except FileNotFoundError:
            return set()
        except (pyarrow.ArrowException, OSError, KeyError) as err:
            moved = set_aside(path)
            self.notes.append(f"{path} was damaged ({type(err).__name__}); set aside as "
                              f"{os.path.basename(moved)} and written anew from the campaign logs")
            return set()

    def _peek_json(self, *parts: str) -> tuple[Any, str]:
        """(the JSON file at `parts` or None, what is wrong with it or ""), changing nothing."""
        try:
            with open(self.path(*parts), encoding="utf-8") as f:
                return json.load(f), ""
        except FileNotFoundError:
            return None, ""
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            return None, f"{type(err).__name__}: {err}"

    def _foreign_log(self) -> tuple[str | None, str]:
        """(the first campaign log whose header names another study fingerprint, that
        fingerprint), or (None, "")."""
        folder = self.path("trials")
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if not name.endswith(".jsonl") or name.startswith("."):
                continue
            with open(os.path.join(folder, name), "rb") as f:
                first = f.readline()
            try:
                header = json.loads(first)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue   # a damaged log: set aside when it is read
            if isinstance(header, dict) and "study" in header and not self.owns(header["study"]):
                return os.path.join(folder, name), str(header["study"])
        return None, ""

    def _saved_study(self, fingerprint: str) -> dict[str, Any] | None:
        """The resolved study of the store's study.toml (the file as first given) when it is the
        version with `fingerprint` (that of the logs), else None."""
        try:
            saved = load_study(self.path("study.toml"))
            cap = saved.evaluation.max_seeds
            mine = (saved.fingerprint(), saved.legacy_fingerprint(cap) if cap is not None else None)
            return saved.to_dict() if fingerprint in mine else None
        except Exception:  # noqa: BLE001 - missing, damaged, no longer valid: no comparison then
            return None

    def owns(self, fingerprint: Any) -> bool:
        """Whether a file carrying `fingerprint` (a log header's "study") is this study's."""
        return fingerprint == self.fingerprint or (self.legacy is not None and fingerprint == self.legacy)

    def _different(self, study: Study, saved: dict[str, Any] | None, what: str = "") -> str:
        """The refusal of a study whose results store holds another version of it, naming the
        first setting that differs when the saved study says (or `what` differs)."""
        key = what or (first_difference(saved, study.to_dict()) if saved is not None else None)
        what = (key if key else
                "the contents of its split or weights files differ" if saved is not None else
                "its campaign logs were written by another version (study.json, which would say what "
                "changed, is damaged or missing)")
        return (f"{self.root} holds results of a different version of study {study.name!r} ({what}): "
                "use another --out, or move that folder away to start over")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store for one driver; UsageError while another process holds it.

        An flock dies with its process, so a killed driver never leaves a stale lock."""
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
        """The JSON file at `parts`, or None when absent. A damaged file (cut short by a full
        disk or an interrupted copy) is set aside with a note, and read as absent."""
        path = self.path(*parts)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            moved = set_aside(path)
            self.notes.append(f"{path} was damaged ({type(err).__name__}: {err}); set aside as "
                              f"{os.path.basename(moved)} and started anew")
            return None

    def write_json(self, data: Any, *parts: str, indent: int | None = None) -> None:
        write_atomic(self.path(*parts), dumps(data, indent=indent))

    @property
    def tuning_url(self) -> str:
        """Optuna storage of the study's tuning (`optuna-dashboard <url>` opens it)."""
        return sqlite_url(self.path("tuning.db"))

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
        with writing(path), open(path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():          # a log cut just before its last newline: never glue two lines
                f.seek(f.tell() - 1)
                lead = b"" if f.read(1) == b"\n" else b"\n"
            else:
                lead = b""
            f.write(lead + (dumps(line) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())

    def record(self, spec: CampaignSpec, cycle: dict[str, Any], meta: dict[str, Any], *, run: int,
               cycles_total: int) -> None:
        """Log one finished cycle (`Cycle.to_dict()`) of `spec`, with where it ran (`meta`:
        placement.placement plus the attempt) and which run of the study produced it."""
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
        """The log of `trial`, or None when it never started.

        A log that belongs to another study (copied in) is refused by name. A damaged log (a
        line cut short or garbled) is set aside whole, and its good lines up to the damage are
        kept as the campaign's log, from which it resumes; a note says so."""
        path = self._log_path(trial)
        try:
            with open(path, "rb") as f:
                raw = f.read().split(b"\n")
        except FileNotFoundError:
            return None
        parsed, damage = [], None
        for number, text in enumerate(raw[:-1] if raw[-1] == b"" else raw, 1):
            try:
                parsed.append(json.loads(text))
            except (json.JSONDecodeError, UnicodeDecodeError):
                damage = f"line {number} is cut short or garbled"
                break
        if not parsed and not damage:
            damage = "it is empty"
        elif not damage:
            damage = self._check_log(trial, parsed, path)
        if damage is None:
            return self._as_log(parsed)
        moved = set_aside(path)
        good = parsed if parsed and _is_header(parsed[0], trial) else []
        kept = [x for x in good[1:] if "record" in x]
        if good:
            write_atomic(path, "".join(dumps(x) + "\n" for x in good))
        self.damaged.add(trial)
        again = (f"resumes after the {len(kept)} good cycle(s) before it" if kept
                 else "runs again from its first cycle")
        self.notes.append(f"{path}: {damage}; set aside as {os.path.basename(moved)}, the campaign {again}")
        return self._as_log(good) if good else None

    def _check_log(self, trial: str, parsed: list[dict[str, Any]], path: str) -> str | None:
        """What is wrong with a parsed log (None: nothing); UsageError for a foreign one."""
        header = parsed[0]
        if not _is_header(header, trial):
            return "its first line is not the header of this campaign"
        if not self.owns(header.get("study")):
            raise UsageError(f"{path} belongs to another study (or another version of this one): "
                             f"move it out of {os.path.dirname(path)}; results are never mixed")
        cycles = [x["record"].get("cycle") for x in parsed[1:] if isinstance(x.get("record"), dict)]
        if cycles != list(range(len(cycles))) or len(cycles) > header["cycles_total"]:
            return f"its cycles are {cycles[:8]}, not 0, 1, 2 ... in order"
        if any(not (isinstance(x.get("meta"), dict) and ("record" in x or "failed" in x)) for x in parsed[1:]):
            return "a line is neither a cycle nor a failure"
        return None

    @staticmethod
    def _as_log(parsed: list[dict[str, Any]]) -> TrialLog:
        header, *lines = parsed
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
