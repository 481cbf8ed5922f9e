"""The GPU section cannot run without CUDA; its code paths run here on CPU at tiny sizes."""

from __future__ import annotations

import pytest

from alstudy.bench import gpu


@pytest.mark.slow
def test_gpu_section_measures_everything_on_cpu_at_tiny_sizes():
    section = gpu.measure("smoke", device="cpu")
    measures = {r["measure"]: r["value"] for r in section.rows}
    for key in ("train resnet18 eager", "score resnet18 plain", "score resnet18 MC T=20",
                "kernel coreset 300x16 k=10", "kernel probcover 300x16 k=10 peak",
                "packing 1 process(es)", "packing 2 process(es)"):
        assert measures[key] is not None and measures[key] >= 0, key
    assert section.summary["packing_2_over_1"] > 0
    assert [t["met"] is not None for t in section.targets] == [True, True]


@pytest.mark.gpu
def test_gpu_section_on_cuda():
    section = gpu.run("smoke", device="cuda")
    assert section.skipped is None
    assert any(r["measure"] == "train resnet18 compiled" for r in section.rows)


def test_gpu_section_is_skipped_off_cuda():
    assert "cuda" in gpu.run("smoke", device="cpu").skipped
