"""`alstudy bench --only pretraining`: SimCLR pretraining time per embedded dataset."""

from __future__ import annotations

import json

from alstudy.cli import main


def test_smoke_pretraining_section_times_every_embedded_dataset(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--json", str(out), "--only", "pretraining"]) == 0
    section = json.loads(out.read_text())["sections"]["pretraining"]
    assert section["skipped"] is None
    assert [r["dataset"] for r in section["rows"]] == ["digits", "mnist1d", "mnist5k"]
    for row in section["rows"]:
        assert row["s_per_step"] > 0 and row["recipe_s"] > row["s_per_step"] and row["train_rows"] > 0
    assert "SimCLR pretraining per dataset" in capsys.readouterr().out
