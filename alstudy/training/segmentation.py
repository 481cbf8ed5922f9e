"""The segmentation metric: one confusion matrix over a whole split, then IoU per class,
mIoU and pixel accuracy (the PASCAL VOC / Cityscapes protocol: Everingham et al. 2015, IoU =
TP / (TP + FP + FN) over the dataset's pixels, not averaged per image).

Batches add their matrices: the scores of a split are the scores of the sum, the same as of one
batch holding every pixel. Pixels whose truth is `ignore_index` count nowhere.
"""

from __future__ import annotations

import math

import torch


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
              ignore_index: int | None = None) -> torch.Tensor:
    """(C, C) int64 counts on the tensors' device: [t, p] = pixels of true class t predicted p.

    `pred`: class ids (N, H, W) of any integer type; `target`: true ids of the same shape
    (uint8 masks as stored); pixels with `target == ignore_index` are left out. ValueError
    when a kept target id is not below `num_classes`.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    t, p = target.reshape(-1), pred.reshape(-1)
    if ignore_index is not None:
        keep = t != ignore_index
        t, p = t[keep], p[keep]
    c = num_classes
    counts = torch.bincount(t.long() * c + p.long(), minlength=c * c)
    if counts.numel() > c * c:   # a target id >= C (a prediction is an argmax over C logits)
        raise ValueError(f"a target class id is >= num_classes ({c}) and not the ignore index ({ignore_index})")
    return counts.view(c, c)


def scores_from_confusion(conf: torch.Tensor) -> dict:
    """{"miou", "pixel_acc", "iou"} of a (C, C) confusion matrix (rows true, columns
    predicted): IoU per class as a list of C floats, NaN for a class absent from both truth and
    prediction; mIoU the mean over the other classes; pixel accuracy the diagonal's share of
    all counted pixels. NaN throughout for a matrix that counts no pixel."""
    conf = conf.detach().to("cpu", torch.float64)
    tp = conf.diagonal()
    union = conf.sum(0) + conf.sum(1) - tp   # TP + FP + FN
    iou = [float(i) / float(u) if u > 0 else math.nan for i, u in zip(tp, union)]
    present = [v for v in iou if not math.isnan(v)]
    total = float(conf.sum())
    return {"miou": sum(present) / len(present) if present else math.nan,
            "pixel_acc": float(tp.sum()) / total if total > 0 else math.nan,
            "iou": iou}
