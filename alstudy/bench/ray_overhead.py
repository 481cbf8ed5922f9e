"""The study runner's overhead: `alstudy run` (`run_study`) on a small digits study the bench
writes, in this process (`local=True`) and on Ray with 1 and with 2 trials at a time.

Ray and Tune start before the first timed run (`ray_init_s`). Each run's stage seconds come
back from its `results.parquet`; the steady numbers count only cycles >= 1, because cycle 0 of
a fresh worker process pays its lazy initialization (the first optimizer, kernels), once per
worker: more workers would otherwise look slower.
"""

from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from time import perf_counter
from typing import Iterator

import torch

from alstudy.bench.hardware import usable_cores
from alstudy.bench.section import Section, target

# Per mode: the study's budget and train tables (TOML inline tables).
PLANS = {"smoke": ("initial = 20, per_cycle = 20, cycles = 1, validation = 20", "epochs = 2, min_steps = 10"),
         "quick": ("initial = 50, per_cycle = 50, cycles = 4, validation = 50", "epochs = 50, min_steps = 100"),
         "full": ("initial = 50, per_cycle = 50, cycles = 8, validation = 50", "epochs = 50, min_steps = 100")}
STUDY = """name = "{name}"
datasets = ["{dataset}"]
strategies = {strategies}
budget = {{ {budget} }}
train = {{ {train} }}
tuning = {{ trials = 1, seeds = {seeds}, startup_trials = 1, space = {{ lr = {{ low = 0.04, high = 0.05 }} }} }}
evaluation = {{ seeds = [1000] }}
resources = {{ cpu = {cpu}, gpu = {gpu:g} }}
"""
STAGES = ("seconds_train", "seconds_eval", "seconds_score", "seconds_select")
OVERHEAD_GOAL_PCT = 15.0
SPEEDUP_GOAL = 1.7


def study_text(name: str, *, budget: str, train: str, cpu: int, gpu: float = 0.0, dataset: str = "digits",
               strategies: tuple[str, ...] = ("random", "entropy"), seeds: tuple[int, ...] = (0,)) -> str:
    """A study of `strategies` x (one tuning trial on `seeds` + one evaluation seed); TOML
    reads Python's quoted names as literal strings."""
    return STUDY.format(name=name, dataset=dataset, strategies=list(strategies), budget=budget,
                        train=train, seeds=list(seeds), cpu=cpu, gpu=gpu)


def time_study(folder: str, name: str, text: str, *, local: bool, concurrent: int,
               phase: str | None = None) -> dict:
    """Run study `text` with `run_study` in `folder`: wall seconds and the campaigns' own (of
    the campaigns of `phase` only, when given)."""
    import pandas as pd

    from alstudy.study.runner import RunOptions, run_study

    path = os.path.join(folder, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    options = RunOptions(out=os.path.join(folder, "out"), storage=os.path.join(folder, "tune"),
                         local=local, max_concurrent=concurrent, live=False)
    log = io.StringIO()
    t0 = perf_counter()
    if run_study(path, options, stream=log) != 0:
        raise RuntimeError(f"bench study {name} failed: {log.getvalue()[-500:]}")
    seconds = perf_counter() - t0
    frame = pd.read_parquet(os.path.join(folder, "out", name, "results.parquet"))
    frame = frame if phase is None else frame[frame["phase"] == phase]
    campaign_s = float(frame[list(STAGES)].to_numpy().sum())
    return {"runner": "in-process loop" if local else "ray tune", "concurrent": concurrent,
            "campaigns": int(frame["trial"].nunique()),
            "seconds": seconds, "campaign_s": campaign_s, "outside_s": seconds - campaign_s / concurrent,
            "steady_s": float(frame.loc[frame["cycle"] >= 1, list(STAGES)].to_numpy().sum())}


@contextmanager
def ray_running(cores: int) -> Iterator[float]:
    """Ray for the timed runs (started here unless it runs); yields the seconds it took to start
    it and to import Tune, which the first run would otherwise pay alone."""
    import ray

    started_here = not ray.is_initialized()
    t0 = perf_counter()
    if started_here:
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    import ray.tune  # noqa: F401
    try:
        yield perf_counter() - t0
    finally:
        if started_here:
            ray.shutdown()


def run(mode: str, *, device: str) -> Section:
    section = Section("ray", "Study runner: Ray Tune against an in-process run (alstudy run)")
    cores = usable_cores()
    cap = torch.get_num_threads()  # `alstudy bench --threads N` caps every trial's threads too
    runs = [("local", True, 1, min(cores, cap)), ("ray1", False, 1, min(cores, cap))]
    runs += [("ray2", False, 2, min(cores // 2, cap))] if cores >= 2 else []
    with ray_running(cores) as init_s, tempfile.TemporaryDirectory(prefix="alstudy-bench-ray-") as folder:
        section.summary["ray_init_s"] = init_s
        for name, local, n, cpu in runs:
            text = study_text(f"bench-{name}", budget=PLANS[mode][0], train=PLANS[mode][1], cpu=cpu)
            section.rows.append(time_study(folder, f"bench-{name}", text, local=local, concurrent=n)
                                | {"threads": cpu})
    base, tune1 = section.rows[0], section.rows[1]
    pair = section.rows[2] if len(section.rows) > 2 else None
    section.summary.update(
        overhead_pct=100.0 * (tune1["seconds"] / base["seconds"] - 1.0),
        overhead_steady_pct=100.0 * (tune1["steady_s"] / base["steady_s"] - 1.0),
        speedup_2_over_1=tune1["seconds"] / pair["seconds"] if pair else None,
        speedup_2_over_1_steady=2.0 * tune1["steady_s"] / pair["steady_s"] if pair else None)
    section.targets += [
        target("Ray overhead over in-process, steady state (%)", section.summary["overhead_steady_pct"],
               at_most=OVERHEAD_GOAL_PCT, unit=" %"),
        target("2 concurrent trials over 1, steady state", section.summary["speedup_2_over_1_steady"],
               at_least=SPEEDUP_GOAL, unit="x")]
    section.notes += [
        f"{base['campaigns']} digits campaigns per run (random and entropy, one tuning trial and one "
        f"evaluation seed each), {cores} cores; threads = the trial's CPUs, at most {cap}"
        + ("" if pair else "; 2 concurrent trials need 2 cores"),
        "campaign_s: stage seconds from results.parquet; outside_s = seconds - campaign_s / concurrent "
        "(the runner's own time: Tune's driver, worker start-up, the store); steady_s: stage seconds "
        "of cycles >= 1; the steady ratios compare steady_s",
    ]
    return section
