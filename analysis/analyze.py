"""Every statistic of a report computed once from a results frame, kept in one record."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import cd, curves, gain, penalty, pooled, ranks, regimes, stability, tuning, verdicts
from analysis.claims import mittal_claims
from analysis.health import unlearned_classes
from analysis.load import (BASELINE, EVAL_PHASE, arms, dataset_metrics, drop_incomplete, metric_legend, metric_words,
                           phase_rows, validate)
from analysis.paradigms import ParadigmStats, fold_paradigms, has_paradigms, paradigm_analysis


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.05          # significance level of every test
    level: float = 0.95          # confidence level of every interval
    n_boot: int = 1000           # bootstrap resamples
    seed: int = 0                # seed of the bootstrap generators
    posthoc: str = "nemenyi"     # post-hoc test behind the CD diagram ("nemenyi" or "wilcoxon-holm")
    margin: float = verdicts.DEFAULT_MARGIN  # equivalence margin δ of the verdicts, in AUBC units
    rounds: verdicts.Rounds | None = None    # an adaptive evaluation's seed order and round size


@dataclass(frozen=True)
class ArmStats:
    """Rankings and their stability within one arm (phase) of the study."""

    phase: str
    rows: pd.DataFrame            # phase_rows of the arm
    aubc: pd.DataFrame            # per campaign
    aubc_summary: pd.DataFrame    # dataset, strategy, mean, ci_low, ci_high, n_seeds
    scores: pd.DataFrame          # datasets × strategies, mean AUBC
    ranks: pd.DataFrame           # datasets × strategies, 1 = best
    kendall: dict
    bootstrap: dict               # CIs of W and mean ranks, datasets and seeds within them resampled
    tau: pd.DataFrame
    gain_aubc: pd.DataFrame
    incomplete: pd.DataFrame      # campaigns left out for missing budget points


@dataclass(frozen=True)
class Analysis:
    study: str
    settings: Settings
    main: ArmStats                          # the tuned evaluation arm ("eval")
    curves: pd.DataFrame
    final: pd.DataFrame                     # per dataset × strategy: final score (accuracy or mIoU) mean and CI
    gain_curves: pd.DataFrame
    gain_regime: pd.DataFrame
    mean_ranks: pd.Series
    spread: pd.DataFrame
    regime_ranks: dict[str, pd.DataFrame]
    regime_stability: pd.DataFrame          # regime -> kendall_w, w_ci_low/high, p_value, mean_tau
    regime_agreement: pd.Series             # τ-b low vs high budget, per dataset
    ppm: pd.DataFrame
    friedman: dict
    posthoc: pd.DataFrame
    critical_difference: float
    parity: pd.DataFrame
    verdicts: pd.DataFrame                  # per (paradigm,) dataset × strategy: verdict, gain, p-values, power
    pooled: pd.DataFrame                    # per strategy: DerSimonian–Laird gain across datasets, τ², I²
    other_arms: dict[str, ArmStats] = field(default_factory=dict)
    arm_agreement: dict[str, pd.Series] = field(default_factory=dict)  # τ-b of arm vs eval ranks
    tuning_effect: pd.DataFrame | None = None  # eval AUBC − arm AUBC per dataset × strategy
    codes: dict[str, int] = field(default_factory=dict)  # rows per alstudy code version (column `code`)
    diagnosis: pd.DataFrame = field(default_factory=pd.DataFrame)  # can the tuning tell its trials apart?
    tuned_vs_untuned: pd.DataFrame = field(default_factory=pd.DataFrame)  # eval − untuned test AUBC, paired
    paradigms: ParadigmStats | None = None  # across paradigms (studies with more than one)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)  # Mittal et al.'s claims, decided or open
    metrics: dict[str, str] = field(default_factory=dict)  # dataset -> its metric ("acc", "miou")
    unlearned: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell: rows that left a class unlearned

    @property
    def metric(self) -> str:
        """The study's metric in words: "accuracy", "mIoU", or "score" when datasets mix them (`legend`)."""
        return metric_words(self.metrics) if self.metrics else "accuracy"

    @property
    def legend(self) -> str | None:
        """Which dataset uses which metric, for a study mixing them; else None."""
        return metric_legend(self.metrics)

    @property
    def bootstrap(self) -> dict:
        """Bootstrap CIs of W and mean ranks of the tuned arm."""
        return self.main.bootstrap


