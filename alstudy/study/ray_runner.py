"""Run a study's campaigns as Ray Tune trials: one Tuner, one searcher multiplexing all cells.

`StudySearcher` is a `ray.tune.search.Searcher` whose suggestions come from the Ray-free
`Scheduler` (Optuna ask/tell per cell). Each trial reports once per cycle; `_StudyCallback` (the
study's Tune callback) appends that cycle to the campaign's log in the results store as it arrives. A
crashed trial goes back to the scheduler, which hands the campaign out again as a new trial
that resumes from its log, the same way a rerun of the study resumes it: resuming is the
store's job (not `Tuner.restore`, not Tune's in-place retries).
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
from typing import Any, Callable, Iterator, Sequence

import pyarrow.fs
import ray
from ray import tune
from ray.tune.search import Searcher

from alstudy.metrics import records_aubc
from alstudy.study import plan, pretraining
from alstudy.study.interrupt import stop_on_signals
from alstudy.study.progress import Progress
from alstudy.study.scheduler import Scheduler
from alstudy.study.store import Store
from alstudy.study.trainable import METRIC, run_trial
from alstudy.training import shared

_LIVE = ("scheduler", "store", "study", "progress", "trials")


def connect(address: str | None) -> bool:
    """Connect to `address` (or RAY_ADDRESS), else start a local Ray sized to this machine.

    True when this call started or joined Ray (the caller shuts it down); False when Ray was
    already initialized in this process (tests).
    """
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(include_dashboard=False, **quiet)
    return True


class StudySearcher(Searcher):
    """Tune searcher over a Scheduler: what runs next, and what a finished trial means."""

    def __init__(self, scheduler: Scheduler, store: Store, *, run: int, progress: Progress):
        super().__init__(metric=METRIC, mode="max")
        self.scheduler, self.store, self.study = scheduler, store, scheduler.study
        self.run, self.progress = run, progress
        self.specs: dict[str, tuple[plan.CampaignSpec, int]] = {}   # Tune trial -> (campaign, attempt)
        self.trials: dict[str, Any] = {}           # Tune trial objects seen by `_StudyCallback`
        self._weights: dict[str, Any] = {}         # campaign -> checkpoint of a crashed warm start

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        spec = self.scheduler.next()
        if spec is None:
            return None if self.scheduler.running else Searcher.FINISHED
        config = pretraining.attach(plan.campaign_config(self.study, spec), self.study, spec, self.store.root)
        weights = self._weights.pop(spec.trial, None)
        resume, attempt = self.store.resume_point(spec, warm_start=config.train.warm_start,
                                                  have_weights=weights is not None)
        self.specs[trial_id] = spec, attempt
        r = self.study.resources
        return {"trial": spec.trial, "seed": spec.seed, "config": config, "cpu": r.cpu, "gpu": r.gpu,
                "resume": [c.to_dict() for c in resume], "attempt": attempt,
                "weights": weights if resume else None,
                "shared": self.store.path(shared.FOLDER) if plan.keeps_cycle0(spec) else None}

    def record(self, trial_id: str, line: dict[str, Any] | None) -> None:
        """Append a reported cycle to its campaign's log (None: a report with no new cycle)."""
        if line is None:
            return
        spec, _ = self.specs[trial_id]
        total = self.study.setups[spec.dataset].budget.cycles + 1
        meta = line.pop("meta")
        self.store.record(spec, line, meta, run=self.run, cycles_total=total)
        self.progress.update()

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        spec, attempt = self.specs.pop(trial_id)
        trial = self.trials.pop(trial_id, None)
        log = self.store.log(spec.trial)
        if log is not None and log.done:   # every cycle is logged: done, even if the worker died after
            if error:
                self.progress.note(f"{spec.trial}: its worker ended with an error after its last cycle "
                                   f"({_error_line(trial)}); its records are complete")
            self.scheduler.complete(spec.trial, records_aubc(log.records), test=records_aubc(log.records, "test"))
            self.progress.finished(spec.dataset, spec.strategy, spec.phase, paradigm=spec.paradigm,
                                   trial=spec.trial, records=log.records)
            return
        total = self.study.setups[spec.dataset].budget.cycles + 1
        self.store.record_failure(spec, _error_line(trial), attempt=attempt, run=self.run, cycles_total=total)
        if trial is not None and trial.checkpoint is not None:
            self._weights[spec.trial] = trial.checkpoint
        if self.scheduler.fail(spec.trial):
            self.progress.note(f"{spec.trial} crashed ({_error_line(trial)}); retrying from its last cycle")
        else:
            self.progress.note(f"{spec.trial} failed after its retries ({_error_line(trial)}); "
                               "rerun the same command to retry it")

    def __getstate__(self) -> dict:
        # Tune pickles its searcher and callbacks (tuner.pkl) for Tuner.restore, which alstudy
        # does not use: a rerun resumes from the results store. Keep the live objects out.
        return {k: v for k, v in self.__dict__.items() if k not in _LIVE}

    def save(self, checkpoint_path: str) -> None:
        # Nothing to save: the scheduler's state is rebuilt from the results store.
        with open(checkpoint_path, "w") as f:
            f.write("{}")

    def restore(self, checkpoint_path: str) -> None:
        pass


