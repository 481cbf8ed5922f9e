"""`alstudy run`: validate, open the results store, run (Ray or in-process), write the results.

Rerunning the same command continues the study from its store: finished campaigns are kept,
unfinished ones resume at their last cycle, each cell's Optuna history is rebuilt.
Exit codes: 0 complete, 1 some campaigns failed (rerun to retry them), 128 + the signal when
interrupted (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP, 141 a closed output pipe).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from dataclasses import dataclass
from typing import Callable, TextIO

import torch

from alstudy.data.splits import split_hashes
from alstudy.errors import UsageError
from alstudy.study.checks import check_study, require_checked
from alstudy.study.summary_table import eval_table, render
from alstudy.study import interrupt
from alstudy.study.interrupt import GuardedOutput, shielded, stopping_on_signals
from alstudy.study.local import run_local
from alstudy.study.manifest import begin_run, end_run
from alstudy.study.paradigms import weights_inits
from alstudy.study.progress import Progress
from alstudy.study.results import write_results
from alstudy.study.scheduler import Scheduler
from alstudy.study.schema import load_study
from alstudy.study.store import Store
from alstudy.training import shared


@dataclass(frozen=True)
class RunOptions:
    out: str = "alstudy-results"
    address: str | None = None
    storage: str | None = None
    max_concurrent: int | None = None
    max_failures: int = 3
    local: bool = False               # in this process, without Ray
    device: str = "cpu"               # local runs only; Ray trials pick their own
    live: bool | None = None          # None: a live table when the output is a terminal
    mlflow: str | None = None         # None: as the study's [tracking] says; "": the embedded store; a URI


def run_study(path: str, options: RunOptions, *, stream: TextIO | None = None,
              campaign: Callable | None = None) -> int:
    """Run (or resume) the study at `path`; return the exit code. Prints to `stream` (stdout).
    `campaign` replaces `alstudy.campaign.run_campaign` in every trial (the tests wrap it to
    inject faults; on Ray it must pickle)."""
    with stopping_on_signals():   # from the first moment: a signal before the run starts writes nothing
        stream = GuardedOutput(stream or sys.stdout)
        study = load_study(path)
        require_checked(check_study(study, source=path), source=path)
        if not (options.local or options.address or os.environ.get("RAY_ADDRESS") or _ray_running()):
            _check_machine(study, source=path)
        store = Store.open(options.out, study, study.source)
        with store.lock():
            return _run(study, store, options, stream, campaign)


def _ray_running() -> bool:
    """Ray already initialized by this process (then alstudy uses it as it is)."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def _check_machine(study, *, source: str) -> None:
    """The private Ray instance gets this machine's CPUs and GPUs: a trial asking for more
    could never start, so refuse before anything runs."""
    r = study.resources
    if r.cpu > (os.cpu_count() or 1):
        raise UsageError(f"{source}: resources.cpu = {r.cpu:g} per trial, but this machine has "
                         f"{os.cpu_count()} CPUs (use --address to run on a cluster)")
    gpus = torch.cuda.device_count()
    if r.gpu > gpus:
        raise UsageError(f"{source}: resources.gpu = {r.gpu:g} per trial, but this machine has {gpus} GPUs "
                         "(set gpu = 0 to run on the CPU, or use --address to run on a cluster)")


