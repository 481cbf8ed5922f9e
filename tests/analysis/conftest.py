"""Synthetic results frames with the real results columns, for the analysis tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATASETS = ("digits", "mnist1d", "wine")
STRATEGIES = ("random", "entropy", "margin", "bald", "coreset", "badge")
EVAL_SEEDS = (100, 101, 102, 103)
TUNE_SEEDS = (0, 1)


def _curve(n: np.ndarray) -> np.ndarray:
    return 0.55 + 0.35 * (1 - np.exp(-n / 80))


def make_results(*, datasets=DATASETS, strategies=STRATEGIES, eval_seeds=EVAL_SEEDS,
                 tune_seeds=TUNE_SEEDS, tune_trials: int = 2, cycles: int = 5, initial: int = 20,
                 per_cycle: int = 20, untuned: bool = True, effects=None, noise: float = 0.01,
                 seed: int = 0) -> pd.DataFrame:
    """One row per (trial, cycle) like the study runner writes.

    `effects[(dataset, strategy)]` is a constant accuracy offset; by default strategy i gets
    0.004 * i plus a dataset-specific twist, so rankings agree only partly across datasets.
    """
    rng = np.random.default_rng(seed)
    if effects is None:
        effects = {(d, s): 0.004 * i + (0.006 if (j + i) % 3 == 0 else 0.0)
                   for j, d in enumerate(datasets) for i, s in enumerate(strategies)}
    n = initial + per_cycle * np.arange(cycles + 1)
    records = []

    def campaign(phase, dataset, strategy, s, number, offset, lr):
        trial = f"tune-{dataset}-{strategy}-t{number:03d}-s{s}" if phase == "tune" else f"{phase}-{dataset}-{strategy}-s{s}"
        seed_effect = 0.01 * np.sin(s)  # shared by every strategy of a seed: pairing matters
        acc = np.clip(_curve(n) + offset + seed_effect + noise * rng.standard_normal(n.size), 0, 1)
        val = np.clip(acc + 0.02 * rng.standard_normal(n.size), 0, 1)
        for c in range(cycles + 1):
            records.append({
                "study": "synthetic", "phase": phase, "trial": trial, "dataset": dataset,
                "strategy": strategy, "model": "mlp", "seed": s, "cycle": c,
                "n_labeled": int(n[c]), "n_validation": 12, "val_acc": float(val[c]),
                "test_acc": float(acc[c]), "val_loss": float(1 - val[c]), "test_loss": float(1 - acc[c]),
                "new_indices": list(range(c * per_cycle, c * per_cycle + (initial if c == 0 else per_cycle))),
                "seconds_train": 0.5, "seconds_score": 0.1, "seconds_select": 0.05,
                "hp.lr": lr, "hp.epochs": 30, "hp.weight_decay": 5e-4,
                "optuna_trial": number, "objective": float(val.mean()), "attempt": 0, "run": 0,
                "host": "testhost", "device": "cpu",
            })

    for d in datasets:
        for s_name in strategies:
            effect = effects.get((d, s_name), 0.0)
            for t in range(tune_trials):
                for s in tune_seeds:
                    campaign("tune", d, s_name, s, t, effect - 0.01 * t, 0.01 * (t + 1))
            for s in eval_seeds:
                campaign("eval", d, s_name, s, 0, effect, 0.02)
                if untuned:
                    # Untuned: random suffers most from default hyperparameters.
                    penalty = 0.03 if s_name == "random" else 0.01
                    campaign("untuned", d, s_name, s, -1, effect - penalty, 0.05)
    return pd.DataFrame.from_records(records)


def write_results(frame: pd.DataFrame, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(directory / "results.parquet", index=False)
    return directory


@pytest.fixture(scope="session")
def results_frame() -> pd.DataFrame:
    return make_results()


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory, results_frame) -> Path:
    return write_results(results_frame, tmp_path_factory.mktemp("results") / "synthetic")


@pytest.fixture(scope="session")
def make_frame():
    """The synthetic results factory (`make_results`), for tests that need their own frame."""
    return make_results


@pytest.fixture(scope="session")
def save_results():
    """Writes a frame as `<dir>/results.parquet` and returns the directory."""
    return write_results


def as_segmentation(frame: pd.DataFrame, datasets=None) -> pd.DataFrame:
    """`frame` with the rows of `datasets` (all by default) scored as a segmentation run writes them:
    metric "miou", the same numbers in val_miou / test_miou, no accuracy; the other rows keep
    metric "acc" (a study mixing classification and segmentation)."""
    seg = frame["dataset"].isin(datasets) if datasets is not None else pd.Series(True, index=frame.index)
    out = frame.assign(metric=np.where(seg, "miou", "acc"),
                       val_miou=frame["val_acc"].where(seg), test_miou=frame["test_acc"].where(seg),
                       val_acc=frame["val_acc"].where(~seg), test_acc=frame["test_acc"].where(~seg))
    return out.drop(columns=["val_acc", "test_acc"]) if seg.all() else out
