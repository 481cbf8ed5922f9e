"""Learning loss's module (Yoo & Kweon 2019): the ranking loss by hand, the detach schedule,
and joint training through `fit`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alstudy.config import TrainConfig
from alstudy.data import get_dataset
from alstudy.models import make_model
from alstudy.training import fit
from alstudy.training.loss_module import LossLearner, predict_losses, ranking_loss

RECIPE = TrainConfig(epochs=20, min_steps=30, batch_size=32)


def test_ranking_loss_by_hand():
    # pairs (0, 3) and (1, 2). (0, 3): target 1 < 5, so row 3 should be predicted higher, but
    # 3 > 2: max(0, 1 + (3 - 2)) = 2. (1, 2): target 2 > 0, predicted 1 > 0.5 by less than
    # the margin: max(0, 1 - 0.5) = 0.5. Mean over the 2 pairs: 1.25.
    pred = torch.tensor([3.0, 1.0, 0.5, 2.0])
    target = torch.tensor([1.0, 2.0, 0.0, 5.0])
    assert float(ranking_loss(pred, target, margin=1.0)) == pytest.approx(1.25)
    # torch's margin ranking loss is the same formula: max(0, -y (x1 - x2) + margin)
    y = torch.tensor([-1.0, 1.0])
    assert float(ranking_loss(pred, target, margin=1.0)) == pytest.approx(
        float(F.margin_ranking_loss(pred[:2], pred.flip(0)[:2], y, margin=1.0)))
    # ordered beyond the margin: no loss; an odd last row has no partner and is left out
    assert float(ranking_loss(torch.tensor([5.0, 9.0, 0.0]), torch.tensor([2.0, 7.0, 1.0]), margin=1.0)) == 0.0
    assert float(ranking_loss(torch.tensor([5.0, 9.0, 0.0]), torch.tensor([2.0, 7.0, 1.0]), margin=6.0)) == 1.0


def learner_for(model, x):
    torch.manual_seed(0)
    return LossLearner.for_model(model, x[:2])


def test_features_are_detached_for_the_last_part_of_training():
    torch.manual_seed(0)
    model = make_model("cnn1d", (1, 40), 3, dropout=0.0)
    x = torch.randn(8, 1, 40)
    learner = learner_for(model, x)
    assert len(learner.fcs) == len(model.levels) == 4

    def backbone_grad(step: int) -> float:
        model.zero_grad(), learner.zero_grad()
        logits, levels = model.forward_levels(x)
        learner(levels, torch.arange(8.0), step=step, total=100).backward()
        assert learner.out.weight.grad.abs().sum() > 0  # the module itself always learns
        return sum(float(p.grad.abs().sum()) for p in model.backbone.parameters() if p.grad is not None)

    assert backbone_grad(59) > 0     # joint: the ranking loss shapes the features
    assert backbone_grad(60) == 0.0  # detach_after = 0.6 of 100 steps


def train(data, *, aux):
    torch.manual_seed(3)
    model = make_model("mlp", data.input_shape, data.num_classes, dropout=0.0)
    learner = learner_for(model, data.to_float(data.x_train[:2])) if aux else None
    fit(model, data.x_train[:400], data.y_train[:400], train=RECIPE, to_float=data.to_float,
        augment=data.augmenter(0.0), gen=torch.Generator().manual_seed(1), mix_rng=np.random.default_rng(1),
        aux=learner)
    return model, learner


def test_joint_training_predicts_which_rows_have_high_loss():
    data = get_dataset("digits")
    model, learner = train(data, aux=True)
    x, y = data.x_test, data.y_test
    pred = predict_losses(model, learner, x, to_float=data.to_float)
    with torch.no_grad():
        true = F.cross_entropy(model(data.to_float(x)), y, reduction="none")
    assert pred.shape == (len(y),)
    # Spearman correlation of predicted and true loss on rows never trained on
    rank = lambda t: t.argsort().argsort().float()  # noqa: E731
    rho = float(torch.corrcoef(torch.stack([rank(pred), rank(true)]))[0, 1])
    assert rho > 0.3, rho
    # the misclassified rows are predicted a higher loss than the rest
    wrong = model(data.to_float(x)).argmax(1) != y
    assert pred[wrong].mean() > pred[~wrong].mean()


def test_joint_training_is_reproducible_and_changes_the_task_model():
    data = get_dataset("digits")
    a, la = train(data, aux=True)
    b, lb = train(data, aux=True)
    plain, _ = train(data, aux=False)
    x = data.to_float(data.x_test[:64])
    assert torch.equal(a(x), b(x)) and torch.equal(la.out.weight, lb.out.weight)
    assert not torch.allclose(a(x), plain(x))
