"""The task seam: segmentation's loss, metric, label cost and training through `fit`, against
hand-computed cases; classification unchanged."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from alstudy.config import TrainConfig
from alstudy.data import dataset_spec, get_dataset
from alstudy.models import make_model
from alstudy.training import evaluate, fit
from alstudy.training import task as task_module
from alstudy.training.task import CLASSIFICATION, Segmentation, task_for


def _unet(classes: int = 2):
    torch.manual_seed(0)
    return make_model("unet", (1, 12, 12), classes, dropout=0.0, options={"width": 4})


class Constant(nn.Module):
    """Logits that predict `cls` at every pixel."""

    def __init__(self, classes: int, cls: int):
        super().__init__()
        self.classes, self.cls = classes, cls

    def forward(self, x):
        out = torch.zeros(x.shape[0], self.classes, *x.shape[2:])
        out[:, self.cls] = 5.0
        return out


def _bright_scenes(n: int, seed: int = 0, size: int = 12):
    """Random uint8 images; the mask is 1 where a pixel is brighter than 160, else 0, and 255
    (ignored) on the first row of every image."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    y = (x[:, 0] > 160).to(torch.uint8)
    y[:, 0] = 255
    return x, y


def _float(x):
    return x.float().div(255.0) if x.dtype == torch.uint8 else x


def _no_augment(x, y, gen, *, host=None):
    return x, y


def test_task_for_follows_the_dataset_spec():
    assert task_for(dataset_spec("digits")) is CLASSIFICATION
    assert task_for(get_dataset("digits")).metric == "acc" == dataset_spec("digits").metric
    assert CLASSIFICATION.metric_label == "accuracy"
    seg = Segmentation(3, 255)
    assert (seg.metric, seg.metric_label, seg.dense) == ("miou", "mIoU", True)


def test_segmentation_loss_is_the_mean_over_labeled_pixels_per_image():
    logits = torch.zeros(2, 2, 1, 3)
    logits[:, 1] = math.log(3.0)          # p(class 1) = 3/4 everywhere
    y = torch.tensor([[[1, 0, 255]], [[255, 255, 0]]], dtype=torch.uint8)
    seg = Segmentation(2, 255)
    per_image = seg.loss(logits, y, reduction="none")
    # image 0: -log(3/4) and -log(1/4) over its 2 labeled pixels; image 1: -log(1/4) over 1
    expected = torch.tensor([(-math.log(0.75) - math.log(0.25)) / 2, -math.log(0.25)])
    assert torch.allclose(per_image, expected, atol=1e-6)
    # the batch loss averages the 3 labeled pixels, not the images
    assert seg.loss(logits, y).item() == pytest.approx((-math.log(0.75) - 2 * math.log(0.25)) / 3, abs=1e-6)
    # an image with no labeled pixel costs 0, not NaN
    none = seg.loss(logits[:1], torch.full((1, 1, 3), 255, dtype=torch.uint8), reduction="none")
    assert none.tolist() == [0.0]


def test_label_cost_counts_labeled_and_foreground_pixels():
    y = torch.tensor([[[0, 1, 2], [255, 0, 0]]], dtype=torch.uint8)
    assert Segmentation(3, 255).label_cost(y) == {"n_labeled_pixels": 5, "n_labeled_foreground": 2}
    assert Segmentation(3, None).label_cost(y[:, :1]) == {"n_labeled_pixels": 3, "n_labeled_foreground": 2}
    assert CLASSIFICATION.label_cost(torch.tensor([0, 1])) == {}


def test_all_background_on_ten_percent_foreground_scores_miou_045():
    y = torch.zeros(4, 10, 10, dtype=torch.uint8)
    y[:, :1] = 1                            # 10 % of the pixels are class 1
    x = torch.zeros(4, 1, 10, 10)
    scores = Segmentation(2, 255).evaluate(Constant(2, 0), x, y, to_float=_float)
    assert scores["miou"] == pytest.approx(0.45)   # IoU 0.9 for background, 0 for class 1
    assert scores["pixel_acc"] == pytest.approx(0.9)
    assert scores["loss"] > 0


