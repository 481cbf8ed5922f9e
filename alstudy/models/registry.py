"""The model registry: names in study files -> constructors, checked against input shapes."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from alstudy.errors import UsageError
from alstudy.models.almodel import ALModel
from alstudy.models.resnet import resnet18, wrn
from alstudy.models.segmentation import (deeplabv3_resnet50, deeplabv3_resnet101, fcn_resnet50,
                                         lraspp_mobilenet_v3_large, unet)
from alstudy.models.small import cnn1d, cnn2d, mlp

MODELS: dict[str, Callable[..., ALModel]] = {
    "mlp": mlp, "cnn1d": cnn1d, "cnn2d": cnn2d, "resnet18": resnet18, "wrn28_2": wrn,
    "unet": unet, "lraspp_mobilenet_v3_large": lraspp_mobilenet_v3_large,
    "deeplabv3_resnet50": deeplabv3_resnet50, "deeplabv3_resnet101": deeplabv3_resnet101,
    "fcn_resnet50": fcn_resnet50,
}
# Which input ranks each model accepts: (D,), (C, L) or (C, H, W); the MLP flattens anything.
INPUT_RANKS = {"mlp": (1, 2, 3), "cnn1d": (2,), "cnn2d": (3,), "resnet18": (3,), "wrn28_2": (3,),
               "unet": (3,), "lraspp_mobilenet_v3_large": (3,), "deeplabv3_resnet50": (3,),
               "deeplabv3_resnet101": (3,), "fcn_resnet50": (3,)}
# Segmentation models (SegModel, `dense`): per-pixel logits for segmentation datasets only.
DENSE = frozenset({"unet", "lraspp_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101",
                   "fcn_resnet50"})


MAX_SIZE = 65536   # widths, depths: beyond this a model would not fit any machine alstudy runs on


def model_names() -> list[str]:
    return list(MODELS)


def is_dense(name: str) -> bool:
    """Whether model `name` is a segmentation model (per-pixel logits, `SegModel`)."""
    return name in DENSE


def model_options(name: str) -> list[str]:
    """Architecture options a study file may set for `name`."""
    params = inspect.signature(MODELS[name]).parameters
    return [p for p, v in params.items() if v.kind is v.KEYWORD_ONLY and p != "dropout"]


def make_model(name: str, input_shape: tuple[int, ...], num_classes: int, *,
               dropout: float = 0.0, options: dict[str, Any] | None = None) -> ALModel:
    """Build model `name` for inputs of `input_shape` (without the batch axis)."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choices: {', '.join(MODELS)}")
    if len(input_shape) not in INPUT_RANKS[name]:
        raise UsageError(f"model {name!r} does not fit inputs of shape {tuple(input_shape)}")
    options = dict(options or {})
    unknown = set(options) - set(model_options(name))
    if unknown:
        raise UsageError(f"model {name!r} has no option {sorted(unknown)[0]!r}; "
                         f"options: {', '.join(model_options(name)) or 'none'}")
    for key, value in options.items():   # every architecture option is a size
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
            raise UsageError(f"expected a whole number in [1, {MAX_SIZE}]", key=f"options.{key}", value=value)
    return MODELS[name](tuple(input_shape), num_classes, dropout=dropout, **options)
