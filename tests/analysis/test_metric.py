"""Each dataset is scored in its own metric (the rows' `metric` column: accuracy or mIoU): every
statistic, the closing table and the report read val_<metric> / test_<metric> and say which."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alstudy.cli import main
from alstudy.metrics import metric_columns, records_aubc
from analysis.analyze import Settings, analyze
from analysis.report import write_report
from tests.analysis.conftest import as_segmentation, make_results
from tests.analysis.test_paradigm_analysis import two_paradigms

STRATEGIES = ("random", "entropy", "margin")
FAST = Settings(n_boot=50)


def test_records_aubc_reads_each_records_metric():
    acc = [{"n_labeled": 10, "val_acc": 0.5, "test_acc": 0.1}, {"n_labeled": 20, "val_acc": 0.7, "test_acc": 0.3}]
    miou = [{"n_labeled": 10, "metric": "miou", "val_miou": 0.2, "test_miou": 0.4, "val_acc": 0.9},
            {"n_labeled": 30, "metric": "miou", "val_miou": 0.4, "test_miou": 0.8, "val_acc": 0.9}]
    assert records_aubc(acc) == pytest.approx(0.6) and records_aubc(acc, "test") == pytest.approx(0.2)
    assert records_aubc(miou) == pytest.approx(0.3) and records_aubc(miou, "test") == pytest.approx(0.6)
    assert metric_columns("miou") == ("val_miou", "test_miou")
    with pytest.raises(ValueError, match="known: acc, miou"):
        metric_columns("dice")
    with pytest.raises(ValueError, match="split"):
        records_aubc(acc, "test_acc")


def test_a_segmentation_study_is_analysed_in_miou_and_says_so(tmp_path):
    acc = make_results(datasets=("mnist5k_seg",), strategies=STRATEGIES, untuned=False)
    seg = as_segmentation(acc)
    assert "test_acc" not in seg and "val_acc" not in seg
    a, before = analyze(seg, settings=FAST), analyze(acc, settings=FAST)
    # the same numbers under the other metric's columns give the same statistics
    assert a.main.aubc["aubc"].to_numpy() == pytest.approx(before.main.aubc["aubc"].to_numpy())
    assert a.main.ranks.equals(before.main.ranks)
    assert a.parity["best_val_aubc"].notna().all()          # the tuning's validation AUBC reads val_miou
    assert a.parity["best_val_aubc"].to_numpy() == pytest.approx(before.parity["best_val_aubc"].to_numpy())
    assert a.metric == "mIoU" and before.metric == "accuracy"
    text = write_report(a, tmp_path).read_text()
    assert "the area under the test-mIoU curve" in text and "(an average mIoU, in %)" in text
    assert "## Final mIoU (largest budget" in text and "AUBC gain in mIoU points" in text
    assert "accuracy" not in text.lower().replace("accuracy_", "")
    assert json.loads((tmp_path / "summary.json").read_text())["metrics"] == {"mnist5k_seg": "miou"}


def test_a_study_mixing_tasks_ranks_each_dataset_in_its_own_metric(tmp_path):
    from alstudy.study.summary_table import eval_table, render

    acc = make_results(datasets=("digits", "mnist5k_seg"), strategies=STRATEGIES, untuned=False)
    mixed = as_segmentation(acc, datasets=("mnist5k_seg",))
    # a wrong reading would show: the accuracy column of segmentation rows is empty, and the
    # segmentation rows' mIoU is set lower than any accuracy of the same cell
    mixed.loc[mixed["dataset"] == "mnist5k_seg", "test_miou"] -= 0.3
    a = analyze(mixed, settings=FAST)
    per = a.main.aubc.set_index(["dataset", "strategy", "seed"])["aubc"]
    expected = analyze(acc, settings=FAST).main.aubc.set_index(["dataset", "strategy", "seed"])["aubc"]
    assert per.loc["digits"].to_numpy() == pytest.approx(expected.loc["digits"].to_numpy())
    assert per.loc["mnist5k_seg"].to_numpy() == pytest.approx(expected.loc["mnist5k_seg"].to_numpy() - 0.3)
    assert a.main.ranks.equals(analyze(acc, settings=FAST).main.ranks)   # ranks live within a dataset
    assert a.metrics == {"digits": "acc", "mnist5k_seg": "miou"}
    text = write_report(a, tmp_path / "report").read_text()
    assert "Metric per dataset: digits accuracy, mnist5k_seg mIoU." in text
    assert "the area under the test-score curve" in text
    path = tmp_path / "results.parquet"
    mixed.to_parquet(path)
    rows = eval_table(str(path))
    closing = {(r["dataset"], r["strategy"]): r["aubc"] for r in rows}
    means = per.groupby(["dataset", "strategy"]).mean()
    assert [closing[k] for k in means.index] == pytest.approx(means.to_numpy())
    head = render(rows).splitlines()[0]
    assert "AUBC of each dataset's test metric (digits: accuracy, mnist5k_seg: mIoU)" in head
    # a classification-only store (no metric column) names accuracy
    acc.to_parquet(path)
    assert "AUBC of test accuracy" in render(eval_table(str(path))).splitlines()[0]


@pytest.mark.parametrize("case, expected", [
    ("unknown metric", "column metric holds 'dice'"),
    ("no test_miou", "missing column(s) test_miou"),
    ("miou above 1", "row(s) have a test_miou that is not an mIoU in [0, 1]"),
])
def test_a_segmentation_store_that_cannot_be_trusted_is_named_in_one_line(case, expected, save_results, tmp_path,
                                                                          capsys):
    frame = as_segmentation(make_results(datasets=("mnist5k_seg",), strategies=STRATEGIES, untuned=False))
    if case == "unknown metric":
        frame.loc[3, "metric"] = "dice"
    elif case == "no test_miou":
        frame = frame.drop(columns=["test_miou"])
    else:
        frame.loc[7, "test_miou"] = 1.5
    root = save_results(frame, tmp_path / "bad")
    assert main(["report", str(root), "--bootstrap", "50"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and expected in err, err


def test_on_segmentation_random_with_ssl_is_held_against_every_cell_with_and_without_ssl(tmp_path):
    """Mittal et al.'s segmentation result: random with SSL performs best. In `two_paradigms`
    fixmatch lifts every arm by 8 points and keeps margin 0.4 points above random, so random with
    fixmatch beats the 3 plain cells but not fixmatch's own strategies."""
    frame = two_paradigms(eval_seeds=tuple(range(100, 112)))
    seg = analyze(as_segmentation(frame), settings=FAST)
    claims = seg.claims.loc[(seg.claims["claim"] == "random_ssl_beats_all") & (seg.claims["dataset"] == "digits")]
    beats = claims.set_index(["versus", "strategy"])
    assert sorted(beats.index) == [("fixmatch", "entropy"), ("fixmatch", "margin"),
                                   ("plain", "entropy"), ("plain", "margin"), ("plain", "random")]
    assert (beats.loc["plain", "decision"] == "better").all()
    assert beats.loc[("fixmatch", "margin"), "mean"] == pytest.approx(-0.004, abs=0.002)
    assert beats.loc[("fixmatch", "margin"), "decision"] != "better"
    text = write_report(seg, tmp_path).read_text()
    line = next(x for x in text.splitlines() if x.startswith("* *Random with fixmatch"))
    assert "with and without SSL*: better than 3 of 5 cells" in line and "the closest, fixmatch/margin" in line
    assert "**Answers** (test AUBC, mIoU points" in text and "Test AUBC points (mIoU)" in text
    # classification keeps Mittal et al.'s classification claim: the supervised cells only
    acc = analyze(frame, settings=FAST)
    assert set(acc.claims.loc[acc.claims["claim"] == "random_ssl_beats_all", "versus"]) == {"plain"}


