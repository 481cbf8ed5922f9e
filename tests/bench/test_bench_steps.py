"""`alstudy bench --only steps`: the sweep runs at smoke size, and the knee is chosen as stated."""

from __future__ import annotations

import json

import pytest

from alstudy.bench.steps import knees, paired_ci, table
from alstudy.cli import main


def test_steps_section_runs_at_smoke_size(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--threads", "1", "--json", str(out), "--only", "steps"]) == 0
    section = json.loads(out.read_text())["sections"]["steps"]
    assert {(r["dataset"], r["rule"]) for r in section["rows"]} == {
        (d, r) for d in ("digits", "mnist1d") for r in ("today", "plateau")}
    for row in section["rows"]:
        assert row["steps"] > 0 and 0 < row["aubc"] <= 1 and row["seconds"] > 0
        assert row["d_aubc_pt"] == 0 if row["rule"] == "today" else row["ci_low"] <= row["d_aubc_pt"] <= row["ci_high"]
    summary = section["summary"]
    for dataset in ("digits", "mnist1d"):
        assert summary[f"knee {dataset}"].split()[0] in ("today", "plateau")
        assert "train" in summary[f"stage shares today {dataset}"]
        assert "faster than the reference" in summary[f"time to accuracy {dataset}"]
    assert (tmp_path / "bench-steps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _runs(deltas: dict[str, list[float]], steps: dict[str, int]) -> dict:
    """Two strategies x rules; each rule's AUBC = today's + its delta (points) per seed."""
    base = [0.80, 0.82, 0.81]
    runs = {}
    for strategy in ("random", "badge"):
        for rule, delta in deltas.items():
            runs["digits", strategy, rule] = [
                {"steps": steps[rule], "aubc": b + d / 100, "final_acc": 0.9, "seconds": 1.0,
                 "plateau_cycles": 0, "cycles": 3} for b, d in zip(base, delta if strategy == "badge" else [0, 0, 0])]
    return runs


def test_knee_is_the_fewest_steps_whose_ci_stays_within_the_margin_for_every_strategy():
    deltas = {"today": [0, 0, 0], "short": [-2.0, -2.2, -1.9], "mid": [-0.1, 0.0, -0.05], "long": [0.1, 0.2, 0.1]}
    steps = {"today": 1000, "short": 200, "mid": 500, "long": 2000}
    chosen = knees(table(_runs(deltas, steps)))["digits"]
    assert chosen["ok"] == ["today", "mid", "long"] and chosen["knee"] == "mid"
    assert chosen["steps_x"]["mid"] == pytest.approx(0.5)


def test_paired_ci_is_a_t_interval():
    mean, low, high = paired_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and (low, high) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-3)