def run_with_ray(scheduler: Scheduler, store: Store, *, run: int, progress: Progress, address: str | None,
                 storage: str | None, max_concurrent: int | None,
                 campaign: Callable | None = None, callbacks: Sequence[tune.Callback] = ()) -> dict[str, Any]:
    """Run every campaign the scheduler hands out on Ray; return facts for the manifest.
    `callbacks`: more driver-side Tune callbacks, after the one that writes the store (tracking)."""
    # The legacy output engine honours verbose=0; alstudy prints its own progress instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

    owns_ray = connect(address)
    stop_on_signals()            # ray.init installs its own SIGTERM handler in the driver
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    try:
        study = scheduler.study
        resources = ray.cluster_resources()
        _warn_if_unfit(study.resources, resources, progress)
        # shared work first: each SimCLR encoder is one Ray task, before the campaigns that read it
        pre = pretraining.ensure(plan.pretraining_jobs(study), store.path(pretraining.FOLDER), note=progress.note,
                                 remote={"cpu": study.resources.cpu, "gpu": study.resources.gpu})
        name = study.name if storage else "ray"
        storage = _storage_uri(storage) if storage else store.root
        searcher = StudySearcher(scheduler, store, run=run, progress=progress)
        # the encoders travel through Ray's object store (put once), not through the store's folder
        shipped = pretraining.blobs(plan.pretraining_jobs(study), store.path(pretraining.FOLDER))
        params = {k: v for k, v in (("campaign", campaign), ("encoders", shipped)) if v}
        trainable = tune.with_parameters(run_trial, **params) if params else run_trial
        trainable = tune.with_resources(trainable, {"cpu": study.resources.cpu, "gpu": study.resources.gpu})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, num_samples=-1, reuse_actors=True,
                max_concurrent_trials=max_concurrent or study.resources.max_concurrent,
                trial_name_creator=_trial_name, trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(
                name=f"{name}/run{run}", storage_path=storage, verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),   # the scheduler retries
                callbacks=[_StudyCallback(searcher), *callbacks]))
        with _working_dir(store.root):
            tuner.fit()
        return {"ray_address": ray.get_runtime_context().gcs_address,
                "cluster_resources": {k: v for k, v in resources.items() if not k.startswith("node:")}} | (
                    {"pretrained": pre} if pre else {})
    finally:
        if owns_ray:
            ray.shutdown()


