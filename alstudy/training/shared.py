"""Trainings a study runs once: cells that would repeat a training load its result instead.

A cycle's training is a pure function of its inputs, and a study repeats many of them. Every
strategy of a (dataset, paradigm) starts cycle 0 from the same initial set, initial weights,
generator and recipe, so with S strategies cycle 0 trains S times with one result; and
self-training's teacher at cycle 0 is that same supervised model. A study gives its campaigns a
`SharedTrainings` on a folder of its results store (`shared/`): each finished cycle-0 training
is kept there under a key of everything it depends on, and a campaign about to run one that is
there loads the weights and the generators' states after it instead. Later cycles train on each
strategy's own labels, so they are not kept (a model file each would grow the store for nothing);
the folder is deleted when the study completes. Only campaigns at their cell's first proposal
(the untuned values: the same for every cell of a paradigm) or in the untuned arm use the folder
(`alstudy.study.plan.keeps_cycle0`): another proposal is one cell's own, so no cell would load
it, and keeping it would only fill the disk. Its rows are the same, number for number, as if it
had trained (tests/training/test_shared.py), except `shared_training` ("model", or "teacher"
where self-training loaded only its teacher) and `seconds_train`, which is then the seconds of
the training it reuses, so a row's cost stays what that cycle costs.

The key (`key`) holds the dataset, model and its options, the init, the whole training recipe,
the labeled augmentation's strength, the semi-supervised term (its method and resolved options;
none for a teacher or a supervised arm), the budget (the validation set and pool follow from
it), the seed, the cycle, the labeled indices in their order, the device type, whether kernels
are deterministic, and the code's id (a change of the source starts afresh). Never shared: a
training with a loss module beside it (learning loss), an ensemble's member 0 (its members
follow its schedule) (`Needs.plain_training`), and a warm-started cycle 0 that resumes from
weights.

Campaigns that start the same training at once each run it (the last write wins; on one
machine both wrote the same). The scheduler hands out a cell's campaigns before the next
cell's, so on a few cores most repeats find the result. On a cluster, trials on other nodes
find it only where the results store is on a shared file system; elsewhere each node keeps its
own copy in its local path, and a folder that cannot be written is simply not used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from alstudy.errors import UsageError
from alstudy.files import write_atomic

FOLDER = "shared"   # in a study's results store


@dataclass
class Trained:
    """A finished training: the model's weights, the states of the step generator and of the
    mixup generator after it, its step count and stop reason, the semi-supervised term's row
    columns, and the seconds it took."""

    weights: dict[str, torch.Tensor]
    gen_state: torch.Tensor
    mix_state: dict[str, Any]
    steps: int
    stop_reason: str
    seconds: float
    term: dict[str, Any] = field(default_factory=dict)


def key(parts: dict[str, Any]) -> str:
    """24 hex digits of the sha256 of `parts` as canonical JSON (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return dict(value.items())
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


class SharedTrainings:
    """The trainings of one study, kept as `<key>.pt` files in `folder`."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.pt")

    def load(self, name: str) -> Trained | None:
        """The training kept under `name`, or None (absent, or a file cut short)."""
        path = self._path(name)
        if not os.path.exists(path):
            return None
        try:
            return Trained(**torch.load(path, map_location="cpu", weights_only=True))
        except Exception:  # noqa: BLE001 - a damaged entry is one to compute again
            return None

    def save(self, name: str, trained: Trained) -> None:
        """Keep `trained` under `name` (written whole, then renamed). A folder that cannot take
        it (unwritable, full) keeps nothing: the campaign goes on, and its own log says a full disk."""
        buffer = io.BytesIO()
        torch.save(vars(trained), buffer)
        try:
            os.makedirs(self.folder, exist_ok=True)
            write_atomic(self._path(name), buffer.getvalue())
        except (OSError, UsageError):
            return

    def remove(self) -> None:
        """Delete the folder (a complete study needs it no more)."""
        shutil.rmtree(self.folder, ignore_errors=True)
