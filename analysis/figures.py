"""Figures (matplotlib, headless): each function takes analysis tables and returns a Figure.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas, never through pyplot's
global state, so they render without a display and do not accumulate in memory.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.load import BASELINE

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896")


def strategy_colors(strategies) -> dict[str, str]:
    """A fixed colour per strategy (sorted names), black for the random baseline, same in every figure."""
    others = [s for s in sorted(set(strategies)) if s != BASELINE]
    colors = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(others)}
    colors[BASELINE] = "black"
    return colors


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | Path, *, dpi: int = 130) -> Path:
    """Write `fig` as PNG to `path` and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
    return path


def _panels(n: int, *, width: float = 4.6, height: float = 3.4, ncols: int = 3):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = new_figure(width * ncols + 1.8, height * nrows + 0.6)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _legend(fig: Figure, axes, *, title: str | None = None) -> None:
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="outside right upper", title=title, frameon=False, fontsize=9)


def plot_learning_curves(curves: pd.DataFrame, *, metric_label: str = "test accuracy") -> Figure:
    """Grid of panels, one per dataset: mean metric vs labels with the bootstrap CI as a band."""
    datasets = sorted(curves["dataset"].unique())
    colors = strategy_colors(curves["strategy"].unique())
    fig, axes = _panels(len(datasets))
    for ax, dataset in zip(axes, datasets):
        part = curves.loc[curves["dataset"] == dataset]
        for strategy, line in part.groupby("strategy", sort=True):
            line = line.sort_values("n_labeled")
            base = strategy == BASELINE
            ax.plot(line["n_labeled"], line["mean"], color=colors[strategy], lw=2.2 if base else 1.4,
                    ls="--" if base else "-", marker="o", ms=3, label=strategy, zorder=3 if base else 2)
            ax.fill_between(line["n_labeled"], line["ci_low"], line["ci_high"], color=colors[strategy],
                            alpha=0.12, lw=0)
        ax.set_title(dataset, fontsize=11)
        ax.set_xlabel("labeled examples")
        ax.set_ylabel(metric_label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Learning curves: mean {metric_label} over seeds (band: bootstrap CI)", fontsize=12)
    _legend(fig, axes, title="strategy")
    return fig


def plot_gain_curves(gain: pd.DataFrame, *, alpha: float = 0.05, max_bands: int = 4,
                     metric: str = "accuracy") -> Figure:
    """Per dataset: gain in `metric` over tuned random (percentage points); filled markers are significant.

    CI bands are drawn only for up to `max_bands` strategies: more of them hide each other.
    """
    datasets = sorted(gain["dataset"].unique()) if len(gain) else []
    colors = strategy_colors(gain["strategy"].unique() if len(gain) else [])
    fig, axes = _panels(max(1, len(datasets)))
    if not datasets:
        axes[0].text(0.5, 0.5, f"no '{BASELINE}' baseline in the results", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    bands = gain["strategy"].nunique() <= max_bands
    for ax, dataset in zip(axes, datasets):
        part = gain.loc[gain["dataset"] == dataset]
        ax.axhline(0, color="black", lw=1.2, ls="--", label=f"tuned {BASELINE}")
        for strategy, line in part.groupby("strategy", sort=True):
            line = line.sort_values("n_labeled")
            x, y = line["n_labeled"].to_numpy(), 100 * line["mean"].to_numpy()
            ax.plot(x, y, color=colors[strategy], lw=1.4, label=strategy)
            if bands:
                ax.fill_between(x, 100 * line["ci_low"], 100 * line["ci_high"], color=colors[strategy],
                                alpha=0.10, lw=0)
            sig = (line["p_value"] < alpha).to_numpy()
            ax.scatter(x[sig], y[sig], color=colors[strategy], s=22, zorder=3)
            ax.scatter(x[~sig], y[~sig], facecolor="white", edgecolor=colors[strategy], s=18, zorder=3)
        ax.set_title(dataset, fontsize=11)
        ax.set_xlabel("labeled examples")
        ax.set_ylabel("gain over random (points)")
        ax.grid(alpha=0.3)
    band = "band: 95% t-CI; " if bands else ""
    fig.suptitle(f"Gain over tuned random in test {metric}, paired by seed ({band}filled marker: "
                 f"paired t-test p < {alpha}, unadjusted)", fontsize=12)
    _legend(fig, axes, title="strategy")
    return fig


def plot_rank_heatmap(ranks: pd.DataFrame, *, title: str = "Rank of each strategy per dataset") -> Figure:
    """Datasets × strategies (best mean rank left), with a bottom row of mean ranks; 1 = best."""
    order = ranks.mean().sort_values().index
    table = pd.concat([ranks[order], ranks[order].mean().to_frame("mean rank").T])
    k, m = table.shape[1], table.shape[0]
    fig = new_figure(max(5.0, 1.0 + 0.85 * k), max(2.6, 1.4 + 0.45 * m))
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(dtype=float), cmap="RdYlGn_r", vmin=1, vmax=max(k, 2), aspect="auto")
    for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=9,
                fontweight="bold" if i == m - 1 else "normal")
    ax.axhline(m - 1.5, color="black", lw=1.5)
    ax.set_xticks(range(k), table.columns, rotation=35, ha="right")
    ax.set_yticks(range(m), table.index)
    ax.set_xlabel("strategy")
    ax.set_ylabel("dataset")
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, label="rank (1 = best)", shrink=0.9)
    return fig


