"""One full campaign per embedded dataset: wall time by stage and the final score in the dataset's metric
(accuracy: `first_acc`, `final_acc`; mIoU: `first_miou`, `final_miou`)."""

from __future__ import annotations

from time import perf_counter

from alstudy.bench.section import Section
from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import dataset_info, get_dataset
from alstudy.metrics import metric_columns, metric_of

STRATEGY = "entropy"
CYCLES = {"smoke": 1, "quick": 1, "full": 8}


def campaign_row(config: CampaignConfig, seed: int, *, device: str) -> dict:
    """Run `config` once; seconds exclude loading the dataset (cached per process)."""
    get_dataset(config.dataset, root=config.data_root)
    t0 = perf_counter()
    records = run_campaign(config, seed, device=device)
    metric = metric_of(records[-1])
    test = metric_columns(metric)[1]
    return {"dataset": config.dataset, "model": records[0]["model"], "strategy": config.strategy,
            "cycles": len(records) - 1, "labels": records[-1]["n_labeled"], "seconds": perf_counter() - t0,
            "train_s": sum(r["seconds_train"] for r in records),
            "query_s": sum(r["seconds_score"] + r["seconds_select"] for r in records),
            f"first_{metric}": records[0][test], f"final_{metric}": records[-1][test]}


def run(mode: str, *, device: str) -> Section:
    section = Section("campaigns", f"One campaign per embedded dataset ({STRATEGY}, seed 0)")
    embedded = [row["name"] for row in dataset_info() if not row["needs_root"]]
    for name in embedded[:1] if mode == "smoke" else embedded:
        n_train = get_dataset(name).n_train
        step = 50 if n_train >= 1_000 else max(5, n_train // 20)  # 1/20 of a small train split
        train = TrainConfig(epochs=2, min_steps=10) if mode == "smoke" else TrainConfig()
        config = CampaignConfig(name, STRATEGY, budget=Budget(step, step, CYCLES[mode]), train=train)
        section.rows.append(campaign_row(config, 0, device=device))
    section.summary["seconds_total"] = sum(r["seconds"] for r in section.rows)
    section.notes.append(f"default recipe; 50 initial + {CYCLES[mode]} x 50 labels (1/20 of the train split "
                         "each for small datasets); query = scoring + selection")
    return section
