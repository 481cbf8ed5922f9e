"""One full campaign per embedded dataset: wall time by stage and the final accuracy."""

from __future__ import annotations

from time import perf_counter

from alstudy.bench.section import Section
from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import dataset_info, get_dataset

STRATEGY = "entropy"
CYCLES = {"smoke": 1, "quick": 4, "full": 8}


def embedded_datasets() -> list[str]:
    """Registry datasets that need no local files."""
    return [row["name"] for row in dataset_info() if not row["needs_root"]]


def budget_for(n_train: int, cycles: int) -> Budget:
    """50 initial labels and 50 per cycle, or 1/20 of a small train split."""
    step = 50 if n_train >= 1_000 else max(5, n_train // 20)
    return Budget(step, step, cycles)


def campaign_row(config: CampaignConfig, seed: int, *, device: str) -> dict:
    """Run `config` once; seconds exclude loading the dataset (cached per process)."""
    get_dataset(config.dataset, root=config.data_root)
    t0 = perf_counter()
    records = run_campaign(config, seed, device=device)
    seconds = perf_counter() - t0
    return {"dataset": config.dataset, "model": records[0]["model"], "strategy": config.strategy,
            "cycles": len(records) - 1, "labels": records[-1]["n_labeled"], "seconds": seconds,
            "train_s": sum(r["seconds_train"] for r in records),
            "query_s": sum(r["seconds_score"] + r["seconds_select"] for r in records),
            "first_acc": records[0]["test_acc"], "final_acc": records[-1]["test_acc"]}


def configs(mode: str) -> list[CampaignConfig]:
    train = TrainConfig(epochs=2, min_steps=10) if mode == "smoke" else TrainConfig()
    out = []
    for name in embedded_datasets()[:1] if mode == "smoke" else embedded_datasets():
        budget = budget_for(get_dataset(name).n_train, CYCLES[mode])
        out.append(CampaignConfig(name, STRATEGY, budget=budget, train=train))
    return out


def run(mode: str, *, device: str) -> Section:
    section = Section("campaigns", f"One campaign per embedded dataset ({STRATEGY}, seed 0)")
    for config in configs(mode):
        section.rows.append(campaign_row(config, 0, device=device))
    section.summary["seconds_total"] = sum(r["seconds"] for r in section.rows)
    section.notes.append(f"default training recipe; 50 initial + {CYCLES[mode]} x 50 labels "
                         "(1/20 of the train split each for small datasets); query = scoring + selection")
    return section
