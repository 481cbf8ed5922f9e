"""Segmentation studies: both study files validate, and a tiny segmentation study runs through
`alstudy run` and `alstudy report`, each of which says its numbers are mIoU."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest

from alstudy.cli import main

STUDIES = os.path.join(os.path.dirname(__file__), "..", "..", "studies")


def test_the_segmentation_study_validates(capsys):
    assert main(["validate", os.path.join(STUDIES, "segmentation.toml")]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "study segmentation: 1 dataset x 2 paradigms x 5 strategies = 10 cells" in out
    assert "strategies: random, entropy, bald, coreset, equal" in out
    assert "mnist5k_seg: model unet; 50 initial + 1 x 50 = 100 labels, 50 validation, pool 4000" in out
    assert "paradigm self_training (5 cells): method self_training" in out
    assert "campaigns: tune 20, eval 30; total 50" in out
    # 5 strategies share cycle 0 on a seed: 4 repeats x 2 paradigms, on the tuning seed (the
    # defaults) at least, and on the 3 evaluation seeds too at most
    assert "of these, 8 to 32 are a cycle 0" in out
    assert "objective: validation AUBC of mIoU" in out


def test_the_full_recipe_segmentation_study_is_the_same_study_trained_longer(capsys):
    """segmentation_full.toml asks the 45-minute study's question with the same cells, tuning and
    seeds; only the training (the dataset's full recipe, ST's whole student) differs."""
    outs = {}
    for name in ("segmentation", "segmentation_full"):
        assert main(["validate", os.path.join(STUDIES, f"{name}.toml")]) == 0, capsys.readouterr().err
        outs[name] = capsys.readouterr().out.splitlines()
    quick, full = outs["segmentation"], outs["segmentation_full"]
    assert "    fixed: optimizer=adamw, epochs=40, min_steps=3200, batch_size=16, dropout=0.1" in full
    assert "    fixed: optimizer=adamw, epochs=40, min_steps=2400, batch_size=4, dropout=0.1" in quick
    differ = [(a, b) for a, b in zip(quick, full) if a != b]
    assert len(quick) == len(full) and len(differ) == 3, differ   # the name, ST's fixed values, the [train] line
    assert "student_fraction=0.25" in differ[1][0] and "student_fraction" not in differ[1][1]


def test_the_cityscapes_study_validates_on_full_size_folders(tmp_path, capsys):
    import torch
    import torchvision

    from tests.data.conftest import write_cityscapes

    # the full split sizes (2975 train, 500 val images) at a tiny resolution: the budget resolves
    # against the real pool, and writing 7000 full-size PNGs would take minutes
    write_cityscapes(tmp_path / "cityscapes", n_train=2975, n_val=500, size=(4, 8))
    (tmp_path / "weights").mkdir()   # the ImageNet backbone file, beside the study file
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "weights" / "resnet50_imagenet.pth")
    with open(os.path.join(STUDIES, "mittal_cityscapes.toml")) as f:
        text = re.sub(r'(?m)^data_root = "[^"]*"', f'data_root = "{tmp_path / "cityscapes"}"', f.read())
    path = tmp_path / "mittal_cityscapes.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "cityscapes: model deeplabv3_resnet50; 298 initial + 4 x 298 = 1490 labels, 100 validation, pool 2975" in out
    assert "strategies: random, entropy, coreset, equal" in out
    assert "paradigm fixmatch (4 cells): method fixmatch, init weights weights/resnet50_imagenet.pth" in out
    assert "campaigns: tune 32, eval 24; total 56" in out
    assert "not checked" not in out


TINY = """
name = "tinyseg"
datasets = ["mnist5k_seg"]
strategies = ["random", "entropy"]

[budget]                 # no acquisition round: each campaign trains and evaluates once
initial = 4
per_cycle = 4
cycles = 0
validation = 4

[train]
epochs = 1
min_steps = 2
batch_size = 4

[tuning]
trials = 1
seeds = [0]

[tuning.space]
lr = { low = 0.01, high = 0.1, log = true }