def test_a_report_counts_the_trainings_that_left_a_class_unlearned(tmp_path):
    """A segmentation row whose per-class test IoU has a class below 0.05 is a training that failed
    whatever its labels: the report says how many evaluation rows did, per cell in a CSV, and says
    nothing when every class was learned. Tuning rows and classes in neither truth nor prediction
    (NaN) are not judged; 0.05 itself is learned."""
    frame = as_segmentation(make_results(datasets=("mnist5k_seg",), strategies=STRATEGIES, untuned=False))
    learned = [0.99] + [0.4] * 10
    iou = pd.Series([list(learned) for _ in range(len(frame))], index=frame.index, dtype=object)
    ev = frame.index[(frame["phase"] == "eval") & (frame["strategy"] == "entropy")]
    iou[ev[0]] = [0.99, 0.01] + [0.4] * 9                         # one digit unlearned: 10 of 11 learned
    iou[ev[1]] = [0.99, 0.0, 0.049, float("nan")] + [0.4] * 7    # two, one class not scored: 8 of 10
    iou[frame.index[(frame["phase"] == "tune") & (frame["strategy"] == "entropy")][0]] = [0.0] * 11
    iou[frame.index[(frame["phase"] == "eval") & (frame["strategy"] == "margin")][0]] = [0.99, 0.05] + [0.4] * 9
    a = analyze(frame.assign(test_iou=iou), settings=FAST)
    table = a.unlearned.set_index("strategy")
    n_eval = int((frame["phase"] == "eval").sum())
    assert int(table["rows"].sum()) == n_eval
    assert table.loc["entropy", ["rows_unlearned", "classes_unlearned", "fewest_learned", "classes"]].tolist() == [2, 3, 8, 11]
    assert table.loc[["margin", "random"], "rows_unlearned"].tolist() == [0, 0]
    text = write_report(a, tmp_path / "r").read_text()
    assert text.splitlines()[2].startswith(f"**Unlearned classes:** 2 of {n_eval} evaluation rows left a class "
                                           "at test IoU below 0.05 (3 classes in all; most in mnist5k_seg / entropy")
    assert pd.read_csv(tmp_path / "r" / "unlearned_classes.csv").shape[0] == len(STRATEGIES)
    # every class learned: no paragraph; classification rows: no table
    clean = write_report(analyze(frame.assign(test_iou=[list(learned)] * len(frame)), settings=FAST), tmp_path / "c")
    assert "Unlearned" not in clean.read_text()
    assert analyze(make_results(datasets=("digits",), strategies=STRATEGIES, untuned=False), settings=FAST).unlearned.empty
