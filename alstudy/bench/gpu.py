"""GPU section: CIFAR-10-shaped data (50 000 x 3 x 32 x 32 uint8) with the CIFAR ResNet-18 —
training and scoring images/s, kernels at N = 50 000 — and 1, 2, 4 campaigns packed on one GPU
by `alstudy run` with fractional GPUs.

Runs only with --device cuda. `measure` takes any device so that tests can run it on CPU at
tiny sizes (torch.compile is measured on CUDA only; packing then requests no GPU).
"""

from __future__ import annotations

import tempfile

import torch

from alstudy.bench import kernels, ray_overhead, scoring, training
from alstudy.bench.hardware import usable_cores
from alstudy.bench.section import Section, target

SIZES = {  # pool rows, batch, seconds of training, kernel case, packings, campaigns per slot
    "smoke": {"pool": 32, "batch": 8, "seconds": 0.2, "kernel": (300, 16, 10), "packings": (1, 2), "per_slot": 1},
    "quick": {"pool": 50_000, "batch": 512, "seconds": 10.0, "kernel": (50_000, 512, 1_000),
              "packings": (1, 2, 4), "per_slot": 2},
}
SIZES["full"] = SIZES["quick"] | {"seconds": 30.0, "per_slot": 4}
TRAIN_GOAL = 25_000.0    # images/s, ResNet-18 on an H100
PACKING_GOAL = 3.0       # 4 packed campaigns over 1
# The packed campaign: (dataset, budget, train) as in ray_overhead.PLANS; digits loads fastest.
PACK = {"smoke": ("digits", *ray_overhead.PLANS["smoke"]), "quick": ("mnist1d", ray_overhead.PLANS["full"][0], "")}
PACK["full"] = PACK["quick"]
TITLE = "GPU: CIFAR-10-shaped ResNet-18, kernels at N = 50 000, packing"


def packing(mode: str, slots: int, per_slot: int, *, cuda: bool) -> dict:
    """`alstudy run` of `slots` x `per_slot` entropy campaigns (one tuning trial on that many
    seeds; the evaluation campaign after them is left out), `slots` trials at a time on 1/`slots`
    of the GPU each (no GPU without CUDA). Campaigns per minute from the campaigns' stage
    seconds: each trial process pays its warm-up once, so packings compare fairly."""
    dataset, budget, train = PACK[mode]
    name = f"bench-pack{slots}"
    text = ray_overhead.study_text(name, budget=budget, train=train, dataset=dataset, strategies=("entropy",),
                                   seeds=tuple(range(slots * per_slot)), cpu=max(1, usable_cores() // slots),
                                   gpu=1 / slots if cuda else 0)
    with tempfile.TemporaryDirectory(prefix="alstudy-bench-pack-") as folder:
        row = ray_overhead.time_study(folder, name, text, local=False, concurrent=slots, phase="tune")
    return row | {"campaigns_per_min": 60.0 * slots * row["campaigns"] / row["campaign_s"]}


def measure(mode: str, *, device: str) -> Section:
    sizes = SIZES[mode]
    section = Section("gpu", TITLE)
    cuda = torch.device(device).type == "cuda"

    def add(measure: str, value: float | None, unit: str) -> None:
        section.rows.append({"measure": measure, "value": value, "unit": unit})

    train = {"eager": training.throughput("resnet18", "cifar10", sizes["batch"], device=device,
                                          seconds_target=sizes["seconds"], rows=sizes["pool"])}
    if cuda:
        train["compiled"] = training.throughput("resnet18", "cifar10", sizes["batch"], device=device,
                                                seconds_target=sizes["seconds"], compile=True, rows=sizes["pool"])
    for how, row in train.items():
        add(f"train resnet18 {how}", row["samples_per_s"], "img/s")
    if cuda:
        add("torch.compile warm-up", train["compiled"]["warmup_s"], "s")
    score = scoring.score_case("resnet18", "cifar10", sizes["pool"], device=device, repeats=1,
                               rerun_rows=sizes["pool"] // 10)
    add("score resnet18 plain", score["plain_rows_per_s"], "img/s")
    add(f"score resnet18 MC T={scoring.MC_SAMPLES}", score["mc_rows_per_s"], "img/s")
    n, d, k = sizes["kernel"]
    for kernel in kernels.KERNELS:
        case = kernels.run_case(kernel, n, d, k, device=device)
        add(f"kernel {kernel} {n}x{d} k={k}", case["seconds"], "s")
        add(f"kernel {kernel} {n}x{d} k={k} peak", case["peak_mib"], "MiB")
    with ray_overhead.ray_running(usable_cores()):
        packed = {s: packing(mode, s, sizes["per_slot"], cuda=cuda)["campaigns_per_min"] for s in sizes["packings"]}
    for slots, rate in packed.items():
        add(f"packing {slots} process(es)", rate, "campaigns/min")
        section.summary[f"packing_{slots}_over_1"] = rate / packed[1]
    best = max(row["samples_per_s"] for row in train.values())
    section.summary["train_images_per_s"] = best
    most = max(packed)
    section.targets += [target("ResNet-18 training images/s", best, at_least=TRAIN_GOAL),
                        target(f"{most} packed campaigns over 1", packed[most] / packed[1],
                               at_least=PACKING_GOAL, unit="x")]
    section.notes += [
        f"training: batch {sizes['batch']}, crop+flip, bf16 autocast and channels_last on CUDA (as fit "
        "does); the ResNet-18 target was set for an H100",
        f"packing: {PACK[mode][0]} / entropy campaigns through alstudy run, {sizes['per_slot']} per trial "
        "slot; n slots = n Ray worker processes on 1/n GPU each",
    ] + ([] if cuda else ["torch.compile not measured off CUDA"])
    return section


def run(mode: str, *, device: str) -> Section:
    if torch.device(device).type != "cuda":
        return Section("gpu", TITLE, skipped="needs --device cuda and a CUDA device")
    return measure(mode, device=device)
