"""Semi-supervised segmentation: CutMix keeps images and pseudo-labels aligned, the per-pixel
confidence mask follows its threshold rule, and both pixel terms train through `fit` and
record their columns. Hand-computed cases; a tiny stand-in dataset and model."""

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alstudy.config import TrainConfig
from alstudy.data import dataset_spec
from alstudy.errors import UsageError
from alstudy.training import fit
from alstudy.training.methods import check_task, make_term, option_defaults
from alstudy.training.ssl.seg_fixmatch import SegFixMatch, class_thresholds, pixel_mask
from alstudy.training.ssl.seg_mean_teacher import SegMeanTeacher
from alstudy.training.ssl.seg_views import BOX_AREA, ImageView, cutmix_boxes, mix
from alstudy.training.task import task_for

CLASSES = 3


class TinySeg(nn.Module):
    """Two convolutions and a per-pixel linear head (the segmentation model contract in small)."""

    dense = True

    def __init__(self, classes: int = CLASSES, width: int = 8):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(width, classes)

    def forward(self, x):
        return self.classifier(self.dropout(self.backbone(x)).movedim(1, -1)).movedim(-1, 1)


def _shift(x, y, gen, *, host=None):
    """A joint augmentation: image and mask rolled by the same random offset."""
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    return x.roll((dy, dx), dims=(2, 3)), y.roll((dy, dx), dims=(1, 2))


@dataclass(frozen=True)
class TinySegData:
    """What `make_term` reads of a segmentation `Dataset`: its spec, `to_float`, `augmenter`."""

    spec: object

    def to_float(self, x):
        return x.float().div(255.0)

    def augmenter(self, strength):
        return _shift


def _tiny_data():
    spec = replace(dataset_spec("digits"), name="tiny_seg", task="segmentation", num_classes=CLASSES,
                   input_shape=(1, 12, 12))
    return TinySegData(spec)


