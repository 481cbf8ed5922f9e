"""GroupedNet: K members run as one network compute exactly what each member computes alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alstudy.config import TrainConfig
from alstudy.data import get_dataset
from alstudy.models import ALModel, make_model
from alstudy.models.grouped import GroupedNet, supports
from alstudy.training import evaluate
from alstudy.training.ensemble import fit_members

SHAPES = {"mlp": (1, 8, 8), "cnn1d": (1, 40), "cnn2d": (1, 12, 12)}


def members(name: str, k: int = 3) -> list[ALModel]:
    out = []
    for i in range(k):
        torch.manual_seed(10 + i)
        out.append(make_model(name, SHAPES[name], 7, dropout=0.0))
    return out


@pytest.mark.parametrize("name", list(SHAPES))
def test_grouped_forward_backward_and_statistics_equal_the_members_alone(name):
    models = members(name)
    alone = [make_model(name, SHAPES[name], 7, dropout=0.0) for _ in models]
    for a, m in zip(alone, models):
        a.load_state_dict(m.state_dict())
    net = GroupedNet(models).train()
    x = torch.randn(len(models), 16, *SHAPES[name])     # each member its own batch
    y = torch.randint(0, 7, (len(models), 16))
    out = net(x)                                          # (K, B, C)
    F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="sum").backward()
    for i, a in enumerate(alone):
        a.train()
        ref = a(x[i])
        F.cross_entropy(ref, y[i], reduction="sum").backward()
        assert torch.allclose(out[i], ref, atol=1e-5), i
    # gradients, in the members' own layout once written back
    grads = {k: (p.grad.transpose(1, 2) if k in net.transposed else p.grad) for k, p in net.params.items()}
    for i, a in enumerate(alone):
        for pname, p in a.named_parameters():
            assert torch.allclose(grads[pname.replace(".", "__")][i], p.grad, atol=1e-4), (i, pname)
    net.write_back(models)   # weights unchanged by a forward pass, BatchNorm statistics updated
    for a, m in zip(alone, models):
        for (key, ta), tm in zip(a.state_dict().items(), m.state_dict().values()):
            assert torch.allclose(ta.float(), tm.float(), atol=1e-6), key
    stats = [v for key, v in models[0].state_dict().items() if key.endswith("running_mean")]
    assert stats and all(s.abs().sum() > 0 for s in stats)   # written back, not left at their initial zeros


def test_supports_the_small_models_only():
    assert all(supports(make_model(n, s, 3, dropout=0.1)) for n, s in SHAPES.items())
    assert not supports(make_model("resnet18", (3, 32, 32), 3, dropout=0.1))
    gelu = ALModel(nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.GELU()), 32, 10, dropout=0.0)
    assert not supports(gelu)


def test_other_models_train_together_through_vmap():
    data = get_dataset("digits")
    models = []
    for i in range(2):
        torch.manual_seed(i)
        models.append(ALModel(nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.GELU()), 64, 10, dropout=0.1))
    fit_members(models, data.x_train[:300], data.y_train[:300], train=TrainConfig(epochs=20, batch_size=32),
                to_float=data.to_float, augment=data.augmenter(0.0), gen=torch.Generator().manual_seed(0),
                mix_rng=np.random.default_rng(0))
    accs = [evaluate(m, data.x_test, data.y_test, to_float=data.to_float)[0] for m in models]
    assert min(accs) > 0.85, accs
    assert not torch.equal(models[0].classifier.weight, models[1].classifier.weight)


def test_segmentation_members_are_not_grouped_and_train_one_after_another_as_fit_does():
    """A U-Net's skips and per-pixel head fit neither GroupedNet nor the vmapped rows head:
    fit_members trains dense members with `fit`, one after another, from the same generators."""
    from alstudy.training.fit import fit

    def unets():
        out = []
        for i in range(2):
            torch.manual_seed(20 + i)
            out.append(make_model("unet", (1, 16, 16), 3, dropout=0.1, options={"width": 4}))
        return out

    assert not supports(unets()[0])
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (12, 1, 16, 16), dtype=torch.uint8, generator=g)
    y = (x[:, 0] > 128).long() + (x[:, 0] > 200).long()            # (N, H, W) class ids
    recipe = TrainConfig(epochs=1, min_steps=4, batch_size=4)
    kw = dict(train=recipe, to_float=lambda t: t.float() / 255, augment=lambda xb, gen, *, host: xb)
    together, alone = unets(), unets()
    before = [p.clone() for p in together[1].parameters()]
    fit_members(together, x, y, **kw, gen=torch.Generator().manual_seed(1), mix_rng=np.random.default_rng(1))
    gen, rng = torch.Generator().manual_seed(1), np.random.default_rng(1)
    for m in alone:
        fit(m, x, y, **kw, gen=gen, mix_rng=rng)
    for a, b in zip(together, alone):
        for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(ta, tb), name
    assert any(not torch.equal(p, q) for p, q in zip(together[1].parameters(), before))   # it trained
