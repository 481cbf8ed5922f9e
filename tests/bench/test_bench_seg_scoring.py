"""The segmentation scoring section of `alstudy bench` at smoke size: every row measured."""

from __future__ import annotations

import json
import math

from alstudy.cli import main


def test_smoke_seg_scoring_section(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--json", str(out), "--only", "seg_scoring"]) == 0
    section = json.loads(out.read_text())["sections"]["seg_scoring"]
    assert section["skipped"] is None
    assert [r["case"] for r in section["rows"]] == ["forward only", "mean entropy", "bald", "bald, every pixel"]
    for row in section["rows"]:
        assert math.isfinite(row["images_per_s"]) and row["images_per_s"] > 0 and row["pool"] == 64
    assert section["targets"] == []  # smoke sizes never claim a target
