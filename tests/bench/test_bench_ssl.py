"""`alstudy bench --only ssl`: a semi-supervised step against a supervised one."""

from __future__ import annotations

import json

import pytest

from alstudy.cli import main


def test_smoke_ssl_section_times_every_method_against_supervised(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--json", str(out), "--only", "ssl"]) == 0
    section = json.loads(out.read_text())["sections"]["ssl"]
    assert section["skipped"] is None
    rows = section["rows"]
    assert {(r["dataset"], r["method"]) for r in rows} == {
        (d, m) for d in ("digits", "mnist1d", "mnist5k")
        for m in ("supervised", "fixmatch", "uda", "mean_teacher", "pseudo_label", "fixmatch ahead 1")}
    for r in rows:
        assert r["ms_per_step"] > 0 and r["floor_ms"] > 0
        assert r["x_floor"] == pytest.approx(r["ms_per_step"] / r["floor_ms"])
        if r["method"] != "supervised":
            assert r["x_supervised"] > 0 and 0 < r["views_share"]
    # FixMatch's step against its arithmetic floor, a goal per dataset
    assert [t["name"] for t in section["targets"]] == [
        f"{d}: FixMatch step / floor" for d in ("digits", "mnist1d", "mnist5k")]
    assert all(t["value"] > 0 and t["goal"] == "<= 1.5" for t in section["targets"])
    assert "Semi-supervised step cost" in capsys.readouterr().out


def test_a_step_is_timed_without_the_runs_set_up():
    """A case whose every run sets up for 40 ms, then takes 5 ms a step: the bench reports 5 ms,
    where timing a 3-step run and dividing would report ~18 ms."""
    import time

    from alstudy.bench.ssl import _interleaved

    def run(k: int) -> None:
        time.sleep(0.040)
        time.sleep(0.005 * k)

    per_step = _interleaved({"case": run}, 3, 3, "cpu")["case"]
    assert 0.004 < per_step < 0.010