def _warn_if_unfit(wanted, available: dict, progress: Progress) -> None:
    """Say so when no node can run a trial yet (an autoscaler may still add one)."""
    for key, name in (("cpu", "CPU"), ("gpu", "GPU")):
        need, have = getattr(wanted, key), available.get(name, 0)
        if need > have:
            progress.note(f"warning: resources.{key} = {need:g} per trial, but the Ray cluster has "
                          f"{have:g} {name}; trials wait until such a node joins")


def _storage_uri(storage: str) -> str:
    """Tune's storage as given (a pyarrow filesystem URI: file://, s3://, gs://) or, for a
    plain folder, its absolute path: the driver changes its working folder during the run."""
    return storage if "://" in storage else os.path.abspath(os.path.expanduser(storage))


@contextlib.contextmanager
def _working_dir(folder: str) -> Iterator[None]:
    """Run the block in `folder`, then go back if the old working folder still exists.

    Tune lists its experiment folder after the run through relative paths (os.path.relpath on
    paths stripped of their leading "/"), which calls os.getcwd(): a removed working folder
    ends the study in a traceback after every campaign finished. Under `ray job submit` the
    driver's working folder is the job's unpacked `--working-dir`; each node's runtime-env
    agent deletes a package none of its workers uses once its cache exceeds its limit
    (RAY_RUNTIME_ENV_WORKING_DIR_CACHE_SIZE_GB), and nodes sharing one machine's Ray temp
    folder share the unpacked package, so a worker node can delete the head driver's folder.
    The results store outlives the run."""
    try:
        previous = os.getcwd()
    except FileNotFoundError:
        previous = None
    os.chdir(folder)
    try:
        yield
    finally:
        if previous is not None:
            with contextlib.suppress(OSError):
                os.chdir(previous)


def _trial_name(trial) -> str:
    """The campaign's id, and its attempt once it resumes (each attempt is a Tune trial)."""
    attempt = trial.config["attempt"]
    return trial.config["trial"] + (f"-a{attempt}" if attempt else "")


class _StudyCallback(tune.Callback):
    """Tune callback: log every reported cycle, keep the display fresh, and delete a finished
    trial's checkpoints."""

    def __init__(self, searcher: StudySearcher):
        self.searcher = searcher

    def __getstate__(self) -> dict:
        return {}   # see StudySearcher.__getstate__

    def on_trial_start(self, iteration, trials, trial, **info):
        self.searcher.trials[trial.trial_id] = trial   # its error and checkpoint, should it crash

    def on_trial_result(self, iteration, trials, trial, result, **info):
        line = result.get("line")
        self.searcher.record(trial.trial_id, dict(line) if line else None)

    def on_step_end(self, iteration, trials, **info):
        self.searcher.progress.update()

    def on_trial_complete(self, iteration, trials, trial, **info):
        _drop_checkpoint(trial.checkpoint)
        if trial.config.get("weights") is not None:    # the crashed attempt it resumed from
            _drop_checkpoint(trial.config["weights"])


def _drop_checkpoint(checkpoint) -> None:
    """A finished campaign's records are in the results store, so its Tune checkpoints (a
    warm-started model's weights, one per cycle) are dead weight: delete the checkpoint folders
    of its trial, through the checkpoint's own filesystem (local folders and cloud URIs alike).
    `num_to_keep` would prune during the trial instead, but makes Tune force a sync of its whole
    experiment state after every report, an upload each time on cloud storage. A folder that
    cannot be deleted stays."""
    if checkpoint is None:
        return
    fs = checkpoint.filesystem
    trial_dir = posixpath.dirname(checkpoint.path.rstrip("/"))
    try:
        for info in fs.get_file_info(pyarrow.fs.FileSelector(trial_dir)):
            if info.type == pyarrow.fs.FileType.Directory and info.base_name.startswith("checkpoint_"):
                fs.delete_dir(info.path)
    except OSError:  # pyarrow's filesystem errors are OSErrors
        pass


def _error_line(trial) -> str:
    if trial is None:
        return "no message"
    try:
        with open(trial.error_file) as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1][:200] if lines else "no message"
    except (OSError, TypeError):
        return "no message"
