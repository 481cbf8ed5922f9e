"""The dataset record every part of alstudy sees."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from alstudy.data.augment import Augment


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors of one dataset, kept on one device.

    `x_*` are uint8 images (N, C, H, W) or float32 features (N, D) / signals (N, C, L);
    `y_*` are int64 labels (N,). `to_float` turns a gathered batch into the float32 network
    input (uint8 -> [0, 1] -> per-channel standardization with `mean`/`std`; float data is
    stored already standardized and passes through). Indices everywhere in alstudy are
    absolute row indices into `x_train`.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    default_model: str
    augmentation: str  # "crop_flip", "crop", "signal", "tabular" or "none"; see alstudy.data.augment
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

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

    def augmenter(self, strength: float) -> "Augment":
        """This dataset's batch augmentation at `strength` (`aug(x, gen) -> x` on `to_float` output)."""
        from alstudy.data.augment import make_augment

        return make_augment(self.augmentation, strength, mean=self.mean, std=self.std)

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            return x
        x = x.float().div_(255.0)
        if self.mean:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            mean = torch.tensor(self.mean, device=x.device).view(shape)
            std = torch.tensor(self.std, device=x.device).view(shape)
            x = x.sub_(mean).div_(std)
        return x
