"""Pool scoring throughput: one plain pass, MC dropout (T samples of the head on one backbone
pass, as `infer` does), and for comparison T full forward passes with dropout on."""

from __future__ import annotations

import torch

from alstudy.bench import synthetic
from alstudy.bench.section import Section, target
from alstudy.bench.timing import seconds
from alstudy.rng import torch_generator
from alstudy.training import infer

MC_SAMPLES = 20
# (model, dataset shape); per mode and device kind: (pool rows, rows timed for full re-runs),
# sized so that convolutional models take seconds on CPU; None: not measured (ResNet-18 on a
# CPU takes minutes).
CASES = (("mlp", "digits"), ("cnn1d", "mnist1d"), ("cnn2d", "mnist"), ("resnet18", "cifar10"))
POOLS = {
    ("smoke", "cpu"): {"mlp": (256, 64), "cnn1d": (256, 64), "cnn2d": (64, 8), "resnet18": None},
    ("quick", "cpu"): {"mlp": (20_000, 2_000), "cnn1d": (20_000, 1_000), "cnn2d": (500, 10), "resnet18": None},
    ("full", "cpu"): {"mlp": (50_000, 10_000), "cnn1d": (50_000, 5_000), "cnn2d": (10_000, 500),
                      "resnet18": (1_000, 50)},
    ("smoke", "cuda"): {m: (256, 64) for m, _ in CASES},
    ("quick", "cuda"): {m: (50_000, 5_000) for m, _ in CASES},
    ("full", "cuda"): {m: (50_000, 50_000) for m, _ in CASES},
}
REPEATS = {"smoke": 1, "quick": 1, "full": 3}


@torch.inference_mode()
def full_reruns(model, x: torch.Tensor, to_float, *, samples: int, batch_size: int = 2048) -> torch.Tensor:
    """MC dropout the usual way: `samples` forward passes of the whole network with dropout on
    (BatchNorm kept in eval mode). Returns (T, N, C) probabilities."""
    model.eval()
    model.dropout.train()
    try:
        return torch.stack([torch.cat([model(to_float(x[i:i + batch_size])).softmax(1)
                                       for i in range(0, x.shape[0], batch_size)]) for _ in range(samples)])
    finally:
        model.dropout.eval()


def score_case(model_name: str, dataset: str, n: int, *, device: str, repeats: int,
               rerun_rows: int, samples: int = MC_SAMPLES) -> dict:
    """Rows/s of plain scoring, MC dropout and full re-runs for `model_name` on a pool of `n`."""
    ds = synthetic.like(dataset, n, device=device)
    model = synthetic.model(model_name, ds, device=device).eval()
    if ds.x_train.dim() == 4:  # as fit leaves a model of images
        model = model.to(memory_format=torch.channels_last)
    x, kind = ds.x_train, torch.device(device).type

    def score(rows: torch.Tensor, mc: int) -> None:
        infer(model, rows, to_float=ds.to_float, probs=not mc, mc_samples=mc,
              gen=torch_generator(0, "bench-mc", device=kind) if mc else None)

    for mc in (0, samples):
        score(x[:64], mc)  # the first calls pay for lazy initialization, not for rows
    t_plain = seconds(lambda: score(x, 0), device=device, repeats=repeats)
    t_mc = seconds(lambda: score(x, samples), device=device, repeats=repeats)
    sub = x[:min(rerun_rows, n)]
    t_rerun = seconds(lambda: full_reruns(model, sub, ds.to_float, samples=samples), device=device)
    plain, mc, rerun = n / t_plain, n / t_mc, sub.shape[0] / t_rerun
    return {"model": model_name, "shape": dataset, "pool": n, "rerun_rows": int(sub.shape[0]),
            "plain_rows_per_s": plain, "mc_rows_per_s": mc, "mc_cost": plain / mc,
            "rerun_rows_per_s": rerun, "rerun_cost": plain / rerun}


def run(mode: str, *, device: str) -> Section:
    pools = POOLS[mode, torch.device(device).type]
    section = Section("scoring", f"Pool scoring (rows/s; MC dropout T = {MC_SAMPLES})")
    for model_name, dataset in CASES:
        if pools[model_name] is None:
            section.notes.append(f"{model_name} skipped on {device} in {mode} mode")
            continue
        row = score_case(model_name, dataset, pools[model_name][0], device=device, repeats=REPEATS[mode],
                         rerun_rows=pools[model_name][1])
        section.rows.append(row)
        section.targets.append(target(f"MC dropout cost, {model_name}", row["mc_cost"], at_most=2.0, unit="x"))
    section.summary["mc_cost_max"] = max(r["mc_cost"] for r in section.rows)
    section.notes.append("plain: infer(probs=True); mc: infer(mc_samples=T), the backbone once, T dropout masks "
                         "on the embedding; rerun: T full passes with dropout on, timed on rerun_rows rows; "
                         "costs relative to a plain pass")
    return section
