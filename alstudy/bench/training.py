"""Training throughput: samples per second of `fit` for each model on its dataset's shape."""

from __future__ import annotations

from time import perf_counter

import numpy as np
import torch

from alstudy.bench import synthetic
from alstudy.bench.section import Section
from alstudy.bench.timing import seconds, sync
from alstudy.config import TrainConfig
from alstudy.rng import torch_generator
from alstudy.training import fit

# (model, the registry dataset whose shape it trains on, batch size on CPU, on CUDA)
CASES = (("mlp", "digits", 64, 64), ("cnn1d", "mnist1d", 64, 64), ("cnn2d", "mnist", 64, 256),
         ("resnet18", "cifar10", 32, 512), ("wrn28_2", "cifar10", 32, 512))
BIG = ("resnet18", "wrn28_2")  # measured on CPU in full mode only
SECONDS = {"smoke": 0.1, "quick": 2.0, "full": 8.0}  # of timed training per model
SMOKE_BATCH = 8


def throughput(model_name: str, dataset: str, batch_size: int, *, device: str, seconds_target: float,
               augment: float = 1.0, max_steps: int = 100_000, compile: bool = False,
               rows: int | None = None) -> dict:
    """Train a fresh `model_name` on `rows` random samples shaped like `dataset` (default: 8
    batches' worth): two warm-up steps, then as many steps as fill about `seconds_target`.
    `compile` runs the backbone through torch.compile (`warmup_s` includes compilation)."""
    ds = synthetic.like(dataset, rows or batch_size * 8, device=device)
    model = synthetic.model(model_name, ds, device=device)
    if compile:
        model.backbone = torch.compile(model.backbone)
    aug = ds.augmenter(augment)

    def train(steps: int) -> None:
        cfg = TrainConfig(epochs=0, min_steps=steps, batch_size=batch_size, augment=augment)
        fit(model, ds.x_train, ds.y_train, train=cfg, to_float=ds.to_float, augment=aug,
            gen=torch_generator(0, "bench-train", device=torch.device(device).type),
            mix_rng=np.random.default_rng(0))

    t0 = perf_counter()
    train(2)  # the first steps pay for lazy initialization (kernels, allocator, compilation)
    sync(device)
    warmup = perf_counter() - t0
    per_step = seconds(lambda: train(2), device=device) / 2
    steps = int(min(max_steps, max(3, seconds_target / max(per_step, 1e-9))))
    took = seconds(lambda: train(steps), device=device)
    return {"model": model_name, "shape": dataset, "input": "x".join(map(str, ds.input_shape)),
            "batch": batch_size, "augment": augment, "steps": steps, "seconds": took,
            "samples_per_s": steps * batch_size / took, "warmup_s": warmup}


def run(mode: str, *, device: str) -> Section:
    section = Section("training", "Training throughput (fit, samples/s)", wide=("warmup_s",))
    cuda = torch.device(device).type == "cuda"
    for model_name, dataset, bs_cpu, bs_cuda in CASES:
        if model_name in BIG and not cuda and mode != "full":
            section.notes.append(f"{model_name} skipped on CPU in {mode} mode (run with --device cuda or in full mode)")
            continue
        bs = min(bs_cuda if cuda else bs_cpu, SMOKE_BATCH if mode == "smoke" else 1 << 30)
        section.rows.append(throughput(model_name, dataset, bs, device=device, seconds_target=SECONDS[mode]))
    section.notes.append("random data of each dataset's shape, its batch augmentation at strength 1, SGD as in a "
                         "campaign, steps chosen from a timed warm-up; "
                         + ("bf16 autocast and channels_last" if cuda else "CPU: float32 and channels_last"))
    return section
