"""run_campaign on a segmentation dataset: rows in mIoU, with the labels' pixel cost, through
the same loop and command line as classification."""

from __future__ import annotations

import pandas as pd
import pytest

from alstudy.campaign import run_campaign
from alstudy.cli import main
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.errors import UsageError

TINY = Budget(initial=8, per_cycle=8, cycles=1, validation=8)
QUICK = TrainConfig(epochs=2, min_steps=4, batch_size=8)


def test_a_random_segmentation_campaign_records_miou_and_pixel_cost():
    records = run_campaign(CampaignConfig("mnist5k_seg", "random", budget=TINY, train=QUICK), 0)
    data = get_dataset("mnist5k_seg")
    pixels = data.y_train[0].numel()
    assert [r["n_labeled"] for r in records] == [8, 16]
    for r in records:
        assert r["metric"] == "miou" and "val_acc" not in r and "test_acc" not in r
        assert 0.0 <= r["val_miou"] <= 1.0 and 0.0 <= r["test_miou"] <= 1.0
        assert 0.0 <= r["test_pixel_acc"] <= 1.0 and 0.0 <= r["val_pixel_acc"] <= 1.0
        assert len(r["test_iou"]) == data.num_classes
        # mIoU is the mean IoU over the classes present (absent ones are NaN, not 0)
        present = [v for v in r["test_iou"] if v == v]
        assert r["test_miou"] == pytest.approx(sum(present) / len(present))
    # every pixel of an mnist5k_seg scene is labeled; digits cover a minority of them
    cost0, cost1 = records[0], records[1]
    if data.spec.ignore_index is None:
        assert cost0["n_labeled_pixels"] == 8 * pixels and cost1["n_labeled_pixels"] == 16 * pixels
    assert 0 < cost0["n_labeled_foreground"] < cost0["n_labeled_pixels"]
    assert cost1["n_labeled_foreground"] > cost0["n_labeled_foreground"]


def test_classification_rows_say_their_metric_and_carry_no_pixel_cost():
    [record] = run_campaign(CampaignConfig("digits", "random", budget=Budget(20, 10, 0, 10),
                                           train=TrainConfig(epochs=2, min_steps=4)), 0)
    assert record["metric"] == "acc" and 0.0 <= record["val_acc"] <= 1.0
    assert "n_labeled_pixels" not in record and "val_miou" not in record


def test_mixup_on_segmentation_is_refused_before_anything_runs(capsys):
    with pytest.raises(UsageError, match="mixup"):
        run_campaign(CampaignConfig("mnist5k_seg", "random", budget=TINY, train=TrainConfig(mixup=0.2)), 0)
    code = main(["campaign", "--dataset", "mnist5k_seg", "--strategy", "random", "--cycles", "0",
                 "--initial", "8", "--validation", "8", "--set", "mixup=0.2"])
    err = capsys.readouterr().err
    assert code == 2 and "--set mixup" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_campaign_command_prints_miou_columns(tmp_path, capsys):
    out = tmp_path / "seg.csv"
    code = main(["campaign", "--dataset", "mnist5k_seg", "--strategy", "random", "--cycles", "0",
                 "--initial", "8", "--validation", "8", "--set", "epochs=2", "--set", "min_steps=4",
                 "--set", "batch_size=8", "--out", str(out)])
    assert code == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert "val_miou" in header and "test_miou" in header
    frame = pd.read_csv(out)
    assert (frame["metric"] == "miou").all() and frame["test_miou"].between(0, 1).all()
