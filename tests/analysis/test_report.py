"""`alstudy report` end to end through the real command line entry point."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread
from scipy import stats

from alstudy.cli import main

SUMMARY_KEYS = {"kendall_w", "kendall_w_pvalue", "mean_rank", "pairwise_tau", "ppm", "aubc", "gain_over_random"}


def _strict_json(path: Path) -> dict:
    def reject(token):
        raise ValueError(f"non-standard JSON literal {token}")
    return json.loads(path.read_text(), parse_constant=reject)


@pytest.fixture(scope="module")
def report(tmp_path_factory, results_dir):
    """One full report of the shared synthetic study, written to the default place (RESULTS_DIR/report).

    Returns (report directory, what the command printed).
    """
    target = tmp_path_factory.mktemp("study") / "synthetic"
    shutil.copytree(results_dir, target)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", str(target), "--bootstrap", "200"]) == 0
    return target / "report", printed.getvalue()


def test_report_writes_markdown_figures_tables_and_summary(report):
    out, printed = report
    text = (out / "report.md").read_text()
    # The answer comes first, then the evidence.
    assert text.index("## Answer") < text.index("## Test AUBC") < text.index("## Rank stability")
    assert "tuned random" in text.split("## What was analysed")[0]
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 6
    for png in pngs:
        assert f"({png.name})" in text              # every figure is shown in the report
        height, width = imread(png).shape[:2]
        assert height > 300 and width > 400
    assert {"aubc", "gain_aubc", "ranks", "pairwise_tau", "penalty_matrix"} <= {p.stem for p in out.glob("*.csv")}
    summary = _strict_json(out / "summary.json")
    assert SUMMARY_KEYS <= summary.keys()
    datasets, strategies = summary["datasets"], summary["strategies"]
    assert set(summary["aubc"]) == set(datasets)
    assert set(summary["aubc"]["digits"]) == set(strategies)
    assert set(summary["aubc"]["digits"]["random"]) == {"mean", "ci_low", "ci_high"}
    assert "random" not in summary["gain_over_random"]["digits"]
    assert {"mean", "ci_low", "ci_high", "p_value"} <= set(summary["gain_over_random"]["wine"]["badge"])
    assert set(summary["pairwise_tau"]["digits"]) == set(datasets)
    assert set(summary["ppm"]["badge"]) == set(strategies)
    # The terminal shows the headline and the rank table.
    assert "Kendall's W" in printed and "mean rank" in printed
    assert all(s in printed for s in strategies)


def test_summary_agrees_with_an_independent_computation(report):
    out, _ = report
    summary = _strict_json(out / "summary.json")
    # From the CSV of per-campaign AUBC, recompute W through scipy's Friedman statistic.
    per = pd.read_csv(out / "aubc_per_campaign.csv")
    table = per.pivot_table(index="dataset", columns="strategy", values="aubc", aggfunc="mean")
    m, k = table.shape
    chi2 = stats.friedmanchisquare(*(table[c] for c in table.columns)).statistic
    assert summary["kendall_w"] == pytest.approx(chi2 / (m * (k - 1)))
    ranks = table.rank(axis=1, ascending=False)
    assert summary["mean_rank"] == pytest.approx(ranks.mean().to_dict())
    tau = stats.kendalltau(ranks.loc["digits"], ranks.loc["wine"]).statistic
    assert summary["pairwise_tau"]["digits"]["wine"] == pytest.approx(tau)
    # The gain's sign follows the raw difference of mean AUBC.
    diff = table.loc["mnist1d", "badge"] - table.loc["mnist1d", "random"]
    assert summary["gain_over_random"]["mnist1d"]["badge"]["mean"] == pytest.approx(diff)


def test_small_study_without_random_or_tuning_still_reports(tmp_path, make_frame, save_results, capsys):
    frame = make_frame(datasets=("digits",), strategies=("entropy", "margin"), tune_trials=0, untuned=False,
                       cycles=1)
    out = tmp_path / "elsewhere"
    assert main(["report", str(save_results(frame, tmp_path / "tiny")), "--out", str(out),
                 "--bootstrap", "50"]) == 0
    summary = _strict_json(out / "summary.json")
    assert summary["kendall_w"] is None and summary["gain_over_random"] == {}
    assert "No 'random' strategy" in (out / "report.md").read_text()
    assert len(list(out.glob("*.png"))) >= 6


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith("alstudy: error: ")
    return lines[0]


def test_missing_columns_exit_2_with_one_line(tmp_path, make_frame, save_results, capsys):
    frame = make_frame(datasets=("digits",), untuned=False).drop(columns=["n_labeled"])
    assert main(["report", str(save_results(frame, tmp_path))]) == 2
    assert "missing column(s) n_labeled" in _error_line(capsys)
    assert not (tmp_path / "report").exists()


def test_no_evaluation_rows_exit_2_with_one_line(tmp_path, make_frame, save_results, capsys):
    frame = make_frame(datasets=("digits",), untuned=False)
    assert main(["report", str(save_results(frame.loc[frame["phase"] == "tune"], tmp_path))]) == 2
    assert "no evaluation rows" in _error_line(capsys)


def test_missing_directory_exit_2_with_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "no such results file" in _error_line(capsys)


def test_analysis_never_imports_torch_or_ray():
    code = ("import sys, alstudy.cli.report\n"
            "assert 'pandas' not in sys.modules, 'the CLI module must stay light'\n"
            "import analysis.report, analysis.analyze, analysis.figures, analysis.cd\n"
            "from analysis.cd import posthoc\n"
            "import pandas as pd; posthoc(pd.DataFrame([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0]]))\n"
            "bad = [m for m in ('torch', 'ray', 'optuna') if m in sys.modules]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_report_opens_with_the_verdicts_and_reads_the_margin_of_the_study(tmp_path, make_frame, save_results, capsys):
    frame = make_frame(datasets=("digits", "wine"), strategies=("random", "entropy"), tune_trials=1, untuned=False,
                       effects={}, noise=0.005, eval_seeds=tuple(range(100, 110)))
    results = save_results(frame, tmp_path / "study")
    (results / "study.json").write_text(json.dumps({"evaluation": {"seeds": [100], "margin": 0.0005}}))
    assert main(["report", str(results), "--out", str(tmp_path / "a"), "--bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    text = (tmp_path / "a" / "report.md").read_text()
    assert text.index("## Verdicts against tuned random") < text.index("## Answer")
    assert "| digits | inconclusive" in text and "margin ±0.05 points" in text
    assert "digits: entropy: inconclusive —" in printed and "seeds would be needed to tell ±0.05 points" in printed
    assert _strict_json(tmp_path / "a" / "summary.json")["verdicts"]["wine"]["entropy"]["margin"] == 0.0005
    # --margin overrides the study's: one point is wide enough to call these gains of 0 equivalent.
    assert main(["report", str(results), "--out", str(tmp_path / "b"), "--bootstrap", "20", "--margin", "0.01"]) == 0
    printed = capsys.readouterr().out
    assert "wine: entropy: equivalent to random within ±1 point." in printed
    assert (tmp_path / "b" / "forest.png").is_file() and "![Forest plot](forest.png)" in \
        (tmp_path / "b" / "report.md").read_text()
    assert main(["report", str(results), "--margin", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("alstudy: error: --margin 0.0: must be in (0, 1): "
                                              "a gain in AUBC units, 0.01 = one accuracy point")


def test_report_diagnoses_the_tuning(report):
    out, _ = report
    text = (out / "report.md").read_text()
    section = text.split("## Can the tuning be trusted?")[1].split("## Test AUBC")[0]
    assert "Tuned minus untuned test AUBC" in section and "within noise" in section
    assert "What each cell evaluates" in section and "kept the defaults (no challenger ahead: best -" in section
    assert pd.read_csv(out / "tuning_diagnosis.csv")["kept_defaults"].all()   # the synthetic defaults lead
    choice = _strict_json(out / "summary.json")["tuning_choice"]["wine"]["entropy"]
    assert choice["kept_defaults"] is True and choice["lead"] < 0 and choice["choice"].startswith("kept the defaults")
    tuned = pd.read_csv(out / "tuned_vs_untuned.csv").set_index(["dataset", "strategy"])
    assert tuned.loc[("wine", "random"), "mean"] == pytest.approx(0.03, abs=0.01)
    assert set(pd.read_csv(out / "tuning_diagnosis.csv")["noise_source"]) == {"tuning seeds"}
    summary = _strict_json(out / "summary.json")
    assert summary["kendall_w_ci_method"] == "datasets and seeds within them"
    assert "3 datasets (< 4)" in summary["kendall_w_ci_warning"]


def test_a_one_trial_cell_is_never_called_clear_and_an_unwritable_report_is_one_line(tmp_path, make_frame,
                                                                                    save_results, capsys):
    """With one trial nothing was chosen: the tuning table once called such a cell's lead "clear"."""
    frame = make_frame(datasets=("wine",), strategies=("random", "entropy"), tune_trials=1, untuned=False,
                       effects={}, noise=0.005)
    results = save_results(frame, tmp_path / "study")
    assert main(["report", str(results), "--out", str(tmp_path / "a"), "--bootstrap", "20"]) == 0
    section = (tmp_path / "a" / "report.md").read_text().split("## Can the tuning be trusted?")[1].split("\n## ")[0]
    assert "| 1 trial: nothing chosen | 1 trial: nothing chosen |" in section and "clear |" not in section
    # A full disk or a read-only folder once gave a traceback (here /dev/full, which is always full).
    full = tmp_path / "full"
    full.mkdir()
    (full / "summary.json").symlink_to("/dev/full")
    assert main(["report", str(results), "--out", str(full), "--bootstrap", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"alstudy: error: --out '{full}': cannot write the report there (No space left on device")
    assert "\n" not in err