[evaluation]
seeds = [100, 101]
"""


def test_a_tiny_segmentation_study_runs_and_reports_in_miou(tmp_path, capsys):
    path = tmp_path / "tinyseg.toml"
    path.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--local", "--plain"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "evaluation: AUBC of test mIoU" in printed
    frame = pd.read_parquet(out / "tinyseg" / "results.parquet")
    assert set(frame["metric"]) == {"miou"} and "test_acc" not in frame
    assert frame["test_miou"].between(0, 1).all() and frame["val_miou"].between(0, 1).all()
    # the tuning objective is the validation AUBC of mIoU (one budget point: its value)
    assert (frame["objective"] == frame["val_miou"]).all()
    report = tmp_path / "report"
    assert main(["report", str(out / "tinyseg"), "--out", str(report), "--bootstrap", "50"]) == 0, \
        capsys.readouterr().err
    text = (report / "report.md").read_text()
    assert "the area under the test-mIoU curve" in text and "## Final mIoU" in text
    assert "in mIoU points" in text and "accuracy" not in text.lower().replace("pixel_acc", "")


@pytest.mark.parametrize("change, key", [
    (('method = "self_training", augment = 1.0, student_fraction = 0.25', 'method = "uda", augment = 1.0'),
     "paradigms.self_training.method"),
    (("batch_size = 4", "batch_size = 4\nmixup = 0.2"), "train.mixup"),
])
def test_validate_refuses_what_segmentation_cannot_train_with(tmp_path, capsys, change, key):
    """A method without a per-pixel term, or mixup, on a segmentation dataset: one line, exit 2,
    at validation (before, every campaign of the run failed at its start)."""
    with open(os.path.join(STUDIES, "segmentation.toml")) as f:
        text = f.read()
    assert change[0] in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(change[0], change[1], 1))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0], err


def test_the_dataset_recipe_is_the_bottom_layer_of_a_campaign_config(tmp_path):
    """mnist5k_seg's measured recipe (AdamW, 3200 steps) is what a campaign trains with unless the
    study sets a value; a searched value overrides it, and tuning starts from it clipped into the space."""
    from alstudy.config import TrainConfig
    from alstudy.study.plan import campaign_config, eval_spec, untuned_values
    from alstudy.study.schema import load_study
    from alstudy.study.space import start_point

    path = tmp_path / "tinyseg.toml"
    path.write_text(TINY)
    study = load_study(str(path))
    train = campaign_config(study, eval_spec("untuned", "mnist5k_seg", "random", 0, {})).train
    # the study's [train] wins where it speaks (min_steps 2, batch 4); the recipe fills the rest
    assert (train.optimizer, train.lr, train.min_steps, train.batch_size) == ("adamw", 3e-3, 2, 4)
    assert TrainConfig().optimizer == "sgd" and TrainConfig().lr != 3e-3
    tuned = campaign_config(study, eval_spec("eval", "mnist5k_seg", "random", 0, {"lr": 0.05})).train
    assert (tuned.optimizer, tuned.lr) == ("adamw", 0.05)
    # the recipe's 3e-3 lies below the space's 0.01: the first proposal is its edge
    assert start_point(study.tuning.space, untuned_values(study, "mnist5k_seg", None)) == {"lr": 0.01}


def test_a_campaign_at_the_defaults_trains_with_the_recipe(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert main(["campaign", "--dataset", "mnist5k_seg", "--strategy", "random", "--initial", "4",
                 "--cycles", "0", "--validation", "4", "--set", "epochs=1", "--set", "stop='fixed'",
                 "--set", "min_steps=3", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert (row["hp.optimizer"], row["hp.lr"], row["hp.batch_size"], row["steps"]) == ("adamw", 3e-3, 16, 3)


@pytest.mark.slow
def test_a_self_training_campaign_counts_teacher_and_student_and_records_its_masks(tmp_path):
    """`alstudy campaign --paradigm self_training` on mnist5k_seg: the row's steps are the
    teacher's plus the student's, every pool pixel is pseudo-labeled at threshold 0, and the
    per-class rates cover the 11 classes (labeling the 3 992-scene pool takes ~10 s)."""
    import json

    out = tmp_path / "c.csv"
    assert main(["campaign", "--dataset", "mnist5k_seg", "--strategy", "random", "--initial", "4",
                 "--cycles", "0", "--validation", "4", "--paradigm", "self_training", "--set", "epochs=1",
                 "--set", "min_steps=3", "--set", "steps=3", "--threads", "1", "--out", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert (row["method"], row["steps"], row["n_unlabeled"]) == ("self_training", 6, 3992)
    assert row["ssl_mask_rate"] == 1.0 and 0.0 <= row["test_miou"] <= 1.0
    rates = json.loads(row["ssl_mask_rate_by_class"].replace("nan", "NaN"))
    assert len(rates) == 11 and all(r == 1.0 or r != r for r in rates)
