"""Study files: every bad one gives exit code 2 and one line naming the key; good ones print a plan.

No Ray here: validation must be fast and must never start anything.
"""

from __future__ import annotations

import os

import pytest

from alstudy.cli import main

STUDIES = os.path.join(os.path.dirname(__file__), "..", "..", "studies")

GOOD = """
name = "tiny"
datasets = ["wine", "breast_cancer"]
strategies = ["random", "entropy"]

[budget]
initial = 10
per_cycle = 5
cycles = 2
validation = 10

[train]
epochs = 5

[tuning]
trials = 2
seeds = [0]

[tuning.space]
lr = { low = 1e-3, high = 0.3, log = true }
mixup = [0.0, 0.2]

[evaluation]
seeds = [100, 101]

[resources]
cpu = 1
gpu = 0
"""


def write(tmp_path, text: str, name: str = "study.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_good_study_prints_the_plan(tmp_path, capsys):
    code, out, err = run_cli(capsys, "validate", write(tmp_path, GOOD))
    assert code == 0, err
    assert "2 datasets x 2 strategies = 4 cells" in out
    # 4 cells x 2 trials x 1 seed tuning; 4 cells x 2 seeds evaluation
    assert "tune 8, eval 8; total 16" in out
    assert "resources per trial: 1 CPU, no GPU" in out
    assert "breast_cancer: model mlp; 10 initial + 2 x 5 = 20 labels, 10 validation, pool 379" in out


def test_validate_starts_nothing(tmp_path, capsys):
    run_cli(capsys, "validate", write(tmp_path, GOOD))
    assert sorted(os.listdir(tmp_path)) == ["study.toml"]


# (change to GOOD as (old, new) or text to append, words the one error line must contain)
BAD = {
    "malformed toml": (("[budget]\ninitial = 10", "[budget]\ninitial = = 10"), ["not valid TOML"]),
    "unknown top-level key": (("name = \"tiny\"", "name = \"tiny\"\nseed = 3"), ["seed: unknown key", "allowed:"]),
    "unknown key in a table": (("cpu = 1", "cpu = 1\nmemory = 4"), ["resources.memory: unknown key"]),
    "wrong type": (("trials = 2", "trials = \"2\""), ["tuning.trials", "expected a whole number"]),
    "impossible budget": (("initial = 10", "initial = 400"), ["budget of 'wine'", "118 rows"]),
    "unknown dataset": (("\"wine\", \"breast_cancer\"", "\"wine\", \"imagenet\""), ["datasets", "'imagenet'", "choices:"]),
    "unknown strategy": (("\"random\", \"entropy\"", "\"random\", \"oracle\""), ["strategies", "'oracle'", "choices:"]),
    "unknown model": (("[train]", "[model]\nname = \"vit\"\n\n[train]"), ["model.name = 'vit'", "choices:"]),
    "bad model option": (("[train]", "[model]\nname = \"mlp\"\noptions = { depth_of_field = 3 }\n\n[train]"),
                         ["model.wine", "depth_of_field"]),
    "empty list": (("\"random\", \"entropy\"", ""), ["strategies is empty"]),
    "overlapping seeds": (("seeds = [100, 101]", "seeds = [100, 0]"), ["share seed 0", "disjoint"]),
    "gpu fraction above 1": (("gpu = 0", "gpu = 1.5"), ["resources.gpu = 1.5", "(0, 1]"]),
    "negative gpu": (("gpu = 0", "gpu = -0.25"), ["resources.gpu = -0.25"]),
    "unknown hyperparameter": (("mixup = [0.0, 0.2]", "dropuot = [0.1]"), ["tuning.space.dropuot", "unknown hyperparameter"]),
    "empty range": (("log = true }", "log = true }\nweight_decay = { low = 0.1, high = 0.01 }"),
                    ["tuning.space.weight_decay", "below high"]),
    "fixed and searched": (("epochs = 5", "epochs = 5\nlr = 0.1"), ["train.lr", "also searched"]),
    "invalid choice": (("mixup = [0.0, 0.2]", "label_smoothing = [0.0, 1.5]"), ["tuning.space.label_smoothing", "1.5"]),
    "override of a foreign dataset": (("[train]", "[budget.digits]\ninitial = 5\n\n[train]"),
                                      ["budget.digits", "not a dataset of this study"]),
    "missing section": (("[evaluation]\nseeds = [100, 101]", ""), ["evaluation.seeds is missing"]),
    "name with a slash": (("name = \"tiny\"", "name = \"a/b\""), ["name = 'a/b'"]),
    "zero trials": (("trials = 2", "trials = 0"), ["tuning.trials = 0", ">= 1"]),
    "negative cpu": (("cpu = 1", "cpu = 0"), ["resources.cpu = 0"]),
    "unknown strategy option": (("gpu = 0", "gpu = 0\n\n[strategy_options.entropy]\nmc_samples = 3"),
                                ["strategy_options.entropy", "'mc_samples'"]),
    "nan resource": (("cpu = 1", "cpu = nan"), ["resources.cpu = nan", "finite"]),
    "infinite range end": (("high = 0.3", "high = inf"), ["tuning.space.lr.high = inf", "finite"]),
    "nan fixed hyperparameter": (("epochs = 5", "epochs = 5\nlabel_smoothing = nan"),
                                 ["train.label_smoothing = nan", "finite"]),
    "infinite budget": (("initial = 10", "initial = inf"), ["budget.initial = inf"]),
    "margin beyond one": (("seeds = [100, 101]", "seeds = [100, 101]\nmargin = 1.5"),
                          ["evaluation.margin = 1.5", "(0, 1)"]),
    "tracking not a switch or a URI": (("gpu = 0", "gpu = 0\n\n[tracking]\nmlflow = 3"),
                                       ["tracking.mlflow = 3", "tracking URI"]),
    "unknown tracking key": (("gpu = 0", "gpu = 0\n\n[tracking]\nwandb = true"), ["tracking.wandb: unknown key"]),
    "no validation set to tune on": (("validation = 10", "validation = 0"),
                                     ["budget.validation = 0: leaves tuning nothing to compare its 2 trials on"]),
    "validation count with a fraction": (("validation = 10", "validation = 1.5"),
                                         ["budget.validation = 1.5", "whole count >= 0 or a fraction in [0, 1)"]),
    "batches of one row with BatchNorm": (("epochs = 5", "epochs = 5\nbatch_size = 1"),
                                          ["train.batch_size = 1", "BatchNorm layers", ">= 2 rows"]),
    "an initial set of one row with BatchNorm": (("initial = 10", "initial = 1"),
                                                 ["budget of 'wine': initial = 1 label", "BatchNorm"]),
    "a searched batch size of one with BatchNorm": (("mixup = [0.0, 0.2]", "batch_size = [1, 32]"),
                                                    ["tuning.space.batch_size", "BatchNorm"]),
    "semi-supervised with the pool used up": (
        ("[budget]\ninitial = 10", "[paradigms]\nfix = { method = \"fixmatch\" }\n\n[budget]\ninitial = 98"),
        ["budget of 'wine': paradigm 'fix': 108 training + 10 validation labels use up the 118 rows",
         "include_labeled = true"]),
    "fractions beyond the whole split": (("per_cycle = 5", "per_cycle = 0.5"),
                                         ["budget: initial + 2 x per_cycle (+ validation) as fractions take 100% "
                                          "of the train split"]),
    "options of a foreign strategy": (("gpu = 0", "gpu = 0\n\n[strategy_options.bald]\nmc_samples = 3"),
                                      ["strategy_options.bald", "not a strategy of this study"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_study_gives_exit_2_and_one_line(case, tmp_path, capsys):
    (old, new), words = BAD[case]
    assert old in GOOD, case
    path = write(tmp_path, GOOD.replace(old, new, 1))
    for command in ("validate", "run"):
        code, out, err = run_cli(capsys, command, path, "--out", str(tmp_path / "out")) if command == "run" \
            else run_cli(capsys, command, path)
        lines = err.strip().splitlines()
        assert code == 2, (case, err)
        assert len(lines) == 1 and lines[0].startswith(f"alstudy: error: {path}: "), err
        for word in words:
            assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "out").exists(), "a bad study must not start anything"


def test_missing_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "validate", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml: no such study file" in err and len(err.strip().splitlines()) == 1


def test_shipped_studies_validate(capsys):
    code, out, err = run_cli(capsys, "validate", os.path.join(STUDIES, "quickstart.toml"))
    assert code == 0, err
    assert "18 cells" in out and "4 Optuna trials per cell" in out
    code, out, err = run_cli(capsys, "validate", os.path.join(STUDIES, "cifar10_rsb.toml"))
    assert code == 0, err
    assert "model resnet18" in out and "0.25 GPU" in out
    assert "not checked:" in out and "cifar10" in out   # no CIFAR-10 files on this machine


def test_run_refuses_a_study_whose_data_is_absent(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", os.path.join(STUDIES, "cifar10_rsb.toml"), "--out", str(tmp_path))
    assert code == 2 and "cifar10" in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_per_dataset_overrides_resolve(tmp_path):
    from alstudy.study.schema import load_study

    text = GOOD.replace("[train]\nepochs = 5", "[train]\nepochs = 5\n\n[train.wine]\nepochs = 9") \
        .replace("validation = 10", "validation = 10\n\n[budget.wine]\ncycles = 3")
    study = load_study(write(tmp_path, text))
    assert study.setups["wine"].budget.cycles == 3 and study.setups["breast_cancer"].budget.cycles == 2
    assert study.setups["wine"].train["epochs"] == 9 and study.setups["breast_cancer"].train["epochs"] == 5
    assert study.fingerprint() != load_study(write(tmp_path, GOOD, "other.toml")).fingerprint()


def test_tracking_is_read_but_is_no_part_of_the_fingerprint(tmp_path):
    from alstudy.study.schema import load_study

    plain = load_study(write(tmp_path, GOOD))
    for value, read in (("true", True), ('"http://mlflow.example:5000"', "http://mlflow.example:5000")):
        tracked = load_study(write(tmp_path, GOOD + f"\n[tracking]\nmlflow = {value}\n", "tracked.toml"))
        assert tracked.tracking.mlflow == read
        assert tracked.fingerprint() == plain.fingerprint()
    assert plain.tracking.mlflow is False


def test_run_refuses_gpu_trials_on_a_machine_without_gpu(tmp_path, capsys):
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has a GPU")
    path = write(tmp_path, GOOD.replace("gpu = 0", "gpu = 0.25"))
    assert run_cli(capsys, "validate", path)[0] == 0
    code, _, err = run_cli(capsys, "run", path, "--out", str(tmp_path / "out"))
    assert code == 2 and "resources.gpu = 0.25 per trial, but this machine has 0 GPUs" in err
    assert not (tmp_path / "out").exists()


def test_the_study_package_loads_no_analysis_pandas_or_scipy(tmp_path):
    """A Ray worker imports alstudy.study to run a campaign: it must not pay for `analysis`."""
    import subprocess
    import sys

    code = ("import sys, alstudy.study.trainable, alstudy.study.scheduler, alstudy.study.store, "
            "alstudy.study.results, alstudy.study.local, alstudy.metrics\n"
            "alstudy.metrics.records_aubc([{'n_labeled': 10, 'val_acc': 0.5}, {'n_labeled': 20, 'val_acc': 0.7}])\n"
            "print(sorted(m for m in ('analysis', 'scipy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_margin_is_read_and_changes_no_result(tmp_path):
    from alstudy.study.schema import load_study

    plain = load_study(write(tmp_path, GOOD, "a.toml"))
    wide = load_study(write(tmp_path, GOOD.replace("seeds = [100, 101]", "seeds = [100, 101]\nmargin = 0.02"), "b.toml"))
    assert plain.evaluation.margin == 0.01 and wide.evaluation.margin == 0.02
    assert wide.to_dict()["evaluation"]["margin"] == 0.02      # saved with the results for the report
    assert plain.fingerprint() == wide.fingerprint()            # a finished study resumes as it was


def test_pilot_results_say_whether_the_planned_seeds_suffice(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    from analysis.power import seeds_needed

    # A pilot on wine: entropy − random differs by seed with a known SD; breast_cancer is absent.
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.0, 0.02, 6)
    rows = [{"phase": "eval", "dataset": "wine", "strategy": s, "seed": seed, "cycle": c, "n_labeled": 10 + 5 * c,
             "test_acc": 0.8 + 0.05 * c + (diffs[seed] if s == "entropy" else 0.0)}
            for s in ("random", "entropy") for seed in range(6) for c in range(3)]
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    pd.DataFrame(rows).to_parquet(pilot / "results.parquet")
    code, out, err = run_cli(capsys, "validate", write(tmp_path, GOOD), "--pilot", str(pilot))
    assert code == 0, err
    need = seeds_needed(0.01, float(np.std(diffs, ddof=1)), alpha=0.05)
    assert need > 2
    assert f"wine: {need} seeds needed to tell ±1 point apart" in out and f"2 planned: not enough (use {need})" in out
    assert "breast_cancer: no paired seeds against random in the pilot" in out
    code, out, err = run_cli(capsys, "validate", write(tmp_path, GOOD), "--pilot", str(tmp_path / "absent"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_a_byte_order_mark_is_no_part_of_the_study(tmp_path, capsys):
    """A BOM (some editors write one) once read as "Invalid statement (line 1, column 1)"."""
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + GOOD.encode())
    code, out, err = run_cli(capsys, "validate", str(path))
    assert code == 0, err
    assert "2 datasets x 2 strategies = 4 cells" in out


def test_a_refused_study_edit_names_the_first_key_that_changed(tmp_path):
    """The refusal once said only "a different version of study": now it names what differs."""
    from alstudy.errors import UsageError
    from alstudy.study.schema import load_study
    from alstudy.study.store import Store

    out = str(tmp_path / "out")
    first = load_study(write(tmp_path, GOOD, "a.toml"))
    Store.open(out, first, first.source)
    for old, new, said in [
        ("per_cycle = 5", "per_cycle = 6", "budget.per_cycle"),   # read back per dataset from the setups
        ("seeds = [100, 101]", "seeds = [100, 102]", "evaluation.seeds was [100, 101], now [100, 102]"),
        ("mixup = [0.0, 0.2]", "mixup = [0.0, 0.3]", "tuning.space"),
    ]:
        edited = load_study(write(tmp_path, GOOD.replace(old, new), "b.toml"))
        with pytest.raises(UsageError) as caught:
            Store.open(out, edited, edited.source)
        assert said in str(caught.value) and "a different version of study 'tiny' (" in str(caught.value)
    moved = load_study(write(tmp_path, GOOD.replace("cpu = 1", "cpu = 2"), "c.toml"))
    Store.open(out, moved, moved.source)        # resources are a fact of the machine: the same study