def plot_tau_matrix(tau: pd.DataFrame, *, title: str = "Kendall τ-b between datasets' strategy rankings") -> Figure:
    """Symmetric dataset × dataset matrix of rank correlations in [-1, 1]."""
    n = len(tau)
    fig = new_figure(max(4.6, 1.8 + 0.9 * n), max(3.8, 1.4 + 0.8 * n))
    ax = fig.subplots()
    values = tau.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="RdBu", vmin=-1, vmax=1)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=10,
                color="white" if abs(v) > 0.7 else "black")
    ax.set_xticks(range(n), tau.columns, rotation=35, ha="right")
    ax.set_yticks(range(n), tau.index)
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, label="τ-b", shrink=0.9)
    return fig


def plot_penalty_matrix(ppm: pd.DataFrame, *, n_settings: int, alpha: float = 0.05) -> Figure:
    """Entry [row, column]: settings' worth of budget points where row significantly beats column."""
    order = (ppm.sum(axis=1) - ppm.sum(axis=0)).sort_values(ascending=False).index
    table = ppm.loc[order, order]
    k = len(table)
    fig = new_figure(max(5.0, 2.2 + 0.85 * k), max(4.0, 1.8 + 0.6 * k))
    ax = fig.subplots()
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="Reds", vmin=0, vmax=max(n_settings, 1e-9))
    for (i, j), v in np.ndenumerate(values):
        if i != j:
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if v > 0.6 * n_settings else "black")
    wins, losses = table.sum(axis=1), table.sum(axis=0)
    ax.set_yticks(range(k), [f"{s}  (wins {wins[s]:.2f})" for s in table.index])
    ax.set_xticks(range(k), [f"{s}  (losses {losses[s]:.2f})" for s in table.columns], rotation=35, ha="right")
    ax.set_ylabel("winner (row)")
    ax.set_xlabel("loser (column)")
    ax.set_title(f"Pairwise penalty matrix: row beats column (paired t-test, p < {alpha});\n"
                 f"max per entry = {n_settings} dataset(s)", fontsize=11)
    fig.colorbar(image, ax=ax, shrink=0.9)
    return fig


