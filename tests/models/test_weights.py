"""Pretrained weights from a local torchvision-format file: loaded where they fit, head and a
different stem fresh from the seed, one clear line when the file is for another network, and a
campaign and a study that start from them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torchvision

from alstudy.cli import main
from alstudy.config import Budget, CampaignConfig, Init, TrainConfig
from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.models.weights import fit_weights, load_weights, read_weights
from tests.data.conftest import write_cifar


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory):
    """A randomly initialized torchvision ResNet-18 (ImageNet layout: 7x7 stem, 1000 classes)."""
    torch.manual_seed(7)
    state = torchvision.models.resnet18(weights=None).state_dict()
    for key, value in state.items():   # running statistics away from their defaults, so loading shows
        if key.endswith(("running_mean", "running_var")):
            value.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "resnet18_imagenet.pth"
    torch.save(state, path)
    return path, state


def fresh(seed: int = 0, shape=(3, 32, 32), classes: int = 10):
    torch.manual_seed(seed)
    return make_model("resnet18", shape, classes, dropout=0.0)


def test_torchvision_file_loads_into_the_cifar_resnet(imagenet_file):
    path, state = imagenet_file
    model, before = fresh(), fresh().state_dict()
    loaded = load_weights(model, str(path))
    own = model.state_dict()
    # every backbone tensor but the 7x7 stem comes from the file, bit for bit
    assert len(loaded) == len(state) - 3     # fc.weight, fc.bias (1000 classes) and conv1.weight left out
    for key, value in state.items():
        if key.startswith("fc.") or key == "conv1.weight":
            continue
        assert torch.equal(own[f"backbone.{key}"], value), key
    # the head (10 classes) and the 3x3 stem are the seed's fresh weights
    for key in ("classifier.weight", "classifier.bias", "backbone.conv1.weight"):
        assert torch.equal(own[key], before[key]), key
    assert own["backbone.conv1.weight"].shape == (64, 3, 3, 3)


@pytest.mark.parametrize("wrap", [None, "state_dict", "model"])
def test_checkpoint_wrappers_and_dataparallel_prefix_load(tmp_path, imagenet_file, wrap):
    _, state = imagenet_file
    inner = {f"module.{k}": v for k, v in state.items()}
    path = tmp_path / "ckpt.pt"
    torch.save(inner if wrap is None else {wrap: inner, "epoch": 90}, path)
    model = fresh()
    load_weights(model, str(path))
    assert torch.equal(model.state_dict()["backbone.layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])


def test_the_same_head_size_loads_the_head_too(tmp_path, imagenet_file):
    _, state = imagenet_file
    model = fresh(classes=1000)
    taken = fit_weights(model, state, path="x")
    assert torch.equal(taken["classifier.weight"], state["fc.weight"])


def test_a_grey_stem_of_the_same_kernel_sums_the_colour_filters():
    torch.manual_seed(1)
    rgb = make_model("cnn2d", (3, 28, 28), 10, dropout=0.0).state_dict()
    grey = make_model("cnn2d", (1, 28, 28), 10, dropout=0.0)
    taken = fit_weights(grey, rgb, path="x")
    stem = "backbone.0.0.weight"
    assert torch.allclose(taken[stem], rgb[stem].sum(1, keepdim=True))


def test_a_file_for_another_network_is_one_line_naming_file_and_keys(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(UsageError) as err:
        load_weights(fresh(), str(path), model_name="resnet18")
    line = str(err.value)
    assert "\n" not in line and str(path) in line and "does not fit resnet18" in line
    assert "the model has no: backbone.layer1.0.conv3.weight" in line    # resnet50's bottleneck conv
    assert "shapes differ for: backbone.layer1.0.conv1.weight" in line


@pytest.mark.parametrize("content, reason", [(b"not a torch file", "cannot be read as torch weights"),
                                             (None, "no such weights file")])
def test_unreadable_or_absent_file_is_one_line(tmp_path, content, reason):
    path = tmp_path / "w.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=reason):
        read_weights(str(path))


def test_a_plain_pickle_is_one_line_without_torch_warnings(tmp_path):
    """A plain pickle once printed two torch warnings (its pickle protocol) before the line."""
    import pickle
    import warnings

    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps({"layer.weight": [1.0, 2.0]}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # any warning fails the test
        with pytest.raises(UsageError, match=r"cannot be read as torch weights \(UnpicklingError\)"):
            read_weights(str(path))


def test_a_campaign_starts_every_cycle_from_the_file(tmp_path, imagenet_file):
    from alstudy.campaign import new_model, run_campaign
    from alstudy.data import get_dataset

    path, state = imagenet_file
    write_cifar(tmp_path, "cifar10", np.random.default_rng(0))
    config = CampaignConfig("cifar10", "entropy", model="resnet18", data_root=str(tmp_path),
                            budget=Budget(initial=6, per_cycle=4, cycles=1, validation=4),
                            train=TrainConfig(epochs=1, min_steps=2, batch_size=4), init=Init("weights", weights=str(path)))
    data = get_dataset("cifar10", root=str(tmp_path))
    plain = new_model("resnet18", data, dataclasses.replace(config, init=Init()), 0, 1, torch.device("cpu"))
    model = new_model("resnet18", data, config, 0, 1, torch.device("cpu"))
    assert torch.equal(model.state_dict()["backbone.layer2.0.conv1.weight"], state["layer2.0.conv1.weight"])
    assert torch.equal(model.state_dict()["classifier.weight"], plain.state_dict()["classifier.weight"])
    records = run_campaign(config, 0)
    assert [r["cycle"] for r in records] == [0, 1] and [r["n_labeled"] for r in records] == [6, 10]
    assert len(records[1]["new_indices"]) == 4


STUDY = """
name = "pretrained"
datasets = ["cifar10"]
strategies = ["random"]
data_root = "{root}"
[paradigms]
scratch = {{ method = "supervised" }}
imagenet = {{ method = "supervised", init = {{ weights = "{weights}" }} }}
[budget]
initial = 6
per_cycle = 4
cycles = 1
validation = 4
[train]
epochs = 1
min_steps = 2
batch_size = 4
[tuning]
trials = 1
seeds = [0]
[tuning.space]
lr = [0.01, 0.1]
[evaluation]
seeds = [1]
"""


def test_validate_reads_the_file_beside_the_study_and_refuses_one_that_does_not_fit(tmp_path, imagenet_file, capsys):
    from alstudy.study.schema import load_study

    _, state = imagenet_file
    write_cifar(tmp_path, "cifar10", np.random.default_rng(0))
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / "r18.pth")
    study_file = tmp_path / "study.toml"
    study_file.write_text(STUDY.format(root=tmp_path, weights="weights/r18.pth"))
    assert main(["validate", str(study_file)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "paradigm imagenet (1 cell): method supervised, init weights weights/r18.pth" in out

    # the file's bytes are part of the study: other weights, another fingerprint
    before = load_study(study_file).fingerprint()
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in state.items()}, tmp_path / "weights" / "r18.pth")
    assert load_study(study_file).fingerprint() != before

    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "weights" / "r18.pth")
    assert main(["validate", str(study_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "paradigms.imagenet.init.weights" in err and str(tmp_path / "weights" / "r18.pth") in err
    assert "the model has no: backbone.layer1.2." in err


def test_an_absent_weights_file_is_a_note_for_validate_and_a_one_line_refusal_for_run(tmp_path, capsys):
    # like a data_root that lives only on the cluster: the study validates on a laptop without it
    write_cifar(tmp_path, "cifar10", np.random.default_rng(0))
    study_file = tmp_path / "study.toml"
    study_file.write_text(STUDY.format(root=tmp_path, weights="weights/r18.pth"))
    assert main(["validate", str(study_file)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert (f"not checked: paradigms.imagenet.init.weights = '{tmp_path / 'weights' / 'r18.pth'}' for 'cifar10' "
            "(no such file on this machine)") in out
    out_dir = tmp_path / "results"
    assert main(["run", str(study_file), "--local", "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot run: paradigms.imagenet.init.weights" in err
    assert "no such weights file on this machine" in err and not out_dir.exists()


def test_a_bad_init_is_one_line(tmp_path, capsys):
    study_file = tmp_path / "study.toml"
    study_file.write_text(STUDY.format(root=tmp_path, weights="x.pth").replace(
        'init = { weights = "x.pth" }', 'init = { weight = "x.pth" }'))
    assert main(["validate", str(study_file)]) == 2
    assert "paradigms.imagenet.init.weight: unknown key; allowed: weights" in capsys.readouterr().err


def test_a_run_starts_the_paradigm_from_the_file_and_its_manifest_keeps_the_hash(tmp_path, imagenet_file):
    import hashlib

    import pandas as pd

    from alstudy.study.plan import campaign_config, eval_spec
    from alstudy.study.schema import load_study

    path, _ = imagenet_file
    write_cifar(tmp_path, "cifar10", np.random.default_rng(0))
    study_file = tmp_path / "study.toml"
    study_file.write_text(STUDY.format(root=tmp_path, weights=path))
    study = load_study(study_file)
    for paradigm, init in (("imagenet", Init("weights", weights=str(path))), ("scratch", Init())):
        assert campaign_config(study, eval_spec("eval", "cifar10", "random", 1, {}, paradigm=paradigm)).init == init
    out = tmp_path / "out"
    assert main(["run", str(study_file), "--out", str(out), "--local", "--plain"]) == 0
    run = json.load(open(out / "pretrained" / "manifest.json"))["runs"][0]
    assert run["weights_files"] == {"imagenet": {"path": str(path),
                                                 "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    rows = pd.read_parquet(out / "pretrained" / "results.parquet")
    assert sorted(rows.groupby("paradigm").size().items()) == [("imagenet", 4), ("scratch", 4)]
