"""SimCLR pretraining in a study: computed once per (dataset, seed) before the campaigns, as Ray
tasks or in-process, kept in the results store, reused on resume; a SIGKILLed driver with a
pretraining in flight resumes to the results of an uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from alstudy.errors import UsageError
from alstudy.study import pretraining
from alstudy.study.runner import RunOptions, run_study
from alstudy.study.schema import load_study, parse_study
from alstudy.training.simclr_recipe import Job, Recipe
from tests.conftest import tiny_study

EXTRA = """
[paradigms]
ft = {{ method = "supervised", init = "simclr" }}
lin = {{ method = "supervised", init = "simclr", tune = "linear" }}

[strategy_options.typiclust]
features = "simclr"

[pretrain]
steps = {steps}
batch_size = 32
"""
VOLATILE = ["seconds_train", "shared_training", "seconds_eval", "seconds_score", "seconds_select", "seconds_pretrain", "attempt",
            "run", "code"]


def write(folder, *, name: str = "pre", steps: int = 20) -> str:
    """digits x (ft, lin) x (random, typiclust on SimCLR features): 1 tuning and 1 evaluation seed."""
    return tiny_study(folder, name=name, datasets=("digits",), strategies=("random", "typiclust"), cycles=1,
                      trials=1, eval_seeds=(100,), extra=EXTRA.format(steps=steps))


def encoders(root) -> list[str]:
    folder = root / "pretrained"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class FromAShippedCopy:
    """Wraps run_campaign: fails the campaign unless its encoder is a copy outside the results
    store (what the driver shipped through Ray's object store) with the store's bytes: a worker
    on another node need not reach the store's folder."""

    def __init__(self, store: str):
        self.store = store

    def __call__(self, config, seed, **kwargs):
        from alstudy.campaign import run_campaign

        pre = config.init.encoder
        assert pre is not None and not os.path.abspath(pre.path).startswith(self.store), pre.path
        with open(pre.path, "rb") as a, open(os.path.join(self.store, "pretrained", f"{pre.key}.pt"), "rb") as b:
            assert a.read() == b.read()
        return run_campaign(config, seed, **kwargs)


@pytest.mark.ray
def test_a_study_pretrains_once_per_dataset_and_seed_on_ray_and_every_cell_reads_it(ray_address, tmp_path):
    path = write(str(tmp_path))
    out = tmp_path / "out"
    root = out / "pre"
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import tests/
    assert run_study(path, RunOptions(out=str(out), live=False), campaign=FromAShippedCopy(str(root))) == 0
    df = pd.read_parquet(root / "results.parquet")
    # 2 paradigms x 2 strategies x 2 seeds = 8 campaigns, but one encoder per (dataset, seed)
    assert df.trial.nunique() == 8
    keys = df.groupby("seed")["pretrain_key"].unique()
    assert {s: len(k) for s, k in keys.items()} == {0: 1, 100: 1}
    assert encoders(root) == sorted(f"{keys[s][0]}.{ext}" for s in (0, 100) for ext in ("json", "pt"))
    runs = json.load(open(root / "manifest.json"))["runs"]
    assert sorted(runs[0]["pretrained"]) == sorted(k[0] for k in keys)
    assert all(p["computed"] and p["steps"] == 20 for p in runs[0]["pretrained"].values())
    assert set(df.init) == {"simclr"} and dict(df.groupby("paradigm").tune.first()) == {"ft": "finetune",
                                                                                         "lin": "linear"}
    # typiclust embeds with the encoder, not the cycle's model: both paradigms pick alike
    picks = df[(df.strategy == "typiclust") & (df.cycle == 1)].groupby(["seed", "paradigm"]).new_indices.first()
    for seed in (0, 100):
        assert list(picks[seed]["ft"]) == list(picks[seed]["lin"])

    # a rerun finds every encoder in the store: none is computed again
    stamp = {name: os.path.getmtime(root / "pretrained" / name) for name in encoders(root)}
    assert run_study(path, RunOptions(out=str(out), live=False)) == 0
    runs = json.load(open(root / "manifest.json"))["runs"]
    assert not any(p["computed"] for p in runs[1]["pretrained"].values())
    assert {name: os.path.getmtime(root / "pretrained" / name) for name in encoders(root)} == stamp


# slow (30 s): what a kill leaves behind (an encoder without its JSON, a cut file) is rerun to the
# clean results by the damaged-encoder tests above and the store's Hypothesis property
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["local", pytest.param("ray", marks=[pytest.mark.ray])])
def test_a_sigkilled_driver_with_a_pretraining_in_flight_resumes_to_a_clean_runs_results(tmp_path, mode):
    """Local: the pretraining runs in the driver. Ray: it runs as a Ray task of the driver's own
    Ray instance, whose processes the SIGKILL orphans (the test stops them by pid)."""
    import psutil

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    assert run_study(write(str(clean_dir), steps=400), RunOptions(out=str(clean_dir / "out"), local=True,
                                                                   live=False)) == 0
    clean = pd.read_parquet(clean_dir / "out" / "pre" / "results.parquet")

    path = write(str(tmp_path), steps=400)
    root = tmp_path / "out" / "pre"
    command = [sys.executable, "-m", "alstudy", "run", path, "--out", str(tmp_path / "out"), "--plain"]
    command += ["--local"] if mode == "local" else []
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spawned: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while "pretraining SimCLR" not in driver.stdout.readline():
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "the driver never started pretraining"
        time.sleep(0.5 if mode == "local" else 2.0)   # Ray: the tasks are running by then
        spawned = psutil.Process(driver.pid).children(recursive=True)   # Ray's processes, by pid
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    finally:   # whatever failed above, neither the driver nor its Ray outlives the test
        if driver.poll() is None:
            spawned = spawned or psutil.Process(driver.pid).children(recursive=True)   # failed before the kill
            driver.kill()
            driver.wait()
        for child in spawned:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(spawned, timeout=30)
    assert driver.returncode == -signal.SIGKILL
    assert not [n for n in encoders(root) if n.endswith(".json")], "killed in flight, yet a pretraining finished"
    assert not (root / "trials").exists() or not os.listdir(root / "trials")   # no campaign started

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "pretraining SimCLR: 2 of 2 encoders to compute" in rerun.stdout
    df = pd.read_parquet(root / "results.parquet")
    assert not df.duplicated(["trial", "cycle"]).any()
    placement = ["node_id", "node_ip"] if mode == "ray" else []   # which Ray node ran it: none locally
    keep = [c for c in clean.columns if c not in VOLATILE + placement]
    pd.testing.assert_frame_equal(df[keep], clean[keep])


