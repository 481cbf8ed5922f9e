"""Run a study's campaigns as Ray Tune trials: one Tuner, one searcher multiplexing all cells.

`StudySearcher` is a `ray.tune.search.Searcher` whose suggestions come from the Ray-free
`Scheduler` (Optuna ask/tell per cell). Tune reports reach it once per cycle; it writes each
campaign's state into the results store as it arrives, and tells the scheduler when a campaign
ends. Resume across driver restarts is the store's job (not `Tuner.restore`): a rerun builds
a fresh Tuner whose searcher starts from what the store holds.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from typing import Any

from ray import tune
from ray.tune.search import Searcher

from alstudy.study import plan
from alstudy.study.manifest import now
from alstudy.study.progress import Progress
from alstudy.study.scheduler import DONE, Scheduler

METRIC = "val_aubc"
_LIVE = ("scheduler", "store", "study", "progress")


def connect(address: str | None) -> bool:
    """Connect to `address` (or RAY_ADDRESS), else start a local Ray sized to this machine.

    True when this call started or joined Ray (the caller shuts it down); False when Ray was
    already initialized in this process (tests).
    """
    import ray

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
    """Tune searcher over a Scheduler; writes every cycle's state into the store."""

    def __init__(self, scheduler: Scheduler, *, run: int, progress: Progress, fault: dict | None):
        super().__init__(metric=METRIC, mode="max")
        self.scheduler, self.store, self.study = scheduler, scheduler.store, scheduler.study
        self.run, self.progress, self.fault = run, progress, fault
        self._specs: dict[str, plan.CampaignSpec] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        spec = self.scheduler.next()
        if spec == DONE:
            return Searcher.FINISHED
        if spec is None:
            return None
        self._specs[trial_id] = spec
        campaign = plan.campaign_config(self.study, spec)
        resume, attempt = self.store.resume_state(spec.trial, warm_start=campaign.train.warm_start)
        r = self.study.resources
        return {"trial": spec.trial, "seed": spec.seed, "campaign": plan.config_to_dict(campaign),
                "cpu": r.cpu, "gpu": r.gpu, "resume": resume, "attempt": attempt, "fault": self.fault}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        spec = self._specs.get(trial_id)
        if spec is None or "state" not in result:   # not a per-cycle report
            return
        meta = {k: result[k] for k in ("attempt", "host", "code", "device", "device_name", "gpu_ids")}
        self.store.record_cycle(spec, json.loads(result["state"]), meta, objective=float(result[METRIC]),
                                cycles=self.study.setups[spec.dataset].budget.cycles, run=self.run, now=now())
        self.progress.update()

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        spec = self._specs.pop(trial_id)
        data = self.store.trial(spec.trial)
        if error or not data or data.get("status") != "done":
            self.store.mark_failed(spec, "the Ray trial failed; see its error file under the Tune storage",
                                   now=now())
            self.scheduler.fail(spec.trial)
            self.progress.note(f"{spec.trial} failed after its retries; rerun the same command to retry it")
        else:
            self.scheduler.complete(spec.trial, float(data["objective"]))
            self.progress.finished(spec.dataset, spec.strategy, spec.phase)

    def __getstate__(self) -> dict:
        # Tune pickles its searcher and callbacks (tuner.pkl) for Tuner.restore, which alstudy
        # does not use: a rerun resumes from the results store. Keep the live objects out.
        return {k: v for k, v in self.__dict__.items() if k not in _LIVE}

    def save(self, checkpoint_path: str) -> None:
        # Nothing to save: the scheduler's state is rebuilt from the results store.
        with open(checkpoint_path, "w") as f:
            json.dump({"state": "in the alstudy results store"}, f)

    def restore(self, checkpoint_path: str) -> None:
        pass


def run_with_ray(scheduler: Scheduler, *, run: int, progress: Progress, address: str | None,
                 storage: str | None, max_concurrent: int | None, max_failures: int,
                 fault: dict | None) -> dict[str, Any]:
    """Run every campaign the scheduler hands out on Ray; return facts for the manifest."""
    # The legacy output engine honours verbose=0; alstudy prints its own progress instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    import ray

    from alstudy.study.trainable import run_trial

    owns_ray = connect(address)
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    try:
        study, store = scheduler.study, scheduler.store
        resources = ray.cluster_resources()
        _warn_if_unfit(study.resources, resources, progress)
        name = study.name if storage else "ray"
        searcher = StudySearcher(scheduler, run=run, progress=progress, fault=fault)
        trainable = tune.with_resources(run_trial, {"cpu": study.resources.cpu, "gpu": study.resources.gpu})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, num_samples=-1, reuse_actors=True,
                max_concurrent_trials=max_concurrent or study.resources.max_concurrent,
                trial_name_creator=lambda t: t.config["trial"],
                trial_dirname_creator=lambda t: t.config["trial"]),
            run_config=tune.RunConfig(
                name=f"{name}/run{run}", storage_path=storage or store.root, verbose=0,
                failure_config=tune.FailureConfig(max_failures=max_failures),
                callbacks=[_Notes(progress)]))
        tuner.fit()
        return {"ray_address": ray.get_runtime_context().gcs_address,
                "cluster_resources": {k: v for k, v in resources.items() if not k.startswith("node:")}}
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


class _Notes(tune.Callback):
    """Tune callback: keep the display fresh, say when a trial is retried, and delete a finished
    trial's checkpoint."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __getstate__(self) -> dict:
        return {}   # see StudySearcher.__getstate__

    def on_step_end(self, iteration, trials, **info):
        self.progress.update()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.progress.note(f"{trial.config['trial']} crashed ({_error_line(trial)}); no retries left")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.progress.note(f"{trial.config['trial']} crashed ({_error_line(trial)}); retrying from its last cycle")

    def on_trial_complete(self, iteration, trials, trial, **info):
        _drop_checkpoint(trial)


def _drop_checkpoint(trial) -> None:
    """A finished campaign's records are in the results store and a rerun resumes from there,
    so its Tune checkpoints (campaign state per cycle, and the model with warm start: ~45 MB a
    cycle for a ResNet-18) are dead weight: delete the trial's checkpoint folders, through the
    checkpoint's own filesystem (local folders and cloud URIs alike). `num_to_keep` would
    prune during the trial instead, but makes Tune force a sync of its whole experiment state
    (10 MB after the quickstart) after every report, an upload each time on cloud storage. A
    folder that cannot be deleted stays."""
    import pyarrow.fs

    checkpoint = trial.checkpoint
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
    try:
        with open(trial.error_file) as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1][:200] if lines else "no message"
    except (OSError, TypeError):
        return "no message"
