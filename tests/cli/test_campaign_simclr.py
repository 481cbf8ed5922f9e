"""`alstudy campaign --init simclr`: pretrains in this process once, caches the encoder, reuses it."""

from __future__ import annotations

import pandas as pd
import pytest

from alstudy.cli import main

ARGS = ["campaign", "--dataset", "digits", "--strategy", "random", "--initial", "20", "--per-cycle", "10",
        "--cycles", "1", "--validation", "10", "--set", "epochs=2", "--set", "min_steps=10"]


def test_a_simclr_campaign_pretrains_once_and_reuses_the_cached_encoder(tmp_path, capsys):
    cache, out = tmp_path / "cache", tmp_path / "a.csv"
    flags = ["--init", "simclr", "--pretrain", "steps=10", "--pretrain", "batch_size=32", "--cache", str(cache)]
    assert main([*ARGS, *flags, "--out", str(out)]) == 0
    assert "pretraining SimCLR: 1 of 1 encoders to compute" in capsys.readouterr().out
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".pt")
    first = pd.read_csv(out)
    assert (first["init"] == "simclr").all() and (first["tune"] == "finetune").all()
    assert (first["pretrain_key"] == files[0].removesuffix(".json")).all() and (first["pretrain_steps"] == 10).all()

    assert main([*ARGS, *flags, "--tune", "linear", "--out", str(out)]) == 0
    assert "pretraining SimCLR" not in capsys.readouterr().out          # the cached encoder is read
    second = pd.read_csv(out)
    assert (second["tune"] == "linear").all() and second["pretrain_key"].equals(first["pretrain_key"])
    assert not second["test_acc"].equals(first["test_acc"])              # another way to train it


@pytest.mark.parametrize("flags, line", [
    (["--tune", "linear"], "--tune 'linear': applies to init = \"simclr\" only"),
    (["--pretrain", "steps=5"], "--pretrain: applies to --init simclr only"),
    (["--init", "simclr", "--pretrain", "stepz=5"], "--pretrain stepz: unknown key; allowed: steps"),
    (["--init", "simclr", "--pretrain", "steps"], "--pretrain 'steps': expected KEY=VALUE"),
])
def test_bad_simclr_flags_are_one_line(tmp_path, capsys, flags, line):
    assert main([*ARGS, *flags, "--cache", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"alstudy: error: {line}")
