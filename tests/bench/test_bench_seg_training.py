"""The segmentation training section runs at smoke size and reports every method's step."""

from __future__ import annotations

import json

import pytest

from alstudy.cli import main


def test_smoke_seg_training_section(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--json", str(out), "--only", "seg_training"]) == 0
    section = json.loads(out.read_text())["sections"]["seg_training"]
    rows = {row["method"]: row for row in section["rows"]}
    assert list(rows) == ["supervised", "fixmatch", "mean_teacher", "self_training"]
    assert rows["self_training"]["mu"] == 1 and section["summary"]["self_training_label_images_per_s"] > 0
    assert rows["supervised"]["x_supervised"] == 1.0 and rows["supervised"]["mu"] == 0
    assert rows["fixmatch"]["mu"] >= 1 and rows["fixmatch"]["batch"] == 16
    for row in rows.values():
        assert row["steps_per_s"] > 0 and row["labeled_images_per_s"] == pytest.approx(row["batch"] * row["steps_per_s"])