def _scenes(n: int, seed: int = 0):
    """uint8 images (n, 1, 12, 12) with a bright square of class 1 or 2 on a dark background."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 12, 12, dtype=torch.uint8)
    y = torch.zeros(n, 12, 12, dtype=torch.uint8)
    for i in range(n):
        r, c = (int(v) for v in torch.randint(0, 8, (2,), generator=g))
        cls = 1 + i % 2
        x[i, 0, r:r + 4, c:c + 4] = 120 * cls
        y[i, r:r + 4, c:c + 4] = cls
    return x, y


def _options(method: str, **over):
    return option_defaults(method) | {"mu": 2, "max_steps": 6, "unlabeled_epochs": 0.0} | over


def test_mix_takes_each_box_from_the_next_row_for_images_and_labels_alike():
    images = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).view(2, 1, 3, 3)
    labels = torch.tensor([[[0, 0, 0]] * 3, [[1, 1, 1]] * 3])
    boxes = torch.zeros(2, 3, 3, dtype=torch.bool)
    boxes[0, :2, :2] = True      # row 0: its top-left 2x2 from row 1
    boxes[1, 2, :] = True        # row 1: its last line from row 0 (1 + 1 wraps to 0)
    mixed, mixed_labels = mix(images, boxes), mix(labels, boxes)
    assert mixed[0, 0].tolist() == [[9, 10, 2], [12, 13, 5], [6, 7, 8]]
    assert mixed[1, 0].tolist() == [[9, 10, 11], [12, 13, 14], [6, 7, 8]]
    assert mixed_labels[0].tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert mixed_labels[1].tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]]


def test_cutmix_boxes_cover_half_the_image():
    boxes = cutmix_boxes(64, 32, 32, torch.Generator().manual_seed(0), device="cpu")
    area = boxes.flatten(1).float().mean(1)
    assert torch.allclose(area, torch.full_like(area, BOX_AREA), atol=0.05)
    # each a rectangle: its pixel count is the product of the rows and the columns it touches
    rows, cols = boxes.any(2).sum(1), boxes.any(1).sum(1)
    assert torch.equal(boxes.flatten(1).sum(1), rows * cols)


def test_pixel_mask_keeps_pixels_whose_confidence_reaches_their_class_threshold():
    conf = torch.tensor([[[0.96, 0.94, 0.50, 0.70]]])
    label = torch.tensor([[[0, 0, 1, 1]]])
    assert pixel_mask(conf, label, torch.tensor([0.95, 0.6])).tolist() == [[[1.0, 0.0, 0.0, 1.0]]]


def test_class_thresholds_lower_the_threshold_of_less_learned_classes():
    # rates 0.9 and 0.45: beta = 1 and 0.5; T = 0.95 * beta / (2 - beta) = 0.95 and 0.95 / 3
    t = class_thresholds(torch.tensor([0.9, 0.45]), 0.95)
    assert t.tolist() == pytest.approx([0.95, 0.95 / 3])


def _term(**kw):
    x, _ = _scenes(8)
    options = _options("fixmatch", strong=0.0) | kw.pop("options", {})
    term = SegFixMatch(x, to_float=lambda u: u.float(), weak=lambda u, gen, host=None: u, options=options,
                       batch_size=2, num_classes=CLASSES, ema_decay=0.0, **kw)
    term.bind(TinySeg(), total=1)
    return term


def test_strong_view_pixels_keep_the_pseudo_label_of_their_weak_pixel():
    """Images are their own labels (0, 120, 240 -> class 0, 1, 2). A model that reads the class
    off each weak pixel sets the pseudo-labels; one that reads it off the mixed strong pixel
    then has zero loss, and only because the labels were mixed with the same boxes."""
    term = _term()
    gen = torch.Generator().manual_seed(3)
    strong = term.inputs(gen, gen)

    def reader(images):   # logits that put 50 on the class a pixel's value encodes
        return 50.0 * F.one_hot((images[:, 0] / 120).round().long(), CLASSES).movedim(-1, 1).float()

    assert not torch.equal(strong, term.anchors())   # the boxes moved pixels
    assert float(term.loss(reader(strong), reader(term.anchors()))) == pytest.approx(0.0, abs=1e-6)
    assert float(term.loss(reader(term.anchors()), reader(term.anchors()))) > 1.0   # unmixed: wrong labels


def test_mask_rates_by_class_follow_the_threshold():
    """Pixels of class 0 at confidence ~0.99 pass tau = 0.95, those of class 1 at ~0.6 do not."""
    term = _term(class_thresholds=False)
    gen = torch.Generator().manual_seed(0)
    strong = term.inputs(gen, gen)
    label = (strong[:, 0] > 0).long()                                  # bright pixels: class 1
    logits = torch.zeros(strong.shape[0], CLASSES, *strong.shape[2:])
    logits[:, 0] = torch.where(label == 0, 5.0, -5.0)                  # class 0: p = 0.99
    logits[:, 1] = torch.where(label == 1, 0.8, -5.0)                  # class 1: p ~ 0.6
    term._boxes = torch.zeros_like(term._boxes)                        # no mixing: labels as drawn
    term.loss(logits, logits)
    stats = term.stats()
    rates = stats["ssl_mask_rate_by_class"]
    assert rates[0] == 1.0 and rates[1] == 0.0 and math.isnan(rates[2])
    assert stats["ssl_mask_rate"] == pytest.approx(float((label == 0).float().mean()))


@pytest.mark.parametrize("method", ["fixmatch", "mean_teacher"])
def test_pixel_terms_train_through_fit_and_record_their_columns(method):
    data = _tiny_data()
    x, y = _scenes(16)
    term = make_term(method, x, data=data, options=_options(method), batch_size=4)
    assert isinstance(term, {"fixmatch": SegFixMatch, "mean_teacher": SegMeanTeacher}[method])
    model = TinySeg()
    before = [p.detach().clone() for p in model.parameters()]
    stats = fit(model, x[:4], y[:4], train=TrainConfig(stop="fixed", epochs=1, min_steps=6, batch_size=4),
                to_float=data.to_float, augment=_shift, gen=torch.Generator().manual_seed(0),
                mix_rng=np.random.default_rng(0), unlabeled=term, task=task_for(data))
    assert stats.steps == 6
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    record = term.stats()
    assert record["n_unlabeled"] == 16 and math.isfinite(record["ssl_consistency"])
    assert record["ssl_model"] == "teacher"
    if method == "fixmatch":
        assert 0.0 <= record["ssl_mask_rate"] <= 1.0
        assert len(record["ssl_mask_rate_by_class"]) == CLASSES


def test_methods_without_a_pixel_term_are_refused_on_segmentation():
    x, _ = _scenes(4)
    with pytest.raises(UsageError, match="no segmentation term"):
        make_term("uda", x, data=_tiny_data(), options=option_defaults("uda"), batch_size=2)
    assert make_term("supervised", x, data=_tiny_data(), options={}, batch_size=2) is None


def test_image_view_applies_the_joint_augmentation_to_images_alone():
    x, _ = _scenes(3)
    moved = ImageView(_shift)(x.float(), torch.Generator().manual_seed(1))
    assert moved.shape == x.shape and moved.sum() == x.float().sum()   # a roll keeps every pixel


def test_check_task_refuses_a_method_without_a_pixel_term_on_segmentation_only():
    check_task("fixmatch", "segmentation", "method")   # has one: no error
    check_task("uda", "classification", "method")
    with pytest.raises(UsageError, match="uda.*no segmentation term"):
        check_task("uda", "segmentation", "paradigms.x.method")


class _Oracle(nn.Module):
    """Per-pixel logits from intensity: class round(255 x / 120) at probability `p`, the rest
    shared equally (the `_scenes` squares: class 1 at 120, class 2 at 240)."""

    dense = True

    def __init__(self, p: float = 0.99):
        super().__init__()
        self.p = p
        self.scale = nn.Parameter(torch.ones(()))   # a parameter, so fit has one to step

    def forward(self, x):
        cls = (x[:, 0] * 255.0 / 120.0).round().long().clamp(0, CLASSES - 1)
        probs = torch.full((x.shape[0], CLASSES, *x.shape[2:]), (1 - self.p) / (CLASSES - 1))
        probs.scatter_(1, cls[:, None], self.p)
        return probs.log() * self.scale


def test_self_training_pseudo_masks_are_the_teachers_argmax_where_it_is_sure():
    """threshold 0.9: an oracle at p 0.99 labels every pixel, at p 0.6 none (UNSURE, no loss)."""
    from alstudy.training.ssl.seg_self_training import UNSURE

    x, y = _scenes(6)
    data = _tiny_data()
    term = make_term("self_training", x, data=data, options=_options("self_training", threshold=0.9),
                     batch_size=2)
    term.bind(_Oracle(0.99), total=1)
    assert torch.equal(term.pseudo, y)
    assert term.stats()["ssl_mask_rate"] == 1.0
    term.bind(_Oracle(0.6), total=1)
    assert bool((term.pseudo == UNSURE).all()) and term.stats()["ssl_mask_rate"] == 0.0
    logits = torch.randn(4, CLASSES, 12, 12)
    term.inputs(torch.Generator().manual_seed(0), torch.Generator())
    assert float(term.loss(logits)) == 0.0                              # unsure pixels count nowhere


def test_self_training_views_keep_images_and_pseudo_masks_aligned():
    """Joint shift, CutMix and a photometric strong view: every mixed image's bright pixels
    carry their pseudo-label, so the oracle's own logits of the view have almost no loss."""
    x, y = _scenes(8)
    data = _tiny_data()
    term = make_term("self_training", x, data=data, options=_options("self_training", strong=0.0),
                     batch_size=4)
    term.bind(_Oracle(0.99), total=1)
    view = term.inputs(torch.Generator().manual_seed(3), torch.Generator())
    target = term._target
    assert view.shape == (8, 1, 12, 12) and target.shape == (8, 12, 12)
    assert torch.equal((view[:, 0] * 255 / 120).round().long(), target)
    assert float(term.loss(_Oracle(0.99)(view)).detach()) == pytest.approx(-math.log(0.99), rel=1e-4)


