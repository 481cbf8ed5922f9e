"""The dataset record every part of alstudy sees: its registry spec plus tensors on one device."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import torch

from alstudy.data.registry import DatasetSpec

if TYPE_CHECKING:
    from alstudy.data.augment import Augment, JointAugment


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors of the dataset `spec` describes, kept on one device.

    `x_*` are uint8 images (N, C, H, W) or float32 features (N, D) / signals (N, C, L);
    `y_*` are int64 labels (N,) for classification, uint8 masks (N, H, W) of class ids for
    segmentation (`spec.ignore_index` where a pixel is unlabeled; a loss or metric turns them
    into int64 one batch at a time). `to_float` turns a gathered batch into the float32 network
    input (uint8 -> [0, 1] -> per-channel standardization with `mean`/`std`; float data is
    stored already standardized and passes through). Indices everywhere in alstudy are
    absolute row indices into `x_train`. The spec's facts (name, classes, input shape,
    default model, augmentation) are read through it, never copied.
    """

    spec: DatasetSpec
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...] = ()    # per-channel statistics of uint8 images in [0, 1]
    std: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def task(self) -> str:
        """"classification" or "segmentation"."""
        return self.spec.task

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.spec.input_shape

    @property
    def default_model(self) -> str:
        return self.spec.default_model

    @property
    def augmentation(self) -> str:
        """One of "crop_flip", "crop", "signal", "tabular", "none"; see alstudy.data.augment."""
        return self.spec.augmentation

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def to(self, device: str | torch.device) -> "Dataset":
        device = torch.device(device)
        if self.device == device:
            return self
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return replace(self, x_train=move(self.x_train), y_train=move(self.y_train),
                       x_test=move(self.x_test), y_test=move(self.y_test))

    def augmenter(self, strength: float) -> "Augment | JointAugment":
        """This dataset's batch augmentation at `strength`: `aug(x, gen) -> x` on `to_float`
        output, or for segmentation `aug(x, y, gen) -> (x, y)` moving the uint8 masks along
        (padding with `ignore_index` where the dataset has one, else background 0)."""
        from alstudy.data.augment import make_augment

        fill = self.spec.ignore_index if self.spec.ignore_index is not None else 0
        return make_augment(self.augmentation, strength, mean=self.mean, std=self.std,
                            **({"fill": fill} if self.task == "segmentation" else {}))

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        """float32 network input from a batch of stored rows (on this dataset's device)."""
        if x.dtype != torch.uint8:
            return x
        x = x.float().div_(255.0)
        if self.mean:
            mean, std = self._stats if x.device == self.device else _stats(self.mean, self.std, x.device)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            x = x.sub_(mean.view(shape)).div_(std.view(shape))
        return x

    @cached_property
    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Built once per Dataset (and so per device: `to` makes a new one); building them per
        # batch was a host-to-device copy in every training step.
        return _stats(self.mean, self.std, self.device)


def _stats(mean: tuple[float, ...], std: tuple[float, ...],
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(mean, device=device), torch.tensor(std, device=device)  # (C,), (C,)
