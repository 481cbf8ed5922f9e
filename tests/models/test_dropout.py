"""Dropout masks: keep 1 - p, rescale, reproducible from torch's global generator."""

from __future__ import annotations

import torch

from alstudy.models.dropout import Dropout


def test_dropout_masks_keep_one_minus_p_and_rescale():
    drop = Dropout(0.3)
    x = torch.ones(400, 250)
    torch.manual_seed(0)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7), rtol=1e-4)
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)  # seeded by torch's global generator, like nn.Dropout
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x))
