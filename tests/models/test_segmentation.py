"""Segmentation models: per-pixel features and a per-pixel linear head (the ALModel contract on
pixels), logits at the input size, the U-Net's size, and learning on a tiny task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.models.registry import is_dense
from alstudy.models.segmentation import SegModel
from alstudy.training.infer import _mc_probs


def unet(**kw):
    torch.manual_seed(0)
    return make_model("unet", (1, 32, 32), 11, dropout=0.2, options=kw or None)


def test_unet_maps_pixels_to_logits_at_the_input_size():
    model = unet().eval()
    assert isinstance(model, SegModel) and model.dense and is_dense("unet") and not is_dense("cnn2d")
    x = torch.randn(3, 1, 32, 32)
    emb = model.features(x)
    assert emb.shape == (3, model.embed_dim, 32, 32) and model.embed_dim == 16
    assert model(x).shape == (3, 11, 32, 32)
    assert torch.allclose(model.head(emb), model(x), atol=1e-5)
    assert torch.allclose(model.pool(emb), emb.mean(dim=(2, 3)))
    # odd sides lose a row to pooling; the skips pad it back
    assert model(torch.randn(2, 1, 33, 30)).shape == (2, 11, 33, 30)


def test_the_head_is_the_classifier_linear_on_every_pixel_row():
    """What lets MC dropout and BADGE read pixels as rows: the head's logits at a pixel are
    `classifier(dropout(features at that pixel))`, and infer's MC head on the pixel rows with
    no dropout gives the model's own probabilities."""
    model = unet().eval()
    x = torch.randn(2, 1, 32, 32)
    emb = model.features(x)
    rows = emb.permute(0, 2, 3, 1).reshape(-1, model.embed_dim)                       # (N*H*W, D)
    by_rows = model.classifier(rows).reshape(2, 32, 32, 11).permute(0, 3, 1, 2)
    assert torch.allclose(model.head(emb), by_rows, atol=1e-5)
    w, b = model.classifier.weight, model.classifier.bias
    mc = _mc_probs(rows, w, b, 0.0, 2, torch.Generator().manual_seed(0))               # (T, N*H*W, C)
    assert torch.allclose(mc[1], by_rows.softmax(1).permute(0, 2, 3, 1).reshape(-1, 11), atol=1e-5)
    # training-mode dropout drops feature units per pixel, not whole maps
    model.train()
    with torch.no_grad():
        dropped = model.dropout(torch.ones(1, 16, 32, 32))
    zero = dropped == 0
    assert 0.1 < zero.float().mean() < 0.3 and not zero.all(dim=(2, 3)).any()


def test_unet_size_batchnorm_and_width_option():
    model = unet()
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 130_000, n   # 117,243 at width 16: ~100k, as the CPU default
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 10
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 0   # F.max_pool2d, twice
    wide = unet(width=32)
    assert wide.embed_dim == 32 and sum(p.numel() for p in wide.parameters()) > 3.5 * n
    with pytest.raises(UsageError, match="no option 'depth'; options: width"):
        make_model("unet", (1, 32, 32), 11, options={"depth": 3})
    with pytest.raises(UsageError, match="does not fit"):
        make_model("unet", (784,), 11)


def test_unet_forward_levels_shallow_to_deep():
    model = unet().eval()
    x = torch.randn(2, 1, 32, 32)
    logits, levels = model.forward_levels(x)
    assert torch.allclose(logits, model(x), atol=1e-5)
    assert [tuple(t.shape[1:]) for t in levels] == [(16, 32, 32), (32, 16, 16), (64, 8, 8), (32, 16, 16), (16, 32, 32)]
    assert not any(m._forward_hooks for m in model.modules())


def test_unet_fits_a_tiny_scene_set():
    """30 steps on four 16x16 scenes of a square, bright (class 1) or dark (class 2): the
    training loss falls by half and the squares' pixels come out as their class."""
    torch.manual_seed(0)
    x = torch.zeros(4, 1, 16, 16)
    y = torch.zeros(4, 16, 16, dtype=torch.long)
    for i in range(4):
        r, c = 2 + 2 * i, 8 - 2 * i
        x[i, 0, r:r + 5, c:c + 5] = 1.0 if i % 2 == 0 else -1.0
        y[i, r:r + 5, c:c + 5] = 1 + i % 2
    model = make_model("unet", (1, 16, 16), 3, dropout=0.0, options={"width": 8})
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert (pred[y > 0] == y[y > 0]).float().mean() > 0.8   # eval mode: running BatchNorm statistics


# ---- torchvision's networks ---------------------------------------------------------------------

TORCHVISION = [("lraspp_mobilenet_v3_large", 1, 168), ("deeplabv3_resnet50", 3, 256), ("fcn_resnet50", 1, 512),
               pytest.param("deeplabv3_resnet101", 3, 256, marks=pytest.mark.slow)]   # ~2 s to build, 4x a forward


@pytest.mark.parametrize("name, channels, dim", TORCHVISION)
def test_torchvision_networks_give_pixel_features_at_stride_8_and_logits_at_the_input_size(name, channels, dim):
    torch.manual_seed(0)
    model = make_model(name, (channels, 64, 64), 5, dropout=0.1).eval()
    assert model.dense and model.embed_dim == dim and model.classifier.weight.shape == (5, dim)
    assert not any(k.startswith("aux_classifier") for k in model.state_dict())
    x = torch.randn(2, channels, 64, 64)
    with torch.no_grad():
        emb = model.features(x)
        logits, levels = model.forward_levels(x)
    assert emb.shape == (2, dim, 8, 8)
    assert logits.shape == (2, 5, 64, 64)
    assert torch.allclose(logits, SegModel.upsample(model.head(emb), (64, 64)), atol=1e-4)
    assert len(levels) >= 4 and levels[-1].shape[1] >= levels[0].shape[1] and all(t.shape[0] == 2 for t in levels)
    assert not any(m._forward_hooks for m in model.modules())
