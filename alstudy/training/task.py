"""The task seam: what differs between classification and segmentation, asked in one place.

A dataset's kind (`DatasetSpec.task`) decides its loss, its metric, how a split is evaluated,
how a batch is augmented (a segmentation mask moves with its image) and what a label costs.
`fit` and `run_campaign` call the `Task` of the data and never branch on the kind themselves.

* `Classification`: cross-entropy over rows; accuracy (`alstudy.training.infer.evaluate`).
* `Segmentation`: cross-entropy over pixels without the `ignore_index` pixels; mIoU from one
  confusion matrix over the whole split (alstudy.training.segmentation), pixel accuracy and
  per-class IoU; masks are stored as uint8 (N, H, W) and become int64 one batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from alstudy.data.registry import METRICS
from alstudy.training.infer import ToFloat, _batches
from alstudy.training.infer import evaluate as evaluate_classifier

# aug(x, gen, *, host) -> x (classification); aug(x, y, gen, *, host) -> (x, y) (segmentation)
Augment = Callable[..., Any]
PIXELS_PER_BATCH = 1 << 20   # evaluation batches of segmentation: ~1M pixels (1024 scenes of 32x32)


class Task:
    """What the campaign and the training loop ask of a dataset's kind (see the module docstring)."""

    name: str
    metric: str            # the record's column stem: val_<metric>, test_<metric> (DatasetSpec.metric)
    metric_label: str      # how a table or a report says it
    dense: bool            # one label per pixel, not per row

    def loss(self, logits: torch.Tensor, y: torch.Tensor, *, label_smoothing: float = 0.0,
             reduction: str = "mean") -> torch.Tensor:
        """The training loss; reduction "none" gives one value per row (image), (B,)."""
        raise NotImplementedError

    def evaluate(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 to_float: ToFloat) -> dict[str, Any]:
        """The metric (key `metric`), "loss" and any further scores of `model` on (x, y)."""
        raise NotImplementedError

    def label_cost(self, y_rows: torch.Tensor) -> dict[str, int]:
        """Record columns saying what the labels of `y_rows` cost beyond their count."""
        return {}

    def augmented(self, augment: Augment, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, *,
                  host: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch (x, y) after the dataset's augmenter."""
        raise NotImplementedError

    def refusal(self, *, mixup: float) -> str | None:
        """Why a training recipe cannot run on this task (one line), or None."""
        return None

    def columns(self, val: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
        """A cycle's record columns from the validation and test scores of `evaluate`."""
        m = self.metric
        return {"metric": m, f"val_{m}": val[m], f"test_{m}": test[m], **self._extra(val, test),
                "val_loss": val["loss"], "test_loss": test["loss"]}

    def ensemble_metric(self, members: Sequence[torch.nn.Module], x: torch.Tensor, y: torch.Tensor, *,
                        to_float: ToFloat) -> float:
        """The metric of the members' mean predicted probabilities on (x, y)."""
        raise NotImplementedError

    def _extra(self, val: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Classification(Task):
    name = "classification"
    metric = METRICS[name]
    metric_label = "accuracy"
    dense = False

    def loss(self, logits, y, *, label_smoothing=0.0, reduction="mean"):
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction=reduction)

    def evaluate(self, model, x, y, *, to_float):
        acc, loss = evaluate_classifier(model, x, y, to_float=to_float)
        return {"acc": acc, "loss": loss}

    def augmented(self, augment, x, y, gen, *, host):
        return augment(x, gen, host=host), y

    def ensemble_metric(self, members, x, y, *, to_float):
        from alstudy.training.ensemble import ensemble_accuracy

        return ensemble_accuracy(list(members), x, y, to_float=to_float)


@dataclass(frozen=True)
class Segmentation(Task):
    """Per-pixel classification into `num_classes` (background included); pixels labeled
    `ignore_index` (None: none) count in no loss and no score."""

    num_classes: int
    ignore_index: int | None = None
    name = "segmentation"
    metric = METRICS[name]
    metric_label = "mIoU"
    dense = True

    @property
    def _ignore(self) -> int:
        return -100 if self.ignore_index is None else self.ignore_index   # F.cross_entropy's "none"

    def loss(self, logits, y, *, label_smoothing=0.0, reduction="mean"):
        # logits (B, C, H, W), y uint8 (B, H, W): int64 only for this batch
        target = y.long()
        pixels = F.cross_entropy(logits, target, ignore_index=self._ignore,
                                 label_smoothing=label_smoothing, reduction="none")   # (B, H, W), 0 where ignored
        if reduction == "sum":
            return pixels.sum()
        counted = target != self._ignore
        if reduction == "mean":   # over the batch's labeled pixels; 0, not NaN, when it has none
            return pixels.sum() / counted.sum().clamp(min=1)
        return pixels.flatten(1).sum(1) / counted.flatten(1).sum(1).clamp(min=1)   # (B,), per image

    @torch.inference_mode()
    def evaluate(self, model, x, y, *, to_float):
        from alstudy.training.segmentation import confusion, scores_from_confusion

        return self._scores(lambda xb: model(xb).float(), [model], x, y, to_float=to_float,
                            confusion=confusion, scores_from_confusion=scores_from_confusion)

    @torch.inference_mode()
    def ensemble_metric(self, members, x, y, *, to_float):
        from alstudy.training.segmentation import confusion, scores_from_confusion

        def mean_log_probs(xb):   # log of the members' mean probabilities: its argmax is the ensemble's
            probs = torch.stack([m(xb).float().softmax(1) for m in members]).mean(0)
            return probs.clamp_min(1e-12).log()

        return self._scores(mean_log_probs, members, x, y, to_float=to_float, confusion=confusion,
                            scores_from_confusion=scores_from_confusion)[self.metric]

    def _scores(self, logits_of, models, x, y, *, to_float, confusion, scores_from_confusion):
        """One confusion matrix over the whole split, streamed in batches of about
        PIXELS_PER_BATCH pixels; the loss is the mean over all labeled pixels."""
        for m in models:
            m.eval()
        c = self.num_classes
        conf = torch.zeros(c, c, dtype=torch.int64, device=x.device)
        loss = torch.zeros((), device=x.device, dtype=torch.float64)
        size = max(1, PIXELS_PER_BATCH // max(1, y[0].numel() if y.shape[0] else 1))
        for i, xb in enumerate(_batches(x, to_float, size)):
            logits = logits_of(xb)                                          # (B, C, H, W)
            yb = y[i * size:(i + 1) * size]
            conf += confusion(logits.argmax(1), yb, c, self.ignore_index)
            loss += self.loss(logits, yb, reduction="sum")
        scores = scores_from_confusion(conf)
        labeled = int(conf.sum())
        return {**scores, "loss": float(loss) / max(1, labeled)}

    def label_cost(self, y_rows):
        # foreground: labeled pixels of any class but 0 (the background of mnist5k_seg, VOC
        # and the Pets trimaps; Cityscapes' class 0 is road)
        labeled = y_rows != self._ignore if self.ignore_index is not None else torch.ones_like(y_rows, dtype=torch.bool)
        return {"n_labeled_pixels": int(labeled.sum()), "n_labeled_foreground": int((labeled & (y_rows != 0)).sum())}

    def augmented(self, augment, x, y, gen, *, host):
        return augment(x, y, gen, host=host)

    def refusal(self, *, mixup):
        if mixup > 0:
            return "mixup is for classification; a segmentation dataset trains with mixup = 0"
        return None

    def _extra(self, val, test):
        return {"val_pixel_acc": val["pixel_acc"], "test_pixel_acc": test["pixel_acc"],
                "test_iou": [float(v) for v in test["iou"]]}


CLASSIFICATION = Classification()


def task_for(data) -> Task:
    """The task of `data`: a `Dataset` or its `DatasetSpec`."""
    spec = getattr(data, "spec", data)
    if spec.task == "segmentation":
        return Segmentation(spec.num_classes, spec.ignore_index)
    return CLASSIFICATION
