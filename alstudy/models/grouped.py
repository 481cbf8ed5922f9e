"""GroupedNet: K models of one small architecture as one network, for training ensembles.

The members' weights are stacked along a leading axis and every layer runs the K members in
one kernel: a Linear as one batched matrix product (`torch.baddbmm`), a convolution as one
grouped convolution (`groups = K`, the members' channels side by side), BatchNorm over the K
members' channels at once (each channel's statistics are its own member's batch, as alone).
On a CPU this replaces `vmap`, whose batching rules fell back to per-member loops for some
ops and made 5 members cost more than 5 separate fits.

Supported: `nn.Sequential` backbones of Linear, Conv2d (groups 1), BatchNorm1d/2d, ReLU,
MaxPool2d, AdaptiveAvgPool2d(1), Flatten and AsRows, with the ALModel head (dropout +
Linear): alstudy's mlp, cnn1d and cnn2d (`supports`). Other models train with `vmap`, and
segmentation models (a U-Net's skips, per-pixel heads) one after another with `fit`.

Layouts: "rows" (K, B, F), one member per leading slice; "maps" (B, K*C, ...), the members'
channels side by side (what grouped convolutions and BatchNorm read).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alstudy.models.almodel import ALModel
from alstudy.models.small import AsRows

_PLAIN = (nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Identity)   # per channel: maps in, maps out
_LAYERS = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten, AsRows, *_PLAIN)


def supports(model: nn.Module) -> bool:
    """Whether `model` can be grouped: an ALModel over a Sequential of supported layers."""
    if not isinstance(model, ALModel) or not isinstance(model.backbone, nn.Sequential):
        return False
    layers = list(_flat(model.backbone))
    return all(isinstance(m, _LAYERS) for m in layers) and all(
        m.groups == 1 and m.padding_mode == "zeros" for m in layers if isinstance(m, nn.Conv2d)) and all(
        m.output_size in (1, (1, 1)) for m in layers if isinstance(m, nn.AdaptiveAvgPool2d)) and all(
        m.momentum is not None and m.affine and m.track_running_stats
        for m in layers if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)))


def _flat(seq: nn.Module):
    for m in seq.children():
        if isinstance(m, nn.Sequential):
            yield from _flat(m)
        else:
            yield m


class GroupedNet(nn.Module):
    """K members of one architecture (`supports`) as one module: `forward(x)` takes the
    members' batches (K, B, ...) and returns their logits (K, B, C). Parameters and BatchNorm
    buffers are the members' stacked (leading axis K); `write_back` copies them into the
    members. Head dropout is the members' own layer, applied to all K at once."""

    def __init__(self, models: list[ALModel]):
        super().__init__()
        self.k = len(models)
        self.layers = list(zip(*(list(_flat(m.backbone)) for m in models)))   # per layer: the K modules
        self.dropout = models[0].dropout
        self.params = nn.ParameterDict()
        # Linear weights are kept transposed, (K, I, O): their gradient then comes out of the
        # batched product in place; with (K, O, I) a transposing copy cost as much as the product
        self.transposed = {f"{name}__weight" for name, mods in _named_layers(models) if isinstance(mods[0], nn.Linear)}
        self.transposed.add("classifier__weight")
        for name, tensors in _stacked(models, "parameters").items():
            key = name.replace(".", "__")
            self.params[key] = nn.Parameter(tensors.transpose(1, 2).contiguous() if key in self.transposed else tensors)
        for name, tensors in _stacked(models, "buffers").items():
            self.register_buffer(name.replace(".", "__"), tensors)
        self._names = {id(mods[0]): name for name, mods in _named_layers(models)}
        self.member_shapes = {n.replace(".", "__"): p.shape for n, p in models[0].named_parameters()}

    def _get(self, layer: nn.Module, what: str) -> torch.Tensor | None:
        key = f"{self._names[id(layer)]}__{what}"
        if key in self.params:
            return self.params[key]
        return getattr(self, key, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, b = self.k, x.shape[1]
        h, layout = x, "rows"
        for mods in self.layers:
            m = mods[0]
            if isinstance(m, nn.Flatten):
                h, layout = (h.flatten(2) if layout == "rows" else h.reshape(b, k, -1).transpose(0, 1)), "rows"
            elif isinstance(m, AsRows):
                h, layout = _maps(h, k, layout).unsqueeze(2), "maps"
            elif isinstance(m, nn.Linear):
                h, layout = _linear(_rows(h, k, layout), self._get(m, "weight"), self._get(m, "bias")), "rows"
            elif isinstance(m, nn.Conv2d):
                w, bias = self._get(m, "weight"), self._get(m, "bias")
                # channels_last: oneDNN's grouped kernels were as fast or up to 1.2x faster (cnn1d, K = 5)
                xm = _maps(h, k, layout).contiguous(memory_format=torch.channels_last)
                h = F.conv2d(xm, w.flatten(0, 1), None if bias is None else bias.flatten(), m.stride, m.padding,
                             m.dilation, groups=k)
                layout = "maps"
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                h, layout = self._batch_norm(m, _maps(h, k, layout)), "maps"
            elif isinstance(m, nn.ReLU):   # elementwise: either layout
                h = m(h)
            else:   # per channel, the members' channels side by side
                h = m(_maps(h, k, layout))
                layout = "maps"
        h = self.dropout(_rows(h, k, layout))                                          # (K, B, D)
        return _linear(h, self.params["classifier__weight"], self.params["classifier__bias"])     # (K, B, C)

    def _batch_norm(self, m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """BatchNorm of maps (B, K*C, ...): channel j of member i is channel i*C + j, and the
        running statistics update in place through views of the stacked buffers."""
        mean, var = self._get(m, "running_mean"), self._get(m, "running_var")
        if self.training:
            self._get(m, "num_batches_tracked").add_(1)
        return F.batch_norm(x, mean.view(-1), var.view(-1), self._get(m, "weight").flatten(),
                            self._get(m, "bias").flatten(), self.training, m.momentum, m.eps)

    @torch.no_grad()
    def write_back(self, models: list[ALModel]) -> None:
        """Copy the stacked weights and statistics into `models` (the members, in order)."""
        stacked = {k: (p.transpose(1, 2) if k in self.transposed else p) for k, p in self.params.items()}
        stacked |= dict(self.named_buffers())
        for i, m in enumerate(models):
            m.load_state_dict({n: stacked[n.replace(".", "__")][i] for n in m.state_dict()})


def _named_layers(models: list[ALModel]):
    names = {id(mod): name for name, mod in models[0].named_modules()}
    for mods in zip(*(list(_flat(m.backbone)) for m in models)):
        yield names[id(mods[0])].replace(".", "__"), mods


def _stacked(models: list[ALModel], what: str) -> dict[str, torch.Tensor]:
    named = [dict(getattr(m, f"named_{what}")()) for m in models]
    return {name: torch.stack([d[name].detach() for d in named]).clone() for name in named[0]}


def _linear(h: torch.Tensor, wt: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """(K, B, I) rows through the members' transposed weights (K, I, O): (K, B, O)."""
    return torch.bmm(h, wt) if b is None else torch.baddbmm(b.unsqueeze(1), h, wt)


def _maps(h: torch.Tensor, k: int, layout: str) -> torch.Tensor:
    """(K, B, C, ...) rows -> (B, K*C, ...) maps (maps stay as they are)."""
    if layout == "maps":
        return h
    return h.transpose(0, 1).reshape(h.shape[1], -1, *h.shape[3:])


def _rows(h: torch.Tensor, k: int, layout: str) -> torch.Tensor:
    """(B, K*C, ...) maps -> (K, B, C*...) rows (rows stay as they are)."""
    if layout == "rows":
        return h
    return h.reshape(h.shape[0], k, -1).transpose(0, 1)
