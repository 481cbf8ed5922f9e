"""fit_members: K members trained together learn like K separate fits, reproducibly."""

from __future__ import annotations

import numpy as np
import torch

from alstudy.config import TrainConfig
from alstudy.data import get_dataset
from alstudy.models import make_model
from alstudy.training import evaluate
from alstudy.training.ensemble import ensemble_accuracy, fit_members, member_probs

RECIPE = TrainConfig(epochs=15, min_steps=30, batch_size=32)


def members(k: int, data):
    out = []
    for i in range(k):
        torch.manual_seed(100 + i)
        out.append(make_model("mlp", data.input_shape, data.num_classes, dropout=0.2))
    return out


def train(k: int, data, recipe: TrainConfig = RECIPE):
    models = members(k, data)
    fit_members(models, data.x_train[:300], data.y_train[:300], train=recipe, to_float=data.to_float,
                augment=data.augmenter(recipe.augment), gen=torch.Generator().manual_seed(1),
                mix_rng=np.random.default_rng(1))
    return models


def test_every_member_learns_and_members_differ():
    data = get_dataset("digits")
    models = train(3, data)
    accs = [evaluate(m, data.x_test, data.y_test, to_float=data.to_float)[0] for m in models]
    assert min(accs) > 0.85, accs
    p = member_probs(models, data.x_test, to_float=data.to_float)
    assert p.shape == (3, len(data.y_test), data.num_classes)
    assert not torch.allclose(p[0], p[1])
    assert ensemble_accuracy(models, data.x_test, data.y_test, to_float=data.to_float) > 0.85


def test_same_generators_give_the_same_members():
    data = get_dataset("digits")
    recipe = TrainConfig(epochs=5, min_steps=10, batch_size=32, mixup=0.4, label_smoothing=0.1)
    a, b = train(2, data, recipe), train(2, data, recipe)
    for ma, mb in zip(a, b):
        for (name, ta), tb in zip(ma.state_dict().items(), mb.state_dict().values()):
            assert torch.equal(ta, tb), name
