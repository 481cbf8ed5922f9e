"""The study runner's overhead: one small study run in this process and through Ray Tune.

`alstudy run` itself (`run_study`) runs a study file the bench writes: in-process
(`local=True`), then on Ray with 1 and with 2 trials at a time. Ray starts before the first
timed run (`ray_init_s`, not counted) and each run's campaign seconds are read back from its
`results.parquet`, so the rows split wall time into the campaigns' own time and the runner's.
"""

from __future__ import annotations

import io
import os
import tempfile
from time import perf_counter

import torch

from alstudy.bench.hardware import usable_cores
from alstudy.bench.section import Section, target

# Per mode: (budget lines, train lines) of a digits study of 2 strategies x (1 tuning trial
# + 1 evaluation seed) = 4 campaigns: two waves of two equal campaigns.
PLANS = {
    "smoke": ("initial = 20\nper_cycle = 20\ncycles = 1\nvalidation = 20", "epochs = 2\nmin_steps = 10"),
    "quick": ("initial = 50\nper_cycle = 50\ncycles = 8\nvalidation = 50", "epochs = 50\nmin_steps = 100"),
    "full": ("initial = 50\nper_cycle = 50\ncycles = 8\nvalidation = 50", "epochs = 50\nmin_steps = 100"),
}
STUDY = """name = "{name}"
datasets = ["digits"]
strategies = ["random", "entropy"]
[budget]
{budget}
[train]
{train}
[tuning]
trials = 1
seeds = [0]
startup_trials = 1
[tuning.space]
lr = {{ low = 0.04, high = 0.05 }}
[evaluation]
seeds = [100]
[resources]
cpu = {cpu}
gpu = 0
"""
STAGES = ("seconds_train", "seconds_eval", "seconds_score", "seconds_select")
OVERHEAD_GOAL_PCT = 15.0
SPEEDUP_GOAL = 1.7


def time_study(folder: str, name: str, *, mode: str, cpu: int, local: bool, concurrent: int) -> dict:
    """Write a study file into `folder`, run it with `run_study`; wall and campaign seconds."""
    import pandas as pd

    from alstudy.study.runner import RunOptions, run_study

    budget, train = PLANS[mode]
    path = os.path.join(folder, f"{name}.toml")
    with open(path, "w") as f:
        f.write(STUDY.format(name=name, budget=budget, train=train, cpu=cpu))
    options = RunOptions(out=os.path.join(folder, "out"), storage=os.path.join(folder, "tune"),
                         local=local, max_concurrent=concurrent, live=False)
    log = io.StringIO()
    t0 = perf_counter()
    code = run_study(path, options, stream=log)
    seconds = perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"bench study {name} exited with {code}: {log.getvalue()[-500:]}")
    frame = pd.read_parquet(os.path.join(folder, "out", name, "results.parquet"))
    campaign_s = float(frame[list(STAGES)].to_numpy().sum())
    return {"runner": "in-process loop" if local else "ray tune", "concurrent": concurrent,
            "threads": cpu, "campaigns": int(frame["trial"].nunique()), "seconds": seconds,
            "campaign_s": campaign_s, "outside_s": seconds - campaign_s / concurrent}


def run(mode: str, *, device: str) -> Section:
    import ray

    section = Section("ray", "Study runner: Ray Tune against an in-process run (alstudy run)")
    if torch.device(device).type != "cpu":
        section.notes.append("measured on CPU (the study's trials request CPUs only)")
    cores = usable_cores()
    cap = torch.get_num_threads()  # `alstudy bench --threads N` caps every trial's threads too
    threads = min(cores, cap)
    started_here = not ray.is_initialized()
    t0 = perf_counter()
    if started_here:
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    section.summary["ray_init_s"] = perf_counter() - t0
    runs = [("local", True, 1, threads), ("ray1", False, 1, threads)]
    if cores >= 2:
        runs.append(("ray2", False, 2, min(cores // 2, cap)))
    try:
        with tempfile.TemporaryDirectory(prefix="alstudy-bench-ray-") as folder:
            section.rows = [time_study(folder, f"bench-{name}", mode=mode, cpu=cpu, local=local,
                                       concurrent=n) for name, local, n, cpu in runs]
    finally:
        if started_here:
            ray.shutdown()
    base, tune1 = section.rows[0], section.rows[1]
    section.summary.update(overhead_pct=100.0 * (tune1["seconds"] / base["seconds"] - 1.0),
                           overhead_steady_pct=100.0 * (tune1["campaign_s"] / base["campaign_s"] - 1.0))
    pair = section.rows[2] if len(section.rows) > 2 else None
    if pair is None:
        section.notes.append(f"2 concurrent trials not measured: {cores} core(s)")
    section.summary.update(
        speedup_2_over_1=tune1["seconds"] / pair["seconds"] if pair else None,
        speedup_2_over_1_steady=2.0 * tune1["campaign_s"] / pair["campaign_s"] if pair else None)
    section.targets += [
        target("Ray overhead over in-process, steady state (%)", section.summary["overhead_steady_pct"],
               at_most=OVERHEAD_GOAL_PCT, unit=" %"),
        target("2 concurrent trials over 1, steady state", section.summary["speedup_2_over_1_steady"],
               at_least=SPEEDUP_GOAL, unit="x")]
    section.notes += [
        f"{base['campaigns']} digits campaigns (random and entropy, one tuning trial and one "
        f"evaluation seed each) per run, {cores} cores; threads = the trial's CPUs (resources.cpu), "
        f"capped at {cap} (the bench process's threads); Ray started before timing (ray_init_s)",
        "campaign_s: the campaigns' stage seconds (train, eval, score, select) from results.parquet; "
        "outside_s = seconds - campaign_s / concurrent: the runner's own time (Tune startup, worker "
        "imports and data loading, reports, the results store)",
        "steady state compares campaign seconds only: overhead_steady_pct = Ray's campaign_s over "
        "the in-process campaign_s; speedup_2_over_1_steady = 2 x campaign_s at 1 over campaign_s at 2",
    ]
    return section
