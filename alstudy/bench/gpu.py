"""GPU section: CIFAR-10-shaped data (50 000 x 3 x 32 x 32 uint8) with the CIFAR ResNet-18 —
training and scoring images/s, kernels at N = 50 000 — and packing 1, 2, 4 campaign processes
on one GPU.

Runs only with --device cuda. The functions take any device so that tests can run them on CPU
at tiny sizes (torch.compile is measured on CUDA only).
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_errors
import threading
from time import perf_counter

import torch

from alstudy.bench import kernels, scoring, training
from alstudy.bench.section import Section, target
from alstudy.config import Budget, CampaignConfig, TrainConfig

SIZES = {
    "smoke": {"pool": 32, "batch": 8, "seconds": 0.2, "kernel_n": 300, "kernel_d": 16,
              "kernel_k": 10, "processes": (1, 2), "per_process": 1},
    "quick": {"pool": 50_000, "batch": 512, "seconds": 10.0, "kernel_n": 50_000, "kernel_d": 512,
              "kernel_k": 1_000, "processes": (1, 2, 4), "per_process": 2},
    "full": {"pool": 50_000, "batch": 512, "seconds": 30.0, "kernel_n": 50_000, "kernel_d": 512,
             "kernel_k": 1_000, "processes": (1, 2, 4), "per_process": 4},
}
TRAIN_GOAL = 25_000.0    # images/s, ResNet-18 on an H100
PACKING_GOAL = 3.0       # 4 packed campaigns over 1
PACK_DATASET, PACK_STRATEGY = "mnist1d", "entropy"  # a small-model campaign


def pack_campaign(mode: str) -> CampaignConfig:
    if mode == "smoke":  # digits loads fastest
        return CampaignConfig("digits", PACK_STRATEGY, budget=Budget(20, 20, 1),
                              train=TrainConfig(epochs=2, min_steps=10))
    return CampaignConfig(PACK_DATASET, PACK_STRATEGY, budget=Budget(50, 50, 8))


def _pack_worker(config: CampaignConfig, seeds: list[int], device: str, threads: int,
                 barrier, results) -> None:
    """One packed process: warm up (CUDA context, data, kernels), wait for the others, then run
    the campaigns of `seeds` and report the seconds they took."""
    torch.set_num_threads(threads)
    from alstudy.campaign import run_campaign

    warm = CampaignConfig(config.dataset, config.strategy, budget=Budget(10, 10, 1),
                          train=TrainConfig(epochs=1, min_steps=5))
    run_campaign(warm, 0, device=device)
    barrier.wait(timeout=1_800)
    t0 = perf_counter()
    for seed in seeds:
        run_campaign(config, seed, device=device)
    results.put(perf_counter() - t0)


def packing(config: CampaignConfig, processes: int, per_process: int, *, device: str,
            timeout: float = 1_800.0) -> dict:
    """`processes` spawned processes each run `per_process` campaigns at once on `device`;
    aggregate campaigns per minute from the moment all are ready until the last finishes."""
    from alstudy.bench.hardware import usable_cores

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
    threads = max(1, usable_cores() // processes)
    procs = [ctx.Process(target=_pack_worker, daemon=True,
                         args=(config, list(range(i * per_process, (i + 1) * per_process)),
                               device, threads, barrier, results)) for i in range(processes)]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=timeout)
        t0 = perf_counter()
        times = [results.get(timeout=timeout) for _ in procs]
        wall = perf_counter() - t0
    except (threading.BrokenBarrierError, queue_errors.Empty):
        for p in procs:
            p.terminate()
        raise RuntimeError(f"packing with {processes} processes: a process failed or timed out") from None
    finally:
        for p in procs:
            p.join(timeout=60)
    total = processes * per_process
    return {"processes": processes, "campaigns": total, "seconds": wall,
            "campaigns_per_min": 60.0 * total / wall, "slowest_process_s": max(times)}


def measure(mode: str, *, device: str) -> Section:
    sizes = SIZES[mode]
    section = Section("gpu", "GPU: CIFAR-10-shaped ResNet-18, kernels at N = 50 000, packing")
    cuda = torch.device(device).type == "cuda"
    rows = []
    eager = training.throughput("resnet18", "cifar10", sizes["batch"], device=device,
                                seconds_target=sizes["seconds"], rows=sizes["pool"])
    rows.append({"measure": "train resnet18 eager", "value": eager["samples_per_s"], "unit": "img/s"})
    best_train = eager["samples_per_s"]
    if cuda:
        compiled = training.throughput("resnet18", "cifar10", sizes["batch"], device=device,
                                       seconds_target=sizes["seconds"], compile=True,
                                       rows=sizes["pool"])
        rows.append({"measure": "train resnet18 compiled", "value": compiled["samples_per_s"],
                     "unit": "img/s"})
        rows.append({"measure": "torch.compile warm-up", "value": compiled["warmup_s"], "unit": "s"})
        best_train = max(best_train, compiled["samples_per_s"])
    else:
        section.notes.append("torch.compile not measured off CUDA")
    score = scoring.score_case("resnet18", "cifar10", sizes["pool"], device=device, repeats=1,
                               rerun_rows=sizes["pool"] // 10)
    rows += [{"measure": "score resnet18 plain", "value": score["plain_rows_per_s"], "unit": "img/s"},
             {"measure": f"score resnet18 MC T={scoring.MC_SAMPLES}", "value": score["mc_rows_per_s"],
              "unit": "img/s"}]
    for kernel in kernels.KERNELS:
        case = kernels.run_case(kernel, sizes["kernel_n"], sizes["kernel_d"], sizes["kernel_k"],
                                device=device)
        label = f"kernel {kernel} {sizes['kernel_n']}x{sizes['kernel_d']} k={sizes['kernel_k']}"
        rows.append({"measure": label, "value": case["seconds"], "unit": "s"})
        rows.append({"measure": f"{label} peak", "value": case["peak_mib"], "unit": "MiB"})
    config = pack_campaign(mode)
    packed = {n: packing(config, n, sizes["per_process"], device=device) for n in sizes["processes"]}
    one = packed[1]["campaigns_per_min"]
    for n, out in packed.items():
        rows.append({"measure": f"packing {n} process(es)", "value": out["campaigns_per_min"],
                     "unit": "campaigns/min"})
        section.summary[f"packing_{n}_over_1"] = out["campaigns_per_min"] / one
    section.rows = rows
    section.summary["train_images_per_s"] = best_train
    section.targets.append(target("ResNet-18 training images/s", best_train, at_least=TRAIN_GOAL))
    most = max(packed)
    section.targets.append(target(f"{most} packed campaigns over 1", packed[most]["campaigns_per_min"] / one,
                                  at_least=PACKING_GOAL, unit="x"))
    section.notes += [
        f"training: batch {sizes['batch']}, crop+flip at strength 1, bf16 autocast and channels_last "
        "on CUDA (what fit does there); scoring and kernels as in their sections",
        f"packing: {config.dataset} / {config.strategy} campaigns ({config.budget.initial} + "
        f"{config.budget.cycles} x {config.budget.per_cycle} labels), {sizes['per_process']} per "
        "process, spawned processes that warm up first and start together",
        "the ResNet-18 target was set for an H100; compare other GPUs accordingly",
    ]
    return section


def run(mode: str, *, device: str) -> Section:
    if torch.device(device).type != "cuda":
        return Section("gpu", "GPU: CIFAR-10-shaped ResNet-18, kernels at N = 50 000, packing",
                       skipped="needs --device cuda and a CUDA device")
    return measure(mode, device=device)