def test_streamed_evaluation_equals_one_batch(monkeypatch):
    x, y = _bright_scenes(10)
    model = _unet()
    model.eval()
    seg = Segmentation(2, 255)
    whole = seg.evaluate(model, x, y, to_float=_float)
    monkeypatch.setattr(task_module, "PIXELS_PER_BATCH", 3 * 12 * 12)   # batches of 3 scenes
    streamed = seg.evaluate(model, x, y, to_float=_float)
    assert streamed["miou"] == whole["miou"] and streamed["pixel_acc"] == whole["pixel_acc"]
    assert streamed["loss"] == pytest.approx(whole["loss"], rel=1e-5)


def test_fit_learns_a_segmentation_task():
    x, y = _bright_scenes(64)
    xt, yt = _bright_scenes(32, seed=1)
    seg = Segmentation(2, 255)
    model = _unet()
    before = seg.evaluate(model, xt, yt, to_float=_float)
    stats = fit(model, x, y, train=TrainConfig(epochs=15, batch_size=16, lr=0.05), to_float=_float,
                augment=_no_augment, gen=torch.Generator().manual_seed(0),
                mix_rng=np.random.default_rng(0), task=seg)
    after = seg.evaluate(model, xt, yt, to_float=_float)
    assert stats.steps > 0
    assert after["loss"] < before["loss"]
    assert after["miou"] > 0.8


def test_fit_moves_masks_with_images_through_the_augmenter():
    """The masks the loss sees are the ones the joint augmenter returns: an augmenter that
    swaps the masks of its batch for all-ignored ones leaves nothing to learn from."""
    x, y = _bright_scenes(16)
    seg = Segmentation(2, 255)
    model = _unet()
    start = {k: v.detach().clone() for k, v in model.named_parameters()}

    def blank_masks(xb, yb, gen, *, host=None):
        return xb, torch.full_like(yb, 255)

    fit(model, x, y, train=TrainConfig(epochs=3, batch_size=8, lr=0.1, weight_decay=0.0), to_float=_float,
        augment=blank_masks, gen=torch.Generator().manual_seed(0), mix_rng=np.random.default_rng(0), task=seg)
    assert all(torch.equal(v, start[k]) for k, v in model.named_parameters())


def test_fit_refuses_mixup_for_segmentation():
    x, y = _bright_scenes(4)
    with pytest.raises(ValueError, match="mixup"):
        fit(_unet(), x, y, train=TrainConfig(mixup=0.2), to_float=_float, augment=_no_augment,
            gen=torch.Generator().manual_seed(0), mix_rng=np.random.default_rng(0), task=Segmentation(2, 255))


def test_classification_evaluate_is_infer_evaluate():
    data = get_dataset("digits")
    torch.manual_seed(0)
    model = make_model("mlp", data.input_shape, data.num_classes)
    acc, loss = evaluate(model, data.x_test, data.y_test, to_float=data.to_float)
    scores = CLASSIFICATION.evaluate(model, data.x_test, data.y_test, to_float=data.to_float)
    assert scores == {"acc": acc, "loss": loss}


def test_segmentation_members_train_and_vote():
    from alstudy.training.ensemble import fit_members

    x, y = _bright_scenes(64)
    xt, yt = _bright_scenes(32, seed=1)
    seg = Segmentation(2, 255)
    members = [_unet(), make_model("unet", (1, 12, 12), 2, dropout=0.0, options={"width": 4})]
    fit_members(members, x, y, train=TrainConfig(epochs=15, batch_size=16, lr=0.05), to_float=_float,
                augment=_no_augment, gen=torch.Generator().manual_seed(0), mix_rng=np.random.default_rng(0), task=seg)
    for m in members:
        assert seg.evaluate(m, xt, yt, to_float=_float)["miou"] > 0.8
    # a committee of one model twice votes as that model
    alone = seg.evaluate(members[0], xt, yt, to_float=_float)["miou"]
    assert seg.ensemble_metric([members[0], members[0]], xt, yt, to_float=_float) == pytest.approx(alone)
