"""The training loop: it learns, and its schedule and step count do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alstudy.config import TrainConfig
from alstudy.data.augment import make_augment
from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.training import evaluate, fit, num_steps
from alstudy.training.fit import lr_factor


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) * 0.5 + torch.nn.functional.one_hot(y, 8).float() * 2
    return x, y


@pytest.mark.parametrize("train", [
    TrainConfig(stop="fixed", epochs=20),
    TrainConfig(stop="fixed", epochs=20, optimizer="adamw", lr=3e-3, mixup=0.3, label_smoothing=0.1, swa=0.25),
])
def test_fit_learns_separable_blobs(train):
    x, y = _blobs()
    torch.manual_seed(0)
    model = make_model("mlp", (8,), 3, dropout=0.1)
    stats = fit(model, x, y, train=train, to_float=lambda t: t, augment=lambda t, g, **_: t,
                gen=torch.Generator().manual_seed(0), mix_rng=np.random.default_rng(0))
    assert stats.steps == num_steps(200, train)
    acc, _ = evaluate(model, *_blobs(seed=1), to_float=lambda t: t)
    assert acc > 0.95


def test_tiny_labeled_sets_still_get_min_steps():
    train = TrainConfig(epochs=10, min_steps=100, batch_size=64)
    assert num_steps(20, train) == 100
    assert num_steps(640, train) == 100
    assert num_steps(6400, train) == 1000


def test_schedules_start_and_end_where_expected():
    cosine = TrainConfig(schedule="cosine", warmup=0.1)
    assert lr_factor(0, 100, cosine) == pytest.approx(0.1)
    assert lr_factor(10, 100, cosine) == pytest.approx(1.0)
    assert lr_factor(99, 100, cosine) < 0.01
    assert lr_factor(50, 100, TrainConfig(schedule="constant")) == 1.0
    assert lr_factor(30, 100, TrainConfig(schedule="onecycle")) == pytest.approx(1.0)


def test_hyperparameters_are_validated():
    with pytest.raises(UsageError, match="optimizer"):
        TrainConfig.from_mapping({"optimizer": "lbfgs"})
    with pytest.raises(UsageError, match="unknown hyperparameter"):
        TrainConfig.from_mapping({"learning_rate": 0.1})
    with pytest.raises(UsageError, match="expected a finite number"):
        TrainConfig.from_mapping({"lr": "fast"})
    assert TrainConfig.from_mapping({"lr": 1, "epochs": 5.0}).lr == 1.0



def _fit_once(x, y, model):
    fit(model, x, y, train=TrainConfig(epochs=3, mixup=0.2), to_float=lambda t: t,
        augment=lambda t, g, **_: t, gen=torch.Generator().manual_seed(9), mix_rng=np.random.default_rng(9))
    return model.state_dict()


def test_fit_is_reproducible_and_leaves_global_rng_alone():
    x, y = _blobs()
    torch.manual_seed(1)
    model_a = make_model("mlp", (8,), 3, dropout=0.5)  # training dropout draws random masks
    torch.manual_seed(1)
    model_b = make_model("mlp", (8,), 3, dropout=0.5)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = _fit_once(x, y, model_a)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(456)  # a different global state must not change the result
    b = _fit_once(x, y, model_b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fit_with_rand_augment_is_reproducible():
    # strength 2 runs RandAugment, whose ops fit draws from its host-side generator
    images = torch.randint(0, 256, (64, 3, 8, 8), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)
    y = torch.arange(64) % 3
    to_float = lambda t: t.float() / 255  # noqa: E731

    def run(strength):
        torch.manual_seed(2)
        model = make_model("mlp", (3, 8, 8), 3, dropout=0.0)
        fit(model, images, y, train=TrainConfig(epochs=2, min_steps=8, batch_size=16),
            to_float=to_float, augment=make_augment("crop_flip", strength),
            gen=torch.Generator().manual_seed(3), mix_rng=np.random.default_rng(3))
        return model.state_dict()

    a, b, weaker = run(2.0), run(2.0), run(1.0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], weaker[k]) for k in a)