def arm_stats(frame: pd.DataFrame, phase: str, settings: Settings) -> ArmStats:
    rows, incomplete = drop_incomplete(phase_rows(frame, phase))
    per_campaign = curves.aubc(rows)
    scores = ranks.score_table(per_campaign, "aubc")
    table = ranks.rank_table(scores)
    return ArmStats(
        phase=phase, rows=rows, aubc=per_campaign,
        aubc_summary=curves.summarize_over_seeds(per_campaign, "aubc", n_boot=settings.n_boot,
                                                 level=settings.level, seed=settings.seed),
        scores=scores, ranks=table, kendall=stability.kendall_w(table),
        bootstrap=stability.bootstrap_stability(per_campaign, "aubc", n_boot=settings.n_boot,
                                                level=settings.level, seed=settings.seed, two_level=True),
        tau=stability.pairwise_tau(table),
        gain_aubc=gain.gain_in_aubc(per_campaign, level=settings.level), incomplete=incomplete)


def _regime_stability(tables: dict[str, pd.DataFrame], scores: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """W (with its two-level bootstrap CI), p-value and mean pairwise τ-b within each budget regime."""
    out = []
    for regime, table in tables.items():
        w = stability.kendall_w(table)
        boot = stability.bootstrap_stability(scores.loc[scores["regime"] == regime], "score", n_boot=settings.n_boot,
                                             level=settings.level, seed=settings.seed, two_level=True)
        out.append((regime, w["w"], *boot["w"], w["p_value"],
                    stability.mean_off_diagonal(stability.pairwise_tau(table))))
    return pd.DataFrame(out, columns=["regime", "kendall_w", "w_ci_low", "w_ci_high", "p_value",
                                      "mean_tau"]).set_index("regime")


def code_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per alstudy code version (the `code` column; absent in results of older versions)."""
    if "code" not in frame:
        return {}
    codes = frame["code"].dropna().astype(str)
    return {str(k): int(v) for k, v in codes[codes != ""].value_counts().sort_index().items()}


def analyze(frame: pd.DataFrame, *, settings: Settings | None = None, study: str | None = None) -> Analysis:
    """All statistics of the report; test metrics come from the "eval" rows only."""
    settings = settings or Settings()
    validate(frame)
    across = paradigm_analysis(frame, level=settings.level) if has_paradigms(frame) else None
    claims = (mittal_claims(across.aubc, frame.loc[frame["phase"] == EVAL_PHASE], margin=settings.margin,
                            adaptive=settings.rounds is not None)
              if across is not None else pd.DataFrame())
    # verdicts keep the paradigm as its own level (summary.json: paradigm -> dataset -> strategy)
    table = verdicts.verdicts(verdicts.campaign_aubc(frame), margin=settings.margin, alpha=settings.alpha,
                              level=settings.level, rounds=settings.rounds)
    metrics = dataset_metrics(frame.loc[frame["phase"] == EVAL_PHASE])
    frame = fold_paradigms(frame)   # from here on, every per-dataset statistic is within one paradigm
    main = arm_stats(frame, EVAL_PHASE, settings)
    rows = main.rows
    final = curves.summarize_over_seeds(curves.final_accuracy(rows), "final_acc", n_boot=settings.n_boot,
                                        level=settings.level, seed=settings.seed)
    by_regime = regimes.regime_scores(rows)
    regime_tables = ranks.regime_rank_tables(by_regime)
    friedman = cd.friedman(main.scores)
    others = {p: arm_stats(frame, p, settings) for p in arms(frame) if p != EVAL_PHASE}
    effect = None
    if others:
        parts = []
        for phase, arm in others.items():
            merged = main.aubc_summary.merge(arm.aubc_summary, on=["dataset", "strategy"], suffixes=("", "_arm"))
            parts.append(merged.assign(arm=phase, effect=merged["mean"] - merged["mean_arm"])
                         [["arm", "dataset", "strategy", "mean", "mean_arm", "effect"]])
        effect = pd.concat(parts, ignore_index=True)
    if "study" in frame and frame["study"].notna().any():
        study = study or ", ".join(sorted(map(str, frame["study"].dropna().unique())))
    return Analysis(
        study=study or "study", settings=settings, main=main,
        curves=curves.learning_curves(rows, n_boot=settings.n_boot, level=settings.level, seed=settings.seed),
        final=final,
        gain_curves=gain.gain_curves(rows, level=settings.level),
        gain_regime=gain.gain_by_regime(by_regime, level=settings.level),
        mean_ranks=ranks.mean_ranks(main.ranks),
        spread=stability.rank_spread(main.ranks),
        regime_ranks=regime_tables,
        regime_stability=_regime_stability(regime_tables, by_regime, settings),
        regime_agreement=(stability.agreement(regime_tables["low"], regime_tables["high"])
                          if {"low", "high"} <= regime_tables.keys() else pd.Series(dtype=float)),
        ppm=penalty.penalty_matrix(rows, alpha=settings.alpha),
        friedman=friedman,
        posthoc=cd.posthoc(main.scores, method=settings.posthoc),
        critical_difference=cd.critical_difference(main.scores.shape[1], main.scores.shape[0],
                                                    alpha=settings.alpha),
        parity=tuning.tuning_parity(frame),
        verdicts=table,
        pooled=pooled.pooled_gain(table, level=settings.level),
        other_arms=others,
        arm_agreement={p: stability.agreement(a.ranks, main.ranks) for p, a in others.items()},
        tuning_effect=effect,
        codes=code_counts(frame),
        diagnosis=tuning.tuning_diagnosis(frame),
        tuned_vs_untuned=(tuning.tuned_vs_untuned(main.aubc, others["untuned"].aubc, level=settings.level)
                          if "untuned" in others else pd.DataFrame()),
        paradigms=across,
        claims=claims,
        metrics=metrics,
        unlearned=unlearned_classes(frame),
    )


def beats_baseline(table: pd.DataFrame, *, alpha: float, column: str = "p_holm") -> pd.DataFrame:
    """Rows of a gain table whose gain over random is positive and significant at `alpha`."""
    if table.empty:
        return table
    return table.loc[(table[column] < alpha) & (table["mean"] > 0)]


def loses_to_baseline(table: pd.DataFrame, *, alpha: float, column: str = "p_holm") -> pd.DataFrame:
    if table.empty:
        return table
    return table.loc[(table[column] < alpha) & (table["mean"] < 0)]


def has_baseline(a: Analysis) -> bool:
    return bool((a.main.rows["strategy"] == BASELINE).any())


def stability_warning(a: Analysis) -> str | None:
    """Why the rank-stability interval is unreliable (fewer than 4 datasets or 5 seeds), or None."""
    m, (lo, _) = a.main.ranks.shape[0], n_seeds(a)
    why = [f"{m} datasets (< 4)"] if m < 4 else []
    why += [f"{lo} evaluation seeds (< 5)"] if lo < 5 else []
    if not why:
        return None
    return ("unreliable with " + " and ".join(why) + ": a bootstrap over so few datasets or seeds "
            "understates the uncertainty of W")


def n_seeds(a: Analysis) -> tuple[int, int]:
    """Fewest and most evaluation seeds of any dataset × strategy cell."""
    counts = a.main.aubc.groupby(["dataset", "strategy"])["seed"].nunique()
    return (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)


def finite(x) -> bool:
    return x is not None and bool(np.isfinite(x))
