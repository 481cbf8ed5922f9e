"""Flags are checked before any work starts, by one checker per kind of flag for every command."""

from __future__ import annotations

import socket
import time

import pandas as pd

from alstudy.cli import main

SMALL = ["--dataset", "wine", "--strategy", "entropy", "--initial", "10", "--per-cycle", "8", "--cycles", "1",
         "--validation", "10", "--set", "epochs=2", "--set", "min_steps=5"]


def test_campaign_prints_its_cycles_and_writes_its_records(tmp_path, capsys):
    out = tmp_path / "c.parquet"
    assert main(["campaign", *SMALL, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:3] == ["cycle", "labels", "val_acc"] and printed[1].split()[:2] == ["0", "10"]
    assert list(pd.read_parquet(out).n_labeled) == [10, 18]
    assert [p.name for p in tmp_path.iterdir()] == ["c.parquet"]


def one_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_campaign_out_into_a_missing_folder_fails_before_the_campaign(tmp_path, capsys):
    started = time.monotonic()
    assert main(["campaign", *SMALL, "--out", str(tmp_path / "no" / "c.parquet")]) == 2
    assert "does not exist" in one_error(capsys) and time.monotonic() - started < 5
    assert capsys.readouterr().out == ""                      # not a single cycle ran
    assert main(["campaign", *SMALL, "--out", str(tmp_path / "c.xlsx")]) == 2
    assert "allowed: .parquet, .csv" in one_error(capsys)


def test_run_checks_its_device_output_and_address_first(make_study, tmp_path, capsys):
    path = make_study(name="flags", strategies=("random",), trials=1, eval_seeds=(100,))
    assert main(["run", path, "--local", "--device", "banana", "--out", str(tmp_path / "o")]) == 2
    assert "--device 'banana': allowed: cpu, cuda, cuda:N" in one_error(capsys)
    (tmp_path / "file").write_text("")
    assert main(["run", path, "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in one_error(capsys)
    with socket.socket() as s:                                  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert main(["run", path, "--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "o")]) == 2
    line = one_error(capsys)
    assert f"--address '127.0.0.1:{port}': no Ray cluster answers there" in line
    assert time.monotonic() - started < 10
    assert not (tmp_path / "o").exists()                        # nothing was started or written


def test_set_reads_true_and_false_as_the_study_file_does(tmp_path, capsys):
    """`--set warm_start=true` once said "expected bool"."""
    assert main(["campaign", *SMALL, "--set", "warm_start=true"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["campaign", *SMALL, "--set", "warm_start=yes"]) == 2
    assert one_error(capsys) == "alstudy: error: --set warm_start 'yes': expected true or false"


def test_a_diverged_campaign_says_so_once_and_never_labels_twice(tmp_path, capsys):
    """`--set lr=1e6` once gave 26 distinct labels of 50 with badge, silently."""
    out = tmp_path / "c.parquet"
    argv = ["campaign", "--dataset", "digits", "--strategy", "badge", "--initial", "20", "--per-cycle", "10",
            "--cycles", "3", "--set", "lr=1e6", "--set", "epochs=2", "--set", "min_steps=5", "--out", str(out)]
    assert main(argv) == 0
    line = one_error(capsys)
    assert line.startswith("warning: the model diverged at cycle 0 (validation loss nan, test loss nan; a smaller "
                           "lr?)")
    labels = [i for new in pd.read_parquet(out).new_indices for i in new]
    assert len(labels) == 50 and len(set(labels)) == 50


def test_campaign_refuses_settings_that_crash_every_cycle(capsys):
    """`--initial 1` with a BatchNorm model and a semi-supervised method with the pool used up
    once crashed with a traceback (ValueError, RuntimeError `random_ expects 'from' < 'to'`)."""
    base = ["campaign", "--dataset", "wine", "--strategy", "random", "--per-cycle", "8", "--cycles", "1",
            "--validation", "10", "--set", "epochs=1", "--set", "min_steps=2"]
    assert main([*base, "--initial", "1"]) == 2
    assert one_error(capsys).startswith("alstudy: error: --initial 1: model 'mlp' of 'wine' has BatchNorm layers")
    assert main([*base, "--initial", "10", "--set", "batch_size=1"]) == 2
    assert "--set batch_size 1: model 'mlp'" in one_error(capsys)
    assert main([*base, "--initial", "100", "--paradigm", "fixmatch"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.strip() == (     # refused before the table's header
        "alstudy: error: --paradigm 'fixmatch': 108 training + 10 validation labels use up the 118 rows, so "
        "fixmatch has no unlabeled rows at the last cycle: label fewer rows, or set include_labeled = true")
    assert main([*base, "--initial", "10", "--paradigm", "self_training"]) == 2   # no classification term
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1
    assert out.err.startswith("alstudy: error: --paradigm 'self_training': method 'self_training' trains "
                              "segmentation only")


def test_storage_and_cache_are_checked_first(make_study, tmp_path, capsys):
    """`--storage` to a path that cannot be made or a filesystem that does not answer, and `--cache
    FILE`, once gave tracebacks."""
    path = make_study(name="flags", strategies=("random",), trials=1, eval_seeds=(100,))
    (tmp_path / "file").write_text("")
    out = str(tmp_path / "o")
    assert main(["run", path, "--out", out, "--storage", str(tmp_path / "file" / "tune")]) == 2
    assert one_error(capsys) == f"alstudy: error: --storage '{tmp_path / 'file' / 'tune'}': {tmp_path / 'file'} " \
                                "is a file, not a folder"
    assert main(["run", path, "--out", out, "--storage", "frob://bucket/tune"]) == 2
    assert "--storage 'frob://bucket/tune': cannot be used as storage (Unrecognized filesystem type" in \
        one_error(capsys)
    with socket.socket() as s:                                  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"s3://bucket/tune?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    assert main(["run", path, "--out", out, "--storage", uri]) == 2
    line = one_error(capsys)
    assert line.startswith(f"alstudy: error: --storage {uri!r}: ")
    assert "cannot be used as storage (" in line or "no answer within 10 s" in line
    assert not (tmp_path / "o").exists()                        # nothing was started or written
    assert main(["campaign", *SMALL, "--init", "simclr", "--cache", str(tmp_path / "file")]) == 2
    assert one_error(capsys) == f"alstudy: error: --cache '{tmp_path / 'file'}': {tmp_path / 'file'} is a file, " \
                                "not a folder"
