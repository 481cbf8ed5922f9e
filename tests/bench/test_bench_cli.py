"""`alstudy bench`: every section runs at tiny sizes and its JSON holds every field."""

from __future__ import annotations

import json
import math

import pytest

from alstudy.cli import main

HARDWARE = ("cpu_model", "cores_logical", "cores_usable", "memory_gib", "load_average",
            "load_average_end", "python", "torch", "torch_threads", "ray", "device", "gpu_name")
# Columns a reader of each section looks for, and which of them must be positive numbers.
ROWS = {
    "training": (("model", "shape", "batch", "steps", "seconds", "samples_per_s"),
                 ("samples_per_s",)),
    "scoring": (("model", "pool", "plain_rows_per_s", "mc_rows_per_s", "mc_cost", "rerun_cost"),
                ("plain_rows_per_s", "mc_rows_per_s", "mc_cost", "rerun_cost")),
    "kernels": (("kernel", "n", "d", "k", "seconds", "peak_mib", "pool_mib", "naive_mib",
                 "memory_method"), ("seconds", "pool_mib", "naive_mib")),
    "campaigns": (("dataset", "model", "strategy", "labels", "seconds", "train_s", "query_s",
                   "final_acc"), ("seconds",)),
    "reference": (("dataset", "strategy", "alstudy_s", "reference_s", "speedup", "alstudy_acc",
                   "reference_acc", "reference_tensor_s", "speedup_tensor"),
                  ("alstudy_s", "reference_s", "speedup", "reference_tensor_s", "speedup_tensor")),
    "ray": (("runner", "concurrent", "threads", "seconds", "outside_s", "campaign_s"),
            ("seconds",)),
}
SUMMARY = {"reference": ("speedup", "speedup_tensor", "alstudy_acc", "reference_acc"),
           "ray": ("ray_init_s", "overhead_pct", "overhead_steady_pct", "speedup_2_over_1",
                   "speedup_2_over_1_steady"),
           "scoring": ("mc_cost_max",), "kernels": ("memory_method",)}


def _bench(tmp_path, *sections: str) -> dict:
    out = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--json", str(out), "--only", *sections]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temporary file left
    return json.loads(out.read_text())


def _check_section(result: dict, name: str) -> None:
    section = result["sections"][name]
    assert section["skipped"] is None and section["seconds"] > 0 and section["cpu_seconds"] > 0
    columns, positive = ROWS[name]
    assert section["rows"], name
    for row in section["rows"]:
        assert set(columns) <= set(row), (name, set(columns) - set(row))
        for key in positive:
            assert isinstance(row[key], (int, float)) and math.isfinite(row[key]) and row[key] > 0, (name, key, row)
    for key in SUMMARY.get(name, ()):
        assert section["summary"].get(key) is not None, (name, key)
    for t in section["targets"]:
        assert t["met"] in (True, False) and t["goal"] and t["name"]


def test_smoke_bench_writes_every_field(tmp_path, capsys):
    names = ("training", "scoring", "kernels", "campaigns", "reference", "gpu")
    result = _bench(tmp_path, *names)
    assert result["mode"] == "smoke" and result["device"] == "cpu"
    assert all(result["hardware"].get(k) is not None for k in HARDWARE if k != "gpu_name")
    assert set(HARDWARE) <= set(result["hardware"])
    for name in names[:-1]:
        _check_section(result, name)
    assert "CUDA" in result["sections"]["gpu"]["skipped"]
    targets = {t["name"] for t in result["targets"]}
    assert "campaign speedup over the reference" in targets
    assert "coreset 20000x512 k=1000 seconds" not in targets  # smoke sizes never claim a target
    printed = capsys.readouterr().out
    for title in ("Training throughput", "Pool scoring", "Selection kernels", "Side by side"):
        assert title in printed


@pytest.mark.ray
@pytest.mark.slow   # 30 s: it times the Ray runner, which tests/study/test_ray_run.py checks in the default run
def test_smoke_bench_ray_section(tmp_path):
    result = _bench(tmp_path, "ray")
    _check_section(result, "ray")
    runners = [(r["runner"], r["concurrent"]) for r in result["sections"]["ray"]["rows"]]
    assert runners == [("in-process loop", 1), ("ray tune", 1), ("ray tune", 2)]


@pytest.mark.parametrize("argv, message", [
    (["--only", "nope"], "--only 'nope': unknown section"),
    (["--device", "tpu"], "--device 'tpu'"),
    (["--threads", "0"], "--threads 0"),
])
def test_bad_arguments_give_one_line_and_exit_2(argv, message, capsys):
    assert main(["bench", "--smoke", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cuda_without_a_gpu_is_a_usage_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(["bench", "--smoke", "--device", "cuda", "--only", "gpu"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_smoke_bench_papers_section(tmp_path):
    section = _bench(tmp_path, "papers")["sections"]["papers"]
    assert section["skipped"] is None and section["seconds"] > 0
    ensembles = [r for r in section["rows"] if r["case"] == "ensemble x5"]
    cycles = [r for r in section["rows"] if r["case"] == "cycle time"]
    assert [(r["model"], r["dataset"]) for r in ensembles] == [("mlp", "digits"), ("cnn1d", "mnist1d")]
    for r in ensembles:
        for key in ("one_s", "sequential_s", "together_s", "together_over_one", "sequential_over_together"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["together_over_one"] == pytest.approx(r["together_s"] / r["one_s"])
    assert [r["strategy"] for r in cycles] == ["entropy", "vaal", "learning_loss"]
    assert all(math.isfinite(r["cycle_s"]) and r["cycle_s"] > 0 for r in cycles)
    assert cycles[0]["over_entropy"] == 1.0
    for r in cycles[1:]:
        assert r["over_entropy"] == pytest.approx(r["cycle_s"] / cycles[0]["cycle_s"])
        assert section["summary"][f"{r['strategy']}_over_entropy"] == r["over_entropy"]
    assert section["targets"] == []  # smoke sizes never claim a target


def test_quick_leaves_out_the_step_rule_sweep_unless_named():
    from alstudy.cli.bench import SECTIONS, chosen_sections

    assert "steps" not in chosen_sections(None, quick=True)
    assert chosen_sections(None, quick=True) == [m for n, m in SECTIONS.items() if n != "steps"]
    assert chosen_sections(None, quick=False) == list(SECTIONS.values())
    assert chosen_sections(["steps", "training"], quick=True) == ["training", "steps"]
