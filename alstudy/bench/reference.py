"""Side by side: alstudy's campaign against the same campaign done the way common AL toolkits do it.

`run_reference` keeps the product's protocol, model construction, initial split, recipe (steps,
schedule, optimizer settings) and selection rules, but the usual pipeline: a per-sample
`Dataset` + `DataLoader` (num_workers=0) moved to the device per batch — with torchvision's PIL
transforms for images (`pipeline="pil"`), or the same steps as tensor ops on one sample
(`pipeline="tensor"`, a kinder baseline) —, float32, torch's stock optimizer and `nn.Dropout`,
MC dropout as T full forward passes, and the dense kernels of `alstudy.strategies.naive`.
Only image crop/flip augmentation is supported (no mixup, SWA or warm start).
`speedup` = reference seconds / alstudy seconds; `speedup_tensor` is the same ratio against
the tensor pipeline, so the gap between the two is the PIL pipeline's share.
"""

from __future__ import annotations

import math
from time import perf_counter
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from alstudy.bench.section import Section, target
from alstudy.campaign import initial_split, new_model, run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.rng import derive_seed, torch_generator
from alstudy.strategies import Needs, PoolView
from alstudy.strategies.naive import make_dense
from alstudy.training.fit import lr_factor, make_optimizer, num_steps

EVAL_BATCH = 256
PIPELINES = ("pil", "tensor")
# Per mode: (dataset, strategies, budget, recipe), seed 0. Images train with their crop
# augmentation (per sample in the reference); MNIST-1D without: a campaign bound by compute.
_SHORT = TrainConfig(epochs=2, min_steps=10)
PLANS = {
    "smoke": (("wine", ("bald",), Budget(5, 5, 1), _SHORT),
              ("digits", ("badge",), Budget(10, 10, 1), TrainConfig(epochs=2, min_steps=10, augment=1.0))),
    "quick": (("digits", ("bald", "badge"), Budget(50, 50, 2), TrainConfig(augment=1.0)),),
    "full": (("digits", ("bald", "badge", "coreset", "entropy"), Budget(50, 50, 8), TrainConfig(augment=1.0)),
             ("mnist1d", ("bald", "badge"), Budget(50, 50, 8), TrainConfig())),
}
SEED = 0
SPEEDUP_GOAL = 5.0
ACCURACY_SLACK = 0.02  # one seed: accuracies of equal recipes differ by about this much


class SampleDataset(torch.utils.data.Dataset):
    """Numpy arrays served one sample at a time through torchvision's transforms: images become
    normalized float tensors, then (for training) get a random crop of the image padded by `pad`
    pixels (reflect) and, with `flip`, a horizontal flip half the time; other arrays pass as
    they are. `pipeline="pil"` converts each image to a PIL image first (ToTensor, then
    Normalize), `"tensor"` converts with tensor ops. Draws from torch's global generator
    (`run_reference` seeds it per cycle)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...],
                 *, pad: int = 0, flip: bool = False, pipeline: str = "pil"):
        if pipeline not in PIPELINES:
            raise ValueError(f"reference pipeline {pipeline!r}; choices: {PIPELINES}")
        from torchvision import transforms as T

        self.x, self.y, self.pil = x, y, pipeline == "pil"
        self.transform = None
        if x.dtype == np.uint8:
            ones = (1.0,) * x.shape[1]
            convert = [T.ToTensor()] if self.pil else [lambda t: t.float() / 255.0]
            crop = [T.RandomCrop(x.shape[-2:], padding=pad, padding_mode="reflect")] if pad else []
            crop += [T.RandomHorizontalFlip()] if flip else []
            steps = convert + [T.Normalize(tuple(mean) or ones, tuple(std) or ones)]
            self.transform = T.Compose(crop + steps if self.pil else steps + crop)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.x[i]  # (C, H, W) uint8 for images
        if self.transform is not None and self.pil:
            from PIL import Image

            x = Image.fromarray(x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0))
        else:
            x = torch.from_numpy(x)
        return (x if self.transform is None else self.transform(x)), int(self.y[i])


def _loader(ds: SampleDataset, rows, *, batch_size: int = EVAL_BATCH, gen: torch.Generator | None = None):
    """Batches of `rows`; shuffled (dropping the last partial batch) when `gen` is given."""
    return DataLoader(Subset(ds, [int(i) for i in rows]), batch_size=batch_size, shuffle=gen is not None,
                      drop_last=gen is not None, num_workers=0, generator=gen)


def train(model, ds: SampleDataset, rows, config: CampaignConfig, *, device, gen) -> int:
    """Epochs over a shuffling DataLoader until the campaign's number of steps is reached."""
    recipe = config.train
    total = num_steps(len(rows), recipe)
    opt = make_optimizer(model, recipe, fused=False)  # torch's default update
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, recipe))
    loader = _loader(ds, rows, batch_size=min(recipe.batch_size, len(rows)), gen=gen)
    model.train()
    step = 0
    while step < total:
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb.to(device)), yb.to(device), label_smoothing=recipe.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == total:
                break
    model.eval()
    return total


