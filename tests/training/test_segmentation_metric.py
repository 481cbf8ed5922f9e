"""The segmentation metric against hand-computed cases: one dataset-level confusion matrix,
IoU = TP / (TP + FP + FN), mIoU over the classes present, the ignore index counted nowhere."""

from __future__ import annotations

import math

import pytest
import torch

from alstudy.training.segmentation import confusion, scores_from_confusion


def test_all_background_on_a_mask_with_ten_percent_class_one_is_045():
    target = torch.zeros(1, 10, 10, dtype=torch.uint8)
    target[0, 0, :] = 1                          # 10 of 100 pixels
    pred = torch.zeros(1, 10, 10, dtype=torch.long)
    conf = confusion(pred, target, 2)
    assert conf.dtype == torch.int64 and conf.tolist() == [[90, 0], [10, 0]]   # rows: the truth
    s = scores_from_confusion(conf)
    # background: 90 / (90 + 10 false positives); class 1: 0 / 10
    assert s["iou"] == [0.9, 0.0] and s["miou"] == 0.45 and s["pixel_acc"] == 0.9


def test_ignored_pixels_count_nowhere():
    target = torch.tensor([[[0, 1, 255, 255]]], dtype=torch.uint8)
    pred = torch.tensor([[[0, 1, 1, 0]]])       # the ignored pixels' predictions are wrong either way
    conf = confusion(pred, target, 2, ignore_index=255)
    assert conf.tolist() == [[1, 0], [0, 1]]
    assert scores_from_confusion(conf) == {"miou": 1.0, "pixel_acc": 1.0, "iou": [1.0, 1.0]}
    # without the ignore index, 255 is an unknown class: refused, not counted
    with pytest.raises(ValueError, match="num_classes"):
        confusion(pred, target, 2)


def test_a_class_absent_from_truth_and_prediction_is_nan_and_left_out_of_the_mean():
    target = torch.tensor([[[0, 0, 1, 1]]], dtype=torch.uint8)
    pred = torch.tensor([[[0, 1, 1, 1]]])
    s = scores_from_confusion(confusion(pred, target, 3))
    # class 0: 1 / (1 + 0 + 1); class 1: 2 / (2 + 1 + 0); class 2: 0 / 0
    assert s["iou"][:2] == [0.5, 2 / 3] and math.isnan(s["iou"][2])
    assert s["miou"] == pytest.approx((0.5 + 2 / 3) / 2) and s["pixel_acc"] == 0.75
    # predicted but never true: a false positive everywhere, IoU 0, counted in the mean
    s = scores_from_confusion(confusion(torch.tensor([[[0, 2, 1, 1]]]), target, 3))
    assert s["iou"] == [0.5, 1.0, 0.0] and s["miou"] == pytest.approx(0.5)


def test_a_perfect_prediction_scores_one_and_no_pixel_scores_nan():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (3, 8, 8), generator=g, dtype=torch.uint8)
    s = scores_from_confusion(confusion(target.long(), target, 5))
    assert s["miou"] == 1.0 and s["pixel_acc"] == 1.0 and s["iou"] == [1.0] * 5
    empty = scores_from_confusion(confusion(target.long(), torch.full_like(target, 255), 5, ignore_index=255))
    assert math.isnan(empty["miou"]) and math.isnan(empty["pixel_acc"])


def test_batches_accumulated_equal_one_batch_not_a_mean_of_batch_scores():
    g = torch.Generator().manual_seed(1)
    target = torch.randint(0, 4, (10, 6, 6), generator=g, dtype=torch.uint8)
    target[target == 3] = 255
    pred = torch.where(torch.rand(10, 6, 6, generator=g) < 0.7, target.long() % 255,
                       torch.randint(0, 3, (10, 6, 6), generator=g))
    pred[:2] = 0                                 # two bad images: batch means would differ
    whole = confusion(pred, target, 3, ignore_index=255)
    summed = sum(confusion(pred[i:i + 3], target[i:i + 3], 3, ignore_index=255) for i in range(0, 10, 3))
    assert torch.equal(summed, whole) and int(whole.sum()) == int((target != 255).sum())
    per_batch = [scores_from_confusion(confusion(pred[i:i + 3], target[i:i + 3], 3, ignore_index=255))["miou"]
                 for i in range(0, 10, 3)]
    assert scores_from_confusion(summed)["miou"] != pytest.approx(sum(per_batch) / len(per_batch))


def test_shapes_must_match():
    with pytest.raises(ValueError, match="differ in shape"):
        confusion(torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 4, 5, dtype=torch.uint8), 2)