def _run(study, store, options: RunOptions, stream: TextIO, campaign: Callable | None) -> int:
    extra = {"options": dataclasses.asdict(options)}
    if study.splits is not None:  # the files' contents decide the splits: keep what they were
        extra["split_files"] = split_hashes(study.splits_path, study.tuning.seeds + study.evaluation.all_seeds,
                                            study.datasets)
    weights = weights_inits(study.paradigms)
    if weights:  # the weights' bytes decide results: keep what they were
        extra["weights_files"] = {name: {"path": w.file, "sha256": w.sha256()} for name, w in weights.items()}
    status, facts, stopped = "interrupted", {}, ""
    run = progress = scheduler = results = None
    n_rows = 0
    try:   # from the moment the manifest says "running", the finally below closes it
        # the logs and the tuning are read (and a foreign log refused) before the manifest names a run
        scheduler = Scheduler.from_store(study, store, retries=options.max_failures)
        with shielded():
            run, code, other_codes, changed = begin_run(store, runner="local" if options.local else "ray",
                                                        extra=extra)
        for note in store.notes:
            print(f"warning: {note}", file=stream, flush=True)
        live = stream.isatty() if options.live is None else options.live
        progress = Progress(scheduler, stream=stream, live=live)
        print(f"study {study.name}: results in {store.root}", file=stream, flush=True)
        if other_codes:
            print(f"warning: earlier runs of this study used alstudy {', '.join(other_codes)}; this run uses "
                  f"{code}{_changed_text(changed)}. Every row keeps the code that produced it (column `code` "
                  "of results.parquet), and `alstudy report` notes the mix", file=stream, flush=True)
        facts = _execute(scheduler, store, run, progress, options, campaign)
        status = "failed" if scheduler.failed else "complete" if scheduler.all_done() else "interrupted"
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as err:   # Ray or Tune gave up (a node lost, an internal error): say it in a line
        if not type(err).__module__.startswith("ray."):
            raise
        status, stopped = "interrupted", f"{type(err).__name__}: {_last_line(err)}"
    finally:
        stream.stopping = False   # the run is over: a reader gone from here on stops nothing
        if run is not None:
            with shielded():
                if progress is not None:
                    progress.close()
                logs = store.logs()   # read once: the results and the manifest's hosts both come from them
                results, n_rows = write_results(store, study.name, logs)
                end_run(store, run, logs, status=status, extra=facts)
                if status == "complete":
                    shared.SharedTrainings(store.path(shared.FOLDER)).remove()
    if n_rows:
        print(f"results: {results} ({n_rows} rows)", file=stream)
        print(render(eval_table(results), order={d: i for i, d in enumerate(study.datasets)},
                     paradigm_order={p.name: i for i, p in enumerate(study.paradigms)}), file=stream)
    else:
        failed = len(scheduler.failed) if scheduler is not None else 0
        print(f"no campaign has finished yet ({failed} failed): no results.parquet written", file=stream)
    if status == "failed":
        print(f"{len(scheduler.failed)} campaigns failed: {', '.join(sorted(scheduler.failed))}; each one's "
              f"error is the last \"failed\" line of its log, {store.path('trials', '<campaign>.jsonl')}; "
              "rerun the same command to retry them", file=stream)
        return 1
    if status == "interrupted":
        if stopped:
            print(f"Ray stopped the run ({stopped}); the campaigns logged so far are kept", file=stream)
        by = "" if interrupt.signal_name() == "SIGINT" else f"stopped by {interrupt.signal_name()}: "
        line = f"{by}the study is not finished: rerun the same command to resume it"
        print(line, file=sys.stderr if stream.broken else stream)   # said where someone still reads
        return interrupt.exit_code()
    if stream.broken:
        print(f"alstudy: the output closed (SIGPIPE) after the study finished; results: {results}", file=sys.stderr)
        return 128 + signal.SIGPIPE
    return 0


def _changed_text(changed: list[str], *, shown: int = 3) -> str:
    """" (changed since the last run: a.py, b.py and 4 more files)", or "" when none is known."""
    if not changed:
        return ""
    more = f" and {len(changed) - shown} more files" if len(changed) > shown else ""
    return f" (changed since the last run: {', '.join(changed[:shown])}{more})"


def _last_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def _execute(scheduler, store, run: int, progress, options: RunOptions, campaign) -> dict:
    """Run the campaigns in this process or on Ray; return facts for the manifest."""
    if options.local:
        return run_local(scheduler, store, run=run, progress=progress, device=options.device,
                         campaign=campaign)
    if not (options.address or os.environ.get("RAY_ADDRESS")):
        # A private single-node Ray keeps every port on 127.0.0.1. Ray's own switch for that is
        # its "no multi-node cluster" mode (what it uses on macOS and Windows); the documented
        # `--node-ip-address` / `_node_ip_address = "127.0.0.1"` does not do it on Linux: Ray
        # resolves a loopback address to the machine's routable one (resolve_ip_for_localhost).
        # Read when ray is first imported, hence before ray_runner and tracking (which import
        # ray) are: this is why they are imported here, not at the top.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from alstudy.study.ray_runner import run_with_ray
    from alstudy.study.tracking import tracking_callbacks

    study = scheduler.study
    callbacks = tracking_callbacks(study.tracking.mlflow, options.mlflow, study=study.name, root=store.root,
                                   note=progress.note)
    return run_with_ray(scheduler, store, run=run, progress=progress, address=options.address,
                        storage=options.storage, max_concurrent=options.max_concurrent, campaign=campaign,
                        callbacks=callbacks)