def plot_cd_diagram(mean_ranks: pd.Series, pvalues: pd.DataFrame, *, cd: float | None,
                    alpha: float = 0.05, title: str = "Critical difference diagram") -> Figure:
    """Mean ranks on an axis; strategies joined by a bar are not significantly different."""
    import scikit_posthocs as sp

    k = len(mean_ranks)
    fig = new_figure(9.0, 1.6 + 0.32 * k)
    ax = fig.subplots()
    if k < 2 or pvalues.isna().all().all():
        ax.text(0.5, 0.5, "too few datasets or strategies for a post-hoc test", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colors = strategy_colors(mean_ranks.index)
    sp.critical_difference_diagram(mean_ranks, pvalues.fillna(1.0), ax=ax, alpha=alpha,
                                   color_palette={s: colors[s] for s in mean_ranks.index},
                                   label_props={"fontsize": 10}, label_fmt_left="{label} ({rank:.2f})",
                                   label_fmt_right="({rank:.2f}) {label}")
    ax.set_xticks(range(1, k + 1))
    ax.set_xlim(1, k)  # the whole rank scale, so distances read the same in every study
    bottom, _ = ax.get_ylim()
    top = 0.8
    if cd is not None and np.isfinite(cd):
        # Drawn here, well above the rank axis labels, where the library's own bar would touch them.
        start = 1.0  # from the best possible rank, as a ruler; it may reach past the axis end
        for xs, ys in (([start, start + cd], [1.6, 1.6]), ([start] * 2, [1.45, 1.75]),
                       ([start + cd] * 2, [1.45, 1.75])):
            ax.plot(xs, ys, color="black", lw=2, clip_on=False)
        ax.text(start + cd / 2, 1.85, f"critical difference = {cd:.2f}", ha="center", va="bottom", fontsize=10)
        top = 2.6
    ax.set_ylim(bottom, top)
    ax.set_title(title, fontsize=11)
    return fig


def plot_regime_ranks(regime_mean_ranks: pd.DataFrame) -> Figure:
    """Mean rank of each strategy in the low, middle and high budget regimes (1 = best, on top)."""
    colors = strategy_colors(regime_mean_ranks.index)
    fig = new_figure(7.5, 4.2)
    ax = fig.subplots()
    x = np.arange(regime_mean_ranks.shape[1])
    # Legend in the order of the highest-budget ranking, so it reads like the right end of the lines.
    for strategy, row in regime_mean_ranks.sort_values(regime_mean_ranks.columns[-1]).iterrows():
        base = strategy == BASELINE
        ax.plot(x, row.to_numpy(dtype=float), marker="o", color=colors[strategy], label=strategy,
                lw=2.2 if base else 1.4, ls="--" if base else "-")
    ax.set_xticks(x, [f"{r} budget" for r in regime_mean_ranks.columns])
    ax.invert_yaxis()
    ax.set_ylabel("mean rank across datasets (1 = best)")
    ax.set_title("How the ranking changes with the label budget", fontsize=11)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", frameon=False, fontsize=9, title="strategy")
    return fig


def plot_forest(verdicts: pd.DataFrame, pooled: pd.DataFrame, *, margin: float, metric: str = "accuracy") -> Figure:
    """Forest plot: per strategy, each dataset's gain over random with its CI (dots) and the
    random-effects pooled gain with its CI (diamond); the band is the equivalence margin ±δ."""
    strategies = list(pooled["strategy"].drop_duplicates())
    colors = strategy_colors([*strategies, BASELINE])
    rows = []   # (label, mean, low, high, colour, pooled?)
    for s in strategies:
        for _, r in verdicts.loc[verdicts["strategy"] == s].iterrows():
            place = f"{r['paradigm']} / {r['dataset']}" if "paradigm" in r.index else r["dataset"]
            rows.append((f"{s}: {place}", r["gain"], r["ci_low"], r["ci_high"], colors[s], False))
        for _, p in pooled.loc[pooled["strategy"] == s].iterrows():
            extra = f" {p['paradigm']}" if "paradigm" in p.index else ""
            rows.append((f"{s}{extra}: pooled (I² = {100 * p['i2']:.0f} %)" if np.isfinite(p["i2"]) else
                         f"{s}{extra}: pooled", p["mean"], p["ci_low"], p["ci_high"], colors[s], True))
    fig = new_figure(7.5, 0.28 * len(rows) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ax.axvspan(-100 * margin, 100 * margin, color="0.9", label=f"±{100 * margin:.1f} point margin")
    ax.axvline(0, color="0.4", lw=0.8)
    for yi, (_, mean, low, high, color, is_pooled) in zip(y, rows):
        ax.plot([100 * low, 100 * high], [yi, yi], color=color, lw=2.2 if is_pooled else 1.2)
        ax.plot(100 * mean, yi, marker="D" if is_pooled else "o", ms=8 if is_pooled else 4, color=color)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.set_xlabel(f"AUBC gain over tuned {BASELINE} ({metric} points)")
    ax.set_title("Gain per dataset and pooled across datasets (DerSimonian–Laird)")
    ax.legend(loc="lower right", fontsize=8)
    return fig
