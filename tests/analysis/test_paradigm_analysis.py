"""Analysis across training paradigms: paradigm effect beside strategy effect, spread, stability."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.analyze import analyze
from analysis.paradigms import fold_paradigms, paradigm_analysis
from analysis.report import write_report
from tests.analysis.conftest import make_results

STRATEGIES = ("random", "entropy", "margin")


def two_paradigms(**more) -> pd.DataFrame:
    """`plain`: strategies spread by 0 / +1 / +2 points; `fixmatch`: every arm +8 points, spread
    blurred to 0 / +0.2 / +0.4, so the paradigm adds far more than any strategy."""
    parts = []
    for paradigm, lift, scale in (("plain", 0.0, 1.0), ("fixmatch", 0.08, 0.2)):
        effects = {(d, s): lift + scale * 0.01 * i for d in ("digits", "wine") for i, s in enumerate(STRATEGIES)}
        frame = make_results(datasets=("digits", "wine"), strategies=STRATEGIES, effects=effects,
                             untuned=False, noise=0.002, seed=1 if lift else 0, **more)
        method = "fixmatch" if lift else "supervised"
        parts.append(frame.assign(paradigm=paradigm, method=method, **{"hp.augment": 0.0},
                                  trial=frame["trial"].str.replace("-", f"-{paradigm}-", n=1)))
    return pd.concat(parts, ignore_index=True)


def test_paradigm_effect_spread_and_stability():
    p = paradigm_analysis(two_paradigms())
    assert p.reference == "plain" and p.paradigms == ["fixmatch", "plain"]
    effect = p.paradigm_effect.set_index("dataset")
    assert effect["paradigm"].tolist() == ["fixmatch", "fixmatch"]
    assert effect["mean"].tolist() == pytest.approx([0.08, 0.08], abs=0.01)
    assert (effect["ci_low"] > 0.05).all()
    assert effect["best_strategy"].tolist() == ["margin", "margin"]
    assert effect["best_gain"].tolist() == pytest.approx([0.02, 0.02], abs=0.005)
    spread = p.strategy_spread.set_index(["dataset", "paradigm"])["max_gain"]
    assert (spread.xs("fixmatch", level="paradigm") < spread.xs("plain", level="paradigm")).all()
    gains = p.gains.set_index(["paradigm", "dataset", "strategy"])["mean"]
    assert gains[("fixmatch", "digits", "margin")] == pytest.approx(0.004, abs=0.003)
    assert (p.stability["kendall_w"] == 1.0).all()      # same order inside both paradigms


def test_every_other_statistic_stays_within_a_paradigm(tmp_path):
    frame = two_paradigms()
    assert sorted(fold_paradigms(frame)["dataset"].unique()) == ["digits/fixmatch", "digits/plain",
                                                                 "wine/fixmatch", "wine/plain"]
    a = analyze(frame)
    gain = a.main.gain_aubc.set_index(["dataset", "strategy"])["mean"]
    # over *that* paradigm's random: +2 points inside plain, +0.4 inside fixmatch (not +8)
    assert gain[("digits/plain", "margin")] == pytest.approx(0.02, abs=0.005)
    assert gain[("digits/fixmatch", "margin")] == pytest.approx(0.004, abs=0.003)
    report = write_report(a, tmp_path)
    text = report.read_text()
    assert text.index("## Training paradigms") < text.index("## Answer")
    # the section opens with its answers, read off the numbers: +8 points for the paradigm against
    # +2 for the best strategy, and fixmatch's strategies five times closer together than plain's
    answers = text[text.index("**Answers**"):text.index("### Does the paradigm add more")]
    assert "*Paradigm or strategy, digits:* the best paradigm, fixmatch, moves random by +8.0" in answers
    assert "(margin): the paradigm adds more." in answers
    assert "plain 1.01; fixmatch 0.19 (narrower) than the reference" in answers
    assert "fixmatch 4 above and 0 below of 4" in answers
    assert "Kendall's W 1.00-1.00" in answers
    assert (tmp_path / "paradigm_effect.png").stat().st_size > 1000
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["paradigms"]["reference"] == "plain"
    assert {r["paradigm"] for r in summary["paradigm_effect"]} == {"fixmatch"}
    assert len(summary["strategy_spread"]) == 4


def test_one_paradigm_reads_as_before():
    frame = make_results(datasets=("digits", "wine"), strategies=STRATEGIES, untuned=False)
    a = analyze(frame.assign(paradigm="supervised"))
    assert a.paradigms is None and set(a.main.ranks.index) == {"digits", "wine"}


def test_the_closing_table_of_alstudy_run_ranks_within_each_paradigm(tmp_path):
    from alstudy.study.summary_table import eval_table, render

    path, frame = tmp_path / "results.parquet", two_paradigms()
    frame.to_parquet(path)
    rows = eval_table(str(path))
    assert len(rows) == 2 * 2 * len(STRATEGIES)          # (dataset, paradigm, strategy), not pooled
    assert {r["seeds"] for r in rows} == {frame[frame["phase"] == "eval"]["seed"].nunique()}
    rank = {(r["dataset"], r["paradigm"], r["strategy"]): r["rank"] for r in rows}
    assert rank[("digits", "plain", "margin")] == rank[("digits", "fixmatch", "margin")] == 1.0
    text = render(rows, order={"digits": 0, "wine": 1}, paradigm_order={"plain": 0, "fixmatch": 1})
    lines = text.splitlines()
    assert "rank 1 = best within its dataset and paradigm" in lines[0] and "paradigm" in lines[1]
    assert lines[2].split()[:3] == ["digits", "plain", "margin"]
    assert lines[2 + len(STRATEGIES)].split()[:3] == ["digits", "fixmatch", "margin"]


def test_mittal_claims_are_decided_where_the_data_settle_them(tmp_path):
    """fixmatch lifts random by 8 points, beats every plain cell, and blurs the strategies to
    within the margin; in plain, margin beats random by 2 points (more than the 1-point margin)."""
    import scipy.stats

    from alstudy.sequential import decide
    from analysis.analyze import Settings
    from analysis.claims import mittal_claims
    from analysis.verdicts import Rounds

    frame = two_paradigms(eval_seeds=tuple(range(100, 112)))   # 4 seeds leave every interval open
    a = analyze(frame, settings=Settings(n_boot=50))
    c = a.claims.set_index(["claim", "dataset", "paradigm", "versus", "strategy"])
    assert c.loc[("ssl_lifts", "digits", "fixmatch", "plain", "random"), "decision"] == "better"
    beats = c.xs("random_ssl_beats_all", level="claim")
    assert len(beats) == 2 * len(STRATEGIES) and (beats["decision"] == "better").all()
    inside = c.xs("barely_beats_random", level="claim")
    assert inside.xs("fixmatch", level="paradigm")["decision"].eq("equivalent").all()
    assert inside.loc[("digits", "plain", "plain", "margin"), "decision"] == "better"
    assert inside.loc[("digits", "plain", "plain", "margin"), "low"] > 0.01
    # a fixed evaluation (seeds set in advance): each row is the Student-t interval of its paired
    # differences at alpha / (rows of the table), computed here by hand
    per = a.paradigms.aubc.set_index(["paradigm", "dataset", "strategy", "seed"])["aubc"]
    diffs = (per.loc[("fixmatch", "wine", "random")] - per.loc[("plain", "wine", "margin")]).sort_index().to_numpy()
    n, alpha = len(diffs), 0.05 / len(a.claims)
    half = scipy.stats.t.ppf(1 - alpha / 2, n - 1) * diffs.std(ddof=1) / np.sqrt(n)
    row = c.loc[("random_ssl_beats_all", "wine", "fixmatch", "plain", "margin")]
    assert (row["low"], row["high"], row["n"]) == pytest.approx((diffs.mean() - half, diffs.mean() + half, n))
    assert set(a.claims["interval"]) == {"t"}
    # an adaptive evaluation (the same seeds, run in rounds of 3): the confidence sequence instead,
    # wider, since it also covers every look the evaluation could have stopped at
    adaptive = analyze(frame, settings=Settings(n_boot=50, rounds=Rounds(tuple(range(100, 112)), 3)))
    seq = decide(diffs, margin=0.01, alpha=alpha, rounds=[n])
    row = adaptive.claims.set_index(["claim", "dataset", "paradigm", "versus", "strategy"]).loc[
        ("random_ssl_beats_all", "wine", "fixmatch", "plain", "margin")]
    assert (row["low"], row["high"], row["interval"]) == pytest.approx((seq.low, seq.high, "sequence"))
    assert seq.high - seq.low > 2 * half
    text = write_report(a, tmp_path).read_text()
    assert "## Mittal et al. 2019's claims on this data" in text
    assert "Student-t 95 % intervals (the evaluation's seeds were fixed in advance)" in text
    adaptive_text = write_report(adaptive, tmp_path / "adaptive").read_text()
    assert "anytime-valid 95 % confidence sequences (the evaluation chose its seeds as it went)" in adaptive_text
    assert "*Random with fixmatch beats every strategy without SSL*: better than 3 of 3" in text
    assert "*Strategies barely beat random* in fixmatch" in text and "decided: yes" in text
    assert (tmp_path / "claims.csv").exists()
    # one supervised paradigm alone: only the strategies against its random are claims
    plain = frame.loc[frame["paradigm"] == "plain"]
    alone = mittal_claims(a.paradigms.aubc.loc[a.paradigms.aubc["paradigm"] == "plain"], plain, margin=0.01)
    assert set(alone["claim"]) == {"barely_beats_random"} and len(alone) == 4


def test_augmentation_lifts_random_is_a_claim_when_two_supervised_paradigms_differ_in_augment(tmp_path):
    """`aug` (augment 1) lifts every arm by 8 points over `plain` (augment 0): decided on both
    datasets, and the report says so; equal augment strengths make no such claim."""
    from analysis.analyze import Settings

    frame = two_paradigms(eval_seeds=tuple(range(100, 112)))
    aug = frame["paradigm"] == "fixmatch"
    frame.loc[aug, "method"] = "supervised"
    frame.loc[aug, "hp.augment"] = 1.0
    frame["paradigm"] = frame["paradigm"].replace({"fixmatch": "aug"})
    frame["trial"] = frame["trial"].str.replace("-fixmatch-", "-aug-")
    a = analyze(frame, settings=Settings(n_boot=50))
    lifts = a.claims.loc[a.claims["claim"] == "augmentation_lifts"].set_index("dataset")
    assert list(lifts.index) == ["digits", "wine"] and (lifts["decision"] == "better").all()
    assert (lifts["paradigm"] == "aug").all() and (lifts["versus"] == "plain").all()
    assert lifts["mean"].to_numpy() == pytest.approx([0.08, 0.08], abs=0.005)
    text = write_report(a, tmp_path).read_text()
    assert "* *Augmentation lifts random* (aug over plain): +8.0 [" in text and "decided: yes" in text
    from analysis.claims import mittal_claims

    same = frame.assign(**{"hp.augment": 0.0})
    assert "augmentation_lifts" not in set(mittal_claims(a.paradigms.aubc, same, margin=0.01)["claim"])
