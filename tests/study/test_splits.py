"""Fixed split files (TorchAL's lSet/uSet/valSet.npy per seed): validated, fingerprinted, used."""

from __future__ import annotations

import numpy as np
import pytest

from alstudy.campaign import run_campaign
from alstudy.cli import main
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.data.splits import read_splits
from alstudy.errors import UsageError
from alstudy.study.schema import load_study

N_WINE = get_dataset("wine").n_train


def write_splits(folder, seed: int, *, initial: int = 10, validation: int = 10, n: int = N_WINE):
    """A seeded partition of range(n) in TorchAL's layout under folder/seed<seed>."""
    perm = np.random.default_rng(1000 + seed).permutation(n)
    out = folder / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    sets = {"valSet": perm[:validation], "lSet": perm[validation:validation + initial],
            "uSet": perm[validation + initial:]}
    for name, arr in sets.items():
        np.save(out / f"{name}.npy", arr)
    return sets


def test_a_campaign_on_split_files_starts_from_their_sets(tmp_path):
    sets = write_splits(tmp_path, 5)
    config = CampaignConfig("wine", "entropy", budget=Budget(10, 8, 2, 10),
                            train=TrainConfig(epochs=3, min_steps=10), splits=str(tmp_path / "seed{seed}"))
    records = run_campaign(config, 5)
    assert records[0]["new_indices"] == sets["lSet"].tolist()
    chosen = [i for r in records[1:] for i in r["new_indices"]]
    assert set(chosen) <= set(sets["uSet"].tolist())      # never the validation rows
    assert records[0]["n_validation"] == 10


@pytest.mark.parametrize("change, words", [
    (lambda s: s | {"lSet": np.append(s["lSet"][:-1], s["valSet"][0])}, "share index"),
    (lambda s: s | {"uSet": np.append(s["uSet"], N_WINE)}, "outside the train split"),
    (lambda s: s | {"lSet": s["lSet"][:-1]}, "has 9 indices but the budget's initial set has 10"),
    (lambda s: s | {"uSet": s["uSet"][:-3]}, "must partition"),
    (lambda s: s | {"lSet": s["lSet"].astype(float)}, "whole numbers"),
])
def test_bad_split_files_are_one_line(tmp_path, change, words):
    sets = change(write_splits(tmp_path, 0))
    for name, arr in sets.items():
        np.save(tmp_path / "seed0" / f"{name}.npy", arr)
    with pytest.raises(UsageError) as err:
        read_splits(str(tmp_path / "seed0"), n_train=N_WINE, initial=10, validation=10)
    assert words in str(err.value) and "\n" not in str(err.value)


STUDY = """
name = "fixed"
datasets = ["wine"]
strategies = ["random"]
[budget]
initial = 10
per_cycle = 5
cycles = 1
validation = 10
[splits]
path = "{path}"
[tuning]
trials = 1
seeds = [0]
[tuning.space]
lr = {{ low = 0.01, high = 0.1 }}
[evaluation]
seeds = [1]
"""


def test_validate_checks_every_seeds_files_and_the_fingerprint_covers_them(tmp_path, capsys):
    for seed in (0, 1):
        write_splits(tmp_path, seed)
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(path=tmp_path / "seed{seed}"))
    assert main(["validate", str(study)]) == 0
    assert "splits: fixed" in capsys.readouterr().out
    before = load_study(study).fingerprint()
    write_splits(tmp_path, 1, initial=10)  # same sizes, a new permutation is not drawn: rewrite one
    np.save(tmp_path / "seed1" / "lSet.npy", np.load(tmp_path / "seed1" / "lSet.npy")[::-1])
    assert load_study(study).fingerprint() != before
    np.save(tmp_path / "seed1" / "lSet.npy", np.load(tmp_path / "seed1" / "lSet.npy")[:-1])
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err.strip()
    assert "seed1" in err and "lSet.npy has 9 indices" in err and "\n" not in err


@pytest.mark.parametrize("path, words", [("splits/fixed", "must contain {seed}"),
                                         ("splits/{seed}/{fold}", "only the fields")])
def test_bad_split_patterns(tmp_path, capsys, path, words):
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(path=path))
    assert main(["validate", str(study)]) == 2
    assert words in capsys.readouterr().err


def test_a_run_on_split_files_records_their_hashes_in_the_manifest(tmp_path, capsys):
    import hashlib
    import json

    for seed in (0, 1):
        write_splits(tmp_path, seed)
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(path=tmp_path / "seed{seed}"))
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--local", "--plain"]) == 0
    run = json.load(open(out / "fixed" / "manifest.json"))["runs"][0]
    want = {f"wine/{seed}/{name}.npy": hashlib.sha256((tmp_path / f"seed{seed}" / f"{name}.npy").read_bytes()).hexdigest()
            for seed in (0, 1) for name in ("lSet", "uSet", "valSet")}
    assert run["split_files"] == want


def test_split_files_resaved_with_another_integer_type_are_the_same_study(tmp_path):
    """A split file re-saved as int32 with the same indices once made "a different version of study"."""
    for seed in (0, 1):
        write_splits(tmp_path, seed)
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(path=tmp_path / "seed{seed}"))
    before = load_study(study).fingerprint()
    lset = tmp_path / "seed1" / "lSet.npy"
    np.save(lset, np.load(lset).astype(np.int32))
    assert load_study(study).fingerprint() == before
    np.save(lset, np.load(lset)[::-1].astype(np.int32))     # other order, other initial set order
    assert load_study(study).fingerprint() != before
