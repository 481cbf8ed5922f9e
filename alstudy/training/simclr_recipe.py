"""SimCLR pretraining: its recipe and the key of one pretraining (a campaign reads a finished
one as `alstudy.config.Encoder`).

Torch-free (the study schema and the CLI validate with it). A pretraining depends only on
(dataset, model, model options, recipe, seed), so `pretrain_key` hashes exactly those: every
campaign with the same key shares one pretrained encoder, computed once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from alstudy.config import typed
from alstudy.errors import UsageError

FEATURES = ("model", "simclr")     # where an embedding strategy takes its features from


@dataclass(frozen=True)
class Recipe:
    """SimCLR (Chen et al. 2020) on the train split's inputs, without labels.

    `steps` optimizer steps of `batch_size` rows, each seen in two views of the dataset's
    augmentation at `strength` (images above 1 add RandAugment); AdamW at `lr` with a cosine
    schedule after a linear `warmup` (fraction of steps); NT-Xent at `temperature`; a 2-layer
    projection head of `proj_dim` outputs on the model's penultimate features."""

    steps: int = 300
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-6
    warmup: float = 0.05
    temperature: float = 0.5
    strength: float = 1.5
    proj_dim: int = 64

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "pretrain") -> "Recipe":
        """A checked Recipe; UsageError keyed `<where>.<name>` on the first bad value."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        at = (lambda k: f"{where} {k}") if where.startswith("-") else (lambda k: f"{where}.{k}")  # a flag or a table
        kwargs = {}
        for key, value in values.items():
            if key not in known:
                raise UsageError(f"unknown key; allowed: {', '.join(known)}", key=at(key))
            kwargs[key] = typed(value, known[key].default, at(key))
        recipe = cls(**kwargs)
        for key in ("steps", "batch_size", "lr", "temperature", "proj_dim"):
            if getattr(recipe, key) <= 0:
                raise UsageError("must be > 0", key=at(key), value=getattr(recipe, key))
        if recipe.batch_size < 2:   # NT-Xent needs a negative in the batch
            raise UsageError("must be >= 2 (the other rows are the negatives)", key=at("batch_size"),
                             value=recipe.batch_size)
        for key in ("weight_decay", "strength"):
            if getattr(recipe, key) < 0:
                raise UsageError("must be >= 0", key=at(key), value=getattr(recipe, key))
        if not 0 <= recipe.warmup < 1:
            raise UsageError("must be in [0, 1)", key=at("warmup"), value=recipe.warmup)
        return recipe

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Job:
    """One pretraining: what it depends on, nothing else."""

    dataset: str
    model: str
    model_options: Mapping[str, Any]
    recipe: Recipe
    seed: int
    data_root: str | None = None      # where a torchvision dataset lives (not part of the key)

    @property
    def key(self) -> str:
        return pretrain_key(self.dataset, self.model, self.model_options, self.recipe, self.seed)

    def describe(self) -> dict[str, Any]:
        """JSON facts of the job (kept beside the encoder)."""
        return {"key": self.key, "dataset": self.dataset, "model": self.model,
                "model_options": dict(self.model_options), "recipe": self.recipe.as_dict(), "seed": self.seed}


def pretrain_key(dataset: str, model: str, model_options: Mapping[str, Any], recipe: Recipe, seed: int) -> str:
    """`<dataset>-s<seed>-<hash>`: readable, and unique per (dataset, model, options, recipe, seed)."""
    blob = json.dumps({"dataset": dataset, "model": model, "model_options": dict(model_options),
                       "recipe": recipe.as_dict(), "seed": int(seed)}, sort_keys=True)
    return f"{dataset}-s{int(seed)}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
