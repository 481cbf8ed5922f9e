"""Experiment tracking (opt-in): every campaign of a study as an MLflow run, logged by the driver.

Switched on by the study (`[tracking] mlflow = true` or a tracking URI) or by
`alstudy run --mlflow [URI]`. The default store is SQLite inside the results store
(`<out>/<study>/mlflow.db`; MLflow 3.10+ refuses plain-folder stores); a tracking server's URI
works the same way. One MLflow experiment per study, one run per campaign (named by its trial
id; a resumed campaign continues its run): params = dataset, strategy, model, phase, seed and the
hyperparameters; one step per cycle = n_labeled, the validation and test score in the dataset's
metric (val_acc, test_acc; or val_miou, test_miou and the pixel accuracies) and the seconds of
each stage; tags = study, code, trial.

Tracking is a copy, not a result: the results store stays the one source of truth, the study's
fingerprint ignores `[tracking]`, and a tracking failure never fails a study — it prints one
warning line and tracking stops for the rest of the run.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Callable, Mapping

from ray import tune

from alstudy.files import file_uri, sqlite_url
from alstudy.metrics import METRIC_LABELS, metric_columns
from alstudy.study.plan import PHASES

DEFAULT = ""      # the embedded SQLite store inside the results store
_PARAMS = ("dataset", "strategy", "model", "paradigm", "seed")
_METRICS = ("n_labeled", *(c for m in METRIC_LABELS for c in metric_columns(m)),
            "val_pixel_acc", "test_pixel_acc")


def tracking_uri(setting: bool | str, flag: str | None, *, root: str) -> str | None:
    """The MLflow tracking URI a run logs to, or None for no tracking. `setting`: the study's
    `[tracking] mlflow` (False, True or a URI); `flag`: `--mlflow` (None: as the study says,
    DEFAULT: the embedded store, else a URI); `root`: the study's results store."""
    chosen = setting if flag is None else (flag or True)
    if chosen is False:
        return None
    if chosen is True:
        return sqlite_url(os.path.join(root, "mlflow.db"))
    return str(chosen)


