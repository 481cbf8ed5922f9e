"""The side-by-side reference: an AL campaign done the way common AL toolkits do it.

Same protocol, recipe and randomness sources as `run_campaign` (same validation and initial
sets, same initial weights, same number of optimizer steps, learning-rate schedule and
optimizer settings, same selection rules), but with the usual pipeline:

* a per-sample `torch.utils.data.Dataset`, batched by a `DataLoader` (num_workers=0) and moved
  to the device per batch. With `pipeline="pil"` (the default, what DeepAL- and TorchAL-style
  code does) every image becomes a PIL image and goes through torchvision's
  RandomCrop / RandomHorizontalFlip / ToTensor / Normalize. With `pipeline="tensor"` (a kinder
  baseline) `__getitem__` does the same steps with tensor ops on one sample;
* float32 everywhere; torch's stock optimizer (the per-tensor loop on the CPU) and
  `nn.Dropout`;
* MC dropout as T full forward passes of the whole network with dropout switched on;
* the dense selection kernels of `alstudy.strategies.naive` (core-set on the full distance
  matrix, BADGE on materialized gradient embeddings); every other strategy is the product's.

Model construction, the initial split and the selection rules (the strategy's needs, its
generator, its picks given the same outputs) come from the product. Only what the chosen comparisons need is supported: image crop/flip augmentation (per sample,
as transforms do it), no mixup, SWA or warm start.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from alstudy.campaign import new_model, initial_split
from alstudy.config import CampaignConfig
from alstudy.data import get_dataset
from alstudy.rng import derive_seed, torch_generator
from alstudy.strategies import Needs, PoolView
from alstudy.strategies.naive import make_dense
from alstudy.training.fit import lr_factor, make_optimizer, num_steps

EVAL_BATCH = 256
PIPELINES = ("pil", "tensor")


class SampleDataset(torch.utils.data.Dataset):
    """Numpy arrays served one sample at a time, each converted by a per-sample transform:
    ToTensor + Normalize for images, then (training only) a random crop of the image padded by
    `pad` pixels (reflect) and, with `flip`, a horizontal flip half the time.

    `pipeline="pil"`: torchvision's transforms on a PIL image; they draw from torch's global
    generator, which `run_reference` seeds per cycle. `pipeline="tensor"`: tensor ops drawing
    from `gen`. Non-image arrays are converted with `torch.from_numpy` either way."""

    def __init__(self, x: np.ndarray, y: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...],
                 *, pad: int = 0, flip: bool = False, gen: torch.Generator | None = None,
                 pipeline: str = "pil"):
        if pipeline not in PIPELINES:
            raise ValueError(f"reference pipeline {pipeline!r}; choices: {PIPELINES}")
        self.x, self.y = x, y
        shape = (-1,) + (1,) * (x.ndim - 2)
        self.mean = torch.tensor(mean or (0.0,), dtype=torch.float32).view(shape)
        self.std = torch.tensor(std or (1.0,), dtype=torch.float32).view(shape)
        self.images = x.dtype == np.uint8
        self.pad, self.flip, self.gen = pad, flip, gen
        self.transform = None
        if self.images and pipeline == "pil":
            from PIL import Image
            from torchvision import transforms as T

            self.to_image = Image.fromarray

            steps = [T.RandomCrop(x.shape[-2:], padding=pad, padding_mode="reflect")] if pad else []
            steps += [T.RandomHorizontalFlip()] if flip else []
            channels = x.shape[1]
            self.transform = T.Compose(steps + [T.ToTensor(), T.Normalize(
                tuple(mean) or (0.0,) * channels, tuple(std) or (1.0,) * channels)])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.transform is not None:
            pixels = self.x[i]  # (C, H, W) uint8
            image = self.to_image(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
            return self.transform(image), int(self.y[i])
        x = torch.from_numpy(self.x[i])
        if self.images:
            x = (x.float() / 255.0 - self.mean) / self.std
        if self.pad:
            _, h, w = x.shape
            x = F.pad(x.unsqueeze(0), (self.pad,) * 4, mode="reflect")[0]
            dy, dx = torch.randint(0, 2 * self.pad + 1, (2,), generator=self.gen).tolist()
            x = x[:, dy:dy + h, dx:dx + w]
        if self.flip and float(torch.rand((), generator=self.gen)) < 0.5:
            x = x.flip(2)
        return x, int(self.y[i])


def _loader(ds: SampleDataset, rows, *, batch_size: int, shuffle: bool = False,
            gen: torch.Generator | None = None) -> DataLoader:
    return DataLoader(Subset(ds, [int(i) for i in rows]), batch_size=batch_size, shuffle=shuffle,
                      drop_last=shuffle, num_workers=0, generator=gen)


def train(model, ds: SampleDataset, rows, config: CampaignConfig, *, device, gen) -> int:
    """Epochs over a shuffling DataLoader until the campaign's number of steps is reached."""
    recipe = config.train
    total = num_steps(len(rows), recipe)
    opt = make_optimizer(model, recipe, fused=False)  # torch's default update
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, recipe))
    loader = _loader(ds, rows, batch_size=min(recipe.batch_size, len(rows)), shuffle=True, gen=gen)
    model.train()
    step = 0
    while step < total:
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=recipe.label_smoothing)
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
def accuracy(model, ds: SampleDataset, rows, *, device) -> float:
    model.eval()
    correct = 0
    for xb, yb in _loader(ds, rows, batch_size=EVAL_BATCH):
        correct += int((model(xb.to(device)).argmax(1).cpu() == yb).sum())
    return correct / max(1, len(rows))


