"""Figures carry titles and axis labels and cope with many strategies, one dataset, or no baseline."""

from __future__ import annotations

import pandas as pd

from analysis import figures
from analysis.analyze import Settings, analyze

MANY = ("random", "entropy", "margin", "bald", "coreset", "badge", "typiclust", "least_confidence",
        "probcover", "kmeans")


def _texts(fig) -> str:
    parts = [fig.get_suptitle()]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    for legend in fig.legends:
        parts += [t.get_text() for t in legend.get_texts()]
    return " ".join(parts)


def test_ten_strategies_get_distinct_colours_and_random_is_black():
    colors = figures.strategy_colors(MANY)
    assert colors["random"] == "black"
    assert len(set(colors.values())) == len(MANY)


def test_every_figure_names_what_it_shows(make_frame):
    a = analyze(make_frame(datasets=("digits", "wine"), strategies=MANY, cycles=3, tune_trials=1),
                settings=Settings(n_boot=50))
    curves = figures.plot_learning_curves(a.curves)
    assert "Learning curves" in _texts(curves) and "labeled examples" in _texts(curves)
    assert all(s in _texts(curves) for s in MANY)            # one legend entry per strategy
    assert "gain over random" in _texts(figures.plot_gain_curves(a.gain_curves))
    heat = _texts(figures.plot_rank_heatmap(a.main.ranks))
    assert "mean rank" in heat and "digits" in heat
    assert "τ-b" in _texts(figures.plot_tau_matrix(a.main.tau))
    ppm = _texts(figures.plot_penalty_matrix(a.ppm, n_settings=2))
    assert "winner" in ppm and "loser" in ppm
    cd = figures.plot_cd_diagram(a.mean_ranks, a.posthoc, cd=a.critical_difference)
    assert "random" in " ".join(t.get_text() for t in cd.axes[0].texts)
    regime = pd.DataFrame({r: t.mean() for r, t in a.regime_ranks.items()})
    assert "low budget" in _texts(figures.plot_regime_ranks(regime))


def test_gain_figure_without_a_baseline_says_so():
    fig = figures.plot_gain_curves(pd.DataFrame(columns=["dataset", "strategy", "n_labeled", "mean"]))
    assert "no 'random' baseline" in " ".join(t.get_text() for t in fig.axes[0].texts)