class MlflowTracker:
    """Logs campaigns to MLflow through `MlflowClient` (no global MLflow state). Every call is
    guarded: the first error prints one warning line through `note` and switches tracking off."""

    def __init__(self, uri: str, *, study: str, root: str, note: Callable[[str], None]):
        self.uri, self.study, self.root, self.note = uri, study, root, note
        self.off = False
        self._client = None
        self._experiment: str | None = None
        self._runs: dict[str, str] = {}        # campaign trial id -> MLflow run id

    def cycle(self, trial: str, line: Mapping[str, Any], *, last: bool) -> None:
        """Log one reported cycle (`line`: record, chosen, meta) of campaign `trial`; `last`: the
        campaign's final cycle, which closes its run."""
        self._guard(self._cycle, trial, line, last)

    def failed(self, trial: str) -> None:
        """The Tune trial running `trial` crashed; a later attempt continues the same run."""
        if trial in self._runs:
            self._guard(lambda: self._client.set_terminated(self._runs[trial], status="FAILED"))

    def _cycle(self, trial: str, line: Mapping[str, Any], last: bool) -> None:
        from mlflow.entities import Metric   # mlflow: an optional extra, loaded only when tracking

        record = line["record"]
        run_id = self._runs.get(trial) or self._open_run(trial, record, line["meta"])
        stamp, step = int(time.time() * 1000), int(record["cycle"])
        metrics = [Metric(key, float(record[key]), stamp, step) for key in record
                   if (key in _METRICS or key.startswith("seconds_")) and _number(record[key])]
        self._client.log_batch(run_id, metrics=metrics)
        if last:
            self._client.set_terminated(run_id, status="FINISHED")

    def _open_run(self, trial: str, record: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
        """The campaign's run: the one an earlier attempt or run of the study opened, else a new
        one with the campaign's params and tags."""
        from mlflow.entities import Param   # mlflow: an optional extra, loaded only when tracking

        client = self._connect()
        found = client.search_runs([self._experiment], filter_string=f"tags.`alstudy.trial` = '{trial}'",
                                   max_results=1)
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            phase = trial.split("-", 1)[0]
            tags = {"alstudy.study": self.study, "alstudy.trial": trial, "alstudy.code": str(meta.get("code", "")),
                    "alstudy.phase": phase if phase in PHASES else ""}
            run_id = client.create_run(self._experiment, run_name=trial, tags=tags).info.run_id
            params = {k: record[k] for k in _PARAMS if k in record} | {"phase": tags["alstudy.phase"]}
            params |= {k.removeprefix("hp."): v for k, v in record.items() if k.startswith("hp.")}
            client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        self._runs[trial] = run_id
        return run_id

    def _connect(self):
        if self._client is None:
            # MLflow's SQLite store migrates its schema on first use and says so at INFO level.
            for name in ("mlflow", "alembic"):
                logging.getLogger(name).setLevel(logging.WARNING)
            from mlflow.tracking import MlflowClient   # mlflow: an optional extra

            client = MlflowClient(tracking_uri=self.uri)
            experiment = client.get_experiment_by_name(self.study)
            if experiment is None:
                # The embedded store keeps its (unused) artifact root beside it, not in the cwd.
                where = (file_uri(os.path.join(self.root, "mlflow-artifacts"))
                         if self.uri.startswith("sqlite:") else None)
                self._experiment = client.create_experiment(self.study, artifact_location=where)
            else:
                self._experiment = experiment.experiment_id
            self._client = client
        return self._client

    def _guard(self, fn: Callable, *args: Any) -> None:
        if self.off:
            return
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - tracking must never fail a study
            self.off = True
            message = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            self.note(f"warning: MLflow tracking at {self.uri} stopped ({type(err).__name__}: {message}); "
                      "the study's results are unaffected")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class MlflowCallback(tune.Callback):
    """Ray Tune callback (driver side): each reported cycle goes to the tracker."""

    def __init__(self, tracker: MlflowTracker):
        self.tracker = tracker

    def __getstate__(self) -> dict:
        return {}   # Tune pickles its callbacks for Tuner.restore, which alstudy does not use

    def on_trial_result(self, iteration, trials, trial, result, **info):
        cycles = trial.config["config"].budget.cycles
        line = result["line"]
        self.tracker.cycle(trial.config["trial"], line, last=int(line["record"]["cycle"]) >= cycles)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.tracker.failed(trial.config["trial"])


def tracking_callbacks(setting: bool | str, flag: str | None, *, study: str, root: str,
                       note: Callable[[str], None]) -> list[tune.Callback]:
    """The Tune callbacks that track this run ([] when tracking is off or MLflow is missing)."""
    uri = tracking_uri(setting, flag, root=root)
    if uri is None:
        return []
    try:
        import mlflow  # noqa: F401
    except ImportError:
        note("warning: MLflow tracking is on but mlflow is not installed (pip install 'alstudy[tracking]'); "
             "running without it")
        return []
    problem = _unreachable(uri)
    if problem:
        note(f"warning: MLflow tracking at {uri}: {problem}; running without it (the study's results are unaffected)")
        return []
    return [MlflowCallback(MlflowTracker(uri, study=study, root=root, note=note))]


def _unreachable(uri: str, *, timeout: float = 5.0) -> str:
    """Why the tracking server at an http(s) `uri` cannot be reached within `timeout` seconds ("" when
    it answers, or for stores that are not servers). MLflow's client would retry for minutes
    first; its requests are also capped, so a server that stalls later costs seconds, not minutes."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return ""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")   # MLflow's defaults: 120 s, 7 retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except (OSError, ValueError) as err:
        reason = "no answer" if isinstance(err, (TimeoutError, socket.timeout)) else (
            getattr(err, "strerror", None) or str(err))
        return f"no server answers there ({reason.lower()} within {timeout:g} s)"
    return ""