@torch.no_grad()
def predict(model, ds: SampleDataset, rows, *, device, dropout: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, C), embeddings (N, D)) in one pass; dropout on for MC samples."""
    model.eval()
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)] if dropout else []
    for m in dropouts:
        m.train()
    probs, embs = [], []
    for xb, _ in _loader(ds, rows, batch_size=EVAL_BATCH):
        emb = model.features(xb.to(device))
        probs.append(F.softmax(model.head(emb), dim=1).cpu())
        embs.append(emb.cpu())
    for m in dropouts:
        m.eval()
    return torch.cat(probs), torch.cat(embs)


@torch.no_grad()
def pool_view(model, ds: SampleDataset, pool: np.ndarray, labeled: list[int], needs: Needs, *,
              device) -> PoolView:
    """What the strategy needs, computed the usual way: MC dropout as T full passes."""
    probs, emb = predict(model, ds, pool, device=device) if needs.probs or needs.embedding else (None, None)
    mc = (torch.stack([predict(model, ds, pool, device=device, dropout=True)[0]
                       for _ in range(needs.mc_samples)]) if needs.mc_samples else None)  # (T, N, C)
    lab = predict(model, ds, labeled, device=device)[1] if needs.labeled_embedding else None
    return PoolView(n=len(pool), probs=probs, mc_probs=mc, embedding=emb, labeled_embedding=lab)


def check_supported(config: CampaignConfig, augmentation: str) -> None:
    recipe = config.train
    if recipe.augment and (augmentation not in ("crop", "crop_flip") or recipe.augment > 1):
        raise ValueError(f"reference: {augmentation} augmentation at {recipe.augment} not implemented")
    if recipe.mixup or recipe.swa or recipe.warm_start:
        raise ValueError("reference: mixup, SWA and warm start are not implemented")


def run_reference(config: CampaignConfig, seed: int, *, device: str = "cpu",
                  pipeline: str = "pil") -> list[dict[str, Any]]:
    """The campaign of `config` the usual way; one record per cycle (accuracies and timings).
    `pipeline` is how samples are converted and augmented (see `SampleDataset`)."""
    data = get_dataset(config.dataset, root=config.data_root)
    check_supported(config, data.augmentation)
    budget = config.budget.resolve(data.n_train)
    x_train, y_train = data.x_train.numpy(), data.y_train.numpy()
    pool_set = SampleDataset(x_train, y_train, data.mean, data.std, pipeline=pipeline)
    test_set = SampleDataset(data.x_test.numpy(), data.y_test.numpy(), data.mean, data.std,
                             pipeline=pipeline)
    strength = config.train.augment
    pad = 0
    if strength:  # the crop alstudy.data.augment describes: ceil(strength * H / 8) pixels
        h, w = data.input_shape[1:]
        pad = min(math.ceil(strength * h / 8), h // 2, w // 2)
    val_idx, initial = initial_split(data.n_train, budget, seed)
    labeled = initial.tolist()
    strategy = make_dense(config.strategy, **dict(config.strategy_options))
    records = []
    for cycle in range(budget.cycles + 1):
        t0 = perf_counter()
        model = new_model(config.model or data.default_model, data, config, seed, cycle,
                           torch.device(device))
        train_set = SampleDataset(x_train, y_train, data.mean, data.std, pad=pad,
                                  flip=bool(strength) and data.augmentation == "crop_flip",
                                  gen=torch_generator(seed, "augment", cycle), pipeline=pipeline)
        model.dropout = torch.nn.Dropout(config.train.dropout)  # the stock module
        with torch.random.fork_rng(devices=[]):  # transforms and dropout draw from it
            torch.manual_seed(derive_seed(seed, "augment", cycle))
            steps = train(model, train_set, labeled, config, device=device,
                          gen=torch_generator(seed, "train", cycle))
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