def test_an_encoder_without_its_json_is_pretrained_again_never_read(tmp_path):
    job = Job("digits", "mlp", {}, Recipe(steps=4, batch_size=16), 0)
    folder = tmp_path / "pretrained"
    folder.mkdir()
    (folder / f"{job.key}.pt").write_bytes(b"cut short")          # a crash between the two files
    notes = []
    facts = pretraining.ensure([job], str(folder), note=notes.append)
    assert facts[job.key]["computed"] and "1 of 1 encoders to compute" in notes[0]
    assert (folder / f"{job.key}.pt").read_bytes() != b"cut short"
    assert not pretraining.ensure([job], str(folder), note=notes.append)[job.key]["computed"]


def test_the_key_covers_dataset_model_recipe_and_seed_and_nothing_else():
    base = Job("digits", "mlp", {}, Recipe(), 0)
    others = [Job("wine", "mlp", {}, Recipe(), 0), Job("digits", "cnn2d", {}, Recipe(), 0),
              Job("digits", "mlp", {"width": 8}, Recipe(), 0), Job("digits", "mlp", {}, Recipe(steps=7), 0),
              Job("digits", "mlp", {}, Recipe(), 1)]
    assert len({base.key, *(j.key for j in others)}) == 6
    assert Job("digits", "mlp", {}, Recipe(), 0, data_root="/elsewhere").key == base.key


