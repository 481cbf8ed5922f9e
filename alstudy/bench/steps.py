"""Time to accuracy: how many optimizer steps a campaign needs for the learning curve of today's
defaults, measured over every embedded dataset kind, strategies of each family and several seeds.

Each step rule (`RULES`) runs the same campaigns as `today` (the fixed rule: 60 epochs, at
least 100 steps a cycle); per (dataset, strategy, rule) the section reports total steps, test
AUBC, final accuracy and seconds, and the AUBC change against `today` paired by seed with a
95 % t interval. A rule is within budget (`ok`) on a dataset when, for every strategy, that
interval's lower end is above -`MARGIN`; `knee` is the fewest steps among those. It also
reports each stage's share of a cycle under `today` and under the current `TrainConfig()`
defaults, and the time to accuracy of those defaults against the usual toolkit pipeline
(`alstudy.bench.reference`, fixed epochs) from one run.
"""

from __future__ import annotations

import math
from pathlib import Path
from time import perf_counter

import numpy as np

from alstudy.bench.reference import compare
from alstudy.bench.section import Section, target
from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.metrics import records_aubc

MARGIN = 0.5          # AUBC points: the largest loss against today's defaults a rule may cost
STRATEGIES = ("random", "entropy", "coreset", "badge")   # one per family
TODAY = TrainConfig(stop="fixed", epochs=60, min_steps=100)  # the defaults before the plateau rule
RULES = {
    "today": TODAY,
    "fixed-20": TrainConfig(stop="fixed", epochs=20, min_steps=50),
    "plateau": TrainConfig(stop="plateau", epochs=60, min_steps=100, tolerance=0.01, patience=30),
    "plateau-50-0.5%": TrainConfig(stop="plateau", epochs=60, min_steps=50, tolerance=0.005, patience=30),
    "plateau-50": TrainConfig(stop="plateau", epochs=60, min_steps=50, tolerance=0.01, patience=30),
    "plateau-50-p20": TrainConfig(stop="plateau", epochs=60, min_steps=50, tolerance=0.01, patience=20),
    "plateau-50-2%": TrainConfig(stop="plateau", epochs=60, min_steps=50, tolerance=0.02, patience=20),
}
# the campaigns: digits 50 + 8 x 50, MNIST-1D 100 + 5 x 100
BUDGETS = {"digits": Budget(50, 50, 8), "mnist1d": Budget(100, 100, 5)}
PLANS = {  # mode -> (budgets, strategies, seeds, rules)
    "smoke": ({"digits": Budget(10, 10, 1), "mnist1d": Budget(20, 20, 1)}, ("random", "entropy"), (0, 1),
              {"today": TrainConfig(stop="fixed", epochs=2, min_steps=10),
               "plateau": TrainConfig(stop="plateau", epochs=2, min_steps=10, patience=10)}),
    "quick": (BUDGETS, STRATEGIES, (0, 1, 2), RULES),
    "full": (BUDGETS, STRATEGIES, (0, 1, 2, 3, 4), RULES),
}
STAGES = ("seconds_train", "seconds_eval", "seconds_score", "seconds_select")
STEP_GOALS = {"digits": 0.4, "mnist1d": 0.75}   # the aims: steps relative to today's


def campaign_summary(config: CampaignConfig, seed: int, *, device: str) -> dict:
    """One campaign's totals: steps, stop reasons, test AUBC and final accuracy, seconds by stage."""
    t0 = perf_counter()
    records = run_campaign(config, seed, device=device)
    reasons = [r["stop_reason"] for r in records]
    return {"steps": sum(r["steps"] for r in records), "aubc": records_aubc(records, "test"),
            "final_acc": records[-1]["test_acc"], "seconds": perf_counter() - t0,
            "plateau_cycles": reasons.count("plateau"), "cycles": len(records),
            **{stage: sum(r[stage] for r in records) for stage in STAGES}}


