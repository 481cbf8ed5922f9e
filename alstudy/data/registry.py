"""The dataset registry: every dataset name alstudy knows, and the one place that loads them.

Importing this module is cheap (no torch, no scikit-learn): the CLI lists and validates names
with it; the loaders are imported when a dataset is first requested.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alstudy.errors import UsageError

if TYPE_CHECKING:
    from alstudy.data.dataset import Dataset


@dataclass(frozen=True)
class DatasetSpec:
    """What is known about a dataset before loading it."""

    name: str
    kind: str                       # "image", "signal" or "tabular"
    num_classes: int
    input_shape: tuple[int, ...]
    default_model: str
    augmentation: str               # a kind of alstudy.data.augment.make_augment
    loader: str                     # "module:function" called as function() or function(root, download=)
    needs_root: bool = False
    n_train: int | None = None      # train rows, where fixed (lets validation skip loading)
    task: str = "classification"    # or "segmentation": y is then a uint8 mask (N, H, W)
    ignore_index: int | None = None  # the mask value of unlabeled pixels (segmentation), if any
    recipe: tuple[tuple[str, Any], ...] = ()   # TrainConfig values this dataset trains with unless
                                               # the study, paradigm or tuning sets them (measured)

    @property
    def metric(self) -> str:
        """The row column stem a campaign reports for this task: "acc" or "miou"."""
        return METRICS[self.task]


TASKS = ("classification", "segmentation")
METRICS = {"classification": "acc", "segmentation": "miou"}


# mnist5k_seg's U-Net at 50 labeled scenes (Intel Xeon, 2 cores, scratch loop with the campaign's
# pieces): SGD at TrainConfig's defaults stopped at ~110 steps with test mIoU 0.10 (background
# only), SGD gave 0.14 at 400 steps and 0.16 at 800. AdamW at lr 3e-3, augment 1, against steps
# (two labeled draws): 800 ~0.19-0.23, 1600 0.280 / 0.280, 3200 0.351 / 0.360, 6400 0.372 / 0.355;
# lr 1e-2 gave 0.170 at 1600 (draw 1). 3200 steps reach the plateau within ~2 points.
# Dropout 0.1, not TrainConfig's 0.3: the head drops the U-Net's 16 features per pixel, and at
# 0.3 some initializations never learn some digits. A study's cycle at 150 scenes (seed 0, its
# cycle-2 initialization, 3200 steps) gave test mIoU 0.293 with four digits at IoU 0.00-0.01;
# dropout 0.1 gave 0.484 and 0.0 gave 0.479, every digit 0.35 or more. At 50 scenes 0.3 / 0.1 /
# 0.0 gave 0.301 / 0.314 / 0.295. 0.1 keeps MC dropout (BALD) meaningful.
SEG_RECIPE = (("optimizer", "adamw"), ("lr", 3e-3), ("min_steps", 3200), ("batch_size", 16),
              ("dropout", 0.1))

_SPECS = (
    DatasetSpec("digits", "image", 10, (1, 8, 8), "mlp", "crop", "alstudy.data.embedded:load_digits",
                n_train=1198),
    DatasetSpec("mnist1d", "signal", 10, (1, 40), "cnn1d", "signal", "alstudy.data.generated:load_mnist1d",
                n_train=4000),
    DatasetSpec("mnist5k", "image", 10, (1, 28, 28), "cnn2d", "crop", "alstudy.data.embedded:load_mnist5k",
                n_train=4000),
    DatasetSpec("mnist5k_seg", "image", 11, (1, 32, 32), "unet", "seg_crop",
                "alstudy.data.segmentation:load_mnist5k_seg", n_train=4000, task="segmentation",
                recipe=SEG_RECIPE),
    DatasetSpec("breast_cancer", "tabular", 2, (30,), "mlp", "tabular",
                "alstudy.data.embedded:load_breast_cancer", n_train=379),
    DatasetSpec("wine", "tabular", 3, (13,), "mlp", "tabular", "alstudy.data.embedded:load_wine",
                n_train=118),
    DatasetSpec("mnist", "image", 10, (1, 28, 28), "cnn2d", "crop", "alstudy.data.vision:load_mnist", True),
    DatasetSpec("fashion_mnist", "image", 10, (1, 28, 28), "cnn2d", "crop_flip",
                "alstudy.data.vision:load_fashion_mnist", True),
    DatasetSpec("svhn", "image", 10, (3, 32, 32), "cnn2d", "crop", "alstudy.data.vision:load_svhn", True),
    DatasetSpec("cifar10", "image", 10, (3, 32, 32), "resnet18", "crop_flip",
                "alstudy.data.vision:load_cifar10", True),
    DatasetSpec("cifar100", "image", 100, (3, 32, 32), "resnet18", "crop_flip",
                "alstudy.data.vision:load_cifar100", True),
    DatasetSpec("voc2012", "image", 21, (3, 256, 256), "deeplabv3_resnet50", "seg_crop_flip",
                "alstudy.data.seg_files:load_voc2012", True, task="segmentation", ignore_index=255),
    DatasetSpec("cityscapes", "image", 19, (3, 256, 512), "deeplabv3_resnet50", "seg_crop_flip",
                "alstudy.data.seg_files:load_cityscapes", True, task="segmentation", ignore_index=255),
    DatasetSpec("oxford_pets_seg", "image", 2, (3, 128, 128), "unet", "seg_crop_flip",
                "alstudy.data.seg_files:load_oxford_pets_seg", True, task="segmentation", ignore_index=255),
)
_BY_NAME = {spec.name: spec for spec in _SPECS}

# One copy per process (a Ray worker runs many campaigns on the same data); keyed by
# (name, root). Callers must treat the tensors as read-only.
_CACHE: dict[tuple[str, str | None], "Dataset"] = {}
_LOCK = threading.RLock()   # re-entrant: a loader may build on another dataset (mnist5k_seg on mnist5k)


def dataset_names() -> list[str]:
    """Registered dataset names, embedded ones first."""
    return [spec.name for spec in _SPECS]


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of `name`; UsageError listing the choices when unknown."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown dataset {name!r}; choices: {', '.join(dataset_names())}") from None


def dataset_info() -> list[dict[str, Any]]:
    """One row per dataset for `alstudy list`."""
    return [{"name": s.name, "kind": s.kind, "task": s.task, "classes": s.num_classes,
             "input_shape": "x".join(map(str, s.input_shape)), "model": s.default_model,
             "augmentation": s.augmentation, "source": "local root" if s.needs_root else "embedded",
             "needs_root": s.needs_root}
            | ({"recipe": ",".join(f"{k}:{v}" for k, v in s.recipe)} if s.recipe else {}) for s in _SPECS]


def get_dataset(name: str, *, root: str | os.PathLike | None = None, download: bool = False) -> "Dataset":
    """The dataset `name` on the CPU, loaded once per process per (name, root).

    Embedded datasets ignore `root`. Datasets read from a local folder need `root` and fetch
    missing files through torchvision only when `download` is true; UsageError otherwise.
    """
    spec = dataset_spec(name)
    if spec.needs_root and root is None:
        fetch = ("; add --download to fetch them" if spec.task == "classification"
                 else " (segmentation data is never downloaded)")
        raise UsageError(
            f"dataset {name!r} is read from a local folder: set a data root (--data-root PATH, "
            f"or data_root in the study) holding torchvision's files{fetch}")
    key_root = os.path.abspath(os.fspath(root)) if spec.needs_root else None
    key = (name, key_root)
    with _LOCK:
        if key not in _CACHE:
            module, function = spec.loader.split(":")
            load = getattr(importlib.import_module(module), function)
            dataset = load(key_root, download=download) if spec.needs_root else load()
            _check(spec, dataset)
            _CACHE[key] = dataset
        return _CACHE[key]


def clear_cache() -> None:
    """Forget every loaded dataset (tests, memory)."""
    with _LOCK:
        _CACHE.clear()


def _check(spec: DatasetSpec, dataset: "Dataset") -> None:
    # The spec is what `alstudy list` and study validation show; the loaded tensors must agree.
    assert dataset.spec == spec, (spec.name, dataset.spec)
    assert tuple(dataset.x_train.shape[1:]) == spec.input_shape, (spec.name, dataset.x_train.shape)