@torch.no_grad()
def predict(model, ds: SampleDataset, rows, *, device, dropout: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, C), embeddings (N, D)) in one full pass; dropout on for MC samples."""
    model.eval()
    model.dropout.train(dropout)
    probs, embs = [], []
    for xb, _ in _loader(ds, rows):
        emb = model.features(xb.to(device))
        probs.append(F.softmax(model.head(emb), dim=1).cpu())
        embs.append(emb.cpu())
    model.dropout.eval()
    return torch.cat(probs), torch.cat(embs)


def accuracy(model, ds: SampleDataset, rows, *, device) -> float:
    rows = np.asarray(rows)
    return float((predict(model, ds, rows, device=device)[0].argmax(1).numpy() == ds.y[rows]).mean())


def pool_view(model, ds: SampleDataset, pool: np.ndarray, labeled: list[int], needs: Needs, *, device) -> PoolView:
    """What the strategy needs, computed the usual way: MC dropout as T full passes."""
    probs, emb = predict(model, ds, pool, device=device) if needs.probs or needs.embedding else (None, None)
    mc = (torch.stack([predict(model, ds, pool, device=device, dropout=True)[0]
                       for _ in range(needs.mc_samples)]) if needs.mc_samples else None)  # (T, N, C)
    lab = predict(model, ds, labeled, device=device)[1] if needs.labeled_embedding else None
    return PoolView(n=len(pool), probs=probs, mc_probs=mc, embedding=emb, labeled_embedding=lab)


def run_reference(config: CampaignConfig, seed: int, *, device: str = "cpu",
                  pipeline: str = "pil") -> list[dict[str, Any]]:
    """The campaign of `config` the usual way; one record per cycle (accuracies and timings).
    `pipeline` is how samples are converted and augmented (see `SampleDataset`)."""
    data, recipe = get_dataset(config.dataset, root=config.data_root), config.train
    if recipe.augment and (data.augmentation not in ("crop", "crop_flip") or recipe.augment > 1):
        raise ValueError(f"reference: {data.augmentation} augmentation at {recipe.augment} not implemented")
    if recipe.mixup or recipe.swa or recipe.warm_start:
        raise ValueError("reference: mixup, SWA and warm start are not implemented")
    budget = config.budget.resolve(data.n_train)
    x_train, y_train = data.x_train.numpy(), data.y_train.numpy()
    pool_set = SampleDataset(x_train, y_train, data.mean, data.std, pipeline=pipeline)
    test_set = SampleDataset(data.x_test.numpy(), data.y_test.numpy(), data.mean, data.std, pipeline=pipeline)
    pad = 0
    if recipe.augment:  # the crop alstudy.data.augment describes: ceil(strength * H / 8) pixels
        h, w = data.input_shape[1:]
        pad = min(math.ceil(recipe.augment * h / 8), h // 2, w // 2)
    val_idx, initial = initial_split(data.n_train, budget, seed)
    labeled = initial.tolist()
    strategy = make_dense(config.strategy, **dict(config.strategy_options))
    records = []
    for cycle in range(budget.cycles + 1):
        t0 = perf_counter()
        model = new_model(config.model or data.default_model, data, config, seed, cycle, torch.device(device))
        model.dropout = torch.nn.Dropout(recipe.dropout)  # the stock module
        train_set = SampleDataset(x_train, y_train, data.mean, data.std, pad=pad, pipeline=pipeline,
                                  flip=bool(recipe.augment) and data.augmentation == "crop_flip")
        with torch.random.fork_rng(devices=[]):  # transforms and dropout draw from it
            torch.manual_seed(derive_seed(seed, "augment", cycle))
            steps = train(model, train_set, labeled, config, device=device, gen=torch_generator(seed, "train", cycle))
        t1 = perf_counter()
        record = {"cycle": cycle, "n_labeled": len(labeled), "steps": steps,
                  "val_acc": accuracy(model, pool_set, val_idx, device=device),
                  "test_acc": accuracy(model, test_set, range(len(test_set)), device=device),
                  "seconds_train": t1 - t0, "seconds_eval": perf_counter() - t1, "seconds_query": 0.0}
        if cycle < budget.cycles:
            t2 = perf_counter()
            taken = set(labeled) | set(val_idx.tolist())
            pool = np.array([i for i in range(data.n_train) if i not in taken])
            view = pool_view(model, pool_set, pool, labeled, strategy.needs(), device=device)
            positions = strategy.select(view, budget.per_cycle, torch_generator(seed, "select", cycle))
            labeled = labeled + pool[positions.cpu().numpy()].tolist()
            record["seconds_query"] = perf_counter() - t2
        records.append(record)
    return records


def compare(config: CampaignConfig, seed: int, *, device: str, reference_first: bool = False) -> dict:
    """One row: seconds, accuracies and speedups of alstudy against the reference (and, for
    images, against the tensor-pipeline reference; otherwise that pipeline is the same one)."""
    images = get_dataset(config.dataset, root=config.data_root).x_train.dtype == torch.uint8  # loaded, untimed
    runs = {"alstudy": run_campaign, "reference": run_reference,
            "reference_tensor": lambda c, s, device: run_reference(c, s, device=device, pipeline="tensor")}
    order = (["reference", "alstudy"] if reference_first else ["alstudy", "reference"]) + ["reference_tensor"] * images
    sides = {}
    for name in order:
        t0 = perf_counter()
        records = runs[name](config, seed, device=device)
        sides[name] = {"seconds": perf_counter() - t0, "final_acc": records[-1]["test_acc"],
                       "mean_acc": sum(r["test_acc"] for r in records) / len(records),
                       "train_s": sum(r["seconds_train"] for r in records)}
    ours, ref = sides["alstudy"], sides["reference"]
    tensor = sides.get("reference_tensor", ref)
    return {"dataset": config.dataset, "strategy": config.strategy,
            "alstudy_s": ours["seconds"], "reference_s": ref["seconds"], "speedup": ref["seconds"] / ours["seconds"],
            "reference_tensor_s": tensor["seconds"], "speedup_tensor": tensor["seconds"] / ours["seconds"],
            "reference_tensor_acc": tensor["final_acc"], "train_speedup": ref["train_s"] / ours["train_s"],
            "query_speedup": (ref["seconds"] - ref["train_s"]) / max(1e-9, ours["seconds"] - ours["train_s"]),
            "alstudy_acc": ours["final_acc"], "reference_acc": ref["final_acc"],
            "alstudy_mean_acc": ours["mean_acc"], "reference_mean_acc": ref["mean_acc"]}


def run(mode: str, *, device: str) -> Section:
    section = Section("reference", "Side by side: alstudy vs the usual toolkit pipeline",
                      wide=("reference_tensor_acc", "alstudy_mean_acc", "reference_mean_acc"))
    from PIL import Image  # noqa: F401  (one-time imports are not what is compared)
    from torchvision import transforms  # noqa: F401

    torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)  # the first optimizer imports torch._dynamo
    for dataset, strategies, budget, recipe in PLANS[mode]:
        for i, strategy in enumerate(strategies):
            config = CampaignConfig(dataset, strategy, budget=budget, train=recipe)
            # alternate which side runs first, so that a drifting machine favours neither
            section.rows.append(compare(config, SEED, device=device, reference_first=i % 2 == 1))
        section.notes.append(f"{dataset}: {budget.initial} + {budget.cycles} x {budget.per_cycle} labels, "
                             f"{recipe.epochs} epochs (>= {recipe.min_steps} steps), augmentation {recipe.augment:g}")
    rows = section.rows
    total = {key: sum(r[key] for r in rows) for key in ("alstudy_s", "reference_s", "reference_tensor_s")}
    acc = {key: sum(r[key] for r in rows) / len(rows) for key in ("alstudy_acc", "reference_acc")}
    speedup = total["reference_s"] / total["alstudy_s"]
    section.summary.update(speedup=speedup, speedup_tensor=total["reference_tensor_s"] / total["alstudy_s"],
                           **total, **acc)
    section.targets += [
        target("campaign speedup over the reference", speedup, at_least=SPEEDUP_GOAL, unit="x"),
        target("final accuracy, alstudy - reference (mean over strategies)",
               acc["alstudy_acc"] - acc["reference_acc"], at_least=-ACCURACY_SLACK)]
    section.notes += [
        f"seed {SEED}, device {device}, torch threads {torch.get_num_threads()}; both sides share splits, "
        "initial weights, step counts, recipe and selection rules (see alstudy.bench.reference)",
        f"the accuracy target allows {ACCURACY_SLACK} for seed noise: the sides shuffle and draw dropout "
        "masks from different streams; speedup_tensor counts non-image rows at their one pipeline",
    ]
    return section