def paired_ci(diffs: list[float], *, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of paired differences: a t interval over the seeds."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return mean, mean - half, mean + half


def sweep(budgets: dict, strategies, seeds, rules: dict, *, device: str) -> dict:
    """{(dataset, strategy, rule): [campaign_summary per seed]} for every combination."""
    runs = {}
    for dataset, budget in budgets.items():
        get_dataset(dataset)  # loaded once per process, outside the timings
        for strategy in strategies:
            for rule, train in rules.items():
                config = CampaignConfig(dataset, strategy, budget=budget, train=train)
                runs[dataset, strategy, rule] = [campaign_summary(config, s, device=device) for s in seeds]
    return runs


def table(runs: dict, *, baseline: str = "today") -> list[dict]:
    """One row per (dataset, strategy, rule): means over seeds and the paired AUBC change (points)."""
    rows = []
    for (dataset, strategy, rule), per_seed in runs.items():
        base = runs[dataset, strategy, baseline]
        mean, low, high = paired_ci([100 * (a["aubc"] - b["aubc"]) for a, b in zip(per_seed, base)])
        steps = float(np.mean([r["steps"] for r in per_seed]))
        rows.append({"dataset": dataset, "strategy": strategy, "rule": rule, "steps": steps,
                     "steps_x": steps / float(np.mean([r["steps"] for r in base])),
                     "aubc": float(np.mean([r["aubc"] for r in per_seed])),
                     "final_acc": float(np.mean([r["final_acc"] for r in per_seed])),
                     "d_aubc_pt": mean, "ci_low": low, "ci_high": high,
                     "plateau_share": sum(r["plateau_cycles"] for r in per_seed) / sum(r["cycles"] for r in per_seed),
                     "seconds": float(np.mean([r["seconds"] for r in per_seed])),
                     "aubc_per_seed": [r["aubc"] for r in per_seed], "steps_per_seed": [r["steps"] for r in per_seed]})
    return rows


def knees(rows: list[dict]) -> dict[str, dict]:
    """Per dataset: the rules whose AUBC change has a CI above -MARGIN for every strategy
    (`ok`), and the one of those with the fewest mean steps (`knee`)."""
    out = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        ok = [rule for rule in dict.fromkeys(r["rule"] for r in mine)
              if all(r["ci_low"] >= -MARGIN or r["rule"] == "today" for r in mine if r["rule"] == rule)]
        steps = {rule: float(np.mean([r["steps_x"] for r in mine if r["rule"] == rule])) for rule in ok}
        out[dataset] = {"ok": ok, "knee": min(ok, key=steps.get), "steps_x": steps}
    return out


def stage_shares(runs: dict, rule: str) -> dict[str, str]:
    """Per dataset: each stage's share of a cycle's time under `rule` (all strategies and seeds)."""
    out = {}
    for dataset in dict.fromkeys(k[0] for k in runs):
        totals = {s: sum(r[s] for k, v in runs.items() if k[0] == dataset and k[2] == rule for r in v) for s in STAGES}
        whole = sum(totals.values()) or 1.0
        out[dataset] = " / ".join(f"{s.removeprefix('seconds_')} {100 * t / whole:.0f}%" for s, t in totals.items())
    return out


def plot(rows: list[dict], path: Path) -> None:
    """AUBC against total steps, one panel per dataset, one line per strategy over the rules."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for strategy in dict.fromkeys(r["strategy"] for r in rows):
            mine = sorted((r for r in rows if r["dataset"] == dataset and r["strategy"] == strategy),
                          key=lambda r: r["steps"])
            line, = ax.plot([r["steps"] for r in mine], [100 * r["aubc"] for r in mine], "o-", label=strategy)
            for r in mine:
                ax.annotate(r["rule"], (r["steps"], 100 * r["aubc"]), fontsize=6, alpha=0.7)
            today = [r for r in mine if r["rule"] == "today"]
            ax.plot([r["steps"] for r in today], [100 * r["aubc"] for r in today], "k*", ms=9)
        ax.set(title=dataset, xlabel="optimizer steps per campaign (mean over seeds)", ylabel="test AUBC (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("AUBC against steps per step rule (star: today's defaults)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(mode: str, *, device: str, out_dir: str | None = None) -> Section:
    section = Section("steps", "Time to accuracy: step rules against today's defaults",
                      wide=("ci_high", "plateau_share", "aubc_per_seed", "steps_per_seed"))
    budgets, strategies, seeds, rules = PLANS[mode]
    # the current defaults join the sweep unless a rule is them (smoke sizes stand in with "plateau")
    defaults = rules["plateau"] if mode == "smoke" else TrainConfig()
    rules = dict(rules) if defaults in rules.values() else {**rules, "defaults": defaults}
    runs = sweep(budgets, strategies, seeds, rules, device=device)
    section.rows = table(runs)
    chosen = knees(section.rows)
    for dataset, k in chosen.items():
        section.summary[f"knee {dataset}"] = f"{k['knee']} ({k['steps_x'][k['knee']]:.2f}x today's steps)"
        section.summary[f"within {MARGIN} pt {dataset}"] = ", ".join(k["ok"])
    name = next(rule for rule, train in rules.items() if train == defaults)
    section.summary["defaults rule"] = name
    for label, rule in (("today", "today"), ("defaults", name)):
        for dataset, shares in stage_shares(runs, rule).items():
            section.summary[f"stage shares {label} {dataset}"] = shares
    for dataset, goal in STEP_GOALS.items():
        mine = [r for r in section.rows if r["dataset"] == dataset and r["rule"] == name]
        if mine and mode != "smoke":
            section.targets += [
                target(f"{dataset}: the defaults' steps / today's", float(np.mean([r["steps_x"] for r in mine])),
                       at_most=goal, unit="x"),
                target(f"{dataset}: the defaults' AUBC change, worst CI low end over strategies",
                       min(r["ci_low"] for r in mine), at_least=-MARGIN, unit=" pt")]
    for dataset, budget in budgets.items():  # one run: the defaults against the usual pipeline
        row = compare(CampaignConfig(dataset, "entropy", budget=budget, train=defaults), seeds[0], device=device)
        section.summary[f"time to accuracy {dataset}"] = (
            f"{row['speedup']:.1f}x faster than the reference (final acc {row['alstudy_acc']:.3f} "
            f"vs {row['reference_acc']:.3f})")
    if out_dir is not None:
        path = Path(out_dir) / "bench-steps.png"
        plot(section.rows, path)
        section.summary["figure"] = str(path)
    section.notes += [
        f"seeds {list(seeds)}; budgets " + "; ".join(f"{d} {b.initial} + {b.cycles} x {b.per_cycle}"
                                                     for d, b in budgets.items()),
        "d_aubc_pt: test AUBC change against 'today' in points, paired by seed, 95 % t interval "
        "[ci_low, ci_high]; steps_x: total steps relative to 'today'",
        "time to accuracy: alstudy's campaign with the current defaults against the reference "
        "pipeline with the fixed rule of the same epochs (entropy, first seed)",
    ]
    return section
