"""The papers' study files validate against full-size CIFAR files in torchvision's format."""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest

from alstudy.cli import main

STUDIES = os.path.join(os.path.dirname(__file__), "..", "..", "studies")
ZEROS = np.zeros((10_000, 3072), dtype=np.uint8)  # one CIFAR batch of black images


def write_full_cifar(root, name: str) -> None:
    """50 000 train and 10 000 test rows in the real pickle-batch layout (zeros: fast to write)."""
    if name == "cifar10":
        folder, key = root / "cifar-10-batches-py", "labels"
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        parts = {f: ZEROS for f in files}
    else:
        folder, key = root / "cifar-100-python", "fine_labels"
        parts = {"train": np.zeros((50_000, 3072), dtype=np.uint8), "test": ZEROS}
    folder.mkdir(parents=True)
    for filename, data in parts.items():
        labels = (np.arange(len(data)) % (10 if name == "cifar10" else 100)).tolist()
        entry = {"data": data, key: labels}
        if name == "cifar100":
            entry["coarse_labels"] = [y // 5 for y in labels]
        with open(folder / filename, "wb") as f:
            pickle.dump(entry, f, protocol=2)


@pytest.mark.parametrize("study, dataset", [("munjal_cifar10", "cifar10"), ("munjal_cifar100", "cifar100")])
def test_paper_study_validates_on_full_size_files(tmp_path, capsys, study, dataset):
    write_full_cifar(tmp_path, dataset)
    with open(os.path.join(STUDIES, f"{study}.toml")) as f:
        text = f.read()
    text = re.sub(r'(?m)^data_root = "[^"]*"', f'data_root = "{tmp_path}"', text)
    path = tmp_path / f"{study}.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"{dataset}: model resnet18; 5000 initial + 6 x 2500 = 20000 labels, 5000 validation, pool 50000" in out
    assert "strategies: random, entropy, coreset, bald, dbal, vaal, qbc" in out
    # 7 cells x 10 trials x 1 seed; 7 cells x 5 seeds
    assert "campaigns: tune 70, eval 35; total 105" in out
    # 7 cycles per campaign, 1 model per cycle, qbc 5: (60 + 30) x 7 + (10 + 5) x 7 x 5 = 1155
    assert "training runs: 1155" in out and "qbc x5" in out
    # six strategies train plainly (qbc is an ensemble): 5 repeat cycle 0 on each of the 1 tuning
    # seed (the defaults) and, where their chosen settings agree, on each of the 5 evaluation seeds
    assert "of these, 5 to 30 are a cycle 0" in out
    assert "not checked" not in out


def test_mittal_study_validates_on_full_size_files(tmp_path, capsys):
    import torch
    import torchvision

    write_full_cifar(tmp_path, "cifar10")
    (tmp_path / "weights").mkdir()   # the ImageNet paradigm's file, beside the study file
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "weights" / "resnet18_imagenet.pth")
    with open(os.path.join(STUDIES, "mittal_cifar10.toml")) as f:
        text = re.sub(r'(?m)^data_root = "[^"]*"', f'data_root = "{tmp_path}"', f.read())
    path = tmp_path / "mittal_cifar10.toml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "cifar10: model resnet18; 5000 initial + 6 x 2500 = 20000 labels, 5000 validation, pool 50000" in out
    assert "strategies: random, entropy, coreset, learning_loss, ensemble_entropy, qbc" in out
    for line in ("paradigm supervised (6 cells): method supervised, init random; fixed augment=0.0",
                 "paradigm supervised_aug (6 cells): method supervised, init random; fixed augment=2.0",
                 "paradigm fixmatch (6 cells): method fixmatch, init random; fixed augment=1.0",
                 "paradigm imagenet_ft (6 cells): method supervised, init weights weights/resnet18_imagenet.pth"):
        assert line in out, out
    # 4 paradigms x 6 strategies = 24 cells: x 10 trials x 1 seed; x 5 seeds
    assert "campaigns: tune 240, eval 120; total 360" in out
    # per paradigm, 7 cycles, 1 model per cycle; ensemble_entropy and qbc 5:
    # 4 x ((40 + 20) x 7 + 2 x (10 + 5) x 7 x 5) = 4 x 1470 = 5880
    assert "training runs: 5880" in out and "qbc x5" in out and "ensemble_entropy x5" in out
    # random, entropy, coreset train plainly: 2 repeats x 4 paradigms = 8 a seed; 1 + 5 seeds
    assert "of these, 8 to 48 are a cycle 0" in out
    assert "not checked" not in out

    # the weights file must fit: another network's is one line naming the file
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "weights" / "resnet18_imagenet.pth")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "paradigms.imagenet_ft.init.weights" in err and "resnet18_imagenet.pth" in err
