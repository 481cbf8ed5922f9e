"""Training throughput: samples per second of `fit` for each model on its dataset's shape."""

from __future__ import annotations


from time import perf_counter

import numpy as np
import torch

from alstudy.bench import synthetic
from alstudy.bench.section import Section
from alstudy.bench.timing import scaled_count, seconds, sync
from alstudy.config import TrainConfig
from alstudy.models import make_model
from alstudy.rng import torch_generator
from alstudy.training import fit

# (model, the registry dataset whose shape it trains on, batch size on CPU, on CUDA)
CASES = (
    ("mlp", "digits", 64, 64),
    ("cnn1d", "mnist1d", 64, 64),
    ("cnn2d", "mnist", 64, 256),
    ("resnet18", "cifar10", 32, 512),
    ("wrn28_2", "cifar10", 32, 512),
)
BIG = {"resnet18", "wrn28_2"}
# Seconds of timed training per model, and whether the big models run on CPU.
SIZES = {
    "smoke": {"seconds": 0.1, "big_on_cpu": (), "batch_cap": 8},
    "quick": {"seconds": 2.0, "big_on_cpu": (), "batch_cap": None},
    "full": {"seconds": 8.0, "big_on_cpu": ("resnet18", "wrn28_2"), "batch_cap": None},
}


def throughput(model_name: str, dataset: str, batch_size: int, *, device: str,
               seconds_target: float, augment: float = 1.0, max_steps: int = 100_000,
               compile: bool = False, rows: int | None = None) -> dict:
    """Train a fresh `model_name` on random data shaped like `dataset`; a few warm-up steps,
    then as many steps as fill about `seconds_target`. Returns one row. `compile` runs the
    backbone through torch.compile (its warm-up, compilation included, is `warmup_s`).
    Batches are drawn from `rows` stored samples (default: 8 batches' worth)."""
    ds = synthetic.like(dataset, rows or batch_size * 8, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = make_model(model_name, ds.input_shape, ds.num_classes, dropout=0.3).to(device)
    if compile:
        model.backbone = torch.compile(model.backbone)
    aug = ds.augmenter(augment)

    def train(steps: int) -> None:
        cfg = TrainConfig(epochs=0, min_steps=steps, batch_size=batch_size, augment=augment)
        fit(model, ds.x_train, ds.y_train, train=cfg, to_float=ds.to_float, augment=aug,
            gen=torch_generator(0, "bench-train", device=torch.device(device).type),
            mix_rng=np.random.default_rng(0))

    warm = 2
    t0 = perf_counter()
    train(warm)  # first steps pay for lazy initialization (kernels, allocator, compilation)
    sync(device)
    warmup = perf_counter() - t0
    per_step = seconds(lambda: train(warm), device=device) / warm
    steps = scaled_count(per_step, seconds_target=seconds_target, lo=3, hi=max_steps)
    took = seconds(lambda: train(steps), device=device)
    return {"model": model_name, "shape": dataset, "input": "x".join(map(str, ds.input_shape)),
            "batch": batch_size, "augment": augment, "steps": steps, "seconds": took,
            "samples_per_s": steps * batch_size / took, "warmup_s": warmup}


def run(mode: str, *, device: str) -> Section:
    sizes = SIZES[mode]
    section = Section("training", "Training throughput (fit, samples/s)", wide=("warmup_s",))
    cuda = torch.device(device).type == "cuda"
    for model_name, dataset, bs_cpu, bs_cuda in CASES:
        if model_name in BIG and not cuda and model_name not in sizes["big_on_cpu"]:
            section.notes.append(f"{model_name} skipped on CPU in {mode} mode (measured with "
                                 "--device cuda, or on CPU in full mode)")
            continue
        bs = bs_cuda if cuda else bs_cpu
        if sizes["batch_cap"]:
            bs = min(bs, sizes["batch_cap"])
        section.rows.append(throughput(model_name, dataset, bs, device=device,
                                       seconds_target=sizes["seconds"]))
    if not cuda:
        section.notes.append("CPU: float32 and channels_last, big models at batch 32 (a rough "
                             "figure); CUDA adds bf16 autocast")
    section.notes.append("random data of each dataset's shape; its batch augmentation at strength 1; "
                         "SGD as in a campaign; steps chosen from a timed warm-up")
    return section