def test_the_fingerprint_covers_the_recipe_and_studies_without_simclr_hash_as_before(tmp_path):
    a, b = load_study(write(str(tmp_path), steps=20)), load_study(write(str(tmp_path), name="pre2", steps=30))
    assert a.to_dict()["pretrain"]["digits"]["steps"] == 20
    assert a.fingerprint() != parse_study({**_raw(b), "name": "pre"}).fingerprint()
    plain = _raw(a)
    plain["paradigms"] = {"ft": {"method": "supervised"}}
    plain.pop("pretrain"), plain.pop("strategy_options")
    d = parse_study(plain).to_dict()
    assert "pretrain" not in d and "tune" not in d["paradigms"][0]


def _raw(study) -> dict:
    import tomllib

    return tomllib.loads(study.source)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["paradigms"].update(lin={"method": "supervised", "tune": "linear"}),
     "paradigms.lin.tune = 'linear': applies to init = \"simclr\" only"),
    (lambda r: r["paradigms"].update(lin={"method": "supervised", "init": "simclr", "tune": "frozen"}),
     "paradigms.lin.tune = 'frozen': allowed: finetune, linear"),
    (lambda r: r["pretrain"].update(epochs=3), "pretrain.epochs: unknown key; allowed: steps"),
    (lambda r: r["pretrain"].update(digits={"temperature": 0.0}), "pretrain.digits.temperature = 0.0: must be > 0"),
    (lambda r: (r.pop("paradigms"), r.pop("strategy_options")),
     "[pretrain] is not used: no paradigm has init = \"simclr\" and no strategy has features"),
])
def test_a_bad_pretraining_setting_is_one_line_naming_its_key(tmp_path, edit, message):
    raw = _raw(load_study(write(str(tmp_path))))
    edit(raw)
    with pytest.raises(UsageError) as err:
        parse_study(raw)
    assert str(err.value).startswith(message)


def test_a_strategy_option_features_must_name_a_source(tmp_path):
    from alstudy.study.checks import check_study

    text = open(write(str(tmp_path))).read().replace('features = "simclr"', 'features = "imagenet"')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        check_study(load_study(path))
    assert "features = 'imagenet': allowed: model, simclr" in str(err.value)


@pytest.mark.parametrize("damage", ["json cut short", "json without its facts", "pt cut short", "pt deleted",
                                    "pt cut short, json of before sha256"])
def test_a_damaged_encoder_is_set_aside_with_one_warning_and_pretrained_again(tmp_path, damage):
    """Like a damaged campaign log: the pair is set aside, one warning line names the file, and
    the encoder computed again is the one a clean run has (campaigns read it unchanged)."""
    job = Job("digits", "mlp", {}, Recipe(steps=4, batch_size=16), 0)
    folder = tmp_path / "pretrained"
    pretraining.ensure([job], str(folder), note=lambda _: None)
    pt, js = folder / f"{job.key}.pt", folder / f"{job.key}.json"
    clean = pt.read_bytes()
    if damage == "json cut short":
        js.write_bytes(js.read_bytes()[:20])
    elif damage == "json without its facts":
        js.write_text("{}")
    elif damage == "pt deleted":
        pt.unlink()
    else:
        pt.write_bytes(clean[: len(clean) // 2])
        if "before sha256" in damage:
            js.write_text(json.dumps({k: v for k, v in json.loads(js.read_text()).items() if k != "sha256"}))
    notes = []
    facts = pretraining.ensure([job], str(folder), note=notes.append)
    warnings = [n for n in notes if n.startswith("warning:")]
    assert len(warnings) == 1 and str(folder / job.key) in warnings[0] and "pretrained again" in warnings[0]
    assert facts[job.key]["computed"] and pt.read_bytes() == clean
    assert (folder / f"{job.key}.json.damaged").exists()
    notes.clear()
    assert not pretraining.ensure([job], str(folder), note=notes.append)[job.key]["computed"] and not notes
