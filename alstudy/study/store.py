"""The results store of one study: `<out>/<study name>/`.

    study.toml        the study file as given        study.json   the resolved study
    manifest.json     versions, git revision, one entry per run (hosts, devices, times)
    proposals/        Optuna proposals per cell (params by trial number), saved before they run
    trials/<id>.json  one file per campaign, rewritten after every cycle (the resume state)
    results.parquet   one row per (trial, cycle) of every finished campaign

Only the driver writes, and every write is atomic (temporary file, then rename), so a crash
never leaves a torn file and a rerun continues from what is on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
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


def dumps(obj: Any) -> str:
    """JSON with numpy scalars and arrays turned into plain numbers and lists."""
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        raise TypeError(f"not JSON serializable: {type(o).__name__}")
    return json.dumps(obj, default=default)


class Store:
    """Files of one study. Open with `Store.open`; all paths live under `root`."""

    def __init__(self, root: str):
        self.root = root

    @classmethod
    def open(cls, out: str, study: Study, source_text: str) -> "Store":
        """Create or reopen `<out>/<study.name>`; UsageError if it holds a different study."""
        root = os.path.join(os.path.abspath(os.path.expanduser(out)), study.name)
        store = cls(root)
        resolved = study.to_dict() | {"fingerprint": study.fingerprint()}
        saved = store.read_json("study.json")
        if saved is not None and saved.get("fingerprint") != resolved["fingerprint"]:
            raise UsageError(
                f"{root} holds results of a different version of study {study.name!r}: "
                "use another --out, or move that folder away to start over")
        for sub in ("trials", "proposals"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        if saved is None:
            write_atomic(os.path.join(root, "study.toml"), source_text)
        write_atomic(os.path.join(root, "study.json"), json.dumps(resolved, indent=2))
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
        write_atomic(self.path(*parts), dumps(data) if indent is None else json.dumps(data, indent=indent))

    # -- Optuna proposals: params by trial number, per cell -------------------------------
    def proposals(self, dataset: str, strategy: str) -> list[dict[str, Any]]:
        return self.read_json("proposals", f"{dataset}-{strategy}.json") or []

    def save_proposals(self, dataset: str, strategy: str, proposals: list[dict[str, Any]]) -> None:
        self.write_json(proposals, "proposals", f"{dataset}-{strategy}.json", indent=1)

    # -- per-campaign files ----------------------------------------------------------------
    def trial(self, trial: str) -> dict[str, Any] | None:
        return self.read_json("trials", f"{trial}.json")

    def trials(self) -> Iterator[dict[str, Any]]:
        for name in sorted(os.listdir(self.path("trials"))):
            if name.endswith(".json") and not name.startswith("."):
                data = self.read_json("trials", name)
                if data is not None:
                    yield data

    def resume_state(self, trial: str, *, warm_start: bool) -> tuple[dict[str, Any] | None, int]:
        """(campaign state to resume `trial` from, or None; its attempt number: 0 = first)."""
        data = self.trial(trial)
        if not data or not data.get("state") or warm_start:  # warm start also needs weights: start over
            return None, 0
        attempts = [int(m.get("attempt", 0)) for m in data.get("cycles", {}).values()]
        return data["state"], max(attempts, default=-1) + 1

    def record_cycle(self, spec: CampaignSpec, state: dict[str, Any], meta: dict[str, Any], *,
                     cycles: int, objective: float, run: int, now: str) -> bool:
        """Save `spec`'s campaign state after a cycle; True once all `cycles + 1` records exist."""
        old = self.trial(spec.trial) or {"spec": spec.to_dict(), "started": now, "cycles": {}}
        cycle = int(state["records"][-1]["cycle"])
        old["cycles"][str(cycle)] = meta | {"run": run}
        done = len(state["records"]) == cycles + 1
        data = old | {"status": "done" if done else "running", "state": state, "objective": objective,
                      "updated": now} | ({"finished": now, "run": run} if done else {})
        self.write_json(data, "trials", f"{spec.trial}.json")
        return done

    def mark_failed(self, spec: CampaignSpec, error: str, *, now: str) -> None:
        old = self.trial(spec.trial) or {"spec": spec.to_dict(), "started": now, "cycles": {}}
        self.write_json(old | {"status": "failed", "error": error, "updated": now}, "trials", f"{spec.trial}.json")