def test_self_training_trains_the_supervised_teacher_first_then_the_student():
    """fit with the term: the model the pool is labeled with is exactly the supervised run's
    (same recipe, same generator), the student then trains the term's steps, and the stats
    count both runs."""
    data = _tiny_data()
    x, y = _scenes(16)
    train = TrainConfig(stop="fixed", epochs=1, min_steps=5, batch_size=4)
    common = dict(train=train, to_float=data.to_float, augment=_shift, mix_rng=np.random.default_rng(0),
                  task=task_for(data))
    torch.manual_seed(0)
    supervised = TinySeg()
    torch.manual_seed(0)
    model = TinySeg()
    fit(supervised, x[:4], y[:4], gen=torch.Generator().manual_seed(0), **common)
    term = make_term("self_training", x, data=data, options=_options("self_training", steps=6), batch_size=4)
    seen = {}
    bind = term.bind
    term.bind = lambda m, total: (seen.update(state={k: v.clone() for k, v in m.state_dict().items()},
                                              total=total), bind(m, total=total))
    stats = fit(model, x[:4], y[:4], gen=torch.Generator().manual_seed(0), unlabeled=term, **common)
    assert all(torch.equal(v, supervised.state_dict()[k]) for k, v in seen["state"].items())
    assert seen["total"] == 6 and stats.steps == 5 + 6
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in seen["state"].items())
    supervised.eval()
    with torch.no_grad():
        teacher_labels = supervised(data.to_float(x)).argmax(dim=1)
    assert torch.equal(term.pseudo.long(), teacher_labels)              # threshold 0: every pixel


def test_self_training_student_fraction_shortens_the_student_only():
    """student_fraction 0.5 of 6 steps: the teacher trains its 5, the student 3; the student's
    schedule spans those 3 (bind sees total 3); 1.0 keeps ST's count."""
    data = _tiny_data()
    x, y = _scenes(16)
    train = TrainConfig(stop="fixed", epochs=1, min_steps=5, batch_size=4)
    for fraction, student in ((0.5, 3), (1.0, 6), (0.01, 1)):
        term = make_term("self_training", x, data=data, batch_size=4,
                         options=_options("self_training", steps=6, student_fraction=fraction))
        seen = {}
        bind = term.bind
        term.bind = lambda m, total, bind=bind: (seen.update(total=total), bind(m, total=total))
        torch.manual_seed(0)
        stats = fit(TinySeg(), x[:4], y[:4], gen=torch.Generator().manual_seed(0), unlabeled=term, train=train,
                    to_float=data.to_float, augment=_shift, mix_rng=np.random.default_rng(0), task=task_for(data))
        assert (seen["total"], stats.steps) == (student, 5 + student)


def test_self_training_is_refused_on_classification_in_one_line():
    with pytest.raises(UsageError, match="self_training.*segmentation only") as err:
        check_task("self_training", "classification", "paradigms.st.method")
    assert "\n" not in str(err.value)
    check_task("self_training", "segmentation", "method")
