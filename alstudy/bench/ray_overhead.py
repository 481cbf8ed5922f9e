"""The study runner's overhead: the same campaigns through Ray Tune and in a plain loop, and
the speedup of running trials concurrently.

Each Tune trial calls `run_campaign`, reports once per cycle with a small checkpoint (as the
study runner does) and sets torch's threads to its CPU share, so concurrent trials do not
oversubscribe the cores. Ray runs locally, sized to the machine, dashboard off.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from time import perf_counter

import torch

from alstudy.bench.hardware import usable_cores
from alstudy.bench.report import Section, target
from alstudy.config import Budget, CampaignConfig, TrainConfig

# Per mode: (datasets, strategies, budget, recipe); every dataset x strategy is one campaign,
# ordered so that neighbours (which run side by side) cost about the same.
PLANS = {
    "smoke": (("digits",), ("random", "entropy"), Budget(20, 20, 1), TrainConfig(epochs=2, min_steps=10)),
    "quick": (("digits",), ("random", "entropy", "margin", "bald"), Budget(50, 50, 8), TrainConfig()),
    "full": (("digits", "mnist1d"), ("random", "entropy", "margin", "bald", "coreset", "badge"),
             Budget(50, 50, 8), TrainConfig()),
}
OVERHEAD_GOAL_PCT = 15.0
SPEEDUP_GOAL = 1.7


def campaigns(mode: str) -> list[CampaignConfig]:
    datasets, strategies, budget, train = PLANS[mode]
    return [CampaignConfig(d, s, budget=budget, train=train) for d in datasets for s in strategies]


def campaign_trial(config: dict, *, campaigns: list[CampaignConfig]) -> None:
    """A Tune trainable: one campaign, one report (with a checkpoint) per cycle."""
    start = time.time()
    from ray import tune

    from alstudy.campaign import run_campaign
    from alstudy.data import get_dataset

    if config["threads"]:
        torch.set_num_threads(config["threads"])
    campaign = campaigns[config["index"]]
    get_dataset(campaign.dataset)  # once per worker process (cached), as in a study
    load_s = time.time() - start
    t0 = perf_counter()
    reporting = [0.0]  # seconds spent in tune.report (checkpoint included), before this report

    def report(record: dict, state) -> None:
        r0 = perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "state.json"), "w") as f:
                json.dump(state.to_dict(), f)
            tune.report({"cycle": record["cycle"], "test_acc": record["test_acc"], "start": start,
                         "end": time.time(), "load_s": load_s, "pid": os.getpid(),
                         "campaign_s": perf_counter() - t0, "report_s": reporting[0]},
                        checkpoint=tune.Checkpoint.from_directory(folder))
        reporting[0] += perf_counter() - r0

    run_campaign(campaign, 0, on_cycle=report)


def run_tune(configs: list[CampaignConfig], *, concurrent: int, threads: int | None,
             storage: str) -> dict:
    """Wall time of one Tuner.fit over `configs` with `concurrent` trials of cores/concurrent
    CPUs each. Split out: Tune's startup (before the first trial, after the last) and the
    workers' one-time loading (imports, data; the slowest worker's, as workers load in parallel)."""
    from ray import tune

    cpus = max(1, usable_cores() // concurrent)
    trainable = tune.with_resources(tune.with_parameters(campaign_trial, campaigns=configs), {"cpu": cpus})
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(configs)))), "threads": threads or 0},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrent, reuse_actors=True),
        run_config=tune.RunConfig(name=f"bench-{concurrent}-{threads}", storage_path=storage, verbose=0),
    )
    start = time.time()
    with contextlib.redirect_stdout(io.StringIO()):  # Tune prints its banners whatever `verbose` says
        results = tuner.fit()
    end = time.time()
    frames = [r.metrics for r in results]
    errors = [str(r.error) for r in results if r.error]
    if errors:
        raise RuntimeError(f"a Tune trial failed: {errors[0]}")
    first = min(m["start"] for m in frames)
    last = max(m["end"] for m in frames)
    loads: dict[int, float] = {}
    for m in frames:
        loads[m["pid"]] = loads.get(m["pid"], 0.0) + m["load_s"]
    return {"seconds": end - start, "startup_s": (first - start) + (end - last),
            "load_s": max(loads.values()), "workers": len(loads),
            "campaign_s": sum(m["campaign_s"] for m in frames),
            "report_s": sum(m["report_s"] for m in frames), "trials": len(frames)}


def in_process(configs: list[CampaignConfig], *, threads: int) -> float:
    """Seconds of a plain loop over `configs` with `threads` torch threads (restored after)."""
    from alstudy.campaign import run_campaign
    from alstudy.data import get_dataset

    for config in configs:
        get_dataset(config.dataset)  # a Ray worker loads its data too; load_s splits that out
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = perf_counter()
        for config in configs:
            run_campaign(config, 0)
        return perf_counter() - t0
    finally:
        torch.set_num_threads(before)


def run(mode: str, *, device: str) -> Section:
    section = Section("ray", "Study runner: Ray Tune against an in-process loop")
    if torch.device(device).type != "cpu":
        section.notes.append("measured on CPU (trials here request CPUs only)")
    import ray

    configs = campaigns(mode)
    cores = usable_cores()
    cap = torch.get_num_threads()  # `alstudy bench --threads N` caps every trial's threads too
    started_here = not ray.is_initialized()
    t0 = perf_counter()
    if started_here:
        ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    section.summary["ray_init_s"] = perf_counter() - t0
    try:
        base = in_process(configs, threads=min(cores, cap))  # as one trial on every core
        section.rows.append({"runner": "in-process loop", "concurrent": 1,
                             "threads": min(cores, cap), "seconds": base, "startup_s": 0.0,
                             "load_s": 0.0, "workers": 1, "campaign_s": base, "report_s": 0.0})
        runs = [(1, min(cores, cap))] + ([(2, min(max(1, cores // 2), cap))] if cores >= 2 else [])
        if mode == "full" and cores >= 2:
            runs.append((2, None))  # threads left at torch's default: oversubscribed
        with tempfile.TemporaryDirectory(prefix="alstudy-bench-ray-") as storage:
            for concurrent, threads in runs:
                out = run_tune(configs, concurrent=concurrent, threads=threads, storage=storage)
                section.rows.append({"runner": "ray tune", "concurrent": concurrent,
                                     "threads": threads if threads else "default",
                                     "seconds": out["seconds"], "startup_s": out["startup_s"],
                                     "load_s": out["load_s"], "workers": out["workers"],
                                     "campaign_s": out["campaign_s"], "report_s": out["report_s"]})
    finally:
        if started_here:
            ray.shutdown()
    _summarize(section, base, cores)
    section.notes += [
        f"{len(configs)} campaigns ({', '.join(PLANS[mode][0])} x {', '.join(PLANS[mode][1])}), "
        f"{cores} cores; Ray started locally before timing (ray_init_s, not counted); torch "
        f"threads per trial = its CPU share, capped at {cap} (the bench process's threads)",
        "startup_s: Tune's time before the first trial starts and after the last one ends (once per "
        "Tuner.fit); load_s: a worker's imports and data loading (once per worker process); "
        "steady-state figures leave both out, as a study runs many campaigns per fit and worker",
        "campaign_s: the campaigns' time inside the Ray workers, summed over trials; report_s: "
        "the part of it spent in tune.report with its checkpoint (all but each trial's last report)",
    ]
    return section


def _summarize(section: Section, base: float, cores: int) -> None:
    def steady_s(row: dict) -> float:
        return row["seconds"] - row["startup_s"] - row["load_s"]

    tune1 = next(r for r in section.rows if r["runner"] == "ray tune" and r["concurrent"] == 1)
    overhead = 100.0 * (tune1["seconds"] / base - 1.0)
    steady = 100.0 * (steady_s(tune1) / base - 1.0)
    section.summary.update(overhead_pct=overhead, overhead_steady_pct=steady)
    section.targets.append(target("Ray overhead over in-process, steady state (%)", steady,
                                  at_most=OVERHEAD_GOAL_PCT, unit=" %"))
    pair = next((r for r in section.rows if r["runner"] == "ray tune" and r["concurrent"] == 2
                 and r["threads"] != "default"), None)
    speedup = steady_speedup = None
    if pair is not None:
        speedup = tune1["seconds"] / pair["seconds"]
        steady_speedup = steady_s(tune1) / steady_s(pair)
    else:
        section.notes.append(f"2 concurrent trials not measured: {cores} core(s)")
    section.summary.update(speedup_2_over_1=speedup, speedup_2_over_1_steady=steady_speedup)
    section.targets.append(target("2 concurrent trials over 1, steady state", steady_speedup,
                                  at_least=SPEEDUP_GOAL, unit="x"))
