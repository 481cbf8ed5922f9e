"""Pretrained weights from a local file: `init = { weights = "PATH" }` in a paradigm; and a
SimCLR encoder's backbone (`start_from`, `init = "simclr"`).

The file is a state dict saved with `torch.save` in torchvision's layout (`conv1.weight`,
`layer1.0.bn1.running_mean`, ..., `fc.weight`), e.g. an ImageNet ResNet-18 a user has, or a
dict holding one under `state_dict` or `model` (training checkpoints); a `module.` prefix
(DataParallel) is dropped. alstudy's own layout (`backbone.*`, `classifier.*`) loads as is.
Nothing is ever downloaded.

Where the file and the model differ, two places may, and nothing else:
* the head (`fc` -> the model's `classifier`): a different class count keeps the model's head,
  fresh from the cycle's seed (fine-tuning on CIFAR-10 from 1000 ImageNet classes);
* the stem (the backbone's first weight): with the same kernel and one input channel against
  the file's several, the file's filters are summed over their input channels (grey images
  see the response of a grey RGB image); any other difference - the ImageNet 7x7 stride-2
  stem against the CIFAR 3x3 stride-1 one - keeps the model's stem fresh from the cycle's
  seed: a 7x7 filter shrunk to 3x3 has no meaning the network learned, and re-initializing the
  stem is what CIFAR fine-tuning of ImageNet ResNets does. Its BatchNorm still loads.
Segmentation models (alstudy.models.segmentation) keep torchvision's backbone keys
(`conv1.*`, `layer1.*` of a ResNet; `features.*` of a MobileNetV3), so an ImageNet classifier's
file is their backbone file. Two more allowances follow from that:
* the decoder (`decoder.*`): a file without any decoder key leaves the whole decoder fresh from
  the cycle's seed; a file with some must fit all of it (alstudy's own layout);
* the file's classification head, whatever its layers (MobileNetV3's `classifier.0`,
  `classifier.3`), is left out like `fc`.
A whole torchvision segmentation network's file (`backbone.*`, `classifier.<layer>.*`,
`aux_classifier.*`) of the same network loads as backbone, decoder and head
(`segmentation.from_torchvision`; its auxiliary classifier left out; a different class count
keeps the head fresh as above).
Any other missing, extra or differently shaped key means the file is for another network:
one UsageError line names the file and the first keys that do not fit.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch
from torch import nn

from alstudy.errors import UsageError
from alstudy.models.almodel import ALModel
from alstudy.models.segmentation import from_torchvision

WRAPPERS = ("state_dict", "model")   # checkpoint keys that hold the state dict
SHOWN = 3                            # keys named in an error line


def read_weights(path: str) -> dict[str, torch.Tensor]:
    """The file's tensors in torchvision's key layout, on the CPU; UsageError when it is absent,
    not a torch file, or holds no state dict. Read once per process and file version."""
    try:
        stat = os.stat(path)
    except OSError:
        raise UsageError("no such weights file", key="init.weights", value=path) from None
    return _read(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _read(path: str, _mtime: int, _size: int) -> dict[str, torch.Tensor]:
    try:   # weights_only: a weights file is data, never code to run
        with warnings.catch_warnings():   # torch warns about a plain pickle's protocol before refusing it
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:   # torch raises many kinds for a file that is not its own
        raise UsageError(f"cannot be read as torch weights ({type(err).__name__})",
                         key="init.weights", value=path) from None
    for key in WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UsageError("holds no state dict (expected {name: tensor}, or one under "
                         f"{' or '.join(map(repr, WRAPPERS))})", key="init.weights", value=path)
    return {k.removeprefix("module."): v for k, v in obj.items()}


def to_model_key(key: str) -> str:
    """A file key as alstudy's models name it: torchvision's `fc` is the head, the rest the backbone."""
    if key.startswith(("backbone.", "classifier.", "decoder.")):
        return key
    if key.startswith("fc."):
        return "classifier." + key[len("fc."):]
    return "backbone." + key


def fit_weights(model: nn.Module, weights: dict[str, torch.Tensor], *, path: str,
                model_name: str = "the model") -> dict[str, torch.Tensor]:
    """The file's tensors `model` takes, keyed and shaped as the model's state dict (the head
    and stem left out where they differ, a grey stem adapted, a decoder the file lacks left
    out); UsageError naming `path` and the first keys that do not fit when the file is for
    another network."""
    own = model.state_dict()
    stem = next(k for k, v in own.items() if k.startswith("backbone.") and v.ndim > 1)
    weights = from_torchvision(model, weights) or weights
    mapped = {to_model_key(k): v for k, v in weights.items()}
    fresh = ("classifier.",) if any(k.startswith("decoder.") for k in mapped) else ("classifier.", "decoder.")
    missing = [k for k in own if k not in mapped and not k.startswith(fresh) and k != stem]
    extra = [k for k in mapped if k not in own and not k.startswith("classifier.")]
    wrong = [k for k in mapped if k in own and mapped[k].shape != own[k].shape
             and not k.startswith("classifier.") and k != stem]
    if missing or extra or wrong:
        parts = [f"{what}: {', '.join(keys[:SHOWN])}{', ...' if len(keys) > SHOWN else ''} ({len(keys)})"
                 for what, keys in (("the file lacks", missing), ("the model has no", extra),
                                    ("shapes differ for", wrong)) if keys]
        raise UsageError(f"does not fit {model_name} ({len(own)} tensors); "
                         + "; ".join(parts), key="init.weights", value=path)
    out = {k: v for k, v in mapped.items() if k in own and v.shape == own[k].shape}
    file_stem = mapped.get(stem)
    if file_stem is not None and file_stem.shape != own[stem].shape and _grey(file_stem, own[stem]):
        out[stem] = file_stem.sum(dim=1, keepdim=True)
    return out


def _grey(file_w: torch.Tensor, own_w: torch.Tensor) -> bool:
    """A stem of one input channel against the file's several, kernels alike."""
    return (own_w.ndim == file_w.ndim and own_w.shape[1] == 1 and file_w.shape[1] > 1
            and own_w.shape[0] == file_w.shape[0] and own_w.shape[2:] == file_w.shape[2:])


def load_weights(model: nn.Module, path: str, *, model_name: str = "the model") -> list[str]:
    """Copy the file's fitting tensors into `model` in place; the keys it loaded (the rest -
    the head, a different stem - keep the model's current weights)."""
    taken = fit_weights(model, read_weights(path), path=path, model_name=model_name)
    with torch.no_grad():
        own = model.state_dict()
        for key, value in taken.items():
            own[key].copy_(value)
    return list(taken)


@functools.lru_cache(maxsize=4)
def load_encoder(path: str) -> dict[str, torch.Tensor]:
    """The backbone state dict in the encoder file `path` (on the CPU). Cached: a campaign
    starts every cycle from it, and a finished file never changes (written once, atomically)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def start_from(model: ALModel, path: str, *, linear: bool = False) -> ALModel:
    """`model` with the encoder's backbone weights (its head stays as initialized). `linear`:
    the backbone is frozen - no gradients, and always in eval mode so that training the head
    neither uses batch statistics nor moves BatchNorm's running ones."""
    model.backbone.load_state_dict(load_encoder(path))
    if linear:
        model.backbone.requires_grad_(False)
        model.backbone.register_forward_pre_hook(_stay_in_eval)
    return model


def _stay_in_eval(module: nn.Module, _inputs) -> None:
    if module.training:
        module.eval()
