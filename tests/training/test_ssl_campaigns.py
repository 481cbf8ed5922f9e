"""UDA, Mean Teacher and Pseudo-Label in whole campaigns on every dataset kind (tabular, signal,
image), from a study file and the command line; Mean Teacher's consistency over training."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from alstudy.campaign import new_model, run_campaign
from alstudy.cli import main
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.rng import numpy_generator, torch_generator
from alstudy.study import plan
from alstudy.study.schema import parse_study
from alstudy.training import fit
from alstudy.training.methods import method_info, resolve_options, ssl_steps
from alstudy.training.ssl import make_term

NEW = ("uda", "mean_teacher", "pseudo_label")


@pytest.mark.parametrize("dataset", ["digits", "mnist1d", "mnist5k"])   # tabular, signal, image
@pytest.mark.parametrize("method", NEW)
def test_a_campaign_of_each_method_on_each_dataset_kind(method, dataset):
    # threshold 0: every unlabeled row counts, so each method's loss is live in a few steps
    knobs = {"mu": 2, "max_steps": 12, "unlabeled_epochs": 1.0} | ({} if method == "mean_teacher" else {"threshold": 0.0})
    options = resolve_options(method, knobs, where="t")
    # mnist5k: random spares scoring 4 000 images on a CPU; the others score with the SSL model
    config = CampaignConfig(dataset, "random" if dataset == "mnist5k" else "entropy", budget=Budget(16, 8, 1, 16),
                            train=TrainConfig(epochs=1, min_steps=4, batch_size=8),
                            paradigm=f"p_{method}", method=method, method_options=options)
    records = run_campaign(config, 0)
    n_train = get_dataset(dataset).n_train
    assert [r["n_labeled"] for r in records] == [16, 24]
    for r in records:
        assert r["paradigm"] == f"p_{method}" and r["method"] == method and r["hp.mu"] == 2
        assert r["n_unlabeled"] == n_train - 16 - r["n_labeled"]
        assert r["steps"] == ssl_steps(4, r["n_unlabeled"], 8, options) == 12
        assert 0.0 < r["ssl_consistency"] < math.inf and 0.0 <= r["ssl_consistency_end"] < math.inf
        assert 0.0 <= r["test_acc"] <= 1.0
        if method == "mean_teacher":
            assert r["ssl_model"] == "teacher" and "ssl_mask_rate" not in r
        else:
            assert r["ssl_mask_rate"] == 1.0
    assert len(set(records[1]["new_indices"])) == 8


def test_mean_teacher_consistency_is_never_zero_and_falls_as_training_goes_on():
    data = get_dataset("digits")
    config = CampaignConfig("digits", "random", train=TrainConfig(min_steps=150, epochs=1, batch_size=16))
    model = new_model(data.default_model, data, config, 0, 0, torch.device("cpu"))
    lab = torch.arange(40)
    term = make_term("mean_teacher", data.x_train[100:], data=data, batch_size=16,
                     options=resolve_options("mean_teacher", {"mu": 4, "max_steps": 150, "view": 1.0}, where="t"))
    # weak views (strength 1): with the default RandAugment views the consistency falls, then
    # levels off where the two views keep disagreeing
    fit(model, data.x_train[lab], data.y_train[lab], train=config.train, to_float=data.to_float,
        augment=data.augmenter(0.0), gen=torch_generator(0, "train", 0), mix_rng=numpy_generator(0, "mixup", 0),
        unlabeled=term)
    curve = term.curve()
    assert len(curve) == 150 and min(curve) > 1e-4       # student and teacher never see the same logits
    tenths = [sum(curve[i:i + 15]) / 15 for i in range(0, 150, 15)]
    # the student first runs ahead of its lagging teacher, then the two agree more and more
    assert tenths[-1] < 0.6 * max(tenths) and tenths[-1] < tenths[-2] < tenths[-4]
    stats = term.stats()
    assert stats["ssl_consistency_end"] == pytest.approx(tenths[-1])
    assert stats["ssl_consistency_end"] < stats["ssl_consistency"] == pytest.approx(sum(curve) / 150)
    # the model the campaign evaluates is the teacher
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), term.teacher.state_dict().values()))


STUDY = """
name = "ssl"
datasets = ["digits"]
strategies = ["random"]
[budget]
initial = 10
per_cycle = 10
cycles = 1
validation = 10
[tuning]
trials = 2
seeds = [0]
[tuning.space]
lr = { low = 0.01, high = 0.1, log = true }
[tuning.space.uda]
temperature = { low = 0.3, high = 0.9 }
[tuning.space.mean_teacher]
ema_decay = [0.99, 0.999]
[tuning.space.pseudo_label]
threshold = { low = 0.8, high = 0.99 }
[evaluation]
seeds = [100]
[paradigms]
uda = { method = "uda", mu = 2, threshold = 0.7 }
mt = { method = "mean_teacher", rampup = 0.5, teacher_scores = false }
pl = { method = "pseudo_label", rampup_start = 0.0, rampup_end = 0.3, lambda_u = 1.0 }
"""


def test_paradigm_tables_fix_and_search_each_methods_knobs():
    import tomllib

    study = parse_study(tomllib.loads(STUDY))
    assert [(p.name, p.method) for p in study.paradigms] == [("uda", "uda"), ("mt", "mean_teacher"),
                                                             ("pl", "pseudo_label")]
    assert [p.name for p in plan.cell_space(study, "uda")] == ["lr", "temperature"]
    assert [p.name for p in plan.cell_space(study, "mt")] == ["lr", "ema_decay"]
    spec = plan.tune_spec("digits", "random", 0, 0, {"lr": 0.05, "ema_decay": 0.99}, paradigm="mt")
    options = plan.campaign_config(study, spec).method_options
    assert options["ema_decay"] == 0.99 and options["rampup"] == 0.5 and options["teacher_scores"] is False
    pl = plan.campaign_config(study, plan.tune_spec("digits", "random", 0, 0, {"lr": 0.05, "threshold": 0.9},
                                                    paradigm="pl")).method_options
    assert (pl["threshold"], pl["rampup_end"], pl["lambda_u"]) == (0.9, 0.3, 1.0)


def test_the_command_line_runs_and_lists_the_new_methods(tmp_path, capsys):
    out = tmp_path / "uda.csv"
    assert main(["campaign", "--dataset", "wine", "--strategy", "random", "--paradigm", "uda",
                 "--initial", "10", "--per-cycle", "5", "--cycles", "1", "--validation", "10",
                 "--set", "temperature=0.5", "--set", "max_steps=8", "--set", "min_steps=4", "--set", "epochs=1",
                 "--set", "unlabeled_epochs=10.0", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert (frame["method"] == "uda").all() and (frame["hp.temperature"] == 0.5).all()
    assert (frame["steps"] == 8).all() and (frame["hp.threshold"] == 0.8).all()
    rows = {r["name"]: r for r in method_info()}
    assert "temperature=0.4" in rows["uda"]["options"] and "ema_decay=0.99," in rows["mean_teacher"]["options"]
    assert "threshold=0.95" in rows["pseudo_label"]["options"] and "lambda_u=1.0" in rows["pseudo_label"]["options"]
    capsys.readouterr()
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert all(m in listed for m in NEW) and "Tarvainen" in listed
